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
    /// `accepted` x `connected`: what a lossless server delivers.
    pub expected: u64,
    pub seconds: f64,
}

pub async fn drain(phase: &Phase, drain_s: f64, progress: Progress) -> Drained {
    let t2 = Instant::now();
    let accepted = phase.publish_log.accepted_count();
    let connected = phase.connected.load(Ordering::Relaxed);
    let expected = accepted * connected;
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
        expected,
        seconds: t2.elapsed().as_secs_f64(),
    }
}
