//! The publisher's log of one phase: which sequence numbers the server accepted, and for each
//! one which earlier messages must be delivered before it (its ordering floor).
//!
//! Its own module because both sides of a phase use it: the publisher writes it as POSTs are sent
//! and answered, and every subscriber reads it to judge order and, at the end, loss. Keeping it
//! apart from both lets the clients depend on it without depending on the orchestration.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::rooms::Rooms;

/// `floors[seq]` before anything was acknowledged ahead of `seq` (or before `seq` was sent).
const NONE: u64 = u64::MAX;

/// Which sequence numbers the server accepted, and each one's ordering floor.
pub struct PublishLog {
    /// `floors[seq]`: every sequence number up to this one was acknowledged before `seq` was
    /// sent, so must be delivered before it. `NONE` if nothing was (or `seq` not sent yet).
    floors: Vec<AtomicU64>,
    /// Answered 2xx: only accepted messages can be lost.
    accepted: Vec<AtomicBool>,
    /// Contiguous completion watermark: (sequence numbers 0..n all completed, completed above n).
    completed: Mutex<(u64, BTreeSet<u64>)>,
}

impl PublishLog {
    pub fn new(capacity: u64) -> Self {
        Self {
            floors: (0..capacity).map(|_| AtomicU64::new(NONE)).collect(),
            accepted: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            completed: Mutex::new((0, BTreeSet::new())),
        }
    }

    pub fn floor(&self, seq: u64) -> Option<u64> {
        let floor = self.floors.get(seq as usize)?.load(Ordering::Acquire);
        (floor != NONE).then_some(floor)
    }

    pub fn accepted(&self, seq: u64) -> bool {
        self.accepted
            .get(seq as usize)
            .is_some_and(|a| a.load(Ordering::Acquire))
    }

    pub fn accepted_count(&self) -> u64 {
        self.accepted
            .iter()
            .filter(|a| a.load(Ordering::Acquire))
            .count() as u64
    }

    /// Accepted messages per room (index = room): what each room's clients must receive.
    pub fn accepted_by_room(&self, rooms: Rooms) -> Vec<u64> {
        let mut by_room = vec![0; rooms.count() as usize];
        for (seq, accepted) in self.accepted.iter().enumerate() {
            if accepted.load(Ordering::Acquire) {
                by_room[rooms.of_seq(seq as u64) as usize] += 1;
            }
        }
        by_room
    }

    /// Called just before `seq` is sent: fixes its floor from what has completed.
    pub fn sending(&self, seq: u64) {
        let done = self.lock().0;
        if let Some(slot) = self.floors.get(seq as usize) {
            slot.store(done.checked_sub(1).unwrap_or(NONE), Ordering::Release);
        }
    }

    /// Called when `seq`'s POST has its answer (or failed for good).
    pub fn completed(&self, seq: u64, accepted: bool) {
        if accepted && let Some(slot) = self.accepted.get(seq as usize) {
            slot.store(true, Ordering::Release);
        }
        let mut guard = self.lock();
        let (done, above) = &mut *guard;
        above.insert(seq);
        while above.remove(done) {
            *done += 1;
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, BTreeSet<u64>)> {
        self.completed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Out-of-order completions move the watermark only when the prefix is complete.
    #[test]
    fn publish_log_floors_follow_completions() {
        let log = PublishLog::new(4);
        log.sending(0);
        assert_eq!(log.floor(0), None);
        log.sending(1);
        log.sending(2);
        log.completed(2, true);
        log.sending(3);
        assert_eq!(log.floor(3), None);
        log.completed(0, true);
        log.completed(1, false);
        assert_eq!((log.floor(1), log.floor(2)), (None, None));
        log.sending(3);
        assert_eq!(log.floor(3), Some(2));
        assert_eq!(log.accepted_count(), 2);
        assert!(!log.accepted(1) && log.accepted(2) && !log.accepted(9));
        // 0 and 2 accepted: both in room 0 of 2.
        assert_eq!(log.accepted_by_room(Rooms::new(2)), [2, 0]);
        assert_eq!(log.accepted_by_room(Rooms::new(1)), [2]);
    }
}
