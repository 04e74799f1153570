//! Engine.IO v4 packets: the layer under Socket.IO that makes "a connection" out of HTTP long
//! polling or a WebSocket, with its own heartbeat and its upgrade from one to the other.
//!
//! A packet is one type digit and its data: `0` open (the handshake JSON), `1` close, `2` ping,
//! `3` pong (`2probe`/`3probe` test a new WebSocket before the upgrade), `4` message (a Socket.IO
//! packet), `5` upgrade, `6` noop. Over WebSocket each text frame is one packet; over polling a
//! body carries several, joined by the record separator `\x1e`, a byte JSON never contains.
//! Binary packets (`b` + base64 in polling, binary frames over WebSocket) are not accepted here:
//! the chat has no binary data, and refusing them keeps every byte on the wire readable.

use std::fmt;

/// Joins packets in a polling body.
pub const SEPARATOR: char = '\x1e';

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// The handshake: `0{"sid":..,"upgrades":..,"pingInterval":..,"pingTimeout":..,"maxPayload":..}`.
    Open(String),
    Close,
    /// The server's heartbeat; `probe` only on a new WebSocket, from the client.
    Ping(String),
    /// The client's answer; `probe` only from the server, answering the client's probe.
    Pong(String),
    /// A Socket.IO packet.
    Message(String),
    /// The client switches to the probed WebSocket.
    Upgrade,
    /// Nothing: releases a held poll during the upgrade.
    Noop,
}

/// What makes a packet unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("an empty Engine.IO packet (a packet is a type digit 0-6 and its data)")]
    Empty,
    #[error(
        "Engine.IO packet type {0:?} is not one of 0-6 (open, close, ping, pong, message, upgrade, noop)"
    )]
    BadType(char),
    #[error("binary Engine.IO packets are not supported by this server: send text")]
    Binary,
    #[error("{0} packets take no data")]
    UnexpectedData(&'static str),
}

impl Packet {
    /// Reads one packet (a WebSocket text frame, or one piece of a polling body).
    pub fn decode(text: &str) -> Result<Self, PacketError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(PacketError::Empty)?;
        let data = chars.as_str();
        let bare = |packet: Packet, name| {
            if data.is_empty() {
                Ok(packet)
            } else {
                Err(PacketError::UnexpectedData(name))
            }
        };
        match kind {
            '0' => Ok(Self::Open(data.to_owned())),
            '1' => bare(Self::Close, "close"),
            '2' => Ok(Self::Ping(data.to_owned())),
            '3' => Ok(Self::Pong(data.to_owned())),
            '4' => Ok(Self::Message(data.to_owned())),
            '5' => bare(Self::Upgrade, "upgrade"),
            '6' => bare(Self::Noop, "noop"),
            'b' => Err(PacketError::Binary),
            other => Err(PacketError::BadType(other)),
        }
    }

    /// Reads a polling body: packets joined by [`SEPARATOR`].
    pub fn decode_payload(body: &str) -> Result<Vec<Self>, PacketError> {
        body.split(SEPARATOR).map(Self::decode).collect()
    }

    /// The packet's type digit.
    pub fn type_digit(&self) -> char {
        match self {
            Self::Open(_) => '0',
            Self::Close => '1',
            Self::Ping(_) => '2',
            Self::Pong(_) => '3',
            Self::Message(_) => '4',
            Self::Upgrade => '5',
            Self::Noop => '6',
        }
    }

    fn data(&self) -> &str {
        match self {
            Self::Open(d) | Self::Ping(d) | Self::Pong(d) | Self::Message(d) => d,
            Self::Close | Self::Upgrade | Self::Noop => "",
        }
    }
}

impl fmt::Display for Packet {
    /// The packet's wire form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.type_digit(), self.data())
    }
}

/// A polling body: the encoded packets joined by [`SEPARATOR`].
pub fn join_payload<'a>(packets: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            body.push(SEPARATOR as u8);
        }
        body.extend_from_slice(packet);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every packet type survives encoding and decoding.
    #[test]
    fn every_type_both_ways() {
        let packets = [
            Packet::Open(r#"{"sid":"abc"}"#.into()),
            Packet::Close,
            Packet::Ping(String::new()),
            Packet::Ping("probe".into()),
            Packet::Pong(String::new()),
            Packet::Pong("probe".into()),
            Packet::Message(r#"2["chat",{"text":"hi"}]"#.into()),
            Packet::Upgrade,
            Packet::Noop,
        ];
        let wire = [
            r#"0{"sid":"abc"}"#,
            "1",
            "2",
            "2probe",
            "3",
            "3probe",
            r#"42["chat",{"text":"hi"}]"#,
            "5",
            "6",
        ];
        for (packet, wire) in packets.iter().zip(wire) {
            assert_eq!(packet.to_string(), wire);
            assert_eq!(Packet::decode(wire).as_ref(), Ok(packet));
        }
    }

    /// A polling body splits at the record separator, and joins back to the same bytes.
    #[test]
    fn payloads_split_and_join() {
        let body = "3\u{1e}42[\"chat\",{\"text\":\"a\"}]\u{1e}6";
        let packets = Packet::decode_payload(body).unwrap();
        assert_eq!(
            packets,
            [
                Packet::Pong(String::new()),
                Packet::Message(r#"2["chat",{"text":"a"}]"#.into()),
                Packet::Noop
            ]
        );
        let encoded: Vec<String> = packets.iter().map(ToString::to_string).collect();
        assert_eq!(
            join_payload(encoded.iter().map(|p| p.as_bytes())),
            body.as_bytes()
        );
    }

    /// Malformed packets are refused with what is wrong.
    #[test]
    fn malformed_packets() {
        assert_eq!(Packet::decode(""), Err(PacketError::Empty));
        assert_eq!(Packet::decode("7"), Err(PacketError::BadType('7')));
        assert_eq!(Packet::decode("x42"), Err(PacketError::BadType('x')));
        assert_eq!(Packet::decode("bAQID"), Err(PacketError::Binary));
        assert_eq!(
            Packet::decode("1bye"),
            Err(PacketError::UnexpectedData("close"))
        );
        assert_eq!(
            Packet::decode_payload("3\u{1e}\u{1e}3"),
            Err(PacketError::Empty)
        );
        assert!(
            PacketError::BadType('7')
                .to_string()
                .contains("not one of 0-6")
        );
    }
}
