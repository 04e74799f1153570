//! A minimal HTTP/1.1 client, written by hand over a [`CountingStream`].
//!
//! Why not reqwest or hyper: their connection pools hide which socket a request used and when a
//! connection was (re)opened, and they add headers of their own. Here every byte on the wire is
//! one we chose and one we counted: the request head is `Host` and then exactly the header set
//! of [`protocol::headers`], and responses are parsed incrementally (`Content-Length` and chunked
//! bodies) so a never-ending stream is consumed as it arrives. Connections are kept alive and
//! reused, as a browser would.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::wire::{CountingStream, WireCounters};

/// Longest response head we accept; anything longer is not the server we are testing.
const MAX_HEAD: usize = 64 * 1024;
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
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Length(u64),
    Chunked,
    /// Until the server closes (HTTP/1.0 style); the connection cannot be reused.
    UntilClose,
    /// 1xx, 204, 304 and HEAD: nothing follows the head.
    Empty,
}

/// A parsed status line and header block.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: BodyKind,
    /// The server said `Connection: close` (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection.
pub struct Connection {
    stream: CountingStream<TcpStream>,
    /// `Host` of every request on this connection: written first, as every client does.
    host: String,
    /// Bytes read from the socket but not yet consumed by the parser.
    buf: BytesMut,
    /// Whether the connection may carry another request.
    reusable: bool,
}

impl Connection {
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        counters: Arc<WireCounters>,
    ) -> Result<Self, HttpError> {
        let tcp = TcpStream::connect(addr).await?;
        // Requests are written in one go; Nagle would only delay small POSTs behind ACKs.
        tcp.set_nodelay(true)?;
        Ok(Self {
            stream: CountingStream::new(tcp, counters),
            host: host.to_owned(),
            buf: BytesMut::with_capacity(8 * 1024),
            reusable: true,
        })
    }

    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Writes one request in a single write: request line, `Host`, `headers` in order, then the
    /// body. `Content-Length` is added when there is a body.
    pub async fn send_request(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<(), HttpError> {
        let mut head = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {}\r\n",
            self.host
        );
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        if let Some(body) = body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some(body) = body {
            out.extend_from_slice(body);
        }
        self.stream.counters().add_request();
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Reads more bytes into the buffer; `Closed` at end of stream.
    async fn fill(&mut self) -> Result<(), HttpError> {
        self.buf.reserve(8 * 1024);
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            self.reusable = false;
            return Err(HttpError::Closed);
        }
        Ok(())
    }

    /// Reads and parses a response head. `head_request` marks a response to HEAD (no body).
    pub async fn read_head(&mut self, head_request: bool) -> Result<ResponseHead, HttpError> {
        loop {
            if let Some(end) = memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                let raw = self.buf.split_to(end + 4);
                let head = parse_head(&raw[..end], head_request)?;
                if head.close || head.body == BodyKind::UntilClose {
                    self.reusable = false;
                }
                // 1xx informational responses (other than 101) precede the real one.
                if (100..200).contains(&head.status) && head.status != 101 {
                    continue;
                }
                return Ok(head);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::Malformed("response head too long".into()));
            }
            self.fill().await?;
        }
    }

    /// An incremental reader over the body `head` announced.
    pub fn body<'a>(&'a mut self, head: &ResponseHead) -> BodyReader<'a> {
        let state = match head.body {
            BodyKind::Length(n) => BodyState::Length(n),
            BodyKind::Chunked => BodyState::ChunkSize,
            BodyKind::UntilClose => BodyState::UntilClose,
            BodyKind::Empty => BodyState::Done,
        };
        BodyReader { conn: self, state }
    }

    /// Reads a whole (finite) body into memory.
    pub async fn read_body(&mut self, head: &ResponseHead) -> Result<Vec<u8>, HttpError> {
        let mut reader = self.body(head);
        let mut out = Vec::new();
        while let Some(data) = reader.next_data().await? {
            out.extend_from_slice(&data);
            if out.len() > MAX_BODY {
                return Err(HttpError::Malformed("body too long".into()));
            }
        }
        Ok(out)
    }

    /// Hands the socket over (WebSocket upgrade), with any bytes already read past the head.
    pub fn into_parts(self) -> (CountingStream<TcpStream>, BytesMut) {
        (self.stream, self.buf)
    }
}

fn parse_head(raw: &[u8], head_request: bool) -> Result<ResponseHead, HttpError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| HttpError::Malformed("response head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| HttpError::Malformed(format!("header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let find = |n: &str| {
        headers
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let connection = find("connection").unwrap_or_default();
    let close = connection.contains("close")
        || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    let body = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        BodyKind::Empty
    } else if find("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        BodyKind::Chunked
    } else if let Some(len) = find("content-length") {
        BodyKind::Length(
            len.parse()
                .map_err(|_| HttpError::Malformed(format!("content-length {len:?}")))?,
        )
    } else {
        BodyKind::UntilClose
    };
    Ok(ResponseHead {
        status,
        headers,
        body,
        close,
    })
}

#[derive(Debug, Clone, Copy)]
enum BodyState {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Bytes left of the current chunk.
    ChunkData(u64),
    /// Expecting the CRLF after a chunk's data.
    ChunkEnd,
    /// After the last chunk: trailers until an empty line.
    Trailers,
    UntilClose,
    Done,
}

/// Yields a body's data as it arrives, with chunk framing removed.
pub struct BodyReader<'a> {
    conn: &'a mut Connection,
    state: BodyState,
}

impl BodyReader<'_> {
    /// The next piece of body data; `None` once the body is complete. Pieces follow network reads,
    /// not chunk boundaries.
    pub async fn next_data(&mut self) -> Result<Option<Bytes>, HttpError> {
        loop {
            match self.state {
                BodyState::Done => return Ok(None),
                BodyState::Length(0) => {
                    self.state = BodyState::Done;
                    return Ok(None);
                }
                BodyState::Length(left) => {
                    if self.conn.buf.is_empty() {
                        self.conn.fill().await?;
                    }
                    let take = (left as usize).min(self.conn.buf.len());
                    self.state = BodyState::Length(left - take as u64);
                    return Ok(Some(self.conn.buf.split_to(take).freeze()));
                }
                BodyState::UntilClose => {
                    if self.conn.buf.is_empty() {
                        match self.conn.fill().await {
                            Ok(()) => {}
                            Err(HttpError::Closed) => {
                                self.state = BodyState::Done;
                                return Ok(None);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    let all = self.conn.buf.len();
                    return Ok(Some(self.conn.buf.split_to(all).freeze()));
                }
                BodyState::ChunkSize => {
                    let Some(line) = self.take_line().await? else {
                        continue;
                    };
                    let size_text = line.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(size_text, 16)
                        .map_err(|_| HttpError::Malformed(format!("chunk size line {line:?}")))?;
                    self.state = if size == 0 {
                        BodyState::Trailers
                    } else {
                        BodyState::ChunkData(size)
                    };
                }
                BodyState::ChunkData(left) => {
                    if self.conn.buf.is_empty() {
                        self.conn.fill().await?;
                    }
                    let take = (left as usize).min(self.conn.buf.len());
                    let rest = left - take as u64;
                    self.state = if rest == 0 {
                        BodyState::ChunkEnd
                    } else {
                        BodyState::ChunkData(rest)
                    };
                    return Ok(Some(self.conn.buf.split_to(take).freeze()));
                }
                BodyState::ChunkEnd => {
                    if let Some(line) = self.take_line().await? {
                        if !line.is_empty() {
                            return Err(HttpError::Malformed("data after chunk".into()));
                        }
                        self.state = BodyState::ChunkSize;
                    }
                }
                BodyState::Trailers => {
                    if let Some(line) = self.take_line().await?
                        && line.is_empty()
                    {
                        self.state = BodyState::Done;
                    }
                }
            }
        }
    }

    /// A CRLF-terminated line from the buffer, reading more if needed. `None` means "call again"
    /// (more bytes were read but the line is not complete yet).
    async fn take_line(&mut self) -> Result<Option<String>, HttpError> {
        if let Some(i) = memchr::memmem::find(&self.conn.buf, b"\r\n") {
            let line = self.conn.buf.split_to(i + 2);
            return Ok(Some(String::from_utf8_lossy(&line[..i]).into_owned()));
        }
        if self.conn.buf.len() > MAX_HEAD {
            return Err(HttpError::Malformed("framing line too long".into()));
        }
        self.conn.fill().await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream",
            false,
        )
        .unwrap();
        assert_eq!((h.status, h.body, h.close), (200, BodyKind::Chunked, false));
        assert_eq!(h.header("content-type"), Some("text/event-stream"));
        let h = parse_head(
            b"HTTP/1.1 201 Created\r\ncontent-length: 12\r\nConnection: close",
            false,
        )
        .unwrap();
        assert_eq!(
            (h.status, h.body, h.close),
            (201, BodyKind::Length(12), true)
        );
        let h = parse_head(b"HTTP/1.0 200 OK", false).unwrap();
        assert_eq!((h.body, h.close), (BodyKind::UntilClose, true));
    }

    /// Chunked bodies decode across arbitrary read boundaries, and the connection stays usable
    /// for the next response.
    #[tokio::test]
    async fn decodes_chunked_then_reuses_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        const PIECES: [&[u8]; 3] = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"lo\r\n6;ext=1\r\n world\r\n0\r\n",
            b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ];
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = vec![0u8; 1024];
            let _ = s.read(&mut req).await.unwrap();
            for piece in PIECES {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        let counters = WireCounters::new();
        let mut conn = Connection::connect(addr, "x", counters.clone())
            .await
            .unwrap();
        conn.send_request("GET", "/", &[], None).await.unwrap();
        let head = conn.read_head(false).await.unwrap();
        assert_eq!(conn.read_body(&head).await.unwrap(), b"hello world");
        let head = conn.read_head(false).await.unwrap();
        assert_eq!(conn.read_body(&head).await.unwrap(), b"ok");
        assert!(conn.is_reusable());
        server.await.unwrap();
        let t = counters.totals();
        assert_eq!(t.bytes_up, "GET / HTTP/1.1\r\nHost: x\r\n\r\n".len() as u64);
        assert_eq!(
            t.bytes_down,
            PIECES.iter().map(|p| p.len() as u64).sum::<u64>()
        );
        assert_eq!((t.requests, t.connections), (1, 1));
    }
}
