//! The cursor loop that every streaming transport (HTTP stream, SSE, WebSocket) runs:
//! "send what is after my cursor, then wait for more, a heartbeat, or shutdown".
//!
//! A feed yields [`Event`]s; each transport only decides how an event looks on its wire. Because
//! the loop reads the bus by cursor instead of queueing copies per connection, a slow reader costs
//! no memory beyond the history: it reads from the log when it is ready, and if it falls behind the
//! history it gets a gap notice.
//!
//! A feed reads one room. It holds the subscriber's membership of the room while it lives, skips
//! the messages its subscriber sent "to others" (its cursor still moves past them), and passes on
//! the room's head count when it changes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use futures_util::future::select_all;
use protocol::{Cursor, Epoch, RoomName};

use crate::ledger::wire::PeerGone;
use crate::message::Message;
use crate::presence::Headcount;
use crate::room::{Membership, Reader, Room};

/// Messages taken from the bus per lock; keeps each critical section short when a reader
/// replays a long history.
const BATCH: usize = 256;

/// What a feed has for its transport to send next.
#[derive(Debug)]
pub enum Event {
    /// First event of every feed: the cursor it starts from. A client that reconnects with this
    /// cursor loses nothing, even if no message arrived in between.
    /// `node`: this server's name, on a shared bus.
    Ready {
        since: u64,
        epoch: Epoch,
        node: Option<Arc<str>>,
    },
    /// The cursor could not be continued: `missed` messages were evicted from history, or
    /// (`reset`) the cursor came from an earlier run of the server, or the room was started over
    /// since. Delivery goes on after `since` of `epoch`, the client's cursor from now on.
    Gap {
        missed: u64,
        reset: bool,
        since: u64,
        epoch: Epoch,
    },
    /// The next message after the cursor.
    Message(Arc<Message>),
    /// The room's head count changed (at most once a second).
    Presence(Headcount),
    /// Nothing was sent for one heartbeat interval.
    Heartbeat,
    /// The server is shutting down and everything after the cursor has been handed out: end
    /// the connection.
    Shutdown,
    /// The client closed or reset its connection: nothing more can reach it, so end now and
    /// free the connection rather than wait for a write to fail.
    PeerGone,
}

/// One subscriber's position in a room.
pub struct Feed {
    /// The cursor: id of the last message read from the bus (or the starting point).
    reader: Reader,
    /// Messages read from the bus but not yet handed out.
    pending: VecDeque<Arc<Message>>,
    /// `None` for transports with their own keep-alive (WebSocket pings).
    heartbeat: Option<Interval>,
    shutdown: CancellationToken,
    peer_gone: PeerGone,
    ready_sent: bool,
    /// The subscriber is in the room while the feed lives; its key is also who it is when a
    /// message is sent to everyone but its sender.
    membership: Membership,
    /// The room's published head count; `None` when presence events are off.
    presence: Option<watch::Receiver<Headcount>>,
}

/// Who reads a feed, and what else it wants besides messages.
pub struct Subscriber {
    pub membership: Membership,
    /// `None` for transports with their own keep-alive (WebSocket pings).
    pub heartbeat: Option<Duration>,
    pub presence_events: bool,
}

impl Feed {
    /// A feed of `room` after `since`, or of live messages only when there is no cursor.
    pub fn new(
        room: &Room,
        since: Option<&Cursor>,
        subscriber: Subscriber,
        shutdown: CancellationToken,
        peer_gone: PeerGone,
    ) -> Self {
        let heartbeat = subscriber.heartbeat.map(|every| {
            let mut interval = interval_at(Instant::now() + every, every);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        Self {
            reader: room.reader(since),
            pending: VecDeque::new(),
            heartbeat,
            shutdown,
            peer_gone,
            ready_sent: false,
            presence: subscriber.presence_events.then(|| room.presence().watch()),
            membership: subscriber.membership,
        }
    }

    /// The room it reads.
    pub fn room(&self) -> &Room {
        self.reader.room()
    }

    /// The next event. Cancel-safe: state only changes between await points, so a `select!`
    /// that drops this future loses nothing.
    pub async fn next(&mut self) -> Event {
        if !self.ready_sent {
            self.ready_sent = true;
            return Event::Ready {
                since: self.reader.cursor(),
                epoch: self.reader.epoch().clone(),
                node: self.reader.room().node().cloned(),
            };
        }
        loop {
            if let Some(message) = self.pending.pop_front() {
                if message.hidden_from(Some(self.membership.key())) {
                    continue;
                }
                if let Some(heartbeat) = &mut self.heartbeat {
                    heartbeat.reset();
                }
                return Event::Message(message);
            }
            let batch = self.reader.read(BATCH);
            let gap = batch.is_gap().then(|| Event::Gap {
                missed: batch.missed,
                reset: batch.reset,
                since: batch.from,
                epoch: batch.epoch.clone(),
            });
            self.pending.extend(batch.messages);
            if let Some(gap) = gap {
                return gap;
            }
            if !self.pending.is_empty() {
                continue;
            }
            // Streams are told to end only after the last acknowledged publish is in the bus
            // (see `shutdown`), so this read has drained everything a sender was promised.
            if self.shutdown.is_cancelled() {
                return Event::Shutdown;
            }
            tokio::select! {
                biased;
                () = self.peer_gone.gone() => return Event::PeerGone,
                // Loop once more: a message may have landed between the read above and now.
                () = self.shutdown.cancelled() => {}
                alive = self.reader.wait() => {
                    if !alive {
                        return Event::Shutdown;
                    }
                }
                () = tick(&mut self.heartbeat) => return Event::Heartbeat,
                count = presence(&mut self.presence) => return Event::Presence(count),
            }
        }
    }
}

/// The next event of any of `feeds` (a socket's rooms), and which room it is of; never, with no
/// feed. `turn` rotates which feed is asked first, so one busy room cannot starve the others.
pub async fn next_of(feeds: &mut [Feed], turn: usize) -> (RoomName, Event) {
    if feeds.is_empty() {
        return std::future::pending().await;
    }
    let mut futures: Vec<_> = feeds
        .iter_mut()
        .map(|feed| {
            Box::pin(async move {
                let event = feed.next().await;
                (feed.room().name().clone(), event)
            })
        })
        .collect();
    let n = futures.len();
    futures.rotate_left(turn % n);
    select_all(futures).await.0
}

/// The next published head count; never, without a watcher or once the room is gone.
async fn presence(watcher: &mut Option<watch::Receiver<Headcount>>) -> Headcount {
    if let Some(receiver) = watcher
        && receiver.changed().await.is_ok()
    {
        return *receiver.borrow_and_update();
    }
    std::future::pending().await
}

async fn tick(heartbeat: &mut Option<Interval>) {
    match heartbeat {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
