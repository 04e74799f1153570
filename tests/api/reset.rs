//! `POST /api/reset?room=NAME`: the teacher starts a room over. Loopback may, a token must match,
//! everyone else gets a 403; afterwards every old cursor (a poll's, an open stream's, an open
//! socket's) gets a reset notice with the room's new epoch, the history is gone, ids start from 1
//! and the room's ledger counters from zero. Other rooms are untouched.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Request headers, name and value.
type Headers<'a> = Vec<(&'a str, &'a str)>;

impl TestApp {
    async fn post_in(&self, room: &str, text: &str) -> Value {
        let response = self
            .http
            .post(self.url(&format!("/api/messages?room={room}")))
            .json(&json!({"user": "ada", "text": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// `POST /api/reset?{query}` with `headers`: status and JSON body.
    async fn reset(&self, query: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.http.post(self.url(&format!("/api/reset?{query}")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// From loopback, without a token: the room gets a new epoch; a poll's old cursor, an open SSE
/// stream, NDJSON stream and WebSocket all get a reset notice naming it; the history is empty,
/// the next message is id 1 of the new epoch; the room's counters are zero; the lobby is untouched.
#[tokio::test]
async fn loopback_starts_a_room_over_and_every_cursor_is_reset() {
    let app = spawn_app().await;
    for text in ["one", "two", "three"] {
        app.post_in("demo", text).await;
    }
    app.post("ada", "in the lobby").await;
    let (_, before) = app.get_json("/api/poll?room=demo&since=0").await;
    let old_cursor = before["cursor"].as_str().unwrap().to_owned();
    let old_epoch = old_cursor.split('-').next().unwrap().to_owned();
    assert_eq!(old_cursor, format!("{old_epoch}-3"));
    let mut sse = app.sse("/api/sse?room=demo&since=3", None).await;
    assert_eq!(
        sse.next_non_heartbeat().await.unwrap().event.as_deref(),
        Some("ready")
    );
    let mut stream = app.stream("/api/stream?room=demo&since=3").await;
    assert_eq!(stream.next_non_heartbeat().await.unwrap()["type"], "ready");
    let mut ws = app.ws("/api/ws?room=demo&since=3").await;
    assert_eq!(ws.next_json().await["type"], "ready");
    let (status, stats) = app.get_json("/api/stats?room=demo").await;
    assert_eq!(status, 200);
    assert!(stats["transports"]["poll"]["requests"].as_u64().unwrap() >= 1);

    let (status, body) = app.reset("room=demo", &[]).await;

    assert_eq!(status, 200, "{body}");
    let epoch = body["epoch"].as_str().unwrap().to_owned();
    assert_ne!(epoch, old_epoch);
    assert_eq!(
        body,
        json!({"room": "demo", "epoch": epoch, "previous_epoch": old_epoch, "last_id": 3, "dropped": 3})
    );
    let gap = json!({"type": "gap", "room": "demo", "missed": 0, "reset": true, "since": 0, "epoch": epoch});
    let notice = sse.next_non_heartbeat().await.unwrap();
    assert_eq!(
        (notice.event.as_deref(), notice.id.as_deref()),
        (Some("gap"), Some(format!("{epoch}-0").as_str()))
    );
    let mut without_room = gap.clone();
    without_room.as_object_mut().unwrap().remove("room");
    assert_eq!(notice.json(), without_room);
    assert_eq!(stream.next_non_heartbeat().await.unwrap(), without_room);
    assert_eq!(ws.next_json().await, gap);
    let (_, poll) = app
        .get_json(&format!("/api/poll?room=demo&since={old_cursor}"))
        .await;
    assert_eq!(
        poll,
        json!({"messages": [], "last_id": 0, "cursor": format!("{epoch}-0"), "gap": true, "missed": 0, "reset": true})
    );
    let (_, room) = app.get_json("/api/rooms/demo").await;
    assert_eq!(
        (&room["newest_id"], &room["retained"]),
        (&json!(0), &json!(0)),
        "{room}"
    );
    let (_, stats) = app.get_json("/api/stats?room=demo").await;
    for (transport, counted) in stats["transports"].as_object().unwrap() {
        assert_eq!(counted["messages"], 0, "{transport}: {counted}");
        if transport != "poll" {
            assert_eq!(counted["requests"], 0, "{transport}: {counted}");
        }
    }
    // The poll above, after the reset, is the one request counted since.
    assert_eq!(stats["transports"]["poll"]["requests"], 1, "{stats}");
    assert_eq!(
        stats["transports"]["sse"]["open"], 1,
        "open connections stay counted"
    );

    let next = app.post_in("demo", "again").await;
    assert_eq!(next["id"], 1);
    let sse_next = sse.next_non_heartbeat().await.unwrap();
    assert_eq!(sse_next.id.as_deref(), Some(format!("{epoch}-1").as_str()));
    assert_eq!(stream.next_non_heartbeat().await.unwrap()["text"], "again");
    assert_eq!(ws.next_json().await["text"], "again");
    let (_, lobby) = app.get_json("/api/poll?room=lobby&since=0").await;
    assert_eq!(lobby["messages"][0]["text"], "in the lobby");
    assert_eq!(lobby["cursor"], format!("{}-1", app.epoch().await));
}

/// With `--teacher-token-required` (a server behind a proxy on the same machine), loopback is not
/// enough: no token or a wrong one is a 403 JSON, the right one works; a wrong token is refused
/// from loopback too, even without the flag.
#[tokio::test]
async fn the_teacher_token_is_checked() {
    let token = "a-teacher-token-of-32-characters";
    let app = spawn_app_with(&["--teacher-token", token, "--teacher-token-required"]).await;
    app.post_in("demo", "one").await;
    for headers in [
        vec![],
        vec![("Authorization", "Bearer not-the-token-at-all-no")],
        vec![("Authorization", token)],
        vec![("Authorization", "Basic YTpi")],
    ] {
        let (status, body) = app.reset("room=demo", &headers).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("teacher"),
            "{body}"
        );
    }
    let (_, room) = app.get_json("/api/rooms/demo").await;
    assert_eq!(room["newest_id"], 1, "a refused reset changes nothing");
    let bearer = format!("Bearer {token}");
    let (status, body) = app.reset("room=demo", &[("Authorization", &bearer)]).await;
    assert_eq!((status, &body["dropped"]), (200, &json!(1)), "{body}");

    let open = spawn_app_with(&["--teacher-token", token]).await;
    open.post_in("demo", "one").await;
    let (status, _) = open
        .reset(
            "room=demo",
            &[("Authorization", "Bearer not-the-token-at-all-no")],
        )
        .await;
    assert_eq!(status, 403, "a wrong token is refused even from loopback");
    let (status, _) = open.reset("room=demo", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 200);
}

/// What is refused, changing nothing: a page of another site (by `Origin`, or
/// `Sec-Fetch-Site`), a room not named, a bad name, a room that does not exist, a GET.
#[tokio::test]
async fn a_reset_is_refused_with_json() {
    let app = spawn_app().await;
    app.post_in("demo", "one").await;
    let cases: [(&str, Headers, u16, &str); 6] = [
        (
            "room=demo",
            vec![("Origin", "http://evil.example")],
            403,
            "starting a room over from origin \"http://evil.example\" is not allowed here",
        ),
        (
            "room=demo",
            vec![("Sec-Fetch-Site", "cross-site")],
            403,
            "starting a room over from a page of another site",
        ),
        ("", vec![], 400, "name the room to start over"),
        ("room=a%20b", vec![], 400, "room must be"),
        ("room=nowhere", vec![], 404, "no room \"nowhere\""),
        ("room=demo&room=demo", vec![], 400, "more than once"),
    ];
    for (query, headers, want, says) in cases {
        let (status, body) = app.reset(query, &headers).await;
        assert_eq!(status, want, "{query} {headers:?}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    let response = app
        .http
        .get(app.url("/api/reset?room=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let (_, room) = app.get_json("/api/rooms/demo").await;
    assert_eq!(room["newest_id"], 1, "nothing was started over");
    // The page's own origin may.
    let own = format!("http://{}", app.addr);
    let (status, _) = app.reset("room=demo", &[("Origin", own.as_str())]).await;
    assert_eq!(status, 200);
}
