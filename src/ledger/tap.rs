//! The tap: a live, human-readable view of one client's raw wire traffic.
//!
//! Records are made only while someone watches (`GET /api/tap?client=ID`), so an untapped client
//! costs nothing. The window is bounded twice: a broadcast channel of [`WINDOW`] records (a slow
//! reader is told how many it missed), and each record cut to [`MAX_RECORD_BYTES`] of bytes shown.

use std::fmt::Write as _;
use std::sync::Arc;

use tokio::sync::broadcast;

/// Records held for slow readers.
pub const WINDOW: usize = 256;
/// Bytes of wire data shown per record; the record says how many it left out.
pub const MAX_RECORD_BYTES: usize = 2048;

/// One client's tap.
#[derive(Debug)]
pub struct Tap {
    sender: broadcast::Sender<Arc<str>>,
}

impl Default for Tap {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(WINDOW).0,
        }
    }
}

impl Tap {
    pub fn is_watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.sender.subscribe()
    }
    /// Publishes a record: a title line, then the bytes rendered visibly.
    pub fn record(&self, title: &str, bytes: &[u8]) {
        let mut text = String::with_capacity(title.len() + bytes.len().min(MAX_RECORD_BYTES) * 2);
        text.push_str(title);
        text.push('\n');
        render(&mut text, bytes);
        // No receiver left is not an error: the tap just closed.
        let _ = self.sender.send(Arc::from(text));
    }
}

/// Wire bytes made visible: CR as `␍`, LF as `␊` plus a line break, other control bytes and
/// invalid UTF-8 as `\xNN`.
pub fn render(out: &mut String, bytes: &[u8]) {
    let shown = &bytes[..bytes.len().min(MAX_RECORD_BYTES)];
    let mut rest = shown;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &b""[..]),
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // unwrap: `valid_up_to` marks the end of the valid UTF-8 prefix.
                (std::str::from_utf8(good).unwrap_or_default(), bad)
            }
        };
        for c in valid.chars() {
            match c {
                '\r' => out.push('␍'),
                '\n' => out.push_str("␊\n"),
                '\t' => out.push('\t'),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02X}", c as u32);
                }
                c => out.push(c),
            }
        }
        if let Some((&byte, after)) = bad.split_first() {
            let _ = write!(out, "\\x{byte:02X}");
            rest = after;
        } else {
            rest = &[];
        }
    }
    if bytes.len() > shown.len() {
        let _ = write!(out, "… ({} more bytes)", bytes.len() - shown.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRLF, control bytes and invalid UTF-8 are all visible; long data is cut with a count.
    #[test]
    fn renders_wire_bytes_visibly() {
        let mut out = String::new();
        render(&mut out, b"GET / HTTP/1.1\r\n\x00\xff\xc3\xa9\r\n");
        assert_eq!(out, "GET / HTTP/1.1␍␊\n\\x00\\xFFé␍␊\n");
        let mut long = String::new();
        render(&mut long, &vec![b'a'; MAX_RECORD_BYTES + 5]);
        assert!(long.ends_with("a… (5 more bytes)"));
    }
}
