//! A client that closes its connection is let go at once: its slot under the connection cap,
//! its `open` count and its socket are freed within a second, not at the next failed write.

use std::time::Duration;

use tokio::time::Instant;

use crate::helpers::{TestApp, spawn_app_with};
use crate::raw::RawConn;

/// Streams of every kind and held long polls, opened to fill the connection cap.
const PER_KIND: usize = 4;

/// Subscribes `PER_KIND` clients of each waiting transport, reading each until it is subscribed.
async fn subscribers(app: &TestApp) -> Vec<RawConn> {
    let mut conns = Vec::new();
    for _ in 0..PER_KIND {
        let mut sse = RawConn::connect(app.addr).await;
        sse.get("/api/sse").await;
        sse.read_through(b"event: ready", b"\n\n").await;
        conns.push(sse);

        let mut stream = RawConn::connect(app.addr).await;
        stream.get("/api/stream").await;
        stream.read_through(b"{\"type\":\"ready\"", b"\n").await;
        conns.push(stream);

        let mut ws = RawConn::connect(app.addr).await;
        ws.send(
            format!(
                "GET /api/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                app.addr
            )
            .as_bytes(),
        )
        .await;
        ws.read_through(b"HTTP/1.1 101", b"\r\n\r\n").await;
        ws.read_frames(1).await;
        conns.push(ws);

        let mut long_poll = RawConn::connect(app.addr).await;
        long_poll.get("/api/longpoll?timeout=60").await;
        conns.push(long_poll);
    }
    conns
}

/// Open connections per transport, from the ledger.
async fn open(app: &TestApp) -> Vec<(String, u64)> {
    let (_, stats) = app.get_json("/api/stats").await;
    let mut open: Vec<(String, u64)> = stats["transports"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, s)| (t.clone(), s["open"].as_u64().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect();
    open.sort();
    open
}

/// `open` once it equals `want`, or after 5 s: the last long poll sent may not have reached its
/// handler yet.
async fn open_soon(app: &TestApp, want: &[(String, u64)]) -> Vec<(String, u64)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open(app).await;
        if now == want || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clients that read what they were sent and then close (FIN) or reset (RST) are noticed at
/// once: `open` is back to zero and the full server admits new connections within 2 s, although
/// heartbeats (which would find the dead sockets eventually) are 30 s apart.
#[tokio::test]
async fn closed_connections_are_freed_at_once() {
    for reset in [false, true] {
        // Arrange: a cap the subscribers fill, bar the one connection the stats request takes.
        let cap = 4 * PER_KIND + 1;
        let app =
            spawn_app_with(&["--heartbeat", "30", "--max-connections", &cap.to_string()]).await;
        let conns = subscribers(&app).await;
        let full: Vec<(String, u64)> = ["longpoll", "sse", "stream", "ws"]
            .iter()
            .map(|t| (t.to_string(), PER_KIND as u64))
            .collect();
        assert_eq!(open_soon(&app, &full).await, full);

        // Act: every client goes away.
        let left = Instant::now();
        for conn in conns {
            if reset {
                conn.reset();
            } else {
                conn.close().await;
            }
        }

        // Assert: within 2 s nothing is open and a new stream is admitted.
        loop {
            if open(&app).await.is_empty() {
                break;
            }
            assert!(
                left.elapsed() < Duration::from_secs(2),
                "still open 2 s after the clients left (reset: {reset}): {:?}",
                open(&app).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let again = subscribers(&app).await;
        assert_eq!(open_soon(&app, &full).await, full);
        drop(again);
    }
}
