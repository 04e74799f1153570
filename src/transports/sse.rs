//! Server-Sent Events: `GET /api/sse?since=ID`, a `text/event-stream` the browser's `EventSource`
//! reads and reconnects by itself.
//!
//! Each message is `id: <id>\ndata: <json>\n\n` (default event type, so `onmessage` gets it).
//! The stream opens with a `retry:` hint and an `event: ready` carrying an `id:` (the starting
//! cursor), so even a client that received no message reconnects with a `Last-Event-ID` that loses
//! nothing. `Last-Event-ID` wins over `?since=`, because `EventSource` can only set the header on
//! reconnects and the query string is the one it was first opened with.

use std::convert::Infallible;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::stream;

use crate::error::AppError;
use crate::params::{self, Params};
use crate::state::AppState;
use crate::transports::feed::{self, Event, Feed};

/// Milliseconds a browser waits before reconnecting: long enough not to hammer a restarting
/// server, short enough that a dropped stream is barely noticed.
pub const RETRY_MS: u64 = 2000;
/// A comment line: ignored by `EventSource`, but it keeps proxies and the socket alive.
const HEARTBEAT: &[u8] = b": heartbeat\n\n";

pub async fn sse(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    // The ledger reads `client` from the wire itself; a malformed one is refused, not ignored.
    params.client()?;
    let since = match req.headers().get("last-event-id") {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| AppError::bad_request("Last-Event-ID must be a message id"))?;
            Some(params::parse_u64("Last-Event-ID", value.trim())?)
        }
        None => params.cursor("since")?,
    };
    let feed = Feed::new(
        &state.bus,
        since,
        Some(state.config.heartbeat_interval()),
        state.shutdown.streams().clone(),
    );
    let body = stream::unfold(feed, |mut feed| async move {
        let event = frame(feed.next().await)?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// One SSE event per feed event; `None` ends the response.
fn frame(event: Event) -> Option<Bytes> {
    match event {
        Event::Ready { since } => Some(Bytes::from(
            [
                format!("retry: {RETRY_MS}\nevent: ready\nid: {since}\ndata: ").as_bytes(),
                &feed::ready_json(since),
                b"\n\n",
            ]
            .concat(),
        )),
        Event::Gap { missed, reset } => Some(Bytes::from(
            [
                &b"event: gap\ndata: "[..],
                &feed::gap_json(missed, reset),
                b"\n\n",
            ]
            .concat(),
        )),
        Event::Message(message) => Some(message.sse_event()),
        Event::Heartbeat => Some(Bytes::from_static(HEARTBEAT)),
        Event::Shutdown => None,
    }
}
