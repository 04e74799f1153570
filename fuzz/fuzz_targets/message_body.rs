//! `POST /api/messages` bodies: any bytes, in each of the three formats, either become a valid
//! message or a clear error, never a panic; what passes obeys every documented rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::compose::{self, BodyFormat, MAX_USER_BYTES};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = [BodyFormat::Json, BodyFormat::Form, BodyFormat::Text][usize::from(selector) % 3];
    if let Ok(message) = compose::from_body(format, body, Some("fuzz"), 4096) {
        assert!(!message.text.trim().is_empty());
        assert!(message.text.len() <= 4096);
        assert!(message.user.len() <= MAX_USER_BYTES);
        assert!(
            !message
                .text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        );
        assert!(!message.user.chars().any(char::is_control));
    }
});
