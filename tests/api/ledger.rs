//! The wire ledger against a client that counts its own bytes: equal to the byte.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use transport_lab::ledger::tap;

use crate::helpers::{TestApp, down_split_sum, spawn_app_with, stored_json};
use crate::raw::RawConn;

/// What the raw client itself saw for one transport.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Own {
    request_bytes: u64,
    response_bytes: u64,
    requests: u64,
    messages: u64,
}

impl Own {
    fn add(&mut self, conn: &RawConn) {
        self.request_bytes += conn.sent;
        self.response_bytes += conn.received;
    }
}

fn field(stats: &Value, transport: &str, name: &str) -> u64 {
    stats["transports"][transport][name]
        .as_u64()
        .unwrap_or_else(|| panic!("{transport}.{name} missing in {stats}"))
}

async fn next_tap_event(tap: &mut crate::helpers::SseClient) -> String {
    loop {
        let event = tap.next_event().await.expect("tap open");
        if event.event.as_deref() == Some("tap") {
            return event.data.unwrap();
        }
    }
}

/// Every transport, driven by a raw browser-like client on keep-alive connections, is reported by
/// `/api/stats?client=` exactly as the client counted it: bytes both ways, requests, messages;
/// the down split adds up; `/metrics` agrees; the tap shows the exact request head sent.
#[tokio::test]
async fn ledger_equals_the_clients_own_byte_counts() {
    // Arrange: no heartbeats during the test, so every byte is one the test expects.
    let app = spawn_app_with(&["--heartbeat", "60"]).await;
    let client = "raw-1";
    let mut tap = app.sse(&format!("/api/tap?client={client}"), None).await;
    tap.next_event().await.unwrap();
    let mut own: HashMap<&str, Own> = HashMap::new();

    // Short polling: three polls on one keep-alive connection, one of them carrying a message.
    let mut poll = RawConn::connect(app.addr).await;
    let first_head = poll
        .get(&format!("/api/poll?since=0&client={client}"))
        .await;
    let (_, empty) = poll.read_response().await;
    let epoch = app.epoch().await;
    assert_eq!(
        String::from_utf8(empty).unwrap(),
        format!(r#"{{"messages":[],"last_id":0,"cursor":"{epoch}-0","gap":false}}"#)
    );
    app.post("ada", "one").await;
    poll.get(&format!("/api/poll?since=0&client={client}"))
        .await;
    poll.read_response().await;
    poll.get(&format!("/api/poll?since=1&client={client}"))
        .await;
    poll.read_response().await;
    own.entry("poll").or_default().add(&poll);
    own.get_mut("poll").unwrap().requests = 3;
    own.get_mut("poll").unwrap().messages = 1;

    // Long polling: a held poll woken by this client's own post (counted as a longpoll send),
    // then one that times out empty.
    let mut long_poll = RawConn::connect(app.addr).await;
    long_poll
        .get(&format!("/api/longpoll?since=1&timeout=10&client={client}"))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sender = RawConn::connect(app.addr).await;
    sender
        .post_json(
            &format!("/api/messages?client={client}&transport=longpoll"),
            r#"{"user":"ada","text":"two"}"#,
        )
        .await;
    let (head, _) = sender.read_response().await;
    assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    let (_, woken) = long_poll.read_response().await;
    assert_eq!(
        serde_json::from_slice::<Value>(&woken).unwrap()["last_id"],
        2
    );
    long_poll
        .get(&format!("/api/longpoll?since=2&timeout=1&client={client}"))
        .await;
    long_poll.read_response().await;
    let lp = own.entry("longpoll").or_default();
    lp.add(&long_poll);
    lp.requests = 2;
    lp.messages = 1;
    // The post counts on the long poll's send side, apart from what receiving cost.
    let mut sent_via_longpoll = Own::default();
    sent_via_longpoll.add(&sender);
    sent_via_longpoll.requests = 1;

    // SSE, stream and WebSocket subscribers from id 2; five posts, then two sends over the socket.
    let mut sse = RawConn::connect(app.addr).await;
    sse.get(&format!("/api/sse?since=2&client={client}")).await;
    sse.read_through(b"event: ready", b"\n\n\r\n").await;
    let mut stream = RawConn::connect(app.addr).await;
    stream
        .get(&format!("/api/stream?since=2&client={client}"))
        .await;
    stream.read_through(b"{\"type\":\"ready\"", b"\n\r\n").await;
    let mut ws = RawConn::connect(app.addr).await;
    let handshake = format!(
        "GET /api/ws?since=2&client={client} HTTP/1.1\r\nHost: {}\r\n{}Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://{}\r\n\r\n",
        app.addr,
        crate::raw::browser_headers().replace("Connection: keep-alive", "Connection: Upgrade"),
        app.addr
    );
    ws.send(handshake.as_bytes()).await;
    let upgrade = ws.read_through(b"HTTP/1.1 101", b"\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&upgrade).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    let ready = ws.read_frames(1).await;
    assert_eq!(ready[0].1, app.ws_ready_text(2).await.as_bytes());

    for i in 3..=7 {
        app.post("bob", &format!("message {i}")).await;
    }
    ws.send_text_frame(r#"{"text":"eight","ref":1}"#, [9, 8, 7, 6])
        .await;
    ws.send_text_frame(r#"{"text":"nine","ref":2}"#, [1, 2, 3, 4])
        .await;
    sse.read_through(format!("id: {epoch}-9\n").as_bytes(), b"\n\n\r\n")
        .await;
    stream.read_through(b"{\"id\":9,", b"\n\r\n").await;
    let frames = ws.read_frames(9).await; // 5 messages, then 2 x (ack + broadcast)
    let acks = frames
        .iter()
        .filter(|(_, p)| p.starts_with(br#"{"type":"ack""#))
        .count();
    assert_eq!((frames.len(), acks), (9, 2));
    for (name, conn) in [("sse", &sse), ("stream", &stream), ("ws", &ws)] {
        let o = own.entry(name).or_default();
        o.add(conn);
        o.requests = 1;
        o.messages = 7;
    }

    // Act: let the last writes land, then read the ledger.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, stats) = app.get_json(&format!("/api/stats?client={client}")).await;
    assert_eq!(status, 200);

    // Assert: equal to the byte, per transport, receiving and sending apart.
    let send = |name: &str| stats["sends"]["longpoll"][name].as_u64().unwrap();
    assert_eq!(
        Own {
            request_bytes: send("request_bytes"),
            response_bytes: send("response_bytes"),
            requests: send("requests"),
            messages: send("messages"),
        },
        sent_via_longpoll,
        "the post via longpoll: {}",
        stats["sends"]
    );
    for (name, mine) in &own {
        let theirs = Own {
            request_bytes: field(&stats, name, "request_bytes"),
            response_bytes: field(&stats, name, "response_bytes"),
            requests: field(&stats, name, "requests"),
            messages: field(&stats, name, "messages"),
        };
        assert_eq!(theirs, *mine, "{name}: ledger vs the client's own counts");
        let split = down_split_sum(&stats["transports"][name]);
        assert_eq!(
            split, mine.response_bytes,
            "{name}: the split adds up to the response bytes"
        );
        let up_split: u64 = stats["transports"][name]["up"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(up_split, mine.request_bytes, "{name}: the up split adds up");
    }
    assert_eq!(
        (
            field(&stats, "poll", "empty_responses"),
            field(&stats, "longpoll", "empty_responses")
        ),
        (2, 1)
    );
    // The sender's connection is open on the long poll's send side, not its receiving side.
    assert_eq!(
        (send("connections"), send("open")),
        (1, 1),
        "{}",
        stats["sends"]
    );
    assert_eq!(
        ["poll", "longpoll", "stream", "sse", "ws"]
            .map(|t| (field(&stats, t, "connections"), field(&stats, t, "open"))),
        [(1, 1), (1, 1), (1, 1), (1, 1), (1, 1)]
    );
    // Only this client used the transports, so the global ledger says the same.
    let (_, global) = app.get_json("/api/stats").await;
    assert_eq!(global["transports"], stats["transports"]);

    metrics_agree_with_stats(&app, &global).await;

    // What the payload is: exactly the message JSON delivered (this poll is counted too, so it
    // comes after the global comparison).
    let (_, all) = app.get_json("/api/poll?since=0").await;
    let json_len = |id: u64| -> u64 {
        let m = all["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap();
        stored_json(m).len() as u64
    };
    let sse_payload: u64 = (3..=9).map(json_len).sum();
    assert_eq!(field(&stats, "sse", "payload_bytes"), sse_payload);
    assert_eq!(field(&stats, "stream", "payload_bytes"), sse_payload);
    assert_eq!(field(&stats, "ws", "payload_bytes"), sse_payload);
    assert_eq!(field(&stats, "poll", "payload_bytes"), json_len(1));

    // The tap showed the first poll's request head as sent, but for the cookie's value, which
    // shows as its length; the head's byte count is the real one.
    let record = next_tap_event(&mut tap).await;
    let cookie = format!("Cookie: {}\r\n", protocol::headers::COOKIE);
    assert!(first_head.contains(&cookie), "{first_head}");
    let shown = first_head.replace(
        &cookie,
        &format!("Cookie: ‹{} bytes›\r\n", protocol::headers::COOKIE.len()),
    );
    let mut expected = format!("→ poll request head ({} bytes)\n", first_head.len());
    tap::render(&mut expected, shown.as_bytes());
    assert_eq!(record, expected.trim_end_matches('\n'));
    assert!(!record.contains(protocol::headers::COOKIE), "{record}");
}

/// Parses the exposition text and checks every transport's figures against `/api/stats`.
async fn metrics_agree_with_stats(app: &TestApp, stats: &Value) {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let mut samples: HashMap<String, u64> = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        assert!(name.starts_with("transport_lab_"), "{line}");
        samples.insert(
            name.to_owned(),
            value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line:?}")),
        );
    }
    for transport in ["poll", "longpoll", "stream", "sse", "ws"] {
        let s = &stats["transports"][transport];
        for (direction, split) in [("up", &s["up"]), ("down", &s["down"])] {
            for kind in ["header", "framing", "payload", "heartbeat", "other"] {
                let key = format!(
                    r#"transport_lab_bytes_total{{transport="{transport}",direction="{direction}",kind="{kind}"}}"#
                );
                assert_eq!(samples.get(&key).copied(), split[kind].as_u64(), "{key}");
            }
        }
        for (metric, field) in [
            ("transport_lab_requests_total", "requests"),
            ("transport_lab_connections_total", "connections"),
            ("transport_lab_messages_delivered_total", "messages"),
            ("transport_lab_empty_responses_total", "empty_responses"),
            ("transport_lab_open_connections", "open"),
        ] {
            let key = format!(r#"{metric}{{transport="{transport}"}}"#);
            assert_eq!(samples.get(&key).copied(), s[field].as_u64(), "{key}");
        }
    }
}

/// The stats endpoints answer clear errors: unknown client 404, malformed id 400; the stats
/// stream sends the same JSON shape once a second.
#[tokio::test]
async fn stats_endpoints() {
    let app = crate::helpers::spawn_app().await;
    assert_eq!(
        app.get_json("/api/stats?client=nobody").await,
        (
            404,
            json!({"error": "no traffic has been seen for client \"nobody\""})
        )
    );
    let (status, body) = app.get_json("/api/stats?client=bad%20id").await;
    assert_eq!(
        (
            status,
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("client must be")
        ),
        (400, true)
    );
    let (status, _) = app.get_json("/api/poll?client=bad%20id").await;
    assert_eq!(status, 400, "transports refuse a malformed client id too");
    let (status, body) = app.get_json("/api/stats").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["transports"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["longpoll", "poll", "socketio", "sse", "stream", "ws"]
    );

    let mut stream = app.sse("/api/stats/stream?client=page-1", None).await;
    let first = stream.next_event().await.unwrap().json();
    assert_eq!(
        (
            first["client"].as_str(),
            first["transports"]["sse"]["requests"].as_u64()
        ),
        (Some("page-1"), Some(0))
    );
    app.get_json("/api/poll?client=page-1").await;
    let started = std::time::Instant::now();
    let second = stream.next_event().await.unwrap().json();
    assert_eq!(second["transports"]["poll"]["requests"], 1);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

/// A keep-alive connection counts as open under the transport it serves now: polls, then an
/// SSE stream on the same connection, leave it open under `sse`, not `poll`.
#[tokio::test]
async fn open_follows_the_transport_a_connection_serves() {
    let app = crate::helpers::spawn_app().await;
    let mut conn = RawConn::connect(app.addr).await;
    conn.get("/api/poll?client=mover").await;
    conn.read_response().await;
    let (_, stats) = app.get_json("/api/stats?client=mover").await;
    assert_eq!(
        (
            field(&stats, "poll", "connections"),
            field(&stats, "poll", "open")
        ),
        (1, 1)
    );

    conn.get("/api/sse?client=mover").await;
    conn.read_through(b"event: ready", b"\n\n\r\n").await;
    let (_, stats) = app.get_json("/api/stats?client=mover").await;
    assert_eq!(
        ["poll", "sse"].map(|t| (field(&stats, t, "connections"), field(&stats, t, "open"))),
        [(1, 0), (1, 1)]
    );
    // The server learns the client left when a heartbeat write fails (0.3 s heartbeats here).
    drop(conn);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let open = loop {
        let (_, stats) = app.get_json("/api/stats?client=mover").await;
        let open = ["poll", "sse"].map(|t| field(&stats, t, "open"));
        if open == [0, 0] || std::time::Instant::now() > deadline {
            break open;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(open, [0, 0], "closing counts where it is open");
}

/// A request head with bare LF line endings, which actix-http answers, is counted under its own
/// client, and the CRLF request after it on the same connection under its own, to the byte.
#[tokio::test]
async fn bare_lf_request_heads_are_counted_under_their_own_client() {
    let app = crate::helpers::spawn_app().await;
    let mut conn = RawConn::connect(app.addr).await;
    let lf = b"GET /api/poll?client=lfA HTTP/1.1\nHost: 127.0.0.1\n\n";
    let crlf = b"GET /api/poll?client=crlfB HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    conn.send(lf).await;
    let (lf_head, lf_body) = conn.read_response().await;
    conn.send(crlf).await;
    let (crlf_head, crlf_body) = conn.read_response().await;

    assert!(lf_head.starts_with("HTTP/1.1 200 OK\r\n"), "{lf_head}");
    assert!(crlf_head.starts_with("HTTP/1.1 200 OK\r\n"), "{crlf_head}");
    // (requests, request_bytes, response_bytes) of each client's polls.
    let expected = [
        ("lfA", (1, len(lf), len(&lf_head) + len(&lf_body))),
        ("crlfB", (1, len(crlf), len(&crlf_head) + len(&crlf_body))),
    ];
    // A write is counted just after the kernel took it, so a response can reach the client a
    // moment before the ledger has it: read the stats until they settle, or 5 s pass.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let counted = loop {
        let mut counted = vec![];
        for (client, _) in expected {
            let (_, stats) = app.get_json(&format!("/api/stats?client={client}")).await;
            let [requests, sent, received] =
                ["requests", "request_bytes", "response_bytes"].map(|f| field(&stats, "poll", f));
            counted.push((client, (requests, sent, received)));
        }
        if counted == expected || std::time::Instant::now() > deadline {
            break counted;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(counted, expected);
}

fn len(bytes: impl AsRef<[u8]>) -> u64 {
    bytes.as_ref().len() as u64
}

/// `/api/tap?client=ID&stats=1` carries the client's counters once a second (`event: stats`, the
/// JSON of `/api/stats?client=ID`) beside its tap records, so a lesson page holds one connection
/// for both; any other value of `stats` is a 400.
#[tokio::test]
async fn the_tap_carries_the_counters_when_asked() {
    let app = spawn_app_with(&["--heartbeat", "60"]).await;
    let mut tap = app.sse("/api/tap?client=both-1&stats=1", None).await;
    tap.next_event().await.unwrap();
    let (status, _) = app.get_json("/api/poll?since=0&client=both-1").await;
    assert_eq!(status, 200);
    let (mut records, mut counted) = (0, None);
    while counted.is_none() || records < 2 {
        let event = tokio::time::timeout(Duration::from_secs(3), tap.next_event())
            .await
            .expect("an event within 3 s")
            .expect("the tap is open");
        match event.event.as_deref() {
            Some("tap") => records += 1,
            Some("stats") => {
                let stats = event.json();
                // The request is counted as its head arrives, the answer once written.
                if stats["transports"]["poll"]["empty_responses"] == 1 {
                    counted = Some(stats);
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    let counted = counted.unwrap();
    assert_eq!(counted["client"], "both-1");
    assert_eq!(counted["transports"]["poll"]["requests"], 1, "{counted}");

    for bad in ["2", "yes", ""] {
        let (status, body) = app
            .get_json(&format!("/api/tap?client=both-1&stats={bad}"))
            .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("stats must be 1")
        );
    }
}
