//! Socket.IO: `/socket.io/?EIO=4&transport=polling|websocket`, the protocol most people learn
//! realtime web through, served from the same bus and rooms as the other five, so its cost per
//! message sits beside theirs in the ledger, and an unmodified `socket.io-client` connects.
//!
//! Two layers, one file each: [`engine`] (Engine.IO v4: a session over long polling and/or a
//! WebSocket, its heartbeat and its upgrade) and [`socket`] (Socket.IO v5: events, acks,
//! namespaces); [`session`] is one session's state and task. This file is the HTTP side:
//!
//! - `GET ?transport=polling` without `sid`: the handshake; the answer is the open packet.
//! - `GET ?transport=polling&sid=..`: a held poll, answered with the packets waiting (joined by
//!   `\x1e`) as soon as there are any.
//! - `POST ?transport=polling&sid=..`: the client's packets; answered `ok`.
//! - `GET ?transport=websocket[&sid=..]`: a WebSocket, either probing to take over a polling
//!   session (`2probe` → `3probe`, a `6` noop releases the held poll, then `5`), or, without
//!   `sid`, a session of its own from the start.
//!
//! Errors are the reference server's `{"code":..,"message":..}` (what `socket.io-client`
//! reads), with this server's `"error"` saying what exactly was wrong; a refused request changed
//! nothing.

pub mod engine;
pub mod session;
pub mod socket;

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev, web};
use actix_ws::{CloseCode, CloseReason};
use bytes::Bytes;
use bytestring::ByteString;
use serde::Serialize;

use crate::error::AppError;
use crate::origin;
use crate::publish::read_body;
use crate::state::AppState;
use crate::transports::Subscribe;
use crate::transports::client_frames::{ClientFrame, ClientFrames};
use engine::Packet;
use session::{Inbound, Opening, Session};

/// The Engine.IO protocol version served.
pub const ENGINE_IO_VERSION: &str = "4";
/// Engine.IO's text packets are sent as `text/plain`.
const TEXT: &str = "text/plain; charset=UTF-8";
/// Between a probe and the upgrade, how often a held poll is released with a noop (the
/// reference server's 100 ms).
const NOOP_EVERY: Duration = Duration::from_millis(100);

/// A refused Engine.IO request: the reference server's error codes, plus what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("transport must be \"polling\" or \"websocket\"; got {0}")]
    TransportUnknown(String),
    #[error("no session {0:?} here: it ended, or this server restarted; open a new one")]
    SessionUnknown(String),
    #[error("a session is opened with GET; POST needs the sid of an open one")]
    BadHandshakeMethod,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "this server speaks Engine.IO version 4 (EIO=4, socket.io-client 3 and later); got {0}"
    )]
    UnsupportedProtocolVersion(String),
    /// A refusal every endpoint makes (bad `client` or `room`, a full server, a body too large).
    #[error("{0}")]
    App(#[from] AppError),
}

impl EngineError {
    /// The reference server's code and message, which `socket.io-client` reports.
    fn code(&self) -> (u8, &'static str) {
        match self {
            Self::TransportUnknown(_) => (0, "Transport unknown"),
            Self::SessionUnknown(_) => (1, "Session ID unknown"),
            Self::BadHandshakeMethod => (2, "Bad handshake method"),
            Self::BadRequest(_) | Self::App(_) => (3, "Bad request"),
            Self::Forbidden(_) => (4, "Forbidden"),
            Self::UnsupportedProtocolVersion(_) => (5, "Unsupported protocol version"),
        }
    }
}

impl ResponseError for EngineError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::App(inner) => inner.status_code(),
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message) = self.code();
        let mut response = match self {
            // Its headers (Retry-After, Allow) still apply.
            Self::App(inner) => inner.error_response(),
            _ => HttpResponse::new(self.status_code()),
        };
        #[derive(Serialize)]
        struct Body<'a> {
            code: u8,
            message: &'a str,
            error: &'a str,
        }
        let error = self.to_string();
        let body = serde_json::to_string(&Body {
            code,
            message,
            error: &error,
        })
        .unwrap_or_default();
        response.headers_mut().insert(
            CONTENT_TYPE,
            actix_web::http::header::HeaderValue::from_static("application/json"),
        );
        response.set_body(actix_web::body::BoxBody::new(body))
    }
}

/// Which carrier a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carrier {
    Polling,
    WebSocket,
}

/// An Engine.IO request's query: the shared subscribe parameters, plus `EIO`, `transport`, `sid`.
struct Query {
    subscribe: Subscribe,
    carrier: Carrier,
    sid: Option<String>,
}

impl Query {
    fn read(req: &HttpRequest) -> Result<Self, EngineError> {
        let subscribe = Subscribe::from_request(req)?;
        let params = &subscribe.params;
        match params.get("EIO") {
            Some(ENGINE_IO_VERSION) => {}
            other => {
                return Err(EngineError::UnsupportedProtocolVersion(
                    other.map_or_else(|| "no EIO".to_owned(), |v| format!("EIO={v:?}")),
                ));
            }
        }
        let carrier = match params.get("transport") {
            Some("polling") => Carrier::Polling,
            Some("websocket") => Carrier::WebSocket,
            other => {
                return Err(EngineError::TransportUnknown(
                    other.map_or_else(|| "none".to_owned(), |v| format!("{v:?}")),
                ));
            }
        };
        let sid = params.get("sid").map(str::to_owned);
        Ok(Self {
            subscribe,
            carrier,
            sid,
        })
    }

    fn session(&self, state: &AppState) -> Result<Arc<Session>, EngineError> {
        let sid = self.sid.as_deref().ok_or(EngineError::BadHandshakeMethod)?;
        state
            .socketio
            .get(sid)
            .ok_or_else(|| EngineError::SessionUnknown(sid.to_owned()))
    }
}

/// `GET /socket.io/`: a handshake, a held poll, or a WebSocket.
pub async fn get(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, EngineError> {
    let query = Query::read(&req)?;
    match (query.carrier, query.sid.is_some()) {
        (Carrier::Polling, false) => handshake(&req, &query, &state).await,
        (Carrier::Polling, true) => poll(&query, &state).await,
        (Carrier::WebSocket, _) => websocket(&req, body, &query, &state).await,
    }
}

/// The most packet bytes one poll answer or POST body carries: Engine.IO's `maxPayload`, which
/// is `--max-body-bytes`, the limit of every body this server reads.
fn max_payload(state: &AppState) -> usize {
    state.config.max_body_bytes
}

/// `0{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}`.
fn open_packet(state: &AppState, session: &Session, upgrades: &[&str]) -> String {
    /// The reference server's field order, so the bytes match what a class sees elsewhere.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Open<'a> {
        sid: &'a str,
        upgrades: &'a [&'a str],
        ping_interval: u64,
        ping_timeout: u64,
        max_payload: usize,
    }
    let ping = u64::try_from(session.ping_every.as_millis()).unwrap_or(u64::MAX);
    let open = Open {
        sid: &session.sid,
        upgrades,
        ping_interval: ping,
        ping_timeout: ping,
        max_payload: max_payload(state),
    };
    // expect: strings and integers always serialize.
    let json = serde_json::to_string(&open).expect("the open packet serializes");
    Packet::Open(json).to_string()
}

/// A new session, within `--max-connections` sessions (a session holds rooms like a socket).
async fn open_session(
    req: &HttpRequest,
    query: &Query,
    state: &AppState,
    upgraded: bool,
) -> Result<Arc<Session>, EngineError> {
    if state.socketio.len() >= state.config.max_connections {
        return Err(AppError::Unavailable(format!(
            "{} Socket.IO sessions are open, the most this server holds (--max-connections)",
            state.config.max_connections
        ))
        .into());
    }
    // Before the session: a full server refuses here rather than at CONNECT.
    query.subscribe.open_room(state).await?;
    let request = &query.subscribe;
    Ok(session::open(
        state,
        Opening {
            client: request.client.clone(),
            peer: req.peer_addr().map(|a| a.ip()),
            user: request.params.get("user").map(str::to_owned),
            room: request.room.clone(),
            since: request.since.clone(),
            upgraded,
            ping_every: request.heartbeat(state),
        },
    ))
}

async fn handshake(
    req: &HttpRequest,
    query: &Query,
    state: &AppState,
) -> Result<HttpResponse, EngineError> {
    let session = open_session(req, query, state, false).await?;
    Ok(text(open_packet(state, &session, &["websocket"])))
}

fn text(body: impl Into<Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, TEXT))
        .body(body.into())
}

/// Clears the session's "a poll is held" mark however the poll ends.
struct Held<'a>(&'a Session);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.polling.store(false, SeqCst);
    }
}

/// A held poll: answered with the waiting packets as soon as there are any.
async fn poll(query: &Query, state: &AppState) -> Result<HttpResponse, EngineError> {
    let session = query.session(state)?;
    if session.upgraded.load(SeqCst) {
        return Err(EngineError::BadRequest(
            "this session is carried by its WebSocket now; polls are over".to_owned(),
        ));
    }
    if session.polling.swap(true, SeqCst) {
        // The reference server ends the session too: two pollers means two clients.
        session.close();
        return Err(EngineError::BadRequest(
            "a poll is already held for this session, and one at a time is the rule; the session is closed".to_owned(),
        ));
    }
    let _held = Held(&session);
    loop {
        let packets = session.take(max_payload(state));
        if !packets.is_empty() {
            return Ok(text(engine::join_payload(packets.iter().map(|p| &p[..]))));
        }
        if session.closed.is_cancelled() {
            return Ok(text(Packet::Close.to_string()));
        }
        tokio::select! {
            () = session.ready.notified() => {}
            () = session.closed.cancelled() => {}
            // Nobody is left to read an answer; the packets stay for the next poll.
            () = query.subscribe.peer_gone.gone() => return Ok(HttpResponse::NoContent().finish()),
        }
    }
}

/// `POST /socket.io/`: the client's packets, all checked before any is acted on.
pub async fn post(
    req: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, EngineError> {
    let query = Query::read(&req)?;
    if query.carrier != Carrier::Polling {
        return Err(EngineError::BadRequest(
            "packets are POSTed on transport=polling; a WebSocket sends them as frames".to_owned(),
        ));
    }
    let session = query.session(&state)?;
    if session.upgraded.load(SeqCst) {
        return Err(EngineError::BadRequest(
            "this session is carried by its WebSocket now; send packets there".to_owned(),
        ));
    }
    let body = read_body(
        &req,
        &mut payload,
        max_payload(&state),
        Duration::from_secs(state.config.request_timeout),
    )
    .await?;
    let body = std::str::from_utf8(&body)
        .map_err(|_| EngineError::BadRequest("the body is not UTF-8 text".to_owned()))?;
    let packets =
        Packet::decode_payload(body).map_err(|e| EngineError::BadRequest(e.to_string()))?;
    let mut inbound = Vec::with_capacity(packets.len());
    for packet in packets {
        if let Some(packet) = inbound_packet(packet).map_err(EngineError::BadRequest)? {
            inbound.push(packet);
        }
    }
    for packet in inbound {
        if !session.send(packet).await {
            return Err(EngineError::SessionUnknown(session.sid.to_string()));
        }
    }
    Ok(text("ok"))
}

/// What a client's packet means for the session; `None` for those with nothing to do.
fn inbound_packet(packet: Packet) -> Result<Option<Inbound>, String> {
    Ok(match packet {
        Packet::Pong(_) => Some(Inbound::Pong),
        Packet::Close => Some(Inbound::Close),
        Packet::Message(data) => Some(Inbound::Message(
            socket::Packet::decode(&data).map_err(|e| e.to_string())?,
        )),
        Packet::Open(_) => return Err("only the server sends open packets".to_owned()),
        Packet::Ping(_) | Packet::Upgrade | Packet::Noop => None,
    })
}

/// `GET ?transport=websocket`: a probe to take over a polling session, or a session of its own.
async fn websocket(
    req: &HttpRequest,
    body: web::Payload,
    query: &Query,
    state: &AppState,
) -> Result<HttpResponse, EngineError> {
    origin::check_handshake(req, &state.config)?;
    if let Some(refusal) = crate::lab::refuses_websocket(state, query.subscribe.client.as_deref()) {
        return Err(EngineError::Forbidden(format!(
            "{refusal}; stay on polling"
        )));
    }
    let existing = match &query.sid {
        Some(_) => {
            let session = query.session(state)?;
            if session.upgraded.load(SeqCst) || session.probing.load(SeqCst) {
                return Err(EngineError::BadRequest(
                    "this session already has a WebSocket".to_owned(),
                ));
            }
            Some(session)
        }
        None => None,
    };
    if req.version() == actix_web::http::Version::HTTP_2 {
        return Err(EngineError::BadRequest(
            crate::transports::NO_WEBSOCKET_OVER_H2.to_owned(),
        ));
    }
    // (Taking a payload out of a request cannot fail.)
    let nothing = web::Payload::from_request(req, &mut dev::Payload::None)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let (response, ws, _) = actix_ws::handle(req, nothing).map_err(|e| {
        EngineError::BadRequest(format!(
            "WebSocket handshake failed ({e}); transport=websocket needs a WebSocket client"
        ))
    })?;
    let frames = ClientFrames::new(body, max_payload(state));
    let (session, greeting) = match existing {
        Some(session) => {
            session.probing.store(true, SeqCst);
            (session, None)
        }
        None => {
            let session = open_session(req, query, state, true).await?;
            let open = open_packet(state, &session, &[]);
            (session, Some(open))
        }
    };
    actix_rt::spawn(carry(session, ws, frames, greeting));
    Ok(response)
}

/// The WebSocket's loop: probe and upgrade (when it took over a polling session), then carry the
/// session's packets both ways until either side ends it.
async fn carry(
    session: Arc<Session>,
    mut ws: actix_ws::Session,
    mut frames: ClientFrames,
    greeting: Option<String>,
) {
    let mut upgraded = greeting.is_some();
    // `3probe` was sent: until the upgrade, polls held are released with noops.
    let mut probed = false;
    let mut noops = tokio::time::interval(NOOP_EVERY);
    if let Some(open) = greeting
        && ws.text(open).await.is_err()
    {
        session.close();
        return;
    }
    let close = 'carry: loop {
        if upgraded {
            for packet in session.take(usize::MAX) {
                let Ok(text) = ByteString::try_from(packet) else {
                    continue;
                };
                if ws.text(text).await.is_err() {
                    break 'carry None;
                }
            }
        }
        tokio::select! {
            biased;
            frame = frames.recv() => {
                let frame = match frame {
                    None => break None,
                    Some(Err(violation)) => break Some(violation),
                    Some(Ok(frame)) => frame,
                };
                let text = match frame {
                    ClientFrame::Text(text) => text,
                    ClientFrame::Binary => break Some(reason(CloseCode::Unsupported, "binary packets are not supported by this server: send text")),
                    ClientFrame::Ping(payload) => {
                        if ws.pong(&payload).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    ClientFrame::Fragment | ClientFrame::Pong => continue,
                    ClientFrame::Close(their) => break Some(their.unwrap_or_else(|| CloseCode::Normal.into())),
                };
                match Packet::decode(&text) {
                    Ok(Packet::Ping(probe)) if !upgraded && probe == "probe" => {
                        if ws.text("3probe").await.is_err() {
                            break None;
                        }
                        // Releases the held poll, so the client can pause polling and upgrade.
                        session.push(Bytes::from_static(b"6"));
                        probed = true;
                        noops.reset();
                    }
                    Ok(Packet::Upgrade) if !upgraded => {
                        upgraded = true;
                        session.upgraded.store(true, SeqCst);
                        session.ready.notify_waiters();
                    }
                    Ok(packet) if upgraded => match inbound_packet(packet) {
                        Ok(Some(inbound)) => {
                            if !session.send(inbound).await {
                                break Some(reason(CloseCode::Normal, "session ended"));
                            }
                        }
                        Ok(None) => {}
                        Err(error) => break Some(reason(CloseCode::Policy, &error)),
                    },
                    Ok(_) => break Some(reason(CloseCode::Policy, "probe with 2probe, then upgrade with 5, before anything else")),
                    Err(error) => break Some(reason(CloseCode::Policy, &error.to_string())),
                }
            }
            () = session.ready.notified(), if upgraded => {}
            // A client that polled again after the first noop, before it read `3probe` (the two
            // arrive on different connections), pauses polling only once that poll returns:
            // without another noop it would wait for the next ping.
            _ = noops.tick(), if probed && !upgraded => {
                if session.polling.load(SeqCst) {
                    session.push(Bytes::from_static(b"6"));
                }
            }
            () = session.closed.cancelled() => {
                if upgraded {
                    // What is left (the close packet, at least), then the close frame.
                    for packet in session.take(usize::MAX) {
                        if let Ok(text) = ByteString::try_from(packet)
                            && ws.text(text).await.is_err()
                        {
                            break;
                        }
                    }
                }
                break Some(reason(CloseCode::Normal, "session ended"));
            }
        }
    };
    if upgraded {
        // The session's carrier is gone: the session with it, as Engine.IO does.
        session.close();
    } else {
        session.probing.store(false, SeqCst);
    }
    if let Some(close) = close {
        let _ = ws.close(Some(close)).await;
    }
}

/// A close reason, its text cut to fit a control frame (123 bytes).
fn reason(code: CloseCode, description: &str) -> CloseReason {
    let mut end = description.len().min(120);
    while !description.is_char_boundary(end) {
        end -= 1;
    }
    CloseReason {
        code,
        description: Some(description[..end].to_owned()),
    }
}
