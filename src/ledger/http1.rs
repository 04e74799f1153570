//! The HTTP/1.1 follower: a [`Conversation`] is told every byte a connection reads and writes,
//! and counts each into the ledger under the request and transport it belongs to, by kind.
//!
//! Reading, it finds each request head (whose request line names the transport and `?client=`),
//! then the request body or, after a `101`, the client's WebSocket frames. Writing, it finds each
//! response head, then the body by its framing (chunked, `Content-Length`, or WebSocket frames),
//! and hands body data to the [`classify`](super::classify) rules. Responses on a keep-alive
//! connection come in request order, so each response is matched to its request through a FIFO:
//! every byte lands on the request and transport it belongs to, at the moment it crosses the
//! socket. Traffic of paths that are not transports (pages, stats, the tap) is followed but not
//! counted.
//!
//! Heads are delimited exactly as actix-http's parser (httparse) delimits request heads: a line
//! ends with `\r\n` or a bare `\n`, empty lines before the request line belong to the head, and
//! the head ends at the first empty line after it. A follower stricter than the server's parser
//! would miss a head the server answers, and bill the next request's bytes to the wrong client.
//!
//! It knows nothing of sockets (the [`wire`](super::wire) guard feeds it), so the whole state
//! machine can be driven, and tested, with byte slices cut anywhere: the counts must not depend
//! on how the kernel happened to split the stream.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use super::chunked::{Chunked, Piece};
use super::classify::{self, BodyClassifier, EnginePacket, Format, Tally};
use super::counts::{Direction, Kind};
use super::tap::redact_head;
use super::ws_frames::{Frame, FrameParser, TooLarge};
use super::{Ledger, Side, Target};
use crate::params::Params;
use crate::transports::Transport;

/// Longest request or response head followed; actix refuses request heads over 128 KiB anyway.
const MAX_HEAD: usize = 132 * 1024;

/// What is known about the HTTP conversation on one connection.
pub struct Conversation {
    ledger: Ledger,
    /// Where the client's bytes are in their framing; each direction is framed on its own.
    read: ReadState,
    /// Where our bytes are in their framing.
    write: WriteState,
    /// Requests whose final response head has not been written yet, oldest first.
    exchanges: VecDeque<Exchange>,
    /// The target this connection is counted under (that of its latest transport request), so
    /// its close is counted there too.
    opened: Option<Target>,
    /// See [`WireLimits::max_client_frame`](super::wire::WireLimits::max_client_frame).
    max_client_frame: u64,
}

/// A request awaiting its response.
struct Exchange {
    target: Option<Target>,
    /// A HEAD request's response has no body, whatever its headers say.
    is_head: bool,
}

enum ReadState {
    Head(PartialHead),
    Body {
        remaining: u64,
        target: Option<Target>,
        /// Bodies whose format the ledger knows (Socket.IO's packets); others are all payload.
        body: Option<BodyClassifier>,
    },
    Chunked {
        parser: Chunked,
        target: Option<Target>,
    },
    WebSocket {
        frames: FrameParser,
        target: Option<Target>,
    },
    /// Something we could not follow; nothing more is counted on this connection.
    Lost,
}

enum WriteState {
    Head(PartialHead),
    Sized {
        remaining: u64,
        body: BodyClassifier,
        target: Option<Target>,
    },
    Chunked {
        parser: Chunked,
        body: BodyClassifier,
        target: Option<Target>,
    },
    UntilClose {
        body: BodyClassifier,
        target: Option<Target>,
    },
    WebSocket {
        frames: FrameParser,
        target: Option<Target>,
    },
    Lost,
}

impl Drop for Conversation {
    fn drop(&mut self) {
        if let Some(target) = &self.opened {
            target.connection_closed();
        }
    }
}

/// Where the request head at the start of `buf` ends (its length, empty lines before the request
/// line included), or `None` while it has not ended. For every head httparse accepts, this is
/// where httparse ends it (the differential fuzz target `ledger_vs_parser` holds the two to it).
pub fn head_end(buf: &[u8]) -> Option<usize> {
    HeadScan::default().feed(buf)
}

/// How far the search for the end of a head has got. It moves one byte at a time, so a search
/// resumes wherever a read was cut, without looking at any byte twice.
///
/// The rule is httparse's (its `Request` parser, default config, is actix-http's): a line ends at
/// `\n`, with or without a `\r` before it; empty lines before the request line are skipped, and
/// belong to the head; the first empty line after the request line ends the head. httparse
/// refuses a `\r` that no `\n` follows, and actix then answers `400` and closes the connection,
/// so here such a `\r` is just part of a line.
#[derive(Debug, Clone, Copy, Default)]
enum HeadScan {
    /// At the start of a line, with nothing but empty lines so far.
    #[default]
    Leading,
    /// After a `\r` there.
    LeadingCr,
    /// Inside a line (the request line or a header).
    Line,
    /// At the start of a line after the request line: an empty line here ends the head.
    LineStart,
    /// After a `\r` there.
    LineStartCr,
}

impl HeadScan {
    /// Moves over `bytes`; if the head ends among them, returns how many of them it took, and
    /// starts over for the next head.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if let Self::Line = self {
                // Inside a line only its `\n` changes the state: jump to it (every request and
                // response head crosses here, and most of its bytes are inside lines).
                i += memchr::memchr(b'\n', &bytes[i..])?;
            }
            let b = bytes[i];
            i += 1;
            *self = match (*self, b) {
                (Self::LineStart | Self::LineStartCr, b'\n') => {
                    *self = Self::Leading;
                    return Some(i);
                }
                (Self::Leading | Self::LeadingCr, b'\n') => Self::Leading,
                (Self::Leading, b'\r') => Self::LeadingCr,
                (Self::Line, b'\n') => Self::LineStart,
                (Self::LineStart, b'\r') => Self::LineStartCr,
                _ => Self::Line,
            };
        }
        None
    }
}

/// A head being gathered. Response heads are actix's own, always CRLF with no empty line before
/// the status line, which the request rule delimits the same way.
#[derive(Default)]
struct PartialHead {
    bytes: Vec<u8>,
    scan: HeadScan,
}

impl PartialHead {
    /// Takes from `rest` up to the end of the head; once it holds the whole head, returns the
    /// head and how many bytes of `rest` it took. A head that arrived in one read (nearly all
    /// of them) is lent from `rest`, not copied.
    fn take<'a>(&mut self, rest: &'a [u8]) -> Option<(Cow<'a, [u8]>, usize)> {
        let Some(used) = self.scan.feed(rest) else {
            self.bytes.extend_from_slice(rest);
            return None;
        };
        if self.bytes.is_empty() {
            return Some((Cow::Borrowed(&rest[..used]), used));
        }
        self.bytes.extend_from_slice(&rest[..used]);
        Some((Cow::Owned(std::mem::take(&mut self.bytes)), used))
    }
}

/// Lines of a head: each ends at `\n`, and a `\r` before it is dropped, as httparse does (and
/// as `str::lines` would, without first making the head a `str`).
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = head;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// Header lines of a head whose first line is the request or status line, as (trimmed name,
/// trimmed value); names are compared without case.
fn headers(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    lines(head).skip(1).filter_map(|line| {
        let colon = memchr::memchr(b':', line)?;
        Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
    })
}

/// A header value as a number, as `str::parse` reads it (digits, a `+` allowed before them).
fn number(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether a `Transfer-Encoding` value names `chunked`, in any case.
fn names_chunked(value: &[u8]) -> bool {
    value
        .windows(b"chunked".len())
        .any(|w| w.eq_ignore_ascii_case(b"chunked"))
}

impl Target {
    /// The whole tally in one pass over the counters (one clock read: see `Target::each`),
    /// touching nothing when it is empty, as the separate adds did.
    pub(super) fn apply(&self, direction: Direction, tally: &Tally) {
        if tally.bytes.iter().all(|&n| n == 0) && tally.messages == 0 && tally.empty_responses == 0
        {
            return;
        }
        self.each(|c| {
            for kind in Kind::ALL {
                let n = tally.get(kind);
                if n > 0 {
                    c.add_bytes(direction, kind, n);
                }
            }
            for _ in 0..tally.messages {
                c.add_message();
            }
            for _ in 0..tally.empty_responses {
                c.add_empty_response();
            }
        });
    }
}

/// A head for the tap, redacted only when someone taps (every request's head passes here, and
/// redacting is a copy).
fn tap_head(target: &Option<Target>, head: &[u8], title: impl FnOnce(&'static str) -> String) {
    if target.as_ref().is_some_and(|t| t.tap().is_some()) {
        tap(target, title, &redact_head(head));
    }
}

fn count(target: &Option<Target>, direction: Direction, kind: Kind, n: usize) {
    if let Some(target) = target {
        target.add_bytes(direction, kind, n as u64);
    }
}

fn tap(target: &Option<Target>, title: impl FnOnce(&'static str) -> String, bytes: &[u8]) {
    if let Some(tap) = target
        .as_ref()
        .and_then(|t| t.tap().map(|tap| (tap, t.transport.name())))
    {
        tap.0.record(&title(tap.1), bytes);
    }
}

impl Conversation {
    /// A new connection, counted into `ledger`, refusing client WebSocket frames that declare
    /// more than `max_client_frame` payload bytes.
    pub fn new(ledger: Ledger, max_client_frame: u64) -> Self {
        Self {
            ledger,
            read: ReadState::Head(PartialHead::default()),
            write: WriteState::Head(PartialHead::default()),
            exchanges: VecDeque::new(),
            opened: None,
            max_client_frame,
        }
    }

    /// The client this connection serves now (its latest transport request's `?client=`): whose
    /// lab faults apply to it.
    pub fn client(&self) -> Option<&std::sync::Arc<super::Client>> {
        self.opened.as_ref().and_then(|t| t.client.as_ref())
    }

    /// The close frame 1009 a client gets before a refused frame of its cuts the connection
    /// (`0x88`, length, `0x03F1`, reason). actix never sees the refused frame, so it cannot send
    /// this close itself.
    pub fn close_too_big(&self) -> Vec<u8> {
        let reason = format!(
            "frame header declares more than {} bytes",
            self.max_client_frame
        );
        let mut frame = vec![0x88, 2 + reason.len() as u8, 0x03, 0xF1];
        frame.extend_from_slice(reason.as_bytes());
        frame
    }

    /// The target the connection is counted under now (its latest transport request's).
    pub fn latest(&self) -> Option<&Target> {
        self.opened.as_ref()
    }

    /// Between responses (not inside a head or a body), and not a WebSocket: where a buffering
    /// proxy lets go of what it held.
    pub fn response_ended(&self) -> bool {
        matches!(&self.write, WriteState::Head(partial) if partial.bytes.is_empty())
    }

    /// Carrying WebSocket frames (a buffering proxy passes an upgraded connection through).
    pub fn is_websocket(&self) -> bool {
        matches!(self.write, WriteState::WebSocket { .. })
    }

    /// The client stopped reading and the connection is being closed: say so in the log and the
    /// ledger of the transport whose response was blocked.
    pub fn on_stall(&mut self, after: Duration) {
        let target = match &self.write {
            WriteState::Sized { target, .. }
            | WriteState::Chunked { target, .. }
            | WriteState::UntilClose { target, .. }
            | WriteState::WebSocket { target, .. } => target.clone(),
            WriteState::Head(_) | WriteState::Lost => None,
        }
        .or_else(|| self.opened.clone());
        let transport = target.as_ref().map_or("untracked", |t| t.transport.name());
        tracing::info!(
            transport,
            ?after,
            "closing a connection whose client stopped reading"
        );
        if let Some(target) = target {
            target.add_slow_disconnect();
        }
    }

    /// Follows bytes read from the client; `Err` ends the connection (a WebSocket frame too
    /// large to let through).
    pub fn on_read(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            match &mut self.read {
                ReadState::Lost => return Ok(()),
                ReadState::Head(partial) => match partial.take(rest) {
                    Some((head, used)) => {
                        rest = &rest[used..];
                        self.request_head(&head);
                    }
                    None => {
                        if partial.bytes.len() > MAX_HEAD {
                            self.read = ReadState::Lost;
                        }
                        return Ok(());
                    }
                },
                ReadState::Body {
                    remaining,
                    target,
                    body,
                } => {
                    let take = rest
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    *remaining -= take as u64;
                    match body {
                        Some(body) => {
                            let mut tally = Tally::default();
                            body.feed(&rest[..take], &mut tally);
                            if *remaining == 0 {
                                body.finish(&mut tally);
                            }
                            if let Some(target) = target {
                                target.apply(Direction::Up, &tally);
                            }
                        }
                        None => count(target, Direction::Up, Kind::Payload, take),
                    }
                    tap(
                        target,
                        |t| format!("→ {t} request body ({take} bytes)"),
                        &rest[..take],
                    );
                    rest = &rest[take..];
                    if *remaining == 0 {
                        self.read = ReadState::Head(PartialHead::default());
                    }
                }
                ReadState::Chunked { parser, target } => {
                    let (mut framing, mut payload) = (0, 0);
                    let fed = parser.feed(rest, |piece| match piece {
                        Piece::Framing(b) => framing += b.len(),
                        Piece::Data(b) => payload += b.len(),
                    });
                    let Ok((used, done)) = fed else {
                        self.read = ReadState::Lost;
                        return Ok(());
                    };
                    count(target, Direction::Up, Kind::Framing, framing);
                    count(target, Direction::Up, Kind::Payload, payload);
                    tap(
                        target,
                        |t| format!("→ {t} request body, chunked ({used} bytes)"),
                        &rest[..used],
                    );
                    rest = &rest[used..];
                    if done {
                        self.read = ReadState::Head(PartialHead::default());
                    }
                }
                ReadState::WebSocket { frames, target } => {
                    let fed =
                        frames.feed(rest, |frame| websocket_frame(Direction::Up, &frame, target));
                    if let Err(TooLarge(declared)) = fed {
                        tracing::info!(
                            declared,
                            limit = self.max_client_frame,
                            "closing a WebSocket whose client declared an oversized frame"
                        );
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "WebSocket frame too large",
                        ));
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Follows bytes written to the client.
    pub fn on_write(&mut self, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() {
            match &mut self.write {
                WriteState::Lost => return,
                WriteState::Head(partial) => match partial.take(rest) {
                    Some((head, used)) => {
                        rest = &rest[used..];
                        self.response_head(&head);
                    }
                    None => {
                        if partial.bytes.len() > MAX_HEAD {
                            self.write = WriteState::Lost;
                        }
                        return;
                    }
                },
                WriteState::Sized {
                    remaining,
                    body,
                    target,
                } => {
                    let take = rest
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let mut tally = Tally::default();
                    body.feed(&rest[..take], &mut tally);
                    *remaining -= take as u64;
                    let done = *remaining == 0;
                    body_written(target, body, tally, done, &rest[..take], |t| {
                        format!("← {t} response body ({take} bytes)")
                    });
                    rest = &rest[take..];
                    if done {
                        self.write = WriteState::Head(PartialHead::default());
                    }
                }
                WriteState::Chunked {
                    parser,
                    body,
                    target,
                } => {
                    let mut tally = Tally::default();
                    let mut framing = 0;
                    let fed = parser.feed(rest, |piece| match piece {
                        Piece::Framing(b) => framing += b.len(),
                        Piece::Data(b) => body.feed(b, &mut tally),
                    });
                    let Ok((used, done)) = fed else {
                        self.write = WriteState::Lost;
                        return;
                    };
                    tally.add(Kind::Framing, framing);
                    body_written(target, body, tally, done, &rest[..used], |t| {
                        format!("← {t} response body, chunked ({used} bytes)")
                    });
                    rest = &rest[used..];
                    if done {
                        self.write = WriteState::Head(PartialHead::default());
                    }
                }
                WriteState::UntilClose { body, target } => {
                    let mut tally = Tally::default();
                    body.feed(rest, &mut tally);
                    let n = rest.len();
                    body_written(target, body, tally, false, rest, |t| {
                        format!("← {t} response body ({n} bytes)")
                    });
                    return;
                }
                WriteState::WebSocket { frames, target } => {
                    // Our own frames: no limit applies, so this cannot fail.
                    let _ = frames.feed(rest, |frame| {
                        websocket_frame(Direction::Down, &frame, target)
                    });
                    return;
                }
            }
        }
    }

    fn request_head(&mut self, head: &[u8]) {
        // Empty lines before the request line are part of the head; httparse skips them.
        let start = head
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(head.len());
        let text = &head[start..];
        let mut request_line = lines(text).next().unwrap_or_default().split(|&b| b == b' ');
        let method = request_line.next().unwrap_or_default();
        let uri = request_line.next().unwrap_or_default();
        let (path, query) = match memchr::memchr(b'?', uri) {
            Some(at) => (&uri[..at], &uri[at + 1..]),
            None => (uri, &uri[uri.len()..]),
        };
        let (mut content_length, mut chunked) = (0u64, false);
        for (name, value) in headers(text) {
            if name.eq_ignore_ascii_case(b"content-length") {
                content_length = number(value).unwrap_or(0);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = names_chunked(value);
            }
        }
        let target = request_target(
            &self.ledger,
            &String::from_utf8_lossy(path),
            &String::from_utf8_lossy(query),
        );
        if let Some(target) = &target {
            target.add_request();
            target.add_bytes(Direction::Up, Kind::Header, head.len() as u64);
            // A keep-alive connection is open under the transport (and client) it serves now:
            // when a request for another one arrives on it, it moves there.
            if self.opened.as_ref().is_none_or(|o| !o.same_as(target)) {
                if let Some(previous) = self.opened.take() {
                    previous.connection_closed();
                }
                target.connection_opened();
                self.opened = Some(target.clone());
            }
        }
        tap_head(&target, head, |t| {
            format!("→ {t} request head ({} bytes)", head.len())
        });
        self.exchanges.push_back(Exchange {
            target: target.clone(),
            is_head: method == b"HEAD",
        });
        self.read = if chunked {
            ReadState::Chunked {
                parser: Chunked::default(),
                target,
            }
        } else if content_length > 0 {
            let socketio = target
                .as_ref()
                .is_some_and(|t| t.transport == Transport::SocketIo);
            ReadState::Body {
                remaining: content_length,
                target,
                body: socketio.then(|| BodyClassifier::upward(Format::EngineIo)),
            }
        } else {
            ReadState::Head(PartialHead::default())
        };
    }

    fn response_head(&mut self, head: &[u8]) {
        // The second space-separated word of the head: the status code.
        let status: u16 = head
            .split(|&b| b == b' ')
            .nth(1)
            .and_then(|code| std::str::from_utf8(code).ok()?.parse().ok())
            .unwrap_or(0);
        let (mut content_length, mut chunked, mut content_type) = (None, false, String::new());
        for (name, value) in headers(head) {
            if name.eq_ignore_ascii_case(b"content-length") {
                content_length = number(value);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = names_chunked(value);
            } else if name.eq_ignore_ascii_case(b"content-type") {
                content_type = String::from_utf8_lossy(value).to_ascii_lowercase();
            }
        }
        // 100 Continue and friends come before the final response to the same request.
        let interim = (100..200).contains(&status) && status != 101;
        let (target, is_head) = if interim {
            (self.exchanges.front().and_then(|e| e.target.clone()), false)
        } else {
            self.exchanges
                .pop_front()
                .map_or((None, false), |e| (e.target, e.is_head))
        };
        count(&target, Direction::Down, Kind::Header, head.len());
        tap_head(&target, head, |t| {
            format!("← {t} response head ({} bytes)", head.len())
        });

        if status == 101 {
            self.read = ReadState::WebSocket {
                frames: FrameParser::with_limit(self.max_client_frame),
                target: target.clone(),
            };
            self.write = WriteState::WebSocket {
                frames: FrameParser::default(),
                target,
            };
            return;
        }
        let body = BodyClassifier::new(response_format(&target, status, &content_type));
        self.write = if interim || is_head || status == 204 || status == 304 {
            WriteState::Head(PartialHead::default())
        } else if chunked {
            WriteState::Chunked {
                parser: Chunked::default(),
                body,
                target,
            }
        } else {
            match content_length {
                Some(0) => WriteState::Head(PartialHead::default()),
                Some(remaining) => WriteState::Sized {
                    remaining,
                    body,
                    target,
                },
                None => WriteState::UntilClose { body, target },
            }
        };
    }
}

/// Where a request for `path?query` is counted (HTTP/1.1 or HTTP/2 alike): a transport's path
/// counts on its receiving side, a post naming `?transport=` on that transport's sending side,
/// under `?client=` and `?room=`; any other path is not counted.
pub(super) fn request_target(ledger: &Ledger, path: &str, query: &str) -> Option<Target> {
    let params = Params::query(query).unwrap_or_default();
    let (side, transport) = if path == "/api/messages" {
        let named = params.get("transport").and_then(Transport::from_name);
        (Side::Send, named)
    } else {
        (Side::Receive, Transport::from_path(path))
    };
    transport.map(|t| ledger.target_on(side, t, params.get("client"), params.get("room")))
}

/// How a response body is classified, from its status and (lower-cased) content type.
pub(super) fn response_format(target: &Option<Target>, status: u16, content_type: &str) -> Format {
    match (
        target.as_ref().map(|t| t.transport),
        status,
        content_type.split(';').next().map(str::trim),
    ) {
        (_, _, Some("text/event-stream")) => Format::Sse,
        (_, _, Some("application/x-ndjson")) => Format::Ndjson,
        (Some(t), 200, Some("application/json")) if t.is_poll() => Format::PollJson,
        (Some(Transport::SocketIo), 200, Some("text/plain")) => Format::EngineIo,
        _ => Format::Opaque,
    }
}

/// Accounts response body bytes just written: completes the classification when the body has
/// ended, counts the tally under the target, and shows the bytes on the tap.
fn body_written(
    target: &Option<Target>,
    body: &mut BodyClassifier,
    mut tally: Tally,
    done: bool,
    bytes: &[u8],
    title: impl FnOnce(&'static str) -> String,
) {
    if done {
        body.finish(&mut tally);
    }
    if let Some(target) = target {
        target.apply(Direction::Down, &tally);
    }
    tap(target, title, bytes);
}

/// Counts one complete WebSocket frame. Pings and pongs are wholly heartbeat, closes wholly
/// other; data frames split into header (framing) and payload, where server frames carrying a
/// message are payload and control objects are other.
fn websocket_frame(direction: Direction, frame: &Frame, target: &Option<Target>) {
    let Some(target) = target else { return };
    let whole = frame.header_len + frame.payload_len;
    if frame.is_ping_or_pong() {
        target.add_bytes(direction, Kind::Heartbeat, whole);
    } else if frame.opcode == 0x8 {
        target.add_bytes(direction, Kind::Other, whole);
    } else if target.transport == Transport::SocketIo && frame.opcode == 0x1 {
        // One Engine.IO packet per frame.
        match classify::engine_packet(&frame.preview, frame.payload_len) {
            EnginePacket::Heartbeat => target.add_bytes(direction, Kind::Heartbeat, whole),
            EnginePacket::Other => {
                target.add_bytes(direction, Kind::Framing, frame.header_len);
                target.add_bytes(direction, Kind::Other, frame.payload_len);
            }
            EnginePacket::Chat { envelope, message } => target.add_frame(
                direction,
                frame.header_len + envelope,
                (Kind::Payload, frame.payload_len - envelope),
                message && direction == Direction::Down,
            ),
        }
    } else {
        let message = direction == Direction::Down
            && frame.opcode == 0x1
            && classify::is_message(&frame.preview);
        let kind = if direction == Direction::Up || message {
            Kind::Payload
        } else {
            Kind::Other
        };
        target.add_frame(
            direction,
            frame.header_len,
            (kind, frame.payload_len),
            message,
        );
    }
    if let Some(tap) = target.tap() {
        let arrow = if direction == Direction::Up {
            "→"
        } else {
            "←"
        };
        tap.record(
            &format!(
                "{arrow} {} websocket frame: FIN={} opcode={} ({}) mask={} length={} (header {} bytes)",
                target.transport.name(),
                u8::from(frame.fin),
                frame.opcode,
                frame.opcode_name(),
                u8::from(frame.masked),
                frame.payload_len,
                frame.header_len,
            ),
            &frame.preview,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Snapshot, Split, TransportStats};

    /// Longest client frame payload let through in these tests.
    const MAX_FRAME: u64 = 64 * 1024;
    const MSG: &str = r#"{"id":7,"user":"ada","text":"hi","ts":1}"#;
    const READY: &str = r#"{"type":"ready","since":0}"#;
    const HEARTBEAT_LINE: &str = "{\"type\":\"heartbeat\"}\n";
    const LAST_CHUNK: &str = "0\r\n\r\n";

    /// What the server read (`Up`) or wrote (`Down`) in one socket call.
    type Step = (Direction, Vec<u8>);

    fn up(bytes: impl AsRef<[u8]>) -> Step {
        (Direction::Up, bytes.as_ref().to_vec())
    }
    fn down(bytes: impl AsRef<[u8]>) -> Step {
        (Direction::Down, bytes.as_ref().to_vec())
    }

    fn get(path_and_query: &str) -> String {
        format!("GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n")
    }

    /// A response head as actix writes it, `headers` being one `name: value\r\n` per header.
    fn head(status: &str, headers: &str) -> String {
        format!("HTTP/1.1 {status}\r\n{headers}date: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n")
    }

    fn json_head(status: &str, body: &str) -> String {
        head(
            status,
            &format!(
                "content-length: {}\r\ncontent-type: application/json\r\n",
                body.len()
            ),
        )
    }

    /// One chunk of a chunked body: hex size line, data, CRLF.
    fn chunk(data: &str) -> String {
        format!("{:x}\r\n{data}\r\n", data.len())
    }

    /// A server frame: unmasked, with a 2-byte extended length past 125.
    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x80 | opcode];
        match u16::try_from(payload.len()) {
            Ok(n) if n <= 125 => frame.push(n as u8),
            Ok(n) => {
                frame.push(126);
                frame.extend_from_slice(&n.to_be_bytes());
            }
            Err(_) => unreachable!("test frames are short"),
        }
        frame.extend_from_slice(payload);
        frame
    }

    /// A client frame: masked, as RFC 6455 requires, payload of 125 bytes or less.
    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    /// How a conversation's steps are cut into the slices the follower is fed.
    #[derive(Debug, Clone, Copy)]
    enum Cut {
        Whole,
        /// The step holding this offset of the whole conversation is fed in two pieces.
        At(usize),
        Bytewise,
    }

    /// The counts a conversation left, for everyone and for client `c1`.
    #[derive(Debug, PartialEq)]
    struct Counts {
        all: TransportStats,
        /// The posts' side (`?transport=`), apart from receiving.
        sends: TransportStats,
        c1: Option<TransportStats>,
    }

    impl Counts {
        /// One transport's snapshot, after checking the other four saw nothing.
        fn only(&self, transport: Transport) -> Snapshot {
            for other in Transport::ALL.into_iter().filter(|t| *t != transport) {
                assert_eq!(*self.all.get(other), Snapshot::default(), "{other}");
            }
            *self.all.get(transport)
        }
    }

    fn counts(ledger: &Ledger) -> Counts {
        Counts {
            all: ledger.stats(None).unwrap().transports,
            sends: ledger.stats(None).unwrap().sends,
            c1: ledger.stats(Some("c1")).map(|s| s.transports),
        }
    }

    /// Feeds `steps` to a new connection's follower, cut as told; the counts are read while the
    /// connection is still open.
    fn follow(steps: &[Step], cut: Cut) -> Counts {
        let ledger = Ledger::new();
        let mut conn = Conversation::new(ledger.clone(), MAX_FRAME);
        let mut offset = 0;
        for (direction, bytes) in steps {
            let pieces: Vec<&[u8]> = match cut {
                Cut::Whole => vec![bytes],
                Cut::Bytewise => bytes.chunks(1).collect(),
                Cut::At(at) if (offset + 1..offset + bytes.len()).contains(&at) => {
                    let (first, second) = bytes.split_at(at - offset);
                    vec![first, second]
                }
                Cut::At(_) => vec![bytes],
            };
            offset += bytes.len();
            for piece in pieces {
                match direction {
                    Direction::Up => conn.on_read(piece).unwrap(),
                    Direction::Down => conn.on_write(piece),
                }
            }
        }
        counts(&ledger)
    }

    fn len(text: impl AsRef<[u8]>) -> u64 {
        text.as_ref().len() as u64
    }

    /// All bytes of a conversation that went one way.
    fn sent(steps: &[Step], direction: Direction) -> u64 {
        steps
            .iter()
            .filter(|s| s.0 == direction)
            .map(|s| len(&s.1))
            .sum()
    }

    /// (requests, connections, open, messages, empty responses, slow disconnects)
    fn events(s: &Snapshot) -> (u64, u64, u64, u64, u64, u64) {
        (
            s.requests,
            s.connections,
            s.open,
            s.messages,
            s.empty_responses,
            s.slow_disconnects,
        )
    }

    /// Two short polls on one keep-alive connection: one answer with a message, one empty.
    fn poll_conversation() -> Vec<Step> {
        let first = format!(r#"{{"messages":[{MSG}],"last_id":7,"gap":false}}"#);
        let second = r#"{"messages":[],"last_id":7,"gap":false}"#;
        vec![
            up(get("/api/poll?since=0&client=c1")),
            down(json_head("200 OK", &first) + &first),
            up(get("/api/poll?since=7&client=c1")),
            down(json_head("200 OK", second) + second),
        ]
    }

    /// An NDJSON stream: ready, a heartbeat line and a message, one chunk each, then its end.
    fn stream_conversation() -> Vec<Step> {
        let ready = format!("{READY}\n");
        let message = format!("{MSG}\n");
        let head = head(
            "200 OK",
            "transfer-encoding: chunked\r\ncontent-type: application/x-ndjson\r\n",
        );
        vec![
            up(get("/api/stream?client=c1")),
            down(head + &chunk(&ready)),
            down(chunk(HEARTBEAT_LINE) + &chunk(&message)),
            down(LAST_CHUNK),
        ]
    }

    const SSE_READY: &str = "retry: 2000\nevent: ready\nid: 0\ndata: ";
    const SSE_HEARTBEAT: &str = ": heartbeat\n\n";

    /// An SSE stream, still open: the ready event, a message event and a heartbeat comment.
    fn sse_conversation() -> Vec<Step> {
        let head = head(
            "200 OK",
            "transfer-encoding: chunked\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n",
        );
        vec![
            up(get("/api/sse?client=c1")),
            down(head),
            down(chunk(&format!("{SSE_READY}{READY}\n\n"))),
            down(chunk(&format!("id: 7\ndata: {MSG}\n\n"))),
            down(chunk(SSE_HEARTBEAT)),
        ]
    }

    const WS_UPGRADE: &str = "GET /api/ws?client=c1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    const WS_101: &str = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
        connection: upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const WS_PUBLISH: &str = r#"{"text":"hi"}"#;

    /// A message longer than 125 bytes, so its frame has a 2-byte extended length.
    fn long_message() -> String {
        format!(
            r#"{{"id":8,"user":"ada","text":"{}","ts":2}}"#,
            "x".repeat(150)
        )
    }

    /// A WebSocket: upgrade, server text frames (ready, a message, a long message), a ping and
    /// the client's pong, a masked client text frame, and the closing handshake.
    fn ws_conversation() -> Vec<Step> {
        vec![
            up(WS_UPGRADE),
            down([WS_101.as_bytes(), &server_frame(0x1, READY.as_bytes())].concat()),
            down(server_frame(0x1, MSG.as_bytes())),
            up(client_frame(0x1, WS_PUBLISH.as_bytes())),
            down(server_frame(0x1, long_message().as_bytes())),
            down(server_frame(0x9, b"")),
            up(client_frame(0xA, b"")),
            up(client_frame(0x8, &1000u16.to_be_bytes())),
            down(server_frame(0x8, &1000u16.to_be_bytes())),
        ]
    }

    const POST_BODY: &str = r#"{"user":"ada","text":"hi"}"#;
    const CONTINUE: &str = "HTTP/1.1 100 Continue\r\n\r\n";

    fn post_head(framing: &str) -> String {
        format!(
            "POST /api/messages?transport=sse&client=c1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
             Content-Type: application/json\r\n{framing}\r\n"
        )
    }

    /// Two posts for SSE on one connection: a sized body after `100 Continue`, then a chunked
    /// body. Each is answered `201` with the stored message.
    fn post_conversation() -> Vec<Step> {
        let sized = post_head(&format!(
            "Content-Length: {}\r\nExpect: 100-continue\r\n",
            POST_BODY.len()
        ));
        let chunked = post_head("Transfer-Encoding: chunked\r\n");
        let created = json_head("201 Created", MSG) + MSG;
        vec![
            up(sized),
            down(CONTINUE),
            up(POST_BODY),
            down(&created),
            up(chunked + &chunk(POST_BODY) + LAST_CHUNK),
            down(&created),
        ]
    }

    const EMPTY_POLL: &str = r#"{"messages":[],"last_id":7,"gap":false}"#;
    const STATS_BODY: &str = r#"{"transports":{}}"#;

    /// Three pipelined requests on one connection: stats (not a transport), a HEAD poll and a
    /// long poll, answered in order.
    fn pipelined_conversation() -> Vec<Step> {
        let head_poll = get("/api/poll?client=c1").replacen("GET", "HEAD", 1);
        vec![
            up(get("/api/stats") + &head_poll + &get("/api/longpoll?since=7&client=c1")),
            down(json_head("200 OK", STATS_BODY) + STATS_BODY),
            down(json_head("200 OK", EMPTY_POLL)),
            down(json_head("200 OK", EMPTY_POLL) + EMPTY_POLL),
        ]
    }

    /// `head` with every line ending a bare LF.
    fn lf(head: &str) -> String {
        head.replace("\r\n", "\n")
    }

    fn sized_post_head() -> String {
        post_head(&format!("Content-Length: {}\r\n", POST_BODY.len()))
    }

    /// A poll head whose lines end in a mix of bare LF and CRLF, after empty lines of both kinds
    /// (httparse skips those before the request line).
    const MIXED_POLL: &str = "\r\n\r\n\nGET /api/poll?client=c1 HTTP/1.1\nHost: 127.0.0.1:8080\r\n\
        Accept: */*\n\r\n";

    /// Heads with bare LF line endings, which actix answers, among CRLF ones on one keep-alive
    /// connection: a poll, a post with a sized body, a post with a chunked body (its chunks stay
    /// CRLF), a mixed poll, then a CRLF poll.
    fn bare_lf_conversation() -> Vec<Step> {
        let chunked = post_head("Transfer-Encoding: chunked\r\n");
        let created = json_head("201 Created", MSG) + MSG;
        let empty = json_head("200 OK", EMPTY_POLL) + EMPTY_POLL;
        vec![
            up(lf(&get("/api/poll?client=c1"))),
            down(&empty),
            up(lf(&sized_post_head()) + POST_BODY),
            down(&created),
            up(lf(&chunked) + &chunk(POST_BODY) + LAST_CHUNK),
            down(&created),
            up(MIXED_POLL),
            down(&empty),
            up(get("/api/poll?client=c1")),
            down(&empty),
        ]
    }

    /// Polls: heads are header, messages inside `"messages":[...]` payload, the envelope other;
    /// the empty answer is counted as empty.
    #[test]
    fn polls_on_keep_alive() {
        let steps = poll_conversation();

        let got = follow(&steps, Cut::Whole);

        let poll = got.only(Transport::Poll);
        let first_body = len(format!(r#"{{"messages":[{MSG}],"last_id":7,"gap":false}}"#));
        let second_body = len(EMPTY_POLL);
        assert_eq!(events(&poll), (2, 1, 1, 1, 1, 0));
        assert_eq!(
            poll.up,
            Split {
                header: len(&steps[0].1) + len(&steps[2].1),
                ..Split::default()
            }
        );
        assert_eq!(
            poll.down,
            Split {
                header: len(&steps[1].1) - first_body + len(&steps[3].1) - second_body,
                payload: len(MSG),
                other: first_body - len(MSG) + second_body,
                ..Split::default()
            }
        );
        assert_eq!(poll.response_bytes, sent(&steps, Direction::Down));
        assert_eq!(got.c1, Some(got.all), "every request carried ?client=c1");
    }

    /// NDJSON over chunked: size lines, chunk CRLFs and line newlines are framing, the
    /// heartbeat line heartbeat, the message payload and the ready object other.
    #[test]
    fn ndjson_stream() {
        let steps = stream_conversation();

        let got = follow(&steps, Cut::Whole);

        let stream = got.only(Transport::Stream);
        assert_eq!(events(&stream), (1, 1, 1, 1, 0, 0));
        assert_eq!(
            stream.up,
            Split {
                header: len(&steps[0].1),
                ..Split::default()
            }
        );
        let first_chunk = len(chunk(&format!("{READY}\n")));
        assert_eq!(
            stream.down,
            Split {
                header: len(&steps[1].1) - first_chunk,
                // Three chunks of `xx\r\n` + data + `\r\n` (6 each), the last chunk (5), and the
                // newlines of the ready and message lines (2).
                framing: 3 * 6 + 5 + 2,
                payload: len(MSG),
                heartbeat: len(HEARTBEAT_LINE),
                other: len(READY),
            }
        );
        assert_eq!(stream.response_bytes, sent(&steps, Direction::Down));
        assert_eq!(got.c1, Some(got.all));
    }

    /// SSE over chunked: field names, `id:` lines and blank lines are framing, the message's
    /// `data:` value payload, the ready object other, the comment event heartbeat.
    #[test]
    fn sse_stream() {
        let steps = sse_conversation();

        let got = follow(&steps, Cut::Whole);

        let sse = got.only(Transport::Sse);
        assert_eq!(events(&sse), (1, 1, 1, 1, 0, 0));
        assert_eq!(sse.up.header, len(&steps[0].1));
        assert_eq!(sse.up.total(), len(&steps[0].1));
        // Chunk framing: `41\r\n` (the ready event is 65 bytes) and `36\r\n` (54) plus CRLF,
        // 6 each; `d\r\n` (13) plus CRLF, 5. SSE framing: the ready event's 31 bytes of fields,
        // `data: ` and its two newlines (39); the message's `id: 7\n`, `data: ` and two newlines
        // (14).
        assert_eq!(
            sse.down,
            Split {
                header: len(&steps[1].1),
                framing: 6 + 6 + 5 + 39 + 14,
                payload: len(MSG),
                heartbeat: len(SSE_HEARTBEAT),
                other: len(READY),
            }
        );
        assert_eq!(sse.response_bytes, sent(&steps, Direction::Down));
        assert_eq!(got.c1, Some(got.all));
    }

    /// WebSocket: the upgrade and 101 are header; frame headers and masks framing; server
    /// messages and client data payload; pings and pongs heartbeat; control objects and closes
    /// other.
    #[test]
    fn websocket() {
        let steps = ws_conversation();

        let got = follow(&steps, Cut::Whole);

        let ws = got.only(Transport::Ws);
        assert_eq!(events(&ws), (1, 1, 1, 2, 0, 0));
        assert_eq!(
            ws.up,
            Split {
                header: len(WS_UPGRADE),
                // The text frame's 2-byte header and 4-byte mask.
                framing: 6,
                payload: len(WS_PUBLISH),
                // The pong: header and mask, no payload.
                heartbeat: 6,
                // The close: header, mask and the 2-byte code.
                other: 8,
            }
        );
        assert_eq!(
            ws.down,
            Split {
                header: len(WS_101),
                // Two short headers and one with an extended length.
                framing: 2 + 2 + 4,
                payload: len(MSG) + len(long_message()),
                heartbeat: 2,
                // The ready object, and the close frame's header and code.
                other: len(READY) + 4,
            }
        );
        assert_eq!(
            (ws.request_bytes, ws.response_bytes),
            (sent(&steps, Direction::Up), sent(&steps, Direction::Down))
        );
        assert_eq!(got.c1, Some(got.all));
    }

    /// Posts count on the send side of the transport they name (its receiving side sees
    /// nothing): bodies up are payload (a chunked body's size lines and CRLFs framing),
    /// `100 Continue` is header, the `201` body other.
    #[test]
    fn posts_with_bodies() {
        let steps = post_conversation();

        let got = follow(&steps, Cut::Whole);

        assert_eq!(*got.all.get(Transport::Sse), Snapshot::default());
        let sse = *got.sends.get(Transport::Sse);
        assert_eq!(events(&sse), (2, 1, 1, 0, 0, 0));
        let created_head = len(json_head("201 Created", MSG));
        assert_eq!(
            sse.up,
            Split {
                header: len(&steps[0].1) + len(post_head("Transfer-Encoding: chunked\r\n")),
                // `1a\r\n` before the chunk, `\r\n` after it, and the last chunk.
                framing: 4 + 2 + 5,
                payload: 2 * len(POST_BODY),
                ..Split::default()
            }
        );
        assert_eq!(
            sse.down,
            Split {
                header: len(CONTINUE) + 2 * created_head,
                other: 2 * len(MSG),
                ..Split::default()
            }
        );
        assert_eq!(got.c1, Some(got.all));
    }

    /// Pipelined responses meet their requests in order: the stats answer is not counted, the
    /// HEAD answer has no body, and the connection moves from poll to long poll.
    #[test]
    fn pipelined_requests_match_their_responses() {
        let steps = pipelined_conversation();
        let poll_request = get("/api/poll?client=c1").replacen("GET", "HEAD", 1);
        let longpoll_request = get("/api/longpoll?since=7&client=c1");
        let answer_head = len(json_head("200 OK", EMPTY_POLL));

        let got = follow(&steps, Cut::Whole);

        let (poll, longpoll) = (
            *got.all.get(Transport::Poll),
            *got.all.get(Transport::LongPoll),
        );
        assert_eq!(events(&poll), (1, 1, 0, 0, 0, 0));
        assert_eq!(
            (poll.up.total(), poll.up.header),
            (len(&poll_request), len(&poll_request))
        );
        assert_eq!(
            (poll.down.total(), poll.down.header),
            (answer_head, answer_head)
        );
        assert_eq!(events(&longpoll), (1, 1, 1, 0, 1, 0));
        assert_eq!(
            (longpoll.up.total(), longpoll.up.header),
            (len(&longpoll_request), len(&longpoll_request))
        );
        assert_eq!(
            longpoll.down,
            Split {
                header: answer_head,
                other: len(EMPTY_POLL),
                ..Split::default()
            }
        );
        for t in [Transport::Stream, Transport::Sse, Transport::Ws] {
            assert_eq!(*got.all.get(t), Snapshot::default(), "{t}");
        }
        assert_eq!(got.c1, Some(got.all));
    }

    /// `head_end` ends a head where httparse does: at the first empty line after the request
    /// line, every line ending in CRLF or a bare LF, empty lines before the request line included.
    #[test]
    fn head_end_is_the_first_empty_line_after_the_request_line() {
        for (head, after) in [
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET"),
            ("GET / HTTP/1.1\nHost: x\n\n", "GET"),
            ("GET / HTTP/1.1\nHost: x\r\n\n", "\r\n"),
            ("GET / HTTP/1.1\r\nHost: x\n\r\n", "\n"),
            ("GET / HTTP/1.1\n\n", ""),
            ("\r\n\n\r\nGET / HTTP/1.1\nHost: x\n\n", "body"),
            (MIXED_POLL, ""),
        ] {
            let buf = format!("{head}{after}");

            assert_eq!(head_end(buf.as_bytes()), Some(head.len()), "{buf:?}");
        }
        for unfinished in [
            "",
            "\r\n\n\r",
            "GET / HTTP/1.1\nHost: x\n",
            "GET / HTTP/1.1\nHost: x\n\r",
        ] {
            assert_eq!(head_end(unfinished.as_bytes()), None, "{unfinished:?}");
        }
    }

    /// Bare-LF and mixed heads are counted like CRLF ones, each under its own request: bodies
    /// after them are found, empty lines before a request line are its header bytes (not a
    /// request of their own), and the connection moves from poll to sse and back.
    #[test]
    fn bare_lf_heads_are_followed() {
        let steps = bare_lf_conversation();

        let got = follow(&steps, Cut::Whole);

        let (poll, sse) = (
            *got.all.get(Transport::Poll),
            *got.sends.get(Transport::Sse),
        );
        let answer_head = len(json_head("200 OK", EMPTY_POLL));
        assert_eq!(events(&poll), (3, 2, 1, 0, 3, 0));
        assert_eq!(
            poll.up,
            Split {
                header: len(lf(&get("/api/poll?client=c1")))
                    + len(MIXED_POLL)
                    + len(get("/api/poll?client=c1")),
                ..Split::default()
            }
        );
        assert_eq!(
            poll.down,
            Split {
                header: 3 * answer_head,
                other: 3 * len(EMPTY_POLL),
                ..Split::default()
            }
        );
        assert_eq!(events(&sse), (2, 1, 0, 0, 0, 0));
        assert_eq!(
            sse.up,
            Split {
                header: len(lf(&sized_post_head()))
                    + len(lf(&post_head("Transfer-Encoding: chunked\r\n"))),
                // `1a\r\n` before the chunk, `\r\n` after it, and the last chunk.
                framing: 4 + 2 + 5,
                payload: 2 * len(POST_BODY),
                ..Split::default()
            }
        );
        assert_eq!(
            (
                poll.request_bytes + sse.request_bytes,
                poll.response_bytes + sse.response_bytes
            ),
            (sent(&steps, Direction::Up), sent(&steps, Direction::Down))
        );
        assert_eq!(got.c1, Some(got.all));
    }

    /// Every conversation above counts the same whole, cut in two at any byte (inside request
    /// and response heads, chunk-size lines, chunk data, SSE events, WebSocket frame headers and
    /// payloads), or fed one byte at a time.
    #[test]
    fn same_counts_however_the_bytes_are_cut() {
        for (name, steps) in [
            ("poll", poll_conversation()),
            ("stream", stream_conversation()),
            ("sse", sse_conversation()),
            ("ws", ws_conversation()),
            ("post", post_conversation()),
            ("pipelined", pipelined_conversation()),
            ("bare lf", bare_lf_conversation()),
        ] {
            let whole = follow(&steps, Cut::Whole);
            let total: usize = steps.iter().map(|s| s.1.len()).sum();
            for at in 1..total {
                assert_eq!(follow(&steps, Cut::At(at)), whole, "{name} cut at {at}");
            }
            assert_eq!(follow(&steps, Cut::Bytewise), whole, "{name} byte by byte");
        }
    }

    /// A closed connection is no longer open under the transport it last served.
    #[test]
    fn close_is_counted_where_the_connection_was_open() {
        let ledger = Ledger::new();
        let mut conn = Conversation::new(ledger.clone(), MAX_FRAME);
        for (_, bytes) in &pipelined_conversation()[..1] {
            conn.on_read(bytes).unwrap();
        }
        let open = |ledger: &Ledger| {
            let all = ledger.stats(None).unwrap().transports;
            (
                all.get(Transport::Poll).open,
                all.get(Transport::LongPoll).open,
            )
        };
        assert_eq!(open(&ledger), (0, 1));

        drop(conn);

        assert_eq!(open(&ledger), (0, 0));
        assert_eq!(
            ledger
                .stats(None)
                .unwrap()
                .transports
                .get(Transport::LongPoll)
                .connections,
            1
        );
    }

    /// A stall is counted under the transport whose response was blocked.
    #[test]
    fn stall_counts_a_slow_disconnect() {
        let ledger = Ledger::new();
        let mut conn = Conversation::new(ledger.clone(), MAX_FRAME);
        let steps = stream_conversation();
        conn.on_read(&steps[0].1).unwrap();
        conn.on_write(&steps[1].1);

        conn.on_stall(Duration::from_secs(5));

        let stream = counts(&ledger).only(Transport::Stream);
        assert_eq!(events(&stream), (1, 1, 1, 0, 0, 1));
    }

    /// A client frame declaring more than the limit is refused at its header; the frames before
    /// it in the same read are still counted.
    #[test]
    fn oversized_client_frame_is_refused() {
        let ledger = Ledger::new();
        let mut conn = Conversation::new(ledger.clone(), MAX_FRAME);
        conn.on_read(WS_UPGRADE.as_bytes()).unwrap();
        conn.on_write(WS_101.as_bytes());
        let mut wire = client_frame(0x1, WS_PUBLISH.as_bytes());
        wire.extend_from_slice(&[0x81, 0x80 | 127]);
        wire.extend_from_slice(&(MAX_FRAME + 1).to_be_bytes());
        wire.extend_from_slice(&[1, 2, 3, 4]);

        let refused = conn.on_read(&wire).unwrap_err();

        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
        let ws = counts(&ledger).only(Transport::Ws);
        assert_eq!(
            ws.up,
            Split {
                header: len(WS_UPGRADE),
                framing: 6,
                payload: len(WS_PUBLISH),
                ..Split::default()
            }
        );
    }
}
