//! The HTTP/1.1 client every HTTP transport client and the publisher use: hyper's
//! connection-level client (`hyper::client::conn::http1`) over our [`CountingStream`].
//!
//! Why hyper, and why its connection rather than a pooled client (reqwest, hyper-util's
//! `Client`): parsing HTTP is not what this tool is for, counting it is, and the counting sits
//! below the parser. hyper reads and writes through the [`CountingStream`], so request heads,
//! response heads and chunk framing are counted exactly as the kernel saw them, whoever parses
//! them. A pool would hide which socket a request used and when a connection was (re)opened, and
//! would add a `Host` of its own; a [`Connection`] here is one socket its client owns, kept alive
//! and reused request after request, as a browser would.
//!
//! The request head is the request line, `Host`, then the caller's headers in the caller's order,
//! then `Content-Length` when there is a body. hyper writes headers in insertion order and adds
//! nothing to a request that already says what it needs (no `User-Agent`, no `Host`, no length
//! for an empty GET); names go out in title case, as a browser's HTTP/1.1 heads look (the byte
//! count is the same in any case). Bodies are read frame by frame as they arrive, so a
//! never-ending stream is consumed as it is written.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::AbortHandle;

use crate::wire::{CountingStream, WireCounters};

/// Longest non-streaming body we buffer (a poll answer with thousands of messages fits).
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed by the server")]
    Closed,
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("http: {0}")]
    Http(hyper::Error),
    #[error("bad request header: {0}")]
    Header(String),
}

impl From<hyper::Error> for HttpError {
    /// Sorts hyper's errors into the ones callers act on: a connection that went away (`Closed`,
    /// or `Io` underneath) is worth one retry on a new connection; anything else is not.
    fn from(e: hyper::Error) -> Self {
        if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
            return Self::Closed;
        }
        let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>());
        match io {
            Some(io) => Self::Io(std::io::Error::new(io.kind(), io.to_string())),
            None => Self::Http(e),
        }
    }
}

/// One kept-alive connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// The task driving the socket: hyper reads and writes there, not in the caller. Aborted on
    /// drop, so the socket closes when its client lets go of it, as a dropped `TcpStream` would.
    driver: AbortHandle,
    /// `Host` of every request on this connection: written first, as every client does.
    host: HeaderValue,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Connection {
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        counters: Arc<WireCounters>,
    ) -> Result<Self, HttpError> {
        let host = HeaderValue::from_str(host).map_err(|e| HttpError::Header(e.to_string()))?;
        let tcp = TcpStream::connect(addr).await?;
        // Requests are written in one go; Nagle would only delay small POSTs behind ACKs.
        tcp.set_nodelay(true)?;
        // Bytes and requests are counted by the stream, as they cross the socket.
        let io = TokioIo::new(CountingStream::http(tcp, counters));
        let (sender, connection) = Builder::new()
            .title_case_headers(true)
            .handshake(io)
            .await?;
        // Its errors reach the caller through the request or body it is waiting on.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        })
        .abort_handle();
        Ok(Self {
            sender,
            driver,
            host,
        })
    }

    /// Waits until the connection can carry another request: at once on a live keep-alive
    /// connection, an error if the server has closed it since (`Connection: close`, an idle
    /// timeout). Nothing has been sent on it then, so opening a new one is always safe.
    pub async fn ready(&mut self) -> Result<(), HttpError> {
        Ok(self.sender.ready().await?)
    }

    /// Sends one request once the connection is ready (the stream underneath counts it when it
    /// goes on the wire); the returned future resolves to the response head, whose body then
    /// arrives as it is read.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<impl Future<Output = Result<Response<Incoming>, HttpError>> + use<>, HttpError>
    {
        self.ready().await?;
        let request = self.request(method, path_and_query, headers, body)?;
        let response = self.sender.send_request(request);
        Ok(async move { Ok(response.await?) })
    }

    /// Sends one request and reads its whole (finite) answer.
    pub async fn fetch(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Vec<u8>), HttpError> {
        let response = self
            .send(method, path_and_query, headers, body)
            .await?
            .await?;
        let (parts, body) = response.into_parts();
        Ok((parts.status, read_body(body).await?))
    }

    /// The request as it goes on the wire: `Host`, `headers` in order, `Content-Length`.
    fn request(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, HttpError> {
        let bad = |e: &dyn std::fmt::Display| HttpError::Header(e.to_string());
        let mut request = Request::builder()
            .method(method)
            .uri(path_and_query)
            .body(Full::new(body.clone().unwrap_or_default()))
            .map_err(|e| bad(&e))?;
        let map = request.headers_mut();
        map.insert(HOST, self.host.clone());
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(&e))?;
            let value = HeaderValue::from_str(value).map_err(|e| bad(&e))?;
            map.append(name, value);
        }
        // Set here, last, as the hand-written client did; hyper keeps a length it is given.
        if let Some(body) = &body {
            map.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Ok(request)
    }
}

/// The next piece of body data, as it arrives; `None` once the body is complete. Pieces follow
/// network reads and chunks (or HTTP/2 DATA frames), not messages; trailers are skipped.
pub async fn next_data<B>(body: &mut B) -> Result<Option<Bytes>, HttpError>
where
    B: Body<Data = Bytes> + Unpin,
    HttpError: From<B::Error>,
{
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// Reads a whole (finite) body into memory, of either HTTP version.
pub async fn read_body<B>(mut body: B) -> Result<Vec<u8>, HttpError>
where
    B: Body<Data = Bytes> + Unpin,
    HttpError: From<B::Error>,
{
    let mut out = Vec::new();
    while let Some(data) = next_data(&mut body).await? {
        out.extend_from_slice(&data);
        if out.len() > MAX_BODY {
            return Err(HttpError::Malformed("body too long".into()));
        }
    }
    Ok(out)
}

/// A response body still arriving, holding the connection it arrives on: dropping it closes the
/// socket, as a page closing its `EventSource` or aborting its `fetch()` does.
pub struct LiveBody {
    body: Incoming,
    /// Kept only to keep the socket open while the body is read.
    _connection: Connection,
}

impl LiveBody {
    pub fn new(connection: Connection, body: Incoming) -> Self {
        Self {
            body,
            _connection: connection,
        }
    }
}

/// So body-level parsers (the SSE decoder) can read it directly.
impl Body for LiveBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::headers::{self, HeaderProfile, RequestKind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Reads one request (head, and a body as long as its Content-Length) off `s`.
    async fn read_request(s: &mut TcpStream) -> Vec<u8> {
        let mut req = Vec::new();
        loop {
            if let Some(end) = memchr::memmem::find(&req, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let length = head
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.parse::<usize>().unwrap());
                if req.len() >= end + 4 + length {
                    return req;
                }
            }
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed mid-request");
            req.extend_from_slice(&buf[..n]);
        }
    }

    /// Chunked bodies decode across arbitrary read boundaries, the connection stays usable for
    /// the next request, and the byte counts are exactly what crossed the socket.
    #[tokio::test]
    async fn decodes_chunked_then_reuses_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        const PIECES: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"lo\r\n6;ext=1\r\n world\r\n0\r\n",
            b"\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ];
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let first = read_request(&mut s).await;
            for piece in &PIECES[..3] {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let second = read_request(&mut s).await;
            s.write_all(PIECES[3]).await.unwrap();
            (first, second)
        });
        let counters = WireCounters::new();
        let mut conn = Connection::connect(addr, "x", counters.clone())
            .await
            .unwrap();
        let (status, body) = conn.fetch(Method::GET, "/", &[], None).await.unwrap();
        assert_eq!(
            (status, body.as_slice()),
            (StatusCode::OK, &b"hello world"[..])
        );
        let (status, body) = conn.fetch(Method::GET, "/", &[], None).await.unwrap();
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok"[..]));
        let (first, second) = server.await.unwrap();
        // Nothing but what we asked for: hyper adds no header to a bodiless GET.
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            (first.as_slice(), second.as_slice()),
            (&head[..], &head[..])
        );
        let t = counters.totals();
        assert_eq!(t.bytes_up, 2 * head.len() as u64);
        assert_eq!(
            t.bytes_down,
            PIECES.iter().map(|p| p.len() as u64).sum::<u64>()
        );
        assert_eq!((t.requests, t.connections), (2, 1));
    }

    /// A POST with the browser header set goes out byte for byte as the request line, `Host`, the
    /// protocol's headers in order and `Content-Length`, then the body: nothing added, nothing
    /// reordered.
    #[tokio::test]
    async fn request_head_is_host_then_the_header_set() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let request = read_request(&mut s).await;
            s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            request
        });
        let origin = format!("http://{addr}");
        let set = headers::request_headers(
            HeaderProfile::Browser,
            RequestKind::Fetch,
            &origin,
            Some("text/plain;charset=UTF-8"),
        );
        let counters = WireCounters::new();
        let mut conn = Connection::connect(addr, &addr.to_string(), counters.clone())
            .await
            .unwrap();
        let body = Bytes::from_static(b"hello");
        let (status, _) = conn
            .fetch(Method::POST, "/api/messages?user=a", &set, Some(body))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED);
        let expected = format!(
            "POST /api/messages?user=a HTTP/1.1\r\nHost: {addr}\r\n{}Content-Length: 5\r\n\r\nhello",
            headers::to_head(&set)
        );
        let request = server.await.unwrap();
        assert_eq!(String::from_utf8(request).unwrap(), expected);
        assert_eq!(counters.totals().bytes_up, expected.len() as u64);
    }

    /// A connection the server closed while idle is reported as not ready, before anything is
    /// sent on it.
    #[tokio::test]
    async fn a_closed_idle_connection_is_not_ready() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            read_request(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            // Closes the socket while the client holds the connection idle.
        });
        let counters = WireCounters::new();
        let mut conn = Connection::connect(addr, "x", counters.clone())
            .await
            .unwrap();
        conn.fetch(Method::GET, "/", &[], None).await.unwrap();
        server.await.unwrap();
        assert!(matches!(conn.ready().await, Err(HttpError::Closed)));
        assert!(conn.send(Method::GET, "/", &[], None).await.is_err());
        assert_eq!(counters.totals().requests, 1);
    }
}
