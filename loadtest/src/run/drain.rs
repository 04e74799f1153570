//! A phase's third step: after the last publish, wait until every connected client has every
//! accepted message, or `--drain-s` has passed.
//!
//! The drain is what turns "not yet arrived" into "lost": whatever has not arrived when it ends
//! is counted as lost, so its length is the patience a user would have.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::clients::Phase;
use crate::run::progress::Progress;

/// How often the drain looks at the delivery count: finer than the progress tick, since the
/// drain's end is a measured time.
const POLL: Duration = Duration::from_millis(20);

/// What the drain waited for, and how long it took.
pub struct Drained {
    /// Messages the server accepted.
    pub accepted: u64,
    /// Clients subscribed when the drain began.
    pub connected: u64,
    /// `accepted` and `connected` per room (index = room; one entry without `--rooms`).
    pub accepted_by_room: Vec<u64>,
    pub connected_by_room: Vec<u64>,
    /// Per room `accepted` x `connected`, summed: what a lossless server delivers (every
    /// client gets its own room's messages, and only those).
    pub expected: u64,
    pub seconds: f64,
}

pub async fn drain(phase: &Phase, drain_s: f64, progress: Progress) -> Drained {
    let t2 = Instant::now();
    let accepted = phase.publish_log.accepted_count();
    let connected = phase.connected.load(Ordering::Relaxed);
    let accepted_by_room = phase.publish_log.accepted_by_room(phase.rooms);
    let connected_by_room: Vec<u64> = phase
        .connected_by_room
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let expected = accepted_by_room
        .iter()
        .zip(&connected_by_room)
        .map(|(a, c)| a * c)
        .sum();
    let bar = progress.bar(expected, format!("{} drain", phase.transport.name()));
    let drain_until = Instant::now() + Duration::from_secs_f64(drain_s);
    loop {
        let delivered = phase.delivered.load(Ordering::Relaxed);
        bar.set_position(delivered.min(expected));
        if delivered >= expected || Instant::now() >= drain_until || phase.stop.is_cancelled() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    bar.finish();
    Drained {
        accepted,
        connected,
        accepted_by_room,
        connected_by_room,
        expected,
        seconds: t2.elapsed().as_secs_f64(),
    }
}
