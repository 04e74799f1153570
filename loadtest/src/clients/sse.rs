//! Server-Sent Events client: one `GET /api/sse?since=CURSOR` with `Accept: text/event-stream`,
//! parsed as the HTML spec's EventSource parser does.
//!
//! The parser is the spec's, not a shortcut: lines end in CRLF, LF or CR; `data:` lines of one
//! event are joined with `\n`; one space after the colon is dropped; comments (`:`) and unknown
//! fields are ignored; an event is dispatched at a blank line, and only if it has data. `id:`
//! sets the last event id, which a reconnect sends as `Last-Event-ID`, exactly like a browser, and
//! `retry:` sets the reconnect delay.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use crate::clients::{ClientOutcome, Phase, Receiver};
use crate::http1::HttpError;

/// Longest pending line or event data kept (a message is at most a few KiB).
const MAX_PENDING: usize = 1024 * 1024;
/// Longest `retry:` honoured, so a hostile value cannot stall a run.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (empty means the default, `message`).
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// The spec's stream parser, fed bytes as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF starting the next chunk belongs to that line end.
    after_cr: bool,
    /// Whether the UTF-8 BOM check at the start of the stream is done.
    started: bool,
    event: String,
    data: String,
    /// The last event id: sent as `Last-Event-ID` on reconnect.
    pub last_event_id: Option<String>,
    /// The reconnection time from the last `retry:`.
    pub retry: Option<Duration>,
}

impl SseParser {
    /// Feeds bytes; calls `on_event` for each dispatched event.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(SseEvent),
    ) -> Result<(), HttpError> {
        let mut bytes = bytes;
        if !self.started && !bytes.is_empty() {
            self.started = true;
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.on_line(&line) {
                        on_event(event);
                    }
                }
                _ => self.line.push(b),
            }
        }
        if self.line.len() > MAX_PENDING || self.data.len() > MAX_PENDING {
            return Err(HttpError::Malformed("SSE event too long".into()));
        }
        Ok(())
    }

    fn on_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data);
            let event = std::mem::take(&mut self.event);
            if data.is_empty() {
                return None;
            }
            // The spec removes the one trailing LF that the last data line added.
            let data = data.strip_suffix('\n').map(str::to_owned).unwrap_or(data);
            return Some(SseEvent { event, data });
        }
        if line[0] == b':' {
            return None;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_event_id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        None
    }
}

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut last_event_id: Option<String> = None;
    loop {
        let mut parser = SseParser::default();
        let result = tokio::select! {
            () = phase.stop.cancelled() => break,
            result = read_events(&mut receiver, &mut parser, last_event_id.as_deref()) => result,
        };
        if parser.last_event_id.is_some() {
            last_event_id = parser.last_event_id.clone();
        }
        if !receiver.ended(result).await {
            break;
        }
        // EventSource waits the server's `retry` before reconnecting; so do we (bounded).
        let wait = parser.retry.unwrap_or_default().min(MAX_RETRY);
        tokio::select! {
            () = phase.stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    receiver.finish()
}

async fn read_events(
    receiver: &mut Receiver,
    parser: &mut SseParser,
    last_event_id: Option<&str>,
) -> Result<(), HttpError> {
    let phase = receiver.phase.clone();
    // The first connection uses the phase cursor; a reconnect, like a browser's, the last id.
    let path = phase.request_path(
        if last_event_id.is_some() {
            None
        } else {
            phase.start_cursor
        },
        receiver.index,
    );
    let mut headers = phase.headers.clone();
    if let Some(id) = last_event_id {
        headers.push(("Last-Event-ID", id.to_owned()));
    }
    let (mut conn, head) = receiver.subscribe(&path, &headers).await?;
    let mut body = conn.body(&head);
    while let Some(data) = body.next_data().await? {
        parser.feed(&data, |event| match event.event.as_str() {
            "" | "message" => {
                if receiver.on_bytes(event.data.as_bytes()) == 0 && phase.lab {
                    receiver.on_control(event.data.as_bytes());
                }
            }
            "ready" | "gap" => receiver.on_control(event.data.as_bytes()),
            _ => {
                receiver.on_bytes(event.data.as_bytes());
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> (Vec<SseEvent>, SseParser) {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, |e| events.push(e)).unwrap();
        }
        (events, parser)
    }

    /// transport-lab's own framing, split at awkward places.
    #[test]
    fn parses_transport_labs_events() {
        let (events, parser) = parse_all(&[
            b"retry: 2000\nevent: ready\nid: 0\ndata: {\"type\":\"ready\",\"since\":0}\n\n: heart",
            b"beat\n\nid: 1\ndata: {\"id\":1}\n",
            b"\nid: 2\nda",
            b"ta: {\"id\":2}\n\n",
        ]);
        assert_eq!(
            events,
            [
                SseEvent {
                    event: "ready".into(),
                    data: "{\"type\":\"ready\",\"since\":0}".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "{\"id\":1}".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "{\"id\":2}".into()
                },
            ]
        );
        assert_eq!(parser.last_event_id.as_deref(), Some("2"));
        assert_eq!(parser.retry, Some(Duration::from_millis(2000)));
    }

    /// The spec's corner cases: CR and CRLF line ends (also split across chunks), multi-line
    /// data, no space after the colon, a field without colon, an event without data, a BOM.
    #[test]
    fn follows_the_spec() {
        let (events, parser) = parse_all(&[
            b"\xEF\xBB\xBFdata:a\r",
            b"\ndata:  b\rdata\r\n\r\nevent: x\nid: 7\n\ndata: z\n\n",
        ]);
        assert_eq!(
            events,
            [
                SseEvent {
                    event: String::new(),
                    data: "a\n b\n".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "z".into()
                },
            ]
        );
        // An event without data dispatches nothing, but its id still counts.
        assert_eq!(parser.last_event_id.as_deref(), Some("7"));
    }
}
