//! A phase's last step: stop its clients, gather what each saw, and add it up into the
//! transport's report.
//!
//! Every figure is summed over clients and divided by *delivered* messages, so a transport is
//! charged for what actually reached its clients. A client that does not stop within the grace
//! period contributes nothing, which shows as a client short in the totals rather than as a hang.
//! With `--rooms`, the same sums are also made per room, and with several servers per server.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::clients::{ClientOutcome, Phase};
use crate::redis::RedisUsage;
use crate::report::{PerMessage, RoomReport, ServerShare, ServerUsage, TransportReport, per};
use crate::run::drain::Drained;
use crate::run::publish::Publisher;
use crate::sequence::SequenceReport;
use crate::servers;
use crate::sysinfo::ProcSample;
use crate::wire::WireTotals;

/// How long clients get to wind down after being told to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the earlier steps of a phase leave for this one.
pub struct Steps<'a> {
    pub phase: &'a Phase,
    /// Clients started (`--clients`).
    pub clients: u64,
    pub warmup: u64,
    pub handles: Vec<JoinHandle<ClientOutcome>>,
    pub publisher: &'a Publisher,
    pub drained: Drained,
    /// Server samples before connecting, after connecting and after the drain (`--server-pid`).
    pub samples: [Option<ProcSample>; 3],
    /// Redis's CPU time (µs) before publishing and after the drain (`--redis-url`).
    pub redis: [Option<u64>; 2],
    pub connect_s: f64,
    pub publish_s: f64,
}

/// Stops the phase's clients and reports the transport.
pub async fn collect(steps: Steps<'_>) -> TransportReport {
    let Steps {
        phase,
        clients,
        warmup,
        handles,
        publisher,
        drained,
        samples,
        redis,
        connect_s,
        publish_s,
    } = steps;
    phase.stop.cancel();
    let mut outcomes = Vec::with_capacity(handles.len());
    let grace = Instant::now() + STOP_GRACE;
    for handle in handles {
        let remaining = grace.saturating_duration_since(Instant::now());
        // A client that panicked or would not stop in time contributes nothing; its absence
        // shows as a client short in the totals.
        if let Ok(Ok(outcome)) = tokio::time::timeout(remaining, handle).await {
            outcomes.push(outcome);
        }
    }

    let mut sequence = SequenceReport::default();
    let mut wire = WireTotals::default();
    let mut subscribe_wire = WireTotals::default();
    let (mut missed, mut reconnects, mut with_errors) = (0, 0, 0);
    let mut first_error = None;
    for o in &outcomes {
        sequence.add(&o.sequence);
        wire += o.wire;
        if let Some(at_ready) = o.at_ready {
            subscribe_wire += at_ready;
        }
        missed += o.missed;
        reconnects += o.reconnects;
        if let Some(e) = &o.error {
            with_errors += 1;
            first_error.get_or_insert_with(|| e.clone());
        }
    }
    let rooms = if phase.rooms.count() > 1 {
        room_reports(phase, clients, &drained, &outcomes)
    } else {
        Vec::new()
    };
    let servers = if phase.servers.len() > 1 {
        server_shares(phase, clients, &outcomes)
    } else {
        Vec::new()
    };
    // Over HTTP/2 the bytes and connections are the pool's (its connections are shared), the
    // requests the clients' own.
    if let Some(pool) = &phase.http2 {
        pool.close().await;
        wire += pool.totals();
    }
    let delivered = sequence.delivered;
    let connected = drained.connected;
    let server = match samples {
        [Some(b), Some(c), Some(d)] => Some(ServerUsage {
            before_connect: b,
            after_connect: c,
            after_drain: d,
            cpu_us_per_message: per(d.cpu_us.saturating_sub(c.cpu_us), delivered),
            rss_bytes_per_connection: per(c.rss_kib.saturating_sub(b.rss_kib) * 1024, connected),
        }),
        _ => None,
    };
    let redis = match redis {
        [Some(before), Some(after)] => Some(RedisUsage {
            before_publish_cpu_us: before,
            after_drain_cpu_us: after,
            cpu_us_per_message: per(after.saturating_sub(before), delivered),
        }),
        _ => None,
    };
    TransportReport {
        transport: phase.transport,
        http2: phase.http2.is_some(),
        run_id: phase.run.clone(),
        clients,
        connected,
        failed: clients - connected.min(clients),
        warmup_messages: warmup,
        published: drained.accepted,
        publish_errors: publisher.errors.load(Ordering::Relaxed),
        first_publish_error: publisher.first_error.lock().ok().and_then(|e| e.clone()),
        publish_lag_max_us: publisher.lag_max_us.load(Ordering::Relaxed),
        publish_round_trip: {
            let mut summary = publisher.round_trips.snapshot().summary();
            summary.cdf.clear();
            summary
        },
        expected_deliveries: drained.expected,
        sequence,
        rooms,
        servers,
        missed_by_gap: missed,
        reconnects,
        clients_with_errors: with_errors,
        first_error,
        latency: phase.histogram.snapshot().summary(),
        wire,
        subscribe_wire,
        per_message: PerMessage {
            bytes_down: per(wire.bytes_down, delivered),
            bytes_up: per(wire.bytes_up, delivered),
            requests: per(wire.requests, delivered),
        },
        publisher_wire: publisher.counters.totals(),
        server,
        redis,
        connect_s,
        publish_s,
        drain_s: drained.seconds,
    }
}

/// Each room's clients and deliveries, in room order.
fn room_reports(
    phase: &Phase,
    clients: u64,
    drained: &Drained,
    outcomes: &[ClientOutcome],
) -> Vec<RoomReport> {
    let rooms = phase.rooms;
    (0..rooms.count())
        .map(|room| {
            let mut sequence = SequenceReport::default();
            for o in outcomes.iter().filter(|o| o.room == room) {
                sequence.add(&o.sequence);
            }
            let at = room as usize;
            let published = drained.accepted_by_room.get(at).copied().unwrap_or(0);
            let connected = drained.connected_by_room.get(at).copied().unwrap_or(0);
            RoomReport {
                room: rooms.name(room),
                clients: rooms.share(room, clients),
                connected,
                published,
                expected_deliveries: published * connected,
                sequence,
            }
        })
        .collect()
}

/// Each server's clients and deliveries, in the subscribe list's order.
fn server_shares(phase: &Phase, clients: u64, outcomes: &[ClientOutcome]) -> Vec<ServerShare> {
    let count = phase.servers.len();
    phase
        .servers
        .iter()
        .enumerate()
        .map(|(index, server)| {
            let mut sequence = SequenceReport::default();
            for o in outcomes.iter().filter(|o| o.server == index) {
                sequence.add(&o.sequence);
            }
            ServerShare {
                index,
                url: format!("{}{}", server.url.origin(), server.url.path_and_query),
                node: server.node.clone(),
                clients: servers::share(index, clients, phase.rooms, count),
                connected: phase.connected_by_server[index].load(Ordering::Relaxed),
                sequence,
            }
        })
        .collect()
}
