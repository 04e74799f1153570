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
//! It knows nothing of sockets (the [`wire`](super::wire) guard feeds it), so the whole state
//! machine can be driven, and tested, with byte slices cut anywhere: the counts must not depend
//! on how the kernel happened to split the stream.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use super::chunked::{Chunked, Piece};
use super::classify::{self, BodyClassifier, Format, Tally};
use super::counts::{Direction, Kind};
use super::ws_frames::{Frame, FrameParser, TooLarge};
use super::{Ledger, Target};
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
    Head(Vec<u8>),
    Body {
        remaining: u64,
        target: Option<Target>,
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
    Head(Vec<u8>),
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

/// Appends `rest` to `buf`; once it holds a whole head (through the blank line), returns the
/// head and how many bytes of `rest` it took.
fn take_head(buf: &mut Vec<u8>, rest: &[u8]) -> Option<(Vec<u8>, usize)> {
    let old = buf.len();
    let search_from = old.saturating_sub(3);
    buf.extend_from_slice(rest);
    let end = buf[search_from..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")?
        + search_from
        + 4;
    buf.truncate(end);
    Some((std::mem::take(buf), end - old))
}

/// Header lines of a head, as (lower-case name, trimmed value).
fn headers(head: &str) -> impl Iterator<Item = (String, &str)> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim()))
}

impl Target {
    fn apply(&self, direction: Direction, tally: &Tally) {
        for kind in Kind::ALL {
            self.add_bytes(direction, kind, tally.get(kind));
        }
        for _ in 0..tally.messages {
            self.add_message();
        }
        for _ in 0..tally.empty_responses {
            self.add_empty_response();
        }
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
            read: ReadState::Head(Vec::new()),
            write: WriteState::Head(Vec::new()),
            exchanges: VecDeque::new(),
            opened: None,
            max_client_frame,
        }
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
                ReadState::Head(buf) => match take_head(buf, rest) {
                    Some((head, used)) => {
                        rest = &rest[used..];
                        self.request_head(head);
                    }
                    None => {
                        if buf.len() > MAX_HEAD {
                            self.read = ReadState::Lost;
                        }
                        return Ok(());
                    }
                },
                ReadState::Body { remaining, target } => {
                    let take = rest
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    count(target, Direction::Up, Kind::Payload, take);
                    tap(
                        target,
                        |t| format!("→ {t} request body ({take} bytes)"),
                        &rest[..take],
                    );
                    rest = &rest[take..];
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.read = ReadState::Head(Vec::new());
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
                        self.read = ReadState::Head(Vec::new());
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
                WriteState::Head(buf) => match take_head(buf, rest) {
                    Some((head, used)) => {
                        rest = &rest[used..];
                        self.response_head(head);
                    }
                    None => {
                        if buf.len() > MAX_HEAD {
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
                        self.write = WriteState::Head(Vec::new());
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
                        self.write = WriteState::Head(Vec::new());
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

    fn request_head(&mut self, head: Vec<u8>) {
        let text = String::from_utf8_lossy(&head);
        let text = text.trim_start_matches("\r\n");
        let mut request_line = text.split("\r\n").next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default();
        let uri = request_line.next().unwrap_or_default();
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let (mut content_length, mut chunked) = (0u64, false);
        for (name, value) in headers(text) {
            match name.as_str() {
                "content-length" => content_length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
        let params = Params::query(query).unwrap_or_default();
        // A post counts under the transport it says it is sending for.
        let transport = if path == "/api/messages" {
            params.get("transport").and_then(Transport::from_name)
        } else {
            Transport::from_path(path)
        };
        let target = transport.map(|t| self.ledger.target(t, params.get("client")));
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
        tap(
            &target,
            |t| format!("→ {t} request head ({} bytes)", head.len()),
            &head,
        );
        self.exchanges.push_back(Exchange {
            target: target.clone(),
            is_head: method == "HEAD",
        });
        self.read = if chunked {
            ReadState::Chunked {
                parser: Chunked::default(),
                target,
            }
        } else if content_length > 0 {
            ReadState::Body {
                remaining: content_length,
                target,
            }
        } else {
            ReadState::Head(Vec::new())
        };
    }

    fn response_head(&mut self, head: Vec<u8>) {
        let text = String::from_utf8_lossy(&head);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut content_length, mut chunked, mut content_type) = (None, false, String::new());
        for (name, value) in headers(&text) {
            match name.as_str() {
                "content-length" => content_length = value.parse::<u64>().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "content-type" => content_type = value.to_ascii_lowercase(),
                _ => {}
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
        tap(
            &target,
            |t| format!("← {t} response head ({} bytes)", head.len()),
            &head,
        );

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
        let format = match (
            target.as_ref().map(|t| t.transport),
            status,
            content_type.split(';').next(),
        ) {
            (_, _, Some("text/event-stream")) => Format::Sse,
            (_, _, Some("application/x-ndjson")) => Format::Ndjson,
            (Some(Transport::Poll | Transport::LongPoll), 200, Some("application/json")) => {
                Format::PollJson
            }
            _ => Format::Opaque,
        };
        let body = BodyClassifier::new(format);
        self.write = if interim || is_head || status == 204 || status == 304 {
            WriteState::Head(Vec::new())
        } else if chunked {
            WriteState::Chunked {
                parser: Chunked::default(),
                body,
                target,
            }
        } else {
            match content_length {
                Some(0) => WriteState::Head(Vec::new()),
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
    } else {
        target.add_bytes(direction, Kind::Framing, frame.header_len);
        let message = direction == Direction::Down
            && frame.opcode == 0x1
            && classify::is_message(&frame.preview);
        let kind = if direction == Direction::Up || message {
            Kind::Payload
        } else {
            Kind::Other
        };
        target.add_bytes(direction, kind, frame.payload_len);
        if message {
            target.add_message();
        }
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
