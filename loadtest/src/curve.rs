//! `loadtest curve`: how the server's cost grows with the number of subscribers. For each size in
//! `--sizes` (default 100, 1000, 5000, 10000) every transport runs as an ordinary phase against
//! the same server, and the server's CPU per delivered message, its RSS growth per connection
//! and the delivery latency (p50, p99) are tabled and drawn (plotters, SVG, as `--report` does).
//! Every size gets the same work per second where it can: the publish rate is
//! `--deliveries-per-second` divided by the subscribers (1,000 x 200/s, 10,000 x 20/s), at most
//! `--rate`, for `--publish-s` seconds, so what changes along the curve is the number of
//! connections, not the load.
//!
//! One server for the whole curve, as in `bench`: RSS per connection is the growth while that
//! phase's clients connect, so a phase that reuses memory an earlier one freed reads low; for
//! idle memory on a fresh server, see `loadtest/scripts/idle-memory.sh`. Bounded like every run:
//! each phase is capped at [`PHASE_CAP_S`], sizes at [`crate::cli::MAX_CLIENTS`].

use std::fmt::Write;

use plotters::prelude::*;

use crate::bench;
use crate::cli::{BenchArgs, CurveArgs, Http2Args};
use crate::report::html::color;
use crate::report::table::human_us;
use crate::report::{RunReport, TransportReport};

/// Per size (all transports) cap, seconds.
const PHASE_CAP_S: f64 = 300.0;

/// Runs every size; stops early (with what it has) if `stop` fires.
pub async fn curve(
    args: &CurveArgs,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Vec<RunReport>> {
    let mut reports = Vec::new();
    for &size in &args.sizes {
        if stop.is_cancelled() {
            break;
        }
        let size = size.clamp(1, crate::cli::MAX_CLIENTS);
        let (rate, messages) = schedule(args, size);
        let as_bench = BenchArgs {
            url: args.url.clone(),
            markdown: None,
            json: None,
            report: None,
            server_pid: args.server_pid.clone(),
            h2: Http2Args {
                http2: false,
                h2_streams_per_conn: crate::http2::DEFAULT_STREAMS_PER_CONN,
            },
            clients: vec![size],
            messages,
            rate,
            allow_remote: args.allow_remote,
            quiet: args.quiet,
        };
        // HTTP/1.1 only: the curve is about connections, and `--http2` shares them.
        let mut run_args = bench::run_args(&as_bench, size, false);
        run_args.transport = args.transport;
        run_args.max_seconds = PHASE_CAP_S;
        run_args.drain_s = 20.0;
        let report = crate::run::run(&run_args, stop.child_token()).await?;
        if !args.quiet {
            println!("{}", crate::report::table::render(&report));
        }
        reports.push(report);
    }
    Ok(reports)
}

/// The publish rate and message count at `size` subscribers.
pub fn schedule(args: &CurveArgs, size: u64) -> (f64, u64) {
    let rate = (args.deliveries_per_second as f64 / size as f64).min(args.rate);
    let messages = ((rate * args.publish_s).round() as u64).max(5);
    (rate, messages)
}

/// One point of the curve: a transport at a size.
fn points(reports: &[RunReport]) -> Vec<(&TransportReport, u64)> {
    reports
        .iter()
        .flat_map(|r| r.transports.iter().map(|t| (t, t.clients)))
        .collect()
}

/// The table: one row per transport and size.
pub fn markdown(reports: &[RunReport], command: &str) -> String {
    let mut md = String::new();
    let Some(first) = reports.first() else {
        return "No runs completed.\n".to_owned();
    };
    let _ = writeln!(
        md,
        "Command: `{command}`  \nMachine: {}.\n",
        first.machine.one_line()
    );
    md.push_str(
        "| transport | subscribers | msg/s | delivered | lost | server CPU µs/delivery | server RSS KiB/conn | p50 | p99 |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let mut rows = points(reports);
    rows.sort_by_key(|(t, size)| (t.transport, *size));
    for (t, size) in rows {
        let (cpu, rss) = t.server.as_ref().map_or(("-".into(), "-".into()), |s| {
            (
                format!("{:.2}", s.cpu_us_per_message),
                format!("{:.1}", s.rss_bytes_per_connection / 1024.0),
            )
        });
        let _ = writeln!(
            md,
            "| {} | {size} | {:.0} | {}/{} | {} | {cpu} | {rss} | {} | {} |",
            t.transport.name(),
            t.published as f64 / t.publish_s.max(1e-9),
            t.sequence.delivered,
            t.expected_deliveries,
            t.sequence.lost,
            human_us(t.latency.p50_us),
            human_us(t.latency.p99_us),
        );
    }
    md
}

fn plot_err(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("drawing the curve: {e:?}")
}

/// The chart: server CPU per delivery, RSS per connection and p99 latency against subscribers
/// (logarithmic axes), one line per transport.
pub fn svg(reports: &[RunReport]) -> anyhow::Result<String> {
    type Getter = fn(&TransportReport) -> Option<f64>;
    let panels: [(&str, &str, Getter); 3] = [
        ("server CPU per delivery", "µs", |t| {
            t.server.as_ref().map(|s| s.cpu_us_per_message)
        }),
        ("server RSS per connection", "KiB", |t| {
            t.server
                .as_ref()
                .map(|s| s.rss_bytes_per_connection / 1024.0)
        }),
        ("p99 delivery latency", "ms", |t| {
            (t.latency.count > 0).then(|| t.latency.p99_us as f64 / 1000.0)
        }),
    ];
    let all = points(reports);
    let sizes: Vec<f64> = all.iter().map(|(_, s)| *s as f64).collect();
    let (x_lo, x_hi) = (
        sizes.iter().copied().fold(f64::MAX, f64::min).max(1.0),
        sizes.iter().copied().fold(1.0, f64::max),
    );
    let mut transports: Vec<_> = all.iter().map(|(t, _)| t.transport).collect();
    transports.sort();
    transports.dedup();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1350, 430)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        for (area, (title, unit, get)) in root.split_evenly((1, 3)).iter().zip(panels) {
            let values: Vec<f64> = all
                .iter()
                .filter_map(|(t, _)| get(t))
                .filter(|v| *v > 0.0)
                .collect();
            let lo = values.iter().copied().fold(f64::MAX, f64::min).min(1.0);
            let hi = values.iter().copied().fold(1.0, f64::max);
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(
                    (x_lo / 1.3..x_hi * 1.3).log_scale(),
                    (lo / 1.5..hi * 1.5).log_scale(),
                )
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("subscribers")
                .y_desc(unit)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.3}"))
                .draw()
                .map_err(plot_err)?;
            for &transport in &transports {
                let c = color(transport);
                let mut line: Vec<(f64, f64)> = all
                    .iter()
                    .filter(|(t, _)| t.transport == transport)
                    .filter_map(|(t, size)| get(t).filter(|v| *v > 0.0).map(|v| (*size as f64, v)))
                    .collect();
                line.sort_by(|a, b| a.0.total_cmp(&b.0));
                chart
                    .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(transport.name())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                chart
                    .draw_series(line.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                    .map_err(plot_err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}
