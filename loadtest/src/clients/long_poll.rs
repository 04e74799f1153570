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
use crate::clients::{ClientOutcome, Phase, Receiver, status_error};
use crate::http1::{Connection, HttpError};

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut cursor = phase.start_cursor;
    let mut conn: Option<Connection> = None;
    loop {
        let path = phase.request_path(cursor, index);
        let answer = tokio::select! {
            () = phase.stop.cancelled() => break,
            answer = poll_once(&mut receiver, &mut conn, &path) => answer,
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

/// One long poll. Unlike [`crate::clients::get`] it marks the client ready once the request is
/// written, because the answer may be held for the whole timeout.
async fn poll_once(
    receiver: &mut Receiver,
    conn: &mut Option<Connection>,
    path: &str,
) -> Result<Vec<u8>, HttpError> {
    for attempt in 0..2 {
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => conn.insert(receiver.connect().await?),
        };
        let sent = c
            .send_request("GET", path, &receiver.phase.headers, None)
            .await;
        let result = match sent {
            Ok(()) => {
                receiver.ready();
                match c.read_head(false).await {
                    Ok(head) => c.read_body(&head).await.map(|body| (head, body)),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok((head, body)) => {
                if !c.is_reusable() {
                    *conn = None;
                }
                if !(200..300).contains(&head.status) {
                    return Err(status_error(&head, &body));
                }
                return Ok(body);
            }
            Err(e) => {
                *conn = None;
                let stale = reused && matches!(e, HttpError::Closed | HttpError::Io(_));
                if !(stale && attempt == 0) {
                    return Err(e);
                }
            }
        }
    }
    Err(HttpError::Closed)
}
