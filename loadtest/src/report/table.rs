//! The summary table printed on stdout: one row per transport, the figures a reader compares;
//! with `--rooms`, one line per room of each transport below it, so a room's trouble has a name.

use std::fmt::Write;

use protocol::Transport;

use crate::report::{RunReport, TransportReport};

/// Microseconds as a short human duration (`850µs`, `12.3ms`, `1.20s`).
pub fn human_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1_000.0)
    } else {
        format!("{:.2}s", us as f64 / 1_000_000.0)
    }
}

/// The whole table as text.
pub fn render(report: &RunReport) -> String {
    let s = &report.settings;
    let mut out = String::new();
    // Said only when there are rooms, so a one-room run prints what it always printed.
    let rooms = if s.rooms > 1 {
        format!(" over {} rooms", s.rooms)
    } else {
        String::new()
    };
    // Said only when it changes what a socketio row measures.
    let direct = if s.socketio_direct_ws
        && report
            .transports
            .iter()
            .any(|t| t.transport == Transport::SocketIo)
    {
        ", socketio on a WebSocket from the start (--socketio-direct-ws)"
    } else {
        ""
    };
    let http2 = match s.h2_streams_per_conn {
        Some(n) if s.http2 => format!(", over HTTP/2 (h2c), {n} subscribers per connection"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "loadtest {} against {}: {} clients x {} messages{rooms} at {}/s, {}-byte payload, {:?} \
         headers{direct}{http2}",
        report.run_id,
        s.publish_url.as_deref().unwrap_or(&s.url),
        s.clients,
        s.messages,
        s.rate,
        s.payload_bytes,
        s.headers
    );
    let _ = writeln!(out, "machine: {}", report.machine.one_line());
    if let Some(why) = &report.interrupted {
        let _ = writeln!(out, "STOPPED EARLY: {why}; figures cover what was measured");
    }
    let server = report.transports.iter().any(|t| t.server.is_some());
    let mut header = vec![
        "transport",
        "conn",
        "delivered",
        "lost",
        "dup",
        "reord",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "B down/msg",
        "B up/msg",
        "req/msg",
    ];
    // TCP connections opened: with --http2 fewer than clients, the point of multiplexing.
    let sockets = s.http2;
    if sockets {
        header.push("tcp conns");
    }
    if server {
        header.extend(["cpu µs/msg", "RSS B/conn"]);
    }
    let redis = report.transports.iter().any(|t| t.redis.is_some());
    if redis {
        header.push("redis µs/msg");
    }
    let rows: Vec<Vec<String>> = report
        .transports
        .iter()
        .map(|t| row(t, sockets, server, redis))
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w.saturating_sub(c.chars().count());
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let _ = writeln!(out, "{}", line(&header));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    for t in &report.transports {
        for r in &t.rooms {
            let q = &r.sequence;
            let _ = writeln!(
                out,
                "  {} {}: {}/{} clients, delivered {}/{}, {} lost, {} dup, {} reord, {} foreign",
                t.transport.name(),
                r.room,
                r.connected,
                r.clients,
                q.delivered,
                r.expected_deliveries,
                q.lost,
                q.duplicated,
                q.reordered,
                q.foreign
            );
        }
    }
    for t in &report.transports {
        for server in &t.servers {
            let q = &server.sequence;
            let _ = writeln!(
                out,
                "  {} server {} ({}{}): {}/{} clients, delivered {}, {} lost, {} dup, {} reord",
                t.label(),
                server.index + 1,
                server.url,
                server
                    .node
                    .as_ref()
                    .map_or(String::new(), |node| format!(", node {node}")),
                server.connected,
                server.clients,
                q.delivered,
                q.lost,
                q.duplicated,
                q.reordered
            );
        }
    }
    for t in &report.transports {
        if !t.is_clean() || t.publish_errors > 0 {
            let _ = writeln!(
                out,
                "! {}: {} lost (e.g. seq {:?}), {} duplicated, {} reordered, {} foreign (not this \
                 run's, or another room's), {} failed clients, {} publish errors, {} reconnects, \
                 {} missed by gap notice; first error: {}; first publish error: {}",
                t.label(),
                t.sequence.lost,
                t.sequence.lost_examples,
                t.sequence.duplicated,
                t.sequence.reordered,
                t.sequence.foreign,
                t.failed,
                t.publish_errors,
                t.reconnects,
                t.missed_by_gap,
                t.first_error.as_deref().unwrap_or("none"),
                t.first_publish_error.as_deref().unwrap_or("none")
            );
            if let Some(hint) = t
                .first_error
                .as_deref()
                .and_then(crate::sysinfo::emfile_hint)
            {
                let _ = writeln!(out, "! {}: {hint}", t.transport.name());
            }
        }
        if t.publish_lag_max_us > 100_000 {
            let _ = writeln!(
                out,
                "! {}: the publisher fell up to {} behind schedule (POST round trip p50 {}, p99 {}, \
                 max {}); latencies include that wait",
                t.transport.name(),
                human_us(t.publish_lag_max_us),
                human_us(t.publish_round_trip.p50_us),
                human_us(t.publish_round_trip.p99_us),
                human_us(t.publish_round_trip.max_us),
            );
        }
    }
    out
}

fn row(t: &TransportReport, sockets: bool, server: bool, redis: bool) -> Vec<String> {
    let l = &t.latency;
    let mut cells = vec![
        t.label(),
        format!("{}/{}", t.connected, t.clients),
        format!("{}/{}", t.sequence.delivered, t.expected_deliveries),
        t.sequence.lost.to_string(),
        t.sequence.duplicated.to_string(),
        t.sequence.reordered.to_string(),
        human_us(l.p50_us),
        human_us(l.p90_us),
        human_us(l.p99_us),
        human_us(l.p999_us),
        human_us(l.max_us),
        format!("{:.1}", t.per_message.bytes_down),
        format!("{:.1}", t.per_message.bytes_up),
        format!("{:.3}", t.per_message.requests),
    ];
    if sockets {
        cells.push(t.wire.connections.to_string());
    }
    if server {
        match &t.server {
            Some(s) => cells.extend([
                format!("{:.2}", s.cpu_us_per_message),
                format!("{:.0}", s.rss_bytes_per_connection),
            ]),
            None => cells.extend(["-".to_owned(), "-".to_owned()]),
        }
    }
    if redis {
        cells.push(
            t.redis
                .as_ref()
                .map_or("-".to_owned(), |r| format!("{:.2}", r.cpu_us_per_message)),
        );
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_us(850), "850µs");
        assert_eq!(human_us(12_345), "12.3ms");
        assert_eq!(human_us(1_200_000), "1.20s");
    }
}
