//! Long polling: `GET /api/longpoll?since=ID&timeout=S`, held until a message after the cursor
//! exists, the timeout passes or the server shuts down, then answered like a short poll.
//!
//! The cursor closes the classic loss window: a message published after one answer and before the
//! next request arrives is still after the client's cursor, so the next request returns it at once.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::config::MAX_LONG_POLL_TIMEOUT_S;
use crate::error::AppError;
use crate::params::Params;
use crate::state::AppState;
use crate::transports::batch;

pub async fn long_poll(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    // The ledger reads `client` from the wire itself; a malformed one is refused, not ignored.
    params.client()?;
    let since = params.cursor("since")?;
    let timeout = params
        .seconds("timeout", MAX_LONG_POLL_TIMEOUT_S)?
        .unwrap_or(state.config.long_poll_timeout);

    let bus = &state.bus;
    // Subscribe before reading the newest id, so a publish in between still wakes this request.
    let mut wake = bus.subscribe();
    wake.borrow_and_update();
    // Without a cursor a long poll waits for the next message, like a stream without `since`.
    let cursor = since.unwrap_or_else(|| bus.newest_id());
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    tokio::pin!(deadline);

    loop {
        let batch = bus.since(cursor, usize::MAX);
        if !batch.messages.is_empty() || batch.is_gap() {
            return Ok(batch::respond(&batch));
        }
        tokio::select! {
            biased;
            () = state.shutdown.streams().cancelled() => return Ok(batch::respond(&batch)),
            () = &mut deadline => return Ok(batch::respond(&batch)),
            // `changed` marks the new id seen, so the next read cannot miss a later publish.
            changed = wake.changed() => {
                if changed.is_err() {
                    return Ok(batch::respond(&batch));
                }
            }
        }
    }
}
