//! The shared bus (`--bus redis://HOST:PORT[/DB]`): several servers, one Redis, one log per room.
//!
//! Redis holds the truth: each room's epoch, its newest id and its history (a Stream trimmed to
//! `--history`), all changed only by the Lua scripts of [`scripts`], so ids are consecutive per
//! room across every server. Each server keeps its rooms as before ([`crate::room::Room`]), but
//! as mirrors: it never numbers a message itself, it appends what Redis numbered, in id order
//! ([`Room::mirror`]). So every transport reads exactly as with the memory bus (same cursor
//! loop, same gap and reset notices), and a subscriber can take its cursor to any server.
//!
//! How a mirror stays whole:
//! - A publish runs the publish script (the 201 is sent once Redis has the message) and appends
//!   the message here at once; the script also announces it on one pub/sub channel, and every
//!   server appends what it hears. The same message arriving both ways is kept once.
//! - A message heard above the next id here (one was missed: the pub/sub connection was down, or
//!   the room was being loaded) makes the server read the missing ones from the Stream first.
//! - A room is read from Redis before its first use on this server ([`Backplane::load`]), and
//!   every loaded room is read again whenever the connection comes back, so an outage costs
//!   subscribers a wait, never a message.
//! - A message of another epoch (Redis lost its data, or the teacher started the room over on
//!   another server) starts the mirror over in that epoch ([`Room::start_over`]): every reader
//!   gets its `reset` notice, never a silent reuse of ids.
//!
//! While Redis is unreachable, publishing answers 503 with `Retry-After` and stores nothing, a
//! room never loaded cannot be opened (503), open subscriptions stay open, and `/healthz` says
//! `degraded` with the reason. One task per server ([`Backplane::run`]) connects, reconnects,
//! listens to the channel and beats the presence heartbeat.
//!
//! Rate limits and connection caps stay per server: each server counts its own clients.

pub mod announcement;
mod metered;
pub mod scripts;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use protocol::{Cursor, Epoch, PerTransport, RoomName, Transport};
use redis::aio::{MultiplexedConnection, PubSub};
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Script, Value,
};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::bus::{Bus, StartedOver, random_epoch};
use crate::lock::lock;
use crate::message::Message;
use crate::presence::{Headcount, MemberKey};
use crate::room::{Mirrored, Room, unix_millis};
use announcement::Announcement;

pub use metered::Wire;

/// How long connecting, and any one command, may take before Redis counts as unreachable.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait between attempts to reconnect.
pub const RECONNECT_EVERY: Duration = Duration::from_millis(500);
/// How often this server tells the others its head counts, and hears theirs.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(1);
/// A server whose head counts are older than this has stopped: its members no longer count.
pub const PRESENCE_TTL: Duration = Duration::from_secs(5);
/// Messages read from the Stream per command when catching up.
const READ_BATCH: usize = 1000;

/// Redis could not be reached, or did not answer: the request can be tried again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the message bus (Redis) is unreachable: {0}; try again shortly")]
pub struct BusDown(pub String);

impl From<redis::RedisError> for BusDown {
    fn from(error: redis::RedisError) -> Self {
        Self(error.to_string())
    }
}

/// Whether this server can reach Redis now.
#[derive(Debug, Clone)]
pub enum Health {
    /// Not connected yet since start.
    Connecting,
    Up,
    /// Lost: why, and since when.
    Down {
        reason: String,
        since: Instant,
    },
}

/// What the backplane has done: for `/api/stats`, `/metrics` and `/overhead`.
///
/// Each of the three connections to Redis is counted on its own socket, so the bytes per
/// message are measured, not modelled: the publish connection carries nothing but publishes
/// (the script call up, `{epoch, id}` back), the announcement connection nothing but the
/// channel's messages (after its `SUBSCRIBE`), and the control connection the rest (loads,
/// catch-ups, the presence beat).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    /// Messages this server published into Redis.
    pub published: u64,
    /// Messages this server heard announced (its own included), for rooms it has open or not:
    /// every server hears every message, the cost of one channel for all rooms.
    pub heard: u64,
    /// Reads of a room's Stream: loads and catch-ups after a missed message or an outage.
    pub reads: u64,
    /// Times the connections to Redis were (re)established.
    pub connects: u64,
    pub publish: WireCount,
    pub announcements: WireCount,
    pub control: WireCount,
}

/// Bytes both ways on one connection to Redis, over the server's life (reconnects included).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WireCount {
    pub to_redis: u64,
    pub from_redis: u64,
    /// Of those, the connections' set-up.
    pub setup_to_redis: u64,
    pub setup_from_redis: u64,
}

impl WireCount {
    fn of(wire: &Wire) -> Self {
        Self {
            to_redis: wire.to_redis.load(Relaxed),
            from_redis: wire.from_redis.load(Relaxed),
            setup_to_redis: wire.setup_to_redis.load(Relaxed),
            setup_from_redis: wire.setup_from_redis.load(Relaxed),
        }
    }

    /// Bytes to Redis after set-up.
    pub fn to_redis_after_setup(&self) -> u64 {
        self.to_redis - self.setup_to_redis
    }

    /// Bytes from Redis after set-up.
    pub fn from_redis_after_setup(&self) -> u64 {
        self.from_redis - self.setup_from_redis
    }
}

/// Which connection a socket is.
#[derive(Debug, Clone, Copy)]
enum Role {
    Publish,
    Control,
}

/// A cheap-to-clone handle to this server's link to Redis.
#[derive(Clone)]
pub struct Backplane {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Backplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backplane")
            .field("url", &self.inner.shown)
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    info: ConnectionInfo,
    /// The URL as the pages show it: without a password.
    shown: String,
    node: Arc<str>,
    /// Entries each room's Stream keeps (`--history`).
    history: usize,
    /// The publish connection while Redis is reachable; `None` while it is not.
    publisher: Mutex<Option<MultiplexedConnection>>,
    /// The control connection (reads, presence), likewise.
    control: Mutex<Option<MultiplexedConnection>>,
    health: Mutex<Health>,
    /// A command failed: the connection task should reconnect.
    lost: Notify,
    publish_wire: Arc<Wire>,
    announcement_wire: Arc<Wire>,
    control_wire: Arc<Wire>,
    published: AtomicU64,
    heard: AtomicU64,
    reads: AtomicU64,
    connects: AtomicU64,
    /// Other live servers, as last heard: name and when.
    nodes: Mutex<Vec<Arc<str>>>,
    publish: Script,
    read: Script,
    start_over: Script,
    presence: Script,
}

/// A room's log as read from Redis.
struct Read {
    epoch: Epoch,
    newest: u64,
    messages: Vec<Arc<Message>>,
}

impl Backplane {
    /// The link to the Redis at `url`, for the server called `node`; connects once [`Self::run`]
    /// runs.
    pub fn new(url: &str, node: Arc<str>, history: usize) -> Result<Self, BusDown> {
        let info = url.into_connection_info()?;
        let shown = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                format!("redis://{host}:{port}/{}", info.redis_settings().db())
            }
            _ => return Err(BusDown("only redis://HOST:PORT[/DB] is supported".into())),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                info,
                shown,
                node,
                history,
                publisher: Mutex::new(None),
                control: Mutex::new(None),
                health: Mutex::new(Health::Connecting),
                lost: Notify::new(),
                publish_wire: Arc::default(),
                announcement_wire: Arc::default(),
                control_wire: Arc::default(),
                published: AtomicU64::new(0),
                heard: AtomicU64::new(0),
                reads: AtomicU64::new(0),
                connects: AtomicU64::new(0),
                nodes: Mutex::new(Vec::new()),
                publish: scripts::publish(),
                read: scripts::read(),
                start_over: scripts::start_over(),
                presence: scripts::presence(),
            }),
        })
    }

    /// This server's name.
    pub fn node(&self) -> &Arc<str> {
        &self.inner.node
    }

    /// The Redis it uses, as a URL without a password.
    pub fn url(&self) -> &str {
        &self.inner.shown
    }

    pub fn health(&self) -> Health {
        lock(&self.inner.health).clone()
    }

    /// The other servers heard from within [`PRESENCE_TTL`].
    pub fn other_nodes(&self) -> Vec<Arc<str>> {
        lock(&self.inner.nodes).clone()
    }

    pub fn counts(&self) -> Counts {
        let inner = &self.inner;
        Counts {
            published: inner.published.load(Relaxed),
            heard: inner.heard.load(Relaxed),
            reads: inner.reads.load(Relaxed),
            connects: inner.connects.load(Relaxed),
            publish: WireCount::of(&inner.publish_wire),
            announcements: WireCount::of(&inner.announcement_wire),
            control: WireCount::of(&inner.control_wire),
        }
    }

    /// What `/api/stats` says of the bus: this server, its link, what the link has cost.
    /// `per_message`: the averages over the server's life (connection set-up left out) of what
    /// one publish costs on the publishing server and one announcement on every server.
    pub fn report(&self) -> serde_json::Value {
        let counts = self.counts();
        let (status, reason) = match self.health() {
            Health::Up => ("ok", None),
            Health::Connecting => ("connecting", None),
            Health::Down { reason, .. } => ("unreachable", Some(reason)),
        };
        let per =
            |bytes: u64, n: u64| (n > 0).then(|| (bytes as f64 / n as f64 * 10.0).round() / 10.0);
        serde_json::json!({
            "kind": "redis",
            "node": &*self.inner.node,
            "url": self.inner.shown,
            "status": status,
            "reason": reason,
            "other_nodes": self.other_nodes().iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "counts": counts,
            "per_message": {
                "publish_to_redis": per(counts.publish.to_redis_after_setup(), counts.published),
                "publish_from_redis": per(counts.publish.from_redis_after_setup(), counts.published),
                "announcement_from_redis": per(counts.announcements.from_redis_after_setup(), counts.heard),
            },
        })
    }

    /// Stores a message in Redis (the 201's promise) and in this server's mirror of `room`.
    pub async fn publish(
        &self,
        room: &Room,
        user: &str,
        text: &str,
        except: Option<MemberKey>,
    ) -> Result<Arc<Message>, BusDown> {
        let mut conn = self.conn(Role::Publish)?;
        let ts = unix_millis();
        let name = room.name().as_str();
        let mut call = self.inner.publish.prepare_invoke();
        for key in scripts::keys(name) {
            call.key(key);
        }
        call.arg(random_epoch().as_str())
            .arg(self.inner.history)
            .arg(ts)
            .arg(except.as_deref().unwrap_or(""))
            .arg(user)
            .arg(text)
            .arg(name);
        let (epoch, id): (String, u64) = self.timed(call.invoke_async(&mut conn)).await?;
        let epoch = parse_epoch(&epoch)?;
        self.inner.published.fetch_add(1, Relaxed);
        let message = Arc::new(Message::encode(
            &epoch,
            room.name(),
            id,
            user,
            text,
            ts,
            except,
        ));
        // Anything but `Done` (another publish's message is still on its way, or the room was
        // started over) is mended when the announcements arrive; the message is in Redis.
        room.mirror(&epoch, None, std::slice::from_ref(&message));
        Ok(message)
    }

    /// Reads `room` from Redis before its first use here, so it can be served.
    pub async fn load(&self, room: &Room) -> Result<(), BusDown> {
        if room.is_loaded() {
            return Ok(());
        }
        self.catch_up(room).await?;
        room.set_loaded();
        // Announcements heard while the first read was on its way were not applied (the room
        // was not loaded): read once more, now that they are.
        self.catch_up(room).await
    }

    /// Makes sure this server's copy of `room` has caught up with a client's `cursor`. A cursor
    /// ahead of the newest id here, or of another epoch, may be news from a server that heard of
    /// newer messages (or a start-over) first, not a cursor of another run: before the reader
    /// would take it for a reset, the room is read from Redis once. After that read, a cursor
    /// still ahead, or still of another epoch, really is one (the contract's `reset`).
    pub async fn sync_to(&self, room: &Room, cursor: &Cursor) -> Result<(), BusDown> {
        let other_epoch = cursor.epoch.as_ref().is_some_and(|e| *e != room.epoch());
        if other_epoch || cursor.id > room.newest_id() {
            self.catch_up(room).await?;
        }
        Ok(())
    }

    /// Starts the room called `name` over in Redis (the teacher's reset) with a new epoch;
    /// `None` when Redis has no such room. Every server's mirror follows on the announcement.
    pub async fn start_over(&self, bus: &Bus, name: &str) -> Result<Option<StartedOver>, BusDown> {
        let mut conn = self.conn(Role::Control)?;
        let epoch = random_epoch();
        let mut call = self.inner.start_over.prepare_invoke();
        for key in scripts::keys(name) {
            call.key(key);
        }
        call.arg(epoch.as_str()).arg(name);
        let answer: Option<(String, u64, u64)> = self.timed(call.invoke_async(&mut conn)).await?;
        let Some((previous, last_id, dropped)) = answer else {
            return Ok(None);
        };
        if let Some(room) = bus.find(name).filter(Room::is_loaded) {
            self.catch_up(&room).await?;
        }
        Ok(Some(StartedOver {
            previous: parse_epoch(&previous)?,
            epoch,
            last_id,
            dropped: dropped as usize,
        }))
    }

    /// Brings this server's mirror of `room` up to Redis's log: reads what is missing (in
    /// batches), and starts the mirror over when Redis's epoch is not its own.
    async fn catch_up(&self, room: &Room) -> Result<(), BusDown> {
        // Bounded: each round appends a batch or starts over; more rounds than the history
        // holds batches means the room is being written faster than it can be read, and the
        // next announcement will continue.
        for _ in 0..(self.inner.history / READ_BATCH + 4) {
            let from = room.next_id();
            let read = self.read(room.name(), from).await?;
            match room.mirror(&read.epoch, Some(from), &read.messages) {
                Mirrored::OtherEpoch => {
                    room.start_over(read.epoch);
                    continue;
                }
                Mirrored::Done | Mirrored::Missing { .. } => {}
            }
            if room.newest_id() >= read.newest || read.messages.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn read(&self, room: &RoomName, from: u64) -> Result<Read, BusDown> {
        let mut conn = self.conn(Role::Control)?;
        let mut call = self.inner.read.prepare_invoke();
        for key in scripts::keys(room.as_str()) {
            call.key(key);
        }
        call.arg(random_epoch().as_str())
            .arg(from.max(1))
            .arg(READ_BATCH);
        let (epoch, newest, entries): (String, u64, Value) =
            self.timed(call.invoke_async(&mut conn)).await?;
        self.inner.reads.fetch_add(1, Relaxed);
        let epoch = parse_epoch(&epoch)?;
        let messages = parse_entries(&epoch, room, entries)?;
        Ok(Read {
            epoch,
            newest,
            messages,
        })
    }

    /// Connects, listens and reconnects for as long as the server runs: the one task that owns
    /// the pub/sub connection.
    pub async fn run(self, bus: Bus) {
        loop {
            match self.session(&bus).await {
                Ok(()) => return,
                Err(down) => {
                    *lock(&self.inner.publisher) = None;
                    *lock(&self.inner.control) = None;
                    let mut health = lock(&self.inner.health);
                    if !matches!(&*health, Health::Down { .. }) {
                        tracing::warn!(url = %self.inner.shown, reason = %down.0, "the bus is unreachable");
                        *health = Health::Down {
                            reason: down.0,
                            since: Instant::now(),
                        };
                    }
                }
            }
            tokio::time::sleep(RECONNECT_EVERY).await;
        }
    }

    /// One connection's life: connect, subscribe, catch every loaded room up, then apply
    /// announcements and beat presence until something fails.
    async fn session(&self, bus: &Bus) -> Result<(), BusDown> {
        let publisher = self.connect_command(Role::Publish).await?;
        let control = self.connect_command(Role::Control).await?;
        let wire = &self.inner.announcement_wire;
        let before = wire.now();
        let mut pubsub = self.connect_pubsub().await?;
        self.timed(pubsub.subscribe(scripts::CHANNEL)).await?;
        wire.set_up_since(before);
        *lock(&self.inner.publisher) = Some(publisher);
        *lock(&self.inner.control) = Some(control);
        // Subscribed first, read second: nothing published in between can be missed.
        for room in bus.rooms_by_name().iter().filter(|r| r.is_loaded()) {
            self.catch_up(room).await?;
        }
        // The lobby is read at once: `/healthz` and the pages name its epoch.
        self.load(bus.lobby()).await?;
        self.inner.connects.fetch_add(1, Relaxed);
        *lock(&self.inner.health) = Health::Up;
        tracing::info!(url = %self.inner.shown, node = %self.inner.node, "the bus is connected");
        let mut announcements = pubsub.into_on_message();
        let mut beat = tokio::time::interval(PRESENCE_EVERY);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                heard = announcements.next() => match heard {
                    Some(heard) => self.apply(bus, heard.get_payload_bytes()).await?,
                    None => return Err(BusDown("the pub/sub connection closed".into())),
                },
                _ = beat.tick() => self.beat(bus).await?,
                () = self.inner.lost.notified() => {
                    return Err(BusDown("a command to Redis failed".into()));
                }
            }
        }
    }

    /// Applies one announcement to this server's mirror, if it has the room loaded (a room not
    /// loaded here is read whole on its first use).
    async fn apply(&self, bus: &Bus, payload: &[u8]) -> Result<(), BusDown> {
        let Some(announcement) = Announcement::parse(payload) else {
            tracing::warn!(
                len = payload.len(),
                "ignored an announcement this server cannot read"
            );
            return Ok(());
        };
        if let Announcement::Message { .. } = announcement {
            self.inner.heard.fetch_add(1, Relaxed);
        }
        let Some(room) = bus.find(announcement.room()).filter(Room::is_loaded) else {
            return Ok(());
        };
        match announcement {
            Announcement::Message {
                epoch,
                id,
                ts,
                except,
                user,
                text,
                ..
            } => {
                let except = (!except.is_empty()).then(|| MemberKey::from(except));
                let message = Arc::new(Message::encode(
                    &epoch,
                    room.name(),
                    id,
                    user,
                    text,
                    ts,
                    except,
                ));
                if room.mirror(&epoch, None, &[message]) != Mirrored::Done {
                    self.catch_up(&room).await?;
                }
            }
            Announcement::StartedOver { epoch, .. } => {
                if room.epoch() != epoch {
                    self.catch_up(&room).await?;
                }
            }
        }
        Ok(())
    }

    /// Tells the others this server's head counts and takes theirs into every room here.
    async fn beat(&self, bus: &Bus) -> Result<(), BusDown> {
        let mut conn = self.conn(Role::Control)?;
        let rooms = bus.rooms_by_name();
        let mut call = self.inner.presence.prepare_invoke();
        call.arg(&*self.inner.node)
            .arg(unix_millis())
            .arg(PRESENCE_TTL.as_millis() as u64);
        for room in &rooms {
            let count = room.presence().local_headcount();
            if count.members > 0 || count.by_transport.0.iter().any(|&n| n > 0) {
                call.arg(room.name().as_str()).arg(encode_headcount(&count));
            }
        }
        let others: Vec<String> = self.timed(call.invoke_async(&mut conn)).await?;
        let mut remote: HashMap<&str, Headcount> = HashMap::new();
        let mut nodes = Vec::new();
        let mut fields = others.iter();
        while let Some(node) = fields.next() {
            nodes.push(Arc::from(node.as_str()));
            while let Some(room) = fields.next().filter(|f| !f.is_empty()) {
                let Some(count) = fields.next().and_then(|c| decode_headcount(c)) else {
                    break;
                };
                let sum = remote.entry(room.as_str()).or_default();
                sum.members += count.members;
                for t in Transport::ALL {
                    sum.by_transport.add(t, count.by_transport.get(t));
                }
            }
        }
        *lock(&self.inner.nodes) = nodes;
        for room in &rooms {
            let count = remote
                .get(room.name().as_str())
                .copied()
                .unwrap_or_default();
            room.presence().set_remote(count);
        }
        Ok(())
    }

    async fn connect_command(&self, role: Role) -> Result<MultiplexedConnection, BusDown> {
        let wire = match role {
            Role::Publish => &self.inner.publish_wire,
            Role::Control => &self.inner.control_wire,
        };
        let before = wire.now();
        let stream = self.connect_tcp(wire).await?;
        let (conn, driver) = self
            .timed(MultiplexedConnection::new_with_config(
                self.inner.info.redis_settings(),
                stream,
                AsyncConnectionConfig::new(),
            ))
            .await?;
        tokio::spawn(driver);
        wire.set_up_since(before);
        Ok(conn)
    }

    async fn connect_pubsub(&self) -> Result<PubSub, BusDown> {
        let stream = self.connect_tcp(&self.inner.announcement_wire).await?;
        self.timed(PubSub::new(self.inner.info.redis_settings(), stream))
            .await
    }

    async fn connect_tcp(&self, wire: &Arc<Wire>) -> Result<metered::Metered<TcpStream>, BusDown> {
        let ConnectionAddr::Tcp(host, port) = self.inner.info.addr() else {
            return Err(BusDown("only redis://HOST:PORT[/DB] is supported".into()));
        };
        let tcp = tokio::time::timeout(COMMAND_TIMEOUT, TcpStream::connect((host.as_str(), *port)))
            .await
            .map_err(|_| BusDown(format!("connecting took over {COMMAND_TIMEOUT:?}")))?
            .map_err(|e| BusDown(format!("cannot connect to {host}:{port}: {e}")))?;
        // One message per command: Nagle's delay would add 40 ms to a publish.
        tcp.set_nodelay(true).map_err(|e| BusDown(e.to_string()))?;
        Ok(metered::Metered::new(tcp, Arc::clone(wire)))
    }

    /// A command connection, or why there is none.
    fn conn(&self, role: Role) -> Result<MultiplexedConnection, BusDown> {
        let slot = match role {
            Role::Publish => &self.inner.publisher,
            Role::Control => &self.inner.control,
        };
        if let Some(conn) = lock(slot).as_ref() {
            return Ok(conn.clone());
        }
        let reason = match &*lock(&self.inner.health) {
            Health::Down { reason, .. } => reason.clone(),
            _ => "not connected yet".to_owned(),
        };
        Err(BusDown(reason))
    }

    /// Runs a command with [`COMMAND_TIMEOUT`]; a failure wakes the connection task, which
    /// reconnects (and, once back, catches every room up).
    async fn timed<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BusDown> {
        let outcome = match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => BusDown::from(error),
            Err(_) => BusDown(format!("Redis did not answer within {COMMAND_TIMEOUT:?}")),
        };
        // Wakes the connection task if it is listening; if it is busy (catching a room up), its
        // own next command fails the same way, and the presence beat within a second at worst.
        // No permit is stored, so a failure from before a reconnect cannot end the new session.
        self.inner.lost.notify_waiters();
        Err(outcome)
    }
}

/// The entries of an `XRANGE` as messages of `room` in run `epoch`.
fn parse_entries(
    epoch: &Epoch,
    room: &RoomName,
    entries: Value,
) -> Result<Vec<Arc<Message>>, BusDown> {
    let bad = || {
        BusDown(format!(
            "Redis's log of room {room} holds an entry this server cannot read"
        ))
    };
    let Value::Array(entries) = entries else {
        return Err(bad());
    };
    let mut messages = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(mut parts) = entry else {
            return Err(bad());
        };
        let (Some(Value::Array(fields)), Some(Value::BulkString(stream_id))) =
            (parts.pop(), parts.pop())
        else {
            return Err(bad());
        };
        let id = std::str::from_utf8(&stream_id)
            .ok()
            .and_then(|s| s.strip_suffix("-0"))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let mut field = HashMap::with_capacity(4);
        for pair in fields.chunks(2) {
            if let [Value::BulkString(k), Value::BulkString(v)] = pair {
                field.insert(k.as_slice(), v.as_slice());
            }
        }
        let text = |name: &[u8]| {
            field
                .get(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .ok_or_else(bad)
        };
        let ts = text(b"ts")?.parse::<u64>().map_err(|_| bad())?;
        let except = text(b"x")?;
        let except = (!except.is_empty()).then(|| MemberKey::from(except));
        messages.push(Arc::new(Message::encode(
            epoch,
            room,
            id,
            text(b"u")?,
            text(b"t")?,
            ts,
            except,
        )));
    }
    Ok(messages)
}

fn parse_epoch(text: &str) -> Result<Epoch, BusDown> {
    Epoch::parse(text).ok_or_else(|| {
        BusDown(format!(
            "Redis holds an epoch this server cannot read: {text:?}"
        ))
    })
}

/// `members,poll,longpoll,stream,sse,ws,socketio`.
fn encode_headcount(count: &Headcount) -> String {
    let mut out = count.members.to_string();
    for t in Transport::ALL {
        out.push(',');
        out.push_str(&count.by_transport.get(t).to_string());
    }
    out
}

fn decode_headcount(text: &str) -> Option<Headcount> {
    let mut numbers = text.split(',').map(|n| n.parse::<u64>().ok());
    let members = numbers.next()??;
    let mut by_transport = PerTransport::default();
    for t in Transport::ALL {
        by_transport.add(t, numbers.next()??);
    }
    Some(Headcount {
        members,
        by_transport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Head counts travel as one line of numbers.
    #[test]
    fn headcounts_round_trip() {
        let mut count = Headcount {
            members: 3,
            ..Headcount::default()
        };
        count.by_transport.add(Transport::Sse, 2);
        count.by_transport.add(Transport::Ws, 1);
        let line = encode_headcount(&count);
        assert_eq!(line, "3,0,0,0,2,1,0");
        assert_eq!(decode_headcount(&line), Some(count));
        assert_eq!(decode_headcount("3,0"), None);
    }
}
