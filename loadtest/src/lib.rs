//! `loadtest`: drives transport-lab's six realtime transports (short poll, long poll, HTTP
//! streaming, Server-Sent Events, WebSocket, Socket.IO) under load and reports, per transport, what a user
//! would want to know before choosing one: delivery latency, whether anything was lost,
//! duplicated or reordered, and what each delivered message cost in bytes and requests.
//!
//! It is a library so the integration tests can run it in-process against a real server on an
//! ephemeral port; the `loadtest` binary is a thin CLI over [`run::run`] and [`bench::bench`].
//!
//! # Layout
//!
//! - [`cli`]: the command line (clap derive), its hard limits, and the run order of
//!   `--transport all`.
//! - [`run`]: orchestration: per transport, one phase of four steps (connect the clients,
//!   publish on schedule, drain, collect), one module each.
//! - [`publish_log`]: which messages the server accepted and their ordering floors, written by
//!   the publisher and read by every client.
//! - [`rooms`]: `--rooms N`: which room each client and each message is in, and a message's
//!   place in its room's own sequence.
//! - [`target`]: the URLs of the server under test, and the loopback guard.
//! - [`servers`]: several servers on one bus (URL lists): which server each subscriber and
//!   each publisher connection talks to.
//! - [`redis`]: `--redis-url`: the Redis bus's CPU time, read with `INFO cpu`.
//! - [`clients`]: one real protocol client per transport, each on its own connection
//!   (`short_poll`, `long_poll`, `stream`, `sse`, `ws`, `socketio`, named as the server names
//!   them).
//! - [`probe`]: the token in every message text (run id, sequence, intended send time) and the
//!   shared clock latency is measured on.
//! - [`sequence`]: per-client lost / duplicated / out-of-order checking.
//! - [`latency`]: hdrhistogram wrapper shared by a transport's clients.
//! - [`wire`]: the counting TCP stream every client reads and writes through.
//! - [`http1`]: hyper's connection-level HTTP/1.1 client over the counting stream: one
//!   kept-alive socket per client, `Host` first, bodies read as they arrive.
//! - [`http2`]: `--http2`: the h2 crate's client over the counting stream, prior knowledge
//!   (h2c); a phase's pool of connections, each shared by `--h2-streams-per-conn` clients.
//! - [`report`]: stdout table, `--json`, `--report` HTML with SVG charts.
//! - [`bench`]: `loadtest bench`, the standard suite and its Markdown table.
//! - [`curve`]: `loadtest curve`, the cost curve per transport.
//! - [`cluster`]: `loadtest cluster`, memory bus vs Redis bus, one and two servers, side by side.
//! - [`spawn`]: the transport-lab and redis-server processes `cluster` starts and stops.
//! - [`sysinfo`]: machine info and the servers' CPU/RSS from /proc.

pub mod bench;
pub mod cli;
pub mod clients;
pub mod cluster;
pub mod curve;
pub mod http1;
pub mod http2;
pub mod latency;
pub mod probe;
pub mod publish_log;
pub mod redis;
pub mod report;
pub mod rooms;
pub mod run;
pub mod sequence;
pub mod servers;
pub mod spawn;
pub mod sysinfo;
pub mod target;
pub mod wire;
