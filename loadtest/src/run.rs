//! Orchestration of a run: for each transport, connect the clients, publish, drain, collect.
//!
//! Transports run one after another, never together, so each one's latency, bytes and server CPU
//! are its own. Each phase has its own run id, and its clients subscribe from the newest id before
//! the phase, so a slow connector still receives every message and nothing from an earlier phase
//! is counted.
//!
//! The publisher schedules message `seq` at `start + seq / rate` (its *intended* send time) and
//! stamps that time into the probe. If the publisher falls behind (a slow POST answer), the next
//! messages go out late but keep their intended times, so the delay shows up in the latency
//! figures instead of silently lowering the load: coordinated omission is measured, not hidden.
//!
//! Everything is bounded: client and message counts by the CLI limits, each phase's connect and
//! drain by timeouts, and the whole run by `--max-seconds`; Ctrl-C stops the same way and the
//! figures measured so far are still reported.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::clients::{self, ClientOutcome, Phase, Transport};
use crate::headers::{self, HeaderProfile, RequestKind};
use crate::http1::{Connection, HttpUrl};
use crate::latency::SharedHistogram;
use crate::probe::{self, Clock, Finder};
use crate::report::{PerMessage, RunReport, ServerUsage, Settings, TransportReport, per};
use crate::sequence::SequenceReport;
use crate::sysinfo::{self, MachineInfo};
use crate::wire::{WireCounters, WireTotals};

/// How long the connect phase may take before the run goes on with whoever connected.
const CONNECT_PHASE_LIMIT: Duration = Duration::from_secs(60);
/// How long clients get to wind down after being told to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Pause between phases, so the server has closed the previous phase's connections.
const BETWEEN_PHASES: Duration = Duration::from_millis(500);
/// Progress refresh period.
const TICK: Duration = Duration::from_millis(100);
/// Publisher connections with `--publishers 0`. A loaded server answers a POST only after much of
/// the fan-out work (tens of milliseconds with a thousand subscribers on two cores), so a few
/// sequential connections would fall behind the schedule and measure the publisher instead of
/// the server; 16 in flight keep 200 msg/s on time up to an 80 ms round trip.
const AUTO_PUBLISHERS: u64 = 16;

/// Which sequence numbers the server accepted, and each one's ordering floor.
pub struct PublishLog {
    /// `floors[seq]`: every sequence number up to this one was acknowledged before `seq` was
    /// sent, so must be delivered before it. `NONE` if nothing was (or `seq` not sent yet).
    floors: Vec<AtomicU64>,
    accepted: Vec<AtomicBool>,
    /// Contiguous completion watermark: (sequence numbers 0..n all completed, completed above n).
    completed: Mutex<(u64, std::collections::BTreeSet<u64>)>,
}

const NONE: u64 = u64::MAX;

impl PublishLog {
    pub fn new(capacity: u64) -> Self {
        Self {
            floors: (0..capacity).map(|_| AtomicU64::new(NONE)).collect(),
            accepted: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            completed: Mutex::new((0, std::collections::BTreeSet::new())),
        }
    }

    pub fn floor(&self, seq: u64) -> Option<u64> {
        let floor = self.floors.get(seq as usize)?.load(Ordering::Acquire);
        (floor != NONE).then_some(floor)
    }

    pub fn accepted(&self, seq: u64) -> bool {
        self.accepted
            .get(seq as usize)
            .is_some_and(|a| a.load(Ordering::Acquire))
    }

    pub fn accepted_count(&self) -> u64 {
        self.accepted
            .iter()
            .filter(|a| a.load(Ordering::Acquire))
            .count() as u64
    }

    /// Called just before `seq` is sent: fixes its floor from what has completed.
    fn sending(&self, seq: u64) {
        let done = self.lock().0;
        if let Some(slot) = self.floors.get(seq as usize) {
            slot.store(done.checked_sub(1).unwrap_or(NONE), Ordering::Release);
        }
    }

    /// Called when `seq`'s POST has its answer (or failed for good).
    fn completed(&self, seq: u64, accepted: bool) {
        if accepted && let Some(slot) = self.accepted.get(seq as usize) {
            slot.store(true, Ordering::Release);
        }
        let mut guard = self.lock();
        let (done, above) = &mut *guard;
        above.insert(seq);
        while above.remove(done) {
            *done += 1;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, std::collections::BTreeSet<u64>)> {
        self.completed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Refuses anything but loopback unless `allow_remote`.
pub fn check_target(url: &HttpUrl, allow_remote: bool) -> anyhow::Result<()> {
    let loopback = url.host.eq_ignore_ascii_case("localhost")
        || url.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        bail!(
            "refusing to load-test {}: only loopback targets (127.0.0.0/8, ::1, localhost) \
             unless --allow-remote is given",
            url.host
        );
    }
    Ok(())
}

/// Resolves a URL's host, preferring IPv4 (servers commonly bind 127.0.0.1 only).
async fn resolve(url: &HttpUrl, allow_remote: bool) -> anyhow::Result<SocketAddr> {
    check_target(url, allow_remote)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .with_context(|| format!("resolving {}", url.host))?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("{} resolves to nothing", url.host))?;
    if !allow_remote && !addr.ip().is_loopback() {
        bail!("{} resolved to non-loopback {addr}", url.host);
    }
    Ok(addr)
}

/// Progress bars, or nothing when quiet or not on a terminal.
#[derive(Clone, Copy)]
struct Progress {
    visible: bool,
}

impl Progress {
    fn bar(&self, len: u64, label: String) -> ProgressBar {
        if !self.visible {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        // The template is a constant; fall back to the default style if indicatif rejects it.
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>18} [{bar:40.cyan/blue}] {pos}/{len} {msg} ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label);
        bar
    }
}

/// A short random-enough id: time and pid mixed, hex. Two runs in the same microsecond by the
/// same process are the only collision, and a run never overlaps itself.
fn run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = now ^ (u64::from(std::process::id()) << 32);
    // splitmix64 finaliser: spreads the bits so ids of close runs look unrelated.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    format!("{:08x}", x as u32)
}

/// Runs every selected transport and returns the report. `stop` ends the run early (Ctrl-C);
/// `--max-seconds` does the same from inside.
pub async fn run(args: &RunArgs, stop: CancellationToken) -> anyhow::Result<RunReport> {
    let progress = Progress {
        visible: !args.quiet && std::io::stdout().is_terminal(),
    };
    let base = HttpUrl::parse(&args.url)?;
    let publish_url = match &args.publish_url {
        Some(u) => HttpUrl::parse(u)?,
        None => HttpUrl {
            path_and_query: "/api/messages?user=loadtest".into(),
            ..base.clone()
        },
    };
    let publish_addr = resolve(&publish_url, args.allow_remote).await?;
    let base_addr = resolve(&base, args.allow_remote).await?;
    let run_base = run_id();
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);

    // The global bound: --max-seconds stops everything like Ctrl-C does.
    let deadline_stop = stop.clone();
    let max = Duration::from_secs_f64(args.max_seconds);
    let deadline = tokio::spawn(async move {
        tokio::time::sleep(max).await;
        deadline_stop.cancel();
    });
    let run_started = Instant::now();

    let mut reports = Vec::new();
    let mut interrupted = None;
    for (i, transport) in args.transport.transports().into_iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        if i > 0 {
            tokio::time::sleep(BETWEEN_PHASES).await;
        }
        let run = format!("{run_base}{}", (b'a' + i as u8) as char);
        let sub_url = match &args.subscribe_url {
            Some(u) => HttpUrl::parse(&u.replace("{transport}", transport.name()))?,
            None => HttpUrl {
                path_and_query: transport.path().into(),
                ..base.clone()
            },
        };
        let sub_addr = if args.subscribe_url.is_some() {
            resolve(&sub_url, args.allow_remote).await?
        } else {
            base_addr
        };
        let setup = PhaseSetup {
            args,
            transport,
            run,
            sub_url,
            sub_addr,
            publish_url: publish_url.clone(),
            publish_addr,
            progress,
            stop: stop.clone(),
        };
        let report = run_phase(setup).await?;
        reports.push(report);
    }
    if stop.is_cancelled() {
        interrupted = Some(if run_started.elapsed() >= max {
            format!("--max-seconds {} reached", args.max_seconds)
        } else {
            "interrupted (Ctrl-C)".to_owned()
        });
    }
    deadline.abort();
    Ok(RunReport {
        tool: "loadtest",
        run_id: run_base,
        started_unix_ms,
        settings: Settings {
            url: args.url.clone(),
            publish_url: args.publish_url.clone(),
            subscribe_url: args.subscribe_url.clone(),
            clients: args.clients,
            messages: args.messages,
            rate: args.rate,
            payload_bytes: args.payload_bytes,
            poll_interval_ms: args.poll_interval_ms,
            longpoll_timeout_s: args.longpoll_timeout_s,
            warmup_s: args.warmup_s,
            drain_s: args.drain_s,
            max_seconds: args.max_seconds,
            headers: args.headers,
            publishers: publisher_count(args),
            server_pid: args.server_pid,
        },
        machine: MachineInfo::collect(),
        interrupted,
        transports: reports,
    })
}

fn publisher_count(args: &RunArgs) -> u64 {
    if args.publishers > 0 {
        args.publishers
    } else {
        AUTO_PUBLISHERS
    }
}

struct PhaseSetup<'a> {
    args: &'a RunArgs,
    transport: Transport,
    run: String,
    sub_url: HttpUrl,
    sub_addr: SocketAddr,
    publish_url: HttpUrl,
    publish_addr: SocketAddr,
    progress: Progress,
    stop: CancellationToken,
}

/// The newest message id (transport-lab's short poll without a cursor answers with `last_id`).
async fn newest_id(addr: SocketAddr, url: &HttpUrl) -> anyhow::Result<u64> {
    let mut conn = Connection::connect(addr, WireCounters::new()).await?;
    let headers = headers::request_headers(
        HeaderProfile::Curl,
        RequestKind::Fetch,
        &url.authority(),
        &url.origin(),
        None,
    );
    conn.send_request("GET", "/api/poll?client=loadtest-setup", &headers, None)
        .await?;
    let head = conn.read_head(false).await?;
    let body = conn.read_body(&head).await?;
    if head.status != 200 {
        bail!(
            "GET /api/poll answered {}: is {} a transport-lab server? (use --publish-url and \
             --subscribe-url for others)",
            head.status,
            url.origin()
        );
    }
    let answer: clients::short_poll::PollAnswer =
        serde_json::from_slice(&body).context("GET /api/poll did not answer poll JSON")?;
    answer
        .last_id
        .context("GET /api/poll answer has no last_id")
}

async fn run_phase(setup: PhaseSetup<'_>) -> anyhow::Result<TransportReport> {
    let PhaseSetup {
        args,
        transport,
        run,
        sub_url,
        sub_addr,
        publish_url,
        publish_addr,
        progress,
        stop,
    } = setup;
    let lab = args.subscribe_url.is_none();
    let start_cursor = if lab {
        Some(newest_id(sub_addr, &sub_url).await?)
    } else {
        None
    };
    let warmup = (args.warmup_s * args.rate).round() as u64;
    let capacity = warmup + args.messages;
    let kind = match transport {
        Transport::ShortPoll | Transport::LongPoll => RequestKind::Fetch,
        Transport::Stream => RequestKind::Stream,
        Transport::Sse => RequestKind::EventSource,
        Transport::Ws => RequestKind::WebSocket,
    };
    let phase = Arc::new(Phase {
        transport,
        addr: sub_addr,
        headers: headers::request_headers(
            args.headers,
            kind,
            &sub_url.authority(),
            &sub_url.origin(),
            None,
        ),
        url: sub_url,
        lab,
        finder: Finder::new(&run),
        run: run.clone(),
        capacity,
        measured_from: warmup,
        start_cursor,
        publish_log: Arc::new(PublishLog::new(capacity)),
        clock: Clock::new(),
        histogram: SharedHistogram::new(),
        poll_interval: Duration::from_millis(args.poll_interval_ms),
        longpoll_timeout_s: args.longpoll_timeout_s,
        connected: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        stop: stop.child_token(),
    });
    let ticks = sysinfo::clock_ticks();
    let sample = |pid: Option<u32>| pid.and_then(|pid| sysinfo::sample(pid, ticks));
    let before_connect = sample(args.server_pid);

    // Connect.
    let label = transport.name();
    let t0 = Instant::now();
    let bar = progress.bar(args.clients, format!("{label} connect"));
    let slots = Arc::new(Semaphore::new(args.connect_concurrency as usize));
    let mut handles: Vec<JoinHandle<ClientOutcome>> = Vec::with_capacity(args.clients as usize);
    for index in 0..args.clients {
        let permit = tokio::select! {
            () = phase.stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.context("connect semaphore closed")?,
        };
        let p = phase.clone();
        handles.push(tokio::spawn(async move {
            match p.transport {
                Transport::ShortPoll => clients::short_poll::run(p.clone(), index, permit).await,
                Transport::LongPoll => clients::long_poll::run(p.clone(), index, permit).await,
                Transport::Stream => clients::stream::run(p.clone(), index, permit).await,
                Transport::Sse => clients::sse::run(p.clone(), index, permit).await,
                Transport::Ws => clients::ws::run(p.clone(), index, permit).await,
            }
        }));
        bar.set_position(phase.connected.load(Ordering::Relaxed));
    }
    let connect_limit = Instant::now() + CONNECT_PHASE_LIMIT;
    loop {
        let connected = phase.connected.load(Ordering::Relaxed);
        let failed = phase.failed.load(Ordering::Relaxed);
        bar.set_position(connected);
        if connected + failed >= handles.len() as u64
            || Instant::now() >= connect_limit
            || phase.stop.is_cancelled()
        {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    bar.finish();
    let connect_s = t0.elapsed().as_secs_f64();
    let after_connect = sample(args.server_pid);

    // Publish.
    let t1 = Instant::now();
    let bar = progress.bar(capacity, format!("{label} publish"));
    let publisher = Publisher {
        phase: phase.clone(),
        headers: headers::request_headers(
            args.headers,
            RequestKind::Fetch,
            &publish_url.authority(),
            &publish_url.origin(),
            Some("text/plain;charset=UTF-8"),
        ),
        url: publish_url,
        addr: publish_addr,
        rate: args.rate,
        payload_bytes: args.payload_bytes as usize,
        next: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        lag_max_us: AtomicU64::new(0),
        round_trips: SharedHistogram::new(),
        counters: WireCounters::new(),
        start_us: phase.clock.now_us() + 10_000,
    };
    let publisher = Arc::new(publisher);
    let mut pubs = Vec::new();
    for _ in 0..publisher_count(args) {
        let p = publisher.clone();
        pubs.push(tokio::spawn(async move { p.run().await }));
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
    let publish_s = t1.elapsed().as_secs_f64();

    // Drain.
    let t2 = Instant::now();
    let accepted = phase.publish_log.accepted_count();
    let connected = phase.connected.load(Ordering::Relaxed);
    let expected = accepted * connected;
    let bar = progress.bar(expected, format!("{label} drain"));
    let drain_until = Instant::now() + Duration::from_secs_f64(args.drain_s);
    loop {
        let delivered = phase.delivered.load(Ordering::Relaxed);
        bar.set_position(delivered.min(expected));
        if delivered >= expected || Instant::now() >= drain_until || phase.stop.is_cancelled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bar.finish();
    let drain_s = t2.elapsed().as_secs_f64();
    let after_drain = sample(args.server_pid);

    // Collect.
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
    let delivered = sequence.delivered;
    let server = match (before_connect, after_connect, after_drain) {
        (Some(b), Some(c), Some(d)) => Some(ServerUsage {
            before_connect: b,
            after_connect: c,
            after_drain: d,
            cpu_us_per_message: per(d.cpu_us.saturating_sub(c.cpu_us), delivered),
            rss_bytes_per_connection: per(c.rss_kib.saturating_sub(b.rss_kib) * 1024, connected),
        }),
        _ => None,
    };
    Ok(TransportReport {
        transport,
        run_id: run,
        clients: args.clients,
        connected,
        failed: args.clients - connected.min(args.clients),
        warmup_messages: warmup,
        published: accepted,
        publish_errors: publisher.errors.load(Ordering::Relaxed),
        publish_lag_max_us: publisher.lag_max_us.load(Ordering::Relaxed),
        publish_round_trip: {
            let mut summary = publisher.round_trips.snapshot().summary();
            summary.cdf.clear();
            summary
        },
        expected_deliveries: expected,
        sequence,
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
        connect_s,
        publish_s,
        drain_s,
    })
}

/// Posts the phase's messages on its schedule; several tasks may share one `Publisher`, each
/// with its own keep-alive connection, taking sequence numbers in order.
struct Publisher {
    phase: Arc<Phase>,
    url: HttpUrl,
    addr: SocketAddr,
    headers: Vec<(String, String)>,
    rate: f64,
    payload_bytes: usize,
    /// The next sequence number to take.
    next: AtomicU64,
    /// Publishes completed (accepted or not): publish progress.
    sent: AtomicU64,
    errors: AtomicU64,
    lag_max_us: AtomicU64,
    /// Round trip of each POST (request written to answer read): how responsive the server's
    /// publish path stays under each transport's load.
    round_trips: SharedHistogram,
    counters: Arc<WireCounters>,
    /// Intended send time of sequence number 0.
    start_us: u64,
}

impl Publisher {
    async fn run(&self) {
        let phase = &self.phase;
        let mut conn: Option<Connection> = None;
        let mut round_trips = self.round_trips.recorder();
        let path = self
            .url
            .with_param("client", &format!("lt-{}-pub", phase.run));
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
            phase.publish_log.sending(seq);
            let posted = Instant::now();
            let ok = tokio::select! {
                () = phase.stop.cancelled() => false,
                ok = self.post(&mut conn, &path, text.as_bytes()) => ok,
            };
            if ok {
                round_trips.record(posted.elapsed().as_micros() as u64);
            } else {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            phase.publish_log.completed(seq, ok);
            self.sent.fetch_add(1, Ordering::Relaxed);
            if phase.stop.is_cancelled() {
                break;
            }
        }
    }

    /// One POST; true if answered 2xx. Not retried: a POST that failed mid-flight may have been
    /// stored, and retrying could publish it twice.
    async fn post(&self, conn: &mut Option<Connection>, path: &str, body: &[u8]) -> bool {
        let c = match conn {
            Some(c) => c,
            None => match Connection::connect(self.addr, self.counters.clone()).await {
                Ok(c) => conn.insert(c),
                Err(_) => return false,
            },
        };
        let result = async {
            c.send_request("POST", path, &self.headers, Some(body))
                .await?;
            let head = c.read_head(false).await?;
            c.read_body(&head).await?;
            Ok::<_, crate::http1::HttpError>(head.status)
        }
        .await;
        match result {
            Ok(status) => {
                if !c.is_reusable() {
                    *conn = None;
                }
                (200..300).contains(&status)
            }
            Err(_) => {
                *conn = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_remote_targets() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(
                check_target(&HttpUrl::parse(ok).unwrap(), false).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "http://0.0.0.0:8080",
        ] {
            let url = HttpUrl::parse(bad).unwrap();
            assert!(check_target(&url, false).is_err(), "{bad}");
            assert!(check_target(&url, true).is_ok(), "{bad}");
        }
    }

    /// Out-of-order completions move the watermark only when the prefix is complete.
    #[test]
    fn publish_log_floors_follow_completions() {
        let log = PublishLog::new(4);
        log.sending(0);
        assert_eq!(log.floor(0), None);
        log.sending(1);
        log.sending(2);
        log.completed(2, true);
        log.sending(3);
        assert_eq!(log.floor(3), None);
        log.completed(0, true);
        log.completed(1, false);
        assert_eq!((log.floor(1), log.floor(2)), (None, None));
        log.sending(3);
        assert_eq!(log.floor(3), Some(2));
        assert_eq!(log.accepted_count(), 2);
        assert!(!log.accepted(1) && log.accepted(2) && !log.accepted(9));
    }

    #[test]
    fn run_ids_are_short_hex() {
        let id = run_id();
        assert_eq!(id.len(), 8);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
