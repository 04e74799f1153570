//! Short polling: `GET /api/poll?since=ID`, answered at once with whatever is after the cursor
//! (often nothing). The client asks again on its own interval.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::AppError;
use crate::params::Params;
use crate::state::AppState;
use crate::transports::batch;

/// What a poll without a cursor gets: enough to fill a chat window.
pub const LATEST_WITHOUT_CURSOR: usize = 50;

pub async fn poll(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    // The ledger reads `client` from the wire itself; a malformed one is refused, not ignored.
    params.client()?;
    let batch = match params.cursor("since")? {
        Some(since) => state.bus.since(since, usize::MAX),
        None => state.bus.latest(LATEST_WITHOUT_CURSOR),
    };
    Ok(batch::respond(&batch))
}
