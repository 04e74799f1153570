//! Server-Sent Events: framing, the ready event, `Last-Event-ID` resume, heartbeats.

use serde_json::json;

use crate::helpers::{SseEvent, spawn_app};

/// The stream opens with `retry:` and a ready event whose `id:` is the starting cursor.
#[tokio::test]
async fn opens_with_retry_hint_and_ready_cursor() {
    let app = spawn_app().await;
    app.post("u", "one").await;
    let mut sse = app.sse("/api/sse", None).await;
    let ready = sse.next_event().await.unwrap();
    assert_eq!(
        ready,
        SseEvent {
            id: Some(app.cursor(1).await),
            event: Some("ready".into()),
            data: Some(app.ready_text(1).await),
            retry: Some("2000".into()),
            comments: vec![],
        }
    );
}

/// A reconnect with `Last-Event-ID` resumes after that id with nothing lost or repeated,
/// and the header wins over `?since=`.
#[tokio::test]
async fn last_event_id_resumes_and_wins_over_since() {
    let app = spawn_app().await;
    let mut first = app.sse("/api/sse?since=0", None).await;
    first.next_event().await.unwrap();
    for i in 1..=3 {
        app.post("u", &format!("m{i}")).await;
    }
    let mut seen = vec![];
    for _ in 0..2 {
        seen.push(first.next_non_heartbeat().await.unwrap().id.unwrap());
    }
    let epoch = app.epoch().await;
    assert_eq!(seen, [format!("{epoch}-1"), format!("{epoch}-2")]);
    drop(first); // the connection drops after id 2; message 3 and 4 arrive while it is away
    app.post("u", "m4").await;

    let mut resumed = app.sse("/api/sse?since=0", Some(&seen[1])).await;
    let ready = resumed.next_event().await.unwrap();
    assert_eq!(ready.id, Some(format!("{epoch}-2")));
    let three = resumed.next_non_heartbeat().await.unwrap();
    let four = resumed.next_non_heartbeat().await.unwrap();
    assert_eq!(
        (three.id.clone(), four.id.clone()),
        (Some(format!("{epoch}-3")), Some(format!("{epoch}-4")))
    );
    assert_eq!(
        (three.json()["text"].as_str(), four.json()["text"].as_str()),
        (Some("m3"), Some("m4"))
    );
}

/// Each message is exactly `id:` + `data:` + blank line, with the message JSON as data.
#[tokio::test]
async fn message_event_is_id_and_data() {
    let app = spawn_app().await;
    let mut sse = app.sse("/api/sse", None).await;
    sse.next_event().await.unwrap();
    let posted = app.post("ada", "line one\nline two").await;
    let (id, data, blank) = (
        sse.lines.next_line().await.unwrap(),
        sse.lines.next_line().await.unwrap(),
        sse.lines.next_line().await.unwrap(),
    );
    assert_eq!(
        (id, blank),
        (
            format!("id: {}-{}", app.epoch().await, posted["id"]),
            String::new()
        )
    );
    let json = data.strip_prefix("data: ").expect("a data line");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(json).unwrap(),
        posted
    );
}

/// While idle the stream sends `:` comment heartbeats.
#[tokio::test]
async fn idle_stream_sends_comment_heartbeats() {
    let app = spawn_app().await;
    let mut sse = app.sse("/api/sse", None).await;
    sse.next_event().await.unwrap();
    let heartbeat = sse.next_event().await.unwrap();
    assert_eq!(
        heartbeat,
        SseEvent {
            comments: vec!["heartbeat".into()],
            ..SseEvent::default()
        }
    );
}

/// A malformed `Last-Event-ID` is a 400 with a JSON error, not a silent restart.
#[tokio::test]
async fn malformed_last_event_id_is_rejected() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/api/sse"))
        .header("Last-Event-ID", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "Last-Event-ID must be a non-negative integer, got \"abc\""})
    );
}
