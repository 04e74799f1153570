//! Short polling: `GET /api/poll?room=NAME&since=ID`, answered at once with whatever is after the
//! cursor (often nothing). The client asks again on its own interval; with a `client` id, each
//! poll keeps it a member of the room for the presence window.

use actix_web::{HttpResponse, web};

use crate::error::AppError;
use crate::state::AppState;
use crate::transports::{Subscribe, Transport, batch};

/// What a poll without a cursor gets: enough to fill a chat window.
pub const LATEST_WITHOUT_CURSOR: usize = 50;

pub async fn poll(
    request: Subscribe,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let room = request.open_room(&state).await?;
    room.touch();
    if let Some(client) = &request.client {
        room.presence().seen(client, Transport::Poll);
    }
    let batch = match &request.since {
        Some(since) => room.since(since, usize::MAX),
        None => room.latest(LATEST_WITHOUT_CURSOR),
    };
    Ok(batch::respond(&batch, request.client.as_ref()))
}
