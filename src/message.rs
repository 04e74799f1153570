//! A chat message as it travels: encoded once, at publish time, into a single buffer that every
//! transport slices from.
//!
//! The buffer holds the whole SSE event (`id: k3x9qa-7\ndata: {json}\n\n`, the `id:` being the
//! cursor with the server run's epoch, so `Last-Event-ID` carries it back). The JSON, the NDJSON line
//! (JSON plus the `\n` that follows it) and the SSE event are views into that one allocation, so a
//! message delivered to ten thousand subscribers over five transports is serialized exactly once and
//! never copied: each connection gets a reference-counted slice.

use std::borrow::Cow;
use std::ops::Range;

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use protocol::{ChatMessage, Epoch, RoomName};

use crate::presence::MemberKey;

/// A stored chat message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Position in its room's log: strictly increasing from 1, the cursor every transport
    /// resumes from.
    pub id: u64,
    /// Who must not receive it: the sender of a message sent "to others". Never on the wire.
    pub except: Option<MemberKey>,
    /// Unix milliseconds at publish, so clients can measure delivery latency.
    pub ts: u64,
    /// `id: <epoch>-<id>\ndata: <json>\n\n`; every wire form below is a slice of it.
    frame: Bytes,
    /// Where the JSON sits inside `frame`.
    json: Range<usize>,
    /// `42["chat",<json>]`, Socket.IO's wire form: made by the first Socket.IO reader, then shared
    /// by all of them, so it too is encoded once per message, not once per delivery.
    socketio_event: OnceLock<Bytes>,
}

const SSE_ID: &[u8] = b"id: ";
const SSE_DATA: &[u8] = b"\ndata: ";
/// What goes before a message in Socket.IO's wire form (Engine.IO message `4`, Socket.IO EVENT
/// `2`, the event name); a `]` goes after.
pub const SOCKETIO_CHAT: &[u8] = b"42[\"chat\",";

impl Message {
    /// Encodes message `id` of `room` in run `epoch`. `user` and `text` were validated by
    /// [`crate::compose`].
    pub fn encode(
        epoch: &Epoch,
        room: &RoomName,
        id: u64,
        user: &str,
        text: &str,
        ts: u64,
        except: Option<MemberKey>,
    ) -> Self {
        // The message as JSON (`protocol`'s shape): the only serialization a message ever gets.
        let wire = ChatMessage {
            id,
            room: Cow::Borrowed(room.as_str()),
            user: Cow::Borrowed(user),
            text: Cow::Borrowed(text),
            ts,
        };
        let id_text = format!("{epoch}-{id}");
        let mut buf =
            BytesMut::with_capacity(80 + room.len() + user.len() + text.len() + 2 * id_text.len());
        buf.put_slice(SSE_ID);
        buf.put_slice(id_text.as_bytes());
        buf.put_slice(SSE_DATA);
        let start = buf.len();
        let mut writer = buf.writer();
        // unwrap: two &str and two integers always serialize, and the writer is an in-memory buffer.
        serde_json::to_writer(&mut writer, &wire).expect("serializing plain fields to memory");
        let mut buf = writer.into_inner();
        let end = buf.len();
        // serde_json escapes every newline inside strings, so the JSON is one line: a valid SSE
        // `data:` field and a valid NDJSON record.
        buf.put_slice(b"\n\n");
        Self {
            id,
            except,
            ts,
            frame: buf.freeze(),
            json: start..end,
            socketio_event: OnceLock::new(),
        }
    }

    /// Whether `viewer` is the one member this message is not for.
    pub fn hidden_from(&self, viewer: Option<&MemberKey>) -> bool {
        matches!((&self.except, viewer), (Some(except), Some(viewer)) if Arc::ptr_eq(except, viewer) || except == viewer)
    }

    /// The message JSON: `{"id":..,"room":..,"user":..,"text":..,"ts":..}`.
    pub fn json(&self) -> Bytes {
        self.frame.slice(self.json.clone())
    }

    /// The JSON followed by `\n`: one NDJSON record, as the HTTP stream sends it.
    pub fn ndjson_line(&self) -> Bytes {
        self.frame.slice(self.json.start..self.json.end + 1)
    }

    /// The message as a Socket.IO `chat` event inside an Engine.IO message packet:
    /// `42["chat",{..}]`, one WebSocket frame or one packet of a polling body.
    pub fn socketio_event(&self) -> Bytes {
        self.socketio_event
            .get_or_init(|| {
                let json = self.json();
                let mut buf = BytesMut::with_capacity(json.len() + SOCKETIO_CHAT.len() + 1);
                buf.put_slice(SOCKETIO_CHAT);
                buf.put_slice(&json);
                buf.put_u8(b']');
                buf.freeze()
            })
            .clone()
    }

    /// The complete SSE event: `id:` line (the cursor), `data:` line and the blank line that ends
    /// the event.
    pub fn sse_event(&self) -> Bytes {
        self.frame.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wire form is a view of one encoding, and the JSON round-trips with newlines escaped.
    #[test]
    fn wire_forms_share_one_encoding() {
        let epoch = Epoch::parse("k3x9qa").unwrap();
        let room = RoomName::parse("math").unwrap();
        let m = Message::encode(
            &epoch,
            &room,
            7,
            "ada",
            "hi\nthere \"you\"",
            1_700_000_000_000,
            None,
        );

        let json: serde_json::Value = serde_json::from_slice(&m.json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "room": "math", "user": "ada", "text": "hi\nthere \"you\"", "ts": 1_700_000_000_000u64})
        );
        assert_eq!(&m.ndjson_line()[..], [&m.json()[..], b"\n"].concat());
        assert_eq!(
            &m.sse_event()[..],
            [b"id: k3x9qa-7\ndata: ", &m.json()[..], b"\n\n"].concat()
        );
        assert_eq!(m.json().as_ptr(), m.sse_event()[19..].as_ptr());
        assert_eq!(
            &m.socketio_event()[..],
            [b"42[\"chat\",", &m.json()[..], b"]"].concat()
        );
        assert_eq!(m.socketio_event().as_ptr(), m.socketio_event().as_ptr());
    }
}
