//! The wire ledger: what each transport really costs, counted on the TCP socket.
//!
//! [`wire`] wraps every accepted connection and hands what crosses it to [`http1`], which parses
//! it (HTTP/1.1 heads, bodies, chunk framing, SSE and NDJSON lines, WebSocket frames), so each
//! byte is attributed to the request and transport it belongs to, and classified as header,
//! framing, payload, heartbeat or other, at the moment it is read or written. Nothing is
//! estimated from parsed headers.
//!
//! Each transport has two sides, counted apart ([`Sides`]): receiving (its subscribe requests,
//! streams and sockets) and sending "via" it (`POST /api/messages?transport=..`, how the pages
//! send through a transport that cannot send itself). A WebSocket sends on its own socket, so its
//! frames up stay on its receiving side, as bytes up.
//!
//! Counts go to the transport's global [`Counters`], to its room's (`?room=`, the lobby when
//! absent; a WebSocket's bytes count under the room its handshake named) and, when the request
//! carried `?client=ID`, to that client's too. The client and room registries are bounded: idle
//! entries are evicted, and a flood of made-up ids or names cannot grow memory past
//! [`MAX_CLIENTS`] and [`MAX_ROOMS`].

pub mod chunked;
pub mod classify;
pub mod counts;
pub mod faults;
pub mod follower;
pub mod hpack;
pub mod http1;
pub mod http2;
pub mod metered;
pub mod metrics;
pub mod tap;
pub mod wire;
pub mod ws_frames;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use counts::{Counters, Direction, Kind, Snapshot, Split};
use tap::Tap;

use crate::transports::Transport;
use protocol::{LOBBY, RoomName};

/// Most clients tracked at once; beyond it the least recently seen idle client makes room.
pub const MAX_CLIENTS: usize = 10_000;
/// A client with no open connection and no traffic for this long is forgotten.
pub const CLIENT_IDLE_EVICT: Duration = Duration::from_secs(600);
/// Idle clients forgotten at once when the registry is full.
const EVICT_BATCH: usize = MAX_CLIENTS / 100;
/// Most rooms counted at once: ten times the default room cap, so every room the bus holds is
/// counted, and a flood of made-up names is bounded.
pub const MAX_ROOMS: usize = 10_000;
/// Longest client id: an id, not a place to store data.
pub const MAX_CLIENT_ID_BYTES: usize = 64;

/// A cheap-to-clone handle to all counters.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

/// Which side of a transport a request is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Subscribing and being delivered to: what the transport costs to receive with.
    Receive,
    /// A post sent "via" the transport (`?transport=`): what sending costs beside it.
    Send,
}

/// Counters per transport for each side, so a page can show what receiving costs without the
/// posts it made, and what its posts cost on their own.
#[derive(Default)]
pub struct Sides {
    receive: [Slot; Transport::COUNT],
    send: [Slot; Transport::COUNT],
}

/// One transport's counters on one side, allocated when first counted into. A client (and a
/// room) mostly uses one or two of the twelve, and every browser tab and loadtest connection
/// has a client of its own: twelve counters in place were 1.8 KiB of every idle connection's
/// memory, twelve empty slots are 192 bytes.
#[derive(Default)]
struct Slot(OnceLock<Box<Counters>>);

impl Slot {
    fn get(&self) -> &Counters {
        self.0.get_or_init(Box::default)
    }
    /// The counters, if anything was counted: reading and clearing allocate nothing.
    fn peek(&self) -> Option<&Counters> {
        self.0.get().map(|counters| &**counters)
    }
    fn snapshot(&self) -> Snapshot {
        self.peek().map(Counters::snapshot).unwrap_or_default()
    }
}

impl Sides {
    fn get(&self, side: Side, transport: Transport) -> &Counters {
        match side {
            Side::Receive => self.receive[transport.index()].get(),
            Side::Send => self.send[transport.index()].get(),
        }
    }
    fn counted(&self) -> impl Iterator<Item = &Counters> {
        self.receive.iter().chain(&self.send).filter_map(Slot::peek)
    }
    fn open_connections(&self) -> u64 {
        self.counted().map(Counters::open).sum()
    }
    fn stats(&self) -> (TransportStats, TransportStats) {
        (
            TransportStats::from(&self.receive),
            TransportStats::from(&self.send),
        )
    }
}

struct Inner {
    started: Instant,
    transports: Sides,
    /// HTTP/2 connection frames and TLS bytes of connections that never carried a request.
    connection: Counters,
    clients: Mutex<Clients>,
    rooms: Mutex<HashMap<RoomName, Arc<RoomCounters>>>,
}

/// One room's counters, per transport.
pub struct RoomCounters {
    transports: Sides,
    /// Milliseconds since the ledger started, at the room's last traffic.
    last_seen_ms: AtomicU64,
}

impl RoomCounters {
    fn open_connections(&self) -> u64 {
        self.transports.open_connections()
    }
}

struct Clients {
    by_id: HashMap<Arc<str>, Arc<Client>>,
    last_sweep: Instant,
}

/// One client's counters and tap.
pub struct Client {
    pub id: Arc<str>,
    transports: Sides,
    /// Milliseconds since the ledger started, at the client's last traffic.
    last_seen_ms: AtomicU64,
    pub tap: Tap,
    /// What the fault lab does to this client's connections (nothing, unless set).
    pub faults: faults::Faults,
}

impl Client {
    fn open_connections(&self) -> u64 {
        self.transports.open_connections()
    }
}

/// Where a request's bytes are counted: a transport, and maybe a client.
#[derive(Clone)]
pub struct Target {
    pub transport: Transport,
    pub side: Side,
    pub client: Option<Arc<Client>>,
    pub room: Option<Arc<RoomCounters>>,
    ledger: Ledger,
}

impl Target {
    fn each(&self, f: impl Fn(&Counters)) {
        f(self.ledger.inner.transports.get(self.side, self.transport));
        if self.room.is_none() && self.client.is_none() {
            return;
        }
        // One clock read for both, and a store only when the millisecond moved: a message
        // fanned out to a room's thousand subscribers would otherwise write the room's one
        // `last_seen_ms` a thousand times, from every core (the fan-out flame graph's
        // `elapsed_ms` and cache-line traffic).
        let now_ms = self.ledger.elapsed_ms();
        let touch = |last_seen: &AtomicU64| {
            if last_seen.load(Relaxed) != now_ms {
                last_seen.store(now_ms, Relaxed);
            }
        };
        if let Some(room) = &self.room {
            f(room.transports.get(self.side, self.transport));
            touch(&room.last_seen_ms);
        }
        if let Some(client) = &self.client {
            f(client.transports.get(self.side, self.transport));
            touch(&client.last_seen_ms);
        }
    }
    pub fn add_bytes(&self, direction: Direction, kind: Kind, n: u64) {
        if n > 0 {
            self.each(|c| c.add_bytes(direction, kind, n));
        }
    }
    /// One frame or event: its framing and its content (`kind`) bytes, and whether it delivered
    /// a chat message, in one pass over the counters (the same sums as `add_bytes` twice and
    /// `add_message`, for a third of the clock reads; the WebSocket follower's per-frame cost).
    pub fn add_frame(
        &self,
        direction: Direction,
        framing: u64,
        (kind, content): (Kind, u64),
        message: bool,
    ) {
        self.each(|c| {
            if framing > 0 {
                c.add_bytes(direction, Kind::Framing, framing);
            }
            if content > 0 {
                c.add_bytes(direction, kind, content);
            }
            if message {
                c.add_message();
            }
        });
    }
    pub fn add_request(&self) {
        self.each(Counters::add_request);
    }
    pub fn add_message(&self) {
        self.each(Counters::add_message);
    }
    pub fn add_empty_response(&self) {
        self.each(Counters::add_empty_response);
    }
    pub fn add_slow_disconnect(&self) {
        self.each(Counters::add_slow_disconnect);
    }
    pub fn add_http2_request(&self) {
        self.each(Counters::add_http2_request);
    }
    pub fn add_tls(&self, direction: Direction, delta: i64) {
        if delta != 0 {
            self.each(|c| c.add_tls(direction, delta));
        }
    }
    pub fn connection_opened(&self) {
        self.each(Counters::connection_opened);
    }
    pub fn connection_closed(&self) {
        self.each(Counters::connection_closed);
    }
    /// A connection that carries requests for several targets at once (HTTP/2) opens under
    /// this one: counted once per level (the transport's, the room's, the client's) that none of
    /// the targets it already carries shares, so three connections carrying twenty clients are
    /// three connections of the transport and one of each client. Returns the levels counted,
    /// for [`Self::closed_at`].
    pub fn opened_beside(&self, carried: &[(Target, Levels)]) -> Levels {
        let shares = |other: &Target| other.transport == self.transport && other.side == self.side;
        let same = |a: &Option<Arc<RoomCounters>>, b: &Option<Arc<RoomCounters>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let same_client = |a: &Option<Arc<Client>>, b: &Option<Arc<Client>>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let levels = Levels {
            transport: !carried.iter().any(|(t, _)| shares(t)),
            room: self.room.is_some()
                && !carried
                    .iter()
                    .any(|(t, _)| shares(t) && same(&t.room, &self.room)),
            client: self.client.is_some()
                && !carried
                    .iter()
                    .any(|(t, _)| shares(t) && same_client(&t.client, &self.client)),
        };
        self.at(&levels, Counters::connection_opened);
        levels
    }

    /// The connection that [`Self::opened_beside`] counted closes.
    pub fn closed_at(&self, levels: &Levels) {
        self.at(levels, Counters::connection_closed);
    }

    fn at(&self, levels: &Levels, f: impl Fn(&Counters)) {
        if levels.transport {
            f(self.ledger.inner.transports.get(self.side, self.transport));
        }
        if let (true, Some(room)) = (levels.room, &self.room) {
            f(room.transports.get(self.side, self.transport));
        }
        if let (true, Some(client)) = (levels.client, &self.client) {
            f(client.transports.get(self.side, self.transport));
        }
    }

    /// Whether two targets count into the same counters.
    pub fn same_as(&self, other: &Target) -> bool {
        fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        self.transport == other.transport
            && self.side == other.side
            && same(&self.client, &other.client)
            && same(&self.room, &other.room)
    }

    /// The client's tap, when one is being watched.
    pub fn tap(&self) -> Option<&Tap> {
        self.client
            .as_ref()
            .map(|c| &c.tap)
            .filter(|tap| tap.is_watched())
    }
}

/// Which of a target's counters a connection was counted in (see [`Target::opened_beside`]).
#[derive(Debug, Clone, Copy)]
pub struct Levels {
    transport: bool,
    room: bool,
    client: bool,
}

/// `/api/stats`: every transport's snapshot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Receiving: subscribe requests, streams and sockets (a socket's own sends included).
    pub transports: TransportStats,
    /// Sending via each transport: the posts that named it (`?transport=`).
    pub sends: TransportStats,
    /// Server-wide only: bytes of connections that never carried a transport request (an
    /// HTTP/2 connection's preface and settings, a TLS handshake with nothing after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<Snapshot>,
    pub uptime_s: f64,
}

/// One snapshot per transport, serialized as an object keyed by transport name, in
/// [`Transport::ALL`]'s order: `{"poll":{..},"longpoll":{..},..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportStats([Snapshot; Transport::COUNT]);

impl TransportStats {
    fn from(counters: &[Slot; Transport::COUNT]) -> Self {
        Self(std::array::from_fn(|i| counters[i].snapshot()))
    }
    pub fn get(&self, transport: Transport) -> &Snapshot {
        &self.0[transport.index()]
    }
}

impl Serialize for TransportStats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(Transport::COUNT))?;
        for t in Transport::ALL {
            map.serialize_entry(t.name(), self.get(t))?;
        }
        map.end()
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new()
    }
}

impl Ledger {
    pub fn new() -> Self {
        let started = Instant::now();
        Self {
            inner: Arc::new(Inner {
                started,
                transports: Default::default(),
                connection: Counters::default(),
                clients: Mutex::new(Clients {
                    by_id: HashMap::new(),
                    last_sweep: started,
                }),
                rooms: Mutex::default(),
            }),
        }
    }

    /// Where bytes of a connection that never carried a request are counted.
    pub fn connection(&self) -> &Counters {
        &self.inner.connection
    }

    /// The counting target for a transport request in `room` (the lobby when `None`),
    /// registering the client and the room if new (and valid).
    pub fn target(
        &self,
        transport: Transport,
        client_id: Option<&str>,
        room: Option<&str>,
    ) -> Target {
        self.target_on(Side::Receive, transport, client_id, room)
    }

    /// As [`Self::target`], on `side`: a post that names `transport` counts on its send side.
    pub fn target_on(
        &self,
        side: Side,
        transport: Transport,
        client_id: Option<&str>,
        room: Option<&str>,
    ) -> Target {
        Target {
            transport,
            side,
            client: client_id.and_then(|id| self.client_or_register(id)),
            room: self.room_or_register(room.unwrap_or(LOBBY)),
            ledger: self.clone(),
        }
    }

    /// A room's counters, registered now if new. `None` for an invalid name, or when the registry
    /// is full of rooms that all have open connections.
    fn room_or_register(&self, name: &str) -> Option<Arc<RoomCounters>> {
        let name = RoomName::parse(name).ok()?;
        let mut rooms = crate::lock::lock(&self.inner.rooms);
        if let Some(room) = rooms.get(&name) {
            return Some(Arc::clone(room));
        }
        if rooms.len() >= MAX_ROOMS {
            // The idle ones go first, the least recently seen half of them.
            let mut idle: Vec<(u64, RoomName)> = rooms
                .iter()
                .filter(|(_, r)| r.open_connections() == 0)
                .map(|(n, r)| (r.last_seen_ms.load(Relaxed), n.clone()))
                .collect();
            if idle.is_empty() {
                return None;
            }
            idle.sort_unstable();
            for (_, name) in idle.iter().take(idle.len().div_ceil(2)) {
                rooms.remove(name);
            }
        }
        let room = Arc::new(RoomCounters {
            transports: Sides::default(),
            last_seen_ms: AtomicU64::new(self.elapsed_ms()),
        });
        rooms.insert(name, Arc::clone(&room));
        Some(room)
    }

    /// Clears one room's counters, both sides, but for its open connections (a room started
    /// over); `false` for a room with no traffic counted. The transports' and clients' own
    /// counters keep what they counted.
    pub fn clear_room(&self, room: &str) -> bool {
        let Some(counters) = crate::lock::lock(&self.inner.rooms).get(room).cloned() else {
            return false;
        };
        for counters in counters.transports.counted() {
            counters.clear();
        }
        true
    }

    /// One room's counters; `None` for a room with no traffic counted.
    pub fn room_stats(&self, room: &str) -> Option<Stats> {
        let counters = crate::lock::lock(&self.inner.rooms).get(room).cloned()?;
        let (transports, sends) = counters.transports.stats();
        Some(Stats {
            client: None,
            room: Some(room.to_owned()),
            transports,
            sends,
            connection: None,
            uptime_s: self.inner.started.elapsed().as_secs_f64(),
        })
    }

    /// Every counted room's counters, by name.
    pub fn rooms(&self) -> Vec<(RoomName, TransportStats)> {
        let rooms = crate::lock::lock(&self.inner.rooms);
        let mut all: Vec<_> = rooms
            .iter()
            .map(|(n, r)| (n.clone(), TransportStats::from(&r.transports.receive)))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Every transport's counters, or one client's; `None` for an unknown client.
    pub fn stats(&self, client_id: Option<&str>) -> Option<Stats> {
        let (transports, sends) = match client_id {
            None => self.inner.transports.stats(),
            Some(id) => self.client(id)?.transports.stats(),
        };
        Some(Stats {
            client: client_id.map(str::to_owned),
            room: None,
            transports,
            sends,
            connection: client_id
                .is_none()
                .then(|| self.inner.connection.snapshot()),
            uptime_s: self.inner.started.elapsed().as_secs_f64(),
        })
    }

    /// A registered client.
    pub fn client(&self, id: &str) -> Option<Arc<Client>> {
        self.clients().by_id.get(id).cloned()
    }

    /// A client, registered now if it is new. `None` for an invalid id, or when the registry is
    /// full of clients that all have open connections.
    pub fn client_or_register(&self, id: &str) -> Option<Arc<Client>> {
        if !valid_client_id(id) {
            return None;
        }
        let now_ms = self.elapsed_ms();
        let mut clients = self.clients();
        if let Some(client) = clients.by_id.get(id) {
            return Some(Arc::clone(client));
        }
        if clients.last_sweep.elapsed() >= Duration::from_secs(60)
            || clients.by_id.len() >= MAX_CLIENTS
        {
            clients.last_sweep = Instant::now();
            let idle_ms = CLIENT_IDLE_EVICT.as_millis() as u64;
            clients.by_id.retain(|_, c| {
                c.open_connections() > 0
                    || now_ms.saturating_sub(c.last_seen_ms.load(Relaxed)) < idle_ms
            });
        }
        if clients.by_id.len() >= MAX_CLIENTS {
            // Free a batch of the least recently seen idle clients at once, so a flood of new ids
            // costs one scan per batch rather than one per id.
            let mut idle: Vec<(u64, Arc<str>)> = clients
                .by_id
                .values()
                .filter(|c| c.open_connections() == 0)
                .map(|c| (c.last_seen_ms.load(Relaxed), Arc::clone(&c.id)))
                .collect();
            if idle.is_empty() {
                return None;
            }
            let batch = EVICT_BATCH.min(idle.len());
            if batch < idle.len() {
                idle.select_nth_unstable_by_key(batch, |(seen, _)| *seen);
            }
            for (_, id) in idle.into_iter().take(batch) {
                clients.by_id.remove(&id);
            }
        }
        let id: Arc<str> = Arc::from(id);
        let client = Arc::new(Client {
            id: Arc::clone(&id),
            transports: Sides::default(),
            last_seen_ms: AtomicU64::new(now_ms),
            tap: Tap::default(),
            faults: faults::Faults::default(),
        });
        clients.by_id.insert(id, Arc::clone(&client));
        Some(client)
    }

    /// How many clients are registered now.
    pub fn client_count(&self) -> usize {
        self.clients().by_id.len()
    }

    fn elapsed_ms(&self) -> u64 {
        self.inner.started.elapsed().as_millis() as u64
    }

    fn clients(&self) -> MutexGuard<'_, Clients> {
        crate::lock::lock(&self.inner.clients)
    }
}

/// A `?client=` that is not 1 to 64 of `A-Z a-z 0-9 - _ .`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client must be 1 to {MAX_CLIENT_ID_BYTES} characters of letters, digits, '-', '_' or '.'")]
pub struct InvalidClientId;

/// `id` if it is one the ledger counts under; the rule requests are refused by.
pub fn check_client_id(id: &str) -> Result<&str, InvalidClientId> {
    if valid_client_id(id) {
        Ok(id)
    } else {
        Err(InvalidClientId)
    }
}

/// 1 to 64 characters of `A-Z a-z 0-9 - _ .`: safe in URLs, logs and metric labels.
pub fn valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's counters cost twelve empty slots until counted into, then one side's
    /// counters: the 1.6 KiB of every idle connection the lazy slots saved stays saved, and an
    /// uncounted side reads as zeros, as it did when its counters were always there.
    #[test]
    fn counters_are_allocated_when_first_counted_into() {
        assert!(
            std::mem::size_of::<Sides>() <= 2 * Transport::COUNT * 16,
            "Sides is {} bytes",
            std::mem::size_of::<Sides>()
        );
        let ledger = Ledger::new();
        let target = ledger.target(Transport::Sse, Some("alice"), None);
        let client = ledger.client("alice").expect("registered by target()");
        let allocated = |c: &Client| c.transports.counted().count();
        assert_eq!(allocated(&client), 0);
        target.add_bytes(Direction::Down, Kind::Payload, 40);
        target.add_message();
        assert_eq!(allocated(&client), 1);
        let stats = ledger.stats(Some("alice")).expect("a known client");
        assert_eq!(stats.transports.get(Transport::Sse).messages, 1);
        assert_eq!(*stats.transports.get(Transport::Ws), Snapshot::default());
        assert_eq!(*stats.sends.get(Transport::Sse), Snapshot::default());
        assert_eq!(client.open_connections(), 0);
    }

    /// Counts go to the transport and to the client; other clients and transports see nothing.
    #[test]
    fn counts_reach_transport_and_client() {
        let ledger = Ledger::new();
        let target = ledger.target(Transport::Sse, Some("alice"), None);
        target.add_request();
        target.add_bytes(Direction::Down, Kind::Payload, 40);
        target.add_bytes(Direction::Down, Kind::Framing, 12);
        ledger
            .target(Transport::Sse, None, None)
            .add_bytes(Direction::Up, Kind::Header, 100);

        let all = *ledger.stats(None).unwrap().transports.get(Transport::Sse);
        let alice = *ledger
            .stats(Some("alice"))
            .unwrap()
            .transports
            .get(Transport::Sse);
        assert_eq!(
            (all.requests, all.response_bytes, all.request_bytes),
            (1, 52, 100)
        );
        assert_eq!(
            (
                alice.requests,
                alice.response_bytes,
                alice.request_bytes,
                alice.payload_bytes
            ),
            (1, 52, 0, 40)
        );
        assert_eq!(
            *ledger
                .stats(Some("alice"))
                .unwrap()
                .transports
                .get(Transport::Ws),
            Snapshot::default()
        );
        assert!(ledger.stats(Some("bob")).is_none());
        let lobby = ledger.room_stats("lobby").unwrap();
        assert_eq!(lobby.transports.get(Transport::Sse).response_bytes, 52);
        let math = ledger.target(Transport::Ws, None, Some("math"));
        math.add_bytes(Direction::Down, Kind::Payload, 7);
        let math = ledger.room_stats("math").unwrap();
        assert_eq!(math.transports.get(Transport::Ws).response_bytes, 7);
        assert_eq!(
            ledger
                .room_stats("lobby")
                .unwrap()
                .transports
                .get(Transport::Ws)
                .response_bytes,
            0
        );
        assert!(ledger.room_stats("art").is_none());
    }

    /// Invalid ids are never registered.
    #[test]
    fn client_ids_are_validated() {
        let ledger = Ledger::new();
        for bad in ["", "has space", "ünï", &"x".repeat(65), "a/b"] {
            assert!(
                ledger
                    .target(Transport::Poll, Some(bad), None)
                    .client
                    .is_none(),
                "{bad:?}"
            );
        }
        assert!(
            ledger
                .target(Transport::Poll, Some("ok-id_1.2"), None)
                .client
                .is_some()
        );
        assert_eq!(ledger.client_count(), 1);
    }

    /// A flood of ids never holds more than MAX_CLIENTS; clients with open connections survive.
    #[test]
    fn registry_is_bounded() {
        let ledger = Ledger::new();
        let busy = ledger.target(Transport::Ws, Some("busy"), None);
        busy.connection_opened();
        for i in 0..(MAX_CLIENTS + 500) {
            ledger.client_or_register(&format!("flood-{i}"));
        }
        // The 10,500th flood id found the registry full and freed a batch before it got in.
        assert_eq!(ledger.client_count(), MAX_CLIENTS - EVICT_BATCH + 1);
        assert!(ledger.client("busy").is_some());
        assert!(
            ledger
                .client(&format!("flood-{}", MAX_CLIENTS + 499))
                .is_some(),
            "the newest got in"
        );
    }
}
