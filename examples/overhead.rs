//! What each transport costs per delivered message, measured by the server's own wire ledger.
//!
//! Starts the server in-process on a free loopback port, opens one subscriber per transport (with
//! curl's minimal header set and a browser's, side by side), publishes messages with a 40-byte
//! text by the one measurement plan (`overhead::PLAN`: 10 messages one every 500 ms, short polling
//! every 250 ms, long polling asking again as soon as it is answered; `/overhead` measures the
//! same), and prints a Markdown table of the steady-state cost: the ledger's change between the
//! moment all subscribers are connected and the moment all have received the last message.
//! `--rate R` measures the same plan at R messages a second, as the page's slider does.
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
    Ok(())
}
