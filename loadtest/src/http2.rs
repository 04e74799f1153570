//! `--http2`: the HTTP transports' subscribers multiplexed over HTTP/2 connections, with the `h2`
//! crate's client over our [`CountingStream`], as [`http1`](crate::http1) does for HTTP/1.1.
//!
//! HTTP/2 is spoken with prior knowledge (h2c: the connection starts with the HTTP/2 preface) on
//! the `http://` URL, so no TLS is needed; transport-lab answers it on its plain port. Short
//! polls, long polls, HTTP streaming and SSE take part. The WebSocket does not (the server has
//! no RFC 8441 extended CONNECT), nor Socket.IO, whose client is built to upgrade to one; so
//! `--http2` leaves both out.
//!
//! What changes from HTTP/1.1 is only below the clients: client `i` of a phase opens its
//! requests as streams on connection `i / --h2-streams-per-conn` of the phase's [`Pool`], the
//! one its neighbours use too. Its bodies arrive as DATA frames and are read by the same
//! parsers (poll JSON, NDJSON lines, SSE events) as over HTTP/1.1.
//!
//! Counting follows from the sharing: a connection's bytes (preface, SETTINGS, HPACK-compressed
//! HEADERS, DATA, WINDOW_UPDATEs, RST_STREAMs) belong to no one client, so they are counted per
//! connection, in the pool, and added to the transport's totals once; each client counts the
//! requests (streams) it opened. The request headers are the header set the HTTP/1.1 clients
//! send, without the fields HTTP/2 forbids (RFC 9113 §8.2.2: `Connection` and the like), as a
//! browser's are; `Host` becomes the `:authority` pseudo-header.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::RecvStream;
use h2::client::SendRequest;
use hyper::body::{Body, Frame};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use protocol::Transport;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::clients::CONNECT_TIMEOUT;
use crate::http1::HttpError;
use crate::wire::{CountingStream, WireCounters, WireTotals};

/// Default of `--h2-streams-per-conn`: what servers commonly allow at once
/// (`SETTINGS_MAX_CONCURRENT_STREAMS` 100), so also what a browser multiplexes on one connection.
pub const DEFAULT_STREAMS_PER_CONN: u64 = 100;
/// Most `--h2-streams-per-conn`: transport-lab's follower refuses more than 256 streams open at
/// once on one connection (its `MAX_STREAMS`).
pub const MAX_STREAMS_PER_CONN: u64 = 256;

/// Chrome's stream receive window (its SETTINGS_INITIAL_WINDOW_SIZE, 6 MiB): large enough that a
/// subscriber never stalls the server, and the WINDOW_UPDATEs are the ones a browser sends.
const STREAM_WINDOW: u32 = 6 * 1024 * 1024;
/// Chrome's connection receive window (15 MiB).
const CONNECTION_WINDOW: u32 = 15 * 1024 * 1024;

/// How long [`Pool::close`] waits for the connections to close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Request header fields HTTP/2 forbids (RFC 9113 §8.2.2); h2 refuses a request carrying one.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Whether `transport` has an HTTP/2 client here: the four that are plain HTTP requests.
pub fn carries(transport: Transport) -> bool {
    matches!(
        transport,
        Transport::Poll | Transport::LongPoll | Transport::Stream | Transport::Sse
    )
}

/// The transports a `--http2` run drives, of those selected: a transport named on its own that
/// has no HTTP/2 client is an error rather than a silent HTTP/1.1 run.
pub fn selected(transports: Vec<Transport>, named: bool) -> Result<Vec<Transport>, String> {
    if named && let Some(t) = transports.iter().find(|t| !carries(**t)) {
        return Err(format!(
            "--http2: {} has no HTTP/2 client (the server speaks WebSocket over HTTP/1.1 only); \
             use poll, longpoll, stream, sse or all",
            t.name()
        ));
    }
    Ok(transports.into_iter().filter(|t| carries(*t)).collect())
}

impl From<h2::Error> for HttpError {
    /// As for hyper's errors: a connection that went away (`Io`, a GOAWAY, a reset stream) is
    /// worth a retry on a new connection; a protocol error is not.
    fn from(e: h2::Error) -> Self {
        if e.is_go_away() || e.is_reset() {
            return Self::Closed;
        }
        match e.get_io() {
            Some(io) => Self::Io(std::io::Error::new(io.kind(), io.to_string())),
            None => Self::Malformed(format!("HTTP/2: {e}")),
        }
    }
}

/// One HTTP/2 connection, shared by the clients of its group. It closes itself (GOAWAY, then
/// the socket) once every handle and every stream on it is gone, as h2 does.
#[derive(Clone)]
pub struct Connection {
    send: SendRequest<Bytes>,
    /// Set when the task driving the socket has ended: the server closed it, or it failed.
    closed: Arc<AtomicBool>,
    /// `:authority` of every request.
    authority: String,
}

impl Connection {
    /// Connects and sends the preface and SETTINGS (prior knowledge), counted in `counters`.
    /// Returns the connection and the task driving it (h2 reads and writes there).
    pub async fn connect(
        addr: SocketAddr,
        authority: &str,
        counters: Arc<WireCounters>,
    ) -> Result<(Self, JoinHandle<()>), HttpError> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let io = CountingStream::new(tcp, counters);
        let (send, connection) = h2::client::Builder::new()
            .enable_push(false)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(io)
            .await?;
        let closed = Arc::new(AtomicBool::new(false));
        // Its errors reach the clients through their streams.
        let driver = tokio::spawn({
            let closed = closed.clone();
            async move {
                let _ = connection.await;
                closed.store(true, Ordering::Relaxed);
            }
        });
        let conn = Self {
            send,
            closed,
            authority: authority.to_owned(),
        };
        Ok((conn, driver))
    }

    /// Whether its socket is gone (the server closed it, or an error ended it).
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Opens a GET stream (no body: END_STREAM on its HEADERS) and returns the answer's head.
    /// Counts a request in `counters` once h2 has taken the stream: its HEADERS go out next.
    pub async fn get(
        &self,
        path_and_query: &str,
        headers: &[(&str, String)],
        counters: &WireCounters,
    ) -> Result<impl Future<Output = Result<Response<RecvStream>, HttpError>> + use<>, HttpError>
    {
        let request = self.request(path_and_query, headers)?;
        let mut send = self.send.clone().ready().await?;
        let (response, _body) = send.send_request(request, true)?;
        counters.add_request();
        Ok(async move { Ok(response.await?) })
    }

    fn request(
        &self,
        path_and_query: &str,
        headers: &[(&str, String)],
    ) -> Result<Request<()>, HttpError> {
        let bad = |e: &dyn std::fmt::Display| HttpError::Header(e.to_string());
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(format!("http://{}{path_and_query}", self.authority))
            .body(())
            .map_err(|e| bad(&e))?;
        let map = request.headers_mut();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(&e))?;
            if CONNECTION_SPECIFIC.contains(&name.as_str()) {
                continue;
            }
            let value = HeaderValue::from_str(value).map_err(|e| bad(&e))?;
            map.append(name, value);
        }
        Ok(request)
    }
}

/// A phase's HTTP/2 connections: one per group of `streams_per_conn` clients, opened by the
/// group's first request and opened again if it closes.
pub struct Pool {
    addr: SocketAddr,
    authority: String,
    streams_per_conn: u64,
    /// One slot per group; locked while its connection is being opened, so a group opens one.
    slots: Vec<Mutex<Option<Connection>>>,
    /// Per group, everything its connection(s) carried: reopened ones add to the same sums.
    counters: Vec<Arc<WireCounters>>,
    /// The tasks driving the connections: awaited by [`Pool::close`], aborted on drop.
    drivers: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// A connection left open (a stream its client did not let go of) is closed at drop.
impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(drivers) = self.drivers.get_mut() {
            for driver in drivers.drain(..) {
                driver.abort();
            }
        }
    }
}

impl Pool {
    pub fn new(addr: SocketAddr, authority: String, clients: u64, streams_per_conn: u64) -> Self {
        let streams_per_conn = streams_per_conn.max(1);
        let groups = clients.div_ceil(streams_per_conn) as usize;
        Self {
            addr,
            authority,
            streams_per_conn,
            slots: (0..groups).map(|_| Mutex::new(None)).collect(),
            counters: (0..groups).map(|_| WireCounters::new()).collect(),
            drivers: std::sync::Mutex::default(),
        }
    }

    /// The connection client `index` sends on: its group's, opened if there is none yet or the
    /// last one closed.
    pub async fn connection(&self, index: u64) -> Result<Connection, HttpError> {
        let group = (index / self.streams_per_conn) as usize;
        let (Some(slot), Some(counters)) = (self.slots.get(group), self.counters.get(group)) else {
            return Err(HttpError::Malformed(format!("client {index} has no group")));
        };
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref()
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        let connect = Connection::connect(self.addr, &self.authority, counters.clone());
        let (conn, driver) = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(connected) => connected?,
            Err(_) => {
                return Err(HttpError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )));
            }
        };
        if let Ok(mut drivers) = self.drivers.lock() {
            drivers.retain(|d| !d.is_finished());
            drivers.push(driver);
        }
        Ok(slot.insert(conn).clone())
    }

    /// Lets go of the connections once the phase's clients have stopped (their streams reset):
    /// each then says GOAWAY and closes, and is waited for (at most [`CLOSE_GRACE`]), so its
    /// last bytes are in [`Pool::totals`] and the server has them too.
    pub async fn close(&self) {
        for slot in &self.slots {
            slot.lock().await.take();
        }
        let drivers = match self.drivers.lock() {
            Ok(mut drivers) => std::mem::take(&mut *drivers),
            Err(_) => return,
        };
        let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
        for driver in drivers {
            let abort = driver.abort_handle();
            if tokio::time::timeout_at(deadline, driver).await.is_err() {
                abort.abort();
            }
        }
    }

    /// Everything the pool's connections carried, summed (requests are counted by the clients).
    pub fn totals(&self) -> WireTotals {
        let mut totals = WireTotals::default();
        for counters in &self.counters {
            totals += counters.totals();
        }
        totals
    }
}

/// A response body as its DATA frames arrive. Every piece read is handed back to flow control at
/// once, as a browser does for a body it consumes, so the server is never held up by our window.
/// Its stream keeps the connection open while it is read; dropping it resets the stream (as a
/// page closing its `EventSource` does), not the connection, which its group still uses.
pub struct Frames(RecvStream);

impl Frames {
    /// The answer's status, and its body to read.
    pub fn new(response: Response<RecvStream>) -> (StatusCode, Self) {
        let (parts, body) = response.into_parts();
        (parts.status, Self(body))
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let body = &mut self.get_mut().0;
        let data = std::task::ready!(body.poll_data(cx));
        if let Some(Ok(data)) = &data {
            // Released as soon as read: the window reopens as the client consumes.
            let _ = body.flow_control().release_capacity(data.len());
        }
        Poll::Ready(data.map(|data| data.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}
