//! Socket.IO client: Engine.IO v4 and Socket.IO v5 at `/socket.io/`, spoken the way
//! `socket.io-client` speaks them, over our counting connections.
//!
//! By default a session starts on HTTP long polling and upgrades, in socket.io-client's order:
//!
//! 1. The handshake, `GET ?EIO=4&transport=polling`, is answered with the open packet
//!    `0{"sid":..,"upgrades":["websocket"],..}`.
//! 2. At once and together, as engine.io-client does on open: Socket.IO's CONNECT
//!    `40{"since":N}` is POSTed (its `auth` carries the cursor), the next poll is held, and a
//!    WebSocket with the `sid` is opened and probed (`2probe`, answered `3probe`).
//! 3. Poll answers are packets joined by `0x1e`: CONNECT's answer `40{"sid":..}`, the room's
//!    `42["ready",{..}]`, messages as `42["chat",{..}]`, pings `2` (answered by POSTing `3`).
//! 4. Once the probe is answered, polling pauses: no new poll, and writes wait, until the poll in
//!    flight has come back (the server releases it with a noop `6`) and no POST is in flight.
//!    Then `5` on the WebSocket completes the upgrade, and the WebSocket carries the rest:
//!    `chat` events, control events (`ready`, `gap`, `presence`), pings `2` answered `3`.
//!
//! A probe that fails (a proxy that strips `Upgrade`, `--refuse-websocket`) leaves the session on
//! polling, as it leaves socket.io-client; the client notes why. With `--socketio-direct-ws` the
//! session is a WebSocket from the start (`transport=websocket`, no `sid`, socket.io-client's
//! `transports: ["websocket"]`): its first frame is the open packet, then CONNECT goes out as a
//! frame.
//!
//! Every request carries `room` (with `--rooms`) and `client` first, as socket.io-client's
//! `query` option puts them, then `EIO`, `transport`, `sid` and, on polling requests,
//! engine.io-client's cache buster `t`. The client counts as subscribed once its room's `ready`
//! event has arrived *and* the session is on the carrier it stays on (upgraded, or polling after
//! a failed probe): the cost of subscribing includes the upgrade, and every message is measured
//! on the carrier that carries the rest. A session that ends (a close packet, a failed request, a
//! closed WebSocket) is opened again from the start with `auth.since` = the id of the last
//! message seen, as a socket.io-client whose `auth` callback reads the cursor does.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use hyper::Method;
use protocol::Control;
use protocol::headers::{self, RequestKind};
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::clients::{self, CONNECT_TIMEOUT, ClientOutcome, Phase, Receiver, status_error, ws};
use crate::http1::{Connection, HttpError};
use crate::probe;
use crate::wire::WireCounters;

/// The Engine.IO version spoken: 4, socket.io-client 3 and later.
const ENGINE_IO: &str = "4";
/// Joins the packets of one polling body (the record separator).
const SEPARATOR: u8 = 0x1e;
/// What engine.io-client's polling POSTs say their body is.
const POST_CONTENT_TYPE: &str = "text/plain;charset=UTF-8";
/// The carriers, as `transport=` names them.
const POLLING: &str = "polling";
const WEBSOCKET: &str = "websocket";
/// A `chat` event as a Socket.IO packet (Engine.IO's `4` already taken off).
const CHAT_EVENT: &[u8] = b"2[\"chat\",";

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut cursor = phase.start_cursor(index);
    let requests = Arc::new(Requests::new(&phase, index));
    loop {
        let mut session = Session {
            receiver: &mut receiver,
            cursor: &mut cursor,
            connected: false,
            subscribed: false,
            settled: false,
        };
        let result = tokio::select! {
            () = phase.stop.cancelled() => break,
            result = session.run(&requests) => result,
        };
        if !receiver.ended(result).await {
            break;
        }
    }
    receiver.finish()
}

/// What every request of one client says: its path and query, and its header sets.
struct Requests {
    /// `/socket.io/?[room=..&]client=..`: what socket.io-client's `query` option puts first.
    base: String,
    /// The server the client talks to (its place in the phase's list).
    server: usize,
    /// A poll's headers: an `XMLHttpRequest`'s, which are `fetch()`'s.
    poll: Vec<(&'static str, String)>,
    /// A POST's: the same with `Content-Type: text/plain;charset=UTF-8` (and so `Origin`).
    post: Vec<(&'static str, String)>,
}

impl Requests {
    fn new(phase: &Phase, index: u64) -> Self {
        let server = &phase.server(index).url;
        let url = phase.rooms.url_in(server, phase.rooms.of_client(index));
        let origin = server.origin();
        let set = |content_type| {
            headers::request_headers(phase.profile, RequestKind::Fetch, &origin, content_type)
        };
        Self {
            base: url.with_param("client", &phase.client_id(index)),
            server: phase.server_of(index),
            poll: set(None),
            post: set(Some(POST_CONTENT_TYPE)),
        }
    }

    /// The path and query of a request on `transport`, in session `sid` (none: a new session).
    fn path(&self, transport: &str, sid: Option<&str>) -> String {
        let mut path = format!("{}&EIO={ENGINE_IO}&transport={transport}", self.base);
        if let Some(sid) = sid {
            path.push_str("&sid=");
            path.push_str(sid);
        }
        if transport == POLLING {
            let now = unix_ms();
            path.push_str("&t=");
            path.push_str(&stamp(now, RandomState::new().hash_one(now)));
        }
        path
    }
}

/// One Engine.IO session of a client, from its handshake to its end.
struct Session<'a> {
    receiver: &'a mut Receiver,
    /// The id of the last message seen, in the client's room: CONNECT's `auth.since`.
    cursor: &'a mut Option<u64>,
    /// CONNECT was answered (`40{"sid":..}`).
    connected: bool,
    /// The room's `ready` event arrived.
    subscribed: bool,
    /// The session is on the carrier it stays on: upgraded, polling after a failed probe, or a
    /// WebSocket from the start.
    settled: bool,
}

/// What a packet asks of the client.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Nothing,
    /// A ping: answer `3`.
    Pong,
    /// The server closed the session.
    Close,
}

/// What one request gives back: the connection (for the next request, if it is still usable)
/// and the 2xx answer's body.
type Answer = (Option<Connection>, Result<Vec<u8>, HttpError>);

impl Session<'_> {
    async fn run(&mut self, requests: &Arc<Requests>) -> Result<(), String> {
        if self.receiver.phase.socketio_direct_ws {
            self.direct(requests).await
        } else {
            self.polling_then_upgrade(requests).await
        }
    }

    /// `--socketio-direct-ws`: a WebSocket session from its first byte.
    async fn direct(&mut self, requests: &Requests) -> Result<(), String> {
        let phase = self.receiver.phase.clone();
        let path = requests.path(WEBSOCKET, None);
        let server = &phase.servers[requests.server];
        let mut socket = ws::open(server, self.receiver.counters.clone(), &path).await?;
        match socket.next().await {
            Some(Ok(Message::Text(open))) => {
                parse_open(open.as_bytes())?;
            }
            other => return Err(format!("expected the open packet first, got {other:?}")),
        }
        send(&mut socket, &self.connect_packet()).await?;
        self.settled = true;
        self.carry(socket).await
    }

    /// Polling first, then the upgrade to a WebSocket (see the module's steps).
    async fn polling_then_upgrade(&mut self, requests: &Arc<Requests>) -> Result<(), String> {
        let phase = self.receiver.phase.clone();
        let counters = self.receiver.counters.clone();
        let call = |conn, method, path, body| {
            request(
                phase.clone(),
                counters.clone(),
                requests.clone(),
                conn,
                method,
                path,
                body,
            )
        };
        let (mut poll_conn, answer) =
            call(None, Method::GET, requests.path(POLLING, None), None).await;
        let body = answer.map_err(|e| format!("handshake: {e}"))?;
        let mut packets = body.split(|&b| b == SEPARATOR);
        let open = parse_open(packets.next().unwrap_or_default())?;
        for packet in packets {
            if self.on_packet(packet)? == Action::Close {
                return Ok(());
            }
        }
        let sid = open.sid;

        // On open, together: CONNECT is written, the next poll is held, the WebSocket probed.
        let mut outgoing = vec![self.connect_packet()];
        let mut post_conn: Option<Connection> = None;
        let mut poll: Option<BoxFuture<'static, Answer>> = None;
        let mut post: Option<BoxFuture<'static, Answer>> = None;
        let mut probing = open.upgrades.iter().any(|u| u == WEBSOCKET).then(|| {
            Box::pin(probe(
                phase.clone(),
                requests.server,
                counters.clone(),
                requests.path(WEBSOCKET, Some(&sid)),
            ))
        });
        self.settled = probing.is_none();
        // Probed: polling pauses, and the upgrade waits for the poll and POST in flight.
        let mut probed: Option<ws::Socket> = None;
        let mut socket = loop {
            if poll.is_none()
                && post.is_none()
                && let Some(socket) = probed.take()
            {
                break socket;
            }
            if poll.is_none() && probed.is_none() {
                let path = requests.path(POLLING, Some(&sid));
                poll = Some(call(poll_conn.take(), Method::GET, path, None));
            }
            // While upgrading, writes wait: they go out on the WebSocket once it carries them.
            if post.is_none() && probed.is_none() && !outgoing.is_empty() {
                let body = join(&outgoing);
                outgoing.clear();
                let path = requests.path(POLLING, Some(&sid));
                post = Some(call(post_conn.take(), Method::POST, path, Some(body)));
            }
            tokio::select! {
                (conn, answer) = maybe(&mut poll) => {
                    poll = None;
                    poll_conn = conn;
                    let body = answer.map_err(|e| format!("poll: {e}"))?;
                    for packet in body.split(|&b| b == SEPARATOR) {
                        match self.on_packet(packet)? {
                            Action::Nothing => {}
                            Action::Pong => outgoing.push("3".to_owned()),
                            Action::Close => return Ok(()),
                        }
                    }
                }
                (conn, answer) = maybe(&mut post) => {
                    post = None;
                    post_conn = conn;
                    answer.map_err(|e| format!("POST: {e}"))?;
                }
                result = maybe(&mut probing) => {
                    probing = None;
                    match result {
                        Ok(socket) => probed = Some(socket),
                        Err(e) => {
                            self.receiver.note(format!("upgrade failed, stayed on polling: {e}"));
                            self.settled = true;
                        }
                    }
                }
            }
            self.maybe_ready();
        };
        // Polling is paused: the WebSocket takes over, and carries what waited.
        drop((poll_conn, post_conn));
        send(&mut socket, "5").await?;
        for packet in &outgoing {
            send(&mut socket, packet).await?;
        }
        self.settled = true;
        self.maybe_ready();
        self.carry(socket).await
    }

    /// Reads the WebSocket that carries the session until it ends.
    async fn carry(&mut self, mut socket: ws::Socket) -> Result<(), String> {
        while let Some(frame) = socket.next().await {
            let text = match frame {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(_)) | Err(WsError::ConnectionClosed) => return Ok(()),
                // WebSocket pings are answered by tungstenite; Engine.IO's are text.
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            };
            match self.on_packet(text.as_bytes())? {
                Action::Nothing => {}
                Action::Pong => send(&mut socket, "3").await?,
                Action::Close => return Ok(()),
            }
            self.maybe_ready();
        }
        Ok(())
    }

    /// Socket.IO's CONNECT, with `auth` saying where to resume: `40{"since":N}`, or `40`
    /// without a cursor.
    fn connect_packet(&self) -> String {
        match *self.cursor {
            Some(id) => format!("40{{\"since\":{id}}}"),
            None => "40".to_owned(),
        }
    }

    /// Subscribed (transport-lab: the room's `ready`; another server: CONNECT answered) on the
    /// carrier that stays.
    fn maybe_ready(&mut self) {
        let subscribed = if self.receiver.phase.lab {
            self.subscribed
        } else {
            self.connected
        };
        if subscribed && self.settled && !self.receiver.is_ready() {
            self.receiver.ready();
        }
    }

    /// One Engine.IO packet, from a poll answer or a frame.
    fn on_packet(&mut self, packet: &[u8]) -> Result<Action, String> {
        match packet.split_first() {
            Some((b'4', message)) => self.on_message(message).map(|()| Action::Nothing),
            Some((b'2', b"")) => Ok(Action::Pong),
            Some((b'1', _)) => Ok(Action::Close),
            // Noops (the released poll), the probe's pong, a repeated open: nothing to do.
            Some((b'0' | b'3' | b'6', _)) => Ok(Action::Nothing),
            _ => Err(format!(
                "not an Engine.IO packet the server sends: {:?}",
                snippet(packet)
            )),
        }
    }

    /// One Socket.IO packet.
    fn on_message(&mut self, packet: &[u8]) -> Result<(), String> {
        match packet.split_first() {
            Some((b'2', _)) => self.on_event(packet),
            Some((b'0', _)) => self.connected = true,
            // Acks answer emits with a callback, which this client never makes.
            Some((b'3', _)) => {}
            Some((b'4', data)) => return Err(format!("CONNECT refused: {}", snippet(data))),
            Some((b'1', _)) => return Err("the server disconnected the socket".to_owned()),
            _ => {
                return Err(format!(
                    "not a Socket.IO packet the server sends: {:?}",
                    snippet(packet)
                ));
            }
        }
        Ok(())
    }

    /// An EVENT: a message (found by its probe, wherever it is), or a control event.
    fn on_event(&mut self, packet: &[u8]) {
        if self.receiver.on_bytes(packet) > 0 {
            if self.receiver.phase.lab
                && let Some(id) = probe::message_id(packet)
            {
                *self.cursor = Some(id);
            }
            return;
        }
        if packet.starts_with(CHAT_EVENT) {
            // Someone else's message in the room.
            return;
        }
        // `2["ready",{..}]`: the event's name, then the control object the other transports send.
        let Ok((_, control)) = serde_json::from_slice::<(String, Control)>(&packet[1..]) else {
            return;
        };
        match control {
            Control::Ready { .. } => self.subscribed = true,
            Control::Gap { missed, .. } => self.receiver.missed(missed),
            _ => {}
        }
    }
}

/// The parts of the open packet the client needs.
#[derive(Debug, Deserialize)]
struct Open {
    sid: String,
    #[serde(default)]
    upgrades: Vec<String>,
}

/// `0{"sid":..,"upgrades":[..],..}`.
fn parse_open(packet: &[u8]) -> Result<Open, String> {
    let json = packet
        .strip_prefix(b"0")
        .ok_or_else(|| format!("expected the open packet, got {:?}", snippet(packet)))?;
    serde_json::from_slice(json).map_err(|e| format!("open packet: {e}"))
}

/// Opens the WebSocket of session `path` names and probes it: `2probe`, answered `3probe`.
/// Bounded by [`CONNECT_TIMEOUT`] in all.
async fn probe(
    phase: Arc<Phase>,
    server: usize,
    counters: Arc<WireCounters>,
    path: String,
) -> Result<ws::Socket, String> {
    let probing = async {
        let mut socket = ws::open(&phase.servers[server], counters, &path).await?;
        send(&mut socket, "2probe").await?;
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == "3probe" => Ok(socket),
            other => Err(format!("the probe was answered {other:?}, not 3probe")),
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, probing)
        .await
        .map_err(|_| "the probe was not answered in time".to_owned())?
}

/// One request on a kept-alive connection (opened if there is none; replaced if the server
/// closed it while idle, and the request sent again once if it was lost on such a connection),
/// answered 2xx with its whole body. The future owns the connection while the request is in
/// flight and hands it back, so a held poll and a POST can be in flight at once, each on its
/// own connection, as a browser's two requests are.
fn request(
    phase: Arc<Phase>,
    counters: Arc<WireCounters>,
    requests: Arc<Requests>,
    mut conn: Option<Connection>,
    method: Method,
    path: String,
    body: Option<Bytes>,
) -> BoxFuture<'static, Answer> {
    Box::pin(async move {
        let headers = if method == Method::POST {
            &requests.post
        } else {
            &requests.poll
        };
        for attempt in 0..2 {
            if let Some(c) = conn.as_mut()
                && c.ready().await.is_err()
            {
                conn = None;
            }
            let reused = conn.is_some();
            let mut c = match conn.take() {
                Some(c) => c,
                None => match clients::connect(&phase.servers[requests.server], counters.clone())
                    .await
                {
                    Ok(c) => c,
                    Err(e) => return (None, Err(e)),
                },
            };
            match c.fetch(method.clone(), &path, headers, body.clone()).await {
                Ok((status, body)) if status.is_success() => return (Some(c), Ok(body)),
                Ok((status, body)) => return (Some(c), Err(status_error(status, &body))),
                Err(e) => {
                    let stale = reused && matches!(e, HttpError::Closed | HttpError::Io(_));
                    if !(stale && attempt == 0) {
                        return (None, Err(e));
                    }
                }
            }
        }
        (None, Err(HttpError::Closed))
    })
}

/// Awaits the future there is, if any; never completes without one (a `select!` branch that is
/// off).
async fn maybe<F: Future + Unpin>(future: &mut Option<F>) -> F::Output {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Sends one packet as a (masked) text frame.
async fn send(socket: &mut ws::Socket, packet: &str) -> Result<(), String> {
    socket
        .send(Message::text(packet))
        .await
        .map_err(|e| format!("websocket: {e}"))
}

/// A polling body: the packets joined by the record separator.
fn join(packets: &[String]) -> Bytes {
    let mut body = Vec::new();
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            body.push(SEPARATOR);
        }
        body.extend_from_slice(packet.as_bytes());
    }
    Bytes::from(body)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// engine.io-client's cache buster `t` (its `randomString()`): the time in milliseconds in base
/// 36 without its first 3 digits, then 3 random base-36 digits; 8 characters for decades.
fn stamp(unix_ms: u64, random: u64) -> String {
    let time = base36(unix_ms);
    let random = base36(random);
    let mut out = time.get(3..).unwrap_or_default().to_owned();
    out.push_str(random.get(..3).unwrap_or(&random));
    out
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// The start of some bytes, for an error message.
fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `t` is engine.io-client's: the time's base-36 digits from the fourth on, then three
    /// random ones, 8 characters in this century.
    #[test]
    fn stamps_like_engine_io_client() {
        // 1_795_449_364_871 ms is "mwtg70cn" in base 36.
        assert_eq!(base36(1_795_449_364_871), "mwtg70cn");
        assert_eq!(base36(0), "0");
        assert_eq!(stamp(1_795_449_364_871, 46_655), "g70cnzzz");
        assert_eq!(stamp(1_795_449_364_871, 7), "g70cn7");
    }

    /// The open packet's sid and upgrades; anything else is refused with what arrived.
    #[test]
    fn reads_the_open_packet() {
        let open = parse_open(
            br#"0{"sid":"Xy","upgrades":["websocket"],"pingInterval":15000,"pingTimeout":15000,"maxPayload":65536}"#,
        )
        .unwrap();
        assert_eq!(
            (open.sid.as_str(), &open.upgrades[..]),
            ("Xy", &["websocket".to_owned()][..])
        );
        assert!(parse_open(br#"0{"sid":"Xy"}"#).unwrap().upgrades.is_empty());
        let refused = parse_open(br#"{"code":1,"message":"Session ID unknown"}"#).unwrap_err();
        assert!(refused.contains("Session ID unknown"), "{refused}");
    }

    /// A POST body is the packets joined by the record separator.
    #[test]
    fn joins_packets_for_a_post() {
        assert_eq!(join(&["3".to_owned()]), Bytes::from_static(b"3"));
        assert_eq!(
            join(&["3".to_owned(), r#"40{"since":7}"#.to_owned()]),
            Bytes::from_static(b"3\x1e40{\"since\":7}")
        );
    }
}
