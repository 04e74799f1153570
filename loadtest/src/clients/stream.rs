//! HTTP streaming client: one `GET /api/stream?since=CURSOR` whose chunked body never ends,
//! read line by line (NDJSON), as a page reading `fetch().body` would.
//!
//! Lines with a probe are messages; other lines are control objects (`ready` marks the client
//! subscribed, `gap` is counted, `heartbeat` ignored). If the stream drops, the client reconnects
//! from the id of the last message it saw, so a reconnect costs bytes but no duplicates.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::OwnedSemaphorePermit;

use crate::clients::{ClientOutcome, Phase, Receiver};
use crate::http1::HttpError;
use crate::probe;

/// Longest line kept while waiting for its end (a message is at most a few KiB).
const MAX_LINE: usize = 1024 * 1024;

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut cursor = phase.start_cursor(index);
    loop {
        let result = tokio::select! {
            () = phase.stop.cancelled() => break,
            result = read_stream(&mut receiver, &mut cursor) => result,
        };
        if !receiver.ended(result).await {
            break;
        }
    }
    receiver.finish()
}

/// One connection's worth of stream; returns when the response ends or fails.
async fn read_stream(receiver: &mut Receiver, cursor: &mut Option<u64>) -> Result<(), HttpError> {
    let phase = receiver.phase.clone();
    let path = phase.request_path(*cursor, receiver.index);
    let headers = &phase.server(receiver.index).headers;
    let mut body = receiver.subscribe(&path, headers).await?;
    let mut line = BytesMut::new();
    while let Some(data) = body.next_data().await? {
        line.extend_from_slice(&data);
        while let Some(end) = memchr::memchr(b'\n', &line) {
            let one = line.split_to(end + 1);
            on_line(receiver, &one[..end], cursor);
        }
        if line.len() > MAX_LINE {
            return Err(HttpError::Malformed("stream line too long".into()));
        }
    }
    Ok(())
}

fn on_line(receiver: &mut Receiver, line: &[u8], cursor: &mut Option<u64>) {
    if receiver.on_bytes(line) > 0 {
        if receiver.phase.lab
            && let Some(id) = probe::message_id(line)
        {
            *cursor = Some(id);
        }
    } else if memchr::memmem::find(line, b"\"type\"").is_some() {
        receiver.on_control(line);
    }
}
