//! The tap: a live, human-readable view of one client's raw wire traffic.
//!
//! Records are made only while someone watches (`GET /api/tap?client=ID`), and the channel that
//! carries them is allocated by the first watcher, so an untapped client costs one empty slot:
//! the client table holds thousands of ids a stranger can make up. The window is bounded twice: a
//! broadcast channel of [`WINDOW`] records (a slow reader is told how many it missed), and each
//! record cut to [`MAX_RECORD_BYTES`] of bytes shown.
//!
//! Credentials never reach it: the values of `Cookie`, `Authorization`, `Proxy-Authorization` and
//! `Set-Cookie` are shown as their length only (`Cookie: ‹57 bytes›`). A tap is readable by anyone
//! who knows the client id, and the pages print it; a cookie another app on the same host set
//! would otherwise be on screen. The byte counts are the real ones.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::lock::lock;

/// Watchers of one client's tap at once: a page watches its own client; a few more are a
/// teacher's projector and a curious student. Each costs a connection and a copy of every record.
pub const MAX_WATCHERS: usize = 4;
/// Records held for slow readers.
pub const WINDOW: usize = 256;
/// Bytes of wire data shown per record; the record says how many it left out.
pub const MAX_RECORD_BYTES: usize = 2048;

/// One client's tap.
#[derive(Debug, Default)]
pub struct Tap {
    /// Made by the first watcher; `None` for the many clients nobody taps.
    sender: Mutex<Option<broadcast::Sender<Arc<str>>>>,
}

impl Tap {
    pub fn is_watched(&self) -> bool {
        lock(&self.sender)
            .as_ref()
            .is_some_and(|sender| sender.receiver_count() > 0)
    }
    /// A new watcher's receiver; `None` when [`MAX_WATCHERS`] already watch.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Arc<str>>> {
        let mut sender = lock(&self.sender);
        let sender = sender.get_or_insert_with(|| broadcast::channel(WINDOW).0);
        (sender.receiver_count() < MAX_WATCHERS).then(|| sender.subscribe())
    }
    /// Publishes a record: a title line, then the bytes rendered visibly.
    pub fn record(&self, title: &str, bytes: &[u8]) {
        let mut text = String::with_capacity(title.len() + bytes.len().min(MAX_RECORD_BYTES) * 2);
        text.push_str(title);
        text.push('\n');
        render(&mut text, bytes);
        if let Some(sender) = lock(&self.sender).as_ref() {
            // No receiver left is not an error: the tap just closed.
            let _ = sender.send(Arc::from(text));
        }
    }
}

/// Headers whose values are credentials.
pub(super) const SECRET_HEADERS: [&str; 4] = [
    "cookie",
    "authorization",
    "proxy-authorization",
    "set-cookie",
];

/// An HTTP head with the values of [`SECRET_HEADERS`] replaced by their length, every other byte
/// (line endings included) as it was.
pub fn redact_head(head: &[u8]) -> Cow<'_, [u8]> {
    let secret = |line: &[u8]| {
        line.iter().position(|&b| b == b':').is_some_and(|colon| {
            let name = String::from_utf8_lossy(&line[..colon]);
            SECRET_HEADERS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name.trim()))
        })
    };
    if !head.split(|&b| b == b'\n').any(secret) {
        return Cow::Borrowed(head);
    }
    let mut out = Vec::with_capacity(head.len());
    for (i, line) in head.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        if !secret(line) {
            out.extend_from_slice(line);
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
        let (value, cr) = match line.strip_suffix(b"\r") {
            Some(value) => (&value[colon + 1..], &b"\r"[..]),
            None => (&line[colon + 1..], &b""[..]),
        };
        let spaces = value
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        out.extend_from_slice(&line[..=colon]);
        out.extend_from_slice(&value[..spaces]);
        out.extend_from_slice(format!("‹{} bytes›", value.len() - spaces).as_bytes());
        out.extend_from_slice(cr);
    }
    Cow::Owned(out)
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

    /// Credentials show as their length, whatever their case; everything else is untouched.
    #[test]
    fn redacts_credentials() {
        let head =
            b"GET /api/poll HTTP/1.1\r\nHost: x\r\ncookie: a=1; b=2\r\nAuthorization:Bearer t\r\n\
            Proxy-Authorization: Basic Zm9v\r\nAccept: */*\r\n\r\n";
        assert_eq!(
            String::from_utf8(redact_head(head).into_owned()).unwrap(),
            "GET /api/poll HTTP/1.1\r\nHost: x\r\ncookie: ‹8 bytes›\r\nAuthorization:‹8 bytes›\r\n\
             Proxy-Authorization: ‹10 bytes›\r\nAccept: */*\r\n\r\n"
        );
        let response = b"HTTP/1.1 200 OK\r\nset-cookie: id=42; HttpOnly\r\n\r\n";
        assert_eq!(
            &redact_head(response)[..],
            "HTTP/1.1 200 OK\r\nset-cookie: ‹15 bytes›\r\n\r\n".as_bytes()
        );
        let plain = b"GET / HTTP/1.1\r\nX-Cookie-Note: fine\r\n\r\n";
        assert!(matches!(redact_head(plain), Cow::Borrowed(_)));
    }

    /// An untapped client holds no channel; the first watcher makes it.
    #[test]
    fn channel_only_for_watchers() {
        let tap = Tap::default();
        tap.record("nobody", b"x");
        assert!(lock(&tap.sender).is_none() && !tap.is_watched());
        let mut rx = tap.subscribe().unwrap();
        assert!(tap.is_watched());
        tap.record("t", b"GET");
        assert_eq!(&*rx.try_recv().unwrap(), "t\nGET");
        let more: Vec<_> = (1..MAX_WATCHERS)
            .map(|_| tap.subscribe().unwrap())
            .collect();
        assert!(tap.subscribe().is_none(), "a fifth watcher is refused");
        drop(more);
        assert!(
            tap.subscribe().is_some(),
            "a watcher that left frees its place"
        );
    }
}
