//! `loadtest cluster`: issue #19's "beyond one machine" comparison in one command. Three set-ups
//! side by side, each with servers (and a Redis) of its own, started here and stopped after it:
//!
//! 1. one server, memory bus (transport-lab's default);
//! 2. one server, Redis bus (`--bus redis://...`): the same work, plus the round trip through
//!    Redis;
//! 3. two servers, Redis bus: subscribers and publishers spread over both (see [`crate::servers`]),
//!    so most messages are published on one server and delivered by the other.
//!
//! Every transport chosen runs as an ordinary phase against each set-up, with `--server-pid`
//! (every server of the set-up, summed) and `--redis-url`, so a row has p50 and p99, loss /
//! duplication / order across servers, server CPU per delivery and Redis CPU per delivery. "The
//! backplane adds" is a Redis row's p50 less the memory row's p50 of the same transport and
//! round. With `--rounds N` the set-ups take turns N times (so a burst of other work on a shared
//! machine falls on all of them) and the table shows medians; lost, dup and reord are summed.
//!
//! Without `redis-server` (or a transport-lab without `--bus`), the Redis rows are skipped and
//! the table says why; the memory row still runs.

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cli::{ClusterArgs, Http2Args, RunArgs, TransportArg};
use crate::report::RunReport;
use crate::report::table::human_us;
use crate::servers::LIST_SEPARATOR;
use crate::spawn::{LabServer, RedisServer};

/// Per run (one transport of one set-up) cap, seconds.
const RUN_CAP_S: f64 = 120.0;

/// Where messages meet: transport-lab's `--bus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bus {
    Memory,
    Redis,
}

/// One column of the comparison: how many servers, on which bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Setup {
    pub servers: usize,
    pub bus: Bus,
}

impl Setup {
    /// How tables name it: `2 servers, Redis bus`.
    pub fn label(self) -> String {
        let servers = match self.servers {
            1 => "1 server".to_owned(),
            n => format!("{n} servers"),
        };
        let bus = match self.bus {
            Bus::Memory => "memory bus",
            Bus::Redis => "Redis bus",
        };
        format!("{servers}, {bus}")
    }
}

/// The three set-ups, in the order they run (and are tabled) each round.
pub const SETUPS: [Setup; 3] = [
    Setup {
        servers: 1,
        bus: Bus::Memory,
    },
    Setup {
        servers: 1,
        bus: Bus::Redis,
    },
    Setup {
        servers: 2,
        bus: Bus::Redis,
    },
];

/// One transport against one set-up in one round.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRun {
    pub setup: Setup,
    /// From 1.
    pub round: u32,
    /// The servers' base URLs, as they logged them.
    pub urls: Vec<String>,
    pub report: RunReport,
}

/// Everything a cluster command measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub runs: Vec<ClusterRun>,
    /// Why the Redis rows are missing, if they are.
    pub redis_skipped: Option<String>,
    pub rounds: u32,
}

/// Runs every set-up (each round) and every transport; stops early, with what it has, if `stop`
/// fires.
pub async fn cluster(args: &ClusterArgs, stop: CancellationToken) -> anyhow::Result<ClusterReport> {
    let mut transports: Vec<_> = args.transport.iter().flat_map(|t| t.transports()).collect();
    let mut seen = Vec::new();
    transports.retain(|t| {
        let new = !seen.contains(t);
        seen.push(*t);
        new
    });
    let mut report = ClusterReport {
        runs: Vec::new(),
        redis_skipped: None,
        rounds: args.rounds,
    };
    for round in 1..=args.rounds {
        for setup in SETUPS {
            if stop.is_cancelled() {
                return Ok(report);
            }
            if setup.bus == Bus::Redis && report.redis_skipped.is_some() {
                continue;
            }
            let redis = match setup.bus {
                Bus::Memory => None,
                Bus::Redis => {
                    let bin = args.redis_server.clone();
                    match tokio::task::spawn_blocking(move || RedisServer::start(&bin)).await? {
                        Ok(redis) => Some(redis),
                        Err(e) => {
                            let why = format!("{e:#}");
                            eprintln!("SKIPPED: the Redis rows ({why})");
                            report.redis_skipped = Some(why);
                            continue;
                        }
                    }
                }
            };
            let servers = match start_servers(&args.server_bin, setup, redis.as_ref()).await {
                Ok(servers) => servers,
                Err(e) if setup.bus == Bus::Redis => {
                    let why = format!("{e:#} (does this transport-lab have --bus?)");
                    eprintln!("SKIPPED: the Redis rows ({why})");
                    report.redis_skipped = Some(why);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
            if !args.quiet {
                eprintln!(
                    "round {round}: {} at {}",
                    setup.label(),
                    urls.join(&LIST_SEPARATOR.to_string())
                );
            }
            for &transport in &transports {
                if stop.is_cancelled() {
                    break;
                }
                let run_args = run_args(
                    args,
                    &urls,
                    TransportArg::One(transport),
                    servers.iter().map(|s| s.pid).collect(),
                    redis.as_ref().map(RedisServer::url),
                );
                let run = crate::run::run(&run_args, stop.child_token()).await?;
                if !args.quiet {
                    println!("{}", crate::report::table::render(&run));
                }
                report.runs.push(ClusterRun {
                    setup,
                    round,
                    urls: urls.clone(),
                    report: run,
                });
            }
            // Servers, then their Redis, go as the guards drop.
            drop(servers);
            drop(redis);
        }
    }
    Ok(report)
}

/// The set-up's servers: `--bus` and `--node` for a Redis bus, nothing for the memory bus (a
/// transport-lab from before `--bus` runs that row too).
async fn start_servers(
    bin: &Path,
    setup: Setup,
    redis: Option<&RedisServer>,
) -> anyhow::Result<Vec<LabServer>> {
    let mut servers = Vec::with_capacity(setup.servers);
    for k in 0..setup.servers {
        let mut flags = Vec::new();
        if let Some(redis) = redis {
            flags.extend(["--bus".to_owned(), redis.url()]);
            flags.extend(["--node".to_owned(), format!("node-{}", k + 1)]);
        }
        servers.push(LabServer::start(bin, &flags).await?);
    }
    Ok(servers)
}

/// One run's settings: the set-up's servers as the URL list, every server sampled.
fn run_args(
    args: &ClusterArgs,
    urls: &[String],
    transport: TransportArg,
    server_pid: Vec<u32>,
    redis_url: Option<String>,
) -> RunArgs {
    RunArgs {
        url: urls.join(&LIST_SEPARATOR.to_string()),
        transport,
        clients: args.clients,
        messages: args.messages,
        rooms: 1,
        rate: args.rate,
        payload_bytes: 40,
        poll_interval_ms: 250,
        longpoll_timeout_s: 25,
        socketio_direct_ws: false,
        h2: Http2Args {
            http2: false,
            h2_streams_per_conn: crate::http2::DEFAULT_STREAMS_PER_CONN,
        },
        warmup_s: 0.0,
        drain_s: 10.0,
        max_seconds: RUN_CAP_S,
        server_pid,
        redis_url,
        headers: protocol::HeaderProfile::Browser,
        publishers: 0,
        connect_concurrency: 64,
        publish_url: None,
        subscribe_url: None,
        allow_remote: false,
        json: None,
        report: None,
        quiet: args.quiet,
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` if empty.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// One row of the table: a transport on a set-up, over its rounds.
struct Row<'a> {
    transport: protocol::Transport,
    setup: Setup,
    runs: Vec<&'a ClusterRun>,
}

/// The Markdown table: one row per transport and set-up.
pub fn markdown(report: &ClusterReport, command: &str) -> String {
    let mut md = String::new();
    let Some(first) = report.runs.first() else {
        return "No runs completed.\n".to_owned();
    };
    let m = &first.report.machine;
    let s = &first.report.settings;
    let _ = writeln!(
        md,
        "Command: `{command}`  \nMachine: {}; {}; loadtest {}.  \nSettings: {} subscribers, {} \
         messages at {} msg/s per transport, {}-byte payload, browser-like headers; {} round(s), \
         each set-up with fresh servers (and a fresh Redis) of its own, the set-ups taking turns; \
         servers, Redis and loadtest on the same machine over loopback. p50, p99 and CPU are \
         medians over the rounds; delivered, lost, dup and reord are summed. Backplane adds: \
         the median over rounds of the row's p50 less the memory row's p50 of the same round \
         (so not always the difference of the two p50 columns). CPU per delivery: CPU time \
         from the start of publishing to the end of the drain (servers: /proc, all servers \
         summed; Redis: INFO cpu), divided by deliveries.\n",
        m.one_line(),
        m.rustc.as_deref().unwrap_or("rustc unknown"),
        m.loadtest_version,
        s.clients,
        s.messages,
        s.rate,
        s.payload_bytes,
        report.rounds,
    );
    md.push_str(
        "| transport | set-up | subscribers per server | delivered | lost | dup | reord | p50 | p99 \
         | backplane adds (p50) | server CPU µs/delivery | Redis CPU µs/delivery |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in rows(report) {
        let transports: Vec<_> = row
            .runs
            .iter()
            .filter_map(|r| r.report.transports.first())
            .collect();
        let sum = |f: &dyn Fn(&crate::report::TransportReport) -> u64| -> u64 {
            transports.iter().map(|t| f(t)).sum()
        };
        let med = |f: &dyn Fn(&crate::report::TransportReport) -> Option<f64>| {
            median(transports.iter().filter_map(|t| f(t)).collect())
        };
        let spread = transports.last().map_or("-".to_owned(), |t| {
            if t.servers.is_empty() {
                t.connected.to_string()
            } else {
                t.servers
                    .iter()
                    .map(|s| s.connected.to_string())
                    .collect::<Vec<_>>()
                    .join(" + ")
            }
        });
        let p50 = med(&|t| Some(t.latency.p50_us as f64));
        let p99 = med(&|t| Some(t.latency.p99_us as f64));
        let adds = match row.setup.bus {
            Bus::Memory => "-".to_owned(),
            Bus::Redis => backplane_adds(report, &row)
                .map_or("-".to_owned(), |us| format!("{:+.1}ms", us / 1000.0)),
        };
        let cpu = med(&|t| t.server.as_ref().map(|s| s.cpu_us_per_message));
        let redis = med(&|t| t.redis.as_ref().map(|r| r.cpu_us_per_message));
        let figure = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        let _ = writeln!(
            md,
            "| {} | {} | {spread} | {}/{} | {} | {} | {} | {} | {} | {adds} | {} | {} |",
            row.transport.name(),
            row.setup.label(),
            sum(&|t| t.sequence.delivered),
            sum(&|t| t.expected_deliveries),
            sum(&|t| t.sequence.lost),
            sum(&|t| t.sequence.duplicated),
            sum(&|t| t.sequence.reordered),
            p50.map_or("-".to_owned(), |us| human_us(us.round() as u64)),
            p99.map_or("-".to_owned(), |us| human_us(us.round() as u64)),
            figure(cpu),
            figure(redis),
        );
    }
    if let Some(why) = &report.redis_skipped {
        let _ = writeln!(md, "\nThe Redis rows were skipped: {why}.");
    }
    for run in &report.runs {
        if let Some(why) = &run.report.interrupted {
            let _ = writeln!(
                md,
                "\n({} round {} stopped early: {why})",
                run.setup.label(),
                run.round
            );
        }
    }
    md
}

/// The rows in table order: per transport (in the order run), the set-ups in [`SETUPS`] order.
fn rows(report: &ClusterReport) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = Vec::new();
    for run in &report.runs {
        let Some(t) = run.report.transports.first() else {
            continue;
        };
        match rows
            .iter_mut()
            .find(|r| r.transport == t.transport && r.setup == run.setup)
        {
            Some(row) => row.runs.push(run),
            None => rows.push(Row {
                transport: t.transport,
                setup: run.setup,
                runs: vec![run],
            }),
        }
    }
    let order = |r: &Row<'_>| {
        let transport = report.runs.iter().position(|run| {
            run.report.transports.first().map(|t| t.transport) == Some(r.transport)
        });
        let setup = SETUPS.iter().position(|s| *s == r.setup);
        (transport, setup)
    };
    rows.sort_by_key(order);
    rows
}

/// The median over rounds of this Redis row's p50 less the memory row's p50, same transport and
/// round, µs.
fn backplane_adds(report: &ClusterReport, row: &Row<'_>) -> Option<f64> {
    let memory_p50 = |round: u32| {
        report.runs.iter().find_map(|run| {
            let t = run.report.transports.first()?;
            (run.round == round && run.setup.bus == Bus::Memory && t.transport == row.transport)
                .then_some(t.latency.p50_us as f64)
        })
    };
    median(
        row.runs
            .iter()
            .filter_map(|run| {
                let t = run.report.transports.first()?;
                Some(t.latency.p50_us as f64 - memory_p50(run.round)?)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn setups_name_themselves() {
        let labels: Vec<String> = SETUPS.iter().map(|s| s.label()).collect();
        assert_eq!(
            labels,
            [
                "1 server, memory bus",
                "1 server, Redis bus",
                "2 servers, Redis bus"
            ]
        );
    }
}
