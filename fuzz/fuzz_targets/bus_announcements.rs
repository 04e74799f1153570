//! The shared bus's announcements (`--bus redis://`) on arbitrary bytes: anything published on
//! the channel, by our scripts or by any other Redis client, is read without a panic, and what
//! is read is read the same way again once written back in the scripts' form (the text may hold
//! newlines, so only its place, last, keeps fields apart).
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::backplane::announcement::Announcement;

fuzz_target!(|data: &[u8]| {
    let Some(announcement) = Announcement::parse(data) else {
        return;
    };
    let written = announcement.encode();
    let again = Announcement::parse(written.as_bytes());
    assert_eq!(again.as_ref(), Some(&announcement), "{written:?}");
});
