//! A cursor from an earlier run of the server is always recognised: after a restart, even once
//! the new run has published past the old cursor's id, every transport announces the reset and
//! delivers the new run from its start; nothing of the new run is skipped.

use serde_json::{Value, json};

use crate::helpers::{TestApp, ids, next_ids, spawn_app};

/// Publishes `n` messages and returns the cursor after the last one, as a client holds it.
async fn publish(app: &TestApp, n: u64) -> String {
    let mut last = Value::Null;
    for i in 1..=n {
        last = app.post("u", &format!("m{i}")).await;
    }
    app.cursor(last["id"].as_u64().unwrap()).await
}

/// The reset notice a stream sends for a cursor of another run: nothing of this run is missed
/// yet (history holds all of it), and delivery starts after 0.
async fn reset_notice(app: &TestApp) -> Value {
    json!({"type": "gap", "missed": 0, "reset": true, "since": 0, "epoch": app.epoch().await})
}

/// Restart, then 12 messages in the new run, past the 8 the old cursor had seen: each transport,
/// resuming with its old cursor, gets the reset notice and all 12 (ids 1..=12 of the new run).
#[tokio::test]
async fn every_transport_detects_a_cursor_from_before_a_restart() {
    let mut app = spawn_app().await;
    let old = publish(&app, 8).await;
    app.restart().await;
    publish(&app, 12).await;
    let all: Vec<u64> = (1..=12).collect();

    let (_, poll) = app.get_json(&format!("/api/poll?since={old}")).await;
    assert_eq!(
        (
            &poll["gap"],
            &poll["reset"],
            &poll["missed"],
            ids(&poll["messages"])
        ),
        (&json!(true), &json!(true), &json!(0), all.clone())
    );
    assert_eq!(poll["cursor"], json!(app.cursor(12).await));
    let (_, long_poll) = app
        .get_json(&format!("/api/longpoll?since={old}&timeout=5"))
        .await;
    assert_eq!(
        (&long_poll["reset"], ids(&long_poll["messages"])),
        (&json!(true), all.clone())
    );

    // SSE through `Last-Event-ID`, as the browser reconnects: the ready event already names the
    // new run at 0 (a safe cursor if the connection breaks right there), then the notice.
    let mut sse = app.sse("/api/sse", Some(&old)).await;
    let ready = sse.next_event().await.unwrap();
    assert_eq!(
        (ready.id.clone(), ready.json()),
        (Some(app.cursor(0).await), app.ready(0).await)
    );
    let notice = sse.next_event().await.unwrap();
    assert_eq!(
        (notice.event.as_deref(), notice.id.clone(), notice.json()),
        (
            Some("gap"),
            Some(app.cursor(0).await),
            reset_notice(&app).await
        )
    );
    let mut stream = app.stream(&format!("/api/stream?since={old}")).await;
    assert_eq!(stream.next_json().await.unwrap(), app.ready(0).await);
    assert_eq!(stream.next_json().await.unwrap(), reset_notice(&app).await);
    let mut ws = app.ws(&format!("/api/ws?since={old}")).await;
    assert_eq!(ws.next_json().await, app.ws_ready("lobby", 0).await);
    let mut notice = reset_notice(&app).await;
    notice["room"] = json!("lobby");
    assert_eq!(ws.next_json().await, notice);

    let got = next_ids(&mut sse, &mut stream, &mut ws, 12).await;
    assert_eq!(got, (all.clone(), all.clone(), all));
}

/// After a reset, the browser's `Last-Event-ID` is a cursor of the new run: a connection cut
/// after the reset and some messages, with more posted while it is away, resumes exactly.
#[tokio::test]
async fn a_reset_then_a_cut_loses_nothing() {
    let mut app = spawn_app().await;
    let old = publish(&app, 12).await;
    app.restart().await;
    publish(&app, 3).await;

    let mut sse = app.sse("/api/sse", Some(&old)).await;
    let mut last_id = None;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = sse.next_event().await.unwrap();
        if event.id.is_some() {
            last_id = event.id.clone();
        }
        if event.event.is_none() && event.data.is_some() {
            seen.push(event.json()["id"].as_u64().unwrap());
        }
    }
    drop(sse); // cut after message 3 of the new run; 15 more arrive while it is away
    for i in 4..=18 {
        app.post("u", &format!("m{i}")).await;
    }
    let mut resumed = app.sse("/api/sse", last_id.as_deref()).await;
    resumed.next_event().await.unwrap(); // ready
    for _ in 4..=18 {
        seen.push(
            resumed.next_non_heartbeat().await.unwrap().json()["id"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(seen, (1..=18).collect::<Vec<_>>());
    assert_eq!(last_id, Some(app.cursor(3).await));
}

/// A bare id (what a curl user types) keeps today's weaker check: reset when it is ahead of the
/// newest id, taken as this run's id otherwise; a malformed cursor is a 400.
#[tokio::test]
async fn bare_ids_and_malformed_cursors() {
    let app = spawn_app().await;
    publish(&app, 3).await;
    let (_, poll) = app.get_json("/api/poll?since=1").await;
    assert_eq!(
        (ids(&poll["messages"]), &poll["gap"]),
        (vec![2, 3], &json!(false))
    );
    let (_, ahead) = app.get_json("/api/poll?since=9").await;
    assert_eq!(ahead["reset"], json!(true));
    let (status, bad) = app.get_json("/api/poll?since=Zz-1").await;
    assert_eq!(
        (status, bad),
        (
            400,
            json!({"error": "since must be a non-negative integer, got \"Zz-1\""})
        )
    );
}
