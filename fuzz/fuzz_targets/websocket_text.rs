//! WebSocket text frames: JSON with a `ref`, or plain text. Never a panic; accepted messages obey
//! the same rules as posted ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::compose;

fuzz_target!(|text: &str| {
    if let Ok((message, _reference)) = compose::from_ws_text(text, Some("fuzz"), 4096) {
        assert!(!message.text.trim().is_empty());
        assert!(message.text.len() <= 4096);
        assert!(
            !message
                .text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        );
    }
});
