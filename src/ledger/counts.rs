//! The counters one transport keeps (globally, or for one client), and their JSON snapshot.
//!
//! Bytes are split by direction (up: client to server, down: server to client) and by kind, so a
//! page can show what a transport's bytes are *for*. The down split is complete by construction:
//! every byte written is classified as it is written, so
//! `response_bytes = response_header_bytes + framing_bytes + payload_bytes + heartbeat_bytes + other_bytes`
//! holds at every instant, not just on average.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// What a run of bytes on the wire is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HTTP request line or status line and headers (WebSocket: the upgrade exchange).
    Header,
    /// Structure around data: chunk-size lines and their CRLFs, SSE field names and blank lines,
    /// NDJSON newlines, WebSocket frame headers and masking keys.
    Framing,
    /// Message JSON delivered (down), or what the client sent to be published (up).
    Payload,
    /// Keep-alive traffic: SSE comments, NDJSON heartbeat lines, whole WebSocket ping/pong frames.
    Heartbeat,
    /// Everything else: poll envelopes, control objects (ready, gap, ack, error), close frames,
    /// error bodies.
    Other,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Self::Header,
        Self::Framing,
        Self::Payload,
        Self::Heartbeat,
        Self::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Framing => "framing",
            Self::Payload => "payload",
            Self::Heartbeat => "heartbeat",
            Self::Other => "other",
        }
    }
}

/// Which way bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: requests, request bodies, client WebSocket frames.
    Up,
    /// Server to client: responses, stream bodies, server WebSocket frames.
    Down,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// Live counters, updated from every connection's I/O without locks.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
    up: [AtomicU64; 5],
    down: [AtomicU64; 5],
    messages: AtomicU64,
    empty_responses: AtomicU64,
    slow_disconnects: AtomicU64,
    /// Requests that arrived as HTTP/2 streams (the rest were HTTP/1.1).
    http2_requests: AtomicU64,
    /// TLS's own bytes (record headers, tags, handshake), up and down: what a connection on the
    /// TLS port sent and received beyond the HTTP bytes counted in the split. Kept apart from
    /// the split so its totals mean the same on either port.
    tls: [AtomicU64; 2],
}

impl Counters {
    pub fn add_bytes(&self, direction: Direction, kind: Kind, n: u64) {
        let split = match direction {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        };
        split[kind as usize].fetch_add(n, Relaxed);
    }
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }
    pub fn add_message(&self) {
        self.messages.fetch_add(1, Relaxed);
    }
    pub fn add_empty_response(&self) {
        self.empty_responses.fetch_add(1, Relaxed);
    }
    pub fn add_slow_disconnect(&self) {
        self.slow_disconnects.fetch_add(1, Relaxed);
    }
    pub fn add_http2_request(&self) {
        self.http2_requests.fetch_add(1, Relaxed);
    }
    /// TLS overhead changed by `delta` bytes in `direction`. It can shrink for a moment: TLS
    /// reads ahead of what it has decrypted, so a read can take in a record whose plaintext is
    /// counted at the next read. Never below zero.
    pub fn add_tls(&self, direction: Direction, delta: i64) {
        let counter = &self.tls[direction as usize];
        if delta >= 0 {
            counter.fetch_add(delta as u64, Relaxed);
        } else {
            let _ = counter.fetch_update(Relaxed, Relaxed, |n| {
                Some(n.saturating_sub(delta.unsigned_abs()))
            });
        }
    }
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
    }
    pub fn connection_closed(&self) {
        // Never below zero, even if a close were ever counted twice.
        let _ = self
            .open
            .fetch_update(Relaxed, Relaxed, |open| open.checked_sub(1));
    }
    pub fn open(&self) -> u64 {
        self.open.load(Relaxed)
    }

    /// Back to zero (a room started over), all but `open`: the connections open now are still
    /// open, and each will count itself closed once.
    pub fn clear(&self) {
        for counter in self.up.iter().chain(&self.down).chain([
            &self.requests,
            &self.connections,
            &self.messages,
            &self.empty_responses,
            &self.slow_disconnects,
            &self.http2_requests,
            &self.tls[0],
            &self.tls[1],
        ]) {
            counter.store(0, Relaxed);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let split = |a: &[AtomicU64; 5]| Split {
            header: a[0].load(Relaxed),
            framing: a[1].load(Relaxed),
            payload: a[2].load(Relaxed),
            heartbeat: a[3].load(Relaxed),
            other: a[4].load(Relaxed),
        };
        let (up, down) = (split(&self.up), split(&self.down));
        Snapshot {
            requests: self.requests.load(Relaxed),
            connections: self.connections.load(Relaxed),
            open: self.open.load(Relaxed),
            request_bytes: up.total(),
            request_header_bytes: up.header,
            response_bytes: down.total(),
            response_header_bytes: down.header,
            framing_bytes: down.framing,
            payload_bytes: down.payload,
            heartbeat_bytes: down.heartbeat,
            other_bytes: down.other,
            messages: self.messages.load(Relaxed),
            empty_responses: self.empty_responses.load(Relaxed),
            slow_disconnects: self.slow_disconnects.load(Relaxed),
            http2_requests: self.http2_requests.load(Relaxed),
            tls_request_bytes: self.tls[0].load(Relaxed),
            tls_response_bytes: self.tls[1].load(Relaxed),
            up,
            down,
        }
    }
}

/// Bytes of one direction by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub header: u64,
    pub framing: u64,
    pub payload: u64,
    pub heartbeat: u64,
    pub other: u64,
}

impl Split {
    pub fn total(&self) -> u64 {
        self.header + self.framing + self.payload + self.heartbeat + self.other
    }
    pub fn get(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Header => self.header,
            Kind::Framing => self.framing,
            Kind::Payload => self.payload,
            Kind::Heartbeat => self.heartbeat,
            Kind::Other => self.other,
        }
    }
}

/// One transport's counters at one instant, as `/api/stats` reports them.
///
/// The flat `*_bytes` fields after `response_header_bytes` are the down direction's split;
/// `up` and `down` give both directions by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// HTTP requests (a WebSocket handshake is one).
    pub requests: u64,
    /// TCP connections that carried a request for this transport (a keep-alive connection that
    /// moves on to another transport counts there too).
    pub connections: u64,
    /// Connections open now whose latest request was for this transport.
    pub open: u64,
    pub request_bytes: u64,
    pub request_header_bytes: u64,
    pub response_bytes: u64,
    pub response_header_bytes: u64,
    pub framing_bytes: u64,
    pub payload_bytes: u64,
    pub heartbeat_bytes: u64,
    pub other_bytes: u64,
    /// Messages delivered (a message in a poll answer, an SSE event, a line, a frame).
    pub messages: u64,
    /// Poll and long-poll answers that carried no message.
    pub empty_responses: u64,
    /// Connections closed because their client stopped reading for `--stall-timeout`.
    pub slow_disconnects: u64,
    /// Of `requests`, those that came as HTTP/2 streams; the rest were HTTP/1.1.
    #[serde(default)]
    pub http2_requests: u64,
    /// TLS overhead up (records, handshake), on top of `request_bytes`; 0 on the plain port.
    #[serde(default)]
    pub tls_request_bytes: u64,
    /// TLS overhead down, on top of `response_bytes`.
    #[serde(default)]
    pub tls_response_bytes: u64,
    pub up: Split,
    pub down: Split,
}

impl Split {
    fn since(&self, before: &Split) -> Split {
        Split {
            header: self.header.saturating_sub(before.header),
            framing: self.framing.saturating_sub(before.framing),
            payload: self.payload.saturating_sub(before.payload),
            heartbeat: self.heartbeat.saturating_sub(before.heartbeat),
            other: self.other.saturating_sub(before.other),
        }
    }
}

impl Snapshot {
    /// What changed since `before`: the cost of what happened in between. (`open` is the
    /// change in open connections, floored at zero.)
    pub fn since(&self, before: &Snapshot) -> Snapshot {
        let d = |after: u64, before: u64| after.saturating_sub(before);
        Snapshot {
            requests: d(self.requests, before.requests),
            connections: d(self.connections, before.connections),
            open: d(self.open, before.open),
            request_bytes: d(self.request_bytes, before.request_bytes),
            request_header_bytes: d(self.request_header_bytes, before.request_header_bytes),
            response_bytes: d(self.response_bytes, before.response_bytes),
            response_header_bytes: d(self.response_header_bytes, before.response_header_bytes),
            framing_bytes: d(self.framing_bytes, before.framing_bytes),
            payload_bytes: d(self.payload_bytes, before.payload_bytes),
            heartbeat_bytes: d(self.heartbeat_bytes, before.heartbeat_bytes),
            other_bytes: d(self.other_bytes, before.other_bytes),
            messages: d(self.messages, before.messages),
            empty_responses: d(self.empty_responses, before.empty_responses),
            slow_disconnects: d(self.slow_disconnects, before.slow_disconnects),
            http2_requests: d(self.http2_requests, before.http2_requests),
            tls_request_bytes: d(self.tls_request_bytes, before.tls_request_bytes),
            tls_response_bytes: d(self.tls_response_bytes, before.tls_response_bytes),
            up: self.up.since(&before.up),
            down: self.down.since(&before.down),
        }
    }
}
