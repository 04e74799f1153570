//! The HTTP/2 follower: what [`http1`](super::http1) does for HTTP/1.1, for a connection that
//! speaks HTTP/2 (ALPN `h2` on the TLS port, or prior knowledge on the plain port).
//!
//! One connection carries many requests at once, each on its own stream, so every byte is
//! attributed through the frame it belongs to:
//!
//! - the client's connection preface, and SETTINGS, PING, GOAWAY, WINDOW_UPDATE, RST_STREAM and
//!   PRIORITY frames, whole: **other**. A frame on a stream (a stream's WINDOW_UPDATE or
//!   RST_STREAM) counts under that stream's request; a frame for the connection under the latest
//!   request's, and the bytes before the first request (preface, the SETTINGS exchange) under
//!   the first request's, once it arrives. A connection that never carries a request counts them
//!   in the ledger's `connection` row.
//! - HEADERS and CONTINUATION: the 9-byte frame headers are **framing**, the payloads
//!   (HPACK-compressed header blocks) **header**. Blocks are decoded ([`hpack`](super::hpack)) to
//!   learn the request's path and the response's status and content type; the sizes counted are
//!   the compressed ones, as they crossed the wire.
//! - DATA: the frame header and any padding are **framing**; the data is classified as the
//!   HTTP/1.1 follower classifies a body (SSE, NDJSON, poll JSON, Engine.IO), minus the chunk
//!   framing HTTP/2 does not have.
//!
//! So `response_bytes = header + framing + payload + heartbeat + other` holds here too, at every
//! instant, per stream and per client.
//!
//! It also guards what h2 under actix-http does not bound for us (actix gives no access to the
//! h2 server's settings): more than [`MAX_STREAMS`] streams open at once, or a header block over
//! [`MAX_HEADER_LIST`] (compressed, or once decoded: an HPACK bomb), ends the connection with a
//! GOAWAY `ENHANCE_YOUR_CALM`. The other attacks of RFC 9113 §10.5 (rapid reset, SETTINGS and
//! PING floods, CONTINUATION floods) are the h2 crate's to refuse, and it does.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::classify::{BodyClassifier, Format, Tally};
use super::counts::{Direction, Kind};
use super::hpack::{self, Decoder, Field};
use super::http1::{request_target, response_format};
use super::{Ledger, Levels, Target};
use crate::transports::Transport;

/// What a client sends before its first frame (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Most streams a client may hold open at once on one connection. Browsers open up to 100;
/// every stream can hold a subscription, so this is the per-connection bound `--max-connections`
/// relies on.
pub const MAX_STREAMS: usize = 256;

/// Largest header block, compressed or decoded (RFC 9113 §6.5.2's size): far above any browser's
/// request, far below the 16 MiB the h2 crate would otherwise buffer per connection.
pub const MAX_HEADER_LIST: usize = 64 * 1024;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// RFC 9113 §7: "the endpoint detected that its peer is exhibiting a behavior that might be
/// generating excessive load".
const ENHANCE_YOUR_CALM: u32 = 0xB;

/// Why a connection is ended by the follower: the GOAWAY it is sent first says the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("more than {MAX_STREAMS} streams open at once")]
    TooManyStreams,
    #[error("a header block larger than {MAX_HEADER_LIST} bytes")]
    HeadersTooLarge,
}

/// The frame a server sends to end a connection it refuses to serve further: GOAWAY naming the
/// last stream it processed, `ENHANCE_YOUR_CALM`, and the reason as debug data.
pub fn goaway(last_stream: u32, reason: &str) -> Vec<u8> {
    let len = 8 + reason.len();
    let mut frame = Vec::with_capacity(9 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(&[GOAWAY, 0, 0, 0, 0, 0]);
    frame.extend_from_slice(&(last_stream & 0x7FFF_FFFF).to_be_bytes());
    frame.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
    frame.extend_from_slice(reason.as_bytes());
    frame
}

/// What is known about the HTTP/2 conversation on one connection.
pub struct H2Conversation {
    ledger: Ledger,
    /// The client's frames (after the preface).
    up: FrameReader,
    /// Ours.
    down: FrameReader,
    /// Preface bytes still expected from the client.
    preface_left: usize,
    /// Each direction's HPACK state, in step with the sender's encoder.
    up_hpack: Decoder,
    down_hpack: Decoder,
    streams: HashMap<u32, Stream>,
    /// Each target this connection has carried a request for, with the levels of its counters
    /// where the connection was counted open (once per transport, room and client), until it
    /// closes.
    opened: Vec<(Target, Levels)>,
    /// The latest request's target: where connection frames count.
    latest: Option<Target>,
    /// Counted before any request named a target, per direction.
    pending: [Tally; 2],
    /// The highest stream the client opened: GOAWAY's "last stream".
    last_stream: u32,
    /// Something we could not follow on the way up; nothing more is counted that way.
    lost_up: bool,
    lost_down: bool,
}

/// One frame being read, from its 9-byte header on.
#[derive(Default)]
struct FrameReader {
    head: [u8; 9],
    head_len: usize,
    frame: Option<Frame>,
    /// A header block spread over HEADERS and CONTINUATION frames, until END_HEADERS.
    block: Option<Block>,
}

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    len: usize,
    seen: usize,
    /// A DATA or HEADERS frame's padding length, once read (PADDED).
    pad: Option<usize>,
    /// A HEADERS or CONTINUATION frame's payload, kept until the frame ends.
    payload: Vec<u8>,
}

struct Block {
    stream: u32,
    fragment: Vec<u8>,
    /// Frames' 9-byte headers and payloads: what the block cost on the wire.
    frame_headers: usize,
    payload: usize,
    end_stream: bool,
}

/// One stream's request and response.
struct Stream {
    target: Option<Target>,
    /// A request body the ledger can sort (Socket.IO's packets); other bodies are payload.
    up_body: Option<BodyClassifier>,
    /// The response body's classifier, once its final HEADERS were sent.
    down_body: Option<BodyClassifier>,
    up_ended: bool,
    down_ended: bool,
}

fn index(direction: Direction) -> usize {
    direction as usize
}

impl Drop for H2Conversation {
    fn drop(&mut self) {
        if self.latest.is_none() {
            let connection = self.ledger.connection();
            for direction in [Direction::Up, Direction::Down] {
                let tally = &self.pending[index(direction)];
                for kind in Kind::ALL {
                    connection.add_bytes(direction, kind, tally.get(kind));
                }
            }
        }
        for (target, levels) in &self.opened {
            target.closed_at(levels);
        }
    }
}

impl H2Conversation {
    pub fn new(ledger: Ledger) -> Self {
        Self {
            ledger,
            up: FrameReader::default(),
            down: FrameReader::default(),
            preface_left: PREFACE.len(),
            up_hpack: Decoder::default(),
            down_hpack: Decoder::default(),
            streams: HashMap::new(),
            opened: Vec::new(),
            latest: None,
            pending: Default::default(),
            last_stream: 0,
            lost_up: false,
            lost_down: false,
        }
    }

    /// The client the latest request named: whose lab faults apply to the connection.
    pub fn client(&self) -> Option<&std::sync::Arc<super::Client>> {
        self.latest.as_ref().and_then(|t| t.client.as_ref())
    }

    /// The latest request's target (where a stall or the connection's TLS bytes are counted).
    pub fn latest(&self) -> Option<&Target> {
        self.latest.as_ref()
    }

    /// Between our frames, with no response body under way: where a buffering proxy lets go.
    pub fn response_ended(&self) -> bool {
        self.between_frames() && self.streams.values().all(|s| s.down_ended)
    }

    /// Between our frames: where a frame of the guard's own (a GOAWAY) may be written.
    pub fn between_frames(&self) -> bool {
        self.down.frame.is_none() && self.down.head_len == 0
    }

    /// The highest stream the client opened.
    pub fn last_stream(&self) -> u32 {
        self.last_stream
    }

    /// Follows bytes read from the client; `Err` ends the connection (after a GOAWAY).
    pub fn on_read(&mut self, data: &[u8]) -> Result<(), Refusal> {
        let mut rest = data;
        if self.preface_left > 0 && !self.lost_up {
            let take = rest.len().min(self.preface_left);
            let expected = &PREFACE[PREFACE.len() - self.preface_left..][..take];
            if &rest[..take] != expected {
                // Not HTTP/2 after all: h2 refuses it; we stop following.
                self.lost_up = true;
                return Ok(());
            }
            self.count_connection(Direction::Up, Kind::Other, take);
            self.preface_left -= take;
            rest = &rest[take..];
        }
        if self.lost_up {
            return Ok(());
        }
        self.feed(Direction::Up, rest)
    }

    /// Follows bytes written to the client.
    pub fn on_write(&mut self, data: &[u8]) {
        if !self.lost_down {
            // Our own frames: no refusal applies to them.
            let _ = self.feed(Direction::Down, data);
        }
    }

    fn reader(&mut self, direction: Direction) -> &mut FrameReader {
        match direction {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        }
    }

    fn feed(&mut self, direction: Direction, mut rest: &[u8]) -> Result<(), Refusal> {
        while !rest.is_empty() {
            // Lost inside this very piece: what follows is not followed, as in a later piece.
            let lost = match direction {
                Direction::Up => self.lost_up,
                Direction::Down => self.lost_down,
            };
            if lost {
                return Ok(());
            }
            let reader = self.reader(direction);
            let Some(frame) = &mut reader.frame else {
                let take = rest.len().min(9 - reader.head_len);
                reader.head[reader.head_len..][..take].copy_from_slice(&rest[..take]);
                reader.head_len += take;
                rest = &rest[take..];
                if reader.head_len == 9 {
                    reader.head_len = 0;
                    let h = reader.head;
                    let frame = Frame {
                        len: usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]),
                        kind: h[3],
                        flags: h[4],
                        stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7FFF_FFFF,
                        seen: 0,
                        pad: None,
                        payload: Vec::new(),
                    };
                    self.frame_started(direction, frame)?;
                }
                continue;
            };
            let take = rest.len().min(frame.len - frame.seen);
            let (kind, stream) = (frame.kind, frame.stream);
            let bytes = &rest[..take];
            rest = &rest[take..];
            match kind {
                DATA => self.data(direction, bytes),
                HEADERS | CONTINUATION => {
                    let frame = self.frame_mut(direction);
                    frame.payload.extend_from_slice(bytes);
                    frame.seen += take;
                }
                _ => {
                    self.count_stream(direction, stream, Kind::Other, take);
                    self.frame_mut(direction).seen += take;
                }
            }
            let frame = self.frame_mut(direction);
            if frame.seen == frame.len {
                self.frame_ended(direction)?;
            }
        }
        Ok(())
    }

    fn frame_mut(&mut self, direction: Direction) -> &mut Frame {
        // unwrap: only called while a frame is being read.
        #[allow(clippy::unwrap_used)]
        self.reader(direction).frame.as_mut().unwrap()
    }

    fn frame_started(&mut self, direction: Direction, frame: Frame) -> Result<(), Refusal> {
        match frame.kind {
            DATA => self.count_stream(direction, frame.stream, Kind::Framing, 9),
            HEADERS | CONTINUATION => {
                if frame.len > MAX_HEADER_LIST {
                    return self.refuse(direction, Refusal::HeadersTooLarge);
                }
                if frame.kind == HEADERS && direction == Direction::Up {
                    self.last_stream = self.last_stream.max(frame.stream);
                }
            }
            _ => self.count_stream(direction, frame.stream, Kind::Other, 9),
        }
        self.reader(direction).frame = Some(frame);
        let frame = self.frame_mut(direction);
        if frame.len == 0 {
            self.frame_ended(direction)?;
        }
        Ok(())
    }

    /// DATA payload bytes: the pad length and padding are framing, the rest is the body.
    fn data(&mut self, direction: Direction, mut bytes: &[u8]) {
        let frame = self.frame_mut(direction);
        let stream = frame.stream;
        let (mut framing, mut body) = (0, &[][..]);
        if frame.flags & PADDED != 0 && frame.seen == 0 && !bytes.is_empty() {
            frame.pad = Some(usize::from(bytes[0]));
            framing += 1;
            frame.seen += 1;
            bytes = &bytes[1..];
        }
        let data_end = frame.len.saturating_sub(frame.pad.unwrap_or(0));
        if frame.seen < data_end {
            let n = bytes.len().min(data_end - frame.seen);
            body = &bytes[..n];
            framing += bytes.len() - n;
        } else {
            framing += bytes.len();
        }
        frame.seen += bytes.len();
        self.count_stream(direction, stream, Kind::Framing, framing);
        if body.is_empty() {
            return;
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            self.count_connection(direction, Kind::Other, body.len());
            return;
        };
        let mut tally = Tally::default();
        let classifier = match direction {
            Direction::Up => s.up_body.as_mut(),
            Direction::Down => s.down_body.as_mut(),
        };
        match classifier {
            Some(classifier) => classifier.feed(body, &mut tally),
            None => tally.add(Kind::Payload, body.len()),
        }
        if let Some(target) = &s.target {
            target.apply(direction, &tally);
        }
        tap_bytes(&s.target, direction, stream, "DATA", body);
    }

    fn frame_ended(&mut self, direction: Direction) -> Result<(), Refusal> {
        let Some(frame) = self.reader(direction).frame.take() else {
            return Ok(());
        };
        match frame.kind {
            DATA if frame.flags & END_STREAM != 0 => self.stream_ended(direction, frame.stream),
            HEADERS | CONTINUATION => return self.header_frame(direction, frame),
            RST_STREAM => {
                self.streams.remove(&frame.stream);
            }
            _ => {}
        }
        Ok(())
    }

    fn header_frame(&mut self, direction: Direction, frame: Frame) -> Result<(), Refusal> {
        let mut fragment = &frame.payload[..];
        if frame.kind == HEADERS {
            if frame.flags & PADDED != 0 {
                let pad = usize::from(fragment.first().copied().unwrap_or(0));
                fragment = fragment
                    .get(1..fragment.len().saturating_sub(pad))
                    .unwrap_or(&[]);
            }
            if frame.flags & PRIORITY != 0 {
                fragment = fragment.get(5..).unwrap_or(&[]);
            }
        }
        let reader = self.reader(direction);
        let block = match (frame.kind, reader.block.take()) {
            (HEADERS, _) => Block {
                stream: frame.stream,
                fragment: Vec::new(),
                frame_headers: 0,
                payload: 0,
                end_stream: frame.flags & END_STREAM != 0,
            },
            (_, Some(block)) if block.stream == frame.stream => block,
            // A CONTINUATION out of place: h2 ends the connection for it.
            _ => {
                self.lost(direction);
                return Ok(());
            }
        };
        let mut block = block;
        block.fragment.extend_from_slice(fragment);
        block.frame_headers += 9;
        block.payload += frame.len;
        if block.payload > MAX_HEADER_LIST {
            return self.refuse(direction, Refusal::HeadersTooLarge);
        }
        if frame.flags & END_HEADERS == 0 {
            self.reader(direction).block = Some(block);
            return Ok(());
        }
        let decoder = match direction {
            Direction::Up => &mut self.up_hpack,
            Direction::Down => &mut self.down_hpack,
        };
        match decoder.decode(&block.fragment, MAX_HEADER_LIST) {
            Ok(fields) => self.header_block(direction, block, fields),
            Err(hpack::HpackError::TooLarge(_)) => self.refuse(direction, Refusal::HeadersTooLarge),
            // h2 answers a block it cannot decode with GOAWAY COMPRESSION_ERROR.
            Err(hpack::HpackError::Malformed) => {
                self.lost(direction);
                Ok(())
            }
        }
    }

    fn header_block(
        &mut self,
        direction: Direction,
        block: Block,
        fields: Vec<Field>,
    ) -> Result<(), Refusal> {
        let field = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .map_or("", |f| f.value.as_str())
        };
        let id = block.stream;
        match direction {
            Direction::Up if !self.streams.contains_key(&id) => {
                if self
                    .streams
                    .values()
                    .filter(|s| !s.up_ended || !s.down_ended)
                    .count()
                    >= MAX_STREAMS
                {
                    return self.refuse(direction, Refusal::TooManyStreams);
                }
                let uri = field(":path");
                let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
                let target = request_target(&self.ledger, path, query);
                if let Some(target) = &target {
                    target.add_request();
                    target.add_http2_request();
                    // Bounded: a connection is counted under its first 64 distinct targets.
                    if !self.opened.iter().any(|(o, _)| o.same_as(target)) && self.opened.len() < 64
                    {
                        let levels = target.opened_beside(&self.opened);
                        self.opened.push((target.clone(), levels));
                    }
                    if self.latest.is_none() {
                        self.flush_pending(target);
                    }
                    self.latest = Some(target.clone());
                }
                let socketio = target
                    .as_ref()
                    .is_some_and(|t| t.transport == Transport::SocketIo);
                self.streams.insert(
                    id,
                    Stream {
                        target,
                        up_body: socketio.then(|| BodyClassifier::upward(Format::EngineIo)),
                        down_body: None,
                        up_ended: false,
                        down_ended: false,
                    },
                );
            }
            Direction::Down => {
                let status: u16 = field(":status").parse().unwrap_or(0);
                let content_type = field("content-type").to_ascii_lowercase();
                if let Some(s) = self.streams.get_mut(&id)
                    && s.down_body.is_none()
                    && status >= 200
                {
                    s.down_body = Some(BodyClassifier::new(response_format(
                        &s.target,
                        status,
                        &content_type,
                    )));
                }
            }
            // Trailers.
            Direction::Up => {}
        }
        self.count_stream(direction, id, Kind::Framing, block.frame_headers);
        self.count_stream(direction, id, Kind::Header, block.payload);
        if let Some(s) = self.streams.get(&id)
            && let Some(tap) = s.target.as_ref().and_then(Target::tap)
        {
            tap.record(
                &headers_title(direction, &s.target, id, &block, &fields),
                render_fields(&fields).as_bytes(),
            );
        }
        if block.end_stream {
            self.stream_ended(direction, id);
        }
        Ok(())
    }

    fn stream_ended(&mut self, direction: Direction, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let mut tally = Tally::default();
        match direction {
            Direction::Up => {
                s.up_ended = true;
                if let Some(body) = &mut s.up_body {
                    body.finish(&mut tally);
                }
            }
            Direction::Down => {
                s.down_ended = true;
                if let Some(body) = &mut s.down_body {
                    body.finish(&mut tally);
                }
            }
        }
        if let Some(target) = &s.target {
            target.apply(direction, &tally);
        }
        if s.up_ended && s.down_ended {
            self.streams.remove(&id);
        }
    }

    fn lost(&mut self, direction: Direction) {
        match direction {
            Direction::Up => self.lost_up = true,
            Direction::Down => self.lost_down = true,
        }
    }

    fn refuse(&mut self, direction: Direction, refusal: Refusal) -> Result<(), Refusal> {
        self.lost(direction);
        tracing::info!(%refusal, "ending an HTTP/2 connection");
        Err(refusal)
    }

    /// Counts under the stream's request, or the connection's for a stream we do not know.
    fn count_stream(&mut self, direction: Direction, stream: u32, kind: Kind, n: usize) {
        if n == 0 {
            return;
        }
        match self.streams.get(&stream) {
            Some(s) if stream != 0 => {
                if let Some(target) = &s.target {
                    target.add_bytes(direction, kind, n as u64);
                }
            }
            _ => self.count_connection(direction, kind, n),
        }
    }

    fn count_connection(&mut self, direction: Direction, kind: Kind, n: usize) {
        match &self.latest {
            Some(target) => target.add_bytes(direction, kind, n as u64),
            None => self.pending[index(direction)].add(kind, n),
        }
    }

    /// The first request's target takes what came before it.
    fn flush_pending(&mut self, target: &Target) {
        for direction in [Direction::Up, Direction::Down] {
            let tally = std::mem::take(&mut self.pending[index(direction)]);
            for kind in Kind::ALL {
                target.add_bytes(direction, kind, tally.get(kind));
            }
        }
    }

    /// The client stopped reading: counted under the latest request.
    pub fn on_stall(&mut self, after: std::time::Duration) {
        let transport = self
            .latest
            .as_ref()
            .map_or("untracked", |t| t.transport.name());
        tracing::info!(
            transport,
            ?after,
            "closing an HTTP/2 connection whose client stopped reading"
        );
        if let Some(target) = &self.latest {
            target.add_slow_disconnect();
        }
    }
}

fn arrow(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "→",
        Direction::Down => "←",
    }
}

fn tap_bytes(target: &Option<Target>, direction: Direction, stream: u32, what: &str, b: &[u8]) {
    if let Some(target) = target
        && let Some(tap) = target.tap()
    {
        tap.record(
            &format!(
                "{} {} HTTP/2 {what}, stream {stream} ({} bytes)",
                arrow(direction),
                target.transport.name(),
                b.len()
            ),
            b,
        );
    }
}

fn headers_title(
    direction: Direction,
    target: &Option<Target>,
    stream: u32,
    block: &Block,
    fields: &[Field],
) -> String {
    let hits = fields
        .iter()
        .filter(|f| f.source == hpack::Source::Dynamic)
        .count();
    format!(
        "{} {} HTTP/2 HEADERS, stream {stream} ({} bytes: {} of HPACK for {} fields, {hits} from the dynamic table)",
        arrow(direction),
        target.as_ref().map_or("-", |t| t.transport.name()),
        block.frame_headers + block.payload,
        block.payload,
        fields.len(),
    )
}

/// The decoded header list, one field a line with how it arrived; secrets redacted.
fn render_fields(fields: &[Field]) -> String {
    let mut text = String::new();
    for f in fields {
        let secret = super::tap::SECRET_HEADERS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&f.name));
        let value = if secret { "[redacted]" } else { &f.value };
        let _ = writeln!(text, "{}: {}    [{}]", f.name, value, f.source.name());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Snapshot;

    const SETTINGS: u8 = 0x4;
    const POLL_BODY: &[u8] = br#"{"messages":[],"last_id":0,"gap":false}"#;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Literal fields without indexing, short enough for one-byte lengths.
    fn block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.extend_from_slice(&[0x00, name.len() as u8]);
            out.extend_from_slice(name.as_bytes());
            out.push(value.len() as u8);
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    fn request_block() -> Vec<u8> {
        block(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/api/poll?since=0&client=a"),
            (":authority", "127.0.0.1"),
        ])
    }

    fn response_block() -> Vec<u8> {
        block(&[(":status", "200"), ("content-type", "application/json")])
    }

    /// A poll on stream 1: what the client sends, and what the server answers, with the body in
    /// a padded DATA frame (1 pad-length byte, 3 bytes of padding).
    fn poll() -> (Vec<u8>, Vec<u8>) {
        let up = [
            PREFACE.to_vec(),
            frame(SETTINGS, 0, 0, &[]),
            frame(HEADERS, END_STREAM | END_HEADERS, 1, &request_block()),
            frame(SETTINGS, 1, 0, &[]),
        ]
        .concat();
        let padded = [&[3u8][..], POLL_BODY, &[0, 0, 0]].concat();
        let down = [
            frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]),
            frame(SETTINGS, 1, 0, &[]),
            frame(HEADERS, END_HEADERS, 1, &response_block()),
            frame(DATA, END_STREAM | PADDED, 1, &padded),
        ]
        .concat();
        (up, down)
    }

    fn follow(up: &[u8], down: &[u8], piece: usize) -> Snapshot {
        let ledger = Ledger::new();
        {
            let mut conn = H2Conversation::new(ledger.clone());
            for u in up.chunks(piece) {
                conn.on_read(u).unwrap();
            }
            for d in down.chunks(piece) {
                conn.on_write(d);
            }
        }
        *ledger
            .stats(Some("a"))
            .unwrap()
            .transports
            .get(Transport::Poll)
    }

    /// Every byte of a poll over HTTP/2 lands on the poll's client, by kind: the preface and
    /// SETTINGS exchange (before the request) as other, HEADERS payloads as header, frame headers
    /// and DATA padding as framing, the poll envelope as other.
    #[test]
    fn a_poll_is_counted_frame_by_frame() {
        let (up, down) = poll();
        let s = follow(&up, &down, usize::MAX);
        assert_eq!(
            (s.request_bytes, s.response_bytes),
            (up.len() as u64, down.len() as u64)
        );
        assert_eq!(s.request_header_bytes, request_block().len() as u64);
        assert_eq!(s.up.framing, 9);
        assert_eq!(s.up.other, (PREFACE.len() + 9 + 9) as u64);
        assert_eq!(s.response_header_bytes, response_block().len() as u64);
        assert_eq!(s.framing_bytes, 9 + 9 + 1 + 3);
        assert_eq!(s.other_bytes, (9 + 6 + 9) as u64 + POLL_BODY.len() as u64);
        assert_eq!((s.requests, s.http2_requests, s.empty_responses), (1, 1, 1));
        assert_eq!((s.connections, s.open), (1, 0));
    }

    /// One connection carrying two clients' polls is one connection of the transport, and one
    /// of each client.
    #[test]
    fn a_shared_connection_counts_once_per_level() {
        let ledger = Ledger::new();
        let request = |stream: u32, client: &str| {
            let path = format!("/api/poll?since=0&client={client}");
            let fields = [
                (":method", "GET"),
                (":scheme", "http"),
                (":path", path.as_str()),
                (":authority", "127.0.0.1"),
            ];
            frame(HEADERS, END_STREAM | END_HEADERS, stream, &block(&fields))
        };
        let mut conn = H2Conversation::new(ledger.clone());
        let up = [
            PREFACE.to_vec(),
            request(1, "a"),
            request(3, "b"),
            request(5, "a"),
        ]
        .concat();
        conn.on_read(&up).unwrap();
        let open = |client: Option<&str>| {
            let s = *ledger
                .stats(client)
                .unwrap()
                .transports
                .get(Transport::Poll);
            (s.connections, s.open, s.requests)
        };
        assert_eq!(open(None), (1, 1, 3));
        assert_eq!(open(Some("a")), (1, 1, 2));
        assert_eq!(open(Some("b")), (1, 1, 1));
        drop(conn);
        assert_eq!(open(None), (1, 0, 3));
        assert_eq!((open(Some("a")).1, open(Some("b")).1), (0, 0));
    }

    /// The kernel cuts the stream anywhere; the counts do not depend on where.
    #[test]
    fn same_counts_however_the_bytes_are_cut() {
        let (up, down) = poll();
        let whole = follow(&up, &down, usize::MAX);
        for piece in [1, 2, 3, 7, 10] {
            assert_eq!(follow(&up, &down, piece), whole, "pieces of {piece}");
        }
    }

    /// A header block that cannot be decoded loses the direction (h2 ends the connection for
    /// it); what follows in the same piece is not counted either, as it would not be in the next
    /// piece (found by the fuzz target: a frame after the bad block was counted only when both
    /// came in one read).
    #[test]
    fn lost_means_lost_within_a_piece_too() {
        let down = [
            frame(HEADERS, END_HEADERS, 1, &[0x00]),
            frame(DATA, 0, 0, &[]),
        ]
        .concat();
        let connection = |piece: usize| {
            let ledger = Ledger::new();
            {
                let mut conn = H2Conversation::new(ledger.clone());
                conn.on_read(PREFACE).unwrap();
                for d in down.chunks(piece) {
                    conn.on_write(d);
                }
            }
            ledger.connection().snapshot()
        };
        assert_eq!(connection(usize::MAX), connection(1));
        assert_eq!(connection(usize::MAX).response_bytes, 0);
    }

    /// A GOAWAY is a valid frame: 8 bytes of payload plus the reason, on stream 0.
    #[test]
    fn goaway_names_the_last_stream_and_the_code() {
        let frame = goaway(7, "why");
        assert_eq!(&frame[..9], &[0, 0, 11, GOAWAY, 0, 0, 0, 0, 0]);
        assert_eq!(&frame[9..17], &[0, 0, 0, 7, 0, 0, 0, 0xB]);
        assert_eq!(&frame[17..], b"why");
    }
}
