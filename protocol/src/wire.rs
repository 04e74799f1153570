//! The JSON both ends exchange: a chat message, and the control objects (`ready`, `gap`,
//! `heartbeat`, `ack`, `error`, `presence`, `left`) that travel beside messages on every transport.
//!
//! Field order is part of the contract: a message starts with `{"id":` and a control object with
//! `{"type":`, which is how the server's wire ledger (and any client) tells them apart without
//! parsing. Serde writes fields in declaration order and an internally tagged enum writes its tag
//! first, so the types below produce exactly those bytes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cursor::Epoch;
use crate::room::{LOBBY, RoomName};
use crate::transport::Transport;

/// A chat message as JSON:
/// `{"id":7,"room":"lobby","user":"ada","text":"hello","ts":1795449364871}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage<'a> {
    /// Position in its room's log, from 1: the cursor every transport resumes from.
    pub id: u64,
    /// The room it was said in; ids count per room. Absent only in messages of servers older
    /// than rooms, which had one room: the lobby.
    #[serde(borrow, default = "lobby")]
    pub room: Cow<'a, str>,
    #[serde(borrow)]
    pub user: Cow<'a, str>,
    #[serde(borrow)]
    pub text: Cow<'a, str>,
    /// Unix milliseconds at publish, so a client can measure delivery latency.
    pub ts: u64,
}

fn lobby() -> Cow<'static, str> {
    Cow::Borrowed(LOBBY)
}

/// A control object: everything on a transport that is not a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Control {
    /// First object of every stream: the cursor it starts from (`epoch`-`since`). A client that
    /// reconnects with this cursor loses nothing, even if no message arrived in between.
    /// `room` is there on a WebSocket, where one socket reads several rooms (each join answers
    /// with its own `ready`); a stream of one room leaves it out, the bytes it always had.
    Ready {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        since: u64,
        epoch: Epoch,
        /// The server that answered, on a shared bus (`--bus redis://`), so a page can show
        /// which server each panel reached; absent otherwise, the bytes it always had.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    /// The cursor could not be continued: `missed` messages left the history, or (`reset`) the
    /// cursor came from an earlier run of the server. Delivery goes on after `epoch`-`since`,
    /// which is the client's cursor from now on.
    Gap {
        /// As in `ready`: named on a WebSocket only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        missed: u64,
        reset: bool,
        since: u64,
        epoch: Epoch,
    },
    /// The stream is idle but alive (the HTTP stream's keep-alive line).
    Heartbeat,
    /// A WebSocket publish that carried a `ref` was stored with this id.
    Ack {
        #[serde(rename = "ref")]
        reference: Value,
        id: u64,
    },
    /// A WebSocket frame was refused; the connection stays open.
    Error {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
        error: String,
    },
    /// How many are in a room now, sent to the room's streams and sockets when it changes (at
    /// most once a second). A member is a client id with an open stream or socket, or one that
    /// polled within the presence window; `members` counts each once, `by_transport` per
    /// transport (a client on two transports is in both).
    Presence {
        room: RoomName,
        members: u64,
        by_transport: PerTransport,
    },
    /// A WebSocket left a room it had joined; nothing more of that room follows.
    Left { room: RoomName },
}

/// One count per transport, as an object keyed by transport name in teaching order:
/// `{"poll":0,"longpoll":1,"stream":0,"sse":2,"ws":1}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerTransport(pub [u64; Transport::COUNT]);

impl PerTransport {
    pub fn get(&self, transport: Transport) -> u64 {
        self.0[transport.index()]
    }
    pub fn add(&mut self, transport: Transport, n: u64) {
        self.0[transport.index()] += n;
    }
}

impl Serialize for PerTransport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(Transport::COUNT))?;
        for t in Transport::ALL {
            map.serialize_entry(t.name(), &self.get(t))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PerTransport {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::HashMap::<Transport, u64>::deserialize(deserializer)?;
        let mut counts = Self::default();
        for (t, n) in map {
            counts.add(t, n);
        }
        Ok(counts)
    }
}

impl Control {
    /// The object as compact JSON.
    pub fn to_json(&self) -> String {
        // expect: integers, strings, booleans and an already-valid `Value` always serialize.
        serde_json::to_string(self).expect("control objects always serialize")
    }
}

/// The HTTP stream's heartbeat: one NDJSON line.
pub const NDJSON_HEARTBEAT: &[u8] = b"{\"type\":\"heartbeat\"}\n";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each control object has exactly the bytes clients and the ledger rely on.
    #[test]
    fn control_objects_have_their_documented_bytes() {
        let epoch = Epoch::parse("k3x9qa").unwrap();
        let cases = [
            (
                Control::Ready {
                    room: None,
                    since: 4,
                    epoch: epoch.clone(),
                    node: None,
                },
                r#"{"type":"ready","since":4,"epoch":"k3x9qa"}"#,
            ),
            (
                Control::Gap {
                    room: None,
                    missed: 3,
                    reset: true,
                    since: 5,
                    epoch,
                },
                r#"{"type":"gap","missed":3,"reset":true,"since":5,"epoch":"k3x9qa"}"#,
            ),
            (Control::Heartbeat, r#"{"type":"heartbeat"}"#),
            (
                Control::Ack {
                    reference: json!(7),
                    id: 12,
                },
                r#"{"type":"ack","ref":7,"id":12}"#,
            ),
            (
                Control::Error {
                    reference: None,
                    error: "text is empty".into(),
                },
                r#"{"type":"error","error":"text is empty"}"#,
            ),
            (
                Control::Error {
                    reference: Some(json!("a")),
                    error: "x".into(),
                },
                r#"{"type":"error","ref":"a","error":"x"}"#,
            ),
            (
                Control::Ready {
                    room: RoomName::parse("math").ok(),
                    since: 0,
                    epoch: Epoch::parse("k3x9qa").unwrap(),
                    node: None,
                },
                r#"{"type":"ready","room":"math","since":0,"epoch":"k3x9qa"}"#,
            ),
            (
                Control::Presence {
                    room: RoomName::lobby(),
                    members: 2,
                    by_transport: PerTransport([0, 1, 0, 2, 0, 1]),
                },
                r#"{"type":"presence","room":"lobby","members":2,"by_transport":{"poll":0,"longpoll":1,"stream":0,"sse":2,"ws":0,"socketio":1}}"#,
            ),
            (
                Control::Left {
                    room: RoomName::lobby(),
                },
                r#"{"type":"left","room":"lobby"}"#,
            ),
        ];
        for (control, bytes) in cases {
            assert_eq!(control.to_json(), bytes);
            assert_eq!(serde_json::from_str::<Control>(bytes).unwrap(), control);
        }
        assert_eq!(
            NDJSON_HEARTBEAT,
            format!("{}\n", Control::Heartbeat.to_json()).as_bytes()
        );
    }

    /// A message serializes id first and round-trips without copying its strings.
    #[test]
    fn message_starts_with_its_id() {
        let text = r#"{"id":7,"room":"math","user":"ada","text":"hello","ts":1795449364871}"#;
        let m: ChatMessage = serde_json::from_str(text).unwrap();
        assert!(matches!(m.user, Cow::Borrowed("ada")));
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
        // A server from before rooms had one room: the lobby.
        let old: ChatMessage =
            serde_json::from_str(r#"{"id":7,"user":"ada","text":"hi","ts":1}"#).unwrap();
        assert_eq!(old.room, LOBBY);
    }
}
