//! Socket.IO (`/socket.io/`): Engine.IO's polling, upgrade and direct WebSocket, Socket.IO's
//! events and acks on the shared bus, refusals that change nothing, and the ledger to the byte.
//! (The real `socket.io-client` judges the same server in `tests/socketio-client`.)

use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::{TestApp, WAIT, down_split_sum, spawn_app_with, stored_json};
use crate::raw::RawConn;

const SEP: char = '\u{1e}';

/// An Engine.IO polling session driven over plain HTTP.
struct Polling<'a> {
    app: &'a TestApp,
    sid: String,
    query: String,
}

impl<'a> Polling<'a> {
    /// The handshake; returns the session and the open packet's JSON.
    async fn open(app: &'a TestApp, query: &str) -> (Self, Value) {
        let response = app
            .http
            .get(app.url(&format!("/socket.io/?EIO=4&transport=polling{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=UTF-8"
        );
        let body = response.text().await.unwrap();
        let open: Value =
            serde_json::from_str(body.strip_prefix('0').expect("open packet")).unwrap();
        let sid = open["sid"].as_str().unwrap().to_owned();
        let query = format!("/socket.io/?EIO=4&transport=polling&sid={sid}{query}");
        (Self { app, sid, query }, open)
    }

    /// POSTs packets the server must accept.
    async fn post(&self, body: &str) {
        assert_eq!(self.post_raw(body).await, (200, "ok".to_owned()), "{body}");
    }

    async fn post_raw(&self, body: &str) -> (u16, String) {
        let response = self
            .app
            .http
            .post(self.app.url(&self.query))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// One poll's packets.
    async fn poll(&self) -> Vec<String> {
        let (status, body) = self.poll_raw().await;
        assert_eq!(status, 200, "{body}");
        body.split(SEP).map(str::to_owned).collect()
    }

    async fn poll_raw(&self) -> (u16, String) {
        let response =
            tokio::time::timeout(WAIT, self.app.http.get(self.app.url(&self.query)).send())
                .await
                .expect("poll answered within WAIT")
                .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Polls until `n` packets other than pings came; answers pings.
    async fn packets(&self, n: usize) -> Vec<String> {
        self.until(|got| got.len() >= n).await
    }

    /// Polls until `done` holds for the packets so far (pings answered, not kept).
    async fn until(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let mut got = Vec::new();
        while !done(&got) {
            let (status, body) = tokio::time::timeout(WAIT, self.poll_raw())
                .await
                .unwrap_or_else(|_| panic!("no more packets within WAIT; so far {got:?}"));
            assert_eq!(status, 200, "{body}");
            for packet in body.split(SEP) {
                if packet == "2" {
                    self.post("3").await;
                } else {
                    got.push(packet.to_owned());
                }
            }
        }
        got
    }
}

fn event(packet: &str) -> (String, Value) {
    let args: Value = serde_json::from_str(packet.strip_prefix("42").expect("an event")).unwrap();
    (args[0].as_str().unwrap().to_owned(), args[1].clone())
}

/// The handshake's open packet, CONNECT, a chat event with an ack, and the message on the one bus.
#[tokio::test]
async fn polling_connects_chats_and_acknowledges() {
    let app = spawn_app_with(&["--heartbeat", "5"]).await;
    let (session, open) = Polling::open(&app, "&client=sio-a").await;
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(
        (open["pingInterval"].as_u64(), open["pingTimeout"].as_u64()),
        (Some(5000), Some(5000))
    );
    assert_eq!(open["sid"].as_str().unwrap().len(), 22);

    session.post("40").await;
    let packets = session.packets(2).await;
    assert!(packets[0].starts_with("40{\"sid\":\""), "{packets:?}");
    let (name, ready) = event(&packets[1]);
    assert_eq!(
        (
            name.as_str(),
            ready["type"].as_str(),
            ready["room"].as_str()
        ),
        ("ready", Some("ready"), Some("lobby"))
    );

    session
        .post(r#"421["chat",{"user":"ada","text":"hi"}]"#)
        .await;
    let packets = session.packets(2).await;
    assert_eq!(packets[0], r#"431[{"id":1}]"#);
    let (name, message) = event(&packets[1]);
    assert_eq!(
        (name.as_str(), &message["text"], &message["user"]),
        ("chat", &Value::from("hi"), &Value::from("ada"))
    );
    // The same message every other transport reads.
    let (_, poll) = app.get_json("/api/poll?since=0").await;
    assert_eq!(poll["messages"][0], message);

    // A message from elsewhere arrives as a chat event, in the wire form stored once.
    let stored = app.post("bob", "hello").await;
    let packets = session.packets(1).await;
    let (name, message) = event(&packets[0]);
    assert_eq!((name.as_str(), &message), ("chat", &stored));
    assert!(
        packets[0]
            .starts_with(r#"42["chat",{"id":2,"room":"lobby","user":"bob","text":"hello","ts":"#)
    );
}

/// Polling, then the upgrade dance: `2probe`/`3probe`, a `6` releases the held poll, `5`; from
/// then on packets travel as frames and polls are refused.
#[tokio::test]
async fn polling_upgrades_to_websocket() {
    let app = spawn_app_with(&["--heartbeat", "5"]).await;
    let (session, _) = Polling::open(&app, "").await;
    session.post("40").await;
    session.packets(2).await;
    let held = {
        let http = app.http.clone();
        let url = app.url(&session.query);
        tokio::spawn(async move { http.get(url).send().await.unwrap().text().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut ws = app
        .ws(&format!(
            "/socket.io/?EIO=4&transport=websocket&sid={}",
            session.sid
        ))
        .await;
    ws.send_text("2probe").await;
    assert_eq!(ws.next_frame().await, Some(WsMessage::text("3probe")));
    assert_eq!(
        tokio::time::timeout(WAIT, held).await.unwrap().unwrap(),
        "6",
        "the noop releases the held poll"
    );
    ws.send_text("5").await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (status, body) = session.poll_raw().await;
    assert_eq!(status, 400, "{body}");
    let refusal: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (refusal["code"].as_u64(), refusal["message"].as_str()),
        (Some(3), Some("Bad request"))
    );

    app.post("bob", "after the upgrade").await;
    let frame = ws.next_frame().await.unwrap();
    let (name, message) = event(frame.to_text().unwrap());
    assert_eq!(
        (name.as_str(), message["text"].as_str()),
        ("chat", Some("after the upgrade"))
    );
    ws.send_text(r#"427["chat",{"text":"over the socket"}]"#)
        .await;
    let mut frames = vec![];
    for _ in 0..2 {
        frames.push(ws.next_frame().await.unwrap().to_text().unwrap().to_owned());
    }
    assert!(
        frames.contains(&r#"437[{"id":2}]"#.to_owned()),
        "{frames:?}"
    );
}

/// The upgrade's noop releases a poll held at any time before `5`: a client that polled again
/// after the first noop, before it read `3probe` (they come on two connections, in either
/// order), still gets its poll back at once, not at the next ping, and can upgrade.
#[tokio::test]
async fn a_poll_held_after_the_first_noop_is_released_too() {
    let app = spawn_app_with(&["--heartbeat", "5"]).await;
    let (session, _) = Polling::open(&app, "").await;
    session.post("40").await;
    session.packets(2).await;
    let mut ws = app
        .ws(&format!(
            "/socket.io/?EIO=4&transport=websocket&sid={}",
            session.sid
        ))
        .await;
    ws.send_text("2probe").await;
    assert_eq!(ws.next_frame().await, Some(WsMessage::text("3probe")));
    // No poll was held: the first noop waited for this one.
    assert_eq!(session.poll().await, ["6"]);

    // Act: the poll of a client that has not read `3probe` yet.
    let again = tokio::time::timeout(Duration::from_secs(1), session.poll_raw()).await;

    // Assert: released by a noop within a second (the next ping is 5 s away); the upgrade then
    // completes, and the socket carries messages with no noop left over.
    assert_eq!(
        again.expect("the poll was released within 1 s"),
        (200, "6".to_owned())
    );
    ws.send_text("5").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.post("bob", "after the upgrade").await;
    let frame = ws.next_frame().await.unwrap();
    let (name, message) = event(frame.to_text().unwrap());
    assert_eq!(
        (name.as_str(), message["text"].as_str()),
        ("chat", Some("after the upgrade"))
    );
}

/// `transport=websocket` without a sid: a session of its own, the open packet its first frame;
/// `auth.since` resumes at a cursor; the server pings and a pong keeps the session.
#[tokio::test]
async fn direct_websocket_resumes_from_auth_since() {
    let app = spawn_app_with(&["--heartbeat", "0.3"]).await;
    for text in ["one", "two", "three"] {
        app.post("ada", text).await;
    }
    let mut ws = app
        .ws("/socket.io/?EIO=4&transport=websocket&client=direct")
        .await;
    let open = ws.next_frame().await.unwrap();
    let open: Value =
        serde_json::from_str(open.to_text().unwrap().strip_prefix('0').unwrap()).unwrap();
    assert_eq!(open["upgrades"], serde_json::json!([]));
    ws.send_text(r#"40{"since":1}"#).await;
    let mut texts = vec![];
    let mut pings = 0;
    while texts.len() < 4 || pings < 2 {
        let frame = ws.next_frame().await.expect("session open");
        let text = frame.to_text().unwrap().to_owned();
        if text == "2" {
            pings += 1;
            ws.send_text("3").await;
        } else {
            texts.push(text);
        }
    }
    assert!(texts[0].starts_with("40{\"sid\":"), "{texts:?}");
    assert_eq!(event(&texts[1]).0, "ready");
    assert_eq!(event(&texts[1]).1["since"], 1);
    let ids: Vec<u64> = texts[2..]
        .iter()
        .map(|t| event(t).1["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [2, 3],
        "everything after the cursor, nothing before it"
    );
}

/// Rooms and "to others": `join`/`leave` events with acks, a message only in its room, and a
/// message sent with `except_sender` reaching everyone but its sender.
#[tokio::test]
async fn rooms_and_broadcast_to_others() {
    let app = spawn_app_with(&["--heartbeat", "5"]).await;
    let (a, _) = Polling::open(&app, "&client=sio-a").await;
    let (b, _) = Polling::open(&app, "&client=sio-b").await;
    a.post(r#"40{"room":"math"}"#).await;
    b.post("40").await;
    assert_eq!(event(&a.packets(2).await[1]).1["room"], "math");
    b.packets(2).await;
    b.post(r#"421["join","math"]"#).await;
    let packets = b.packets(2).await;
    assert_eq!(packets[0], r#"431[{"room":"math"}]"#);
    assert_eq!(event(&packets[1]).1["room"], "math");

    a.post(r#"42["chat",{"text":"to the others","except_sender":true}]"#)
        .await;
    a.post(r#"42["chat",{"text":"to all"}]"#).await;
    let texts = |packets: &[String]| -> Vec<String> {
        packets
            .iter()
            .filter(|p| p.starts_with(r#"42["chat""#))
            .map(|p| event(p).1["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let got = b.until(|p| texts(p).len() >= 2).await;
    assert_eq!(texts(&got), ["to the others", "to all"]);
    let got = a.until(|p| !texts(p).is_empty()).await;
    assert_eq!(
        texts(&got),
        ["to all"],
        "the sender skips its own message to others"
    );

    b.post(r#"42["leave","math",null]"#).await;
    b.post(r#"423["leave","math"]"#).await;
    let packets = b.packets(2).await;
    assert!(packets[0].starts_with(r#"42["left","#), "{packets:?}");
    assert!(
        packets[1].starts_with(r#"433[{"error":"not in room"#),
        "{packets:?}"
    );
}

/// Every malformed request is refused with the reference server's code, this server's words, and
/// changes nothing: no message published, and the session still works.
#[tokio::test]
async fn malformed_requests_change_nothing() {
    let app = spawn_app_with(&["--heartbeat", "5", "--max-body-bytes", "1024"]).await;
    let refusal = |status: u16, body: &str, code: u64| {
        let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"));
        assert_eq!(
            (status, json["code"].as_u64()),
            (if code == 4 { 403 } else { 400 }, Some(code)),
            "{body}"
        );
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    };
    for (query, code) in [
        ("EIO=3&transport=polling", 5),
        ("transport=polling", 5),
        ("EIO=4&transport=carrier-pigeon", 0),
        ("EIO=4&transport=polling&sid=nope", 1),
    ] {
        let response = app
            .http
            .get(app.url(&format!("/socket.io/?{query}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        refusal(status, &response.text().await.unwrap(), code);
    }
    let response = app
        .http
        .post(app.url("/socket.io/?EIO=4&transport=polling"))
        .body("40")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    refusal(status, &response.text().await.unwrap(), 2);

    let (session, _) = Polling::open(&app, "").await;
    session.post("40").await;
    session.packets(2).await;
    for bad in [
        "7",
        "",
        "bAQID",
        r#"42["chat",{"text":}]"#,
        r#"451-["chat",{"_placeholder":true,"num":0}]"#,
        r#"42{"text":"not an array"}"#,
        // One good packet and one bad: the body is refused whole.
        "42[\"chat\",{\"text\":\"half\"}]\u{1e}9",
    ] {
        let (status, body) = session.post_raw(bad).await;
        refusal(status, &body, 3);
    }
    let (status, body) = session
        .post_raw(&format!(r#"42["chat",{{"text":"{}"}}]"#, "x".repeat(2000)))
        .await;
    assert_eq!(status, 413, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], 3);
    let (_, poll) = app.get_json("/api/poll?since=0").await;
    assert_eq!(poll["last_id"], 0, "nothing was published");

    // The session is intact: a good packet still works.
    session.post(r#"425["chat",{"text":"fine"}]"#).await;
    assert_eq!(session.packets(2).await[0], r#"435[{"id":1}]"#);
    // A refused message is an ack with an error, or an error event without an ack.
    session.post(r#"426["chat",{"text":""}]"#).await;
    assert!(session.packets(1).await[0].starts_with(r#"436[{"error":"#));
    session.post(r#"42["shout",{"text":"x"}]"#).await;
    let (name, error) = event(&session.packets(1).await[0]);
    assert_eq!(
        (name.as_str(), error["type"].as_str()),
        ("error", Some("error"))
    );
    // Other namespaces are refused at CONNECT.
    session.post("40/admin,").await;
    assert_eq!(
        session.packets(1).await[0],
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
}

/// A session whose client stops answering pings is closed, and its sid is then unknown.
#[tokio::test]
async fn a_missed_pong_ends_the_session() {
    let app = spawn_app_with(&["--heartbeat", "0.2"]).await;
    let (session, _) = Polling::open(&app, "").await;
    assert_eq!(session.poll().await, ["2"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The ping was not answered: the session is gone.
    let (status, body) = session.poll_raw().await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"code\":1"), "{body}");
    assert_eq!(app.get_json("/api/stats").await.0, 200);
}

/// `--refuse-websocket ID`: that client's WebSocket handshakes get 403, as behind a proxy that
/// strips `Upgrade`; its polling works, and other clients upgrade.
#[tokio::test]
async fn refused_websocket_leaves_polling_working() {
    let app = spawn_app_with(&["--heartbeat", "5", "--refuse-websocket", "blocked"]).await;
    let (session, _) = Polling::open(&app, "&client=blocked").await;
    let url = format!(
        "ws://{}{}",
        app.addr,
        session.query.replace("polling", "websocket")
    );
    let refused = tokio_tungstenite::connect_async(url).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("expected an HTTP refusal, got {refused:?}");
    };
    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert_eq!(
        (body["code"].as_u64(), body["message"].as_str()),
        (Some(4), Some("Forbidden"))
    );
    session.post("40").await;
    assert_eq!(session.packets(2).await.len(), 2);
    let (status, _) = app.get_json("/api/poll?client=blocked").await;
    assert_eq!(status, 200);
    let mut ws = app
        .ws("/socket.io/?EIO=4&transport=websocket&client=other")
        .await;
    assert!(
        ws.next_frame()
            .await
            .unwrap()
            .to_text()
            .unwrap()
            .starts_with('0')
    );
}

/// The ledger follows one Socket.IO client through polling, the upgrade and the WebSocket, and
/// reports what the client itself counted, to the byte, with every kind where the contract puts
/// it: the message JSON payload, the envelope and separators framing, the rest other.
#[tokio::test]
async fn ledger_counts_socketio_to_the_byte() {
    let app = spawn_app_with(&["--heartbeat", "60"]).await;
    let q = "/socket.io/?EIO=4&transport=polling&client=sio-ledger";
    let mut poller = RawConn::connect(app.addr).await;
    let mut poster = RawConn::connect(app.addr).await;
    poller.get(q).await;
    let (_, open) = poller.read_response().await;
    let open = String::from_utf8(open).unwrap();
    let sid: Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = sid["sid"].as_str().unwrap().to_owned();
    let q = format!("{q}&sid={sid}");
    // What the client counts as it reads, by the contract's kinds.
    let mut requests = 1;
    let mut other_down = open.len() as u64;
    let (mut separators, mut chats, mut frames_down, mut payload_down) = (0u64, 0u64, 0u64, 0u64);
    let json = stored_json;

    poster.post_json(&q, "40").await;
    poster.read_response().await;
    poller.get(&q).await;
    let (_, body) = poller.read_response().await;
    requests += 2;
    other_down += body.len() as u64 - 1;
    separators += 1;

    let m1 = app.post("bob", "one").await;
    let m2 = app.post("bob", "two").await;
    let expected = format!("42[\"chat\",{}]{SEP}42[\"chat\",{}]", json(&m1), json(&m2));
    let mut got = String::new();
    while got.len() < expected.len() {
        poller.get(&q).await;
        requests += 1;
        let (_, body) = poller.read_response().await;
        let body = String::from_utf8(body).unwrap();
        separators += body.matches(SEP).count() as u64;
        if !got.is_empty() {
            got.push(SEP);
        }
        got.push_str(&body);
    }
    assert_eq!(got, expected, "two messages, in one poll or two");
    chats += 2;
    payload_down += (json(&m1).len() + json(&m2).len()) as u64;

    let mine = r#"{"text":"mine"}"#;
    poster
        .post_json(&q, &format!(r#"421["chat",{mine}]"#))
        .await;
    poster.read_response().await;
    requests += 1;
    let mut got = Vec::new();
    while got.len() < 2 {
        poller.get(&q).await;
        requests += 1;
        let (_, body) = poller.read_response().await;
        let body = String::from_utf8(body).unwrap();
        separators += body.matches(SEP).count() as u64;
        got.extend(body.split(SEP).map(str::to_owned));
    }
    assert_eq!(got[0], r#"431[{"id":3}]"#);
    other_down += got[0].len() as u64;
    payload_down += got[1].len() as u64 - 11;
    chats += 1;

    // The upgrade, on a third connection.
    let mut ws = RawConn::connect(app.addr).await;
    let handshake = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        q.replace("polling", "websocket"),
        app.addr
    );
    ws.send(handshake.as_bytes()).await;
    ws.read_through(b"HTTP/1.1 101", b"\r\n\r\n").await;
    requests += 1;
    poller.get(&q).await;
    requests += 1;
    ws.send_text_frame("2probe", [1, 2, 3, 4]).await;
    assert_eq!(ws.read_frames(1).await[0].1, b"3probe");
    other_down += 6;
    frames_down += 1;
    let (_, noop) = poller.read_response().await;
    assert_eq!(noop, b"6");
    other_down += 1;
    ws.send_text_frame("5", [5, 6, 7, 8]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m4 = app.post("bob", "four").await;
    let frames = ws.read_frames(1).await;
    assert_eq!(
        frames[0].1,
        format!("42[\"chat\",{}]", json(&m4)).as_bytes()
    );
    payload_down += json(&m4).len() as u64;
    chats += 1;
    frames_down += 1;
    let ours = r#"{"text":"over ws"}"#;
    ws.send_text_frame(&format!(r#"422["chat",{ours}]"#), [9, 9, 9, 9])
        .await;
    let frames = ws.read_frames(2).await;
    let (ack, chat) = if frames[0].1.starts_with(b"43") {
        (&frames[0].1, &frames[1].1)
    } else {
        (&frames[1].1, &frames[0].1)
    };
    assert_eq!(ack, br#"432[{"id":5}]"#);
    other_down += ack.len() as u64;
    payload_down += chat.len() as u64 - 11;
    chats += 1;
    frames_down += 2;

    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, stats) = app.get_json("/api/stats?client=sio-ledger").await;
    let s = &stats["transports"]["socketio"];
    let n = |f: &str| s[f].as_u64().unwrap_or_else(|| panic!("{f} in {s}"));
    assert_eq!(
        n("request_bytes"),
        poller.sent + poster.sent + ws.sent,
        "{s}"
    );
    assert_eq!(
        n("response_bytes"),
        poller.received + poster.received + ws.received,
        "{s}"
    );
    assert_eq!((n("requests"), n("messages")), (requests, 5), "{s}");
    assert_eq!(n("payload_bytes"), payload_down, "{s}");
    assert_eq!(n("heartbeat_bytes"), 0, "{s}");
    let ok_bodies = 2 * 2; // two POSTs answered "ok", which is other
    assert_eq!(n("other_bytes"), other_down + ok_bodies, "{s}");
    // Each chat's envelope (`42["chat",` and `]`), each separator, each frame's 2-byte header.
    assert_eq!(
        n("framing_bytes"),
        11 * chats + separators + 2 * frames_down,
        "{s}"
    );
    let split = down_split_sum(s);
    assert_eq!(split, n("response_bytes"));
    // Up: the client's chat objects are payload; its envelopes and frame headers framing.
    let up = &s["up"];
    assert_eq!(
        up["payload"].as_u64(),
        Some((mine.len() + ours.len()) as u64),
        "{up}"
    );
    assert_eq!(up["framing"].as_u64(), Some(12 + 6 + 6 + 6 + 12), "{up}");
    assert_eq!(up["other"].as_u64(), Some(2 + 6 + 1), "{up}");
}
