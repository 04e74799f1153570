//! Long polling: `GET /api/longpoll?room=NAME&since=ID&timeout=S`, held until a message after the
//! cursor exists, the timeout passes or the server shuts down, then answered like a short poll.
//! A held long poll with a `client` id is a member of its room, and stays one for the presence
//! window after its answer (the client is expected back at once).
//!
//! The cursor closes the classic loss window: a message published after one answer and before the
//! next request arrives is still after the client's cursor, so the next request returns it at once.

use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::config::MAX_LONG_POLL_TIMEOUT_S;
use crate::error::AppError;
use crate::state::AppState;
use crate::transports::{Subscribe, Transport, batch};

pub async fn long_poll(
    request: Subscribe,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let timeout = request
        .params
        .seconds("timeout", MAX_LONG_POLL_TIMEOUT_S)?
        .unwrap_or(state.config.long_poll_timeout);
    let room = request.open_room(&state).await?;
    let _member = request
        .client
        .as_ref()
        .map(|client| room.join(client.clone(), Transport::LongPoll));
    let viewer = request.client.as_ref();
    // Without a cursor a long poll waits for the next message, like a stream without `since`.
    let mut reader = room.reader(request.since.as_ref());
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    tokio::pin!(deadline);

    loop {
        let batch = reader.read(usize::MAX);
        // Messages this client sent to others do not end the wait: for it, nothing came.
        let visible = batch.messages.iter().any(|m| !m.hidden_from(viewer));
        if visible || batch.is_gap() {
            return Ok(batch::respond(&batch, viewer));
        }
        tokio::select! {
            biased;
            // Nobody will read the answer; ending now frees the connection.
            () = request.peer_gone.gone() => return Ok(batch::respond(&batch, viewer)),
            () = state.shutdown.streams().cancelled() => return Ok(batch::respond(&batch, viewer)),
            () = &mut deadline => return Ok(batch::respond(&batch, viewer)),
            alive = reader.wait() => {
                if !alive {
                    return Ok(batch::respond(&batch, viewer));
                }
            }
        }
    }
}
