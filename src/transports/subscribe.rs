//! The request seam every subscriber endpoint shares: [`Subscribe`], an extractor that reads the
//! cursor and the client id once, the same way for all five transports.
//!
//! Before it, each handler opened with the same preamble (decode the query, refuse a malformed
//! `client`, parse `since`); a new parameter meant editing every transport. Now a parameter that
//! every subscriber takes (a room, next) is added here, once.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use protocol::Cursor;

use crate::error::AppError;
use crate::ledger;
use crate::ledger::wire::PeerGone;
use crate::params::{self, Params};
use crate::transports::Transport;

/// What a subscribe request asks for.
#[derive(Debug)]
pub struct Subscribe {
    /// Where to resume: deliver what is after this cursor (see [`protocol::cursor`]). `None`: live messages only (a short poll
    /// answers the newest instead). For SSE, `Last-Event-ID` wins over `?since=`, because
    /// `EventSource` can only set the header on reconnects, and the query string is the one it was
    /// first opened with.
    pub since: Option<Cursor>,
    /// `?client=`: the ledger reads it from the wire itself, but a malformed one is refused here
    /// rather than silently not counted.
    pub client: Option<String>,
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
            .map(|id| ledger::check_client_id(id).map(str::to_owned))
            .transpose()?;
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
            since,
            client,
            params,
            peer_gone: req.conn_data::<PeerGone>().cloned().unwrap_or_default(),
        })
    }
}

impl FromRequest for Subscribe {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request(req))
    }
}
