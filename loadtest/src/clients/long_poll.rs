//! Long-polling client: `GET /api/longpoll?since=CURSOR&timeout=S` in a loop on one kept-alive
//! connection; the server holds each request until there is something after the cursor.
//!
//! The next request goes out as soon as an answer arrives, with the answer's `last_id`: messages
//! published while no request was outstanding are after that cursor, so nothing falls between two
//! polls. The client counts as subscribed once its first request is on the wire (it is then
//! waiting at the server; the cursor covers anything published before the server saw it).

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use crate::clients::short_poll::on_answer;
use crate::clients::{ClientOutcome, Phase, ReadyAt, Receiver, get, status_error};
use crate::http1::Connection;

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut cursor = phase.start_cursor(index);
    let mut conn: Option<Connection> = None;
    loop {
        let path = phase.request_path(cursor, index);
        // Subscribed once the request is written: the answer may be held for the whole timeout.
        let answer = tokio::select! {
            () = phase.stop.cancelled() => break,
            answer = get(&mut receiver, &mut conn, &path, ReadyAt::Sent) => answer,
        };
        let answer = match answer {
            Ok((status, body)) if status.is_success() => Ok(body),
            Ok((status, body)) => Err(status_error(status, &body)),
            Err(e) => Err(e),
        };
        match answer {
            Ok(body) => on_answer(&mut receiver, &body, &mut cursor),
            Err(e) => {
                if !receiver.failed(e).await {
                    break;
                }
            }
        }
    }
    receiver.finish()
}
