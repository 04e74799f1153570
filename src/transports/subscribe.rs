//! The request seam every subscriber endpoint shares: [`Subscribe`], an extractor that reads the
//! cursor and the client id once, the same way for all five transports.
//!
//! Before it, each handler opened with the same preamble (decode the query, refuse a malformed
//! `client`, parse `since`); a new parameter meant editing every transport. Now a parameter that
//! every subscriber takes (the room) is added here, once.

use std::future::{Ready, ready};

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
        Ok(Self {
            room,
            since,
            client,
            params,
            peer_gone: req.conn_data::<PeerGone>().cloned().unwrap_or_default(),
        })
    }
}

impl Subscribe {
    /// The room asked for, created now if it is new (a 503 once `--max-rooms` exist).
    pub fn open_room(&self, state: &AppState) -> Result<Room, AppError> {
        Ok(state.bus.room(&self.room)?)
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
