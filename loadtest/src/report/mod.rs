//! What a run found, and the three ways it is shown: a table on stdout ([`table`]), JSON with
//! every figure ([`json`]) and a self-contained HTML page with SVG charts ([`html`]).
//!
//! Every "per message" figure divides by *delivered* messages (distinct messages received, summed
//! over clients), so a transport is charged for what it actually got to its clients: a short
//! poll that mostly answers "nothing new" pays for those empty answers in its per-message cost.

pub mod html;
pub mod json;
pub mod table;

use protocol::{HeaderProfile, Transport};
use serde::Serialize;

use crate::latency::LatencySummary;
use crate::redis::RedisUsage;
use crate::sequence::SequenceReport;
use crate::sysinfo::{MachineInfo, ProcSample};
use crate::wire::WireTotals;

/// One whole run: settings, machine, and one entry per transport.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub tool: &'static str,
    /// Base of every phase's run id (the phase adds a letter).
    pub run_id: String,
    pub started_unix_ms: u64,
    pub settings: Settings,
    pub machine: MachineInfo,
    /// Why the run ended early (Ctrl-C, --max-seconds), if it did: figures cover what was measured.
    pub interrupted: Option<String>,
    pub transports: Vec<TransportReport>,
}

/// The settings the run used (echoed so a JSON file explains itself).
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub url: String,
    pub publish_url: Option<String>,
    pub subscribe_url: Option<String>,
    pub clients: u64,
    pub messages: u64,
    /// `--rooms`: 1 is the lobby alone; more are `lt-0` .. `lt-{N-1}`.
    pub rooms: u64,
    pub rate: f64,
    pub payload_bytes: u64,
    pub poll_interval_ms: u64,
    pub longpoll_timeout_s: u64,
    /// `--socketio-direct-ws`: Socket.IO on a WebSocket from the start, no polling first.
    pub socketio_direct_ws: bool,
    /// `--http2`: the HTTP transports' requests as streams on shared HTTP/2 connections.
    pub http2: bool,
    /// With `--http2`, subscribers per connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_streams_per_conn: Option<u64>,
    pub warmup_s: f64,
    pub drain_s: f64,
    pub max_seconds: f64,
    pub headers: HeaderProfile,
    pub publishers: u64,
    /// `--server-pid`: the server processes sampled, their figures summed.
    pub server_pid: Vec<u32>,
    /// `--redis-url`: the Redis bus whose CPU was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
}

/// Figures for one transport.
#[derive(Debug, Clone, Serialize)]
pub struct TransportReport {
    pub transport: Transport,
    /// Its subscribers spoke HTTP/2 (`--http2`): rows of the same transport over HTTP/1.1 and
    /// HTTP/2 stand side by side in a bench, and this tells them apart.
    pub http2: bool,
    /// This phase's run id: in every probe token, and in every client id as `lt-<run>-<n>`
    /// (`lt-<run>-pub` for the publisher), so the server's own per-client ledger can be looked up.
    pub run_id: String,
    /// Clients started.
    pub clients: u64,
    /// Clients that subscribed (got `ready`, or a first answer).
    pub connected: u64,
    /// Clients that gave up (connection refused, errors past the retry limit).
    pub failed: u64,
    /// Warm-up messages published before the measured ones (no latency recorded for them).
    pub warmup_messages: u64,
    /// Messages the server accepted (2xx), warm-up included.
    pub published: u64,
    /// Publishes that failed (non-2xx or connection error).
    pub publish_errors: u64,
    /// The first of them: its sequence number, the server, and the answer or error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_publish_error: Option<String>,
    /// Worst lateness of an actual send behind its intended time: if large, the publisher (not
    /// the server) was the bottleneck, and latencies include that wait (by design).
    pub publish_lag_max_us: u64,
    /// Round trip of the publisher's POSTs (accepted ones), µs; no CDF points.
    pub publish_round_trip: LatencySummary,
    /// `published` x `connected`: what a lossless server delivers.
    pub expected_deliveries: u64,
    /// Summed over clients: delivered, lost, duplicated, reordered, foreign.
    pub sequence: SequenceReport,
    /// With `--rooms` above 1, the same per room, so a room that lost or got another room's
    /// messages shows by name; empty (and left out of the JSON) with one room.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<RoomReport>,
    /// With several subscribe URLs, the same per server (in the list's order), so the spread of
    /// subscribers and a server that lost what another published show by URL; empty (and left
    /// out of the JSON) with one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerShare>,
    /// Messages the server itself declared missed (gap notices).
    pub missed_by_gap: u64,
    pub reconnects: u64,
    /// Clients that saw at least one error, and the first error seen.
    pub clients_with_errors: u64,
    pub first_error: Option<String>,
    /// Delivery latency from intended send time, measured messages only.
    pub latency: LatencySummary,
    /// Everything the subscribers' sockets carried, connect to end.
    pub wire: WireTotals,
    /// What subscribing cost (summed at the moment each client became ready). Over HTTP/2 only
    /// the requests: a shared connection's bytes are no one client's.
    pub subscribe_wire: WireTotals,
    /// The headline figures, per delivered message.
    pub per_message: PerMessage,
    /// What the publisher's socket(s) carried (not included in `wire`).
    pub publisher_wire: WireTotals,
    /// Server CPU and memory, with --server-pid (summed over the servers).
    pub server: Option<ServerUsage>,
    /// Redis CPU, with --redis-url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisUsage>,
    pub connect_s: f64,
    pub publish_s: f64,
    pub drain_s: f64,
}

/// One room's share of a transport's run (`--rooms`).
#[derive(Debug, Clone, Serialize)]
pub struct RoomReport {
    /// Its name on the server (`lt-K`).
    pub room: String,
    /// Clients started in it, and those that subscribed.
    pub clients: u64,
    pub connected: u64,
    /// Its messages the server accepted.
    pub published: u64,
    /// `published` x `connected`.
    pub expected_deliveries: u64,
    /// Summed over its clients; `foreign` counts other rooms' messages they were sent.
    pub sequence: SequenceReport,
}

/// One server's share of a transport's run (several subscribe URLs).
#[derive(Debug, Clone, Serialize)]
pub struct ServerShare {
    /// Its place in the subscribe list (a list may name one server twice), from 0.
    pub index: usize,
    /// Its subscribe URL.
    pub url: String,
    /// Its `--node` name on a shared bus, as its `/healthz` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Clients started on it, and those that subscribed.
    pub clients: u64,
    pub connected: u64,
    /// Summed over its clients: what it delivered of everything published on any server.
    pub sequence: SequenceReport,
}

/// Subscriber cost divided by delivered messages.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PerMessage {
    pub bytes_down: f64,
    pub bytes_up: f64,
    pub requests: f64,
}

/// What the server process spent, from /proc.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub before_connect: ProcSample,
    pub after_connect: ProcSample,
    pub after_drain: ProcSample,
    /// CPU from the start of publishing to the end of the drain, per delivered message.
    pub cpu_us_per_message: f64,
    /// RSS growth from before to after connecting, per connected client.
    pub rss_bytes_per_connection: f64,
}

impl TransportReport {
    /// The transport's name, marked `h2` when it ran over HTTP/2: how tables name a row.
    pub fn label(&self) -> String {
        if self.http2 {
            format!("{} h2", self.transport.name())
        } else {
            self.transport.name().to_owned()
        }
    }

    /// Whether every accepted message reached every connected client of its room exactly once,
    /// in order, and nothing reached a client it was not for.
    pub fn is_clean(&self) -> bool {
        self.sequence.lost == 0
            && self.sequence.duplicated == 0
            && self.sequence.reordered == 0
            && self.sequence.foreign == 0
            && self.failed == 0
    }
}

/// Divides, giving 0 for an empty denominator (nothing delivered: nothing to divide).
pub fn per(total: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total as f64 / count as f64
    }
}
