//! The request seam every subscriber endpoint shares: [`Subscribe`], an extractor that reads the
//! cursor and the client id once, the same way for all five transports.
//!
//! Before it, each handler opened with the same preamble (decode the query, refuse a malformed
//! `client`, parse `since`); a new parameter meant editing every transport. Now a parameter that
//! every subscriber takes (the room) is added here, once.

use std::future::{Ready, ready};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use protocol::{Cursor, RoomName};

use crate::error::AppError;
use crate::ledger;
use crate::ledger::wire::PeerGone;
use crate::params::{self, Params};
use crate::presence::{MemberKey, anonymous_key};
use crate::room::{Membership, Room};
use crate::state::AppState;
use crate::transports::Transport;

/// What a subscribe request asks for.
#[derive(Debug)]
pub struct Subscribe {
    /// `?room=`: which room's log to read; the lobby when absent. Ids, cursors and gaps are per
    /// room.
    pub room: RoomName,
    /// Where to resume: deliver what is after this cursor (see [`protocol::cursor`]). `None`: live messages only (a short poll
    /// answers the newest instead). For SSE, `Last-Event-ID` wins over `?since=`, because
    /// `EventSource` can only set the header on reconnects, and the query string is the one it was
    /// first opened with.
    pub since: Option<Cursor>,
    /// `?client=`: the ledger reads it from the wire itself, but a malformed one is refused here
    /// rather than silently not counted.
    pub client: Option<MemberKey>,
    /// The whole query, for what only one transport takes (`timeout`, `user`).
    pub params: Params,
    /// `?heartbeat=S`: this connection's heartbeat (stream and SSE) or ping (WebSocket, Socket.IO)
    /// interval instead of `--heartbeat`, so a class can set it against the fault lab's idle cut
    /// and watch heartbeats save a connection.
    pub heartbeat: Option<Duration>,
    /// Fires when the client closes or resets its connection, so a stream or a held request ends
    /// at once instead of at its next failed write.
    pub peer_gone: PeerGone,
}

impl Subscribe {
    /// Reads a subscribe request; the first malformed parameter is the error.
    pub fn from_request(req: &HttpRequest) -> Result<Self, AppError> {
        let params = Params::query(req.query_string())?;
        let client = params
            .get("client")
            .map(|id| ledger::check_client_id(id).map(MemberKey::from))
            .transpose()?;
        let room = params.room()?;
        // Only SSE resumes by header: `EventSource` sets it, no other client does.
        let last_event_id = match Transport::from_path(req.path()) {
            Some(Transport::Sse) => req.headers().get("last-event-id"),
            _ => None,
        };
        let since = match last_event_id {
            Some(value) => {
                let value = value
                    .to_str()
                    .map_err(|_| AppError::bad_request("Last-Event-ID must be a message id"))?;
                Some(params::parse_cursor("Last-Event-ID", value.trim())?)
            }
            None => params.cursor("since")?,
        };
        let heartbeat = params
            .get("heartbeat")
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|s| (MIN_HEARTBEAT_S..=MAX_HEARTBEAT_S).contains(s))
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        AppError::bad_request(format!(
                            "heartbeat must be seconds from {MIN_HEARTBEAT_S} to {MAX_HEARTBEAT_S}; got {}",
                            params::quote(v)
                        ))
                    })
            })
            .transpose()?;
        Ok(Self {
            room,
            since,
            client,
            heartbeat,
            params,
            peer_gone: req.conn_data::<PeerGone>().cloned().unwrap_or_default(),
        })
    }
}

/// The shortest `?heartbeat=` taken: a heartbeat is a few bytes, but not a flood.
pub const MIN_HEARTBEAT_S: f64 = 0.2;
/// The longest `?heartbeat=` taken.
pub const MAX_HEARTBEAT_S: f64 = 120.0;

impl Subscribe {
    /// The heartbeat (or ping) interval of this connection: `?heartbeat=`, else `--heartbeat`.
    pub fn heartbeat(&self, state: &AppState) -> Duration {
        self.heartbeat
            .unwrap_or_else(|| state.config.heartbeat_interval())
    }

    /// The room asked for, created now if it is new (a 503 once `--max-rooms` exist, or while
    /// a shared bus cannot read it from Redis).
    pub async fn open_room(&self, state: &AppState) -> Result<Room, AppError> {
        Ok(state.bus.open(&self.room, self.since.as_ref()).await?)
    }

    /// Who this subscriber is in the room's head count: its client id, or a key of its own.
    pub fn member_key(&self) -> MemberKey {
        self.client.clone().unwrap_or_else(anonymous_key)
    }

    /// A stream's or socket's membership of `room` for as long as it is open.
    pub fn join(&self, room: &Room, transport: Transport) -> Membership {
        room.join(self.member_key(), transport)
    }
}

impl FromRequest for Subscribe {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request(req))
    }
}
