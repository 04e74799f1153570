//! WebSocket text frames: a message (JSON with a `ref`, a room, "to others", or plain text), or a
//! join or leave. Never a panic; accepted messages obey the same rules as posted ones, and every
//! room named is a valid room name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::RoomName;
use transport_lab::compose::{self, WsRequest};

fuzz_target!(|text: &str| {
    match compose::from_ws_text(text, Some("fuzz"), 4096) {
        Ok((WsRequest::Publish { message, room, .. }, _)) => {
            assert!(!message.text.trim().is_empty());
            assert!(message.text.len() <= 4096);
            assert!(
                !message
                    .text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t')
            );
            assert!(room.is_none_or(|r| RoomName::valid(&r)));
        }
        Ok((WsRequest::Join { room, .. } | WsRequest::Leave { room }, _)) => {
            assert!(RoomName::valid(&room));
        }
        Err(_) => {}
    }
});
