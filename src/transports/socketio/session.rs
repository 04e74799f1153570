//! One Engine.IO session: the connection Socket.IO promises, whatever carries it (held polls, a
//! WebSocket, or polls and then a WebSocket), and the one task that makes it a chat socket.
//!
//! A session outlives the requests that carry it, so it cannot be one `select!` loop per
//! connection like the WebSocket transport: its task runs the loop instead (rooms' feeds, the
//! client's packets, the ping tick) and writes packets to an **outbox**, and whichever carrier
//! holds the session now (a held poll, or the WebSocket once upgraded) takes them from there. The
//! outbox is bounded: when it is full the task stops reading the rooms, so a client that stops
//! polling costs no memory beyond the history, and falls behind it into a gap like any other.
//!
//! The Socket.IO layer on top is the WebSocket transport's, in events: `chat` publishes (the ack
//! gets `{"id":..}`), `join`/`leave` change rooms, every message of a joined room arrives as
//! `42["chat",{..}]`, and `ready`/`gap`/`presence`/`left`/`error` events carry the control objects
//! the other transports send. The CONNECT packet's `auth` may carry `since`, so a client that
//! reconnects resumes at its cursor: on every reconnect, for as long as the room's history holds.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use protocol::{Control, Cursor, RoomName};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use super::socket::{self, Kind};
use crate::compose::{self, WsRequest};
use crate::ledger::wire::PeerGone;
use crate::lock::lock;
use crate::permit::publish_permit;
use crate::presence::MemberKey;
use crate::room::Room;
use crate::state::AppState;
use crate::transports::feed::{self, Event, Feed};
use crate::transports::ws::MAX_ROOMS_PER_SOCKET;
use crate::transports::{Transport, presence, socket_feed};

/// Packets the outbox holds before the session stops reading its rooms.
pub const OUTBOX_PACKETS: usize = 256;
/// Client packets queued for the session's task; a POST waits when it is full.
const INBOX: usize = 64;

/// Every open session, by id.
#[derive(Clone, Default)]
pub struct Sessions {
    by_sid: Arc<Mutex<HashMap<Arc<str>, Arc<Session>>>>,
}

impl Sessions {
    pub fn get(&self, sid: &str) -> Option<Arc<Session>> {
        lock(&self.by_sid).get(sid).cloned()
    }

    pub fn len(&self) -> usize {
        lock(&self.by_sid).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove(&self, sid: &str) {
        lock(&self.by_sid).remove(sid);
    }
}

/// What the client sent, for the session's task.
#[derive(Debug)]
pub enum Inbound {
    Pong,
    Message(socket::Packet),
    Close,
}

/// One session: what its carriers share with its task.
pub struct Session {
    /// Engine.IO's session id: in every request's `?sid=`, and the capability to use the session,
    /// so it is 128 random bits.
    pub sid: Arc<str>,
    /// `?client=` of the handshake: the session's ledger and presence identity.
    pub client: Option<MemberKey>,
    /// Engine.IO's `pingInterval` (and `pingTimeout`) of this session.
    pub ping_every: Duration,
    outbox: Mutex<Outbox>,
    /// Wakes the carrier (a held poll, or the upgraded WebSocket) when packets arrive.
    pub ready: Notify,
    /// Wakes the task when a carrier took packets and the outbox has room again.
    drained: Notify,
    inbox: mpsc::Sender<Inbound>,
    /// Carried by a WebSocket: from the start, or since the client's upgrade packet. Polls are
    /// refused from then on.
    pub upgraded: AtomicBool,
    /// A WebSocket is probing (between `2probe` and `5`); a second one is refused.
    pub probing: AtomicBool,
    /// A poll is held; a second one at the same time is a client error.
    pub polling: AtomicBool,
    /// The session is over (either side closed it, a pong was missed, or the server is shutting
    /// down); carriers deliver what is left, then end.
    pub closed: CancellationToken,
}

#[derive(Default)]
struct Outbox {
    packets: VecDeque<Bytes>,
}

impl Session {
    /// Queues an encoded Engine.IO packet for the carrier.
    pub fn push(&self, packet: Bytes) {
        lock(&self.outbox).packets.push_back(packet);
        self.ready.notify_one();
    }

    /// Takes packets for one poll answer: all of them, up to `max_bytes` joined (at least one).
    pub fn take(&self, max_bytes: usize) -> Vec<Bytes> {
        let mut outbox = lock(&self.outbox);
        let mut taken = Vec::new();
        let mut size = 0;
        while let Some(next) = outbox.packets.front() {
            let joined = size + next.len() + usize::from(!taken.is_empty());
            if !taken.is_empty() && joined > max_bytes {
                break;
            }
            size = joined;
            taken.extend(outbox.packets.pop_front());
        }
        drop(outbox);
        if !taken.is_empty() {
            self.drained.notify_one();
        }
        taken
    }

    fn has_room(&self) -> bool {
        lock(&self.outbox).packets.len() < OUTBOX_PACKETS
    }

    /// Hands a client packet to the task; `false` once the session is over.
    pub async fn send(&self, inbound: Inbound) -> bool {
        self.inbox.send(inbound).await.is_ok()
    }

    /// Ends the session from a carrier (its WebSocket closed after the upgrade).
    pub fn close(&self) {
        self.closed.cancel();
        self.ready.notify_waiters();
    }
}

/// What a new session starts with: who opened it, and where its socket goes first.
pub struct Opening {
    pub client: Option<MemberKey>,
    pub peer: Option<IpAddr>,
    /// `?user=`: the name of messages that give none.
    pub user: Option<String>,
    /// `?room=` of the handshake, unless CONNECT's `auth.room` names another.
    pub room: RoomName,
    /// `?since=` of the handshake, unless CONNECT's `auth.since` gives one.
    pub since: Option<Cursor>,
    /// Direct WebSocket: no polling phase.
    pub upgraded: bool,
    /// Engine.IO's `pingInterval` and `pingTimeout`: `?heartbeat=`, else `--heartbeat`.
    pub ping_every: Duration,
}

/// Opens a session and starts its task.
pub fn open(state: &AppState, opening: Opening) -> Arc<Session> {
    let (inbox, inbound) = mpsc::channel(INBOX);
    let session = Arc::new(Session {
        sid: random_id(),
        client: opening.client.clone(),
        ping_every: opening.ping_every,
        outbox: Mutex::default(),
        ready: Notify::new(),
        drained: Notify::new(),
        inbox,
        upgraded: AtomicBool::new(opening.upgraded),
        probing: AtomicBool::new(false),
        polling: AtomicBool::new(false),
        closed: CancellationToken::new(),
    });
    lock(&state.socketio.by_sid).insert(Arc::clone(&session.sid), Arc::clone(&session));
    let socket = Socket {
        session: Arc::clone(&session),
        state: state.clone(),
        key: opening
            .client
            .clone()
            .unwrap_or_else(crate::presence::anonymous_key),
        opening,
        connected: false,
        rooms: Vec::new(),
        turn: 0,
    };
    actix_rt::spawn(socket.run(inbound));
    session
}

/// 128 bits from the standard library's randomly keyed hasher, as 22 URL-safe characters.
fn random_id() -> Arc<str> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Relaxed);
    let hasher = RandomState::new();
    let a = hasher.hash_one((n, SystemTime::now()));
    let b = RandomState::new().hash_one((a, n));
    let bits = (u128::from(a) << 64) | u128::from(b);
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let id: String = (0..22)
        .map(|i| DIGITS[((bits >> (i * 6)) & 63) as usize] as char)
        .collect();
    Arc::from(id)
}

/// The session's task: its Socket.IO socket on the default namespace.
struct Socket {
    session: Arc<Session>,
    state: AppState,
    opening: Opening,
    /// Who this socket is in its rooms' head counts, and whom "to others" leaves out.
    key: MemberKey,
    /// CONNECT has been answered.
    connected: bool,
    /// The rooms it reads, in the order joined: the first is where a message naming no room goes.
    rooms: Vec<Feed>,
    /// Which room's feed is asked first next time.
    turn: usize,
}

/// Why a session ended, for the log.
type End = &'static str;

impl Socket {
    async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>) {
        let ping_every = self.opening.ping_every;
        let mut ping = interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut awaiting_pong = false;
        let shutdown = self.state.shutdown.streams().clone();

        let end: End = loop {
            self.turn = self.turn.wrapping_add(1);
            let room_for_more = self.session.has_room();
            tokio::select! {
                biased;
                () = self.session.closed.cancelled() => break "closed by its carrier",
                packet = inbound.recv() => match packet {
                    None | Some(Inbound::Close) => break "closed by the client",
                    Some(Inbound::Pong) => awaiting_pong = false,
                    Some(Inbound::Message(packet)) => self.packet(packet).await,
                },
                _ = ping.tick() => {
                    if awaiting_pong {
                        break "no pong within the ping timeout";
                    }
                    awaiting_pong = true;
                    self.session.push(Bytes::from_static(b"2"));
                }
                (room, event) = feed::next_of(&mut self.rooms, self.turn), if room_for_more => {
                    match event {
                        Event::Ready { since, epoch, node } => {
                            let node = node.as_deref().map(str::to_owned);
                            self.emit("ready", &Control::Ready { room: Some(room), since, epoch, node });
                        }
                        Event::Gap { missed, reset, since, epoch } => {
                            self.emit("gap", &Control::Gap { room: Some(room), missed, reset, since, epoch });
                        }
                        Event::Message(message) => self.session.push(message.socketio_event()),
                        Event::Presence(count) => self.emit("presence", &presence(&room, count)),
                        Event::Heartbeat | Event::PeerGone => {}
                        Event::Shutdown => break "server shutting down",
                    }
                }
                () = self.session.drained.notified(), if !room_for_more => {}
                () = shutdown.cancelled(), if self.rooms.is_empty() => break "server shutting down",
            }
        };
        tracing::debug!(sid = %self.session.sid, end, "socket.io session ended");
        // Engine.IO's close packet, for a carrier still there to deliver it; then the carriers
        // deliver what is left and end.
        self.session.push(Bytes::from_static(b"1"));
        self.state.socketio.remove(&self.session.sid);
        self.session.close();
    }

    /// A Socket.IO packet from the client.
    async fn packet(&mut self, packet: socket::Packet) {
        if packet.namespace != socket::DEFAULT_NAMESPACE {
            if packet.kind == Kind::Connect {
                let refusal = socket::Packet {
                    kind: Kind::ConnectError,
                    namespace: packet.namespace,
                    id: None,
                    data: Some(json!({"message": "Invalid namespace"})),
                };
                self.send_packet(&refusal);
            }
            return;
        }
        match packet.kind {
            Kind::Connect => self.connect(packet.data.as_ref()).await,
            Kind::Disconnect => {
                self.connected = false;
                self.rooms.clear();
            }
            Kind::Event if !self.connected => {
                self.connect_error("send CONNECT (40) before events");
            }
            Kind::Event => self.event(&packet).await,
            // This server never asks for acknowledgements; a client error is not worth a word.
            Kind::Ack | Kind::ConnectError => {}
        }
    }

    /// CONNECT: `auth` may say where to start (`since`, `room`) and who speaks (`user`).
    async fn connect(&mut self, auth: Option<&Value>) {
        if self.connected {
            return;
        }
        let start = auth.map_or(Ok((None, None, None)), |auth| {
            let field = |name| auth.get(name).filter(|v| !v.is_null());
            let room = field("room")
                .map(|v| match v.as_str() {
                    Some(name) => RoomName::parse(name).map_err(|e| e.to_string()),
                    None => Err("auth.room must be a room name".to_owned()),
                })
                .transpose()?;
            let since = field("since")
                .map(|v| compose::cursor_value("auth.since", v).map_err(|e| e.to_string()))
                .transpose()?;
            let user = field("user")
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| "auth.user must be a string".to_owned())
                })
                .transpose()?;
            Ok::<_, String>((room, since, user))
        });
        let (room, since, user) = match start {
            Ok(start) => start,
            Err(error) => return self.connect_error(&error),
        };
        let room = room.unwrap_or_else(|| self.opening.room.clone());
        let since = since.or_else(|| self.opening.since.clone());
        let opened = match self.state.bus.open(&room, since.as_ref()).await {
            Ok(opened) => opened,
            Err(refused) => return self.connect_error(&refused.to_string()),
        };
        // The handshake's cursor is for the first CONNECT only.
        self.opening.since = None;
        if let Some(user) = user {
            self.opening.user = Some(user);
        }
        self.connected = true;
        let reply = socket::Packet {
            kind: Kind::Connect,
            namespace: socket::DEFAULT_NAMESPACE.to_owned(),
            id: None,
            data: Some(json!({"sid": &*random_id()})),
        };
        self.send_packet(&reply);
        self.join(opened, since.as_ref());
    }

    fn connect_error(&self, message: &str) {
        let refusal = socket::Packet {
            kind: Kind::ConnectError,
            namespace: socket::DEFAULT_NAMESPACE.to_owned(),
            id: None,
            data: Some(json!({ "message": message })),
        };
        self.send_packet(&refusal);
    }

    fn join(&mut self, room: Room, since: Option<&Cursor>) {
        // Engine.IO's pings keep the session alive; a session has no one connection whose peer
        // could go (its carriers come and go), so its feeds never see `PeerGone`.
        let feed = socket_feed(
            &self.state,
            &room,
            self.key.clone(),
            Transport::SocketIo,
            since,
            PeerGone::default(),
        );
        self.rooms.push(feed);
    }

    fn joined(&self, room: &RoomName) -> Option<usize> {
        self.rooms.iter().position(|f| f.room().name() == room)
    }

    /// An EVENT: `chat`, `join` or `leave`; its answer goes to the ack when it asked for one,
    /// else (an error only) as an `error` event.
    async fn event(&mut self, packet: &socket::Packet) {
        let Some((name, args)) = packet.event_args() else {
            return;
        };
        let answer = match name {
            "chat" => self.chat(args).await,
            "join" => self.join_event(args).await,
            "leave" => self.leave_event(args),
            other => Err(format!(
                "unknown event {other:?}: this server answers \"chat\", \"join\" and \"leave\""
            )),
        };
        match (packet.id, answer) {
            (Some(id), answer) => {
                let value = answer.unwrap_or_else(|error| json!({ "error": error }));
                let ack = socket::Packet {
                    kind: Kind::Ack,
                    namespace: socket::DEFAULT_NAMESPACE.to_owned(),
                    id: Some(id),
                    data: Some(Value::Array(vec![value])),
                };
                self.send_packet(&ack);
            }
            (None, Ok(_)) => {}
            (None, Err(error)) => self.emit(
                "error",
                &Control::Error {
                    reference: None,
                    error,
                },
            ),
        }
    }

    /// `emit("chat", {text, user?, room?, except_sender?})`: the ack gets `{"id":..}`.
    async fn chat(&mut self, args: &[Value]) -> Result<Value, String> {
        let object = args.first().unwrap_or(&Value::Null);
        let request = compose::from_json_value(
            object,
            self.opening.user.as_deref(),
            self.state.config.max_text_bytes,
        )
        .map_err(|e| e.to_string())?;
        let WsRequest::Publish {
            message,
            room,
            except_sender,
        } = request
        else {
            return Err(
                "a chat event carries a message; join and leave are events of their own".to_owned(),
            );
        };
        let room = match room {
            Some(name) => self
                .state
                .bus
                .open(&name, None)
                .await
                .map_err(|e| e.to_string())?,
            None => match self.rooms.first() {
                Some(feed) => feed.room().clone(),
                None => {
                    return Err(
                        "this socket is in no room; name one with \"room\" or join one".to_owned(),
                    );
                }
            },
        };
        let permit = publish_permit(&self.state, self.opening.peer).map_err(|e| e.to_string())?;
        let except = except_sender.then(|| self.key.clone());
        let stored = self
            .state
            .bus
            .publish(&room, &message.user, &message.text, except)
            .await
            .map_err(|e| e.to_string())?;
        drop(permit);
        Ok(json!({ "id": stored.id }))
    }

    /// `emit("join", room, since?)`: the ack gets `{"room":..}`; the room's `ready` event and
    /// messages follow.
    async fn join_event(&mut self, args: &[Value]) -> Result<Value, String> {
        let room = room_arg(args)?;
        let since = args
            .get(1)
            .filter(|v| !v.is_null())
            .map(|v| compose::cursor_value("since", v))
            .transpose()
            .map_err(|e| e.to_string())?;
        if self.joined(&room).is_some() {
            return Err(format!(
                "already in room {:?}; leave it first to join from another cursor",
                room.as_str()
            ));
        }
        if self.rooms.len() >= MAX_ROOMS_PER_SOCKET {
            return Err(format!(
                "a socket may be in at most {MAX_ROOMS_PER_SOCKET} rooms; leave one first"
            ));
        }
        let opened = self
            .state
            .bus
            .open(&room, since.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        self.join(opened, since.as_ref());
        Ok(json!({ "room": room }))
    }

    /// `emit("leave", room)`: the ack gets `{"room":..}`, and a `left` event follows.
    fn leave_event(&mut self, args: &[Value]) -> Result<Value, String> {
        let room = room_arg(args)?;
        let Some(i) = self.joined(&room) else {
            return Err(format!("not in room {:?}; nothing to leave", room.as_str()));
        };
        self.rooms.remove(i);
        self.emit("left", &Control::Left { room: room.clone() });
        Ok(json!({ "room": room }))
    }

    /// `42["<name>",<control object>]`.
    fn emit(&self, name: &str, control: &Control) {
        let packet = format!("42[\"{name}\",{}]", control.to_json());
        self.session.push(Bytes::from(packet));
    }

    fn send_packet(&self, packet: &socket::Packet) {
        self.session
            .push(Bytes::from(format!("4{}", packet.encode())));
    }
}

fn room_arg(args: &[Value]) -> Result<RoomName, String> {
    let name = args
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| "the first argument must be a room name".to_owned())?;
    RoomName::parse(name).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Session ids are 22 URL-safe characters and do not repeat.
    #[test]
    fn ids_are_random_and_url_safe() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 22);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
    }
}
