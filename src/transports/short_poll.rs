//! Short polling: `GET /api/poll?since=ID`, answered at once with whatever is after the cursor
//! (often nothing). The client asks again on its own interval.

use actix_web::{HttpResponse, web};

use crate::state::AppState;
use crate::transports::{Subscribe, batch};

/// What a poll without a cursor gets: enough to fill a chat window.
pub const LATEST_WITHOUT_CURSOR: usize = 50;

pub async fn poll(request: Subscribe, state: web::Data<AppState>) -> HttpResponse {
    let batch = match &request.since {
        Some(since) => state.bus.since(since, usize::MAX),
        None => state.bus.latest(LATEST_WITHOUT_CURSOR),
    };
    batch::respond(&batch, state.bus.epoch())
}
