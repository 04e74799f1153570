//! The ledger's wire parsers over arbitrary bytes split at arbitrary points: chunked bodies,
//! WebSocket frames and the body classifier. Never a panic, and the accounting is exact: every
//! byte fed is either framing or data, and the classifier's split adds up to what it was fed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::ledger::chunked::{Chunked, Piece};
use transport_lab::ledger::classify::{BodyClassifier, Format, Tally};
use transport_lab::ledger::ws_frames::FrameParser;

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let step = usize::from(split % 64) + 1;

    let mut chunked = Chunked::default();
    for part in bytes.chunks(step) {
        let mut pieces = 0;
        let fed = chunked.feed(part, |piece| match piece {
            Piece::Framing(b) | Piece::Data(b) => pieces += b.len(),
        });
        match fed {
            // Every byte the parser took is reported, as framing or as data, exactly once.
            Ok((used, done)) => {
                assert_eq!(pieces, used);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }

    let mut frames = FrameParser::with_limit(1 << 20);
    let mut seen = 0u64;
    for part in bytes.chunks(step) {
        if frames
            .feed(part, |frame| seen += frame.header_len + frame.payload_len)
            .is_err()
        {
            break;
        }
    }
    assert!(seen <= bytes.len() as u64);

    for format in [
        Format::Sse,
        Format::Ndjson,
        Format::PollJson,
        Format::Opaque,
    ] {
        let mut classifier = BodyClassifier::new(format);
        let mut tally = Tally::default();
        for part in bytes.chunks(step) {
            classifier.feed(part, &mut tally);
        }
        classifier.finish(&mut tally);
        assert_eq!(
            tally.bytes.iter().sum::<u64>(),
            bytes.len() as u64,
            "{format:?}"
        );
    }
});
