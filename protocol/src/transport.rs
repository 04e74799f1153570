//! The six transports: the one definition of their names, paths and labels.
//!
//! Every place that names a transport (a URL, a stats key, a metrics label, a loadtest flag, a
//! lesson page, a `data-transport` attribute in the pages) gets the word from here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::headers::RequestKind;

/// One of the six transports, in teaching order: the five this project builds from the web
/// platform, then Socket.IO's protocol, built from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Poll,
    LongPoll,
    Stream,
    Sse,
    Ws,
    SocketIo,
}

impl Transport {
    /// How many there are: the length of every per-transport array.
    pub const COUNT: usize = 6;

    /// Every transport, in teaching order (the order of the pages and the stats).
    pub const ALL: [Transport; Self::COUNT] = [
        Self::Poll,
        Self::LongPoll,
        Self::Stream,
        Self::Sse,
        Self::Ws,
        Self::SocketIo,
    ];

    /// The transport's one name: in its URL, stats keys, metrics labels, loadtest flags and pages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::LongPoll => "longpoll",
            Self::Stream => "stream",
            Self::Sse => "sse",
            Self::Ws => "ws",
            Self::SocketIo => "socketio",
        }
    }

    /// The path a client subscribes at: `/api/<name>`, except Socket.IO's, which is where every
    /// `socket.io-client` looks by default.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Poll => "/api/poll",
            Self::LongPoll => "/api/longpoll",
            Self::Stream => "/api/stream",
            Self::Sse => "/api/sse",
            Self::Ws => "/api/ws",
            Self::SocketIo => "/socket.io/",
        }
    }

    /// What a person calls it, for page headings and report rows.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Poll => "short poll",
            Self::LongPoll => "long poll",
            Self::Stream => "HTTP stream",
            Self::Sse => "SSE",
            Self::Ws => "WebSocket",
            Self::SocketIo => "Socket.IO",
        }
    }

    /// Answered one request at a time, with a JSON batch (the polls), rather than holding one
    /// connection open for every message (the streams and the WebSocket).
    pub const fn is_poll(self) -> bool {
        matches!(self, Self::Poll | Self::LongPoll)
    }

    /// What a page subscribes with, which decides the browser's request headers: `fetch()` for
    /// the polls and for reading the stream's body, `EventSource`, `WebSocket`. Socket.IO starts
    /// on polling requests and upgrades: it is counted by the WebSocket it ends on.
    pub const fn request_kind(self) -> RequestKind {
        match self {
            Self::Poll | Self::LongPoll | Self::Stream => RequestKind::Fetch,
            Self::Sse => RequestKind::EventSource,
            Self::Ws | Self::SocketIo => RequestKind::WebSocket,
        }
    }

    /// Position in [`Self::ALL`], for per-transport arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The transport with this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The transport a request path belongs to ([`Self::path`], exactly).
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.path() == path)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name was not one of the six.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTransport(pub String);

impl fmt::Display for UnknownTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Transport::ALL.iter().map(|t| t.name()).collect();
        write!(
            f,
            "unknown transport {:?}: expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownTransport {}

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| UnknownTransport(s.to_owned()))
    }
}

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names, paths and positions agree, and parsing inverts naming.
    #[test]
    fn names_paths_and_indices_agree() {
        for (i, t) in Transport::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
            if t == Transport::SocketIo {
                assert_eq!(t.path(), "/socket.io/");
            } else {
                assert_eq!(t.path(), format!("/api/{}", t.name()));
            }
            assert_eq!(t.name().parse::<Transport>(), Ok(t));
            assert_eq!(Transport::from_path(t.path()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.name())
            );
            assert_eq!(
                serde_json::from_str::<Transport>(&format!("\"{t}\"")).unwrap(),
                t
            );
        }
        assert_eq!(Transport::from_path("/api/polls"), None);
        assert_eq!(Transport::from_path("/api/sse/x"), None);
        assert_eq!(
            "short".parse::<Transport>().unwrap_err().to_string(),
            "unknown transport \"short\": expected one of poll, longpoll, stream, sse, ws, socketio"
        );
    }
}
