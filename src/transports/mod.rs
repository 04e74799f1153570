//! The six transports, one file (or, for Socket.IO, one folder) each, all reading the one [`Bus`](crate::bus::Bus):
//!
//! - [`short_poll`]: `GET /api/poll`, answered at once.
//! - [`long_poll`]: `GET /api/longpoll`, held until there is something new.
//! - [`stream`]: `GET /api/stream`, one chunked NDJSON response.
//! - [`sse`]: `GET /api/sse`, Server-Sent Events with `Last-Event-ID` resume.
//! - [`ws`]: `GET /api/ws`, WebSocket in both directions.
//! - [`socketio`]: `/socket.io/`, Socket.IO's protocol (Engine.IO v4, Socket.IO v5) on the same
//!   bus: long polling that upgrades to a WebSocket, events and acknowledgements.
//!
//! [`client_frames`] reads the WebSocket client's frames, one at a time, with their close codes.
//! [`subscribe`] is the request seam all five share (cursor, client); [`feed`] the cursor loop the
//! three streaming ones share; [`batch`] the JSON both polls answer.

pub mod batch;
pub mod client_frames;
pub mod feed;
pub mod long_poll;
pub mod short_poll;
pub mod socketio;
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

use crate::ledger::wire::PeerGone;
use crate::presence::Headcount;
use crate::presence::MemberKey;
use crate::room::Room;
use crate::state::AppState;

/// The answer to a WebSocket asked for over HTTP/2 (RFC 8441's extended CONNECT, or a plain GET):
/// actix-web has no server side for it, so browsers, which are told nothing else in SETTINGS,
/// open their WebSockets over HTTP/1.1, on a connection of their own.
pub const NO_WEBSOCKET_OVER_H2: &str = "WebSocket over HTTP/2 (RFC 8441) is not supported here; \
     open the WebSocket over HTTP/1.1 (browsers do: a connection of its own, ALPN http/1.1)";
use feed::{Feed, Subscriber};
use protocol::{Control, RoomName};

/// The five transports: defined once, in the `protocol` crate the loadtest shares.
pub use protocol::Transport;

/// The routes that serve `transport` at its [`Transport::path`], and the methods they answer:
/// the one place a transport's name meets its handler. Only Socket.IO's client sends on its own
/// path (its polling phase POSTs its packets).
pub fn routes(transport: Transport) -> (Vec<Route>, &'static str) {
    let get = |route: Route| (vec![route], "GET");
    match transport {
        Transport::Poll => get(web::get().to(short_poll::poll)),
        Transport::LongPoll => get(web::get().to(long_poll::long_poll)),
        Transport::Stream => get(web::get().to(stream::stream)),
        Transport::Sse => get(web::get().to(sse::sse)),
        Transport::Ws => get(web::get().to(ws::ws)),
        Transport::SocketIo => (
            vec![web::get().to(socketio::get), web::post().to(socketio::post)],
            "GET, POST",
        ),
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
        heartbeat: (transport != Transport::Ws).then(|| request.heartbeat(state)),
        presence_events: !state.config.no_presence_events,
    }
}

/// A socket's feed of one of its rooms (WebSocket, Socket.IO): a member while it reads, no
/// heartbeat (the socket pings), presence events unless turned off. A socket reads several rooms,
/// each through one of these.
pub fn socket_feed(
    state: &AppState,
    room: &Room,
    key: MemberKey,
    transport: Transport,
    since: Option<&protocol::Cursor>,
    peer_gone: PeerGone,
) -> Feed {
    let subscriber = Subscriber {
        membership: room.join(key, transport),
        heartbeat: None,
        presence_events: !state.config.no_presence_events,
    };
    Feed::new(
        room,
        since,
        subscriber,
        state.shutdown.streams().clone(),
        peer_gone,
    )
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
