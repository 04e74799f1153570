//! Who is in a room, by transport: what `GET /api/rooms` lists and the `presence` event carries.
//!
//! A member is a client id with an open stream or socket in the room, or one whose poll or long
//! poll reached the room within the presence window: polls have no connection to hold open, so
//! "was here lately" is the only membership they can have. A stream or socket without a client
//! id counts as one member of its own; a poll without one cannot be told from any other and is
//! not counted.
//!
//! Changes only mark the room dirty. The bus's sweeper (once a second) recomputes dirty rooms and
//! publishes the new counts to the room's watchers, which is the debounce: however many come and
//! go within a second, a subscriber gets at most one `presence` event per second per room.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::{PerTransport, Transport};
use tokio::sync::watch;

use crate::lock::lock;

/// Who a member is: a client id, or (for a stream or socket that gave none) a key of its own
/// that no valid client id can equal.
pub type MemberKey = Arc<str>;

/// A member key for a connection without a client id: `#` is not allowed in client ids.
pub fn anonymous_key() -> MemberKey {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    Arc::from(format!("#{}", NEXT.fetch_add(1, Relaxed)))
}

/// A room's head count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headcount {
    /// Distinct members, each counted once whatever transports it uses.
    pub members: u64,
    /// Members per transport: a client on two transports is in both.
    pub by_transport: PerTransport,
}

/// A room's members and the watchers of its head count.
pub struct Presence {
    /// How long a poll keeps its client a member.
    window: Duration,
    members: Mutex<Members>,
    /// The head count as last published by the sweeper; streams and sockets watch it.
    published: watch::Sender<Headcount>,
    /// On a shared bus: the members other servers have in this room, as they last told.
    remote: Mutex<Headcount>,
}

#[derive(Default)]
struct Members {
    by_key: HashMap<(MemberKey, Transport), Entry>,
    /// Something changed since the sweeper last published.
    dirty: bool,
}

struct Entry {
    /// Open streams, sockets or held long polls of this member on this transport.
    open: u32,
    /// When a poll or long poll of this member last reached the room.
    last_seen: Instant,
}

impl Presence {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            members: Mutex::default(),
            published: watch::Sender::new(Headcount::default()),
            remote: Mutex::default(),
        }
    }

    /// A stream, socket or held long poll of `key` opened.
    pub fn open(&self, key: &MemberKey, transport: Transport) {
        let mut members = lock(&self.members);
        let entry = members
            .by_key
            .entry((Arc::clone(key), transport))
            .or_insert_with(|| Entry {
                open: 0,
                last_seen: Instant::now(),
            });
        entry.open += 1;
        entry.last_seen = Instant::now();
        members.dirty = true;
    }

    /// One of them closed. A stream's member leaves with its last connection; a poll's stays for
    /// the window, as if it had just polled.
    pub fn close(&self, key: &MemberKey, transport: Transport) {
        let mut members = lock(&self.members);
        let id = (Arc::clone(key), transport);
        let Some(entry) = members.by_key.get_mut(&id) else {
            return;
        };
        entry.open = entry.open.saturating_sub(1);
        entry.last_seen = Instant::now();
        if entry.open == 0 && !transport.is_poll() {
            members.by_key.remove(&id);
        }
        members.dirty = true;
    }

    /// A poll of `key` reached the room.
    pub fn seen(&self, key: &MemberKey, transport: Transport) {
        let mut members = lock(&self.members);
        match members.by_key.get_mut(&(Arc::clone(key), transport)) {
            Some(entry) => entry.last_seen = Instant::now(),
            None => {
                members.by_key.insert(
                    (Arc::clone(key), transport),
                    Entry {
                        open: 0,
                        last_seen: Instant::now(),
                    },
                );
                members.dirty = true;
            }
        }
    }

    /// The head count now: this server's members and, on a shared bus, the other servers'. A
    /// client on two servers is counted by each.
    pub fn headcount(&self) -> Headcount {
        let mut count = self.local_headcount();
        let remote = *lock(&self.remote);
        count.members += remote.members;
        for t in Transport::ALL {
            count.by_transport.add(t, remote.by_transport.get(t));
        }
        count
    }

    /// On a shared bus: the other servers' members, as they last told; the sweeper publishes the
    /// change.
    pub fn set_remote(&self, count: Headcount) {
        let mut remote = lock(&self.remote);
        if *remote != count {
            *remote = count;
            lock(&self.members).dirty = true;
        }
    }

    /// The members this server holds.
    pub fn local_headcount(&self) -> Headcount {
        let members = lock(&self.members);
        let mut count = Headcount::default();
        let mut distinct: Vec<&MemberKey> = Vec::with_capacity(members.by_key.len());
        for ((key, transport), entry) in &members.by_key {
            if entry.open > 0 || entry.last_seen.elapsed() < self.window {
                count.by_transport.add(*transport, 1);
                distinct.push(key);
            }
        }
        distinct.sort_unstable();
        distinct.dedup();
        count.members = distinct.len() as u64;
        count
    }

    /// Nobody is in the room, not even a poll within the window.
    pub fn is_empty(&self) -> bool {
        lock(&self.members).by_key.is_empty()
    }

    /// The sweeper's step: forgets polls older than the window and, if anything changed, tells
    /// the watchers the new head count (only if it differs from the last one they got).
    pub fn refresh(&self) {
        let changed = {
            let mut members = lock(&self.members);
            let window = self.window;
            let before = members.by_key.len();
            members
                .by_key
                .retain(|_, e| e.open > 0 || e.last_seen.elapsed() < window);
            let expired = members.by_key.len() != before;
            std::mem::take(&mut members.dirty) || expired
        };
        if changed {
            let now = self.headcount();
            self.published.send_if_modified(|last| {
                let modified = *last != now;
                *last = now;
                modified
            });
        }
    }

    /// The published head count, for a stream or socket that sends `presence` events. Only
    /// changes after this call wake it.
    pub fn watch(&self) -> watch::Receiver<Headcount> {
        let mut receiver = self.published.subscribe();
        receiver.mark_unchanged();
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> MemberKey {
        Arc::from(s)
    }

    /// Distinct members, per-transport counts, streams leave at once, polls stay for the window.
    #[test]
    fn members_come_and_go() {
        let presence = Presence::new(Duration::from_millis(200));
        presence.open(&key("ada"), Transport::Sse);
        presence.open(&key("ada"), Transport::Ws);
        presence.seen(&key("bob"), Transport::Poll);
        presence.seen(&key("bob"), Transport::Poll);
        let count = presence.headcount();
        assert_eq!(count.members, 2);
        assert_eq!(count.by_transport, PerTransport([1, 0, 0, 1, 1, 0]));

        presence.close(&key("ada"), Transport::Sse);
        assert_eq!(
            presence.headcount().by_transport,
            PerTransport([1, 0, 0, 0, 1, 0])
        );
        std::thread::sleep(Duration::from_millis(250));
        presence.refresh();
        assert_eq!(
            presence.headcount().members,
            1,
            "bob's poll is older than the window"
        );
        presence.close(&key("ada"), Transport::Ws);
        presence.refresh();
        assert!(presence.is_empty());
    }

    /// Watchers hear about a change once, and not about a refresh that changed nothing.
    #[test]
    fn watchers_see_changes_only() {
        let presence = Presence::new(Duration::from_secs(10));
        let mut watcher = presence.watch();
        presence.refresh();
        assert!(!watcher.has_changed().unwrap());
        presence.open(&key("a"), Transport::Stream);
        presence.open(&key("b"), Transport::Stream);
        presence.refresh();
        assert!(watcher.has_changed().unwrap());
        assert_eq!(watcher.borrow_and_update().members, 2);
        presence.close(&key("b"), Transport::Stream);
        presence.open(&key("c"), Transport::Stream);
        presence.refresh();
        assert!(!watcher.has_changed().unwrap(), "same count: no event");
    }
}
