//! Taking a `std::sync::Mutex` whose holder may have panicked.
//!
//! Every lock in this server guards a structure that each critical section changes in one step
//! (a push, a pop, a map insert or remove), so a panic under the lock cannot leave it half
//! written: a poisoned lock still guards a consistent value, and refusing it would turn one
//! panicked request into a server that refuses everything.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking the value even if a previous holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
