//! Command-line and environment configuration.
//!
//! Every flag can also come from a `TRANSPORT_LAB_*` environment variable, so the same binary is
//! configured the same way on a laptop, in CI and behind a process manager. The defaults are the
//! documented constants below: `cargo run --release` needs nothing else.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use clap::builder::RangedU64ValueParser;

/// Where the server listens by default: loopback, so a first run exposes nothing to the network.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Messages kept for `since` / `Last-Event-ID` resume; older ones are reported as a gap.
pub const DEFAULT_HISTORY: usize = 1000;
/// Rooms that may exist at once, the lobby included.
pub const DEFAULT_MAX_ROOMS: usize = 1000;
/// Seconds an empty, unused room lives before it is dropped with its history.
pub const DEFAULT_ROOM_IDLE_S: u64 = 300;
/// Bytes all rooms' histories may hold together: 64 MiB, about 400,000 short messages.
pub const DEFAULT_MAX_HISTORY_BYTES: usize = 64 * 1024 * 1024;
/// Seconds a poll or long poll keeps its client a member of its room. A page short-polls every
/// second or two, and a long poll is back within a round trip, so 10 s spans a few missed polls.
pub const DEFAULT_PRESENCE_WINDOW_S: f64 = 10.0;
/// How long a long poll is held by default. Below the 30 s that many proxies allow an idle request.
pub const DEFAULT_LONG_POLL_TIMEOUT_S: u64 = 25;
/// The longest a client may ask a long poll to be held.
pub const MAX_LONG_POLL_TIMEOUT_S: u64 = 60;
/// Idle interval before a stream sends a heartbeat (and a WebSocket a ping). Well under the 60 s
/// read timeout of nginx's default proxy configuration, so proxies keep quiet streams open.
pub const DEFAULT_HEARTBEAT_S: f64 = 15.0;
/// Longest message text, in UTF-8 bytes.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 4096;
/// Longest request body (and WebSocket frame or message) accepted, whatever the text limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Response bytes actix buffers per connection before it stops pulling from the stream: the
/// bound on what a connection that cannot keep up holds (messages themselves stay in the shared
/// history, read by cursor).
pub const DEFAULT_WRITE_BUFFER_BYTES: usize = 32 * 1024;
/// A connection whose writes have been blocked this long (its client stopped reading) is closed.
pub const DEFAULT_STALL_TIMEOUT_S: f64 = 30.0;
/// Idle keep-alive connections close after this many seconds.
pub const DEFAULT_KEEP_ALIVE_S: u64 = 15;
/// Seconds a client has to send a whole request head (slowloris protection); then 408.
pub const DEFAULT_REQUEST_TIMEOUT_S: u64 = 5;
/// Open connections in all; beyond it new ones get 503. Well above a classroom's needs.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Open connections from one IP address. A browser tab uses up to 6 HTTP/1.1 connections plus its
/// WebSockets; 256 leaves room for a classroom behind one NAT address.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// Messages one IP address may publish per second (POSTs and WebSocket frames), sustained.
pub const DEFAULT_POSTS_PER_SECOND: f64 = 20.0;
/// Messages one IP address may publish in a burst.
pub const DEFAULT_POST_BURST: u32 = 40;
/// How long shutdown waits for open connections after telling every stream to end.
pub const DEFAULT_SHUTDOWN_TIMEOUT_S: u64 = 5;

/// transport-lab: one chat room over short polling, long polling, HTTP streaming, Server-Sent
/// Events and WebSocket, with the cost of each measured on the wire.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the chosen address is logged).
    #[arg(long, env = "TRANSPORT_LAB_BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,

    /// A second listener, HTTPS, offering HTTP/2 and HTTP/1.1 by ALPN (e.g. 127.0.0.1:8443).
    /// Off unless given; the plain listener stays as it is.
    #[arg(long, env = "TRANSPORT_LAB_TLS_BIND")]
    pub tls_bind: Option<SocketAddr>,

    /// The TLS port's certificate chain (PEM). Without it a self-signed certificate for
    /// localhost, 127.0.0.1 and the --bind host is made at start (or reused from --tls-dir).
    #[arg(long, env = "TRANSPORT_LAB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "TRANSPORT_LAB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Where the self-signed certificate and its key are kept (and reused on the next start),
    /// so `curl --cacert DIR/cert.pem` and a browser's exception survive restarts.
    /// Default: transport-lab-tls in the system's temporary directory.
    #[arg(long, env = "TRANSPORT_LAB_TLS_DIR")]
    pub tls_dir: Option<std::path::PathBuf>,

    /// The message bus: `memory` (this process only, the default) or `redis://HOST:PORT[/DB]`,
    /// where several servers share every room's ids, history and presence (see the README's
    /// "Beyond one machine"). Nothing else changes without it.
    #[arg(long, env = "TRANSPORT_LAB_BUS", default_value = "memory", value_parser = parse_bus)]
    pub bus: BusUrl,

    /// This server's name on a shared bus: in `/api/stats`, `/metrics`, the `ready` notice and an
    /// `X-Transport-Lab-Node` header on every answer (with `--bus redis` only). Default: made up
    /// at start. 1 to 32 of `A-Z a-z 0-9 - _ .`.
    #[arg(long, env = "TRANSPORT_LAB_NODE", value_parser = parse_node)]
    pub node: Option<String>,

    /// Messages kept in history for `since` / `Last-Event-ID` resume; older cursors get a gap notice.
    #[arg(long, env = "TRANSPORT_LAB_HISTORY", default_value_t = DEFAULT_HISTORY,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub history: usize,

    /// Rooms that may exist at once, the lobby included; a request for a new one beyond it gets 503.
    #[arg(long, env = "TRANSPORT_LAB_MAX_ROOMS", default_value_t = DEFAULT_MAX_ROOMS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_rooms: usize,

    /// Seconds an empty room nobody reads or writes lives before it is dropped with its history
    /// (its ids continue if it comes back).
    #[arg(long, env = "TRANSPORT_LAB_ROOM_IDLE", default_value_t = DEFAULT_ROOM_IDLE_S,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub room_idle: u64,

    /// Bytes all rooms' histories may hold together; past it, the room being written to forgets
    /// its oldest messages first.
    #[arg(long, env = "TRANSPORT_LAB_MAX_HISTORY_BYTES", default_value_t = DEFAULT_MAX_HISTORY_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1024..=1 << 40))]
    pub max_history_bytes: usize,

    /// Seconds a poll or long poll keeps its client a member of its room (decimals allowed).
    #[arg(long, env = "TRANSPORT_LAB_PRESENCE_WINDOW", default_value_t = DEFAULT_PRESENCE_WINDOW_S,
          value_parser = parse_positive_secs)]
    pub presence_window: f64,

    /// Do not send `presence` events on streams and WebSockets (the measurement of per-message
    /// cost turns them off: they are a cost of people coming and going, not of messages).
    #[arg(long, env = "TRANSPORT_LAB_NO_PRESENCE_EVENTS")]
    pub no_presence_events: bool,

    /// Label `/metrics` series with the room too (one series per room and transport: use with
    /// care, rooms are made by clients).
    #[arg(long, env = "TRANSPORT_LAB_METRICS_ROOMS")]
    pub metrics_rooms: bool,

    /// Default seconds a long poll is held when the request names no `timeout` (at most 60).
    #[arg(long, env = "TRANSPORT_LAB_LONG_POLL_TIMEOUT", default_value_t = DEFAULT_LONG_POLL_TIMEOUT_S,
          value_parser = clap::value_parser!(u64).range(0..=MAX_LONG_POLL_TIMEOUT_S))]
    pub long_poll_timeout: u64,

    /// Seconds of silence before a stream sends a heartbeat and a WebSocket a ping (decimals allowed).
    #[arg(long, env = "TRANSPORT_LAB_HEARTBEAT", default_value_t = DEFAULT_HEARTBEAT_S,
          value_parser = parse_positive_secs)]
    pub heartbeat: f64,

    /// Longest message text in UTF-8 bytes; longer posts get 413.
    #[arg(long, env = "TRANSPORT_LAB_MAX_TEXT_BYTES", default_value_t = DEFAULT_MAX_TEXT_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=16 * 1024 * 1024))]
    pub max_text_bytes: usize,

    /// Seconds shutdown waits for connections after telling every stream to end.
    #[arg(long, env = "TRANSPORT_LAB_SHUTDOWN_TIMEOUT", default_value_t = DEFAULT_SHUTDOWN_TIMEOUT_S)]
    pub shutdown_timeout: u64,

    /// Longest request body and WebSocket frame or message, in bytes (413, or close 1009).
    #[arg(long, env = "TRANSPORT_LAB_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1024..=16 * 1024 * 1024))]
    pub max_body_bytes: usize,

    /// Response bytes buffered per connection before the server stops reading ahead for it.
    #[arg(long, env = "TRANSPORT_LAB_WRITE_BUFFER_BYTES", default_value_t = DEFAULT_WRITE_BUFFER_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1024..=16 * 1024 * 1024))]
    pub write_buffer_bytes: usize,

    /// Seconds a connection may stay unable to write (its client stopped reading) before it is closed.
    #[arg(long, env = "TRANSPORT_LAB_STALL_TIMEOUT", default_value_t = DEFAULT_STALL_TIMEOUT_S,
          value_parser = parse_positive_secs)]
    pub stall_timeout: f64,

    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "TRANSPORT_LAB_KEEP_ALIVE", default_value_t = DEFAULT_KEEP_ALIVE_S,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub keep_alive: u64,

    /// Seconds a client has to send a complete request head; slower ones get 408.
    #[arg(long, env = "TRANSPORT_LAB_REQUEST_TIMEOUT", default_value_t = DEFAULT_REQUEST_TIMEOUT_S,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout: u64,

    /// Open connections in all; more get 503 with Retry-After.
    #[arg(long, env = "TRANSPORT_LAB_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: usize,

    /// Open connections per client IP address; more get 503 with Retry-After.
    #[arg(long, env = "TRANSPORT_LAB_MAX_CONNECTIONS_PER_IP", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_IP,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections_per_ip: usize,

    /// Messages one IP address may publish per second, sustained (more get 429 with Retry-After).
    #[arg(long, env = "TRANSPORT_LAB_POSTS_PER_SECOND", default_value_t = DEFAULT_POSTS_PER_SECOND,
          value_parser = parse_rate)]
    pub posts_per_second: f64,

    /// Messages one IP address may publish in a burst.
    #[arg(long, env = "TRANSPORT_LAB_POST_BURST", default_value_t = DEFAULT_POST_BURST,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub post_burst: u32,

    /// Apply the per-IP limits to loopback clients too (by default local tools and the loadtest
    /// are exempt).
    #[arg(long, env = "TRANSPORT_LAB_LIMIT_LOOPBACK")]
    pub limit_loopback: bool,

    /// Origins allowed to open WebSockets, comma-separated (`http://host:port`); by default only
    /// the server's own origin (the Origin's host:port must equal the Host header). Handshakes
    /// without an Origin header (not from a browser) are always allowed.
    #[arg(long, env = "TRANSPORT_LAB_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Host names this server answers to besides `localhost` and IP addresses, comma-separated
    /// (`teacher-laptop.local`); a request naming another host gets 421 (DNS rebinding).
    #[arg(long, env = "TRANSPORT_LAB_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Origins allowed to call the /api endpoints cross-origin (CORS), comma-separated; none by default.
    #[arg(long, env = "TRANSPORT_LAB_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// The teacher token: `POST /api/reset` (starting a room over) from another machine needs it
    /// as `Authorization: Bearer TOKEN`. 16 to 128 of `A-Z a-z 0-9 - _ .`; without it one is made
    /// up at start and printed in the log. From the server's own machine none is needed.
    #[arg(long, env = "TRANSPORT_LAB_TEACHER_TOKEN", value_parser = parse_teacher_token)]
    pub teacher_token: Option<String>,

    /// Starting a room over needs the teacher token even from the server's own machine: behind a
    /// reverse proxy on the same machine, every request arrives from loopback.
    #[arg(long, env = "TRANSPORT_LAB_TEACHER_TOKEN_REQUIRED")]
    pub teacher_token_required: bool,

    /// Client ids (`?client=`) whose WebSocket handshakes are refused with a 403, on `/api/ws` and
    /// `/socket.io/`, comma-separated: the fault a proxy that strips `Upgrade` makes, so a class can
    /// watch Socket.IO stay on long polling.
    #[arg(long, env = "TRANSPORT_LAB_REFUSE_WEBSOCKET", value_delimiter = ',')]
    pub refuse_websocket: Vec<String>,

    /// Let every client set its own faults in the fault lab (`/api/lab`); without it, only this
    /// machine (loopback) may.
    #[arg(long, env = "TRANSPORT_LAB_LAB")]
    pub lab: bool,

    /// Worker threads serving connections (default: one per CPU).
    #[arg(long, env = "TRANSPORT_LAB_WORKERS")]
    pub workers: Option<usize>,
}

impl Config {
    /// The heartbeat interval as a duration.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs_f64(self.heartbeat)
    }

    /// What the bus is built with.
    pub fn bus_settings(&self) -> crate::bus::Settings {
        crate::bus::Settings {
            history: self.history,
            history_bytes: self.max_history_bytes,
            max_rooms: self.max_rooms,
            room_idle: Duration::from_secs(self.room_idle),
            presence_window: Duration::from_secs_f64(self.presence_window),
        }
    }

    /// How long a connection may stay unable to write.
    pub fn stall_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.stall_timeout)
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.001..=1_000_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected a rate between 0.001 and 1000000 per second, got {s:?}"
        )),
    }
}

fn parse_teacher_token(s: &str) -> Result<String, String> {
    let valid = (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(s.to_owned())
    } else {
        Err("a teacher token is 16 to 128 of A-Z a-z 0-9 - _ .".into())
    }
}

fn parse_positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.01..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("expected seconds between 0.01 and 3600, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented defaults are what an empty command line produces.
    #[test]
    fn defaults_match_documented_constants() {
        let c = Config::parse_from(["transport-lab"]);
        assert_eq!(c.bind, DEFAULT_BIND.parse().unwrap());
        assert_eq!(
            (c.history, c.long_poll_timeout, c.max_text_bytes),
            (1000, 25, 4096)
        );
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(15));
    }

    /// Out-of-range values are refused at start, not discovered later.
    #[test]
    fn rejects_out_of_range() {
        for args in [
            &["x", "--history", "0"][..],
            &["x", "--long-poll-timeout", "61"],
            &["x", "--heartbeat", "0"],
            &["x", "--heartbeat", "nan"],
            &["x", "--max-text-bytes", "0"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "{args:?} accepted");
        }
    }
}

/// Where the bus lives (`--bus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusUrl {
    /// In this process: the embedded default.
    Memory,
    /// A Redis server, as a `redis://` URL.
    Redis(String),
}

fn parse_bus(value: &str) -> Result<BusUrl, String> {
    if value == "memory" {
        return Ok(BusUrl::Memory);
    }
    if !value.starts_with("redis://") {
        return Err(format!(
            "must be memory or redis://HOST:PORT[/DB]; got {value:?}"
        ));
    }
    redis::IntoConnectionInfo::into_connection_info(value)
        .map_err(|e| format!("not a valid redis:// URL ({e}): {value:?}"))?;
    Ok(BusUrl::Redis(value.to_owned()))
}

fn parse_node(value: &str) -> Result<String, String> {
    let valid = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err("must be 1 to 32 of A-Z a-z 0-9 - _ .".to_owned())
    }
}
