//! Rooms: separate logs on every transport, one socket in several rooms, "to others", presence,
//! and the refusals, all over real sockets.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    NdjsonClient, SseClient, TestApp, WAIT, WsClient, ids, spawn_app, spawn_app_with,
    spawn_app_with_presence,
};

impl TestApp {
    /// Posts to `query` (`room=..&except=..`) and returns the stored message.
    async fn post_to(&self, query: &str, user: &str, text: &str) -> Value {
        let response = self
            .http
            .post(self.url(&format!("/api/messages?{query}")))
            .json(&json!({"user": user, "text": text}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }
}

/// The three streaming subscribers of one room (and client), each past its `ready`.
struct Streams {
    sse: SseClient,
    stream: NdjsonClient,
    ws: WsClient,
}

impl Streams {
    async fn open(app: &TestApp, query: &str) -> Self {
        let mut streams = Self {
            sse: app.sse(&format!("/api/sse?{query}"), None).await,
            stream: app.stream(&format!("/api/stream?{query}")).await,
            ws: app.ws(&format!("/api/ws?{query}")).await,
        };
        assert_eq!(
            streams
                .sse
                .next_non_heartbeat()
                .await
                .unwrap()
                .event
                .as_deref(),
            Some("ready")
        );
        assert_eq!(
            streams.stream.next_non_heartbeat().await.unwrap()["type"],
            "ready"
        );
        assert_eq!(streams.ws.next_json().await["type"], "ready");
        streams
    }

    /// The next message on each of the three, as (room, id, text).
    async fn next(&mut self) -> [(String, u64, String); 3] {
        let pick = |m: Value| {
            assert!(
                m.get("type").is_none(),
                "a control object where a message was due: {m}"
            );
            (
                m["room"].as_str().unwrap().to_owned(),
                m["id"].as_u64().unwrap(),
                m["text"].as_str().unwrap().to_owned(),
            )
        };
        [
            pick(self.sse.next_non_heartbeat().await.unwrap().json()),
            pick(self.stream.next_non_heartbeat().await.unwrap()),
            pick(self.ws.next_json().await),
        ]
    }
}

fn texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Two rooms, all five transports in each: messages stay in their room, ids count per room,
/// resume and gaps are per room.
#[tokio::test]
async fn two_rooms_keep_their_messages_ids_and_gaps_apart() {
    let app = spawn_app_with(&["--history", "3"]).await;
    let mut a = Streams::open(&app, "room=math").await;
    let mut b = Streams::open(&app, "room=art").await;

    app.post_to("room=math", "ada", "m1").await;
    let art1 = app.post_to("room=art", "bob", "a1").await;
    assert_eq!((&art1["room"], &art1["id"]), (&json!("art"), &json!(1)));
    app.post_to("room=math", "ada", "m2").await;

    for want in [(1, "m1"), (2, "m2")] {
        for got in a.next().await {
            assert_eq!(got, ("math".to_owned(), want.0, want.1.to_owned()));
        }
    }
    for got in b.next().await {
        assert_eq!(got, ("art".to_owned(), 1, "a1".to_owned()));
    }
    // Nothing of math reached art's streams: their next is art's next.
    app.post_to("room=art", "bob", "a2").await;
    for got in b.next().await {
        assert_eq!(got, ("art".to_owned(), 2, "a2".to_owned()));
    }

    // Polls read their room only, ids per room; the lobby saw none of it.
    for transport in ["poll", "longpoll"] {
        let (_, math) = app
            .get_json(&format!("/api/{transport}?room=math&since=0"))
            .await;
        assert_eq!(
            (ids(&math["messages"]), texts(&math["messages"])),
            (vec![1, 2], vec!["m1".into(), "m2".into()])
        );
        let (_, art) = app
            .get_json(&format!("/api/{transport}?room=art&since=1"))
            .await;
        assert_eq!(texts(&art["messages"]), ["a2"]);
    }
    let (_, lobby) = app.get_json("/api/poll?since=0").await;
    assert_eq!(lobby["messages"], json!([]));

    // SSE resumes per room: art's id 1 is art's, whatever math's 1 was.
    let epoch = app.epoch().await;
    let mut resumed = app
        .sse("/api/sse?room=art", Some(&format!("{epoch}-1")))
        .await;
    resumed.next_non_heartbeat().await.unwrap();
    assert_eq!(
        resumed.next_non_heartbeat().await.unwrap().json()["text"],
        "a2"
    );

    // Gaps per room: math overflows its history of 3, art does not.
    for i in 3..=6 {
        app.post_to("room=math", "ada", &format!("m{i}")).await;
    }
    let (_, math) = app.get_json("/api/poll?room=math&since=0").await;
    assert_eq!(
        (&math["gap"], &math["missed"], ids(&math["messages"])),
        (&json!(true), &json!(3), vec![4, 5, 6])
    );
    let (_, art) = app.get_json("/api/poll?room=art&since=0").await;
    assert_eq!(
        (&art["gap"], ids(&art["messages"])),
        (&json!(false), vec![1, 2])
    );
    let mut late = app.ws("/api/ws?room=math&since=0").await;
    late.next_json().await;
    let notice = late.next_json().await;
    assert_eq!(
        (&notice["type"], &notice["room"], &notice["missed"]),
        (&json!("gap"), &json!("math"), &json!(3))
    );
}

/// One WebSocket in three rooms, three cursors; leave stops delivery; join with `since` replays.
#[tokio::test]
async fn one_socket_reads_three_rooms_with_three_cursors() {
    let app = spawn_app().await;
    app.post_to("room=r2", "u", "r2-old").await;
    let mut ws = app.ws("/api/ws?room=r1").await;
    assert_eq!(ws.next_json().await, app.ws_ready("r1", 0).await);
    ws.send_text(r#"{"type":"join","room":"r2","since":0}"#)
        .await;
    assert_eq!(ws.next_json().await, app.ws_ready("r2", 0).await);
    let old = ws.next_json().await;
    assert_eq!(
        (&old["room"], &old["id"], &old["text"]),
        (&json!("r2"), &json!(1), &json!("r2-old"))
    );
    ws.send_text(r#"{"type":"join","room":"r3"}"#).await;
    assert_eq!(ws.next_json().await, app.ws_ready("r3", 0).await);

    for room in ["r1", "r2", "r3"] {
        app.post_to(&format!("room={room}"), "u", &format!("to {room}"))
            .await;
        let m = ws.next_json().await;
        assert_eq!(
            (m["room"].as_str().unwrap(), m["text"].as_str().unwrap()),
            (room, format!("to {room}").as_str())
        );
    }
    // Publishing from the socket: the named room, or its first one.
    ws.send_text(r#"{"room":"r3","text":"from the socket","ref":1}"#)
        .await;
    let (mut ack, mut echo) = (None, None);
    for _ in 0..2 {
        let frame = ws.next_json().await;
        if frame["type"] == "ack" {
            ack = Some(frame)
        } else {
            echo = Some(frame)
        }
    }
    assert_eq!(ack.unwrap(), json!({"type": "ack", "ref": 1, "id": 2}));
    assert_eq!(echo.unwrap()["room"], "r3");
    ws.send_text("plain text goes to the first room").await;
    assert_eq!(ws.next_json().await["room"], "r1");

    ws.send_text(r#"{"type":"leave","room":"r2"}"#).await;
    assert_eq!(ws.next_json().await, json!({"type": "left", "room": "r2"}));
    app.post_to("room=r2", "u", "unseen").await;
    app.post_to("room=r3", "u", "seen").await;
    assert_eq!(
        ws.next_json().await["text"],
        "seen",
        "nothing of r2 after leaving it"
    );

    // Joining again from a cursor replays what was missed.
    ws.send_text(r#"{"type":"join","room":"r2","since":2}"#)
        .await;
    assert_eq!(ws.next_json().await, app.ws_ready("r2", 2).await);
    let replayed = ws.next_json().await;
    assert_eq!(
        (&replayed["id"], &replayed["text"]),
        (&json!(3), &json!("unseen"))
    );
}

/// "To others": over POST `except=` and over WebSocket `except_sender`, the sender's five
/// transports get nothing (their cursors move past it), another client's five get it once.
#[tokio::test]
async fn to_others_skips_the_senders_five_transports_only() {
    // Pings far apart: the sockets are not read while the long polls are held, so they could
    // not answer 0.3 s pings in time.
    let app = spawn_app_with(&["--heartbeat", "5"]).await;
    let mut me = Streams::open(&app, "room=x&client=me").await;
    let mut you = Streams::open(&app, "room=x&client=you").await;
    let long_polls = |client: &'static str| {
        let (http, url) = (
            app.http.clone(),
            app.url(&format!(
                "/api/longpoll?room=x&since=0&timeout=2&client={client}"
            )),
        );
        tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let (my_long_poll, your_long_poll) = (long_polls("me"), long_polls("you"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let hidden = app
        .post_to("room=x&client=me&except=me", "me", "not for me")
        .await;
    assert_eq!(hidden["id"], 1);
    for got in you.next().await {
        assert_eq!(got, ("x".to_owned(), 1, "not for me".to_owned()));
    }
    let your_long_poll = your_long_poll.await.unwrap();
    assert_eq!(texts(&your_long_poll["messages"]), ["not for me"]);
    let my_long_poll = my_long_poll.await.unwrap();
    assert_eq!(
        (&my_long_poll["messages"], &my_long_poll["last_id"]),
        (&json!([]), &json!(1)),
        "held to its timeout, cursor past it"
    );
    let (_, my_poll) = app.get_json("/api/poll?room=x&since=0&client=me").await;
    assert_eq!(
        (&my_poll["messages"], &my_poll["last_id"], &my_poll["gap"]),
        (&json!([]), &json!(1), &json!(false))
    );
    let (_, your_poll) = app.get_json("/api/poll?room=x&since=0&client=you").await;
    assert_eq!(texts(&your_poll["messages"]), ["not for me"]);

    // Over the socket: `except_sender` leaves out the socket's client on every transport.
    me.ws
        .send_text(r#"{"text":"also not for me","except_sender":true,"ref":"q"}"#)
        .await;
    assert_eq!(
        me.ws.next_json().await,
        json!({"type": "ack", "ref": "q", "id": 2})
    );
    for got in you.next().await {
        assert_eq!(got, ("x".to_owned(), 2, "also not for me".to_owned()));
    }
    // A message for everyone: the sender's streams' next message is that one, id 3.
    app.post_to("room=x", "you", "for all").await;
    for got in me.next().await {
        assert_eq!(got, ("x".to_owned(), 3, "for all".to_owned()));
    }
    for got in you.next().await {
        assert_eq!(got.2, "for all");
    }
}

/// Presence: members per transport as clients come and go (polls within the window), the
/// `presence` event on streams and sockets, `GET /api/rooms`.
#[tokio::test]
async fn presence_counts_members_per_transport_and_tells_the_room() {
    // Pings far apart: the socket is not read while the other two are; a window long enough for
    // the first sweep to see the polls, short enough to wait out.
    let app = spawn_app_with_presence(&["--presence-window", "2.5", "--heartbeat", "5"]).await;
    let mut sse = app.sse("/api/sse?room=p&client=ann", None).await;
    sse.next_non_heartbeat().await.unwrap();
    let mut ws = app.ws("/api/ws?room=p&client=ben").await;
    ws.next_json().await;
    let mut stream = app.stream("/api/stream?room=p").await;
    stream.next_non_heartbeat().await.unwrap();
    app.get_json("/api/poll?room=p&client=cat").await;
    app.get_json("/api/poll?room=p&client=ann").await;

    let (status, room) = app.get_json("/api/rooms/p").await;
    assert_eq!(status, 200);
    assert_eq!(
        (&room["members"], &room["by_transport"]),
        (
            &json!(4),
            &json!({"poll": 2, "longpoll": 0, "stream": 1, "sse": 1, "ws": 1, "socketio": 0})
        ),
        "ann counts once though on two transports; the anonymous stream is one member"
    );
    // The event: within about a second, on every stream and socket of the room.
    let want = json!({"type": "presence", "room": "p", "members": 4,
                      "by_transport": {"poll": 2, "longpoll": 0, "stream": 1, "sse": 1, "ws": 1, "socketio": 0}});
    // (An earlier event may show the room filling up: each waits for the full count.)
    assert_eq!(presence_until(&mut sse, &want).await, want);
    assert_eq!(presence_until(&mut stream, &want).await, want);
    assert_eq!(presence_until(&mut ws, &want).await, want);

    // Polls leave after the window; a closed stream leaves at once.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (_, room) = app.get_json("/api/rooms/p").await;
    assert_eq!(
        (&room["members"], &room["by_transport"]),
        (
            &json!(2),
            &json!({"poll": 0, "longpoll": 0, "stream": 0, "sse": 1, "ws": 1, "socketio": 0})
        )
    );
    let want = json!({"type": "presence", "room": "p", "members": 2,
                      "by_transport": {"poll": 0, "longpoll": 0, "stream": 0, "sse": 1, "ws": 1, "socketio": 0}});
    assert_eq!(presence_until(&mut sse, &want).await, want);
    let (_, all) = app.get_json("/api/rooms").await;
    let names: Vec<&str> = all["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lobby", "p"]);
    assert_eq!(
        (&all["max_rooms"], &all["presence_window_s"]),
        (&json!(1000), &json!(2.5))
    );
    // Reading creates nothing.
    let (status, body) = app.get_json("/api/rooms/nobody-here").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        app.get_json("/api/rooms").await.1["rooms"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// A client that can be asked for the next `presence` object on its wire.
trait Presences {
    async fn next_presence(&mut self) -> Value;
}

impl Presences for SseClient {
    async fn next_presence(&mut self) -> Value {
        loop {
            let event = self.next_event().await.unwrap();
            if event.event.as_deref() == Some("presence") {
                assert_eq!(event.id, None, "presence never moves the cursor");
                return event.json();
            }
        }
    }
}

impl Presences for NdjsonClient {
    async fn next_presence(&mut self) -> Value {
        loop {
            let line = self.next_json().await.unwrap();
            if line["type"] == "presence" {
                return line;
            }
        }
    }
}

impl Presences for WsClient {
    async fn next_presence(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame["type"] == "presence" {
                return frame;
            }
        }
    }
}

/// The first `presence` object equal to `want` (failing with the last one seen when none comes
/// within WAIT).
async fn presence_until(client: &mut impl Presences, want: &Value) -> Value {
    let mut seen = Value::Null;
    let found = tokio::time::timeout(WAIT, async {
        while seen != *want {
            seen = client.next_presence().await;
        }
    })
    .await;
    assert!(found.is_ok(), "last presence event: {seen}");
    seen
}

/// Bad room names, the room cap, joining twice, leaving a room not joined, oversized joins:
/// each a clear JSON error or error frame, and nothing changed.
#[tokio::test]
async fn room_refusals_say_why_and_change_nothing() {
    let app = spawn_app_with(&["--max-rooms", "3"]).await;
    for path in [
        "/api/poll",
        "/api/longpoll",
        "/api/stream",
        "/api/sse",
        "/api/ws",
    ] {
        for bad in ["a%20b", "", "%C3%A9", &"x".repeat(65), "a/b"] {
            let response = app
                .http
                .get(app.url(&format!("{path}?room={bad}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{path}?room={bad}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("room must be 1 to 64 characters"),
                "{body}"
            );
        }
    }
    let response = app
        .http
        .post(app.url("/api/messages?room=no%20way"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .http
        .post(app.url("/api/messages?except=no%20way"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // The lobby and two more make three: the fourth is refused, on every way in.
    app.post_to("room=one", "u", "t").await;
    app.get_json("/api/poll?room=two").await;
    for path in [
        "/api/poll?room=four",
        "/api/sse?room=four",
        "/api/ws?room=four",
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("--max-rooms"),
            "{body}"
        );
    }
    let response = app
        .http
        .post(app.url("/api/messages?room=four"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let (_, rooms) = app.get_json("/api/rooms").await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 3);

    let mut ws = app.ws("/api/ws?room=one").await;
    ws.next_json().await;
    let error = |frame: Value| frame["error"].as_str().unwrap().to_owned();
    ws.send_text(r#"{"type":"join","room":"one","ref":5}"#)
        .await;
    let frame = ws.next_json().await;
    assert_eq!(
        (&frame["type"], &frame["ref"]),
        (&json!("error"), &json!(5))
    );
    assert!(error(frame).starts_with("already in room \"one\""));
    ws.send_text(r#"{"type":"leave","room":"two"}"#).await;
    assert!(error(ws.next_json().await).starts_with("not in room \"two\""));
    ws.send_text(r#"{"type":"join","room":"four"}"#).await;
    assert!(error(ws.next_json().await).contains("--max-rooms"));
    ws.send_text(&format!(
        r#"{{"type":"join","room":"{}"}}"#,
        "y".repeat(5000)
    ))
    .await;
    let too_long = error(ws.next_json().await);
    assert!(
        too_long.starts_with("room must be") && too_long.len() < 300,
        "{too_long}"
    );
    ws.send_text(r#"{"type":"join"}"#).await;
    assert_eq!(error(ws.next_json().await), "join needs a \"room\"");
    // Still in room one, and only there.
    app.post_to("room=one", "u", "still here").await;
    assert_eq!(ws.next_json().await["text"], "still here");
    assert_eq!(
        app.get_json("/api/rooms").await.1["rooms"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// `/api/stats?room=` counts one room's traffic; an unknown room is a 404.
#[tokio::test]
async fn stats_per_room() {
    let app = spawn_app().await;
    app.get_json("/api/poll?room=counted&since=0").await;
    app.get_json("/api/poll?room=counted&since=0").await;
    app.get_json("/api/poll?since=0").await;
    let (status, stats) = app.get_json("/api/stats?room=counted").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (&stats["room"], &stats["transports"]["poll"]["requests"]),
        (&json!("counted"), &json!(2))
    );
    let (_, lobby) = app.get_json("/api/stats?room=lobby").await;
    assert_eq!(lobby["transports"]["poll"]["requests"], 1);
    assert_eq!(app.get_json("/api/stats?room=never").await.0, 404);
    assert_eq!(app.get_json("/api/stats?room=a%20b").await.0, 400);
}

/// An idle room is dropped with its history, and comes back where it stopped: its ids go on, and
/// a cursor into the dropped history gets a gap, never another conversation's messages.
#[tokio::test]
async fn an_idle_room_is_dropped_and_continues_its_ids() {
    let app = spawn_app_with(&["--room-idle", "0"]).await;
    app.post_to("room=brief", "u", "one").await;
    app.post_to("room=brief", "u", "two").await;
    let mut dropped = false;
    for _ in 0..50 {
        if app.get_json("/api/rooms/brief").await.0 == 404 {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dropped, "the sweep drops an empty, unused room");
    let (_, lobby) = app.get_json("/api/rooms/lobby").await;
    assert_eq!(lobby["room"], "lobby", "the lobby is never dropped");

    let three = app.post_to("room=brief", "u", "three").await;
    assert_eq!(three["id"], 3);
    let (_, poll) = app.get_json("/api/poll?room=brief&since=1").await;
    assert_eq!(
        (&poll["gap"], &poll["missed"], texts(&poll["messages"])),
        (&json!(true), &json!(1), vec!["three".to_owned()])
    );
}

/// `/metrics` has per-room series only when asked for (`--metrics-rooms`).
#[tokio::test]
async fn metrics_name_rooms_only_when_asked() {
    for (flags, per_room) in [(&[][..], false), (&["--metrics-rooms"][..], true)] {
        let app = spawn_app_with(flags).await;
        app.get_json("/api/poll?room=labelled&since=0").await;
        let text = app.get_text("/metrics").await;
        let line =
            r#"transport_lab_room_bytes_total{room="labelled",transport="poll",direction="up"}"#;
        assert_eq!(text.contains(line), per_room, "{flags:?}:\n{text}");
        assert!(
            text.contains(r#"transport_lab_requests_total{transport="poll"} 1"#),
            "{text}"
        );
    }
}
