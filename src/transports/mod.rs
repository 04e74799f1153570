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

use serde::Serialize;

/// The five transports, named the same in URLs, stats keys, metrics labels, the loadtest and the
/// pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Poll,
    #[serde(rename = "longpoll")]
    LongPoll,
    Stream,
    Sse,
    Ws,
}

impl Transport {
    /// Every transport, in teaching order (the order of the pages and the stats).
    pub const ALL: [Transport; 5] = [
        Self::Poll,
        Self::LongPoll,
        Self::Stream,
        Self::Sse,
        Self::Ws,
    ];

    /// The transport's one name: `poll`, `longpoll`, `stream`, `sse`, `ws`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::LongPoll => "longpoll",
            Self::Stream => "stream",
            Self::Sse => "sse",
            Self::Ws => "ws",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The transport a request path belongs to (`/api/<name>`).
    pub fn from_path(path: &str) -> Option<Self> {
        path.strip_prefix("/api/").and_then(Self::from_name)
    }

    /// Position in [`Self::ALL`], for per-transport arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}
