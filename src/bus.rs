//! The message bus: every room, created on first use and bounded, read by all five transports.
//!
//! Each [`Room`] is its own log with its own ids from 1 and its own history; the bus finds or
//! creates rooms by name, caps how many exist (`--max-rooms`, the lobby included), caps the
//! bytes all their histories hold together (`--max-history-bytes`), and once a second runs the
//! sweep: it publishes changed head counts (the `presence` events) and drops rooms nobody has
//! been in or written to for `--room-idle`.
//!
//! A dropped room's history goes with it, but not its ids: the bus remembers where each dropped
//! room stopped, so a room re-created under the same name in the same run continues its ids, and
//! a cursor into the old history gets a gap, never someone else's messages. Should it ever have
//! to forget (more dropped rooms than [`MAX_ENDED`]), rooms created after that get an epoch of
//! their own, so every old cursor into them is a reset.
//!
//! A room the teacher starts over ([`Bus::start_over`]) also gets an epoch of its own, and ids from
//! 1: to its clients it is a new run, as after a restart of the server.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use protocol::{Cursor, Epoch, RoomName};

use crate::backplane::{Backplane, BusDown};
use crate::lock::lock;
use crate::message::Message;
use crate::presence::MemberKey;
use crate::room::{HistoryBytes, Room};

/// Dropped rooms whose next id is remembered; past it the list is forgotten (see module docs).
pub const MAX_ENDED: usize = 100_000;
/// How often presence is published and idle rooms are dropped: also the presence debounce.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What the bus is built with, from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Messages each room keeps for resume.
    pub history: usize,
    /// Bytes all rooms' histories hold together.
    pub history_bytes: usize,
    /// Rooms that may exist at once, the lobby included.
    pub max_rooms: usize,
    /// An empty room unused this long is dropped.
    pub room_idle: Duration,
    /// How long a poll keeps its client a member.
    pub presence_window: Duration,
}

/// A cheap-to-clone handle to every room.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

struct Shared {
    /// This run of the server: the first half of every cursor.
    epoch: Epoch,
    settings: Settings,
    history: Arc<HistoryBytes>,
    rooms: Mutex<Rooms>,
    /// Always there, so a request without `?room=` never waits on the registry's lock or its cap.
    lobby: Room,
    /// `--bus redis://`: rooms are mirrors of Redis's logs (see [`crate::backplane`]).
    backplane: Option<Backplane>,
}

struct Rooms {
    by_name: HashMap<RoomName, Room>,
    /// Where each dropped room stopped: the id its next incarnation starts from.
    ended: HashMap<RoomName, u64>,
    /// `ended` overflowed and was cleared: a new room may be one we forgot.
    forgot: bool,
}

/// What starting a room over changed.
#[derive(Debug, Clone)]
pub struct StartedOver {
    /// The epoch every cursor handed out until now names.
    pub previous: Epoch,
    /// The room's epoch from now on.
    pub epoch: Epoch,
    /// The newest id before: its messages are gone, the next one is 1.
    pub last_id: u64,
    /// Messages the history held.
    pub dropped: usize,
}

/// The room cap was reached.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the server has {max} rooms, its limit (--max-rooms); join an existing room, or try again \
     once idle rooms are dropped"
)]
pub struct RoomsFull {
    pub max: usize,
}

impl Bus {
    pub fn new(settings: Settings) -> Self {
        Self::build(settings, None)
    }

    /// A bus whose rooms mirror Redis's (`--bus redis://`).
    pub fn shared(settings: Settings, backplane: Backplane) -> Self {
        Self::build(settings, Some(backplane))
    }

    fn build(settings: Settings, backplane: Option<Backplane>) -> Self {
        let epoch = random_epoch();
        let history = Arc::new(HistoryBytes::new(settings.history_bytes));
        let lobby = Room::new(
            RoomName::lobby(),
            epoch.clone(),
            settings.history,
            1,
            Arc::clone(&history),
            settings.presence_window,
        );
        if let Some(backplane) = &backplane {
            lobby.set_node(Arc::clone(backplane.node()));
        }
        let by_name = HashMap::from([(RoomName::lobby(), lobby.clone())]);
        Self {
            shared: Arc::new(Shared {
                epoch,
                settings,
                history,
                rooms: Mutex::new(Rooms {
                    by_name,
                    ended: HashMap::new(),
                    forgot: false,
                }),
                lobby,
                backplane,
            }),
        }
    }

    /// The link to Redis, with `--bus redis://`.
    pub fn backplane(&self) -> Option<&Backplane> {
        self.shared.backplane.as_ref()
    }

    /// The room called `name`, created now if there is none (unless the cap is reached), ready
    /// to be served to a reader after `since`: on a shared bus, read from Redis first if this
    /// server has not yet, and read again if the cursor is ahead of this server's copy (it came
    /// from a server that heard of newer messages first; see [`Backplane::sync_to`]).
    pub async fn open(&self, name: &RoomName, since: Option<&Cursor>) -> Result<Room, OpenError> {
        let room = self.room(name)?;
        if let Some(backplane) = &self.shared.backplane {
            backplane.load(&room).await?;
            if let Some(cursor) = since {
                backplane.sync_to(&room, cursor).await?;
            }
        }
        Ok(room)
    }

    /// Publishes a message to `room` (opened with [`Self::open`]): in this process, or through
    /// Redis, which numbers it.
    pub async fn publish(
        &self,
        room: &Room,
        user: &str,
        text: &str,
        except: Option<MemberKey>,
    ) -> Result<Arc<Message>, BusDown> {
        match &self.shared.backplane {
            None => Ok(room.publish(user, text, except)),
            Some(backplane) => backplane.publish(room, user, text, except).await,
        }
    }

    /// A bus of `history` messages per room and the other defaults: for unit tests.
    pub fn with_history(history: usize) -> Self {
        Self::new(Settings {
            history,
            history_bytes: usize::MAX,
            max_rooms: 1000,
            room_idle: Duration::from_secs(300),
            presence_window: Duration::from_secs(10),
        })
    }

    /// This run's epoch: the first half of every cursor.
    pub fn epoch(&self) -> &Epoch {
        &self.shared.epoch
    }

    /// The room of requests that name none.
    pub fn lobby(&self) -> &Room {
        &self.shared.lobby
    }

    /// The room called `name`, created now if there is none, unless the cap is reached.
    pub fn room(&self, name: &RoomName) -> Result<Room, RoomsFull> {
        if name.is_lobby() {
            return Ok(self.shared.lobby.clone());
        }
        let mut rooms = self.rooms();
        if let Some(room) = rooms.by_name.get(name) {
            return Ok(room.clone());
        }
        let max = self.shared.settings.max_rooms;
        if rooms.by_name.len() >= max {
            return Err(RoomsFull { max });
        }
        let remembered = rooms.ended.remove(name);
        // On a shared bus Redis remembers: the room is read from it before it is served.
        let first_id = match &self.shared.backplane {
            None => remembered.unwrap_or(1),
            Some(_) => 1,
        };
        let epoch = if rooms.forgot && first_id == 1 {
            random_epoch()
        } else {
            self.shared.epoch.clone()
        };
        let settings = &self.shared.settings;
        let room = Room::new(
            name.clone(),
            epoch,
            settings.history,
            first_id,
            Arc::clone(&self.shared.history),
            settings.presence_window,
        );
        if let Some(backplane) = &self.shared.backplane {
            room.set_node(Arc::clone(backplane.node()));
        }
        rooms.by_name.insert(name.clone(), room.clone());
        Ok(room)
    }

    /// The room called `name`, if it exists; creates nothing.
    pub fn find(&self, name: &str) -> Option<Room> {
        self.rooms().by_name.get(name).cloned()
    }

    /// Starts the room called `name` over (the teacher's reset) with a new epoch of its own;
    /// `None` when there is no such room. Other rooms and the run's epoch are untouched. On a
    /// shared bus the room is started over in Redis, for every server.
    pub async fn start_over(&self, name: &str) -> Result<Option<StartedOver>, BusDown> {
        match &self.shared.backplane {
            None => Ok(self.start_over_here(name)),
            Some(backplane) => backplane.start_over(self, name).await,
        }
    }

    /// [`Self::start_over`] of the memory bus ([`Room::start_over`]).
    fn start_over_here(&self, name: &str) -> Option<StartedOver> {
        let room = self.find(name)?;
        let previous = room.epoch();
        let last_id = room.newest_id();
        let epoch = loop {
            let epoch = random_epoch();
            if epoch != previous {
                break epoch;
            }
        };
        let dropped = room.start_over(epoch.clone());
        Some(StartedOver {
            previous,
            epoch,
            last_id,
            dropped,
        })
    }

    /// Every room, by name.
    pub fn rooms_by_name(&self) -> Vec<Room> {
        let mut rooms: Vec<Room> = self.rooms().by_name.values().cloned().collect();
        rooms.sort_unstable_by(|a, b| a.name().cmp(b.name()));
        rooms
    }

    /// Rooms that exist now.
    pub fn room_count(&self) -> usize {
        self.rooms().by_name.len()
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Bytes all histories hold, and their cap.
    pub fn history_bytes(&self) -> (usize, usize) {
        (self.shared.history.used(), self.shared.history.cap())
    }

    /// One sweep: publishes changed head counts and drops idle rooms (never the lobby).
    pub fn sweep(&self) {
        let idle = self.shared.settings.room_idle;
        let mut dropped = Vec::new();
        {
            let mut rooms = self.rooms();
            let Rooms {
                by_name,
                ended,
                forgot,
            } = &mut *rooms;
            by_name.retain(|name, room| {
                room.presence().refresh();
                if name.is_lobby() || !room.is_idle(idle) {
                    return true;
                }
                if ended.len() >= MAX_ENDED {
                    ended.clear();
                    *forgot = true;
                }
                ended.insert(name.clone(), room.next_id());
                dropped.push(room.clone());
                false
            });
        }
        if !dropped.is_empty() {
            tracing::debug!(rooms = dropped.len(), "dropped idle rooms");
        }
        // The histories are freed here, outside the registry's lock.
        drop(dropped);
    }

    /// Sweeps every [`SWEEP_EVERY`] for as long as the bus has other handles.
    pub async fn sweep_forever(self) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if Arc::strong_count(&self.shared) == 1 {
                return;
            }
            self.sweep();
        }
    }

    fn rooms(&self) -> MutexGuard<'_, Rooms> {
        lock(&self.shared.rooms)
    }
}

/// Why a room could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Full(#[from] RoomsFull),
    #[error(transparent)]
    Down(#[from] BusDown),
}

/// Random, so two runs (or rooms) started in the same instant still differ.
pub fn random_epoch() -> Epoch {
    let bits = RandomState::new().hash_one(SystemTime::now()) as u32;
    Epoch::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> RoomName {
        RoomName::parse(s).unwrap()
    }

    fn bus(max_rooms: usize, idle: Duration) -> Bus {
        Bus::new(Settings {
            max_rooms,
            room_idle: idle,
            ..Bus::with_history(10).shared.settings.clone()
        })
    }

    /// Rooms are separate logs with ids from 1; the cap counts the lobby; names find rooms.
    #[test]
    fn rooms_are_separate_and_capped() {
        let bus = bus(3, Duration::from_secs(300));
        let math = bus.room(&name("math")).unwrap();
        let art = bus.room(&name("art")).unwrap();
        assert_eq!(math.publish("u", "a", None).id, 1);
        assert_eq!(math.publish("u", "b", None).id, 2);
        assert_eq!(art.publish("u", "c", None).id, 1);
        assert_eq!(bus.lobby().newest_id(), 0);
        assert_eq!(bus.room(&name("math")).unwrap().newest_id(), 2);
        let full = bus.room(&name("music")).err().unwrap();
        assert_eq!(full.max, 3);
        assert!(bus.find("music").is_none(), "a refused room is not created");
        assert!(bus.room(&RoomName::lobby()).is_ok());
        assert_eq!(
            bus.rooms_by_name()
                .iter()
                .map(|r| r.name().to_string())
                .collect::<Vec<_>>(),
            ["art", "lobby", "math"]
        );
    }

    /// An idle room is dropped; a room with a reader or a member is not; a re-created room
    /// continues its ids, and the lobby stays.
    #[test]
    fn idle_rooms_are_dropped_and_continue_their_ids() {
        let bus = bus(10, Duration::ZERO);
        let math = bus.room(&name("math")).unwrap();
        for _ in 0..3 {
            math.publish("u", "t", None);
        }
        let reader = math.reader(None);
        drop(math);
        bus.sweep();
        assert!(bus.find("math").is_some(), "a reader holds the room");
        drop(reader);
        let member = bus
            .room(&name("math"))
            .unwrap()
            .join(Arc::from("ada"), protocol::Transport::Sse);
        bus.sweep();
        assert!(bus.find("math").is_some(), "a member holds the room");
        drop(member);
        bus.sweep();
        assert!(bus.find("math").is_none());
        assert!(bus.find("lobby").is_some());
        let again = bus.room(&name("math")).unwrap();
        assert_eq!(again.publish("u", "t", None).id, 4);
        assert_eq!(&again.epoch(), bus.epoch());
    }
}
