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
//! actix-ws writes our frames; the client's are read by [`ClientFrames`], one frame at a time,
//! so each violation gets its RFC 6455 close code.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::header::SEC_WEBSOCKET_VERSION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev, web};
use actix_ws::{CloseCode, CloseReason, Session};
use bytestring::ByteString;
use protocol::Control;
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use crate::error::AppError;
use crate::permit::publish_permit;
use crate::state::AppState;
use crate::transports::Subscribe;
use crate::transports::client_frames::{ClientFrame, ClientFrames};
use crate::transports::feed::{Event, Feed};
use crate::{compose, origin};

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
