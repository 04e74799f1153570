//! The shutdown sequence, and the guarantee it keeps: every message acknowledged to its sender
//! (201, or a WebSocket ack) before shutdown reaches every connected stream before it ends.
//!
//! 1. Stop taking new messages: publishes that start after this get 503.
//! 2. Wait for publishes already under way to finish (their 201 may still be sent).
//! 3. Tell streams, long polls and WebSockets to end. Each first drains what is after its cursor,
//!    which now includes every acknowledged message, then ends (WebSocket with 1001).
//!
//! Then the server stops accepting and waits at most `--shutdown-timeout` for connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Cheap-to-clone handle shared by the publish paths, the streams and the shutdown sequence.
#[derive(Clone, Default)]
pub struct ShutdownGate {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Set at step 1: no publish may start after it.
    closing: AtomicBool,
    /// Publishes between their start and their message being in the bus.
    in_flight: AtomicUsize,
    /// Woken when the last in-flight publish finishes.
    idle: Notify,
    /// Cancelled at step 3: what every stream watches.
    streams: CancellationToken,
}

/// Held by a publish while it runs; shutdown waits for every one to be dropped.
pub struct PublishPermit {
    gate: ShutdownGate,
}

impl Drop for PublishPermit {
    fn drop(&mut self) {
        if self.gate.inner.in_flight.fetch_sub(1, SeqCst) == 1 {
            self.gate.inner.idle.notify_waiters();
        }
    }
}

impl ShutdownGate {
    /// Permission to publish, or `None` once shutdown has begun.
    pub fn publish(&self) -> Option<PublishPermit> {
        // Count first, then check: shutdown sets `closing` first, then reads the count, so one of
        // the two always sees the other (SeqCst).
        self.inner.in_flight.fetch_add(1, SeqCst);
        let permit = PublishPermit { gate: self.clone() };
        (!self.inner.closing.load(SeqCst)).then_some(permit)
    }

    /// What streams watch: cancelled once no acknowledged message can still be missing.
    pub fn streams(&self) -> &CancellationToken {
        &self.inner.streams
    }

    /// Runs steps 1 to 3.
    pub async fn close(&self) {
        self.inner.closing.store(true, SeqCst);
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.in_flight.load(SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        self.inner.streams.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shutdown waits for a publish under way, and no publish starts after it began.
    #[tokio::test]
    async fn close_waits_for_in_flight_publishes() {
        let gate = ShutdownGate::default();
        let permit = gate.publish().expect("open before shutdown");
        let closing = tokio::spawn({
            let gate = gate.clone();
            async move { gate.close().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !gate.streams().is_cancelled(),
            "streams told to end while a publish was running"
        );
        assert!(
            gate.publish().is_none(),
            "a publish started after shutdown began"
        );
        drop(permit);
        closing.await.unwrap();
        assert!(gate.streams().is_cancelled());
    }
}
