//! The JSON both ends exchange: a chat message, and the control objects (`ready`, `gap`,
//! `heartbeat`, `ack`, `error`) that travel beside messages on every transport.
//!
//! Field order is part of the contract: a message starts with `{"id":` and a control object with
//! `{"type":`, which is how the server's wire ledger (and any client) tells them apart without
//! parsing. Serde writes fields in declaration order and an internally tagged enum writes its tag
//! first, so the types below produce exactly those bytes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cursor::Epoch;

/// A chat message as JSON: `{"id":7,"user":"ada","text":"hello","ts":1795449364871}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage<'a> {
    /// Position in the log, from 1: the cursor every transport resumes from.
    pub id: u64,
    #[serde(borrow)]
    pub user: Cow<'a, str>,
    #[serde(borrow)]
    pub text: Cow<'a, str>,
    /// Unix milliseconds at publish, so a client can measure delivery latency.
    pub ts: u64,
}

/// A control object: everything on a transport that is not a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Control {
    /// First object of every stream: the cursor it starts from (`epoch`-`since`). A client that
    /// reconnects with this cursor loses nothing, even if no message arrived in between.
    Ready { since: u64, epoch: Epoch },
    /// The cursor could not be continued: `missed` messages left the history, or (`reset`) the
    /// cursor came from an earlier run of the server. Delivery goes on after `epoch`-`since`,
    /// which is the client's cursor from now on.
    Gap {
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
                    since: 4,
                    epoch: epoch.clone(),
                },
                r#"{"type":"ready","since":4,"epoch":"k3x9qa"}"#,
            ),
            (
                Control::Gap {
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
        let text = r#"{"id":7,"user":"ada","text":"hello","ts":1795449364871}"#;
        let m: ChatMessage = serde_json::from_str(text).unwrap();
        assert!(matches!(m.user, Cow::Borrowed("ada")));
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
    }
}
