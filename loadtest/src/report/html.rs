//! `--report`: a self-contained HTML page (inline SVG, inline CSS, no scripts, nothing fetched)
//! with the summary table and three charts drawn with plotters: latency by percentile per
//! transport, bytes per delivered message per transport, requests per delivered message per
//! transport.
//!
//! The latency chart uses the HdrHistogram convention: the x axis stretches the tail
//! (0%, 90%, 99%, 99.9%, ... equally spaced) so the percentiles that hurt users are as visible as
//! the median; the y axis is logarithmic so a 1 ms transport and a 250 ms one fit together.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use protocol::Transport;

use crate::report::table::human_us;
use crate::report::{RunReport, TransportReport};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 460;
/// Where "max" sits on the stretched percentile axis (beyond 99.999%).
const X_MAX: f64 = 5.0;

/// One colour per transport, the same in every chart.
pub fn color(transport: Transport) -> RGBColor {
    match transport {
        Transport::Sse => RGBColor(31, 119, 180),
        Transport::Ws => RGBColor(255, 127, 14),
        Transport::Stream => RGBColor(44, 160, 44),
        Transport::LongPoll => RGBColor(148, 103, 189),
        Transport::Poll => RGBColor(214, 39, 40),
        Transport::SocketIo => RGBColor(140, 86, 75),
    }
}

fn plot_err(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Percentile (0..=100) on the stretched axis: -log10(1 - p/100), so 90% is 1, 99% is 2.
fn stretch(percentile: f64) -> f64 {
    if percentile >= 100.0 {
        X_MAX
    } else {
        (-(1.0 - percentile / 100.0).log10()).min(X_MAX - 0.5)
    }
}

fn percentile_label(x: &f64) -> String {
    match x.round() as i64 {
        _ if (x - x.round()).abs() > 1e-6 => String::new(),
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        3 => "99.9%".into(),
        4 => "99.99%".into(),
        5 => "max".into(),
        _ => String::new(),
    }
}

/// The latency-by-percentile chart as an SVG document.
pub fn latency_svg(report: &RunReport) -> anyhow::Result<String> {
    let with_data: Vec<&TransportReport> = report
        .transports
        .iter()
        .filter(|t| t.latency.count > 0)
        .collect();
    let lo = with_data
        .iter()
        .map(|t| t.latency.min_us)
        .min()
        .unwrap_or(1)
        .max(1) as f64
        / 1000.0;
    let hi = with_data
        .iter()
        .map(|t| t.latency.max_us)
        .max()
        .unwrap_or(1000)
        .max(2) as f64
        / 1000.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Delivery latency by percentile (from intended send time)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..X_MAX, (lo / 1.5..hi * 1.5).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&percentile_label)
            .y_label_formatter(&|ms| human_us((ms * 1000.0) as u64))
            .x_desc("percentile of deliveries")
            .y_desc("latency")
            .draw()
            .map_err(plot_err)?;
        for t in &with_data {
            let c = color(t.transport);
            let points: Vec<(f64, f64)> = t
                .latency
                .cdf
                .iter()
                .map(|&(p, us)| (stretch(p), us.max(1) as f64 / 1000.0))
                .collect();
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!(
                    "{} (p50 {}, p99 {})",
                    t.label(),
                    human_us(t.latency.p50_us),
                    human_us(t.latency.p99_us)
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// One bar series: its legend label and how to read its value from a transport's report.
type Series<'a> = (&'a str, fn(&TransportReport) -> f64);

/// A bar chart: one group per transport, one bar per series (label, value getter).
fn bars_svg(
    report: &RunReport,
    title: &str,
    y_desc: &str,
    series: &[Series<'_>],
    decimals: usize,
) -> anyhow::Result<String> {
    let ts = &report.transports;
    let n = ts.len().max(1);
    let top = ts
        .iter()
        .flat_map(|t| series.iter().map(move |(_, f)| f(t)))
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.18;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
            .map_err(plot_err)?;
        let names: Vec<String> = ts.iter().map(|t| t.label()).collect();
        let label = |x: &f64| {
            if (x - x.round()).abs() > 1e-6 || *x < 0.0 {
                return String::new();
            }
            names.get(x.round() as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label)
            .y_desc(y_desc)
            .draw()
            .map_err(plot_err)?;
        let width = 0.8 / series.len() as f64;
        for (s, (name, value)) in series.iter().enumerate() {
            // Multiple series: shade each one differently so the legend tells them apart.
            let shade = if series.len() > 1 && s > 0 { 0.45 } else { 1.0 };
            let bars = ts.iter().enumerate().map(|(i, t)| {
                let x0 = i as f64 - 0.4 + s as f64 * width;
                Rectangle::new(
                    [(x0 + 0.02, 0.0), (x0 + width - 0.02, value(t))],
                    color(t.transport).mix(shade).filled(),
                )
            });
            let drawn = chart.draw_series(bars).map_err(plot_err)?;
            if series.len() > 1 {
                drawn.label(*name).legend(move |(x, y)| {
                    Rectangle::new(
                        [(x, y - 5), (x + 14, y + 5)],
                        BLACK.mix(shade * 0.7).filled(),
                    )
                });
            }
            let style = TextStyle::from(("sans-serif", 13).into_font())
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart
                .draw_series(ts.iter().enumerate().map(|(i, t)| {
                    let x = i as f64 - 0.4 + (s as f64 + 0.5) * width;
                    Text::new(
                        format!("{:.*}", decimals, value(t)),
                        (x, value(t) + top * 0.01),
                        style.clone(),
                    )
                }))
                .map_err(plot_err)?;
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

pub fn bytes_svg(report: &RunReport) -> anyhow::Result<String> {
    bars_svg(
        report,
        "Bytes on the subscriber's socket per delivered message",
        "bytes per message",
        &[
            ("down (server to client)", |t| t.per_message.bytes_down),
            ("up (client to server)", |t| t.per_message.bytes_up),
        ],
        0,
    )
}

pub fn requests_svg(report: &RunReport) -> anyhow::Result<String> {
    bars_svg(
        report,
        "HTTP requests per delivered message",
        "requests per message",
        &[("requests", |t| t.per_message.requests)],
        3,
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Drops the XML prolog so the SVG can sit inline in HTML.
fn inline(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// The whole page.
pub fn render(report: &RunReport) -> anyhow::Result<String> {
    let s = &report.settings;
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loadtest {run}: six transports compared</title>
<style>
body {{ font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1200px; margin: 2em auto; padding: 0 1em; }}
h1 {{ font-size: 1.6em; margin-bottom: .2em; }}
.sub {{ color: #555; margin-top: 0; }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: .85em; }}
th, td {{ padding: .3em .45em; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }}
th {{ white-space: normal; vertical-align: bottom; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f4f4f4; }}
.ok {{ color: #1a7f37; font-weight: 600; }} .bad {{ color: #c62828; font-weight: 700; }}
.swatch {{ display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .4em; vertical-align: -1px; }}
figure {{ margin: 1.5em 0; }} figcaption {{ color: #555; font-size: .9em; }}
svg {{ max-width: 100%; height: auto; }}
.warn {{ background: #fff4e5; border-left: 4px solid #f0a020; padding: .5em 1em; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }} dt {{ color: #555; }} dd {{ margin: 0; }}
</style></head><body>
<h1>{clients} clients per transport, {messages} messages at {rate}/s</h1>
<p class="sub">loadtest run <code>{run}</code> against <code>{url}</code>: {payload}-byte payload, {headers:?} request headers. Machine: {machine}.</p>
"#,
        run = esc(&report.run_id),
        clients = s.clients,
        messages = s.messages,
        rate = s.rate,
        url = esc(s.publish_url.as_deref().unwrap_or(&s.url)),
        payload = s.payload_bytes,
        headers = s.headers,
        machine = esc(&report.machine.one_line()),
    );
    if let Some(why) = &report.interrupted {
        let _ = write!(
            h,
            "<p class=\"warn\">Stopped early: {}. Figures cover what was measured.</p>",
            esc(why)
        );
    }
    let all_clean = report.transports.iter().all(TransportReport::is_clean);
    let _ = write!(
        h,
        "<p>{}</p>",
        if all_clean {
            "<span class=\"ok\">Every transport delivered every message to every client exactly \
             once, in order.</span>"
        } else {
            "<span class=\"bad\">Some deliveries were lost, duplicated or out of order: see the \
             table. With a cursor-based server that is a bug.</span>"
        }
    );
    let _ = write!(
        h,
        "<div class=\"scroll\"><table><thead><tr><th>transport</th><th>clients</th><th>delivered</th><th>lost</th>\
         <th>dup</th><th>reord</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th>\
         <th>bytes down/msg</th><th>bytes up/msg</th><th>requests/msg</th><th>server CPU µs/msg</th>\
         <th>RSS/conn</th></tr></thead><tbody>"
    );
    for t in &report.transports {
        let c = color(t.transport);
        let bad = |n: u64| {
            if n == 0 {
                "<td class=\"ok\">0</td>".to_owned()
            } else {
                format!("<td class=\"bad\">{n}</td>")
            }
        };
        let l = &t.latency;
        let _ = write!(
            h,
            "<tr><td><span class=\"swatch\" style=\"background:rgb({},{},{})\"></span>{}</td>\
             <td>{}/{}</td><td>{}/{}</td>{}{}{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.1}</td><td>{:.1}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
            c.0,
            c.1,
            c.2,
            t.label(),
            t.connected,
            t.clients,
            t.sequence.delivered,
            t.expected_deliveries,
            bad(t.sequence.lost),
            bad(t.sequence.duplicated),
            bad(t.sequence.reordered),
            human_us(l.p50_us),
            human_us(l.p90_us),
            human_us(l.p99_us),
            human_us(l.p999_us),
            human_us(l.max_us),
            t.per_message.bytes_down,
            t.per_message.bytes_up,
            t.per_message.requests,
            t.server
                .as_ref()
                .map_or("-".into(), |s| format!("{:.2}", s.cpu_us_per_message)),
            t.server.as_ref().map_or("-".into(), |s| format!(
                "{:.1} KiB",
                s.rss_bytes_per_connection / 1024.0
            )),
        );
    }
    h.push_str("</tbody></table></div>\n");
    servers_table(&mut h, report);
    let charts = [
        (
            latency_svg(report)?,
            "Latency is measured per delivery, from the time the publisher intended to send the \
             message (not when it managed to), to the moment the client parsed it. The x axis \
             stretches the tail: each step is ten times rarer than the one before.",
        ),
        (
            bytes_svg(report)?,
            "All bytes each subscriber's socket carried from connect to end (request and response \
             heads, chunk framing, WebSocket frames, empty poll answers), divided by the messages \
             it received. Down: server to client. Up: client to server.",
        ),
        (
            requests_svg(report)?,
            "HTTP requests per delivered message (a WebSocket handshake counts as one). Streams \
             pay one request per connection; polls pay per answer, empty or not.",
        ),
    ];
    for (svg, caption) in &charts {
        let _ = writeln!(
            h,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            inline(svg),
            esc(caption)
        );
    }
    let _ = write!(
        h,
        "<h2>How this was measured</h2><dl>\
         <dt>loss</dt><dd>Every message text carries a probe token (run id, sequence number, \
         intended send time). Each client checks its sequence: a message the server accepted but \
         the client never received by the end of the drain is lost; a second copy is a duplicate; \
         a message arriving after one published later is reordered.</dd>\
         <dt>latency</dt><dd>hdrhistogram, microsecond resolution, 3 significant digits, \
         per transport over all clients. Publishing is scheduled by intended send time, so a \
         publisher that falls behind shows up as latency (coordinated omission is not hidden). \
         Max publisher lag this run: {lag}.</dd>\
         <dt>bytes</dt><dd>Counted on each client's own TCP socket by a wrapper around the stream: \
         exactly what was written and read, TCP/IP headers excluded.</dd>\
         <dt>clients</dt><dd>{clients} per transport, each on its own connection; transports \
         run one after another, not together. Request headers: {headers:?}.</dd>\
         <dt>machine</dt><dd>{machine}; {rustc}</dd></dl>\n</body></html>\n",
        lag = human_us(
            report
                .transports
                .iter()
                .map(|t| t.publish_lag_max_us)
                .max()
                .unwrap_or(0)
        ),
        clients = s.clients,
        headers = s.headers,
        machine = esc(&report.machine.one_line()),
        rustc = esc(report.machine.rustc.as_deref().unwrap_or("rustc unknown")),
    );
    Ok(h)
}

pub fn write(report: &RunReport, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, render(report)?).with_context(|| format!("writing {}", path.display()))
}

/// With several servers (or `--redis-url`), one row per server of each transport: its clients,
/// what it delivered of everything published on any server, and the Redis CPU per delivery.
fn servers_table(h: &mut String, report: &RunReport) {
    let several = report.transports.iter().any(|t| !t.servers.is_empty());
    let redis = report.transports.iter().any(|t| t.redis.is_some());
    if !several && !redis {
        return;
    }
    h.push_str(
        "<h2>Servers</h2><div class=\"scroll\"><table><thead><tr><th>transport</th><th>server</th>\
         <th>node</th><th>clients</th><th>delivered</th><th>lost</th><th>dup</th><th>reord</th>\
         <th>Redis CPU µs/msg</th></tr></thead><tbody>",
    );
    for t in &report.transports {
        let redis = t
            .redis
            .as_ref()
            .map_or("-".to_owned(), |r| format!("{:.2}", r.cpu_us_per_message));
        if t.servers.is_empty() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>-</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{redis}</td></tr>",
                t.label(),
                esc(&report.settings.url),
                t.connected,
                t.clients,
                t.sequence.delivered,
                t.sequence.lost,
                t.sequence.duplicated,
                t.sequence.reordered,
            );
        }
        for s in &t.servers {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}. {}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{redis}</td></tr>",
                t.label(),
                s.index + 1,
                esc(&s.url),
                esc(s.node.as_deref().unwrap_or("-")),
                s.connected,
                s.clients,
                s.sequence.delivered,
                s.sequence.lost,
                s.sequence.duplicated,
                s.sequence.reordered,
            );
        }
    }
    h.push_str("</tbody></table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretched_axis() {
        assert_eq!(stretch(0.0), 0.0);
        assert!((stretch(90.0) - 1.0).abs() < 1e-9);
        assert!((stretch(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(stretch(100.0), X_MAX);
        assert_eq!(percentile_label(&2.0), "99%");
        assert_eq!(percentile_label(&2.5), "");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            esc("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
