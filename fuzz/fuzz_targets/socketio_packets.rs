//! Socket.IO's packets as a client sends them: a polling body (Engine.IO packets joined by
//! `\x1e`) whose message packets hold Socket.IO packets. Never a panic; whatever decodes encodes
//! back to something that decodes to the same packet, and the ledger's classification of each
//! packet accounts for every byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::ledger::classify::{EnginePacket, engine_packet};
use transport_lab::transports::socketio::{engine, socket};

fuzz_target!(|body: &str| {
    for piece in body.split(engine::SEPARATOR) {
        if let EnginePacket::Chat { envelope, .. } =
            engine_packet(piece.as_bytes(), piece.len() as u64)
        {
            assert!(envelope < piece.len() as u64);
        }
    }
    let Ok(packets) = engine::Packet::decode_payload(body) else {
        return;
    };
    for packet in packets {
        assert_eq!(
            engine::Packet::decode(&packet.to_string()).as_ref(),
            Ok(&packet)
        );
        if let engine::Packet::Message(data) = packet
            && let Ok(decoded) = socket::Packet::decode(&data)
        {
            assert_eq!(socket::Packet::decode(&decoded.encode()), Ok(decoded));
        }
    }
});
