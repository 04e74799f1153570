//! Shutdown ends every open stream promptly and cleanly.

use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::spawn_app;

/// SSE and the stream end, the long poll answers, and the WebSocket closes with 1001, all within
/// one second of shutdown; the server itself stops too.
#[tokio::test]
async fn all_streams_end_within_a_second_of_shutdown() {
    let mut app = spawn_app().await;
    let empty = app.batch(serde_json::json!([]), 0).await;
    let mut sse = app.sse("/api/sse", None).await;
    let mut stream = app.stream("/api/stream").await;
    let mut ws = app.ws("/api/ws").await;
    sse.next_event().await.unwrap();
    stream.next_json().await.unwrap();
    ws.next_json().await;
    let long_poll = {
        let request = app
            .http
            .get(app.url("/api/longpoll?since=0&timeout=60"))
            .send();
        tokio::spawn(async move {
            request
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    app.shutdown().await;

    let sse_end = tokio::spawn(async move { while sse.next_event().await.is_some() {} });
    let stream_end = tokio::spawn(async move { while stream.next_json().await.is_some() {} });
    let ws_close = tokio::spawn(async move {
        loop {
            match ws.next_frame().await {
                Some(WsMessage::Close(frame)) => return frame.map(|f| f.code),
                Some(_) => continue,
                None => return None,
            }
        }
    });
    let (sse_end, stream_end, ws_close, long_poll) =
        tokio::join!(sse_end, stream_end, ws_close, long_poll);
    let took = started.elapsed();
    sse_end.unwrap();
    stream_end.unwrap();
    assert_eq!(ws_close.unwrap(), Some(CloseCode::Away));
    assert_eq!(long_poll.unwrap(), empty);
    assert!(
        took < Duration::from_secs(1),
        "streams took {took:?} to end"
    );
}
