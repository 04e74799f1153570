//! The message bus: THE shared state of the chat room, read by all five transports.
//!
//! An append-only log with strictly increasing ids (from 1) and a bounded history. Every transport
//! is the same cursor loop over it: "give me what is after my cursor", then wait for the newest id
//! to move. A reader whose cursor is older than the history is told how many messages it can no
//! longer get (a gap). A reader whose cursor belongs to an earlier run of the server (its
//! [`Epoch`] is not this bus's, or, for a bare id, it is ahead of the log) is told so too (a
//! reset), and starts again from the oldest retained message. Nothing is ever skipped silently.
//!
//! The log sits behind a `std::sync::Mutex`: nothing awaits under the lock, and every critical
//! section is a push or a slice copy of reference-counted pointers.
//!
//! The one rule every waiting reader must keep (mark the newest id seen *before* reading the log,
//! so a publish that lands after the read always wakes it) is kept in one place: [`Reader`].

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::{Cursor, Epoch};
use tokio::sync::watch;

use crate::lock::lock;
use crate::message::Message;

/// A cheap-to-clone handle to the one message log.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

struct Shared {
    log: Mutex<Log>,
    /// The newest id. Readers mark the value seen *before* reading the log, so a publish that
    /// lands after their read always wakes them: the wake-up cannot be missed.
    newest: watch::Sender<u64>,
    /// How many messages the log keeps; older ones are evicted and reported as gaps.
    capacity: usize,
    /// This run of the server: every cursor handed out names it, so one from another run is
    /// always recognised, whatever its id.
    epoch: Epoch,
}

struct Log {
    /// Retained messages, oldest first; ids are contiguous, so an id maps to an index.
    messages: VecDeque<Arc<Message>>,
    /// The id the next message will get.
    next_id: u64,
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

impl Bus {
    /// A bus keeping the newest `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (newest, _) = watch::channel(0);
        // Random, so two runs started in the same instant still differ.
        let bits = RandomState::new().hash_one(SystemTime::now()) as u32;
        Self {
            shared: Arc::new(Shared {
                log: Mutex::new(Log {
                    messages: VecDeque::with_capacity(capacity.min(4096)),
                    next_id: 1,
                }),
                newest,
                capacity,
                epoch: Epoch::from_bits(bits),
            }),
        }
    }

    /// Appends a message and wakes every waiting reader.
    pub fn publish(&self, user: &str, text: &str) -> Arc<Message> {
        let mut log = self.lock();
        let id = log.next_id;
        log.next_id += 1;
        let message = Arc::new(Message::encode(
            &self.shared.epoch,
            id,
            user,
            text,
            unix_millis(),
        ));
        if log.messages.len() == self.shared.capacity {
            log.messages.pop_front();
        }
        log.messages.push_back(Arc::clone(&message));
        // Sent under the lock so the watched id never moves backwards between two publishers.
        self.shared.newest.send_replace(id);
        message
    }

    /// This run's epoch: the first half of every cursor.
    pub fn epoch(&self) -> &Epoch {
        &self.shared.epoch
    }

    /// Up to `limit` messages after `cursor`, with the gap or reset that applies to that cursor.
    pub fn since(&self, cursor: &Cursor, limit: usize) -> Since {
        match self.resolve(cursor) {
            Start::After(id) => self.after(id, limit),
            Start::Reset => self.reset(limit),
        }
    }

    /// Where a client's cursor starts in this run.
    fn resolve(&self, cursor: &Cursor) -> Start {
        match &cursor.epoch {
            Some(epoch) if *epoch != self.shared.epoch => Start::Reset,
            _ => Start::After(cursor.id),
        }
    }

    /// Up to `limit` messages after id `cursor` of this run. An id ahead of the newest is a
    /// reset: it can only come from an earlier run.
    pub fn after(&self, cursor: u64, limit: usize) -> Since {
        let log = self.lock();
        let reset = cursor > log.next_id - 1;
        Self::read(&log, if reset { 0 } else { cursor }, reset, limit)
    }

    /// From the start of this run, as a reset: what a cursor of an earlier run gets.
    fn reset(&self, limit: usize) -> Since {
        Self::read(&self.lock(), 0, true, limit)
    }

    fn read(log: &Log, from: u64, reset: bool, limit: usize) -> Since {
        let newest = log.next_id - 1;
        // The log is never empty once something was published (capacity >= 1), so `oldest` is
        // `newest + 1` only for a fresh bus.
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

    /// A reader after `since`, or (without a cursor) after the newest message now, so it gets
    /// live messages only. It watches the newest id from before that id is read, so nothing
    /// published in between can slip past it.
    ///
    /// A cursor of an earlier run starts the reader at 0 of this run with a reset pending: its
    /// [`Reader::cursor`] is then already a safe one to resume from, before anything was read.
    pub fn reader(&self, since: Option<&Cursor>) -> Reader {
        let mut wake = self.shared.newest.subscribe();
        wake.borrow_and_update();
        let start = since.map_or_else(|| Start::After(self.newest_id()), |c| self.resolve(c));
        let (cursor, reset_pending) = match start {
            Start::After(id) => (id, false),
            Start::Reset => (0, true),
        };
        Reader {
            cursor,
            reset_pending,
            bus: self.clone(),
            wake,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        lock(&self.shared.log)
    }
}

/// Where a cursor starts in this run.
enum Start {
    /// After this id of this run.
    After(u64),
    /// From the start of this run, with a reset notice: the cursor is of an earlier run.
    Reset,
}

/// One reader's place in the log, and its wake-up: the only way to read by cursor and wait for
/// more, so the ordering that makes a wake-up impossible to miss is written once, here.
pub struct Reader {
    bus: Bus,
    /// Id of the last message read (or the starting point), in this run.
    cursor: u64,
    /// The client's cursor was of an earlier run: the first read says so.
    reset_pending: bool,
    wake: watch::Receiver<u64>,
}

impl Reader {
    /// The id of the last message read: the cursor a client resumes from.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Up to `limit` messages after the cursor (with the gap that applies to it), and moves the
    /// cursor past them.
    pub fn read(&mut self, limit: usize) -> Since {
        // Mark the newest id seen *before* reading: a publish after this read moves it again,
        // and that is what `wait` waits for.
        self.wake.borrow_and_update();
        let since = if std::mem::take(&mut self.reset_pending) {
            self.bus.reset(limit)
        } else {
            self.bus.after(self.cursor, limit)
        };
        self.cursor = since.cursor;
        since
    }

    /// Resolves once a message newer than the last [`Self::read`] exists (at once if one already
    /// does); `false` if the bus is gone. Cancel-safe: dropping it loses nothing.
    pub async fn wait(&mut self) -> bool {
        self.wake.changed().await.is_ok()
    }
}

fn unix_millis() -> u64 {
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

    fn bare(id: u64) -> Cursor {
        Cursor { epoch: None, id }
    }

    /// Ids start at 1 and increase by one per publish, across threads.
    #[test]
    fn ids_are_strictly_increasing_from_one() {
        let bus = Bus::new(10_000);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .map(|_| bus.publish("u", "t").id)
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
        let bus = Bus::new(5);
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
        let bus = Bus::new(5);
        for i in 0..12 {
            bus.publish("u", &format!("m{i}"));
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
        let bus = Bus::new(100);
        for _ in 0..10 {
            bus.publish("u", "t");
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
        let bus = Bus::new(3);
        for _ in 0..5 {
            bus.publish("u", "t");
        }
        let s = bus.after(99, 100);
        assert_eq!(
            (ids(&s), s.missed, s.reset, s.cursor),
            (vec![3, 4, 5], 2, true, 5)
        );
        let fresh = Bus::new(3);
        let s = fresh.after(99, 100);
        assert_eq!((ids(&s), s.missed, s.reset, s.cursor), (vec![], 0, true, 0));
    }

    /// A reader is woken by a publish after its read, even one that landed before it waited.
    #[tokio::test]
    async fn wake_up_cannot_be_missed() {
        let bus = Bus::new(10);
        let mut reader = bus.reader(Some(&bare(0)));
        assert!(reader.read(10).messages.is_empty());
        let publisher = bus.clone();
        let handle = tokio::spawn(async move { publisher.publish("u", "late") });
        assert!(reader.wait().await);
        assert_eq!(ids(&reader.read(10)), vec![1]);
        assert_eq!((reader.cursor(), handle.await.unwrap().id), (1, 1));
        // Published after the read but before waiting: wait() returns at once.
        bus.publish("u", "early");
        let woke = tokio::time::timeout(std::time::Duration::from_millis(100), reader.wait()).await;
        assert_eq!(woke, Ok(true), "a publish before waiting still wakes");
        assert_eq!(ids(&reader.read(10)), vec![2]);
    }

    /// A reader without a cursor starts at the newest message: live messages only.
    #[test]
    fn reader_without_cursor_is_live_only() {
        let bus = Bus::new(10);
        bus.publish("u", "old");
        let mut reader = bus.reader(None);
        assert_eq!(reader.cursor(), 1);
        bus.publish("u", "new");
        assert_eq!(ids(&reader.read(10)), vec![2]);
    }

    /// A cursor of another run is a reset whatever its id, even one below the newest (the case a
    /// bare id cannot tell); this run's epoch continues; the reader's cursor is safe at once.
    #[test]
    fn cursor_of_another_run_is_a_reset() {
        let bus = Bus::new(3);
        for _ in 0..5 {
            bus.publish("u", "t");
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
        let event = bus.publish("u", "t").sse_event();
        assert!(event.starts_with(format!("id: {}-6\ndata: ", bus.epoch()).as_bytes()));
    }
}
