//! What each transport costs per request and per delivered message, measured by the wire ledger
//! of a *private* server: `GET /api/overhead` and `examples/overhead.rs`.
//!
//! A measurement starts its own server on 127.0.0.1:0 (its own bus and ledger, on its own thread
//! and runtime), so probe messages never appear in the real chat room and probe bytes never move
//! the real ledger. It opens one raw-TCP subscriber per transport and header set (curl's minimal
//! request headers and a desktop browser's), publishes a few messages, and reports the ledger's
//! change between "all subscribers connected" and "all have the last message". Raw sockets, not an
//! HTTP client library, so the request heads are exactly the ones named here and nothing else.
//!
//! The page's answer is measured once per process and cached: the figures depend on header sizes
//! and framing, not on load, so measuring again would only repeat them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use protocol::headers::{self, DEFAULT_ORIGIN, HeaderProfile};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::error::AppError;
use crate::ledger::Snapshot;
use crate::state::{AppState, StartPrivate};
use crate::transports::Transport;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The private server's flags. The page is modelled as served from the default address, so its
/// WebSocket handshake's `Origin` is that address's, which the private server must accept.
pub const PRIVATE_FLAGS: [&str; 7] = [
    "--no-presence-events",
    "--workers",
    "1",
    // No heartbeat inside the window: it would be a cost of time, not of messages.
    "--heartbeat",
    "60",
    "--allowed-origins",
    DEFAULT_ORIGIN,
];

/// The request headers (after `Host`) a `profile` client sends to subscribe to `transport`.
fn request_head(profile: HeaderProfile, transport: Transport) -> String {
    headers::to_head(&headers::request_headers(
        profile,
        transport.request_kind(),
        DEFAULT_ORIGIN,
        None,
    ))
}

/// 40 bytes of text, as in the figures other projects publish.
pub const TEXT: &str = "forty bytes of chat text, give or take!!";

/// How a measurement runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Plan {
    /// Messages published while measuring.
    pub messages: u64,
    /// Gap between two published messages.
    #[serde(serialize_with = "millis")]
    pub publish_every: Duration,
    /// The short-polling subscriber's interval; with `publish_every` it decides how many polls
    /// come back empty, so both are reported next to the figures.
    #[serde(serialize_with = "millis")]
    pub poll_every: Duration,
}

/// The page's plan: short (about 1.5 s), so the first visitor of `/overhead` waits little.
pub const QUICK: Plan = Plan {
    messages: 10,
    publish_every: Duration::from_millis(100),
    poll_every: Duration::from_millis(250),
};

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One transport under one header set: the raw change and the figures derived from it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub transport: Transport,
    /// `curl` or `browser`.
    pub headers: HeaderProfile,
    /// The ledger's change for this transport over the measured window.
    pub delta: Snapshot,
    /// Bytes down per delivered message.
    pub down_per_message: f64,
    /// Bytes up per delivered message (requests the client had to send to receive).
    pub up_per_message: f64,
    pub requests_per_message: f64,
    pub payload_per_message: f64,
    /// Request and response heads per message: the part the browser's headers make expensive.
    pub header_per_message: f64,
    /// Chunk lines, SSE fields, WebSocket frame headers per message.
    pub framing_per_message: f64,
    /// Envelopes and control objects per message.
    pub other_per_message: f64,
    /// All bytes, both directions, over the payload delivered.
    pub ratio: f64,
    /// What one request costs on the wire, up and down, without the messages it carries:
    /// request bytes + response head + envelope. Zero for transports that made no request.
    pub per_request: f64,
}

/// A whole measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub plan: Plan,
    /// Unix milliseconds when the measurement finished.
    pub measured_at: u64,
    pub duration_ms: u64,
    pub text_bytes: usize,
    /// The request header sets used, as sent (CRLFs shown as line breaks).
    pub header_sets: Vec<HeaderSet>,
    pub rows: Vec<Row>,
}

/// A named request header set (as a `fetch()` sends it) and its size.
#[derive(Debug, Clone, Serialize)]
pub struct HeaderSet {
    pub name: HeaderProfile,
    pub headers: String,
    pub bytes: usize,
}

/// Measures on a new private server (see [`StartPrivate`]) started in this runtime, and stops it
/// afterwards.
pub async fn measure_private(start: StartPrivate, plan: Plan) -> Result<Report, Error> {
    let server = start(&PRIVATE_FLAGS)?;
    let report = tokio::time::timeout(Duration::from_secs(30), measure(server.addr, plan)).await;
    server.stop.await;
    report.map_err(|_| "the measurement took over 30 s")?
}

/// Measures both header sets at once against the server at `addr`.
pub async fn measure(addr: SocketAddr, plan: Plan) -> Result<Report, Error> {
    let started = Instant::now();
    let newest = newest_id(addr).await?;
    let mut subscribers: Vec<JoinHandle<()>> = Vec::new();
    for profile in HeaderProfile::ALL {
        for transport in Transport::ALL {
            let id = client_id(profile, transport);
            let headers = request_head(profile, transport);
            subscribers.push(tokio::spawn(async move {
                // A subscriber ends when aborted; an error just means it saw less, which the
                // bounded wait below notices.
                let _ = subscribe(addr, transport, &id, &headers, newest, plan.poll_every).await;
            }));
        }
    }
    // Let every subscriber connect (and the first polls land) before the window opens.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut before = Vec::new();
    for profile in HeaderProfile::ALL {
        for t in Transport::ALL {
            before.push(stats(addr, &client_id(profile, t), t).await?);
        }
    }

    let mut publisher = TcpStream::connect(addr).await?;
    for _ in 0..plan.messages {
        let body = format!(r#"{{"user":"ada","text":"{TEXT}"}}"#);
        let request = format!(
            "POST /api/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        publisher.write_all(request.as_bytes()).await?;
        read_response(&mut publisher).await?;
        tokio::time::sleep(plan.publish_every).await;
    }

    // Wait (bounded: 50 x 100 ms) until every subscriber has the last message.
    let mut after = Vec::new();
    for _ in 0..50 {
        after.clear();
        for profile in HeaderProfile::ALL {
            for t in Transport::ALL {
                after.push(stats(addr, &client_id(profile, t), t).await?);
            }
        }
        let done = after
            .iter()
            .zip(&before)
            .all(|(a, b)| field(a, "messages") - field(b, "messages") >= plan.messages);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in subscribers {
        s.abort();
    }

    let labels = HeaderProfile::ALL
        .into_iter()
        .flat_map(|profile| Transport::ALL.map(move |t| (profile, t)));
    let rows = labels
        .zip(before.iter().zip(&after))
        .map(|((profile, transport), (b, a))| row(transport, profile, b, a))
        .collect();
    Ok(Report {
        plan,
        measured_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        text_bytes: TEXT.len(),
        header_sets: HeaderProfile::ALL
            .iter()
            .map(|&name| {
                let headers = request_head(name, Transport::Poll);
                HeaderSet {
                    name,
                    bytes: headers.len(),
                    headers: headers.replace("\r\n", "\n"),
                }
            })
            .collect(),
        rows,
    })
}

fn client_id(profile: HeaderProfile, transport: Transport) -> String {
    format!("overhead-{}-{transport}", profile.name())
}

fn row(transport: Transport, headers: HeaderProfile, before: &Value, after: &Value) -> Row {
    let parse = |v: &Value| serde_json::from_value::<Snapshot>(v.clone()).unwrap_or_default();
    let delta = parse(after).since(&parse(before));
    // Counts are small (a few thousand bytes), so f64 holds them exactly.
    #[allow(clippy::cast_precision_loss)]
    let per = |n: u64| {
        if delta.messages == 0 {
            0.0
        } else {
            n as f64 / delta.messages as f64
        }
    };
    #[allow(clippy::cast_precision_loss)]
    let per_request = if delta.requests == 0 {
        0.0
    } else {
        (delta.request_bytes + delta.response_header_bytes + delta.other_bytes) as f64
            / delta.requests as f64
    };
    let payload = per(delta.payload_bytes);
    let total = per(delta.response_bytes + delta.request_bytes);
    Row {
        transport,
        headers,
        down_per_message: per(delta.response_bytes),
        up_per_message: per(delta.request_bytes),
        requests_per_message: per(delta.requests),
        payload_per_message: payload,
        header_per_message: per(delta.request_header_bytes + delta.response_header_bytes),
        framing_per_message: per(delta.framing_bytes),
        other_per_message: per(delta.other_bytes),
        ratio: if payload > 0.0 { total / payload } else { 0.0 },
        per_request,
        delta,
    }
}

fn field(snapshot: &Value, name: &str) -> u64 {
    snapshot[name].as_u64().unwrap_or(0)
}

async fn newest_id(addr: SocketAddr) -> Result<u64, Error> {
    let (_, body) = get(addr, Transport::Poll.path(), "").await?;
    Ok(body["last_id"].as_u64().unwrap_or(0))
}

/// One transport's snapshot for one client, from `/api/stats?client=`.
async fn stats(addr: SocketAddr, client: &str, transport: Transport) -> Result<Value, Error> {
    let (_, body) = get(addr, &format!("/api/stats?client={client}"), "").await?;
    Ok(body["transports"][transport.name()].clone())
}

async fn get(addr: SocketAddr, path: &str, headers: &str) -> Result<(String, Value), Error> {
    let mut socket = TcpStream::connect(addr).await?;
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n").as_bytes())
        .await?;
    read_response(&mut socket).await
}

/// Reads one `Content-Length` response: its head and its JSON body.
async fn read_response(socket: &mut TcpStream) -> Result<(String, Value), Error> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await?;
                if n == 0 {
                    return Err("connection closed mid-body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body =
                serde_json::from_slice(&buf[end + 4..end + 4 + length]).unwrap_or(Value::Null);
            return Ok((head, body));
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A subscriber of one transport, reading until aborted.
async fn subscribe(
    addr: SocketAddr,
    transport: Transport,
    client: &str,
    headers: &str,
    mut cursor: u64,
    poll_every: Duration,
) -> Result<(), Error> {
    let mut socket = TcpStream::connect(addr).await?;
    let path = transport.path();
    match transport {
        Transport::Poll | Transport::LongPoll => loop {
            let query = if transport == Transport::Poll {
                format!("since={cursor}&client={client}")
            } else {
                format!("since={cursor}&timeout=25&client={client}")
            };
            socket
                .write_all(
                    format!("GET {path}?{query} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n")
                        .as_bytes(),
                )
                .await?;
            let (_, body) = read_response(&mut socket).await?;
            cursor = body["last_id"].as_u64().unwrap_or(cursor);
            if transport == Transport::Poll {
                tokio::time::sleep(poll_every).await;
            }
        },
        Transport::Ws => {
            let head = format!(
                "GET {path}?client={client} HTTP/1.1\r\nHost: {addr}\r\n{headers}Upgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            );
            socket.write_all(head.as_bytes()).await?;
            drain(socket).await
        }
        Transport::SocketIo => {
            let head = format!(
                "GET {path}?EIO=4&transport=websocket&client={client} HTTP/1.1\r\nHost: {addr}\r\n{headers}Upgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            );
            socket.write_all(head.as_bytes()).await?;
            // CONNECT (`40`) to the default namespace, in one masked text frame (a zero mask).
            socket
                .write_all(&[0x81, 0x82, 0, 0, 0, 0, b'4', b'0'])
                .await?;
            drain(socket).await
        }
        Transport::Stream | Transport::Sse => {
            socket
                .write_all(
                    format!("GET {path}?client={client} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n")
                        .as_bytes(),
                )
                .await?;
            drain(socket).await
        }
    }
}

async fn drain(mut socket: TcpStream) -> Result<(), Error> {
    let mut chunk = [0u8; 16384];
    while socket.read(&mut chunk).await? > 0 {}
    Ok(())
}

/// The page's measurement, taken once per process.
static CACHE: OnceCell<Arc<Report>> = OnceCell::const_new();

/// `GET /api/overhead`: the cached [`QUICK`] measurement, taken on first request (about 1.5 s).
///
/// The private server runs on its own thread and runtime: the real server's workers keep serving
/// while it measures, and nothing of it shares their runtime.
pub async fn overhead_json(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let start = state.start_private;
    let report = CACHE
        .get_or_try_init(|| async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("overhead-probe".into())
                .spawn(move || {
                    let result = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(Error::from)
                        .and_then(|rt| rt.block_on(measure_private(start, QUICK)))
                        .map_err(|e| e.to_string());
                    let _ = tx.send(result);
                })
                .map_err(|e| AppError::Internal(format!("no thread for the measurement: {e}")))?;
            match rx.await {
                Ok(Ok(report)) => Ok(Arc::new(report)),
                Ok(Err(e)) => Err(AppError::Unavailable(format!(
                    "the overhead measurement failed ({e}); try again"
                ))),
                Err(_) => Err(AppError::Internal("the measurement thread ended".into())),
            }
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(report.as_ref()))
}
