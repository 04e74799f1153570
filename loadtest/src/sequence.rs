//! Per-client delivery checking: which messages were lost, which arrived twice, which out of order.
//!
//! Every client keeps one [`SequenceChecker`] and feeds it the probe sequence number of every
//! message it receives, in arrival order. At the end of the drain it is compared with what the
//! publisher actually got accepted: a published message a client never received is lost. With a
//! cursor-based server, any loss or duplicate is a server bug, not noise.
//!
//! Order is judged against what the publisher could know: message `a` must arrive before `b` if
//! `a` was acknowledged before `b` was sent (its "floor"). With one publisher connection that is
//! simply "lower sequence numbers first"; with several, two posts in flight at the same time may
//! legitimately be stored in either order, and the floor says so.
//!
//! With `--rooms N` a client's checker counts in its room's own sequence (see [`crate::rooms`]):
//! the sequence numbers here are then the room's local indices, and another room's message is
//! recorded as foreign.

use serde::Serialize;

/// How many lost sequence numbers a report lists by name (the count is always exact).
const LOST_EXAMPLES: usize = 10;

/// What [`SequenceChecker::record`] made of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// First time this sequence number arrived, in order.
    New,
    /// First time, but after a message that had to come later.
    NewOutOfOrder,
    /// Already received before.
    Duplicate,
    /// Beyond the run's sequence range (not something this run published), or another room's.
    Foreign,
}

/// One client's record of what arrived.
#[derive(Debug, Clone)]
pub struct SequenceChecker {
    /// One bit per sequence number of the run: received at least once.
    seen: Vec<u64>,
    /// How many sequence numbers the run can have.
    capacity: u64,
    distinct: u64,
    duplicates: u64,
    out_of_order: u64,
    foreign: u64,
    /// Highest floor among messages received so far: any first delivery at or below it is late.
    max_floor: Option<u64>,
}

/// The outcome for one client, or summed over many.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceReport {
    /// Distinct messages received.
    pub delivered: u64,
    /// Published (accepted by the server) but never received.
    pub lost: u64,
    /// Deliveries of a message already received.
    pub duplicated: u64,
    /// First deliveries that arrived after a message that had to come after them.
    pub reordered: u64,
    /// Tokens of this run with a sequence number it never used, or of another room's message:
    /// either way a message the server should not have sent this client.
    pub foreign: u64,
    /// A few lost sequence numbers, for reproducing.
    pub lost_examples: Vec<u64>,
}

impl SequenceReport {
    pub fn add(&mut self, other: &Self) {
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.foreign += other.foreign;
        for &seq in &other.lost_examples {
            if self.lost_examples.len() < LOST_EXAMPLES && !self.lost_examples.contains(&seq) {
                self.lost_examples.push(seq);
            }
        }
    }
}

impl SequenceChecker {
    /// A checker for sequence numbers `0..capacity`.
    pub fn new(capacity: u64) -> Self {
        Self {
            seen: vec![0; capacity.div_ceil(64) as usize],
            capacity,
            distinct: 0,
            duplicates: 0,
            out_of_order: 0,
            foreign: 0,
            max_floor: None,
        }
    }

    /// Records one arrival. `floor`: every sequence number up to and including it had to arrive
    /// before this one (`None`: no constraint, e.g. the first message).
    pub fn record(&mut self, seq: u64, floor: Option<u64>) -> Delivery {
        if seq >= self.capacity {
            self.foreign += 1;
            return Delivery::Foreign;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return Delivery::Duplicate;
        }
        self.seen[word] |= bit;
        self.distinct += 1;
        let late = self.max_floor.is_some_and(|max| seq <= max);
        if let Some(floor) = floor {
            self.max_floor = Some(self.max_floor.map_or(floor, |m| m.max(floor)));
        }
        if late {
            self.out_of_order += 1;
            Delivery::NewOutOfOrder
        } else {
            Delivery::New
        }
    }

    /// Records a message that is not this client's to receive (another room's): a routing
    /// error, never a delivery.
    pub fn record_foreign(&mut self) -> Delivery {
        self.foreign += 1;
        Delivery::Foreign
    }

    /// Whether `seq` arrived at least once.
    pub fn has(&self, seq: u64) -> bool {
        seq < self.capacity && self.seen[(seq / 64) as usize] & (1u64 << (seq % 64)) != 0
    }

    /// Distinct messages received so far.
    pub fn distinct(&self) -> u64 {
        self.distinct
    }

    /// The verdict, given which sequence numbers the server accepted.
    pub fn report(&self, published: impl Fn(u64) -> bool) -> SequenceReport {
        let mut lost = 0;
        let mut lost_examples = Vec::new();
        for seq in 0..self.capacity {
            if published(seq) && !self.has(seq) {
                lost += 1;
                if lost_examples.len() < LOST_EXAMPLES {
                    lost_examples.push(seq);
                }
            }
        }
        SequenceReport {
            delivered: self.distinct,
            lost,
            duplicated: self.duplicates,
            reordered: self.out_of_order,
            foreign: self.foreign,
            lost_examples,
        }
    }
}

/// The floor of `seq` when one connection publishes in order: everything before it.
pub fn serial_floor(seq: u64) -> Option<u64> {
    seq.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(arrivals: &[u64], capacity: u64) -> SequenceReport {
        let mut c = SequenceChecker::new(capacity);
        for &seq in arrivals {
            c.record(seq, serial_floor(seq));
        }
        c.report(|_| true)
    }

    #[test]
    fn clean_run_is_clean() {
        let arrivals: Vec<u64> = (0..130).collect();
        assert_eq!(
            check(&arrivals, 130),
            SequenceReport {
                delivered: 130,
                ..Default::default()
            }
        );
    }

    /// The deliberately bad input: 3 and 7 never arrive, 5 arrives twice, 9 arrives before 8,
    /// and one token carries a sequence number the run never used.
    #[test]
    fn lossy_duplicated_reordered_input_is_reported_as_such() {
        let arrivals = [0, 1, 2, 4, 5, 5, 6, 9, 8, 10, 11, 99];
        assert_eq!(
            check(&arrivals, 12),
            SequenceReport {
                delivered: 10,
                lost: 2,
                duplicated: 1,
                reordered: 1,
                foreign: 1,
                lost_examples: vec![3, 7],
            }
        );
    }

    /// Skipping ahead is loss, not disorder; a late duplicate counts once, as a duplicate.
    #[test]
    fn gaps_and_late_duplicates() {
        let mut c = SequenceChecker::new(10);
        assert_eq!(c.record(0, serial_floor(0)), Delivery::New);
        assert_eq!(c.record(5, serial_floor(5)), Delivery::New);
        assert_eq!(c.record(2, serial_floor(2)), Delivery::NewOutOfOrder);
        assert_eq!(c.record(0, serial_floor(0)), Delivery::Duplicate);
        assert_eq!(c.record(10, None), Delivery::Foreign);
        let r = c.report(|seq| seq < 6);
        assert_eq!(
            (r.delivered, r.lost, r.duplicated, r.reordered),
            (3, 3, 1, 1)
        );
        assert_eq!(r.lost_examples, [1, 3, 4]);
    }

    /// Another room's message is foreign: counted, never a delivery, never a duplicate.
    #[test]
    fn other_rooms_messages_are_foreign() {
        let mut c = SequenceChecker::new(2);
        assert_eq!(c.record(0, None), Delivery::New);
        assert_eq!(c.record_foreign(), Delivery::Foreign);
        assert_eq!(c.record_foreign(), Delivery::Foreign);
        let r = c.report(|_| true);
        assert_eq!((r.delivered, r.lost, r.duplicated, r.foreign), (1, 1, 0, 2));
    }

    /// With concurrent publishers, two posts in flight together may arrive in either order.
    #[test]
    fn concurrent_posts_may_swap() {
        let mut c = SequenceChecker::new(4);
        // 1 and 2 were sent before either was acknowledged: both have floor 0.
        for (seq, floor) in [(0, None), (2, Some(0)), (1, Some(0)), (3, Some(2))] {
            assert_ne!(c.record(seq, floor), Delivery::NewOutOfOrder, "seq {seq}");
        }
        assert_eq!(c.report(|_| true).reordered, 0);
    }

    #[test]
    fn reports_add_up() {
        let mut total = check(&[0, 2], 3);
        total.add(&check(&[1, 1, 0], 3));
        assert_eq!(
            (
                total.delivered,
                total.lost,
                total.duplicated,
                total.reordered
            ),
            (4, 2, 1, 1)
        );
        assert_eq!(total.lost_examples, [1, 2]);
    }
}
