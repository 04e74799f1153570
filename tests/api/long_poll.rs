//! Long polling holds the request until a message exists or the timeout passes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::spawn_app;

/// A held long poll is still waiting before the post and answers within 100 ms after it.
#[tokio::test]
async fn blocks_then_wakes_within_100ms_of_a_post() {
    let app = spawn_app().await;
    let request = app
        .http
        .get(app.url("/api/longpoll?since=0&timeout=20"))
        .send();
    let held = tokio::spawn(async move {
        let body: serde_json::Value = request.await.unwrap().json().await.unwrap();
        (body, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !held.is_finished(),
        "the long poll answered before anything was posted"
    );

    let posted = app.post("ada", "wake up").await;
    let posted_at = Instant::now();

    let (body, answered_at) = held.await.unwrap();
    assert_eq!(body, app.batch(json!([posted]), 1).await);
    let delay = answered_at.saturating_duration_since(posted_at);
    assert!(
        delay < Duration::from_millis(100),
        "woke {delay:?} after the post"
    );
}

/// With nothing to say, a long poll answers an empty batch at its timeout, keeping the cursor.
#[tokio::test]
async fn returns_empty_at_its_timeout() {
    let app = spawn_app().await;
    app.post("u", "already seen").await;
    let started = Instant::now();
    let (status, body) = app.get_json("/api/longpoll?since=1&timeout=1").await;
    let took = started.elapsed();
    assert_eq!((status, body), (200, app.batch(json!([]), 1).await));
    assert!(
        took >= Duration::from_secs(1),
        "answered after {took:?}, before its timeout"
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
}

/// The default timeout is `--long-poll-timeout`.
#[tokio::test]
async fn default_timeout_comes_from_config() {
    let app = crate::helpers::spawn_app_with(&["--long-poll-timeout", "1"]).await;
    let started = Instant::now();
    let (_, body) = app.get_json("/api/longpoll?since=0").await;
    assert_eq!(body["messages"], json!([]));
    assert!((Duration::from_secs(1)..Duration::from_secs(3)).contains(&started.elapsed()));
}

/// A message published between two long polls is not lost: the cursor returns it at once.
#[tokio::test]
async fn no_loss_window_between_polls() {
    let app = spawn_app().await;
    let first = app.post("u", "one").await;
    // The client got message 1 and has not asked again yet; two more arrive meanwhile.
    app.post("u", "two").await;
    app.post("u", "three").await;
    let started = Instant::now();
    let (_, body) = app
        .get_json(&format!("/api/longpoll?since={}&timeout=20", first["id"]))
        .await;
    assert_eq!(crate::helpers::ids(&body["messages"]), vec![2, 3]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "held although messages were waiting"
    );
}
