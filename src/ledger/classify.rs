//! Sorting response body bytes into payload, framing, heartbeat and other, by the body's format.
//!
//! Each transport's body has a format we wrote ourselves, so the rules are exact:
//! - SSE: a `data:` value that is a message JSON is payload; field names, `id:`/`event:`/`retry:`
//!   lines, newlines and blank lines are framing; comment-only events are heartbeats; control
//!   objects in `data:` are other.
//! - NDJSON: a message line is payload plus one framing newline; `{"type":"heartbeat"}` lines are
//!   heartbeats; control objects are other (plus their newline as framing).
//! - Poll JSON: the message objects inside `"messages":[...]` are payload; the envelope is other.
//! - Engine.IO (Socket.IO's polling bodies and WebSocket frames): in a `chat` event
//!   (`42["chat",{..}]`, or `42<ack id>["chat",..]` from a client) the object is payload and the
//!   envelope around it framing; ping and pong packets (`2`, `3`) are heartbeats; every other
//!   packet (open, probes, upgrade, noop, CONNECT, acks, control events) is other; the record
//!   separator `\x1e` between packets is framing.
//!
//! A message JSON is recognised by its first bytes, `{"id":`; control objects start `{"type":`.

use super::counts::Kind;

/// What a body classifier found in the bytes fed to it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub bytes: [u64; 5],
    pub messages: u64,
    pub empty_responses: u64,
}

impl Tally {
    pub fn add(&mut self, kind: Kind, n: usize) {
        self.bytes[kind as usize] += n as u64;
    }
    pub fn get(&self, kind: Kind) -> u64 {
        self.bytes[kind as usize]
    }
}

/// The formats we know how to sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sse,
    Ndjson,
    PollJson,
    /// Engine.IO packets joined by `\x1e` (a Socket.IO polling body, either direction).
    EngineIo,
    /// Anything else (error bodies, pages): all other.
    Opaque,
}

/// Longest line held while waiting for its end; past it the line is counted as other.
const MAX_LINE: usize = 256 * 1024;

pub fn is_message(json: &[u8]) -> bool {
    json.starts_with(b"{\"id\":")
}

/// What one Engine.IO packet is, for the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnginePacket {
    /// `2` or `3`: Engine.IO's ping or pong.
    Heartbeat,
    /// A `chat` event: `envelope` bytes of framing around the object (the prefix and the closing
    /// `]`); `message` when the object is a stored message (`{"id":..`).
    Chat { envelope: u64, message: bool },
    /// Open, close, probes, upgrade, noop, CONNECT, acks, other events.
    Other,
}

/// Classifies an Engine.IO packet of `len` bytes from its first bytes (`start`, at least the
/// event's prefix and the object's first bytes when there are that many).
pub fn engine_packet(start: &[u8], len: u64) -> EnginePacket {
    if len == 1 && matches!(start.first(), Some(b'2' | b'3')) {
        return EnginePacket::Heartbeat;
    }
    // `4` message, `2` event, an optional ack id, then the event name.
    let Some(rest) = start.strip_prefix(b"42") else {
        return EnginePacket::Other;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let Some(object) = rest[digits..].strip_prefix(b"[\"chat\",") else {
        return EnginePacket::Other;
    };
    let prefix = (start.len() - object.len()) as u64;
    if !object.starts_with(b"{") || len < prefix + 2 {
        return EnginePacket::Other;
    }
    EnginePacket::Chat {
        envelope: prefix + 1,
        message: is_message(object),
    }
}

impl EnginePacket {
    /// Adds a whole packet of `len` bytes to `tally`; a message counts only when `down`.
    fn count(self, len: u64, down: bool, tally: &mut Tally) {
        match self {
            Self::Heartbeat => tally.bytes[Kind::Heartbeat as usize] += len,
            Self::Other => tally.bytes[Kind::Other as usize] += len,
            Self::Chat { envelope, message } => {
                tally.bytes[Kind::Framing as usize] += envelope;
                tally.bytes[Kind::Payload as usize] += len - envelope;
                if message && down {
                    tally.messages += 1;
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct BodyClassifier {
    format: Format,
    line: Vec<u8>,
    /// The line outgrew MAX_LINE: the rest of it is other.
    overflowed: bool,
    /// SSE: the current event has had lines, and all of them were comments.
    event_lines: bool,
    event_comments_only: bool,
    poll: PollScanner,
    engine: EngineScanner,
}

impl BodyClassifier {
    /// A classifier of a request body (the client's bytes): nothing in it counts as a delivered
    /// message.
    pub fn upward(format: Format) -> Self {
        let mut classifier = Self::new(format);
        classifier.engine.up = true;
        classifier
    }

    pub fn new(format: Format) -> Self {
        Self {
            format,
            line: Vec::new(),
            overflowed: false,
            event_lines: false,
            event_comments_only: true,
            poll: PollScanner::default(),
            engine: EngineScanner::default(),
        }
    }

    pub fn feed(&mut self, data: &[u8], tally: &mut Tally) {
        match self.format {
            Format::Opaque => tally.add(Kind::Other, data.len()),
            Format::PollJson => self.poll.feed(data, tally),
            Format::EngineIo => self.engine.feed(data, tally),
            Format::Sse | Format::Ndjson => {
                let mut rest = data;
                while !rest.is_empty() {
                    let end = rest.iter().position(|&b| b == b'\n');
                    let take = end.map_or(rest.len(), |i| i + 1);
                    let (piece, after) = rest.split_at(take);
                    rest = after;
                    // A whole line in this write (the usual case: one event per write) is read
                    // where it lies; only a line split across writes is gathered in `line`.
                    if end.is_some()
                        && !self.overflowed
                        && self.line.is_empty()
                        && piece.len() <= MAX_LINE
                    {
                        self.line_done(&piece[..piece.len() - 1], tally);
                        continue;
                    }
                    if self.overflowed {
                        tally.add(Kind::Other, piece.len());
                    } else {
                        self.line.extend_from_slice(piece);
                        if self.line.len() > MAX_LINE {
                            tally.add(Kind::Other, self.line.len());
                            self.line.clear();
                            self.overflowed = true;
                        }
                    }
                    if end.is_some() {
                        if self.overflowed {
                            self.overflowed = false;
                        } else {
                            let line = std::mem::take(&mut self.line);
                            self.line_done(&line[..line.len() - 1], tally);
                            self.line = line;
                            self.line.clear();
                        }
                    }
                }
            }
        }
    }

    /// The body ended: a partial line is other; a poll answer with no message is empty; the
    /// last Engine.IO packet (no separator follows it) is classified.
    pub fn finish(&mut self, tally: &mut Tally) {
        if self.format == Format::EngineIo {
            self.engine.finish(tally);
        }
        tally.add(Kind::Other, self.line.len());
        self.line.clear();
        if self.format == Format::PollJson && self.poll.messages == 0 {
            tally.empty_responses += 1;
        }
    }

    fn line_done(&mut self, line: &[u8], tally: &mut Tally) {
        let with_newline = line.len() + 1;
        match self.format {
            Format::Ndjson => {
                if line == b"{\"type\":\"heartbeat\"}" {
                    tally.add(Kind::Heartbeat, with_newline);
                } else {
                    let kind = if is_message(line) {
                        Kind::Payload
                    } else {
                        Kind::Other
                    };
                    if kind == Kind::Payload {
                        tally.messages += 1;
                    }
                    tally.add(kind, line.len());
                    tally.add(Kind::Framing, 1);
                }
            }
            Format::Sse => {
                if line.is_empty() {
                    let kind = if self.event_lines && self.event_comments_only {
                        Kind::Heartbeat
                    } else {
                        Kind::Framing
                    };
                    tally.add(kind, 1);
                    self.event_lines = false;
                    self.event_comments_only = true;
                    return;
                }
                self.event_lines = true;
                if line[0] == b':' {
                    tally.add(Kind::Heartbeat, with_newline);
                    return;
                }
                self.event_comments_only = false;
                let value = line
                    .strip_prefix(b"data: ")
                    .or_else(|| line.strip_prefix(b"data:"));
                match value {
                    Some(value) => {
                        let kind = if is_message(value) {
                            Kind::Payload
                        } else {
                            Kind::Other
                        };
                        if kind == Kind::Payload {
                            tally.messages += 1;
                        }
                        tally.add(kind, value.len());
                        tally.add(Kind::Framing, with_newline - value.len());
                    }
                    None => tally.add(Kind::Framing, with_newline),
                }
            }
            Format::PollJson | Format::EngineIo | Format::Opaque => {}
        }
    }
}

/// Splits an Engine.IO polling body at its separators as the bytes stream past, and classifies
/// each packet from its first bytes and its length.
#[derive(Debug, Default)]
struct EngineScanner {
    /// The current packet's first bytes (enough to classify it).
    start: Vec<u8>,
    /// The current packet's length so far.
    len: u64,
    /// A request body: its chat objects are payload but not deliveries.
    up: bool,
}

/// Bytes of a packet kept to classify it: `42`, an ack id, `["chat",` and the object's start.
const ENGINE_START: usize = 64;

impl EngineScanner {
    fn feed(&mut self, data: &[u8], tally: &mut Tally) {
        let mut rest = data;
        while !rest.is_empty() {
            let end = rest.iter().position(|&b| b == 0x1e);
            let piece = &rest[..end.unwrap_or(rest.len())];
            let keep = ENGINE_START
                .saturating_sub(self.start.len())
                .min(piece.len());
            self.start.extend_from_slice(&piece[..keep]);
            self.len += piece.len() as u64;
            match end {
                Some(i) => {
                    self.finish(tally);
                    tally.add(Kind::Framing, 1);
                    rest = &rest[i + 1..];
                }
                None => return,
            }
        }
    }

    fn finish(&mut self, tally: &mut Tally) {
        if self.len > 0 {
            engine_packet(&self.start, self.len).count(self.len, !self.up, tally);
        }
        self.start.clear();
        self.len = 0;
    }
}

/// Finds the message objects in `{"messages":[{...},{...}],...}` as the bytes stream past.
#[derive(Debug, Default)]
struct PollScanner {
    depth: u32,
    in_string: bool,
    escaped: bool,
    in_message: bool,
    messages: u64,
}

impl PollScanner {
    fn feed(&mut self, data: &[u8], tally: &mut Tally) {
        let (mut payload, mut other) = (0, 0);
        let messages_before = self.messages;
        for &b in data {
            let mut count_as_payload = self.in_message;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => {
                        self.depth += 1;
                        // Depth 1 is the envelope, 2 the array, 3 a message object.
                        if b == b'{' && self.depth == 3 {
                            self.in_message = true;
                            count_as_payload = true;
                        }
                    }
                    b'}' | b']' => {
                        if b == b'}' && self.depth == 3 && self.in_message {
                            self.in_message = false;
                            self.messages += 1;
                        }
                        self.depth = self.depth.saturating_sub(1);
                    }
                    _ => {}
                }
            }
            if count_as_payload {
                payload += 1;
            } else {
                other += 1;
            }
        }
        tally.add(Kind::Payload, payload);
        tally.add(Kind::Other, other);
        // Counted as each object closes, so a body split across writes counts each message once.
        tally.messages += self.messages - messages_before;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(format: Format, body: &[u8], split: usize) -> Tally {
        let mut c = BodyClassifier::new(format);
        let mut t = Tally::default();
        for part in body.chunks(split) {
            c.feed(part, &mut t);
        }
        c.finish(&mut t);
        t
    }

    const MSG: &str = r#"{"id":7,"user":"ada","text":"hi","ts":1}"#;

    /// SSE: message JSON is payload, everything around it framing, comments heartbeat.
    #[test]
    fn sse_split() {
        let body = format!(
            "retry: 2000\nevent: ready\nid: 0\ndata: {{\"type\":\"ready\",\"since\":0}}\n\nid: 7\ndata: {MSG}\n\n: heartbeat\n\n"
        );
        for split in [body.len(), 1, 5] {
            let t = classify(Format::Sse, body.as_bytes(), split);
            assert_eq!(t.get(Kind::Payload), MSG.len() as u64);
            assert_eq!(
                t.get(Kind::Other),
                r#"{"type":"ready","since":0}"#.len() as u64
            );
            assert_eq!(t.get(Kind::Heartbeat), ": heartbeat\n\n".len() as u64);
            let framing =
                "retry: 2000\nevent: ready\nid: 0\ndata: \n\nid: 7\ndata: \n\n".len() as u64;
            assert_eq!(t.get(Kind::Framing), framing);
            assert_eq!(t.bytes.iter().sum::<u64>(), body.len() as u64);
            assert_eq!(t.messages, 1);
        }
    }

    /// NDJSON: message line is payload plus a framing newline; heartbeat lines are heartbeats.
    #[test]
    fn ndjson_split() {
        let body =
            format!("{{\"type\":\"ready\",\"since\":0}}\n{MSG}\n{{\"type\":\"heartbeat\"}}\n");
        let t = classify(Format::Ndjson, body.as_bytes(), 3);
        assert_eq!(
            (t.get(Kind::Payload), t.get(Kind::Framing)),
            (MSG.len() as u64, 2)
        );
        assert_eq!(t.get(Kind::Heartbeat), 21);
        assert_eq!(t.get(Kind::Other), 26);
        assert_eq!(t.messages, 1);
    }

    /// Engine.IO bodies: the chat object is payload, its envelope and the separators framing,
    /// pings and pongs heartbeat, everything else other, however the bytes are cut.
    #[test]
    fn engine_io_split() {
        let chat = format!("42[\"chat\",{MSG}]");
        let ready = r#"42["ready",{"type":"ready","room":"lobby","since":0}]"#;
        let body = format!("2\u{1e}{chat}\u{1e}{ready}\u{1e}6\u{1e}{chat}");
        for split in [body.len(), 1, 3, 7] {
            let t = classify(Format::EngineIo, body.as_bytes(), split);
            assert_eq!(t.get(Kind::Payload), 2 * MSG.len() as u64, "split {split}");
            assert_eq!(t.get(Kind::Framing), 2 * 11 + 4, "split {split}");
            assert_eq!(t.get(Kind::Heartbeat), 1);
            assert_eq!(t.get(Kind::Other), ready.len() as u64 + 1);
            assert_eq!(t.bytes.iter().sum::<u64>(), body.len() as u64);
            assert_eq!(t.messages, 2);
        }
        // A client's body: its chat object (with an ack id) is payload, but no delivery.
        let up = "3\u{1e}421[\"chat\",{\"text\":\"hi\"}]";
        let mut c = BodyClassifier::upward(Format::EngineIo);
        let mut t = Tally::default();
        c.feed(up.as_bytes(), &mut t);
        c.finish(&mut t);
        assert_eq!(
            (
                t.get(Kind::Heartbeat),
                t.get(Kind::Framing),
                t.get(Kind::Payload),
                t.messages
            ),
            (1, 1 + 12, 13, 0)
        );
        assert_eq!(engine_packet(b"2probe", 6), EnginePacket::Other);
        assert_eq!(engine_packet(b"3", 1), EnginePacket::Heartbeat);
        assert_eq!(engine_packet(b"42[\"chat\",5]", 12), EnginePacket::Other);
        assert_eq!(engine_packet(br#"40{"sid":"x"}"#, 13), EnginePacket::Other);
    }

    /// Poll JSON: message objects are payload (braces in strings do not confuse it).
    #[test]
    fn poll_json_split() {
        let tricky = r#"{"id":8,"user":"b}","text":"{[\"]}","ts":2}"#;
        let body = format!(r#"{{"messages":[{MSG},{tricky}],"last_id":8,"gap":false}}"#);
        for split in [body.len(), 1, 4] {
            let t = classify(Format::PollJson, body.as_bytes(), split);
            assert_eq!(t.get(Kind::Payload), (MSG.len() + tricky.len()) as u64);
            assert_eq!(
                t.get(Kind::Other),
                (body.len() - MSG.len() - tricky.len()) as u64
            );
            assert_eq!((t.messages, t.empty_responses), (2, 0));
        }
        let empty = classify(
            Format::PollJson,
            br#"{"messages":[],"last_id":3,"gap":false}"#,
            7,
        );
        assert_eq!(
            (
                empty.get(Kind::Payload),
                empty.messages,
                empty.empty_responses
            ),
            (0, 0, 1)
        );
    }
}
