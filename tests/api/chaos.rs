//! Resume under faults: every transport's client goes through a proxy that cuts its connections
//! at random points (mid-head, mid-chunk, mid-event, mid-frame) while 5,000 messages are
//! published; each reconnects with its cursor. Nothing may be lost, and order must hold.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::spawn_app_with;

const MESSAGES: u64 = 5000;
/// The whole test gives up after this, so a bug shows as a failure, not a hang.
const DEADLINE: Duration = Duration::from_secs(90);

/// A deterministic xorshift generator: the same cuts on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

/// Accepts connections and forwards them to `upstream`, cutting each after a random number of
/// bytes downstream (200 B to 16 KB) or upstream (50 B to 4 KB), whichever comes first.
async fn cutting_proxy(upstream: SocketAddr, cuts: Arc<AtomicU64>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        while let Ok((client, _)) = listener.accept().await {
            let (down_budget, up_budget) = (rng.between(200, 16_384), rng.between(50, 4096));
            let cuts = Arc::clone(&cuts);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let down = pipe(&mut server_read, &mut client_write, down_budget);
                let up = pipe(&mut client_read, &mut server_write, up_budget);
                // Whichever direction reaches its budget (or ends) first ends both: a cut.
                let cut = tokio::select! { cut = down => cut, cut = up => cut };
                if cut {
                    cuts.fetch_add(1, Relaxed);
                }
            });
        }
    });
    addr
}

/// Copies until `budget` bytes went through (then `true`: a cut) or the source ends.
async fn pipe(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    mut budget: u64,
) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = from.read(&mut buf).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        let n = n.min(budget as usize);
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
        budget -= n as u64;
        if budget == 0 {
            return true;
        }
    }
}

/// Ids in the order a client received them, and the gap notices it saw.
#[derive(Default)]
struct Received {
    ids: Vec<u64>,
    gaps: u64,
}

impl Received {
    fn take(&mut self, message: &Value) -> Option<u64> {
        if message["type"] == "gap" {
            self.gaps += 1;
        }
        let id = message["id"].as_u64()?;
        self.ids.push(id);
        Some(id)
    }
    fn done(&self) -> bool {
        self.ids.last() == Some(&MESSAGES)
    }
}

/// No single request or read may hang a client: a stuck connection is just one more fault.
const STUCK: Duration = Duration::from_secs(10);

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(STUCK).build().unwrap()
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

async fn poll_client(proxy: SocketAddr, long: bool) -> Received {
    let http = http();
    let (mut got, mut cursor) = (Received::default(), 0u64);
    while !got.done() {
        let url = if long {
            format!("http://{proxy}/api/longpoll?since={cursor}&timeout=5")
        } else {
            format!("http://{proxy}/api/poll?since={cursor}")
        };
        let body = match http.get(url).send().await {
            Ok(r) => r.json::<Value>().await.ok(),
            Err(_) => None,
        };
        match body {
            Some(body) => {
                for message in body["messages"].as_array().unwrap() {
                    got.take(message);
                }
                if body["gap"] == true {
                    got.gaps += 1;
                }
                cursor = body["last_id"].as_u64().unwrap();
            }
            None => pause().await,
        }
        if !long {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    got
}

/// The HTTP stream: complete lines only; a line cut short is dropped and comes again.
async fn stream_client(proxy: SocketAddr) -> Received {
    let http = http();
    let (mut got, mut cursor) = (Received::default(), 0u64);
    while !got.done() {
        let Ok(response) = http
            .get(format!("http://{proxy}/api/stream?since={cursor}"))
            .send()
            .await
        else {
            pause().await;
            continue;
        };
        let mut body = response.bytes_stream();
        let mut buf = Vec::new();
        'read: while let Some(Ok(chunk)) = body.next().await {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let message: Value = serde_json::from_slice(&line).unwrap();
                if let Some(id) = got.take(&message) {
                    cursor = id;
                    if got.done() {
                        break 'read;
                    }
                }
            }
        }
        pause().await;
    }
    got
}

/// SSE as a browser does it: only events ended by a blank line count, and a reconnect sends the
/// last `id:` seen as `Last-Event-ID`.
async fn sse_client(proxy: SocketAddr) -> Received {
    let http = http();
    let (mut got, mut last_event_id) = (Received::default(), None::<String>);
    while !got.done() {
        let mut request = http.get(format!("http://{proxy}/api/sse?since=0"));
        if let Some(id) = &last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let Ok(response) = request.send().await else {
            pause().await;
            continue;
        };
        let mut body = response.bytes_stream();
        let mut buf = Vec::new();
        'read: while let Some(Ok(chunk)) = body.next().await {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = buf.drain(..end + 2).collect();
                let text = String::from_utf8(event).unwrap();
                let (mut id, mut data) = (None, None);
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(v.to_owned());
                    }
                }
                if let Some(data) = data {
                    got.take(&serde_json::from_str(&data).unwrap());
                }
                if id.is_some() {
                    last_event_id = id;
                }
                if got.done() {
                    break 'read;
                }
            }
        }
        pause().await;
    }
    got
}

async fn ws_client(proxy: SocketAddr) -> Received {
    let (mut got, mut cursor) = (Received::default(), 0u64);
    while !got.done() {
        let connect =
            tokio_tungstenite::connect_async(format!("ws://{proxy}/api/ws?since={cursor}"));
        let Ok(Ok((mut socket, _))) = tokio::time::timeout(STUCK, connect).await else {
            pause().await;
            continue;
        };
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(STUCK, socket.next()).await {
            if let WsMessage::Text(text) = frame
                && let Some(id) = got.take(&serde_json::from_str(&text).unwrap())
            {
                cursor = id;
                if got.done() {
                    break;
                }
            }
        }
        pause().await;
    }
    got
}

/// Keeps the first occurrence of each id.
fn deduplicated(ids: &[u64]) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// Every transport, cut at random points hundreds of times, ends with exactly 1..=5000 in order,
/// with no duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_resumes_through_random_cuts() {
    let app = spawn_app_with(&["--history", "10000", "--heartbeat", "0.5"]).await;
    let cuts = Arc::new(AtomicU64::new(0));
    let proxy = cutting_proxy(app.addr, Arc::clone(&cuts)).await;
    let started = Instant::now();

    let clients = [
        ("poll", tokio::spawn(poll_client(proxy, false))),
        ("longpoll", tokio::spawn(poll_client(proxy, true))),
        ("stream", tokio::spawn(stream_client(proxy))),
        ("sse", tokio::spawn(sse_client(proxy))),
        ("ws", tokio::spawn(ws_client(proxy))),
    ];
    let publisher = {
        let (http, url) = (app.http.clone(), app.url("/api/messages"));
        tokio::spawn(async move {
            for i in 1..=MESSAGES {
                let r = http
                    .post(&url)
                    .header("content-type", "text/plain")
                    .body(format!("chaos {i}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        })
    };
    tokio::time::timeout(DEADLINE, publisher)
        .await
        .expect("published in time")
        .unwrap();

    let want: Vec<u64> = (1..=MESSAGES).collect();
    for (name, client) in clients {
        let got = tokio::time::timeout(DEADLINE.saturating_sub(started.elapsed()), client)
            .await
            .unwrap_or_else(|_| panic!("{name} did not receive all {MESSAGES} in time"))
            .unwrap();
        let unique = deduplicated(&got.ids);
        assert_eq!(got.gaps, 0, "{name} saw a gap notice");
        assert!(
            unique == want,
            "{name}: {} unique of {MESSAGES}, first wrong at {:?}",
            unique.len(),
            unique.iter().zip(&want).position(|(a, b)| a != b)
        );
        // Stronger than the de-duplicated check: these clients move their cursor only past
        // complete events, lines and frames, so an exact resume repeats nothing at all.
        assert_eq!(
            got.ids.len() - unique.len(),
            0,
            "{name} received duplicates: the resume replayed"
        );
    }
    let cuts = cuts.load(Relaxed);
    assert!(
        cuts >= 100,
        "the proxy cut only {cuts} connections: the test did not exercise faults"
    );
    eprintln!(
        "chaos: {cuts} connections cut, {MESSAGES} messages, {:?}",
        started.elapsed()
    );
}
