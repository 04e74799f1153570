//! The ledger's HTTP/2 follower and its HPACK decoder on arbitrary bytes: whatever a client (or,
//! for the follower's robustness, the other side) sends, following never panics, a header block
//! never decodes past its limit, and the counts do not depend on how the bytes were cut (the
//! kernel cuts them anywhere). The input's first byte picks the piece size and where the client's
//! bytes end and the server's begin; the client's are sent, after a valid preface, before the
//! server's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::ledger::hpack::Decoder;
use transport_lab::ledger::http2::{H2Conversation, PREFACE};
use transport_lab::ledger::{Ledger, Snapshot, TransportStats};

/// Every count the ledger holds after following `up` then `down` in pieces of `piece` bytes.
fn follow(
    up: &[u8],
    down: &[u8],
    piece: usize,
) -> Option<(TransportStats, TransportStats, Option<Snapshot>)> {
    let ledger = Ledger::new();
    {
        let mut conn = H2Conversation::new(ledger.clone());
        for u in up.chunks(piece) {
            if conn.on_read(u).is_err() {
                break;
            }
        }
        for d in down.chunks(piece) {
            conn.on_write(d);
        }
    }
    let stats = ledger.stats(None)?;
    Some((stats.transports, stats.sends, stats.connection))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let _ = Decoder::default().decode(rest, 4096);
    let split = usize::from(first) * rest.len() / 256;
    let up = [&PREFACE[..], &rest[..split]].concat();
    let down = &rest[split..];
    assert_eq!(
        follow(&up, down, usize::MAX),
        follow(&up, down, 1 + usize::from(first % 7)),
        "the counts depend on how the bytes were cut"
    );
});
