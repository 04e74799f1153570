//! WebSocket: both directions, acknowledgements, pings in both directions, protocol errors.

use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::spawn_app;

/// A frame with a `ref` is published to everyone and acknowledged to the sender alone.
#[tokio::test]
async fn send_receive_and_ack() {
    let app = spawn_app().await;
    let mut sender = app.ws("/api/ws?user=ada").await;
    let mut other = app.ws("/api/ws").await;
    assert_eq!(sender.next_json().await["type"], "ready");
    assert_eq!(other.next_json().await["type"], "ready");

    sender
        .send_text(r#"{"text":"over the socket","ref":"r-1"}"#)
        .await;

    let first = sender.next_json().await;
    let second = sender.next_json().await;
    let (ack, broadcast) = if first["type"] == "ack" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(ack, json!({"type": "ack", "ref": "r-1", "id": 1}));
    assert_eq!(
        (
            broadcast["id"].as_u64(),
            broadcast["user"].as_str(),
            broadcast["text"].as_str()
        ),
        (Some(1), Some("ada"), Some("over the socket"))
    );
    assert_eq!(
        other.next_json().await,
        broadcast,
        "other clients get the same JSON and no ack"
    );
    let (_, poll) = app.get_json("/api/poll?since=0").await;
    assert_eq!(poll["messages"], json!([broadcast]));

    // A plain-text frame is the message itself, from `?user=`, with no ack.
    sender.send_text("plain words").await;
    let plain = other.next_json().await;
    assert_eq!(
        (
            plain["id"].as_u64(),
            plain["user"].as_str(),
            plain["text"].as_str()
        ),
        (Some(2), Some("ada"), Some("plain words"))
    );
    assert_eq!(sender.next_json().await, plain);
}

/// Bad frames get an error frame (keeping the `ref`) and store nothing; the socket stays open.
#[tokio::test]
async fn bad_frames_get_error_frames() {
    let app = spawn_app().await;
    let mut ws = app.ws("/api/ws").await;
    ws.next_json().await;

    ws.send_text(r#"{"ref":7}"#).await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "error", "error": "text is required", "ref": 7})
    );
    ws.send_text("{not json").await;
    let malformed = ws.next_json().await;
    assert_eq!(malformed["type"], "error");
    assert!(
        malformed["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON: "),
        "{malformed}"
    );
    ws.send_text("bell \u{7}").await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "error", "error": "text contains the control character U+0007; only newline and tab are allowed"})
    );
    ws.socket
        .send(WsMessage::Binary(Bytes::from_static(b"\x00\x01")))
        .await
        .unwrap();
    assert_eq!(
        ws.next_json().await,
        json!({"type": "error", "error": "binary frames are not accepted; send text frames"})
    );
    ws.send_text(&"x".repeat(4097)).await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "error", "error": "text is 4097 bytes; the limit is 4096"})
    );

    ws.send_text("still here").await;
    assert_eq!(
        ws.next_json().await["id"],
        1,
        "the connection still works and nothing bad was stored"
    );
    assert_eq!(app.stored_ids().await, vec![1]);
}

/// The server answers our ping with a pong carrying the same payload.
#[tokio::test]
async fn answers_pings() {
    let app = spawn_app().await;
    let mut ws = app.ws("/api/ws").await;
    ws.next_json().await;
    ws.socket
        .send(WsMessage::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    loop {
        match ws.next_frame().await.unwrap() {
            WsMessage::Pong(payload) => {
                assert_eq!(&payload[..], b"are you there");
                break;
            }
            WsMessage::Ping(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// An idle connection gets pings from the server every heartbeat interval.
#[tokio::test]
async fn sends_its_own_pings() {
    let app = spawn_app().await;
    let mut ws = app.ws("/api/ws").await;
    ws.next_json().await;
    let frame = ws.next_frame().await.unwrap();
    assert!(matches!(frame, WsMessage::Ping(_)), "{frame:?}");
}

/// A peer that answers nothing for two ping intervals is dropped with close code 1008.
#[tokio::test]
async fn drops_a_peer_that_stops_answering() {
    let app = spawn_app().await;
    let mut ws = app.ws("/api/ws").await;
    // Not reading means not answering pings: tungstenite only replies while it is polled.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut close = None;
    while let Some(frame) = ws.next_frame().await {
        if let WsMessage::Close(frame) = frame {
            close = frame;
            break;
        }
    }
    let CloseFrame { code, reason } = close.expect("a close frame with a reason");
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::Policy, "no pong within two ping intervals")
    );
}

/// A frame over 64 KiB closes the connection with 1009 (message too big).
#[tokio::test]
async fn oversized_frame_closes_with_1009() {
    let app = spawn_app().await;
    let mut ws = app.ws("/api/ws").await;
    ws.next_json().await;
    ws.send_text(&"y".repeat(64 * 1024 + 1)).await;
    let close = loop {
        match ws.next_frame().await.expect("a close frame before the end") {
            WsMessage::Close(frame) => break frame.unwrap(),
            _ => continue,
        }
    };
    assert_eq!(close.code, CloseCode::Size);
    assert_eq!(app.stored_ids().await, Vec::<u64>::new());
}
