//! What each transport costs per delivered message, measured by the server's own wire ledger.
//!
//! Starts the server in-process on a free loopback port, opens one subscriber per transport (with
//! curl's minimal header set and a browser's, side by side), publishes messages with a 40-byte
//! text by the one measurement plan (`overhead::PLAN`: 10 messages one every 500 ms, short polling
//! every 250 ms, long polling asking again as soon as it is answered; `/overhead` measures the
//! same), and prints a Markdown table of the steady-state cost: the ledger's change between the
//! moment all subscribers are connected and the moment all have received the last message.
//! `--rate R` measures the same plan at R messages a second, as the page's slider does.
//! A second table sets HTTP/1.1 beside HTTP/2 (prior knowledge, the same header sets, measured in
//! the same window): bytes per message, the share of them that is headers, requests per message,
//! and what HPACK made of a poll's request head after the first request on its connection.
//! The measuring itself lives in `transport_lab::overhead`, which `/api/overhead` uses too.
//!
//! Run: `cargo run --release --example overhead [-- --rate 8]`

use std::time::Duration;

use protocol::HeaderProfile;
use transport_lab::overhead::{self, PLAN, Plan};
use transport_lab::startup::LocalServer;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plan = match args.as_slice() {
        [] => PLAN,
        [flag, rate] if flag == "--rate" => Plan::at_rate(overhead::parse_rate(rate)?),
        _ => return Err("usage: overhead [--rate MESSAGES_PER_SECOND]".into()),
    };
    let server = LocalServer::start(&overhead::PRIVATE_FLAGS)?;
    // Bounded: the slowest plan publishes for about 8 s.
    let measured = tokio::time::timeout(
        Duration::from_secs(60),
        overhead::measure(server.addr(), plan),
    )
    .await;
    server.stop().await?;
    let mut report = measured.map_err(|_| "the measurement took over 60 s")??;
    // curl's rows first, as the README's table lists them.
    report
        .rows
        .sort_by_key(|r| (r.headers != HeaderProfile::Curl, r.transport.index()));

    println!(
        "{} messages, one every {} ms ({} a second); short polling every {} ms\n",
        plan.messages,
        plan.publish_every.as_millis(),
        plan.rate(),
        plan.poll_every.as_millis()
    );
    println!(
        "| transport | headers | bytes down / msg | bytes up / msg | requests / msg | payload / msg | total / payload |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &report.rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
            r.transport,
            r.headers,
            r.down_per_message,
            r.up_per_message,
            r.requests_per_message,
            r.payload_per_message,
            r.ratio
        );
    }

    println!(
        "\nHTTP/1.1 beside HTTP/2 (bytes both ways per message; request head: HTTP/1.1, then HTTP/2's first request and later average)\n"
    );
    println!(
        "| transport | headers | HTTP/1.1 bytes / msg | HTTP/2 bytes / msg | HTTP/1.1 header share | HTTP/2 header share | requests / msg | request head 1.1 / h2 first / h2 later |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let share = |r: &overhead::Row| {
        let total = r.down_per_message + r.up_per_message;
        if total > 0.0 {
            100.0 * r.header_per_message / total
        } else {
            0.0
        }
    };
    for r in &report.rows {
        let h2 = report
            .http2
            .iter()
            .find(|h| h.row.transport == r.transport && h.row.headers == r.headers);
        let Some(h2) = h2 else {
            println!(
                "| {} | {} | {:.0} | HTTP/1.1 only | {:.0} % | | {:.2} | |",
                r.transport,
                r.headers,
                r.down_per_message + r.up_per_message,
                share(r),
                r.requests_per_message,
            );
            continue;
        };
        let later = h2
            .later_request_header_bytes
            .map_or_else(|| "no later request".to_string(), |b| format!("{b:.0}"));
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} % | {:.0} % | {:.2} / {:.2} | {:.0} / {} / {} |",
            r.transport,
            r.headers,
            r.down_per_message + r.up_per_message,
            h2.row.down_per_message + h2.row.up_per_message,
            share(r),
            share(&h2.row),
            r.requests_per_message,
            h2.row.requests_per_message,
            h2.http1_request_header_bytes,
            h2.first_request_header_bytes,
            later,
        );
    }
    println!(
        "\nWebSocket and Socket.IO (on its WebSocket) stay HTTP/1.1: actix-http has no WebSocket over HTTP/2 (RFC 8441)."
    );
    Ok(())
}
