//! Socket.IO v5 packets: events, acknowledgements and namespaces, carried in Engine.IO message
//! packets (`4` + this).
//!
//! A packet is `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`: type `0` CONNECT (data:
//! the client's `auth`, or the server's `{"sid":..}`), `1` DISCONNECT, `2` EVENT
//! (`["name", ...args]`), `3` ACK (`[...args]`, answering an event that carried an id), `4`
//! CONNECT_ERROR (`{"message":..}`), `5`/`6` their binary forms. The default namespace `/` is
//! left out, so the commonest packet on the wire is `2["chat",{..}]`, or `42["chat",{..}]` once
//! Engine.IO's message digit is in front.

use std::fmt::Write;

use serde_json::Value;

/// The namespace every client joins unless it names another; the only one served here.
pub const DEFAULT_NAMESPACE: &str = "/";
/// Longest acknowledgement id read: `u64` digits, no more.
const MAX_ID_DIGITS: usize = 19;

/// The packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
}

impl Kind {
    fn digit(self) -> char {
        match self {
            Self::Connect => '0',
            Self::Disconnect => '1',
            Self::Event => '2',
            Self::Ack => '3',
            Self::ConnectError => '4',
        }
    }
}

/// One Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub kind: Kind,
    pub namespace: String,
    /// An EVENT's id asks for an ACK with the same id.
    pub id: Option<u64>,
    pub data: Option<Value>,
}

/// What makes a Socket.IO packet unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("an empty Socket.IO packet")]
    Empty,
    #[error("Socket.IO packet type {0:?} is not one of 0-6")]
    BadType(char),
    #[error(
        "binary attachments (packet types 5 and 6) are not supported by this server: send JSON"
    )]
    Binary,
    #[error("the acknowledgement id is not a number that fits in 64 bits")]
    BadId,
    #[error("the packet's data is not JSON: {0}")]
    BadJson(String),
    #[error("{0}")]
    BadData(&'static str),
}

impl Packet {
    /// An EVENT on the default namespace: `2["name",..args]`.
    pub fn event(args: Value) -> Self {
        Self {
            kind: Kind::Event,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            id: None,
            data: Some(args),
        }
    }

    /// Reads one packet: the data of an Engine.IO message packet.
    pub fn decode(text: &str) -> Result<Self, PacketError> {
        let mut chars = text.chars();
        let kind = match chars.next().ok_or(PacketError::Empty)? {
            '0' => Kind::Connect,
            '1' => Kind::Disconnect,
            '2' => Kind::Event,
            '3' => Kind::Ack,
            '4' => Kind::ConnectError,
            '5' | '6' => return Err(PacketError::Binary),
            other => return Err(PacketError::BadType(other)),
        };
        let mut rest = chars.as_str();
        let namespace = if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            let namespace = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            namespace.to_owned()
        } else {
            DEFAULT_NAMESPACE.to_owned()
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = if digits == 0 {
            None
        } else if digits > MAX_ID_DIGITS {
            return Err(PacketError::BadId);
        } else {
            Some(rest[..digits].parse().map_err(|_| PacketError::BadId)?)
        };
        rest = &rest[digits..];
        let data = if rest.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str::<Value>(rest)
                    .map_err(|e| PacketError::BadJson(e.to_string()))?,
            )
        };
        let packet = Self {
            kind,
            namespace,
            id,
            data,
        };
        packet.check()?;
        Ok(packet)
    }

    /// The shape rules of each type.
    fn check(&self) -> Result<(), PacketError> {
        match (self.kind, &self.data) {
            (Kind::Connect, None | Some(Value::Object(_))) => Ok(()),
            (Kind::Connect, _) => Err(PacketError::BadData("CONNECT data must be an object")),
            (Kind::Disconnect, None) => Ok(()),
            (Kind::Disconnect, _) => Err(PacketError::BadData("DISCONNECT takes no data")),
            (Kind::Event, Some(Value::Array(args)))
                if args.first().is_some_and(Value::is_string) =>
            {
                Ok(())
            }
            (Kind::Event, _) => Err(PacketError::BadData(
                "EVENT data must be an array starting with the event name, like [\"chat\",{..}]",
            )),
            (Kind::Ack, Some(Value::Array(_))) if self.id.is_some() => Ok(()),
            (Kind::Ack, _) => Err(PacketError::BadData(
                "ACK needs an id and an array of arguments",
            )),
            // As socket.io-parser: a message or an object. (A bare number could not be told from
            // an id: `422` would read back as id 22.)
            (Kind::ConnectError, None | Some(Value::Object(_) | Value::String(_))) => Ok(()),
            (Kind::ConnectError, _) => Err(PacketError::BadData(
                "CONNECT_ERROR data must be an object or a string",
            )),
        }
    }

    /// The event name and its arguments, for an EVENT.
    pub fn event_args(&self) -> Option<(&str, &[Value])> {
        match (&self.kind, &self.data) {
            (Kind::Event, Some(Value::Array(args))) => {
                let (name, rest) = args.split_first()?;
                Some((name.as_str()?, rest))
            }
            _ => None,
        }
    }

    /// The packet's wire form (without Engine.IO's `4`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        out.push(self.kind.digit());
        if self.namespace != DEFAULT_NAMESPACE {
            out.push_str(&self.namespace);
            out.push(',');
        }
        if let Some(id) = self.id {
            let _ = write!(out, "{id}");
        }
        if let Some(data) = &self.data {
            out.push_str(&data.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every packet type, in the forms socket.io-client writes and reads.
    #[test]
    fn every_type_both_ways() {
        let cases = [
            ("0", Kind::Connect, "/", None, None),
            (
                r#"0{"since":3}"#,
                Kind::Connect,
                "/",
                None,
                Some(json!({"since":3})),
            ),
            ("0/admin,", Kind::Connect, "/admin", None, None),
            ("1", Kind::Disconnect, "/", None, None),
            (
                r#"2["chat",{"text":"hi"}]"#,
                Kind::Event,
                "/",
                None,
                Some(json!(["chat", {"text":"hi"}])),
            ),
            (
                r#"212["chat",{"text":"hi"}]"#,
                Kind::Event,
                "/",
                Some(12),
                Some(json!(["chat", {"text":"hi"}])),
            ),
            (
                r#"2/admin,7["x"]"#,
                Kind::Event,
                "/admin",
                Some(7),
                Some(json!(["x"])),
            ),
            (
                r#"312[{"id":4}]"#,
                Kind::Ack,
                "/",
                Some(12),
                Some(json!([{"id":4}])),
            ),
            (
                r#"4{"message":"no"}"#,
                Kind::ConnectError,
                "/",
                None,
                Some(json!({"message":"no"})),
            ),
        ];
        for (wire, kind, namespace, id, data) in cases {
            let packet = Packet::decode(wire).unwrap();
            assert_eq!(
                packet,
                Packet {
                    kind,
                    namespace: namespace.into(),
                    id,
                    data
                },
                "{wire}"
            );
            assert_eq!(packet.encode(), wire, "{wire}");
        }
        let event = Packet::decode(r#"21["join","math",5]"#).unwrap();
        assert_eq!(
            event.event_args(),
            Some(("join", &[json!("math"), json!(5)][..]))
        );
    }

    /// Malformed packets: what is wrong is said.
    #[test]
    fn malformed_packets() {
        assert_eq!(Packet::decode(""), Err(PacketError::Empty));
        assert_eq!(Packet::decode("9"), Err(PacketError::BadType('9')));
        assert_eq!(
            Packet::decode(r#"51-["chat",{"_placeholder":true,"num":0}]"#),
            Err(PacketError::Binary)
        );
        assert!(matches!(
            Packet::decode(r#"2["chat",{"text":}]"#),
            Err(PacketError::BadJson(_))
        ));
        assert_eq!(
            Packet::decode("299999999999999999999[\"x\"]"),
            Err(PacketError::BadId)
        );
        assert!(matches!(
            Packet::decode(r#"2{"text":"hi"}"#),
            Err(PacketError::BadData(_))
        ));
        assert!(matches!(
            Packet::decode("2[5]"),
            Err(PacketError::BadData(_))
        ));
        assert!(matches!(
            Packet::decode("3[1]"),
            Err(PacketError::BadData(_))
        ));
        assert!(matches!(
            Packet::decode("0[1]"),
            Err(PacketError::BadData(_))
        ));
        // Found by the fuzzer: data that is a number would read back as part of the id.
        assert!(matches!(
            Packet::decode("422"),
            Ok(Packet {
                id: Some(22),
                data: None,
                ..
            })
        ));
        assert!(matches!(
            Packet::decode("42 2"),
            Err(PacketError::BadData(_))
        ));
    }
}
