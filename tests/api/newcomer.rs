//! What a newcomer tripped over: a body that never arrives, `curl -I`, HTTP/1.0, taps left open.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::raw::{self, RawConn};

async fn exchange(app: &TestApp, request: &[u8]) -> String {
    raw::exchange(app.addr, request).await
}

/// A post whose body stops arriving gets a JSON 408 after `--request-timeout` of silence (the
/// head's timeout does not cover the body), and nothing is stored.
#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let app = spawn_app_with(&["--request-timeout", "1"]).await;
    let started = Instant::now();
    let answer = exchange(
        &app,
        b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhello, ",
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"error": "the body stopped arriving: nothing for 1 s (see --request-timeout)"})
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.stored_ids().await, Vec::<u64>::new());
}

/// `HEAD` is answered wherever a page or document answers `GET` (what `curl -I` sends), with
/// the head alone; the transports answer GET only, and say so.
#[tokio::test]
async fn head_is_answered_where_get_is() {
    let app = spawn_app().await;
    for path in [
        "/healthz",
        "/",
        "/transports/sse",
        "/api/stats",
        "/metrics",
        "/static/style.css",
    ] {
        let answer = exchange(
            &app,
            format!("HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "{path}: {answer}"
        );
        assert!(
            answer.ends_with("\r\n\r\n"),
            "{path}: a HEAD answer has no body: {answer}"
        );
    }
    let answer = exchange(
        &app,
        b"HEAD /api/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")
            && answer.contains("\r\nallow: GET\r\n"),
        "{answer}"
    );
}

/// An HTTP/1.0 request gets a JSON 505 (no chunked stream it could not read), and the
/// connection closes; nothing else is answered in HTTP/1.0.
#[tokio::test]
async fn http_1_0_gets_505() {
    let app = spawn_app().await;
    for path in ["/api/sse", "/api/stream", "/api/poll", "/healthz"] {
        let answer = exchange(
            &app,
            format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
        )
        .await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.0 505 HTTP Version Not Supported\r\n"),
            "{path}: {head}"
        );
        assert!(
            !head.to_lowercase().contains("transfer-encoding"),
            "{path}: {head}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            json!({"error": "HTTP/1.0 is not supported here; use HTTP/1.1"}),
            "{path}"
        );
    }
}

/// A tap whose watcher closes its connection is let go at once: four taps (a client's most),
/// closed, make room for four new ones within a second, though no record flowed meanwhile.
#[tokio::test]
async fn closed_taps_are_let_go() {
    let app = spawn_app_with(&["--heartbeat", "30"]).await;
    let open_taps = |n: usize| async move {
        let mut taps = Vec::new();
        for _ in 0..n {
            let mut tap = RawConn::connect(app.addr).await;
            tap.get("/api/tap?client=watched").await;
            tap.read_through(b"HTTP/1.1 200", b": tap for client watched")
                .await;
            taps.push(tap);
        }
        taps
    };
    let first = open_taps(4).await;
    let mut fifth = RawConn::connect(app.addr).await;
    fifth.get("/api/tap?client=watched").await;
    assert!(
        fifth.read_response().await.0.starts_with("HTTP/1.1 503"),
        "a fifth watcher is refused"
    );
    for tap in first {
        tap.close().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = open_taps(4).await;
    assert_eq!(again.len(), 4);
}

/// A WebSocket handshake of another protocol version gets 426 naming the version spoken here in
/// `Sec-WebSocket-Version` (RFC 6455 §4.4), with a JSON body.
#[tokio::test]
async fn websocket_version_8_is_told_version_13() {
    let app = spawn_app().await;
    let answer = exchange(
        &app,
        b"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nsec-websocket-version: 13\r\n"), "{head}");
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"error": "WebSocket version \"8\" is not supported; this server speaks version 13"})
    );
}

/// DNS rebinding: a request naming a host this server was not told about gets 421 on every
/// endpoint (a WebSocket handshake from that "origin" included); addresses, `localhost` and the
/// names in `--allowed-hosts` are served.
#[tokio::test]
async fn only_known_hosts_are_served() {
    let app = spawn_app_with(&["--allowed-hosts", "class.example"]).await;
    let port = app.addr.port();
    for path in ["/api/poll", "/", "/healthz"] {
        let answer = exchange(
            &app,
            format!(
                "GET {path} HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 421 Misdirected Request\r\n"),
            "{path}: {head}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            json!({"error": format!("host \"evil.example:{port}\" is not served here: use the server's address or localhost, or name it in --allowed-hosts")}),
        );
    }
    let rebound = exchange(
        &app,
        format!(
            "GET /api/ws HTTP/1.1\r\nHost: evil.example:{port}\r\nOrigin: http://evil.example:{port}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(rebound.starts_with("HTTP/1.1 421 "), "{rebound}");
    for host in [
        format!("localhost:{port}"),
        format!("class.example:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let answer = exchange(
            &app,
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "{host}: {answer}"
        );
    }
}
