//! What each transport costs per delivered message, measured by the server's own wire ledger.
//!
//! Starts the server in-process on a free loopback port, opens one subscriber per transport (with
//! curl's minimal header set, then a browser's), publishes 20 messages with a 40-byte text one every
//! 500 ms, and prints a Markdown table of the steady-state cost: the ledger's change between the
//! moment all subscribers are connected and the moment all have received the 20th message. Short
//! polling polls every 250 ms; long polling asks again as soon as it is answered.
//!
//! Run: `cargo run --release --example overhead`

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use transport_lab::config::Config;
use transport_lab::startup::Application;

const MESSAGES: u64 = 20;
const PUBLISH_EVERY: Duration = Duration::from_millis(500);
const POLL_EVERY: Duration = Duration::from_millis(250);
/// 40 bytes of text, as in the figures other projects publish.
const TEXT: &str = "forty bytes of chat text, give or take!!";
const TRANSPORTS: [&str; 5] = ["poll", "longpoll", "stream", "sse", "ws"];

const CURL: &str = "User-Agent: curl/8.5.0\r\nAccept: */*\r\n";
const BROWSER: &str = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Accept: */*\r\nAccept-Language: en-US,en;q=0.9,de;q=0.8\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://127.0.0.1:8080/\r\nSec-Fetch-Dest: empty\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Site: same-origin\r\n\
Cookie: session=7f3a9c1e2b8d4f60; theme=dark\r\nConnection: keep-alive\r\n";

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    assert_eq!(TEXT.len(), 40);
    let config = Config::try_parse_from([
        "transport-lab",
        "--bind",
        "127.0.0.1:0",
        "--heartbeat",
        "60",
    ])?;
    let app = Application::build(config)?;
    let addr = app.addr();
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run());

    let mut rows = Vec::new();
    for (label, headers) in [("curl", CURL), ("browser", BROWSER)] {
        rows.extend(measure(addr, label, headers).await?);
    }

    println!(
        "| transport | headers | bytes down / msg | bytes up / msg | requests / msg | payload / msg | total / payload |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
            r.transport,
            r.headers,
            r.down,
            r.up,
            r.requests,
            r.payload,
            (r.down + r.up) / r.payload
        );
    }
    shutdown.shutdown().await;
    server.await??;
    Ok(())
}

struct Row {
    transport: &'static str,
    headers: &'static str,
    down: f64,
    up: f64,
    requests: f64,
    payload: f64,
}

async fn measure(
    addr: SocketAddr,
    label: &'static str,
    headers: &'static str,
) -> Result<Vec<Row>, Error> {
    let newest = newest_id(addr).await?;
    let client = |t: &str| format!("overhead-{label}-{t}");
    let mut subscribers: Vec<JoinHandle<()>> = Vec::new();
    for transport in TRANSPORTS {
        let (id, head) = (client(transport), headers);
        subscribers.push(tokio::spawn(async move {
            if let Err(e) = subscribe(addr, transport, &id, head, newest).await {
                eprintln!("{transport} subscriber ended: {e}");
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut before = Vec::new();
    for t in TRANSPORTS {
        before.push(stats(addr, &client(t)).await?);
    }

    let mut publisher = TcpStream::connect(addr).await?;
    for _ in 0..MESSAGES {
        let body = format!(r#"{{"user":"ada","text":"{TEXT}"}}"#);
        let request = format!(
            "POST /api/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        publisher.write_all(request.as_bytes()).await?;
        read_response(&mut publisher).await?;
        tokio::time::sleep(PUBLISH_EVERY).await;
    }

    // Wait until every subscriber has the last message (bounded).
    let mut after = Vec::new();
    for _ in 0..50 {
        after.clear();
        for t in TRANSPORTS {
            after.push(stats(addr, &client(t)).await?);
        }
        if after
            .iter()
            .zip(&before)
            .all(|(a, b)| field(a, "messages") - field(b, "messages") >= MESSAGES)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in subscribers {
        s.abort();
    }

    Ok(TRANSPORTS
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(transport, (b, a))| {
            let delta = |f: &str| (field(a, f) - field(b, f)) as f64;
            let messages = delta("messages");
            Row {
                transport,
                headers: label,
                down: delta("response_bytes") / messages,
                up: delta("request_bytes") / messages,
                requests: delta("requests") / messages,
                payload: delta("payload_bytes") / messages,
            }
        })
        .collect())
}

fn field(snapshot: &Value, name: &str) -> u64 {
    snapshot[name].as_u64().unwrap_or(0)
}

async fn newest_id(addr: SocketAddr) -> Result<u64, Error> {
    let (_, body) = get(addr, "/api/poll", "").await?;
    Ok(body["last_id"].as_u64().unwrap_or(0))
}

/// The snapshot of the transport a client id ends with, from `/api/stats?client=`.
async fn stats(addr: SocketAddr, client: &str) -> Result<Value, Error> {
    let (_, body) = get(addr, &format!("/api/stats?client={client}"), "").await?;
    let transport = client.rsplit('-').next().unwrap_or_default();
    Ok(body["transports"][transport].clone())
}

async fn get(addr: SocketAddr, path: &str, headers: &str) -> Result<(String, Value), Error> {
    let mut socket = TcpStream::connect(addr).await?;
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n").as_bytes())
        .await?;
    read_response(&mut socket).await
}

/// Reads one `Content-Length` response.
async fn read_response(socket: &mut TcpStream) -> Result<(String, Value), Error> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse().ok())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await?;
                if n == 0 {
                    return Err("connection closed mid-body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body =
                serde_json::from_slice(&buf[end + 4..end + 4 + length]).unwrap_or(Value::Null);
            return Ok((head, body));
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A subscriber of one transport, reading until aborted.
async fn subscribe(
    addr: SocketAddr,
    transport: &str,
    client: &str,
    headers: &str,
    mut cursor: u64,
) -> Result<(), Error> {
    let mut socket = TcpStream::connect(addr).await?;
    match transport {
        "poll" | "longpoll" => loop {
            let path = if transport == "poll" {
                format!("/api/poll?since={cursor}&client={client}")
            } else {
                format!("/api/longpoll?since={cursor}&timeout=25&client={client}")
            };
            socket
                .write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n").as_bytes(),
                )
                .await?;
            let (_, body) = read_response(&mut socket).await?;
            cursor = body["last_id"].as_u64().unwrap_or(cursor);
            if transport == "poll" {
                tokio::time::sleep(POLL_EVERY).await;
            }
        },
        "ws" => {
            let head = format!(
                "GET /api/ws?client={client} HTTP/1.1\r\nHost: {addr}\r\n{}Upgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                headers.replace("Connection: keep-alive\r\n", "")
            );
            socket.write_all(head.as_bytes()).await?;
            drain(socket).await
        }
        _ => {
            socket
                .write_all(format!("GET /api/{transport}?client={client} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n").as_bytes())
                .await?;
            drain(socket).await
        }
    }
}

async fn drain(mut socket: TcpStream) -> Result<(), Error> {
    let mut chunk = [0u8; 16384];
    while socket.read(&mut chunk).await? > 0 {}
    Ok(())
}
