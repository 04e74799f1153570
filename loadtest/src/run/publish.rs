//! A phase's second step: post the phase's messages on schedule, from several connections.
//!
//! The publisher schedules message `seq` at `start + seq / rate` (its *intended* send time) and
//! stamps that time into the probe. If the publisher falls behind (a slow POST answer), the next
//! messages go out late but keep their intended times, so the delay shows up in the latency
//! figures instead of silently lowering the load: coordinated omission is measured, not hidden.
//!
//! With `--rooms N`, message `seq` is posted to room `seq % N` (see [`crate::rooms`]), so the
//! rooms take turns whichever publisher connection takes the next number. With several publish
//! URLs (several servers on one bus), connection `k` posts to URL `k % URLs` (see
//! [`crate::servers`]), so every server publishes a share of every room.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use hyper::Method;
use protocol::headers::{self, RequestKind};

use crate::cli::RunArgs;
use crate::clients::Phase;
use crate::http1::Connection;
use crate::latency::SharedHistogram;
use crate::probe;
use crate::run::progress::{Progress, TICK};
use crate::servers;
use crate::target::HttpUrl;
use crate::wire::WireCounters;

/// Publisher connections with `--publishers 0`. A loaded server answers a POST only after much of
/// the fan-out work (tens of milliseconds with a thousand subscribers on two cores), so a few
/// sequential connections would fall behind the schedule and measure the publisher instead of
/// the server; 16 in flight keep 200 msg/s on time up to an 80 ms round trip.
const AUTO_PUBLISHERS: u64 = 16;
/// Delay from building the publisher to the intended time of the first message, so message 0
/// is not already late when the tasks start.
const START_DELAY_US: u64 = 10_000;

/// Publisher connections this run uses.
pub fn publisher_count(args: &RunArgs) -> u64 {
    if args.publishers > 0 {
        args.publishers
    } else {
        AUTO_PUBLISHERS
    }
}

/// Posts the phase's messages on its schedule; several tasks may share one `Publisher`, each
/// with its own keep-alive connection, taking sequence numbers in order.
pub struct Publisher {
    phase: Arc<Phase>,
    /// Where the connections post, in list order: connection `k` to [`servers::of_publisher`].
    targets: Vec<Target>,
    rate: f64,
    payload_bytes: usize,
    /// The next sequence number to take.
    next: AtomicU64,
    /// Publishes completed (accepted or not): publish progress.
    sent: AtomicU64,
    /// POSTs that failed or were not answered 2xx.
    pub errors: AtomicU64,
    /// The first of them: which message, to which server, and why.
    pub first_error: std::sync::Mutex<Option<String>>,
    /// Worst lateness of a send behind its intended time, µs.
    pub lag_max_us: AtomicU64,
    /// Round trip of each POST (request written to answer read): how responsive the server's
    /// publish path stays under each transport's load.
    pub round_trips: SharedHistogram,
    /// The publisher's own wire, reported apart from the subscribers'.
    pub counters: Arc<WireCounters>,
    /// Intended send time of sequence number 0.
    start_us: u64,
}

/// One publish URL.
struct Target {
    url: HttpUrl,
    addr: SocketAddr,
    /// The request headers of every POST to it, after `Host`.
    headers: Vec<(&'static str, String)>,
}

/// Publishes every message of the phase (or until stopped); returns the publisher, for its
/// figures, and how long publishing took.
pub async fn publish(
    phase: &Arc<Phase>,
    args: &RunArgs,
    to: Vec<(HttpUrl, SocketAddr)>,
    progress: Progress,
) -> (Arc<Publisher>, f64) {
    let t1 = Instant::now();
    let bar = progress.bar(
        phase.capacity,
        format!("{} publish", phase.transport.name()),
    );
    let publisher = Arc::new(Publisher {
        phase: phase.clone(),
        targets: to
            .into_iter()
            .map(|(url, addr)| Target {
                headers: headers::request_headers(
                    args.headers,
                    RequestKind::Fetch,
                    &url.origin(),
                    Some("text/plain;charset=UTF-8"),
                ),
                url,
                addr,
            })
            .collect(),
        rate: args.rate,
        payload_bytes: args.payload_bytes as usize,
        next: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: std::sync::Mutex::new(None),
        lag_max_us: AtomicU64::new(0),
        round_trips: SharedHistogram::new(),
        counters: WireCounters::new(),
        start_us: phase.clock.now_us() + START_DELAY_US,
    });
    let mut pubs = Vec::new();
    for k in 0..publisher_count(args) {
        let p = publisher.clone();
        pubs.push(tokio::spawn(async move { p.run(k).await }));
    }
    while pubs.iter().any(|h| !h.is_finished()) {
        bar.set_position(publisher.sent.load(Ordering::Relaxed));
        tokio::time::sleep(TICK).await;
    }
    for handle in pubs {
        // A publisher task cannot panic short of a bug; its messages then count as unsent.
        let _ = handle.await;
    }
    bar.set_position(publisher.sent.load(Ordering::Relaxed));
    bar.finish();
    (publisher, t1.elapsed().as_secs_f64())
}

impl Publisher {
    /// Publisher connection `k`'s loop.
    async fn run(&self, k: u64) {
        let phase = &self.phase;
        let target = &self.targets[servers::of_publisher(k, self.targets.len())];
        let mut conn: Option<Connection> = None;
        let mut round_trips = self.round_trips.recorder();
        // One path per room: message `seq` goes to room `seq % rooms` (no `room=` with one).
        let client = format!("lt-{}-pub", phase.run);
        let paths: Vec<String> = (0..phase.rooms.count())
            .map(|room| {
                phase
                    .rooms
                    .url_in(&target.url, room)
                    .with_param("client", &client)
            })
            .collect();
        loop {
            let seq = self.next.fetch_add(1, Ordering::Relaxed);
            if seq >= phase.capacity {
                break;
            }
            let intended_us = self.start_us + (seq as f64 * 1_000_000.0 / self.rate) as u64;
            tokio::select! {
                () = phase.stop.cancelled() => break,
                () = tokio::time::sleep_until(phase.clock.instant_at(intended_us).into()) => {}
            }
            let lag = phase.clock.now_us().saturating_sub(intended_us);
            self.lag_max_us.fetch_max(lag, Ordering::Relaxed);
            let text = probe::encode(&phase.run, seq, intended_us, self.payload_bytes);
            let path = &paths[phase.rooms.of_seq(seq) as usize];
            phase.publish_log.sending(seq);
            let posted = Instant::now();
            let posted_ok = tokio::select! {
                () = phase.stop.cancelled() => Err("stopped before its answer".to_owned()),
                result = self.post(target, &mut conn, path, Bytes::from(text)) => result,
            };
            let ok = posted_ok.is_ok();
            match posted_ok {
                Ok(()) => round_trips.record(posted.elapsed().as_micros() as u64),
                Err(why) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut first) = self.first_error.lock() {
                        first.get_or_insert_with(|| {
                            format!(
                                "seq {seq} to {}, after {} ms: {why}",
                                target.url.origin(),
                                posted.elapsed().as_millis()
                            )
                        });
                    }
                }
            }
            phase.publish_log.completed(seq, ok);
            self.sent.fetch_add(1, Ordering::Relaxed);
            if phase.stop.is_cancelled() {
                break;
            }
        }
    }

    /// One POST; `Ok` if answered 2xx, else why not. Not retried: a POST that failed mid-flight
    /// may have been stored, and retrying could publish it twice (a failed POST whose message
    /// arrives anyway is counted delivered, above the expected deliveries).
    async fn post(
        &self,
        target: &Target,
        conn: &mut Option<Connection>,
        path: &str,
        body: Bytes,
    ) -> Result<(), String> {
        // Closed by the server since its last answer (`Connection: close`, an idle timeout):
        // nothing was sent on it, so replacing it cannot publish anything twice.
        if let Some(c) = conn.as_mut()
            && c.ready().await.is_err()
        {
            *conn = None;
        }
        let c = match conn {
            Some(c) => c,
            None => {
                match Connection::connect(
                    target.addr,
                    &target.url.authority(),
                    self.counters.clone(),
                )
                .await
                {
                    Ok(c) => conn.insert(c),
                    Err(e) => return Err(format!("connect: {e}")),
                }
            }
        };
        match c
            .fetch(Method::POST, path, &target.headers, Some(body))
            .await
        {
            Ok((status, _)) if status.is_success() => Ok(()),
            Ok((status, body)) => Err(format!(
                "answered {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
            Err(e) => {
                *conn = None;
                Err(e.to_string())
            }
        }
    }
}
