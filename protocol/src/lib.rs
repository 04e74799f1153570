//! What both ends of transport-lab must agree on, defined once: the server (`transport-lab`) and
//! the load generator (`loadtest`) both depend on this crate, so a transport's name, its path, the
//! shape of a control object or the bytes of a browser's request head cannot drift apart.
//!
//! # Layout
//! - [`transport`]: the five transports, their names, paths and labels.
//! - [`cursor`]: a reader's position, with the run of the server it belongs to.
//! - [`room`]: room names, and the lobby every request without one is in.
//! - [`wire`]: the message and control objects as JSON, and the NDJSON heartbeat line.
//! - [`headers`]: the curl-like and browser-like request header sets both sides measure with.

pub mod cursor;
pub mod headers;
pub mod room;
pub mod transport;
pub mod wire;

pub use cursor::{Cursor, Epoch};
pub use headers::{HeaderProfile, RequestKind};
pub use room::{LOBBY, RoomName};
pub use transport::Transport;
pub use wire::{ChatMessage, Control, PerTransport};
