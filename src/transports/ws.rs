//! WebSocket: `GET /api/ws?since=ID&user=NAME`, both directions on one connection.
//!
//! Server to client: one text frame per message (the message JSON, the same bytes every other
//! transport sends), after a `{"type":"ready"}` frame and any gap notice. Client to server: text
//! frames `{"user","text","ref"}` (or plain text) are published; a `ref` earns the sender alone an
//! `{"type":"ack","ref":..,"id":..}`, while the broadcast itself stays the shared bytes.
//!
//! One `select!` loop per connection (as in actix/examples' echo-actorless) over the feed, the
//! client's frames and a ping tick. actix-ws neither answers pings nor sends them, so both are
//! here: a peer that has said nothing for two ping intervals is dropped.
//!
//! actix-ws writes our frames; the client's are read here, by [`ClientFrames`], one frame at a
//! time. Reading them ourselves is what lets every violation get its RFC 6455 close code and a
//! reason that says what was wrong, a fragmented message be refused at the fragment that makes
//! it too long (1009) or not UTF-8 (1007), and a valid message read in the same chunk as a later
//! violation still be published before the connection is failed.

use std::time::Duration;

use std::net::IpAddr;

use actix_http::ws::{OpCode, Parser};
use actix_web::http::header::{HOST, ORIGIN};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev, web};
use actix_ws::{CloseCode, CloseReason, ProtocolError, Session};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::StreamExt;
use protocol::Control;
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use crate::compose;
use crate::error::AppError;
use crate::permit::publish_permit;
use crate::state::AppState;
use crate::transports::Subscribe;
use crate::transports::feed::{Event, Feed};

pub async fn ws(
    request: Subscribe,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    check_origin(&req, &state.config.allowed_origins)?;
    // actix-ws answers the handshake and gives the writing half; it gets an empty payload,
    // since the client's frames are read by `ClientFrames` (see the module docs).
    // (Taking a payload out of a request cannot fail.)
    let nothing = web::Payload::from_request(&req, &mut dev::Payload::None)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let (response, session, _) = actix_ws::handle(&req, nothing).map_err(|e| {
        AppError::bad_request(format!(
            "WebSocket handshake failed ({e}); this endpoint needs a WebSocket client, e.g. websocat"
        ))
    })?;
    let frames = ClientFrames::new(body, state.config.max_body_bytes);
    let connection = Connection {
        state: state.get_ref().clone(),
        peer: req.peer_addr().map(|a| a.ip()),
        user: request.params.get("user").map(str::to_owned),
        ping_every: state.config.heartbeat_interval(),
    };
    let feed = Feed::new(
        &state.bus,
        request.since.as_ref(),
        None,
        state.shutdown.streams().clone(),
        request.peer_gone,
    );
    // Answer the handshake now; the connection lives on in its own task.
    actix_rt::spawn(connection.run(session, frames, feed));
    Ok(response)
}

/// Cross-site WebSocket hijacking protection: a browser sends `Origin` with every handshake, and
/// cookies with it, so a page of another site could otherwise open a socket as the user. Allowed:
/// the origins in `--allowed-origins`, or by default the server's own (the Origin's host:port is
/// the `Host` header). A handshake without `Origin` does not come from a browser page and is allowed.
fn check_origin(req: &HttpRequest, allowed: &[String]) -> Result<(), AppError> {
    let Some(origin) = req.headers().get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let permitted = if allowed.is_empty() {
        let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
    } else {
        allowed
            .iter()
            .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin))
    };
    if permitted {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "WebSocket connections from origin {origin:?} are not allowed here (see --allowed-origins)"
        )))
    }
}

/// What one connection's loop needs besides its session, frames and feed.
struct Connection {
    /// The bus, limits and shutdown gate.
    state: AppState,
    /// For the publish rate limit.
    peer: Option<IpAddr>,
    /// `?user=`: the name for plain-text frames and JSON frames without one.
    user: Option<String>,
    /// Also the liveness bound: no frame at all for two of these and the peer is dropped.
    ping_every: Duration,
}

impl Connection {
    async fn run(self, mut session: Session, mut frames: ClientFrames, mut feed: Feed) {
        let mut ping = interval_at(Instant::now() + self.ping_every, self.ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();

        let close = loop {
            tokio::select! {
                event = feed.next() => {
                    let sent = match event {
                        Event::Ready { since } => {
                            let epoch = self.state.bus.epoch().clone();
                            send_control(&mut session, &Control::Ready { since, epoch }).await
                        }
                        Event::Gap { missed, reset, since } => {
                            let epoch = self.state.bus.epoch().clone();
                            send_control(&mut session, &Control::Gap { missed, reset, since, epoch }).await
                        }
                        Event::Message(message) => send_json(&mut session, message.json()).await,
                        Event::Heartbeat => Ok(()),
                        Event::Shutdown => break Some(reason(CloseCode::Away, "server shutting down")),
                        Event::PeerGone => break None,
                    };
                    if sent.is_err() {
                        tracing::debug!("websocket peer gone while sending");
                        break None;
                    }
                }
                frame = frames.recv() => {
                    last_heard = Instant::now();
                    let frame = match frame {
                        None => break None,
                        Some(Err(violation)) => {
                            tracing::debug!(?violation, "websocket protocol violation");
                            break Some(violation);
                        }
                        Some(Ok(frame)) => frame,
                    };
                    let answered = match frame {
                        ClientFrame::Text(text) => self.publish(&mut session, &text).await,
                        ClientFrame::Binary => {
                            send_error(&mut session, "binary frames are not accepted; send text frames", None).await
                        }
                        ClientFrame::Fragment | ClientFrame::Pong => Ok(()),
                        ClientFrame::Ping(payload) => session.pong(&payload).await,
                        ClientFrame::Close(their_reason) => {
                            break Some(their_reason.unwrap_or_else(|| CloseCode::Normal.into()));
                        }
                    };
                    if answered.is_err() {
                        break None;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= 2 * self.ping_every {
                        tracing::debug!("websocket peer silent for two ping intervals; dropping it");
                        break Some(reason(CloseCode::Policy, "no pong within two ping intervals"));
                    }
                    if session.ping(b"").await.is_err() {
                        break None;
                    }
                }
            }
        };
        if let Some(close) = close {
            // The peer may already be gone; there is nobody left to tell.
            let _ = session.close(Some(close)).await;
        }
    }

    /// Publishes a client's text frame; acknowledges it when it carries a `ref`.
    async fn publish(&self, session: &mut Session, text: &str) -> Result<(), actix_ws::Closed> {
        match compose::from_ws_text(text, self.user.as_deref(), self.state.config.max_text_bytes) {
            Ok((message, reference)) => {
                let permit = match publish_permit(&self.state, self.peer) {
                    Ok(permit) => permit,
                    Err(refused) => {
                        return send_error(session, &refused.to_string(), reference).await;
                    }
                };
                let stored = self.state.bus.publish(&message.user, &message.text);
                drop(permit);
                match reference {
                    Some(reference) => {
                        let ack = Control::Ack {
                            reference,
                            id: stored.id,
                        };
                        send_control(session, &ack).await
                    }
                    None => Ok(()),
                }
            }
            Err((error, reference)) => send_error(session, &error.to_string(), reference).await,
        }
    }
}

/// A message's stored JSON, as one text frame.
async fn send_json(session: &mut Session, json: bytes::Bytes) -> Result<(), actix_ws::Closed> {
    // Our frames are JSON we encoded ourselves: always UTF-8, so this check never fails.
    match ByteString::try_from(json) {
        Ok(text) => session.text(text).await,
        Err(_) => Ok(()),
    }
}

/// A control object for this connection alone.
async fn send_control(session: &mut Session, control: &Control) -> Result<(), actix_ws::Closed> {
    session.text(control.to_json()).await
}

/// `{"type":"error","error":..}` (with the frame's `ref` when it had one); the connection stays open.
async fn send_error(
    session: &mut Session,
    error: &str,
    reference: Option<Value>,
) -> Result<(), actix_ws::Closed> {
    let frame = Control::Error {
        reference,
        error: error.to_owned(),
    };
    send_control(session, &frame).await
}

fn reason(code: CloseCode, description: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(description.to_owned()),
    }
}

/// The client's frames, read from the request payload one frame at a time.
///
/// One at a time matters: a chunk read from the socket may hold a valid message followed by a
/// violation, and the message must be handled (published, acknowledged) before the violation
/// closes the connection. actix-ws's `MessageStream` decodes a whole chunk first and returns the
/// error ahead of the frames decoded before it.
///
/// Fragmented messages are assembled here, with the same limit as a frame (`--max-body-bytes`):
/// the fragment that takes a message over it gets close 1009 at once, and text is checked for
/// UTF-8 as each fragment arrives, so the fragment where it stops being UTF-8 gets close 1007 (a
/// character split across fragments is fine: the incomplete tail, at most 3 bytes, waits for the
/// next fragment).
struct ClientFrames {
    payload: web::Payload,
    /// Bytes read and not decoded yet.
    buf: BytesMut,
    /// The longest frame, and the longest message its fragments may add up to.
    max: usize,
    /// The fragmented message under way, if any.
    fragmented: Option<Fragmented>,
}

/// A message whose first fragment has arrived and whose last has not.
enum Fragmented {
    Text {
        text: BytesMut,
        /// How much of `text` is known to be UTF-8; after it, at most an incomplete character.
        checked: usize,
    },
    /// Binary messages are refused once complete; only their size is kept.
    Binary { len: usize },
}

/// What the connection loop acts on.
enum ClientFrame {
    Text(ByteString),
    Binary,
    /// A fragment of a message not complete yet: nothing to answer.
    Fragment,
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

impl ClientFrames {
    fn new(payload: web::Payload, max: usize) -> Self {
        Self {
            payload,
            buf: BytesMut::new(),
            max,
            fragmented: None,
        }
    }

    /// The next frame; `Err` is the close a protocol violation earns; `None` once the connection
    /// has ended. Cancel-safe: whatever was read is kept in `self`.
    async fn recv(&mut self) -> Option<Result<ClientFrame, CloseReason>> {
        loop {
            if let Some(frame) = self.decode().transpose() {
                return Some(frame);
            }
            match self.payload.next().await? {
                // No copy when nothing is left over from the last read.
                Ok(bytes) if self.buf.is_empty() => self.buf = BytesMut::from(bytes),
                Ok(bytes) => self.buf.extend_from_slice(&bytes),
                Err(error) => {
                    // The connection failed under us (a read error, or the socket guard refused
                    // a frame): no close frame can be sent on it any more.
                    tracing::debug!(%error, "websocket connection failed");
                    return None;
                }
            }
        }
    }

    /// Decodes one frame from what has been read, if a whole one is there.
    fn decode(&mut self) -> Result<Option<ClientFrame>, CloseReason> {
        let Some((fin, opcode, payload)) =
            Parser::parse(&mut self.buf, true, self.max).map_err(|e| parse_close(e, self.max))?
        else {
            return Ok(None);
        };
        let data = payload.unwrap_or_default();
        let frame = match opcode {
            OpCode::Text | OpCode::Binary if self.fragmented.is_some() => {
                return Err(protocol(format!(
                    "a {} frame inside a fragmented message (expected a continuation)",
                    name(opcode)
                )));
            }
            OpCode::Text if fin => {
                ClientFrame::Text(ByteString::try_from(data.freeze()).map_err(|_| not_utf8())?)
            }
            OpCode::Binary if fin => ClientFrame::Binary,
            OpCode::Text => self.continue_with(
                Fragmented::Text {
                    text: BytesMut::new(),
                    checked: 0,
                },
                data,
                false,
            )?,
            OpCode::Binary => self.continue_with(Fragmented::Binary { len: 0 }, data, false)?,
            OpCode::Continue => match self.fragmented.take() {
                Some(message) => self.continue_with(message, data, fin)?,
                None => {
                    return Err(protocol(
                        "a continuation frame with no fragmented message to continue".to_owned(),
                    ));
                }
            },
            OpCode::Ping | OpCode::Pong | OpCode::Close if !fin => {
                return Err(protocol(format!(
                    "a {} frame without FIN: control frames may not be fragmented",
                    name(opcode)
                )));
            }
            OpCode::Ping => ClientFrame::Ping(data.freeze()),
            OpCode::Pong => ClientFrame::Pong,
            OpCode::Close => ClientFrame::Close(close_payload(&data)?),
            // The parser refuses reserved opcodes before we see them.
            OpCode::Bad => return Err(protocol("Bad opcode".to_owned())),
        };
        Ok(Some(frame))
    }

    /// Adds a fragment to `message`: refused as soon as the message is over the limit or its
    /// text stops being UTF-8; the whole message once `fin`.
    fn continue_with(
        &mut self,
        mut message: Fragmented,
        data: BytesMut,
        fin: bool,
    ) -> Result<ClientFrame, CloseReason> {
        let so_far = match &message {
            Fragmented::Text { text, .. } => text.len(),
            Fragmented::Binary { len } => *len,
        };
        if so_far + data.len() > self.max {
            return Err(reason(
                CloseCode::Size,
                &format!("message larger than {} bytes", self.max),
            ));
        }
        match &mut message {
            Fragmented::Text { text, checked } => {
                text.extend_from_slice(&data);
                match std::str::from_utf8(&text[*checked..]) {
                    Ok(_) => *checked = text.len(),
                    // Only the end is unfinished: the next fragment may complete the character.
                    Err(e) if e.error_len().is_none() && !fin => *checked += e.valid_up_to(),
                    Err(_) => return Err(not_utf8()),
                }
            }
            Fragmented::Binary { len } => *len += data.len(),
        }
        if !fin {
            self.fragmented = Some(message);
            return Ok(ClientFrame::Fragment);
        }
        Ok(match message {
            Fragmented::Text { text, .. } => {
                ClientFrame::Text(ByteString::try_from(text.freeze()).map_err(|_| not_utf8())?)
            }
            Fragmented::Binary { .. } => ClientFrame::Binary,
        })
    }
}

/// A close frame's payload: nothing, or a valid code (RFC 6455 section 7.4) and a UTF-8 reason.
fn close_payload(payload: &[u8]) -> Result<Option<CloseReason>, CloseReason> {
    let (code, description) = match payload {
        [] => return Ok(None),
        [_] => {
            return Err(protocol(
                "close frame payload of 1 byte (a code takes 2)".to_owned(),
            ));
        }
        [high, low, description @ ..] => (u16::from_be_bytes([*high, *low]), description),
    };
    // 1004-1006 and 1015 are reserved and never sent; 1016-2999 are unassigned; 3000-4999 are
    // for libraries and applications.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return Err(protocol(format!("invalid close code {code}")));
    }
    let description = std::str::from_utf8(description)
        .map_err(|_| reason(CloseCode::Invalid, "close reason is not valid UTF-8"))?;
    Ok(Some(CloseReason {
        code: code.into(),
        description: (!description.is_empty()).then(|| description.to_owned()),
    }))
}

/// The close a violation found by actix's frame parser earns: 1009 for a frame over the limit,
/// 1002 for the rest, in actix's words.
fn parse_close(error: ProtocolError, max: usize) -> CloseReason {
    match error {
        ProtocolError::Overflow => {
            reason(CloseCode::Size, &format!("frame larger than {max} bytes"))
        }
        // Reserved bits come as an I/O error; the message says what is wrong without the prefix.
        ProtocolError::Io(e) => protocol(e.to_string()),
        other => protocol(other.to_string()),
    }
}

fn protocol(description: String) -> CloseReason {
    CloseReason {
        code: CloseCode::Protocol,
        description: Some(description),
    }
}

fn not_utf8() -> CloseReason {
    reason(CloseCode::Invalid, "text is not valid UTF-8")
}

fn name(opcode: OpCode) -> &'static str {
    match opcode {
        OpCode::Continue => "continuation",
        OpCode::Text => "text",
        OpCode::Binary => "binary",
        OpCode::Close => "close",
        OpCode::Ping => "ping",
        OpCode::Pong => "pong",
        OpCode::Bad => "reserved",
    }
}
