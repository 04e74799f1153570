//! `loadtest bench`: the standard suite behind the README's numbers.
//!
//! Every transport at 100 and 1000 clients (by default), 40-byte payload, 200 msg/s, 2000
//! messages, browser headers; one `Markdown` table with the machine it ran on. Each client count
//! is one ordinary run (`--transport all`), capped at 240 s, so the whole bench stays bounded
//! (about 2.5 minutes on a 2-core machine at the defaults). With `--http2`, each client count
//! gets a second run of the four HTTP transports over HTTP/2, and the table puts each of its
//! rows under the same transport's HTTP/1.1 row.

use std::fmt::Write;

use protocol::HeaderProfile;
use tokio_util::sync::CancellationToken;

use crate::cli::{BenchArgs, Http2Args, RUN_ORDER, RunArgs, TransportArg};
use crate::report::RunReport;
use crate::report::table::human_us;

/// Per-run cap inside the bench.
const RUN_CAP_S: f64 = 240.0;

/// The run settings for one client count, over HTTP/2 or not.
pub fn run_args(args: &BenchArgs, clients: u64, http2: bool) -> RunArgs {
    RunArgs {
        url: args.url.clone(),
        transport: TransportArg::All,
        clients,
        messages: args.messages,
        rooms: 1,
        rate: args.rate,
        payload_bytes: 40,
        poll_interval_ms: 250,
        longpoll_timeout_s: 25,
        socketio_direct_ws: false,
        h2: Http2Args { http2, ..args.h2 },
        warmup_s: 0.0,
        drain_s: 10.0,
        max_seconds: RUN_CAP_S,
        server_pid: args.server_pid.clone(),
        redis_url: None,
        headers: HeaderProfile::Browser,
        publishers: 0,
        connect_concurrency: 64,
        publish_url: None,
        subscribe_url: None,
        allow_remote: args.allow_remote,
        json: None,
        report: None,
        quiet: args.quiet,
    }
}

/// Runs the suite; stops early (with what it has) if `stop` fires.
pub async fn bench(args: &BenchArgs, stop: CancellationToken) -> anyhow::Result<Vec<RunReport>> {
    let mut reports = Vec::new();
    for &clients in &args.clients {
        if stop.is_cancelled() {
            break;
        }
        let clients = clients.clamp(1, crate::cli::MAX_CLIENTS);
        for http2 in [false, true] {
            if (http2 && !args.h2.http2) || stop.is_cancelled() {
                continue;
            }
            let report =
                crate::run::run(&run_args(args, clients, http2), stop.child_token()).await?;
            if !args.quiet {
                println!("{}", crate::report::table::render(&report));
            }
            reports.push(report);
        }
    }
    Ok(reports)
}

/// The Markdown table (and machine line) for the README.
pub fn markdown(reports: &[RunReport], command: &str) -> String {
    let mut md = String::new();
    let Some(first) = reports.first() else {
        return "No runs completed.\n".to_owned();
    };
    let m = &first.machine;
    let server = reports
        .iter()
        .flat_map(|r| &r.transports)
        .any(|t| t.server.is_some());
    let _ = writeln!(
        md,
        "Command: `{command}`  \nMachine: {}; {}; loadtest {}.  \nSettings: {} messages at {} msg/s, \
         {}-byte payload, browser-like request headers, short poll every {} ms; transports run \
         one after another; server and loadtest on the same machine.{}\n",
        m.one_line(),
        m.rustc.as_deref().unwrap_or("rustc unknown"),
        m.loadtest_version,
        first.settings.messages,
        first.settings.rate,
        first.settings.payload_bytes,
        first.settings.poll_interval_ms,
        match reports.iter().find_map(|r| r.settings.h2_streams_per_conn) {
            Some(n) => format!(
                " Rows marked h2: HTTP/2 with prior knowledge (h2c), {n} subscribers per \
                 connection."
            ),
            None => String::new(),
        },
    );
    md.push_str(
        "| transport | clients | lost | dup | reord | p50 | p90 | p99 | p99.9 | max | bytes down/msg | bytes up/msg | requests/msg | connections |",
    );
    if server {
        md.push_str(" server CPU µs/msg | server RSS/conn |");
    }
    md.push('\n');
    md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    if server {
        md.push_str("--:|--:|");
    }
    md.push('\n');
    // Each client count's rows in run order, an HTTP/2 row right under its HTTP/1.1 one.
    let mut rows: Vec<_> = reports
        .iter()
        .flat_map(|r| r.transports.iter().map(move |t| (r.settings.clients, t)))
        .collect();
    rows.sort_by_key(|(clients, t)| {
        let order = RUN_ORDER.iter().position(|o| *o == t.transport);
        (*clients, order, t.http2)
    });
    for (_, t) in rows {
        let l = &t.latency;
        let _ = write!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.3} | {} |",
            t.label(),
            t.connected,
            t.sequence.lost,
            t.sequence.duplicated,
            t.sequence.reordered,
            human_us(l.p50_us),
            human_us(l.p90_us),
            human_us(l.p99_us),
            human_us(l.p999_us),
            human_us(l.max_us),
            t.per_message.bytes_down,
            t.per_message.bytes_up,
            t.per_message.requests,
            t.wire.connections,
        );
        if server {
            match &t.server {
                Some(s) => {
                    let _ = write!(
                        md,
                        " {:.1} | {:.1} KiB |",
                        s.cpu_us_per_message,
                        s.rss_bytes_per_connection / 1024.0
                    );
                }
                None => md.push_str(" - | - |"),
            }
        }
        md.push('\n');
    }
    for r in reports {
        if let Some(why) = &r.interrupted {
            let _ = writeln!(
                md,
                "\n(run with {} clients stopped early: {why})\n",
                r.settings.clients
            );
        }
    }
    md
}
