//! HTTP streaming: `GET /api/stream?room=NAME&since=ID`, one chunked response that never ends,
//! carrying newline-delimited JSON. Each line is one chunk: a message object, or a control object
//! with a `type` (`ready` first, `gap` when history was lost, `heartbeat` while idle, `presence`
//! when the room's head count changes).
//!
//! Hand-framed: each item is written as its own chunk, so what a reader sees on the wire is
//! exactly `<hex length>\r\n<line>\r\n`, the cost the ledger counts and the pages teach.

use std::convert::Infallible;

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use futures_util::stream;
use protocol::wire::NDJSON_HEARTBEAT;
use protocol::{Control, RoomName};

use crate::error::AppError;
use crate::state::AppState;
use crate::transports::feed::{Event, Feed};
use crate::transports::{Subscribe, Transport, presence, streaming_response, subscriber};

pub async fn stream(
    request: Subscribe,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let room = request.open_room(&state).await?;
    let feed = Feed::new(
        &room,
        request.since.as_ref(),
        subscriber(&request, &room, Transport::Stream, &state),
        state.shutdown.streams().clone(),
        request.peer_gone,
    );
    let body = stream::unfold(feed, |mut feed| async move {
        let line = frame(feed.next().await, feed.room().name())?;
        Some((Ok::<_, Infallible>(line), feed))
    });
    Ok(streaming_response("application/x-ndjson", body))
}

/// One NDJSON line per event; `None` ends the response.
fn frame(event: Event, room: &RoomName) -> Option<Bytes> {
    let line = |control: Control| Bytes::from(control.to_json() + "\n");
    match event {
        Event::Ready { since, epoch, node } => Some(line(Control::Ready {
            room: None,
            since,
            epoch,
            node: node.as_deref().map(str::to_owned),
        })),
        Event::Gap {
            missed,
            reset,
            since,
            epoch,
        } => Some(line(Control::Gap {
            room: None,
            missed,
            reset,
            since,
            epoch,
        })),
        Event::Message(message) => Some(message.ndjson_line()),
        Event::Presence(count) => Some(line(presence(room, count))),
        // Valid NDJSON, so line-by-line readers need no special case.
        Event::Heartbeat => Some(Bytes::from_static(NDJSON_HEARTBEAT)),
        Event::Shutdown | Event::PeerGone => None,
    }
}
