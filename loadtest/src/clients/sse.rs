//! Server-Sent Events client: one `GET /api/sse?since=CURSOR` with `Accept: text/event-stream`,
//! read as a browser's `EventSource` reads it.
//!
//! The stream format (lines ending in CRLF, LF or CR, `data:` lines joined with `\n`, one space
//! after the colon dropped, comments and unknown fields ignored, a blank line ending a block) is
//! parsed by `sse-stream`, which follows the spec's parser; it hands over raw blocks. On top of
//! it, [`EventSource`] keeps the two things a browser keeps across blocks: the last event id,
//! which a reconnect sends as `Last-Event-ID` exactly like a browser, and the `retry:` reconnect
//! delay; and like a browser it dispatches only blocks that carry data.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sse_stream::{Sse, SseStream};
use tokio::sync::OwnedSemaphorePermit;

use crate::clients::{ClientOutcome, Phase, Receiver};
use crate::http1::HttpError;

/// Longest `retry:` honoured, so a hostile value cannot stall a run.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// The event type a block without `event:` has.
const DEFAULT_EVENT: &str = "message";
/// transport-lab's control events; their data is a control object.
const CONTROL_EVENTS: [&str; 2] = ["ready", "gap"];

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (empty means the default, `message`).
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// What `EventSource` keeps across the blocks of a stream.
#[derive(Debug, Default)]
pub struct EventSource {
    /// The last event id: sent as `Last-Event-ID` on reconnect.
    pub last_event_id: Option<String>,
    /// The reconnection time from the last `retry:`.
    pub retry: Option<Duration>,
}

impl EventSource {
    /// Takes one block; returns the event a browser would dispatch for it, if any. A block's
    /// `id:` and `retry:` count even when it has no data (and so dispatches nothing).
    pub fn on_block(&mut self, block: Sse) -> Option<SseEvent> {
        if let Some(id) = block.id {
            self.last_event_id = Some(id);
        }
        if let Some(ms) = block.retry {
            self.retry = Some(Duration::from_millis(ms));
        }
        Some(SseEvent {
            event: block.event.unwrap_or_default(),
            data: block.data?,
        })
    }
}

pub async fn run(phase: Arc<Phase>, index: u64, permit: OwnedSemaphorePermit) -> ClientOutcome {
    let mut receiver = Receiver::new(phase.clone(), index, permit);
    let mut last_event_id: Option<String> = None;
    loop {
        let mut source = EventSource::default();
        let result = tokio::select! {
            () = phase.stop.cancelled() => break,
            result = read_events(&mut receiver, &mut source, last_event_id.as_deref()) => result,
        };
        if source.last_event_id.is_some() {
            last_event_id = source.last_event_id.clone();
        }
        if !receiver.ended(result).await {
            break;
        }
        // EventSource waits the server's `retry` before reconnecting; so do we (bounded).
        let wait = source.retry.unwrap_or_default().min(MAX_RETRY);
        tokio::select! {
            () = phase.stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    receiver.finish()
}

async fn read_events(
    receiver: &mut Receiver,
    source: &mut EventSource,
    last_event_id: Option<&str>,
) -> Result<(), HttpError> {
    let phase = receiver.phase.clone();
    // The first connection uses the phase cursor; a reconnect, like a browser's, the last id.
    let path = phase.request_path(
        if last_event_id.is_some() {
            None
        } else {
            phase.start_cursor(receiver.index)
        },
        receiver.index,
    );
    let mut headers = phase.server(receiver.index).headers.clone();
    if let Some(id) = last_event_id {
        headers.push(("Last-Event-ID", id.to_owned()));
    }
    let body = receiver.subscribe(&path, &headers).await?;
    let mut blocks = std::pin::pin!(SseStream::new(body));
    while let Some(block) = blocks.next().await {
        let Some(event) = source.on_block(block.map_err(decode_error)?) else {
            continue;
        };
        match event.event.as_str() {
            "" | DEFAULT_EVENT => {
                if receiver.on_bytes(event.data.as_bytes()) == 0 && phase.lab {
                    receiver.on_control(event.data.as_bytes());
                }
            }
            name if CONTROL_EVENTS.contains(&name) => receiver.on_control(event.data.as_bytes()),
            _ => {
                receiver.on_bytes(event.data.as_bytes());
            }
        }
    }
    Ok(())
}

/// A decoding error, as the HTTP error it is underneath when it is one (a connection that went
/// away reads as such, worth a reconnect).
fn decode_error(e: sse_stream::Error) -> HttpError {
    match e {
        sse_stream::Error::Body(source) => match source.downcast::<HttpError>() {
            Ok(e) => *e,
            Err(other) => HttpError::Malformed(other.to_string()),
        },
        other => HttpError::Malformed(format!("SSE: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sse_stream::SseByteStream;

    /// Feeds `chunks`, one read each, through the decoder and an [`EventSource`].
    async fn parse_all(chunks: &[&[u8]]) -> (Vec<SseEvent>, EventSource) {
        let reads = chunks
            .iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>();
        let mut blocks = SseByteStream::new(futures_util::stream::iter(reads));
        let mut source = EventSource::default();
        let mut events = Vec::new();
        while let Some(block) = blocks.next().await {
            events.extend(source.on_block(block.unwrap()));
        }
        (events, source)
    }

    fn event(data: &str) -> SseEvent {
        SseEvent {
            event: String::new(),
            data: data.into(),
        }
    }

    /// transport-lab's own framing, split at awkward places.
    #[tokio::test]
    async fn parses_transport_labs_events() {
        let (events, source) = parse_all(&[
            b"retry: 2000\nevent: ready\nid: 0\ndata: {\"type\":\"ready\",\"since\":0}\n\n: heart",
            b"beat\n\nid: 1\ndata: {\"id\":1}\n",
            b"\nid: 2\nda",
            b"ta: {\"id\":2}\n\n",
        ])
        .await;
        assert_eq!(
            events,
            [
                SseEvent {
                    event: "ready".into(),
                    data: "{\"type\":\"ready\",\"since\":0}".into()
                },
                event("{\"id\":1}"),
                event("{\"id\":2}"),
            ]
        );
        assert_eq!(source.last_event_id.as_deref(), Some("2"));
        assert_eq!(source.retry, Some(Duration::from_millis(2000)));
    }

    /// The spec's corner cases: CR and CRLF line ends (also split across chunks), multi-line
    /// data, no space after the colon, a field without colon, an event without data, a BOM.
    #[tokio::test]
    async fn follows_the_spec() {
        let (events, source) = parse_all(&[
            b"\xEF\xBB\xBFdata:a\r",
            b"\ndata:  b\rdata\r\n\r\nevent: x\nid: 7\n\ndata: z\n\n",
        ])
        .await;
        assert_eq!(events, [event("a\n b\n"), event("z")]);
        // An event without data dispatches nothing, but its id still counts.
        assert_eq!(source.last_event_id.as_deref(), Some("7"));
    }

    /// What the server sends (a `ready`, messages with ids, a `gap`, a heartbeat comment) gives
    /// the same events and last id however the reads split it: at every byte boundary, and one
    /// byte per read.
    #[tokio::test]
    async fn any_split_gives_the_same_events() {
        let stream: &[u8] =
            b"retry: 1000\nevent: ready\ndata: {\"type\":\"ready\",\"since\":4}\n\n\
            id: 5\ndata: {\"id\":5,\"text\":\"a\"}\n\n: heartbeat\n\n\
            event: gap\ndata: {\"type\":\"gap\",\"missed\":3,\"reset\":false}\n\n\
            id: 9\ndata: {\"id\":9,\"text\":\"b\"}\n\n";
        let (whole, _) = parse_all(&[stream]).await;
        assert_eq!(
            whole.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
            ["ready", "", "gap", ""]
        );
        for at in 0..=stream.len() {
            let (events, source) = parse_all(&[&stream[..at], &stream[at..]]).await;
            assert_eq!(events, whole, "split at {at}");
            assert_eq!(source.last_event_id.as_deref(), Some("9"), "split at {at}");
            assert_eq!(source.retry, Some(Duration::from_millis(1000)));
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (events, source) = parse_all(&bytes).await;
        assert_eq!(events, whole);
        assert_eq!(source.last_event_id.as_deref(), Some("9"));
    }
}
