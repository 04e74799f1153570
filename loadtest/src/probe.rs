//! The probe token: what makes each published message identifiable wherever it turns up.
//!
//! A message's text is `lt:<run>:<seq>:<intended_send_unix_micros>:` padded with `x` to the
//! requested payload size. The run id keeps a client from counting a message from another run
//! (or another phase of this one); the sequence number is what loss, duplicate and order checks
//! are made on; the intended send time is what latency is measured from. Every character is
//! plain ASCII that JSON, SSE and WebSocket carry unescaped, so a client finds the token by
//! scanning the raw bytes it received, whatever the framing: that is how `--subscribe-url` works
//! against servers we know nothing about.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memchr::memmem;

/// Marks the start of every token.
pub const PREFIX: &str = "lt:";

/// Wall-clock microseconds read from one monotonic clock.
///
/// Publisher and clients live in one process and share this clock, so "received minus intended"
/// is a monotonic difference even if the system clock is stepped mid-run; the Unix epoch offset
/// only makes the numbers in tokens meaningful to other processes.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_unix_us: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        let start_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Self {
            start: Instant::now(),
            start_unix_us,
        }
    }

    /// Now, in Unix microseconds.
    pub fn now_us(&self) -> u64 {
        self.start_unix_us + self.start.elapsed().as_micros() as u64
    }

    /// The `Instant` a Unix-microsecond time corresponds to (for sleeping until it).
    pub fn instant_at(&self, unix_us: u64) -> Instant {
        self.start + Duration::from_micros(unix_us.saturating_sub(self.start_unix_us))
    }
}

/// A decoded token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Publish order within a run, from 0.
    pub seq: u64,
    /// When the publisher *intended* to send it (Unix microseconds): latency is measured from
    /// here, so a publisher that falls behind cannot hide the delay (coordinated omission).
    pub intended_us: u64,
}

/// The message text for `seq`, padded with `x` to at least `payload_bytes`.
pub fn encode(run: &str, seq: u64, intended_us: u64, payload_bytes: usize) -> String {
    let mut text = format!("{PREFIX}{run}:{seq}:{intended_us}:");
    if text.len() < payload_bytes {
        let pad = payload_bytes - text.len();
        text.extend(std::iter::repeat_n('x', pad));
    }
    text
}

/// Finds this run's tokens in arbitrary bytes.
pub struct Finder {
    needle: Vec<u8>,
    finder: memmem::Finder<'static>,
}

impl Finder {
    pub fn new(run: &str) -> Self {
        let needle = format!("{PREFIX}{run}:").into_bytes();
        let finder = memmem::Finder::new(&needle).into_owned();
        Self { needle, finder }
    }

    /// Every token of this run in `haystack`, in order of appearance. A token cut off by the end
    /// of `haystack` is not returned: callers pass whole messages, lines, events or frames.
    pub fn find_all(&self, haystack: &[u8]) -> Vec<Probe> {
        let mut out = Vec::new();
        for start in self.finder.find_iter(haystack) {
            if let Some(probe) = parse_fields(&haystack[start + self.needle.len()..]) {
                out.push(probe);
            }
        }
        out
    }
}

/// Parses `<seq>:<micros>:` at the start of `rest`.
fn parse_fields(rest: &[u8]) -> Option<Probe> {
    let (seq, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(b":")?;
    let (intended_us, rest) = leading_number(rest)?;
    rest.strip_prefix(b":")?;
    Some(Probe { seq, intended_us })
}

/// Decimal digits at the start of `bytes` and what follows them.
pub fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in &bytes[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((n, &bytes[digits..]))
}

/// The server id of a message in transport-lab's JSON (`{"id":N,"room":"..",...`), used to resume
/// a dropped stream without duplicates. Ids count per room, and a client reads one room, so this
/// is a cursor in the client's own room. `None` for control objects and foreign formats.
pub fn message_id(json: &[u8]) -> Option<u64> {
    let at = memmem::find(json, b"\"id\":")?;
    leading_number(&json[at + 5..]).map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_padded_to_payload() {
        let t = encode("ab12", 7, 1_700_000_000_000_000, 40);
        assert_eq!(t, "lt:ab12:7:1700000000000000:xxxxxxxxxxxxx");
        assert_eq!(t.len(), 40);
        // A payload smaller than the token is a minimum, not a truncation.
        assert_eq!(encode("ab12", 7, 5, 0), "lt:ab12:7:5:");
    }

    #[test]
    fn finds_tokens_anywhere_and_only_this_runs() {
        let f = Finder::new("ab12");
        let body = format!(
            "{{\"messages\":[{{\"id\":3,\"text\":\"{}\"}},{{\"text\":\"{}\"}},{{\"text\":\"{}\"}}]}}",
            encode("ab12", 0, 10, 40),
            encode("zz99", 1, 11, 40),
            encode("ab12", 2, 12, 0),
        );
        assert_eq!(
            f.find_all(body.as_bytes()),
            [
                Probe {
                    seq: 0,
                    intended_us: 10
                },
                Probe {
                    seq: 2,
                    intended_us: 12
                }
            ]
        );
        // Cut off mid-token: not a probe.
        assert_eq!(f.find_all(b"lt:ab12:5:123"), []);
        assert_eq!(f.find_all(b"lt:ab12:5:"), []);
    }

    #[test]
    fn reads_message_ids() {
        assert_eq!(message_id(br#"{"id":42,"user":"u"}"#), Some(42));
        // The layout since rooms: the room right after the id.
        assert_eq!(
            message_id(br#"{"id":7,"room":"lt-2","user":"loadtest","text":"lt:a:1:2:","ts":3}"#),
            Some(7)
        );
        assert_eq!(
            message_id(br#"{"type":"ready","room":"lt-2","since":4,"epoch":"k3x9qa"}"#),
            None
        );
        assert_eq!(message_id(br#"{"type":"ready","since":4}"#), None);
    }
}
