//! Server-Sent Events: `GET /api/sse?room=NAME&since=ID`, a `text/event-stream` the browser's
//! `EventSource` reads and reconnects by itself.
//!
//! Each message is `id: <epoch>-<id>\ndata: <json>\n\n` (default event type, so `onmessage`
//! gets it); the `id:` is a cursor, so the browser's `Last-Event-ID` names the server's run.
//! The stream opens with a `retry:` hint and an `event: ready` carrying an `id:` (the starting
//! cursor), so even a client that received no message reconnects with a `Last-Event-ID` that loses
//! nothing. `Last-Event-ID` wins over `?since=` (see [`Subscribe`]). A change in the room's head
//! count is an `event: presence` without an `id:`, so it never moves the browser's cursor.

use std::convert::Infallible;

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use futures_util::stream;
use protocol::{Control, RoomName};

use crate::error::AppError;
use crate::state::AppState;
use crate::transports::feed::{Event, Feed};
use crate::transports::{
    EVENT_STREAM, Subscribe, Transport, presence, streaming_response, subscriber,
};

/// Milliseconds a browser waits before reconnecting: long enough not to hammer a restarting
/// server, short enough that a dropped stream is barely noticed.
pub const RETRY_MS: u64 = 2000;
/// A comment line: ignored by `EventSource`, but it keeps proxies and the socket alive.
const HEARTBEAT: &[u8] = b": heartbeat\n\n";

pub async fn sse(request: Subscribe, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let room = request.open_room(&state).await?;
    let feed = Feed::new(
        &room,
        request.since.as_ref(),
        subscriber(&request, &room, Transport::Sse, &state),
        state.shutdown.streams().clone(),
        request.peer_gone,
    );
    let body = stream::unfold(feed, |mut feed| async move {
        let event = frame(feed.next().await, feed.room().name())?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Ok(streaming_response(EVENT_STREAM, body))
}

/// One SSE event per feed event; `None` ends the response. The ready and gap events carry an
/// `id:` too, so the browser's `Last-Event-ID` is a safe cursor from the first byte on, and moves
/// to this run's epoch as soon as a reset is announced.
fn frame(event: Event, room: &RoomName) -> Option<Bytes> {
    match event {
        Event::Ready { since, epoch, node } => Some(Bytes::from(format!(
            "retry: {RETRY_MS}\nevent: ready\nid: {epoch}-{since}\ndata: {}\n\n",
            Control::Ready {
                room: None,
                since,
                epoch: epoch.clone(),
                node: node.as_deref().map(str::to_owned),
            }
            .to_json()
        ))),
        Event::Gap {
            missed,
            reset,
            since,
            epoch,
        } => Some(Bytes::from(format!(
            "event: gap\nid: {epoch}-{since}\ndata: {}\n\n",
            Control::Gap {
                room: None,
                missed,
                reset,
                since,
                epoch: epoch.clone()
            }
            .to_json()
        ))),
        Event::Message(message) => Some(message.sse_event()),
        Event::Presence(count) => Some(Bytes::from(format!(
            "event: presence\ndata: {}\n\n",
            presence(room, count).to_json()
        ))),
        Event::Heartbeat => Some(Bytes::from_static(HEARTBEAT)),
        Event::Shutdown | Event::PeerGone => None,
    }
}
