//! Long polling: `GET /api/longpoll?since=ID&timeout=S`, held until a message after the cursor
//! exists, the timeout passes or the server shuts down, then answered like a short poll.
//!
//! The cursor closes the classic loss window: a message published after one answer and before the
//! next request arrives is still after the client's cursor, so the next request returns it at once.

use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::config::MAX_LONG_POLL_TIMEOUT_S;
use crate::error::AppError;
use crate::state::AppState;
use crate::transports::{Subscribe, batch};

pub async fn long_poll(
    request: Subscribe,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let timeout = request
        .params
        .seconds("timeout", MAX_LONG_POLL_TIMEOUT_S)?
        .unwrap_or(state.config.long_poll_timeout);
    // Without a cursor a long poll waits for the next message, like a stream without `since`.
    let mut reader = state.bus.reader(request.since.as_ref());
    let epoch = state.bus.epoch();
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    tokio::pin!(deadline);

    loop {
        let batch = reader.read(usize::MAX);
        if !batch.messages.is_empty() || batch.is_gap() {
            return Ok(batch::respond(&batch, epoch));
        }
        tokio::select! {
            biased;
            // Nobody will read the answer; ending now frees the connection.
            () = request.peer_gone.gone() => return Ok(batch::respond(&batch, epoch)),
            () = state.shutdown.streams().cancelled() => return Ok(batch::respond(&batch, epoch)),
            () = &mut deadline => return Ok(batch::respond(&batch, epoch)),
            alive = reader.wait() => {
                if !alive {
                    return Ok(batch::respond(&batch, epoch));
                }
            }
        }
    }
}
