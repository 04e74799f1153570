//! What each transport costs per delivered message, measured by the server's own wire ledger.
//!
//! Starts the server in-process on a free loopback port, opens one subscriber per transport (with
//! curl's minimal header set and a browser's, side by side), publishes 20 messages with a 40-byte
//! text one every 500 ms, and prints a Markdown table of the steady-state cost: the ledger's change
//! between the moment all subscribers are connected and the moment all have received the 20th
//! message. Short polling polls every 250 ms; long polling asks again as soon as it is answered.
//! The measuring itself lives in `transport_lab::overhead`, which `/api/overhead` uses too.
//!
//! Run: `cargo run --release --example overhead`

use std::time::Duration;

use protocol::HeaderProfile;
use transport_lab::overhead::{self, Plan};
use transport_lab::startup::LocalServer;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let plan = Plan {
        messages: 20,
        publish_every: Duration::from_millis(500),
        poll_every: Duration::from_millis(250),
    };
    let server = LocalServer::start(&overhead::PRIVATE_FLAGS)?;
    // Bounded: 20 messages at 500 ms take about 11 s.
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
