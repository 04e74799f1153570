//! HTTP streaming: `GET /api/stream?since=ID`, one chunked response that never ends, carrying
//! newline-delimited JSON. Each line is one chunk: a message object, or a control object with a
//! `type` (`ready` first, `gap` when history was lost, `heartbeat` while idle).
//!
//! Hand-framed: each item is written as its own chunk, so what a reader sees on the wire is
//! exactly `<hex length>\r\n<line>\r\n`, the cost the ledger counts and the pages teach.

use std::convert::Infallible;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::stream;

use crate::error::AppError;
use crate::params::Params;
use crate::state::AppState;
use crate::transports::feed::{self, Event, Feed};

/// Sent while idle; valid NDJSON so line-by-line readers need no special case.
const HEARTBEAT: &[u8] = b"{\"type\":\"heartbeat\"}\n";

pub async fn stream(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::query(req.query_string())?;
    // The ledger reads `client` from the wire itself; a malformed one is refused, not ignored.
    params.client()?;
    let feed = Feed::new(
        &state.bus,
        params.cursor("since")?,
        Some(state.config.heartbeat_interval()),
        state.shutdown.streams().clone(),
    );
    let body = stream::unfold(feed, |mut feed| async move {
        let line = frame(feed.next().await)?;
        Some((Ok::<_, Infallible>(line), feed))
    });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/x-ndjson"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        // Asks nginx-style proxies not to buffer the response, which would batch the chunks.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// One NDJSON line per event; `None` ends the response.
fn frame(event: Event) -> Option<Bytes> {
    let with_newline = |json: Bytes| Bytes::from([&json[..], b"\n"].concat());
    match event {
        Event::Ready { since } => Some(with_newline(feed::ready_json(since))),
        Event::Gap { missed, reset } => Some(with_newline(feed::gap_json(missed, reset))),
        Event::Message(message) => Some(message.ndjson_line()),
        Event::Heartbeat => Some(Bytes::from_static(HEARTBEAT)),
        Event::Shutdown => None,
    }
}
