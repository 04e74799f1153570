//! Short-polling client: `GET /api/poll?since=CURSOR` every `--poll-interval-ms`, on one
//! kept-alive connection, as a page running `setInterval(fetch, ..)` would.
//!
//! The cursor (`last_id` of each answer) is what makes polling lossless: whatever was published
//! between two polls is after the cursor, so the next answer carries it. Ticks are scheduled on a
//! fixed interval; a slow answer delays the next poll rather than piling polls up (like a
//! `setTimeout` loop).

use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use crate::clients::{ClientOutcome, Phase, ReadyAt, Receiver, get, status_error};
use crate::http1::Connection;

/// The parts of a poll answer a client needs; message bodies are found by probe scanning.
#[derive(Deserialize)]
pub struct PollAnswer {
    pub last_id: Option<u64>,
    #[serde(default)]
    pub gap: bool,
    #[serde(default)]
    pub missed: u64,
}

/// Handles one poll answer (short or long): probes, gap notice, next cursor.
pub fn on_answer(receiver: &mut Receiver, body: &[u8], cursor: &mut Option<u64>) {
    receiver.on_bytes(body);
    if let Ok(answer) = serde_json::from_slice::<PollAnswer>(body) {
        if answer.gap {
            receiver.missed(answer.missed);
        }
        if let Some(last_id) = answer.last_id {
            *cursor = Some(last_id);
        }
    }
}

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut cursor = phase.start_cursor(index);
    let mut conn: Option<Connection> = None;
    let mut ticks = interval_at(Instant::now(), phase.poll_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = phase.stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let path = phase.request_path(cursor, index);
        let answer = tokio::select! {
            () = phase.stop.cancelled() => break,
            answer = get(&mut receiver, &mut conn, &path, ReadyAt::Answer) => answer,
        };
        match answer {
            Ok((status, body)) if status.is_success() => {
                receiver.ready();
                on_answer(&mut receiver, &body, &mut cursor);
            }
            Ok((status, body)) => {
                if !receiver.failed(status_error(status, &body)).await {
                    break;
                }
            }
            Err(e) => {
                if !receiver.failed(e).await {
                    break;
                }
            }
        }
    }
    receiver.finish()
}
