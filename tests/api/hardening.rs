//! Limits and guarantees: cross-site WebSockets refused, publish rates and connection counts
//! capped with clear answers, CORS only where configured, clients that stop reading let go, and
//! every acknowledged message delivered before shutdown ends a stream.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::raw::{self, RawConn};

/// Opens a WebSocket with an `Origin` header; the HTTP status and, on refusal, the JSON body.
async fn ws_with_origin(app: &TestApp, origin: &str) -> (u16, Option<Value>) {
    let mut request = format!("ws://{}/api/ws", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => (response.status().as_u16(), None),
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| serde_json::from_slice(b).unwrap());
            (response.status().as_u16(), body)
        }
        Err(other) => panic!("handshake failed oddly: {other}"),
    }
}

/// A page of another origin cannot open a WebSocket (403); the server's own origin and
/// non-browser clients (no Origin) can; `--allowed-origins` names others.
#[tokio::test]
async fn websocket_origin_is_checked() {
    let app = spawn_app().await;
    assert_eq!(
        ws_with_origin(&app, &format!("http://{}", app.addr)).await,
        (101, None)
    );
    let (status, body) = ws_with_origin(&app, "http://evil.example").await;
    assert_eq!(status, 403);
    assert_eq!(
        body.unwrap(),
        json!({"error": "WebSocket connections from origin \"http://evil.example\" are not allowed here (see --allowed-origins)"})
    );
    assert_eq!(ws_with_origin(&app, "null").await.0, 403);
    assert_eq!(
        ws_with_origin(&app, &format!("https://{}.evil.example", app.addr.ip()))
            .await
            .0,
        403
    );
    let (_, response) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", app.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 101, "no Origin: not a browser, allowed");

    let listed = spawn_app_with(&[
        "--allowed-origins",
        "http://school.example,http://lab.example",
    ])
    .await;
    assert_eq!(ws_with_origin(&listed, "http://lab.example").await.0, 101);
    assert_eq!(ws_with_origin(&listed, "http://evil.example").await.0, 403);
}

/// Past its burst an address gets 429 with Retry-After, for posts and WebSocket frames alike,
/// and nothing refused is stored. (Loopback is exempt by default; this test opts in.)
#[tokio::test]
async fn publishing_is_rate_limited_per_address() {
    let app = spawn_app_with(&[
        "--limit-loopback",
        "--posts-per-second",
        "0.5",
        "--post-burst",
        "3",
    ])
    .await;
    for _ in 0..3 {
        app.post("u", "within the burst").await;
    }
    let response = app
        .http
        .post(app.url("/api/messages"))
        .json(&json!({"text": "one too many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "too many messages from your address; try again in 2 s"})
    );
    let mut ws = app.ws("/api/ws").await;
    ws.next_json().await;
    ws.send_text(r#"{"text":"also too many","ref":"r"}"#).await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "error", "error": "too many messages from your address; try again in 2 s", "ref": "r"})
    );
    assert_eq!(app.stored_ids().await, vec![1, 2, 3]);

    let exempt = spawn_app_with(&["--posts-per-second", "0.5", "--post-burst", "3"]).await;
    for _ in 0..10 {
        exempt.post("u", "loopback is exempt by default").await;
    }
}

/// Connections over the per-address or total cap get a JSON 503 with Retry-After; closing one
/// frees its place.
#[tokio::test]
async fn connections_are_capped_with_a_clear_answer() {
    let app = spawn_app_with(&["--limit-loopback", "--max-connections-per-ip", "2"]).await;
    let mut first = RawConn::connect(app.addr).await;
    first.get("/healthz").await;
    first.read_response().await;
    let mut second = RawConn::connect(app.addr).await;
    second.get("/healthz").await;
    second.read_response().await;

    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let refused = raw::read_to_close(third).await;
    let (head, body) = refused.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refused}"
    );
    assert!(
        head.contains("\r\nretry-after: 5\r\n") && head.contains("\r\nconnection: close"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"error": "your address has its maximum of 2 open connections; try again later"})
    );

    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = RawConn::connect(app.addr).await;
    again.get("/healthz").await;
    assert!(again.read_response().await.0.starts_with("HTTP/1.1 200"));

    let total = spawn_app_with(&["--max-connections", "1"]).await;
    let mut only = RawConn::connect(total.addr).await;
    only.get("/healthz").await;
    only.read_response().await;
    // Over the total cap, the API is refused...
    let mut over = TcpStream::connect(total.addr).await.unwrap();
    over.write_all(b"GET /api/poll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let refused = raw::read_to_close(over).await;
    let (head, body) = refused.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 503 Service Unavailable\r\n")
            && head.contains("\r\nretry-after: 5\r\n")
            && head.contains("\r\nconnection: close"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"error": "the server has its maximum of 1 open connections; try again later"})
    );
}

/// A server holding its maximum of connections still answers its health check (full is load,
/// not failure), once per connection, with how full it is; the metrics answer too.
#[tokio::test]
async fn a_full_server_still_answers_its_health_check() {
    let app = spawn_app_with(&["--max-connections", "1"]).await;
    let mut only = RawConn::connect(app.addr).await;
    only.get("/api/sse").await;
    let ready = only.read_through(b"event: ready", b"\n\n").await;
    // The run's epoch as the stream named it, to check /healthz against another source.
    let ready = String::from_utf8_lossy(&ready).into_owned();
    let epoch = ready
        .split("\nid: ")
        .nth(1)
        .and_then(|rest| rest.split('-').next())
        .unwrap()
        .to_owned();

    let mut health = TcpStream::connect(app.addr).await.unwrap();
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = raw::read_to_close(health).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("\r\nconnection: close"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"status": "ok", "epoch": epoch, "connections": {"open": 1, "max": 1, "full": true}})
    );
    let mut metrics = TcpStream::connect(app.addr).await.unwrap();
    metrics
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = raw::read_to_close(metrics).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("transport_lab_open_connections"),
        "{answer}"
    );
}

/// CORS headers appear only for configured origins and only on /api paths.
#[tokio::test]
async fn cors_only_where_configured() {
    let plain = spawn_app().await;
    let response = plain
        .http
        .get(plain.url("/api/poll"))
        .header("Origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let app = spawn_app_with(&["--cors-origins", "http://app.example"]).await;
    let allowed = app
        .http
        .get(app.url("/api/poll"))
        .header("Origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/messages"))
        .header("Origin", "http://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let other = app
        .http
        .get(app.url("/api/poll"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let page = app
        .http
        .get(app.url("/"))
        .header("Origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers().get("access-control-allow-origin").is_none(),
        "pages are not shared cross-origin"
    );
}

/// An SSE and a WebSocket client that never read are closed after `--stall-timeout`, counted in
/// the ledger as slow disconnects, while a reading client receives every message in order.
#[tokio::test]
async fn clients_that_stop_reading_are_let_go() {
    let app = spawn_app_with(&[
        "--stall-timeout",
        "1",
        "--history",
        "100000",
        "--heartbeat",
        "60",
    ])
    .await;
    let mut sse_sleeper = TcpStream::connect(app.addr).await.unwrap();
    sse_sleeper
        .write_all(b"GET /api/sse?client=sleepy-sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut ws_sleeper = TcpStream::connect(app.addr).await.unwrap();
    ws_sleeper
        .write_all(
            b"GET /api/ws?client=sleepy-ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let mut reader = app.sse("/api/sse", None).await;
    reader.next_event().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 4,000 messages of 4 KB: 16 MB, far more than the socket buffers of the sleepers hold.
    let text = "z".repeat(4000);
    let publisher = {
        let (http, url) = (app.http.clone(), app.url("/api/messages"));
        tokio::spawn(async move {
            for _ in 0..4000 {
                let r = http
                    .post(&url)
                    .header("content-type", "text/plain")
                    .body(text.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        })
    };
    let mut ids = Vec::new();
    while ids.len() < 4000 {
        let event = reader.next_non_heartbeat().await.unwrap();
        assert_eq!(
            event.event, None,
            "no gap for a reader that keeps up: {event:?}"
        );
        ids.push(
            serde_json::from_str::<Value>(&event.data.unwrap()).unwrap()["id"]
                .as_u64()
                .unwrap(),
        );
    }
    publisher.await.unwrap();
    assert_eq!(ids, (1..=4000).collect::<Vec<_>>());

    // Both sleepers are dropped within the stall timeout (1 s) plus scheduling slack.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (sse_slow, ws_slow) = loop {
        let (_, sse) = app.get_json("/api/stats?client=sleepy-sse").await;
        let (_, ws) = app.get_json("/api/stats?client=sleepy-ws").await;
        let counts = (
            sse["transports"]["sse"]["slow_disconnects"].as_u64(),
            ws["transports"]["ws"]["slow_disconnects"].as_u64(),
        );
        if counts == (Some(1), Some(1)) || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((sse_slow, ws_slow), (Some(1), Some(1)));
    let (_, stats) = app.get_json("/api/stats").await;
    assert_eq!(
        (
            stats["transports"]["sse"]["open"].as_u64(),
            stats["transports"]["ws"]["open"].as_u64()
        ),
        (Some(1), Some(0))
    );
    // The sleeper's socket ends once its buffered bytes are read.
    let mut sink = vec![0u8; 1 << 20];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match sse_sleeper.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled SSE connection was closed");
    drop(ws_sleeper);
}

/// Messages acknowledged with 201 before and while shutdown begins all reach every stream before
/// it ends, even when the streams are far behind (16 MB each, more than any socket buffer);
/// posts after shutdown began get 503 (or find the server gone) and were never acknowledged.
#[tokio::test]
async fn shutdown_loses_no_acknowledged_message() {
    let mut app = spawn_app_with(&[
        "--heartbeat",
        "60",
        "--max-text-bytes",
        "16384",
        "--history",
        "100000",
    ])
    .await;
    let mut sse = app.sse("/api/sse", None).await;
    let mut stream = app.stream("/api/stream").await;
    let mut ws = app.ws("/api/ws").await;
    sse.next_event().await.unwrap();
    stream.next_json().await.unwrap();
    ws.next_json().await;

    let (backlog_ready, backlog) = tokio::sync::oneshot::channel();
    let publisher = {
        let (http, url) = (app.http.clone(), app.url("/api/messages"));
        let text = "q".repeat(16_000);
        tokio::spawn(async move {
            let mut acknowledged = BTreeSet::new();
            let mut backlog_ready = Some(backlog_ready);
            for _ in 0..5000 {
                let sent = http
                    .post(&url)
                    .header("content-type", "text/plain")
                    .body(text.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 201 => {
                        acknowledged
                            .insert(r.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
                    }
                    Ok(r) => assert_eq!(r.status(), 503, "only 201 or 503"),
                    Err(_) => break,
                }
                if acknowledged.len() == 1000 {
                    // Keep publishing while shutdown begins: some posts are in flight then.
                    backlog_ready.take().map(|tx| tx.send(()));
                }
            }
            acknowledged
        })
    };
    // The readers read nothing until shutdown has begun, so every stream is far behind.
    backlog.await.unwrap();
    let shutdown = tokio::spawn(async move { app.shutdown().await });

    let sse_ids = tokio::spawn(async move {
        let mut ids = BTreeSet::new();
        while let Some(event) = sse.next_event().await {
            if event.event.is_none() && event.data.is_some() {
                ids.insert(event.json()["id"].as_u64().unwrap());
            }
        }
        ids
    });
    let stream_ids = tokio::spawn(async move {
        let mut ids = BTreeSet::new();
        while let Some(line) = stream.next_json().await {
            if let Some(id) = line["id"].as_u64() {
                ids.insert(id);
            }
        }
        ids
    });
    let ws_ids = tokio::spawn(async move {
        let mut ids = BTreeSet::new();
        while let Some(frame) = ws.next_frame().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame
                && let Some(id) = serde_json::from_str::<Value>(&text).unwrap()["id"].as_u64()
            {
                ids.insert(id);
            }
        }
        ids
    });
    shutdown.await.unwrap();
    let acknowledged = publisher.await.unwrap();
    assert!(
        acknowledged.len() >= 1000,
        "published {} before shutdown",
        acknowledged.len()
    );
    for (name, got) in [
        ("sse", sse_ids.await.unwrap()),
        ("stream", stream_ids.await.unwrap()),
        ("ws", ws_ids.await.unwrap()),
    ] {
        let missing: Vec<_> = acknowledged.difference(&got).collect();
        assert!(
            missing.is_empty(),
            "{name} ended without {} acknowledged messages, first {:?}",
            missing.len(),
            missing.first()
        );
    }
}

/// A page of another site cannot post as anyone: a post whose `Origin` is not this server's own
/// (nor in `--allowed-origins` / `--cors-origins`), or that has no `Origin` but says
/// `Sec-Fetch-Site: cross-site`, is refused with 403 and stores nothing; our own pages, CORS
/// origins and clients that are not pages (no such headers) still post.
#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app_with(&["--cors-origins", "http://app.example"]).await;
    let post = |headers: Vec<(&'static str, String)>, body: &'static str| {
        let mut request = app
            .http
            .post(app.url("/api/messages?user=ada"))
            .header("Content-Type", "text/plain")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let own = format!("http://{}", app.addr);

    assert_eq!(
        post(vec![("Origin", "http://evil.example".into())], "forged").await,
        (
            403,
            json!({"error": "posts from origin \"http://evil.example\" are not allowed here (see --allowed-origins and --cors-origins)"})
        )
    );
    assert_eq!(
        post(vec![("Origin", "null".into())], "sandboxed").await.0,
        403
    );
    assert_eq!(
        post(vec![("Sec-Fetch-Site", "cross-site".into())], "beacon").await,
        (
            403,
            json!({"error": "posts from a page of another site are not allowed here"})
        )
    );
    assert_eq!(
        app.stored_ids().await,
        Vec::<u64>::new(),
        "a refused post was stored"
    );

    assert_eq!(post(vec![("Origin", own)], "from our page").await.0, 201);
    assert_eq!(
        post(
            vec![("Origin", "http://app.example".into())],
            "from a CORS origin"
        )
        .await
        .0,
        201
    );
    assert_eq!(
        post(
            vec![("Sec-Fetch-Site", "same-origin".into())],
            "same origin"
        )
        .await
        .0,
        201
    );
    assert_eq!(post(vec![], "curl").await.0, 201);
    assert_eq!(app.stored_ids().await, vec![1, 2, 3, 4]);
}

/// Every answer carries `X-Content-Type-Options: nosniff`, and an answer to a request that asked
/// for a protocol this server does not speak (`Upgrade: h2c`) does not claim an upgrade: it
/// closes the connection instead.
#[tokio::test]
async fn answers_say_nosniff_and_upgrade_only_when_they_do() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/poll", "/api/nowhere", "/"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path}"
        );
    }
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&answer[..n]).to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        !head.contains("upgrade") && head.contains("\r\nconnection: close\r\n"),
        "{head}"
    );
}

/// A request whose body the handler does not read (a GET with a body) is answered with
/// `Connection: close`, and the connection is then closed: what the client sent after it is not
/// taken as a new request.
#[tokio::test]
async fn a_get_with_an_unread_body_closes_its_connection() {
    let app = spawn_app().await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"GET /api/poll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    // Sent after the first answer is on its way: a second request the server must not serve.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let answer = raw::read_to_close(socket).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
}
