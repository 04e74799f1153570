//! Orchestration of a run: for each transport, one phase of four steps, each in its own module:
//! [`connect`] the clients, [`publish`] on schedule, [`drain`], [`collect`].
//!
//! Transports run one after another, never together, so each one's latency, bytes and server CPU
//! are its own. Each phase has its own run id, and its clients subscribe from the newest id before
//! the phase (its room's, with `--rooms`), so a slow connector still receives every message and
//! nothing from an earlier phase is counted.
//!
//! Everything is bounded: client and message counts by the CLI limits, each phase's connect and
//! drain by timeouts, and the whole run by `--max-seconds`; Ctrl-C stops the same way and the
//! figures measured so far are still reported.

pub mod collect;
pub mod connect;
pub mod drain;
pub mod progress;
pub mod publish;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use protocol::Transport;
use protocol::headers;
use tokio_util::sync::CancellationToken;

use crate::cli::{RunArgs, TransportArg};
use crate::clients::Phase;
use crate::latency::SharedHistogram;
use crate::probe::{Clock, Finder};
use crate::publish_log::PublishLog;
use crate::redis::Redis;
use crate::report::{RunReport, Settings, TransportReport};
use crate::rooms::Rooms;
use crate::servers::{self, Server};
use crate::sysinfo::{self, MachineInfo};
use crate::target::{self, HttpUrl};
use progress::Progress;

/// Pause between phases, so the server has closed the previous phase's connections.
const BETWEEN_PHASES: Duration = Duration::from_millis(500);

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
    // Every URL is parsed and resolved (and so checked for loopback) before the first byte.
    let bases = parse_list(&args.url, "--url")?;
    let mut base_addrs = Vec::with_capacity(bases.len());
    for base in &bases {
        base_addrs.push(target::resolve(base, args.allow_remote).await?);
    }
    let publish_urls = match &args.publish_url {
        Some(list) => parse_list(list, "--publish-url")?,
        None => bases
            .iter()
            .map(|base| HttpUrl {
                path_and_query: "/api/messages?user=loadtest".into(),
                ..base.clone()
            })
            .collect(),
    };
    let mut publish_to = Vec::with_capacity(publish_urls.len());
    for url in publish_urls {
        let addr = target::resolve(&url, args.allow_remote).await?;
        publish_to.push((url, addr));
    }
    if publish_to.len() as u64 > publish::publisher_count(args) {
        bail!(
            "--publishers {} is fewer than the {} publish URLs: each URL needs a publisher \
             connection of its own",
            publish::publisher_count(args),
            publish_to.len()
        );
    }
    // Which server each base URL is, on a shared bus (asked once: names do not change); a
    // server other than transport-lab is not asked.
    let mut nodes = Vec::with_capacity(bases.len());
    for (base, addr) in bases.iter().zip(&base_addrs) {
        let lab = args.subscribe_url.is_none();
        nodes.push(if lab {
            connect::node_name(*addr, base).await
        } else {
            None
        });
    }
    let subscribe_servers = match &args.subscribe_url {
        Some(list) => servers::split(list).len(),
        None => bases.len(),
    };
    if args.h2.http2 && subscribe_servers > 1 {
        bail!(
            "--http2 drives one server (its connections are shared by groups of clients): give one subscribe URL"
        );
    }
    let redis = match &args.redis_url {
        Some(url) => {
            let redis = Redis::resolve(url, args.allow_remote).await?;
            // Read once now, so a wrong URL stops the run before any load.
            redis.cpu_us().await?;
            Some(redis)
        }
        None => None,
    };
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

    let mut transports = args.transport.transports();
    if args.h2.http2 {
        let named = args.transport != TransportArg::All;
        transports = crate::http2::selected(transports, named).map_err(anyhow::Error::msg)?;
    }
    let mut reports = Vec::new();
    let mut interrupted = None;
    for (i, transport) in transports.into_iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        if i > 0 {
            tokio::time::sleep(BETWEEN_PHASES).await;
        }
        let run = format!("{run_base}{}", (b'a' + i as u8) as char);
        let subscribe_to = match &args.subscribe_url {
            Some(list) => {
                let urls = parse_list(
                    &list.replace("{transport}", transport.name()),
                    "--subscribe-url",
                )?;
                let mut to = Vec::with_capacity(urls.len());
                for url in urls {
                    let addr = target::resolve(&url, args.allow_remote).await?;
                    to.push((url, addr, None));
                }
                to
            }
            None => bases
                .iter()
                .zip(&base_addrs)
                .zip(&nodes)
                .map(|((base, addr), node)| {
                    let url = HttpUrl {
                        path_and_query: transport.path().into(),
                        ..base.clone()
                    };
                    (url, *addr, node.clone())
                })
                .collect(),
        };
        let setup = PhaseSetup {
            args,
            transport,
            run,
            subscribe_to,
            publish_to: publish_to.clone(),
            redis: redis.as_ref(),
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
            rooms: args.rooms,
            rate: args.rate,
            payload_bytes: args.payload_bytes,
            poll_interval_ms: args.poll_interval_ms,
            longpoll_timeout_s: args.longpoll_timeout_s,
            socketio_direct_ws: args.socketio_direct_ws,
            http2: args.h2.http2,
            h2_streams_per_conn: args.h2.http2.then_some(args.h2.h2_streams_per_conn),
            warmup_s: args.warmup_s,
            drain_s: args.drain_s,
            max_seconds: args.max_seconds,
            headers: args.headers,
            publishers: publish::publisher_count(args),
            server_pid: args.server_pid.clone(),
            redis_url: args.redis_url.clone(),
        },
        machine: MachineInfo::collect(),
        interrupted,
        transports: reports,
    })
}

/// Everything one phase needs from the run.
struct PhaseSetup<'a> {
    args: &'a RunArgs,
    transport: Transport,
    /// This phase's run id.
    run: String,
    /// The servers subscribers are spread over (with their node names), and publishers, in
    /// list order.
    subscribe_to: Vec<(HttpUrl, SocketAddr, Option<String>)>,
    publish_to: Vec<(HttpUrl, SocketAddr)>,
    redis: Option<&'a Redis>,
    progress: Progress,
    stop: CancellationToken,
}

/// One transport: connect, publish, drain, collect, with the server sampled between the steps.
async fn run_phase(setup: PhaseSetup<'_>) -> anyhow::Result<TransportReport> {
    let PhaseSetup {
        args,
        transport,
        run,
        subscribe_to,
        publish_to,
        redis,
        progress,
        stop,
    } = setup;
    let (first_url, first_addr) = (subscribe_to[0].0.clone(), subscribe_to[0].1);
    let lab = args.subscribe_url.is_none();
    let subscribe_count = subscribe_to.len();
    let rooms = Rooms::new(args.rooms);
    let start_cursors = if lab {
        // One server is enough: on one bus, ids and cursors are the same on every server.
        connect::newest_ids(first_addr, &first_url, rooms)
            .await?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; rooms.count() as usize]
    };
    let warmup = (args.warmup_s * args.rate).round() as u64;
    let capacity = warmup + args.messages;
    // What a page would use: `fetch()` for the polls and for reading the stream's body.
    let kind = transport.request_kind();
    let http2 = args.h2.http2.then(|| {
        crate::http2::Pool::new(
            first_addr,
            first_url.authority(),
            args.clients,
            args.h2.h2_streams_per_conn,
        )
    });
    let phase = Arc::new(Phase {
        transport,
        servers: subscribe_to
            .into_iter()
            .map(|(url, addr, node)| Server {
                headers: headers::request_headers(args.headers, kind, &url.origin(), None),
                url,
                addr,
                node,
            })
            .collect(),
        profile: args.headers,
        socketio_direct_ws: args.socketio_direct_ws,
        lab,
        finder: Finder::new(&run),
        run,
        capacity,
        measured_from: warmup,
        rooms,
        start_cursors,
        publish_log: Arc::new(PublishLog::new(capacity)),
        clock: Clock::new(),
        histogram: SharedHistogram::new(),
        poll_interval: Duration::from_millis(args.poll_interval_ms),
        longpoll_timeout_s: args.longpoll_timeout_s,
        connected: AtomicU64::new(0),
        connected_by_room: (0..rooms.count()).map(|_| AtomicU64::new(0)).collect(),
        connected_by_server: (0..subscribe_count).map(|_| AtomicU64::new(0)).collect(),
        failed: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        stop: stop.child_token(),
        http2,
    });
    let ticks = sysinfo::clock_ticks();
    let sample = || sysinfo::sample_all(&args.server_pid, ticks);

    let before_connect = sample();
    let connected =
        connect::connect(&phase, args.clients, args.connect_concurrency, progress).await?;
    let after_connect = sample();
    let redis_before = redis_cpu(redis).await;
    let (publisher, publish_s) = publish::publish(&phase, args, publish_to, progress).await;
    let drained = drain::drain(&phase, args.drain_s, progress).await;
    let after_drain = sample();
    let redis_after = redis_cpu(redis).await;
    Ok(collect::collect(collect::Steps {
        phase: &phase,
        clients: args.clients,
        warmup,
        handles: connected.handles,
        publisher: &publisher,
        drained,
        samples: [before_connect, after_connect, after_drain],
        redis: [redis_before, redis_after],
        connect_s: connected.seconds,
        publish_s,
    })
    .await)
}

/// A list flag's URLs, parsed; at least one.
fn parse_list(list: &str, flag: &str) -> anyhow::Result<Vec<HttpUrl>> {
    let urls = servers::split(list)
        .into_iter()
        .map(HttpUrl::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        bail!("{flag} names no URL");
    }
    Ok(urls)
}

/// Redis's CPU time now, if there is a Redis to read; a failed reading is said and left out.
async fn redis_cpu(redis: Option<&Redis>) -> Option<u64> {
    match redis?.cpu_us().await {
        Ok(us) => Some(us),
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_short_hex() {
        let id = run_id();
        assert_eq!(id.len(), 8);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
