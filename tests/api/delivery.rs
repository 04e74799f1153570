//! One post reaches every transport with the same id, and `since` replays history.

use serde_json::json;

use crate::helpers::{ids, next_ids, spawn_app};

/// A message posted once arrives on all five transports with the same id, user, text and ts.
#[tokio::test]
async fn one_post_reaches_all_five_transports_with_the_same_id() {
    // Arrange: one subscriber per transport, all opened before the post.
    let app = spawn_app().await;
    app.post("warmup", "before anyone listened").await;
    let mut sse = app.sse("/api/sse", None).await;
    let mut stream = app.stream("/api/stream").await;
    let mut ws = app.ws("/api/ws").await;
    for ready in [
        sse.next_non_heartbeat().await.unwrap().json(),
        stream.next_non_heartbeat().await.unwrap(),
    ] {
        assert_eq!(ready, app.ready(1).await);
    }
    // A socket can be in several rooms, so its `ready` names the room.
    assert_eq!(ws.next_json().await, app.ws_ready("lobby", 1).await);
    let long_poll = {
        let http = app.http.clone();
        let url = app.url("/api/longpoll?since=1&timeout=10");
        tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };

    // Act
    let posted = app.post("ada", "hello, five transports").await;

    // Assert
    assert_eq!(posted["id"], 2);
    assert_eq!(
        (posted["user"].as_str(), posted["text"].as_str()),
        (Some("ada"), Some("hello, five transports"))
    );
    let sse_event = sse.next_non_heartbeat().await.unwrap();
    assert_eq!(sse_event.id, Some(app.cursor(2).await));
    assert_eq!(
        sse_event.event, None,
        "default event type, so EventSource.onmessage gets it"
    );
    assert_eq!(sse_event.json(), posted);
    assert_eq!(stream.next_non_heartbeat().await.unwrap(), posted);
    assert_eq!(ws.next_json().await, posted);
    assert_eq!(
        long_poll.await.unwrap(),
        app.batch(json!([posted]), 2).await
    );
    let (status, short_poll) = app.get_json("/api/poll?since=1").await;
    assert_eq!(
        (status, short_poll),
        (200, app.batch(json!([posted]), 2).await)
    );
}

/// `since=N` replays exactly the messages after N, on every transport, then goes live.
#[tokio::test]
async fn since_replays_history_then_goes_live() {
    let app = spawn_app().await;
    for i in 1..=5 {
        app.post("u", &format!("m{i}")).await;
    }

    let (_, poll) = app.get_json("/api/poll?since=2").await;
    assert_eq!(
        (ids(&poll["messages"]), &poll["last_id"]),
        (vec![3, 4, 5], &json!(5))
    );
    let (_, long_poll) = app.get_json("/api/longpoll?since=3").await;
    assert_eq!(
        ids(&long_poll["messages"]),
        vec![4, 5],
        "a long poll with something to say answers at once"
    );

    let mut sse = app.sse("/api/sse?since=2", None).await;
    let mut stream = app.stream("/api/stream?since=2").await;
    let mut ws = app.ws("/api/ws?since=2").await;
    assert_eq!(
        sse.next_non_heartbeat().await.unwrap().id,
        Some(app.cursor(2).await)
    );
    assert_eq!(
        stream.next_non_heartbeat().await.unwrap(),
        app.ready(2).await
    );
    assert_eq!(ws.next_json().await, app.ws_ready("lobby", 2).await);
    let got = next_ids(&mut sse, &mut stream, &mut ws, 3).await;
    assert_eq!(got, (vec![3, 4, 5], vec![3, 4, 5], vec![3, 4, 5]));

    let live = app.post("u", "live").await;
    assert_eq!(sse.next_non_heartbeat().await.unwrap().json(), live);
    assert_eq!(stream.next_non_heartbeat().await.unwrap(), live);
    assert_eq!(ws.next_json().await, live);
}

/// A poll without `since` returns the newest 50 and the cursor to continue from.
#[tokio::test]
async fn poll_without_cursor_returns_newest_fifty() {
    let app = spawn_app().await;
    let (_, empty) = app.get_json("/api/poll").await;
    assert_eq!(empty, app.batch(json!([]), 0).await);
    for i in 0..60 {
        app.post("u", &format!("m{i}")).await;
    }
    let (status, poll) = app.get_json("/api/poll").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&poll["messages"]), (11..=60).collect::<Vec<_>>());
    assert_eq!(
        (&poll["last_id"], &poll["gap"]),
        (&json!(60), &json!(false))
    );
}

/// Streams opened without a cursor deliver live messages only, starting after the newest id.
#[tokio::test]
async fn streams_without_cursor_are_live_only() {
    let app = spawn_app().await;
    app.post("u", "old").await;
    let mut stream = app.stream("/api/stream").await;
    assert_eq!(
        stream.next_non_heartbeat().await.unwrap(),
        app.ready(1).await
    );
    let new = app.post("u", "new").await;
    assert_eq!(stream.next_non_heartbeat().await.unwrap(), new);
}

/// All three body formats store the same kind of message; text/plain takes `?user=`.
#[tokio::test]
async fn post_accepts_json_form_and_plain_text() {
    let app = spawn_app().await;
    let form = app
        .http
        .post(app.url("/api/messages"))
        .form(&[("user", "bo b"), ("text", "från form")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 201);
    let form: serde_json::Value = form.json().await.unwrap();
    let text = app
        .http
        .post(app.url("/api/messages?user=cy"))
        .header("content-type", "text/plain; charset=utf-8")
        .body("line one\nline two")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 201);
    assert_eq!(text.headers()["content-type"], "application/json");
    let text: serde_json::Value = text.json().await.unwrap();
    let anonymous = app
        .http
        .post(app.url("/api/messages"))
        .header("content-type", "text/plain")
        .body("who am i")
        .send()
        .await
        .unwrap();
    let anonymous: serde_json::Value = anonymous.json().await.unwrap();

    assert_eq!(
        (
            form["id"].as_u64(),
            form["user"].as_str(),
            form["text"].as_str()
        ),
        (Some(1), Some("bo b"), Some("från form"))
    );
    assert_eq!(
        (
            text["id"].as_u64(),
            text["user"].as_str(),
            text["text"].as_str()
        ),
        (Some(2), Some("cy"), Some("line one\nline two"))
    );
    assert_eq!(
        (anonymous["id"].as_u64(), anonymous["user"].as_str()),
        (Some(3), Some("anonymous"))
    );
    assert!(text["ts"].as_u64().unwrap() >= form["ts"].as_u64().unwrap());
    assert_eq!(app.stored_ids().await, vec![1, 2, 3]);
}
