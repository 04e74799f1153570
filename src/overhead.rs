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
//! The polls and streams are measured over HTTP/2 as well, side by side in the same window:
//! the same header sets, sent by an `h2` client with prior knowledge on the private server's
//! plain port (h2c), each transport on one connection of its own. A poll's requests then share
//! one connection and HPACK's tables, so the first request's header block is measured apart from
//! the later ones' ([`Http2Row`]). WebSocket and Socket.IO's WebSocket stay HTTP/1.1: actix-http
//! has no WebSocket over HTTP/2 (RFC 8441), and browsers open an HTTP/1.1 connection for them.
//!
//! One plan, [`PLAN`], is measured by the page, the example (the README's table) and quoted by the
//! lessons; `?rate=` measures the same plan at another message rate, for the page's slider (the
//! rate decides whether short polling beats long polling). Each plan is measured once per process
//! and kept: the figures depend on header sizes, framing and the plan, not on load, so measuring
//! again would only repeat them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use protocol::headers::{self, DEFAULT_ORIGIN, HeaderProfile};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::AppError;
use crate::ledger::Snapshot;
use crate::params::Params;
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

/// The transports measured over HTTP/2 too. WebSocket and Socket.IO (measured on its WebSocket)
/// are not: actix-http has no WebSocket over HTTP/2 (RFC 8441's extended CONNECT), so a browser
/// opens an HTTP/1.1 connection for them, even beside an HTTP/2 one.
pub const HTTP2_TRANSPORTS: [Transport; 4] = [
    Transport::Poll,
    Transport::LongPoll,
    Transport::Stream,
    Transport::Sse,
];

/// The request header fields a `profile` client sends over HTTP/2 to subscribe to `transport`:
/// the HTTP/1.1 set with lower-case names (RFC 9113 §8.2.1), without `Connection`, which is
/// connection-specific and forbidden in HTTP/2 (§8.2.2). Method, path, authority and scheme go
/// as pseudo-headers, from the request's URI.
fn request_fields(profile: HeaderProfile, transport: Transport) -> Vec<(String, String)> {
    headers::request_headers(profile, transport.request_kind(), DEFAULT_ORIGIN, None)
        .into_iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("connection"))
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect()
}

/// 40 bytes of text, as in the figures other projects publish.
pub const TEXT: &str = "forty bytes of chat text, give or take!!";

/// How a measurement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Messages published while measuring.
    pub messages: u64,
    /// Gap between two published messages.
    pub publish_every: Duration,
    /// The short-polling subscriber's interval; with `publish_every` it decides how many polls
    /// come back empty, so both are reported next to the figures.
    pub poll_every: Duration,
}

/// The one measurement plan: what `/api/overhead` measures unless asked for another rate, what
/// `examples/overhead` prints for the README's table, and what the lessons quote. Two messages a
/// second (a lively chat), short polling every 250 ms, about 5 s of publishing.
///
/// It is [`Plan::at_rate`] of its own rate, so the page's slider at the default reads the same
/// figures. (Before #16 the page measured 10 messages 100 ms apart and the README 20 messages
/// 500 ms apart, and they disagreed on whether short or long polling is cheaper.)
pub const PLAN: Plan = Plan {
    messages: 10,
    publish_every: Duration::from_millis(500),
    poll_every: Duration::from_millis(250),
};

/// The slowest rate `?rate=` measures, in messages a second: slower ones take too long to
/// measure for a page (at this rate, [`MIN_MESSAGES`] take 8 s).
pub const MIN_RATE: f64 = 0.5;
/// The fastest rate `?rate=` measures, in messages a second: far past the short-polling
/// crossover, and well under the publish limit a loopback peer is exempt from anyway.
pub const MAX_RATE: f64 = 20.0;
/// About how long a measurement at any rate publishes for.
const WINDOW: Duration = Duration::from_secs(5);
/// At least this many messages, so a slow rate still averages over several.
const MIN_MESSAGES: u64 = 4;
/// At most this many, so a fast rate stays short.
const MAX_MESSAGES: u64 = 40;

impl Plan {
    /// The plan at `rate` messages a second: [`PLAN`]'s short-polling interval, about
    /// [`WINDOW`] of publishing (between [`MIN_MESSAGES`] and [`MAX_MESSAGES`]). `rate` must
    /// be within [`MIN_RATE`]..=[`MAX_RATE`] (see [`parse_rate`]).
    pub fn at_rate(rate: f64) -> Self {
        let rate = rate.clamp(MIN_RATE, MAX_RATE);
        // Within the bounds above, both are small positive whole numbers.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let messages =
            ((rate * WINDOW.as_secs_f64()).round() as u64).clamp(MIN_MESSAGES, MAX_MESSAGES);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let every_ms = (1000.0 / rate).round() as u64;
        Self {
            messages,
            publish_every: Duration::from_millis(every_ms),
            poll_every: PLAN.poll_every,
        }
    }

    /// Messages a second.
    pub fn rate(&self) -> f64 {
        1.0 / self.publish_every.as_secs_f64()
    }

    /// The rate at which short polling makes one request per message, as long polling does:
    /// below it most polls come back empty and short polling costs more per message; above it
    /// each poll carries several messages and short polling costs less.
    pub fn crossover_rate(&self) -> f64 {
        1.0 / self.poll_every.as_secs_f64()
    }
}

impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut plan = s.serialize_struct("Plan", 5)?;
        plan.serialize_field("messages", &self.messages)?;
        plan.serialize_field("publish_every", &millis(self.publish_every))?;
        plan.serialize_field("poll_every", &millis(self.poll_every))?;
        plan.serialize_field("rate", &self.rate())?;
        plan.serialize_field("crossover_rate", &self.crossover_rate())?;
        plan.end()
    }
}

/// `?rate=`: messages a second, a decimal number (`2`, `0.5`, `12.5`) within
/// [`MIN_RATE`]..=[`MAX_RATE`]; anything else is a 400 that says what a valid one is.
pub fn parse_rate(value: &str) -> Result<f64, AppError> {
    let well_formed = !value.is_empty()
        && value.len() <= 8
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().filter(|&b| b == b'.').count() <= 1
        && value.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && value.bytes().last().is_some_and(|b| b.is_ascii_digit());
    let rate = value.parse::<f64>().ok().filter(|_| well_formed);
    match rate {
        Some(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Ok(r),
        _ => Err(AppError::bad_request(format!(
            "rate must be messages per second, a number from {MIN_RATE} to {MAX_RATE} \
             (such as 2 or 0.5), got {value:?}"
        ))),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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

/// One transport under one header set over HTTP/2 (prior knowledge, one connection per
/// subscriber): the figures of [`Row`], and what HPACK did to the request heads.
#[derive(Debug, Clone, Serialize)]
pub struct Http2Row {
    #[serde(flatten)]
    pub row: Row,
    /// The header block of the connection's first request, as sent (HPACK-compressed): the
    /// dynamic table is still empty, so only the static table and Huffman coding help.
    pub first_request_header_bytes: u64,
    /// The average header block of the requests in the window, once the table holds the fields
    /// every request repeats (the user agent, `accept-*`, `sec-fetch-*`): one or two bytes each.
    /// `None` for the stream and SSE, which make no request after their first.
    pub later_request_header_bytes: Option<f64>,
    /// The same request's head over HTTP/1.1 (the HTTP/1.1 subscriber's average), to set
    /// beside the two above: HTTP/1.1 sends it whole every time.
    pub http1_request_header_bytes: f64,
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
    /// Over HTTP/1.1, one keep-alive connection per subscriber.
    pub rows: Vec<Row>,
    /// The transports of [`HTTP2_TRANSPORTS`] over HTTP/2, measured in the same window.
    pub http2: Vec<Http2Row>,
    /// The transports measured over HTTP/1.1 only (see [`HTTP2_TRANSPORTS`]).
    pub http1_only: Vec<Transport>,
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

/// Measures both header sets at once against the server at `addr`, over HTTP/1.1 and (for
/// [`HTTP2_TRANSPORTS`]) over HTTP/2, all in the same window.
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
    // Each HTTP/2 subscriber says what its first request's header block cost, read from the
    // ledger before it sends a second one.
    let mut firsts = Vec::new();
    for profile in HeaderProfile::ALL {
        for transport in HTTP2_TRANSPORTS {
            let (first_tx, first_rx) = oneshot::channel();
            firsts.push(first_rx);
            let id = h2_client_id(profile, transport);
            let fields = request_fields(profile, transport);
            subscribers.push(tokio::spawn(async move {
                // As above: an error shows as messages missing.
                let _ = subscribe_h2(
                    addr,
                    transport,
                    &id,
                    &fields,
                    newest,
                    plan.poll_every,
                    first_tx,
                )
                .await;
            }));
        }
    }
    // Let every subscriber connect (and the first polls land) before the window opens.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let clients: Vec<(String, Transport)> = h1_labels()
        .map(|(profile, t)| (client_id(profile, t), t))
        .chain(h2_labels().map(|(profile, t)| (h2_client_id(profile, t), t)))
        .collect();
    let mut before = Vec::new();
    for (client, t) in &clients {
        before.push(stats(addr, client, *t).await?);
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
        for (client, t) in &clients {
            after.push(stats(addr, client, *t).await?);
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

    let h1_count = HeaderProfile::ALL.len() * Transport::ALL.len();
    let rows: Vec<Row> = h1_labels()
        .zip(before.iter().zip(&after))
        .map(|((profile, transport), (b, a))| row(transport, profile, b, a))
        .collect();
    let mut http2 = Vec::new();
    for (((profile, transport), (b, a)), first) in h2_labels()
        .zip(before[h1_count..].iter().zip(&after[h1_count..]))
        .zip(firsts)
    {
        let row = row(transport, profile, b, a);
        // The HTTP/1.1 subscriber's heads before the window: every one it sent, each whole.
        let h1 = parse_snapshot(&before[h1_index(profile, transport)]);
        #[allow(clippy::cast_precision_loss)]
        let http1_request_header_bytes = if h1.requests == 0 {
            0.0
        } else {
            h1.request_header_bytes as f64 / h1.requests as f64
        };
        #[allow(clippy::cast_precision_loss)]
        let later_request_header_bytes = (row.delta.requests > 0)
            .then(|| row.delta.request_header_bytes as f64 / row.delta.requests as f64);
        http2.push(Http2Row {
            // No answer: the subscriber failed before its first response, and its row shows
            // no messages either.
            first_request_header_bytes: first.await.unwrap_or(0),
            later_request_header_bytes,
            http1_request_header_bytes,
            row,
        });
    }
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
        http2,
        http1_only: Transport::ALL
            .into_iter()
            .filter(|t| !HTTP2_TRANSPORTS.contains(t))
            .collect(),
    })
}

/// The HTTP/1.1 subscribers, in the order of the report's rows.
fn h1_labels() -> impl Iterator<Item = (HeaderProfile, Transport)> {
    HeaderProfile::ALL
        .into_iter()
        .flat_map(|profile| Transport::ALL.map(move |t| (profile, t)))
}

/// Where `h1_labels` puts a subscriber.
fn h1_index(profile: HeaderProfile, transport: Transport) -> usize {
    h1_labels()
        .position(|label| label == (profile, transport))
        .unwrap_or(0)
}

/// The HTTP/2 subscribers, in the order of the report's `http2` rows.
fn h2_labels() -> impl Iterator<Item = (HeaderProfile, Transport)> {
    HeaderProfile::ALL
        .into_iter()
        .flat_map(|profile| HTTP2_TRANSPORTS.map(move |t| (profile, t)))
}

fn h2_client_id(profile: HeaderProfile, transport: Transport) -> String {
    format!("overhead-h2-{}-{transport}", profile.name())
}

fn client_id(profile: HeaderProfile, transport: Transport) -> String {
    format!("overhead-{}-{transport}", profile.name())
}

fn parse_snapshot(v: &Value) -> Snapshot {
    serde_json::from_value::<Snapshot>(v.clone()).unwrap_or_default()
}

fn row(transport: Transport, headers: HeaderProfile, before: &Value, after: &Value) -> Row {
    let delta = parse_snapshot(after).since(&parse_snapshot(before));
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

/// A subscriber of one transport over HTTP/2 with prior knowledge, on one connection, reading
/// until aborted: polls and long polls send each request as a new stream on it. After its first
/// response head, it reads its first request's header block size off the ledger and sends it to
/// `first`, before any second request could add to it.
async fn subscribe_h2(
    addr: SocketAddr,
    transport: Transport,
    client: &str,
    fields: &[(String, String)],
    mut cursor: u64,
    poll_every: Duration,
    first: oneshot::Sender<u64>,
) -> Result<(), Error> {
    let socket = TcpStream::connect(addr).await?;
    let (mut sender, connection) = h2::client::handshake(socket).await?;
    // The connection's frames are read and written by this task; it ends with the subscriber.
    let connection = tokio::spawn(connection);
    let _stop = AbortOnDrop(connection);
    let path = transport.path();
    let mut first = Some(first);
    loop {
        let query = match transport {
            Transport::Poll => format!("since={cursor}&client={client}"),
            Transport::LongPoll => format!("since={cursor}&timeout=25&client={client}"),
            _ => format!("client={client}"),
        };
        let mut request = http::Request::get(format!("http://{addr}{path}?{query}"));
        for (name, value) in fields {
            request = request.header(name.as_str(), value.as_str());
        }
        sender = sender.ready().await?;
        let (response, _) = sender.send_request(request.body(())?, true)?;
        let mut body = response.await?.into_body();
        if let Some(first) = first.take() {
            let snapshot = stats(addr, client, transport).await?;
            let _ = first.send(field(&snapshot, "request_header_bytes"));
        }
        let mut bytes = Vec::new();
        while let Some(data) = body.data().await {
            let data: Bytes = data?;
            // Give the window back at once, as a browser does, so the server never waits on it.
            let _ = body.flow_control().release_capacity(data.len());
            if matches!(transport, Transport::Poll | Transport::LongPoll) {
                bytes.extend_from_slice(&data);
            }
        }
        match transport {
            Transport::Poll | Transport::LongPoll => {
                let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                cursor = answer["last_id"].as_u64().unwrap_or(cursor);
                if transport == Transport::Poll {
                    tokio::time::sleep(poll_every).await;
                }
            }
            // A stream that ended: the server went away.
            _ => return Ok(()),
        }
    }
}

/// Aborts a task when dropped: the HTTP/2 connection a subscriber drives ends with it.
struct AbortOnDrop(JoinHandle<Result<(), h2::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn drain(mut socket: TcpStream) -> Result<(), Error> {
    let mut chunk = [0u8; 16384];
    while socket.read(&mut chunk).await? > 0 {}
    Ok(())
}

/// Measurements at other rates kept at once (the plan's own is always kept): enough for every
/// stop of the page's slider.
const CACHED_RATES: usize = 32;
/// Requests that may wait for a measurement at once; more get a 503. A measurement starts a
/// private server and takes seconds, so they run one at a time.
const MAX_WAITING: usize = 8;

/// Measurements taken, by `publish_every` in milliseconds: the figures depend on header sizes,
/// framing and the plan, not on load, so measuring the same plan again would only repeat them.
struct Measurements {
    done: std::sync::Mutex<std::collections::HashMap<u64, Arc<Report>>>,
    /// Held while a measurement runs: one private server at a time.
    running: tokio::sync::Mutex<()>,
    waiting: std::sync::atomic::AtomicUsize,
}

static MEASUREMENTS: std::sync::LazyLock<Measurements> =
    std::sync::LazyLock::new(|| Measurements {
        done: std::sync::Mutex::default(),
        running: tokio::sync::Mutex::const_new(()),
        waiting: std::sync::atomic::AtomicUsize::new(0),
    });

impl Measurements {
    fn cached(&self, plan: Plan) -> Option<Arc<Report>> {
        crate::lock::lock(&self.done)
            .get(&millis(plan.publish_every))
            .cloned()
    }

    fn keep(&self, plan: Plan, report: Arc<Report>) {
        let mut done = crate::lock::lock(&self.done);
        if done.len() > CACHED_RATES {
            done.retain(|&every, _| every == millis(PLAN.publish_every));
        }
        done.insert(millis(plan.publish_every), report);
    }

    /// The measurement of `plan`: cached, or taken now on a private server (one at a time).
    async fn get(&self, start: StartPrivate, plan: Plan) -> Result<Arc<Report>, AppError> {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(report) = self.cached(plan) {
            return Ok(report);
        }
        /// Counts a waiting request while it lives, however its future ends.
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Relaxed);
            }
        }
        if self.waiting.fetch_add(1, Relaxed) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Relaxed);
            return Err(AppError::Unavailable(
                "the server is busy measuring other rates; try again in a few seconds".into(),
            ));
        }
        let _waiting = Waiting(&self.waiting);
        let _running = self.running.lock().await;
        // Measured while this request waited its turn?
        if let Some(report) = self.cached(plan) {
            return Ok(report);
        }
        let report = Arc::new(measure_apart(start, plan).await?);
        self.keep(plan, Arc::clone(&report));
        Ok(report)
    }
}

/// Measures `plan` on a private server on its own thread and runtime: the real server's workers
/// keep serving while it measures, and nothing of it shares their runtime.
async fn measure_apart(start: StartPrivate, plan: Plan) -> Result<Report, AppError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("overhead-probe".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::from)
                .and_then(|rt| rt.block_on(measure_private(start, plan)))
                .map_err(|e| e.to_string());
            let _ = tx.send(result);
        })
        .map_err(|e| AppError::Internal(format!("no thread for the measurement: {e}")))?;
    match rx.await {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err(AppError::Unavailable(format!(
            "the overhead measurement failed ({e}); try again"
        ))),
        Err(_) => Err(AppError::Internal("the measurement thread ended".into())),
    }
}

/// `GET /api/overhead[?rate=R]`: the measurement of [`PLAN`], or of [`Plan::at_rate`] `R`
/// messages a second, each taken on first request (about as long as its plan publishes:
/// 5 s for the plan's own) and kept for the life of the process.
pub async fn overhead_json(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    let plan = match params.get("rate") {
        None => PLAN,
        Some(value) => Plan::at_rate(parse_rate(value)?),
    };
    let report = MEASUREMENTS.get(state.start_private, plan).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(report.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan is the slider's plan at its own rate, so both read the same figures.
    #[test]
    fn the_plan_is_its_own_rate() {
        assert_eq!(Plan::at_rate(PLAN.rate()), PLAN);
        assert!((PLAN.rate() - 2.0).abs() < 1e-9);
        assert!((PLAN.crossover_rate() - 4.0).abs() < 1e-9);
        let slow = Plan::at_rate(MIN_RATE);
        assert_eq!(
            (slow.messages, slow.publish_every),
            (4, Duration::from_secs(2))
        );
        let fast = Plan::at_rate(MAX_RATE);
        assert_eq!(
            (fast.messages, fast.publish_every),
            (40, Duration::from_millis(50))
        );
    }

    /// Rates are plain decimals within the bounds; everything else is refused.
    #[test]
    fn rates_are_checked() {
        for ok in ["0.5", "2", "4", "12.5", "20", "20.0", "07"] {
            assert!(parse_rate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "0",
            "0.4",
            "21",
            "-1",
            "abc",
            "NaN",
            "inf",
            "1e1",
            ".5",
            "5.",
            "1.2.3",
            " 2",
            "2 ",
            "+2",
            "100000000",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }
}
