//! One room: an append-only log with strictly increasing ids (from 1) and a bounded history,
//! read by every transport, and the room's members.
//!
//! Every transport is the same cursor loop over a room: "give me what is after my cursor", then
//! wait for the newest id to move. A reader whose cursor is older than the history is told how
//! many messages it can no longer get (a gap). A reader whose cursor belongs to an earlier run of
//! the server (its [`Epoch`] is not the room's, or, for a bare id, it is ahead of the log) is told
//! so too (a reset), and starts again from the oldest retained message. Nothing is ever skipped
//! silently.
//!
//! A room's history is bounded twice: by count (`--history`) and, across all rooms, by bytes
//! (`--max-history-bytes`, see [`HistoryBytes`]).
//!
//! The log sits behind a `std::sync::Mutex`: nothing awaits under the lock, and every critical
//! section is a push or a slice copy of reference-counted pointers.
//!
//! The one rule every waiting reader must keep (mark the newest id seen *before* reading the log,
//! so a publish that lands after the read always wakes it) is kept in one place: [`Reader`].
//!
//! A room can be started over (the teacher's reset, [`Room::start_over`]): a new epoch, ids from 1
//! again, the history emptied. To its readers that is a new run, exactly as after a restart of the
//! server: every cursor of the old epoch, held by an open stream or sent by a poll, gets a reset
//! notice and continues from the new run's start.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use protocol::{Cursor, Epoch, RoomName, Transport};
use tokio::sync::watch;

use crate::lock::lock;
use crate::message::Message;
use crate::presence::{MemberKey, Presence};

/// A cheap-to-clone handle to one room.
#[derive(Clone)]
pub struct Room {
    shared: Arc<Shared>,
}

struct Shared {
    name: RoomName,
    log: Mutex<Log>,
    /// The newest id. Readers mark the value seen *before* reading the log, so a publish that
    /// lands after their read always wakes them: the wake-up cannot be missed.
    newest: watch::Sender<u64>,
    /// How many messages the log keeps; older ones are evicted and reported as gaps.
    capacity: usize,
    /// The bytes all rooms' histories hold, against their cap.
    history: Arc<HistoryBytes>,
    presence: Presence,
    /// On a shared bus ([`crate::backplane`]): the log mirrors the room's log in Redis, and has
    /// been read from it at least once, so it may be served.
    loaded: AtomicBool,
    /// On a shared bus: this server's name, told in every `ready` notice.
    node: OnceLock<Arc<str>>,
}

struct Log {
    /// The run of the server (or of this room: see [`crate::bus`] and [`Room::start_over`]) every
    /// cursor handed out names, so one from another run is always recognised, whatever its id.
    /// Under the log's lock, so a read and the epoch it belongs to always go together.
    epoch: Epoch,
    /// Retained messages, oldest first; ids are contiguous, so an id maps to an index.
    messages: VecDeque<Arc<Message>>,
    /// The id the next message will get.
    next_id: u64,
    /// What `messages` holds, as counted into [`HistoryBytes`].
    bytes: usize,
    /// The last publish, subscription or poll: an idle room is dropped (see [`Room::is_idle`]).
    last_used: Instant,
}

/// The bytes every room's history holds, and their cap. When a publish takes the total over it,
/// the publishing room gives up its own oldest messages (down to one): a busy room pays for its
/// own traffic, and a quiet room keeps its history. So all histories together hold at most the cap
/// plus one message per room.
pub struct HistoryBytes {
    cap: usize,
    used: AtomicUsize,
}

impl HistoryBytes {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            used: AtomicUsize::new(0),
        }
    }
    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Relaxed)
    }
    pub fn cap(&self) -> usize {
        self.cap
    }
    fn over(&self) -> bool {
        self.used() > self.cap
    }
}

/// What one retained message costs: its encoding plus the bookkeeping around it.
fn footprint(message: &Message) -> usize {
    message.sse_event().len() + std::mem::size_of::<Message>() + 2 * std::mem::size_of::<usize>()
}

/// What [`Room::mirror`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    /// Every message is in the log.
    Done,
    /// The messages are of another run than the log: Redis's room was started over or lost.
    OtherEpoch,
    /// A message above the next id arrived: the messages from `next` on must be read first.
    Missing { next: u64 },
}

/// What is after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// Messages after the cursor, oldest first, at most the requested limit.
    pub messages: Vec<Arc<Message>>,
    /// Messages after the cursor that were evicted from history and can no longer be delivered.
    pub missed: u64,
    /// The cursor was ahead of the newest id: it belongs to an earlier run of the server.
    /// Delivery restarts from the oldest retained message.
    pub reset: bool,
    /// Where the reader stands after taking `messages`: the cursor to pass next time.
    pub cursor: u64,
    /// Where delivery continued from: the id before the first of `messages`. After a gap, the
    /// reader's new cursor.
    pub from: u64,
    /// The run these ids belong to: the first half of the cursor to pass next time.
    pub epoch: Epoch,
}

impl Since {
    /// A gap notice is due: the reader cannot continue contiguously from its cursor.
    pub fn is_gap(&self) -> bool {
        self.missed > 0 || self.reset
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Message {}

impl Drop for Shared {
    fn drop(&mut self) {
        let bytes = lock(&self.log).bytes;
        self.history.used.fetch_sub(bytes, Relaxed);
    }
}

impl Room {
    /// A room keeping its newest `capacity` messages (at least one), whose first message gets
    /// `first_id`: 1, or where an earlier incarnation of the room in this run stopped.
    pub fn new(
        name: RoomName,
        epoch: Epoch,
        capacity: usize,
        first_id: u64,
        history: Arc<HistoryBytes>,
        presence_window: Duration,
    ) -> Self {
        let capacity = capacity.max(1);
        let first_id = first_id.max(1);
        let (newest, _) = watch::channel(first_id - 1);
        Self {
            shared: Arc::new(Shared {
                name,
                log: Mutex::new(Log {
                    epoch,
                    messages: VecDeque::new(),
                    next_id: first_id,
                    bytes: 0,
                    last_used: Instant::now(),
                }),
                newest,
                capacity,
                history,
                presence: Presence::new(presence_window),
                loaded: AtomicBool::new(false),
                node: OnceLock::new(),
            }),
        }
    }

    pub fn name(&self) -> &RoomName {
        &self.shared.name
    }

    /// Appends a message and wakes every waiting reader. `except`: the member that must not
    /// receive it (Socket.IO's broadcast to others).
    pub fn publish(&self, user: &str, text: &str, except: Option<MemberKey>) -> Arc<Message> {
        let mut log = self.lock();
        let id = log.next_id;
        let message = Arc::new(Message::encode(
            &log.epoch,
            &self.shared.name,
            id,
            user,
            text,
            unix_millis(),
            except,
        ));
        self.push(&mut log, Arc::clone(&message));
        // Sent under the lock so the watched id never moves backwards between two publishers.
        self.shared.newest.send_replace(id);
        message
    }

    /// Appends `message` (the next id) and evicts what the history can no longer hold.
    fn push(&self, log: &mut Log, message: Arc<Message>) {
        let size = footprint(&message);
        log.next_id = message.id + 1;
        log.messages.push_back(message);
        log.bytes += size;
        log.last_used = Instant::now();
        self.shared.history.used.fetch_add(size, Relaxed);
        while log.messages.len() > self.shared.capacity
            || (log.messages.len() > 1 && self.shared.history.over())
        {
            if let Some(evicted) = log.messages.pop_front() {
                let size = footprint(&evicted);
                log.bytes -= size;
                self.shared.history.used.fetch_sub(size, Relaxed);
            }
        }
    }

    /// On a shared bus: appends messages numbered by Redis, oldest first, in run `epoch`, and
    /// wakes the readers. A message this log already has is skipped, so the same message may
    /// arrive twice (by pub/sub and by a catch-up read) and is kept once.
    ///
    /// `read_from`: the messages are a read of Redis's log from that id on, so a first message
    /// above the next id here means the ones between are gone from Redis too (trimmed): this log
    /// jumps over them, dropping its own history so ids stay contiguous, and readers with a cursor
    /// in between get a gap notice. Without it (a pub/sub message), a message above the next id
    /// stops the append: the caller must read what is missing first.
    pub fn mirror(
        &self,
        epoch: &Epoch,
        read_from: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Mirrored {
        let mut log = self.lock();
        if log.epoch != *epoch {
            return Mirrored::OtherEpoch;
        }
        let before = log.next_id;
        let mut outcome = Mirrored::Done;
        for message in messages {
            if message.id < log.next_id {
                continue;
            }
            if message.id > log.next_id {
                if read_from.is_none_or(|from| from > log.next_id) {
                    outcome = Mirrored::Missing { next: log.next_id };
                    break;
                }
                let dropped = std::mem::take(&mut log.messages);
                self.shared.history.used.fetch_sub(log.bytes, Relaxed);
                log.bytes = 0;
                drop(dropped);
            }
            self.push(&mut log, Arc::clone(message));
        }
        if log.next_id != before {
            self.shared.newest.send_replace(log.next_id - 1);
        }
        outcome
    }

    /// On a shared bus: the log has been read from Redis (see [`Self::mirror`]).
    pub fn is_loaded(&self) -> bool {
        self.shared.loaded.load(Relaxed)
    }

    pub fn set_loaded(&self) {
        self.shared.loaded.store(true, Relaxed);
    }

    /// On a shared bus: the server's name every `ready` notice tells.
    pub fn node(&self) -> Option<&Arc<str>> {
        self.shared.node.get()
    }

    pub fn set_node(&self, node: Arc<str>) {
        let _ = self.shared.node.set(node);
    }

    /// This room's epoch: the first half of every cursor it hands out.
    pub fn epoch(&self) -> Epoch {
        self.lock().epoch.clone()
    }

    /// Up to `limit` messages after `cursor`, with the gap or reset that applies to that cursor.
    pub fn since(&self, cursor: &Cursor, limit: usize) -> Since {
        let log = self.lock();
        match cursor.epoch.as_ref() {
            Some(epoch) if *epoch != log.epoch => Self::read(&log, 0, true, limit),
            _ => Self::read_after(&log, cursor.id, limit),
        }
    }

    /// Up to `limit` messages after id `cursor` of this run. An id ahead of the newest is a
    /// reset: it can only come from an earlier run.
    pub fn after(&self, cursor: u64, limit: usize) -> Since {
        Self::read_after(&self.lock(), cursor, limit)
    }

    fn read_after(log: &Log, cursor: u64, limit: usize) -> Since {
        let reset = cursor > log.next_id - 1;
        Self::read(log, if reset { 0 } else { cursor }, reset, limit)
    }

    /// Starts the room over (the teacher's reset): a new `epoch`, no history, ids from 1 again.
    /// Every waiting reader is woken and, holding a cursor of the old epoch, gets a reset notice,
    /// as after a restart of the server. Returns how many messages the history held.
    pub fn start_over(&self, epoch: Epoch) -> usize {
        let mut log = self.lock();
        let dropped = log.messages.len();
        log.messages.clear();
        self.shared.history.used.fetch_sub(log.bytes, Relaxed);
        log.bytes = 0;
        log.next_id = 1;
        log.epoch = epoch;
        log.last_used = Instant::now();
        // Under the lock, like a publish: the wake-up is for a log readers will see new.
        self.shared.newest.send_replace(0);
        dropped
    }

    fn read(log: &Log, from: u64, reset: bool, limit: usize) -> Since {
        let newest = log.next_id - 1;
        // `oldest` is `newest + 1` while nothing is retained (a fresh room).
        let oldest = log.messages.front().map_or(newest + 1, |m| m.id);
        let missed = (oldest - 1).saturating_sub(from);
        let from = from.max(oldest - 1);
        let start = (from + 1 - oldest) as usize;
        let messages: Vec<_> = log.messages.range(start..).take(limit).cloned().collect();
        let cursor = messages.last().map_or(from, |m| m.id);
        Since {
            messages,
            missed,
            reset,
            cursor,
            from,
            epoch: log.epoch.clone(),
        }
    }

    /// The newest `limit` messages (what a poll without a cursor gets).
    pub fn latest(&self, limit: usize) -> Since {
        let newest = self.newest_id();
        self.after(newest.saturating_sub(limit as u64), limit)
    }

    /// The id of the newest message, 0 before the first.
    pub fn newest_id(&self) -> u64 {
        *self.shared.newest.borrow()
    }

    /// Messages and bytes the history holds now.
    pub fn retained(&self) -> (usize, usize) {
        let log = self.lock();
        (log.messages.len(), log.bytes)
    }

    /// A reader after `since`, or (without a cursor) after the newest message now, so it gets
    /// live messages only. It watches the newest id from before that id is read, so nothing
    /// published in between can slip past it.
    ///
    /// A cursor of an earlier run starts the reader at 0 of this run with a reset pending: its
    /// [`Reader::cursor`] is then already a safe one to resume from, before anything was read.
    pub fn reader(&self, since: Option<&Cursor>) -> Reader {
        let mut wake = self.shared.newest.subscribe();
        wake.borrow_and_update();
        let mut log = self.lock();
        log.last_used = Instant::now();
        let (cursor, reset_pending) = match since {
            None => (log.next_id - 1, false),
            Some(c) if c.epoch.as_ref().is_some_and(|e| *e != log.epoch) => (0, true),
            Some(c) => (c.id, false),
        };
        Reader {
            cursor,
            reset_pending,
            epoch: log.epoch.clone(),
            room: self.clone(),
            wake,
        }
    }

    /// The room was used now (a poll read it): it is not idle.
    pub fn touch(&self) {
        self.lock().last_used = Instant::now();
    }

    /// The room's members.
    pub fn presence(&self) -> &Presence {
        &self.shared.presence
    }

    /// `key` is in the room on `transport` for as long as the returned guard lives.
    pub fn join(&self, key: MemberKey, transport: Transport) -> Membership {
        self.shared.presence.open(&key, transport);
        Membership {
            room: self.clone(),
            key,
            transport,
        }
    }

    /// Nobody holds the room (no reader, no member, no poll within the presence window) and
    /// nothing used it for `idle`: it can be dropped. Only the registry may ask, under its lock,
    /// holding the one remaining handle.
    pub fn is_idle(&self, idle: Duration) -> bool {
        Arc::strong_count(&self.shared) == 1
            && self.shared.presence.is_empty()
            && self.lock().last_used.elapsed() >= idle
    }

    /// The id the next message will get: where a re-created room continues.
    pub fn next_id(&self) -> u64 {
        self.lock().next_id
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        lock(&self.shared.log)
    }
}

/// A member's place in a room: dropping it is leaving.
pub struct Membership {
    room: Room,
    key: MemberKey,
    transport: Transport,
}

impl Membership {
    pub fn key(&self) -> &MemberKey {
        &self.key
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.room.presence().close(&self.key, self.transport);
    }
}

/// One reader's place in a room's log, and its wake-up: the only way to read by cursor and wait
/// for more, so the ordering that makes a wake-up impossible to miss is written once, here.
pub struct Reader {
    room: Room,
    /// Id of the last message read (or the starting point), in this run.
    cursor: u64,
    /// The client's cursor was of an earlier run: the first read says so.
    reset_pending: bool,
    /// The run `cursor` belongs to. When the room is started over, the log's epoch moves on and
    /// the next read is a reset.
    epoch: Epoch,
    wake: watch::Receiver<u64>,
}

impl Reader {
    /// The id of the last message read: the cursor a client resumes from.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The run its cursor belongs to.
    pub fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    /// The room it reads.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// Up to `limit` messages after the cursor (with the gap that applies to it), and moves the
    /// cursor past them. A room started over since the last read is a reset.
    pub fn read(&mut self, limit: usize) -> Since {
        // Mark the newest id seen *before* reading: a publish after this read moves it again,
        // and that is what `wait` waits for.
        self.wake.borrow_and_update();
        let log = self.room.lock();
        let started_over = log.epoch != self.epoch;
        let since = if std::mem::take(&mut self.reset_pending) || started_over {
            Room::read(&log, 0, true, limit)
        } else {
            Room::read_after(&log, self.cursor, limit)
        };
        drop(log);
        self.cursor = since.cursor;
        self.epoch = since.epoch.clone();
        since
    }

    /// Resolves once a message newer than the last [`Self::read`] exists (at once if one already
    /// does); `false` if the room is gone. Cancel-safe: dropping it loses nothing.
    pub async fn wait(&mut self) -> bool {
        self.wake.changed().await.is_ok()
    }
}

/// Now, in Unix milliseconds: a message's `ts`.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(since: &Since) -> Vec<u64> {
        since.messages.iter().map(|m| m.id).collect()
    }

    fn room(capacity: usize) -> Room {
        Room::new(
            RoomName::lobby(),
            Epoch::parse("abc123").unwrap(),
            capacity,
            1,
            Arc::new(HistoryBytes::new(usize::MAX)),
            Duration::from_secs(10),
        )
    }

    fn bare(id: u64) -> Cursor {
        Cursor { epoch: None, id }
    }

    /// The bytes of all histories stay under their cap: the publishing room sheds its oldest,
    /// down to one message, and dropping a room gives its bytes back.
    #[test]
    fn history_bytes_are_capped_across_rooms() {
        let history = Arc::new(HistoryBytes::new(4000));
        let make = |name: &str| {
            Room::new(
                RoomName::parse(name).unwrap(),
                Epoch::parse("abc123").unwrap(),
                1000,
                1,
                Arc::clone(&history),
                Duration::from_secs(10),
            )
        };
        let (quiet, busy) = (make("quiet"), make("busy"));
        for _ in 0..5 {
            quiet.publish("u", &"q".repeat(100), None);
        }
        let quiet_bytes = history.used();
        for _ in 0..100 {
            busy.publish("u", &"b".repeat(100), None);
        }
        assert!(history.used() <= 4000, "{} > cap", history.used());
        assert_eq!(quiet.retained().0, 5, "a quiet room keeps its history");
        let (kept, _) = busy.retained();
        assert!(kept > 1 && kept < 100, "busy kept {kept}");
        let s = busy.after(0, usize::MAX);
        assert_eq!(
            s.missed,
            100 - kept as u64,
            "evicted by bytes is a gap like any other"
        );
        drop(busy);
        assert_eq!(history.used(), quiet_bytes);
        // A room re-created where an earlier one stopped continues its ids; older cursors gap.
        let again = Room::new(
            RoomName::parse("busy").unwrap(),
            Epoch::parse("abc123").unwrap(),
            10,
            101,
            Arc::clone(&history),
            Duration::from_secs(10),
        );
        assert_eq!(again.publish("u", "t", None).id, 101);
        let s = again.after(40, 10);
        assert_eq!((ids(&s), s.missed, s.reset), (vec![101], 60, false));
    }

    /// Ids start at 1 and increase by one per publish, across threads.
    #[test]
    fn ids_are_strictly_increasing_from_one() {
        let bus = room(10_000);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .map(|_| bus.publish("u", "t", None).id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            let mine = h.join().unwrap();
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
        }
        let all = bus.after(0, usize::MAX);
        assert_eq!(ids(&all), (1..=2000).collect::<Vec<_>>());
        assert_eq!(bus.newest_id(), 2000);
    }

    /// A fresh bus is empty and a cursor of 0 is neither a gap nor a reset.
    #[test]
    fn fresh_bus_is_empty() {
        let bus = room(5);
        let s = bus.after(0, 100);
        assert_eq!(
            (s.messages.len(), s.missed, s.reset, s.cursor),
            (0, 0, false, 0)
        );
        assert_eq!(bus.newest_id(), 0);
    }

    /// The history keeps the newest `capacity` messages; older cursors get an exact gap count.
    #[test]
    fn eviction_reports_exact_gap() {
        let bus = room(5);
        for i in 0..12 {
            bus.publish("u", &format!("m{i}"), None);
        }
        // 12 published, 8..=12 retained.
        let s = bus.after(0, 100);
        assert_eq!(
            (ids(&s), s.missed, s.reset, s.cursor),
            (vec![8, 9, 10, 11, 12], 7, false, 12)
        );
        let s = bus.after(5, 100);
        assert_eq!((ids(&s), s.missed), (vec![8, 9, 10, 11, 12], 2));
        let s = bus.after(7, 100);
        assert_eq!(
            (ids(&s), s.missed, s.is_gap()),
            (vec![8, 9, 10, 11, 12], 0, false)
        );
        let s = bus.after(10, 100);
        assert_eq!((ids(&s), s.missed, s.cursor), (vec![11, 12], 0, 12));
        let s = bus.after(12, 100);
        assert_eq!((ids(&s), s.missed, s.cursor), (vec![], 0, 12));
    }

    /// A limit cuts the batch, and the cursor continues where it stopped.
    #[test]
    fn limit_and_continue() {
        let bus = room(100);
        for _ in 0..10 {
            bus.publish("u", "t", None);
        }
        let s = bus.after(2, 3);
        assert_eq!((ids(&s), s.cursor), (vec![3, 4, 5], 5));
        let s = bus.after(s.cursor, 100);
        assert_eq!((ids(&s), s.cursor), ((6..=10).collect(), 10));
        let s = bus.latest(4);
        assert_eq!((ids(&s), s.cursor, s.missed), (vec![7, 8, 9, 10], 10, 0));
    }

    /// A cursor ahead of the newest id (from before a restart) restarts from the oldest retained
    /// message and says so, counting what was evicted meanwhile.
    #[test]
    fn cursor_ahead_of_log_is_a_reset() {
        let bus = room(3);
        for _ in 0..5 {
            bus.publish("u", "t", None);
        }
        let s = bus.after(99, 100);
        assert_eq!(
            (ids(&s), s.missed, s.reset, s.cursor),
            (vec![3, 4, 5], 2, true, 5)
        );
        let fresh = room(3);
        let s = fresh.after(99, 100);
        assert_eq!((ids(&s), s.missed, s.reset, s.cursor), (vec![], 0, true, 0));
    }

    /// A reader is woken by a publish after its read, even one that landed before it waited.
    #[tokio::test]
    async fn wake_up_cannot_be_missed() {
        let bus = room(10);
        let mut reader = bus.reader(Some(&bare(0)));
        assert!(reader.read(10).messages.is_empty());
        let publisher = bus.clone();
        let handle = tokio::spawn(async move { publisher.publish("u", "late", None) });
        assert!(reader.wait().await);
        assert_eq!(ids(&reader.read(10)), vec![1]);
        assert_eq!((reader.cursor(), handle.await.unwrap().id), (1, 1));
        // Published after the read but before waiting: wait() returns at once.
        bus.publish("u", "early", None);
        let woke = tokio::time::timeout(std::time::Duration::from_millis(100), reader.wait()).await;
        assert_eq!(woke, Ok(true), "a publish before waiting still wakes");
        assert_eq!(ids(&reader.read(10)), vec![2]);
    }

    /// A reader without a cursor starts at the newest message: live messages only.
    #[test]
    fn reader_without_cursor_is_live_only() {
        let bus = room(10);
        bus.publish("u", "old", None);
        let mut reader = bus.reader(None);
        assert_eq!(reader.cursor(), 1);
        bus.publish("u", "new", None);
        assert_eq!(ids(&reader.read(10)), vec![2]);
    }

    /// A cursor of another run is a reset whatever its id, even one below the newest (the case a
    /// bare id cannot tell); this run's epoch continues; the reader's cursor is safe at once.
    #[test]
    fn cursor_of_another_run_is_a_reset() {
        let bus = room(3);
        for _ in 0..5 {
            bus.publish("u", "t", None);
        }
        let old = Cursor {
            epoch: Epoch::parse("zzzzzz"),
            id: 2,
        };
        let s = bus.since(&old, 100);
        assert_eq!(
            (ids(&s), s.missed, s.reset, s.from, s.cursor),
            (vec![3, 4, 5], 2, true, 2, 5)
        );
        let this = Cursor {
            epoch: Some(bus.epoch().clone()),
            id: 4,
        };
        let s = bus.since(&this, 100);
        assert_eq!((ids(&s), s.reset, s.from), (vec![5], false, 4));

        let mut reader = bus.reader(Some(&old));
        assert_eq!(reader.cursor(), 0);
        let s = reader.read(100);
        assert_eq!((ids(&s), s.reset, s.missed), (vec![3, 4, 5], true, 2));
        assert!(!reader.read(100).reset, "the reset is said once");
        let event = bus.publish("u", "t", None).sse_event();
        assert!(event.starts_with(format!("id: {}-6\ndata: ", bus.epoch()).as_bytes()));
    }

    /// Starting over: a waiting reader wakes into a reset of the new epoch, its history bytes are
    /// given back, ids start from 1, and a cursor of the old epoch is a reset whatever its id.
    #[tokio::test]
    async fn a_room_started_over_is_a_new_run() {
        let history = Arc::new(HistoryBytes::new(usize::MAX));
        let room = Room::new(
            RoomName::lobby(),
            Epoch::parse("abc123").unwrap(),
            10,
            1,
            Arc::clone(&history),
            Duration::from_secs(10),
        );
        for _ in 0..3 {
            room.publish("u", "t", None);
        }
        let mut reader = room.reader(None);
        assert!(reader.read(10).messages.is_empty());
        let old = Cursor {
            epoch: Some(room.epoch()),
            id: 2,
        };
        let fresh = Epoch::parse("def456").unwrap();
        assert_eq!(room.start_over(fresh.clone()), 3);
        assert_eq!(
            (history.used(), room.newest_id(), room.epoch()),
            (0, 0, fresh.clone())
        );
        let woke = tokio::time::timeout(Duration::from_millis(100), reader.wait()).await;
        assert_eq!(woke, Ok(true), "a waiting reader is woken");
        let s = reader.read(10);
        assert_eq!(
            (ids(&s), s.reset, s.from, &s.epoch),
            (vec![], true, 0, &fresh)
        );
        assert_eq!(reader.epoch(), &fresh);
        assert_eq!(room.publish("u", "t", None).id, 1);
        let s = reader.read(10);
        assert_eq!(
            (ids(&s), s.reset),
            (vec![1], false),
            "the reset is said once"
        );
        let s = room.since(&old, 10);
        assert_eq!((ids(&s), s.reset, &s.epoch), (vec![1], true, &fresh));
    }
}
