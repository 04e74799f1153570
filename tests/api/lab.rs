//! The fault lab (`/api/lab`): its API refuses what it cannot do, and each fault does on the wire
//! what it says, to its own client's connections only.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

async fn set(app: &TestApp, client: &str, faults: Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/lab?client={client}")))
        .json(&faults)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Opens an SSE subscription for `client` on a plain socket.
async fn sse(app: &TestApp, client: &str) -> TcpStream {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "GET /api/sse?client={client} HTTP/1.1\r\nHost: {}\r\n\r\n",
        app.addr
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket
}

/// What arrives on `socket` within `wait` (empty when nothing does); `None` once it is closed.
async fn read_within(socket: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0; 65536];
    match tokio::time::timeout(wait, socket.read(&mut buf)).await {
        Err(_) => Some(Vec::new()),
        Ok(Ok(0) | Err(_)) => None,
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
    }
}

/// GET shows a client's faults, POST replaces them, DELETE clears them; bad input is a 400 that
/// changes nothing.
#[tokio::test]
async fn the_api_sets_checks_and_clears() {
    let app = spawn_app_with(&[]).await;
    let (status, state) = app.get_json("/api/lab?client=stu-1").await;
    assert_eq!(status, 200);
    assert_eq!(
        state,
        json!({"client": "stu-1", "faults": {"refuse_upgrade": false, "buffer_kib": null,
               "idle_cut_s": null, "latency_ms": null, "cut_every_s": null}})
    );
    let (status, state) = set(&app, "stu-1", json!({"buffer_kib": 8, "idle_cut_s": 2.5})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &state["faults"]["buffer_kib"],
            &state["faults"]["idle_cut_s"]
        ),
        (&json!(8), &json!(2.5))
    );
    for bad in [
        json!({"buffer_kib": 0}),
        json!({"buffer_kib": 4096}),
        json!({"idle_cut_s": -1}),
        json!({"latency_ms": "slow"}),
        json!({"flood": true}),
        json!([1, 2]),
    ] {
        let (status, body) = set(&app, "stu-1", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    let (_, state) = app.get_json("/api/lab?client=stu-1").await;
    assert_eq!(state["faults"]["buffer_kib"], 8, "refusals changed nothing");
    for query in ["", "?client=", "?client=bad%20id"] {
        let (status, body) = app.get_json(&format!("/api/lab{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    let response = app
        .http
        .delete(app.url("/api/lab?client=stu-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let state: Value = response.json().await.unwrap();
    assert_eq!(state["faults"]["buffer_kib"], Value::Null);
}

/// Refused upgrade: that client's WebSocket handshakes get 403 JSON, everyone else's succeed.
#[tokio::test]
async fn refused_upgrade_is_that_clients_alone() {
    let app = spawn_app_with(&[]).await;
    set(&app, "stu-a", json!({"refuse_upgrade": true})).await;
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{}/api/ws?client=stu-a", app.addr))
            .await
            .unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("fault lab"),
        "{body}"
    );
    app.ws("/api/ws?client=stu-b").await;
}

/// Buffering proxy: a stream for that client shows nothing until the held bytes pass the
/// threshold, then everything at once; a poll (whose response ends) still answers; another
/// client's stream is live from the start.
#[tokio::test]
async fn buffering_holds_streams_until_the_threshold() {
    let app = spawn_app_with(&["--heartbeat", "60"]).await;
    set(&app, "stu-buf", json!({"buffer_kib": 2})).await;
    let mut held = sse(&app, "stu-buf").await;
    let mut live = sse(&app, "stu-live").await;
    let first = read_within(&mut live, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));
    assert_eq!(
        read_within(&mut held, Duration::from_millis(500)).await,
        Some(vec![]),
        "held: not even the response head"
    );
    let (status, _) = app.get_json("/api/poll?client=stu-buf").await;
    assert_eq!(status, 200, "a response that ends is let go at its end");

    // Each message is about 120 bytes of SSE on the wire: thirty pass 2 KiB.
    for i in 0..30 {
        app.post("ada", &format!("message {i}")).await;
    }
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("message 1") {
        let more = read_within(&mut held, Duration::from_secs(2))
            .await
            .unwrap();
        assert!(!more.is_empty(), "released once past the threshold");
        got.extend(more);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(got.len() >= 2048, "released together: {} bytes", got.len());
}

/// Idle cut: that client's stream is closed after the idle time without bytes; another client's
/// stays open and keeps receiving.
#[tokio::test]
async fn idle_cut_closes_that_clients_quiet_connection() {
    let app = spawn_app_with(&["--heartbeat", "60"]).await;
    set(&app, "stu-idle", json!({"idle_cut_s": 0.5})).await;
    let mut cut = sse(&app, "stu-idle").await;
    let mut kept = sse(&app, "stu-kept").await;
    read_within(&mut cut, Duration::from_secs(2)).await.unwrap();
    read_within(&mut kept, Duration::from_secs(2))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        match read_within(&mut cut, Duration::from_secs(3)).await {
            None => break,
            Some(bytes) => assert!(!bytes.is_empty(), "cut within 3 s"),
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the idle time"
    );
    app.post("ada", "still here").await;
    let after = read_within(&mut kept, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&after).contains("still here"));
}

/// `?heartbeat=` shorter than the idle cut keeps that client's stream alive: heartbeats are what
/// save a connection from a load balancer's idle timeout. A bad value is a 400.
#[tokio::test]
async fn heartbeats_shorter_than_the_idle_cut_save_the_connection() {
    let app = spawn_app_with(&["--heartbeat", "60"]).await;
    set(&app, "stu-beat", json!({"idle_cut_s": 0.6})).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "GET /api/sse?client=stu-beat&heartbeat=0.2 HTTP/1.1\r\nHost: {}\r\n\r\n",
        app.addr
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut heartbeats = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let bytes = read_within(&mut socket, Duration::from_secs(1))
            .await
            .expect("kept open by its heartbeats");
        heartbeats += String::from_utf8_lossy(&bytes)
            .matches(": heartbeat")
            .count();
    }
    assert!(heartbeats >= 3, "{heartbeats}");
    for bad in ["0", "0.1", "121", "soon", ""] {
        let (status, body) = app.get_json(&format!("/api/sse?heartbeat={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

/// Latency delays each write to that client; a random cut ends its connections.
#[tokio::test]
async fn latency_and_random_cuts() {
    let app = spawn_app_with(&["--heartbeat", "60"]).await;
    set(&app, "stu-slow", json!({"latency_ms": 300})).await;
    let started = Instant::now();
    let (status, _) = app.get_json("/api/poll?client=stu-slow").await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    set(&app, "stu-flaky", json!({"cut_every_s": 0.5})).await;
    let mut flaky = sse(&app, "stu-flaky").await;
    let mut closed = false;
    for _ in 0..10 {
        if read_within(&mut flaky, Duration::from_millis(300))
            .await
            .is_none()
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "cut within 3 s (it is due by 0.75 s)");
}
