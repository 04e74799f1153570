//! WebSocket: both directions, acknowledgements, pings in both directions, protocol errors.

use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::spawn_app;
use crate::hostile::{close_frame, exchange, masked, server_frames};

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
    assert_eq!(
        (close.code, close.reason.as_str()),
        (CloseCode::Size, "frame larger than 65536 bytes")
    );
    assert_eq!(app.stored_ids().await, Vec::<u64>::new());
}

/// A valid message read together with a later violation (one write, one read) is published
/// before the connection is closed for the violation (Autobahn 3.2).
#[tokio::test]
async fn a_message_before_a_violation_in_the_same_read_is_published() {
    let app = spawn_app().await;
    let bytes = [
        masked(0x81, br#"{"text":"before the violation","ref":"r-1"}"#),
        masked(0xC1, br#"{"text":"reserved bits"}"#),
    ]
    .concat();

    let (out, closed) = exchange(&app, &bytes, true).await;

    assert!(closed);
    let ack = server_frames(&out)
        .into_iter()
        .find(|(first, payload)| *first == 0x81 && payload.starts_with(br#"{"type":"ack""#));
    assert_eq!(
        ack.map(|(_, payload)| String::from_utf8(payload).unwrap()),
        Some(r#"{"type":"ack","ref":"r-1","id":1}"#.to_owned()),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        close_frame(&out, true),
        Some((
            1002,
            "Received a frame with non-zero reserved bits".to_owned()
        ))
    );
    assert_eq!(app.stored_ids().await, vec![1]);
}

/// UTF-8 characters split across fragments (2-byte, 3-byte and 4-byte, one split over three
/// fragments), with a ping between fragments, make one valid text message.
#[tokio::test]
async fn utf8_split_across_fragments_is_one_valid_message() {
    let app = spawn_app().await;
    let text = "café € 😀";
    let b = text.as_bytes();
    // "caf" + C3 | A9 " " E2 | 82 AC " " F0 | 9F 98 | 80
    let cuts = [4, 7, 11, 13];
    let bytes = [
        masked(0x01, &b[..cuts[0]]),
        masked(0x00, &b[cuts[0]..cuts[1]]),
        masked(0x89, b"between fragments"),
        masked(0x00, &b[cuts[1]..cuts[2]]),
        masked(0x00, &b[cuts[2]..cuts[3]]),
        masked(0x80, &b[cuts[3]..]),
        masked(0x88, &1000u16.to_be_bytes()),
    ]
    .concat();

    let (out, closed) = exchange(&app, &bytes, true).await;

    assert!(closed);
    assert_eq!(close_frame(&out, true), Some((1000, String::new())));
    let (_, poll) = app.get_json("/api/poll?since=0").await;
    assert_eq!(poll["messages"][0]["text"], text);
    assert!(
        server_frames(&out).contains(&(0x8A, b"between fragments".to_vec())),
        "the ping between fragments was answered"
    );
}

/// A fragmented message of exactly the limit (65,536 bytes in 8 fragments) is assembled, not
/// closed: it gets the text-length error frame like any long text.
#[tokio::test]
async fn a_fragmented_message_at_the_limit_is_assembled() {
    let app = spawn_app().await;
    let mut bytes = masked(0x01, &[b'z'; 8192]);
    for _ in 0..6 {
        bytes.extend(masked(0x00, &[b'z'; 8192]));
    }
    bytes.extend(masked(0x80, &[b'z'; 8192]));
    bytes.extend(masked(0x88, &1000u16.to_be_bytes()));

    let (out, _) = exchange(&app, &bytes, true).await;

    let texts: Vec<String> = server_frames(&out)
        .into_iter()
        .filter(|(first, _)| *first == 0x81)
        .map(|(_, payload)| String::from_utf8(payload).unwrap())
        .collect();
    assert_eq!(
        texts,
        vec![r#"{"type":"error","error":"text is 65536 bytes; the limit is 4096"}"#.to_owned()]
    );
    assert_eq!(close_frame(&out, true), Some((1000, String::new())));
}
