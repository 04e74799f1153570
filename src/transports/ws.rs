//! WebSocket: `GET /api/ws?room=NAME&since=ID&user=NAME`, both directions on one connection, and
//! several rooms on one socket, like Socket.IO's `socket.join()`.
//!
//! Server to client: one text frame per message (the message JSON, the same bytes every other
//! transport sends, naming its room), after a `{"type":"ready","room":..}` frame per joined room
//! and any gap notice (which names its room too); `presence` frames when a joined room's head
//! count changes. Client to server: text frames `{"user","text","ref","room","except_sender"}`
//! (or plain text) are published, to the named room or the socket's first; a `ref` earns the
//! sender alone an `{"type":"ack","ref":..,"id":..}`, while the broadcast itself stays the shared
//! bytes. `{"type":"join","room":..,"since":..}` and `{"type":"leave","room":..}` change which
//! rooms the socket reads, each with its own cursor; the handshake's `?room=` is the first.
//!
//! One `select!` loop per connection (as in actix/examples' echo-actorless) over the joined
//! rooms' feeds, the client's frames and a ping tick. actix-ws neither answers pings nor sends
//! them, so both are here: a peer that has said nothing for two ping intervals is dropped.
//!
//! actix-ws writes our frames; the client's are read by [`ClientFrames`], one frame at a time,
//! so each violation gets its RFC 6455 close code.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::header::SEC_WEBSOCKET_VERSION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev, web};
use actix_ws::{CloseCode, CloseReason, Session};
use bytestring::ByteString;
use protocol::{Control, Cursor, RoomName};
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use crate::compose::{self, NewMessage, WsRequest};
use crate::error::AppError;
use crate::ledger::wire::PeerGone;
use crate::origin;
use crate::permit::publish_permit;
use crate::presence::MemberKey;
use crate::state::AppState;
use crate::transports::client_frames::{ClientFrame, ClientFrames};
use crate::transports::feed::{self, Event, Feed};
use crate::transports::{Subscribe, Transport, presence, socket_feed};

/// Rooms one socket may read at once: enough for any chat UI, and a bound on what one
/// connection can make the server hold.
pub const MAX_ROOMS_PER_SOCKET: usize = 16;

pub async fn ws(
    request: Subscribe,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    origin::check_handshake(&req, &state.config)?;
    // RFC 6455 §4.4: a version other than 13 is told the one spoken here, in a header.
    if let Some(version) = req.headers().get(SEC_WEBSOCKET_VERSION)
        && version.as_bytes() != b"13"
    {
        return Err(AppError::UpgradeRequired(format!(
            "WebSocket version {:?} is not supported; this server speaks version 13",
            String::from_utf8_lossy(version.as_bytes())
        )));
    }
    if let Some(refusal) = crate::lab::refuses_websocket(&state, request.client.as_deref()) {
        return Err(AppError::Forbidden(refusal));
    }
    if req.version() == actix_web::http::Version::HTTP_2 {
        return Err(AppError::bad_request(
            crate::transports::NO_WEBSOCKET_OVER_H2,
        ));
    }
    // Before the upgrade, so a full server refuses with a JSON 503 rather than a dead socket.
    let first_room = request.open_room(&state).await?;
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
    let mut connection = Connection {
        state: state.get_ref().clone(),
        peer: req.peer_addr().map(|a| a.ip()),
        user: request.params.get("user").map(str::to_owned),
        ping_every: request.heartbeat(&state),
        key: request.member_key(),
        peer_gone: request.peer_gone.clone(),
        rooms: Vec::new(),
        turn: 0,
    };
    connection.join(first_room, request.since.as_ref());
    // Answer the handshake now; the connection lives on in its own task.
    actix_rt::spawn(connection.run(session, frames));
    Ok(response)
}

/// One connection's state besides its session and frames.
struct Connection {
    /// The bus, limits and shutdown gate.
    state: AppState,
    /// For the publish rate limit.
    peer: Option<IpAddr>,
    /// `?user=`: the name for plain-text frames and JSON frames without one.
    user: Option<String>,
    /// Also the liveness bound: no frame at all for two of these and the peer is dropped.
    ping_every: Duration,
    /// Who this socket is in its rooms' head counts, and whom "to others" leaves out: its
    /// `?client=`, or a key of its own.
    key: MemberKey,
    peer_gone: PeerGone,
    /// The rooms it reads, in the order joined: the first is where a frame naming no room goes.
    rooms: Vec<Feed>,
    /// Which room's feed is asked first next time, so one busy room cannot starve the others.
    turn: usize,
}

impl Connection {
    fn join(&mut self, room: crate::room::Room, since: Option<&Cursor>) {
        let feed = socket_feed(
            &self.state,
            &room,
            self.key.clone(),
            Transport::Ws,
            since,
            self.peer_gone.clone(),
        );
        self.rooms.push(feed);
    }

    fn joined(&self, room: &RoomName) -> Option<usize> {
        self.rooms.iter().position(|f| f.room().name() == room)
    }

    async fn run(mut self, mut session: Session, mut frames: ClientFrames) {
        let mut ping = interval_at(Instant::now() + self.ping_every, self.ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();

        let close = loop {
            self.turn = self.turn.wrapping_add(1);
            tokio::select! {
                (room, event) = feed::next_of(&mut self.rooms, self.turn) => {
                    let sent = match event {
                        Event::Ready { since, epoch, node } => {
                            let node = node.as_deref().map(str::to_owned);
                            send_control(&mut session, &Control::Ready { room: Some(room), since, epoch, node }).await
                        }
                        Event::Gap { missed, reset, since, epoch } => {
                            send_control(&mut session, &Control::Gap { room: Some(room), missed, reset, since, epoch }).await
                        }
                        Event::Message(message) => send_json(&mut session, message.json()).await,
                        Event::Presence(count) => send_control(&mut session, &presence(&room, count)).await,
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
                        ClientFrame::Text(text) => self.text(&mut session, &text).await,
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

    /// A client's text frame: a message, a join or a leave. A refusal is an error frame; the
    /// connection stays open and nothing changed.
    async fn text(&mut self, session: &mut Session, text: &str) -> Result<(), actix_ws::Closed> {
        let parsed =
            compose::from_ws_text(text, self.user.as_deref(), self.state.config.max_text_bytes);
        let (request, reference) = match parsed {
            Ok(parsed) => parsed,
            Err((error, reference)) => {
                return send_error(session, &error.to_string(), reference).await;
            }
        };
        let answer = match request {
            WsRequest::Publish {
                message,
                room,
                except_sender,
            } => {
                return self
                    .publish(session, message, room, except_sender, reference)
                    .await;
            }
            WsRequest::Join { room, since } => self.join_frame(&room, since.as_ref()).await,
            WsRequest::Leave { room } => match self.joined(&room) {
                None => Err(format!("not in room {:?}; nothing to leave", room.as_str())),
                Some(i) => {
                    self.rooms.remove(i);
                    return send_control(session, &Control::Left { room }).await;
                }
            },
        };
        match answer {
            // The join's `ready` comes from its feed, in order with the room's messages.
            Ok(()) => Ok(()),
            Err(error) => send_error(session, &error, reference).await,
        }
    }

    async fn join_frame(&mut self, room: &RoomName, since: Option<&Cursor>) -> Result<(), String> {
        if self.joined(room).is_some() {
            return Err(format!(
                "already in room {:?}; leave it first to join from another cursor",
                room.as_str()
            ));
        }
        if self.rooms.len() >= MAX_ROOMS_PER_SOCKET {
            return Err(format!(
                "a socket may be in at most {MAX_ROOMS_PER_SOCKET} rooms; leave one first"
            ));
        }
        let opened = self
            .state
            .bus
            .open(room, since)
            .await
            .map_err(|e| e.to_string())?;
        self.join(opened, since);
        Ok(())
    }

    /// Publishes a client's message; acknowledges it when it carries a `ref`.
    async fn publish(
        &self,
        session: &mut Session,
        message: NewMessage,
        room: Option<RoomName>,
        except_sender: bool,
        reference: Option<Value>,
    ) -> Result<(), actix_ws::Closed> {
        let room = match room {
            Some(name) => match self.state.bus.open(&name, None).await {
                Ok(room) => room,
                Err(refused) => return send_error(session, &refused.to_string(), reference).await,
            },
            None => match self.rooms.first() {
                Some(feed) => feed.room().clone(),
                None => {
                    let error = "this socket is in no room; name one with \"room\" or join one";
                    return send_error(session, error, reference).await;
                }
            },
        };
        let permit = match publish_permit(&self.state, self.peer) {
            Ok(permit) => permit,
            Err(refused) => {
                return send_error(session, &refused.to_string(), reference).await;
            }
        };
        let except = except_sender.then(|| self.key.clone());
        let stored = self
            .state
            .bus
            .publish(&room, &message.user, &message.text, except)
            .await;
        drop(permit);
        let stored = match stored {
            Ok(stored) => stored,
            Err(down) => return send_error(session, &down.to_string(), reference).await,
        };
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
