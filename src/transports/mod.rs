//! The five transports, one file each, all reading the one [`Bus`](crate::bus::Bus):
//!
//! - [`short_poll`]: `GET /api/poll`, answered at once.
//! - [`long_poll`]: `GET /api/longpoll`, held until there is something new.
//! - [`stream`]: `GET /api/stream`, one chunked NDJSON response.
//! - [`sse`]: `GET /api/sse`, Server-Sent Events with `Last-Event-ID` resume.
//! - [`ws`]: `GET /api/ws`, WebSocket in both directions.
//!
//! [`client_frames`] reads the WebSocket client's frames, one at a time, with their close codes.
//! [`subscribe`] is the request seam all five share (cursor, client); [`feed`] the cursor loop the
//! three streaming ones share; [`batch`] the JSON both polls answer.

pub mod batch;
pub mod client_frames;
pub mod feed;
pub mod long_poll;
pub mod short_poll;
pub mod sse;
pub mod stream;
pub mod subscribe;
pub mod ws;

use std::convert::Infallible;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, Route, web};
use bytes::Bytes;
use futures_util::Stream;

pub use subscribe::Subscribe;

use crate::presence::Headcount;
use crate::room::Room;
use crate::state::AppState;
use feed::Subscriber;
use protocol::{Control, RoomName};

/// The five transports: defined once, in the `protocol` crate the loadtest shares.
pub use protocol::Transport;

/// The route that serves `transport` at its [`Transport::path`]: the one place a transport's name
/// meets its handler.
pub fn route(transport: Transport) -> Route {
    match transport {
        Transport::Poll => web::get().to(short_poll::poll),
        Transport::LongPoll => web::get().to(long_poll::long_poll),
        Transport::Stream => web::get().to(stream::stream),
        Transport::Sse => web::get().to(sse::sse),
        Transport::Ws => web::get().to(ws::ws),
    }
}

/// How a streaming subscriber of `transport` is in `room`: a member for as long as it is open,
/// with the server's heartbeat (none for WebSocket, which pings) and presence events unless
/// they are turned off.
pub fn subscriber(
    request: &Subscribe,
    room: &Room,
    transport: Transport,
    state: &AppState,
) -> Subscriber {
    Subscriber {
        membership: request.join(room, transport),
        heartbeat: (transport != Transport::Ws).then(|| state.config.heartbeat_interval()),
        presence_events: !state.config.no_presence_events,
    }
}

/// The `presence` control object of `room`.
pub fn presence(room: &RoomName, count: Headcount) -> Control {
    Control::Presence {
        room: room.clone(),
        members: count.members,
        by_transport: count.by_transport,
    }
}

/// The SSE media type (the SSE transport and the stats stream).
pub const EVENT_STREAM: &str = "text/event-stream";

/// A response that stays open and is written piece by piece as `body` yields: the HTTP stream,
/// SSE and the stats and tap streams.
pub fn streaming_response(
    content_type: &'static str,
    body: impl Stream<Item = Result<Bytes, Infallible>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, "no-cache"))
        // Asks nginx-style proxies not to buffer the response, which would batch the pieces.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
