//! After history eviction every transport says how much was lost before continuing.

use serde_json::json;

use crate::helpers::{ids, next_ids, spawn_app_with};

/// With `--history 5` and 8 messages, a cursor of 0 gets a gap of 3 then ids 4..=8, everywhere.
#[tokio::test]
async fn every_transport_reports_the_gap_then_continues() {
    let app = spawn_app_with(&["--history", "5"]).await;
    for i in 1..=8 {
        app.post("u", &format!("m{i}")).await;
    }
    let retained = vec![4, 5, 6, 7, 8];

    let (_, poll) = app.get_json("/api/poll?since=0").await;
    assert_eq!(
        (
            ids(&poll["messages"]),
            &poll["last_id"],
            &poll["gap"],
            &poll["missed"]
        ),
        (retained.clone(), &json!(8), &json!(true), &json!(3))
    );
    assert_eq!(poll.get("reset"), None);
    let (_, long_poll) = app.get_json("/api/longpoll?since=1").await;
    assert_eq!(
        (
            ids(&long_poll["messages"]),
            &long_poll["gap"],
            &long_poll["missed"]
        ),
        (retained.clone(), &json!(true), &json!(2))
    );
    let (_, in_window) = app.get_json("/api/poll?since=3").await;
    assert_eq!(
        (
            ids(&in_window["messages"]),
            &in_window["gap"],
            in_window.get("missed")
        ),
        (retained.clone(), &json!(false), None)
    );

    let mut sse = app.sse("/api/sse?since=0", None).await;
    assert_eq!(
        sse.next_event().await.unwrap().event.as_deref(),
        Some("ready")
    );
    // The gap event carries the cursor delivery continues from, so `Last-Event-ID` moves too.
    let epoch = app.epoch().await;
    let notice = json!({"type": "gap", "missed": 3, "reset": false, "since": 3, "epoch": epoch});
    let gap = sse.next_event().await.unwrap();
    assert_eq!(
        (gap.event.as_deref(), gap.id.clone(), gap.json()),
        (Some("gap"), Some(format!("{epoch}-3")), notice.clone())
    );

    let mut stream = app.stream("/api/stream?since=0").await;
    stream.next_json().await.unwrap();
    assert_eq!(stream.next_json().await.unwrap(), notice);

    let mut ws = app.ws("/api/ws?since=0").await;
    ws.next_json().await;
    // A socket's gap notice names its room.
    let mut ws_notice = notice.clone();
    ws_notice["room"] = json!("lobby");
    assert_eq!(ws.next_json().await, ws_notice);

    let got = next_ids(&mut sse, &mut stream, &mut ws, 5).await;
    assert_eq!(got, (retained.clone(), retained.clone(), retained));
}

/// A cursor ahead of the newest id (remembered from an earlier run of the server) is a reset:
/// the client is told, and delivery starts from the oldest retained message.
#[tokio::test]
async fn cursor_from_an_earlier_run_is_a_reset() {
    let app = spawn_app_with(&["--history", "5"]).await;
    app.post("u", "a").await;
    app.post("u", "b").await;

    let epoch = app.epoch().await;
    let (_, poll) = app.get_json("/api/poll?since=500").await;
    assert_eq!(
        poll,
        json!({"messages": poll["messages"], "last_id": 2, "cursor": format!("{epoch}-2"),
               "gap": true, "missed": 0, "reset": true})
    );
    assert_eq!(ids(&poll["messages"]), vec![1, 2]);

    let mut sse = app.sse("/api/sse", Some("500")).await;
    assert_eq!(
        sse.next_event().await.unwrap().id,
        Some(format!("{epoch}-500"))
    );
    assert_eq!(
        sse.next_event().await.unwrap().json(),
        json!({"type": "gap", "missed": 0, "reset": true, "since": 0, "epoch": epoch})
    );
    assert_eq!(
        sse.next_non_heartbeat().await.unwrap().id,
        Some(format!("{epoch}-1"))
    );
}
