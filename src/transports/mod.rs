//! The five transports, one file each, all reading the one [`Bus`](crate::bus::Bus):
//!
//! - [`short_poll`]: `GET /api/poll`, answered at once.
//! - [`long_poll`]: `GET /api/longpoll`, held until there is something new.
//! - [`stream`]: `GET /api/stream`, one chunked NDJSON response.
//! - [`sse`]: `GET /api/sse`, Server-Sent Events with `Last-Event-ID` resume.
//! - [`ws`]: `GET /api/ws`, WebSocket in both directions.
//!
//! [`feed`] is the cursor loop the three streaming ones share; [`batch`] the JSON both polls answer.

pub mod batch;
pub mod feed;
pub mod long_poll;
pub mod short_poll;
pub mod sse;
pub mod stream;
pub mod ws;

/// The five transports: defined once, in the `protocol` crate the loadtest shares.
pub use protocol::Transport;
