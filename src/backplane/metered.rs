//! The socket to Redis, counted: what each server writes to and reads from Redis is the
//! backplane's cost, measured on the wire like every other byte the ledger shows.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes both ways across one kind of connection to Redis, over all its reconnects.
#[derive(Debug, Default)]
pub struct Wire {
    pub to_redis: AtomicU64,
    pub from_redis: AtomicU64,
    /// Of those, what setting connections up took (the client's `HELLO`/`CLIENT SETINFO`, the
    /// `SUBSCRIBE`), so the cost per message can leave it out.
    pub setup_to_redis: AtomicU64,
    pub setup_from_redis: AtomicU64,
}

impl Wire {
    /// Both counts now.
    pub fn now(&self) -> (u64, u64) {
        (self.to_redis.load(Relaxed), self.from_redis.load(Relaxed))
    }

    /// Counts what crossed since `before` (from [`Self::now`]) as set-up.
    pub fn set_up_since(&self, before: (u64, u64)) {
        let (to, from) = self.now();
        self.setup_to_redis.fetch_add(to - before.0, Relaxed);
        self.setup_from_redis.fetch_add(from - before.1, Relaxed);
    }
}

/// A socket whose bytes are added to a [`Wire`].
pub struct Metered<T> {
    io: T,
    wire: Arc<Wire>,
}

impl<T> Metered<T> {
    pub fn new(io: T, wire: Arc<Wire>) -> Self {
        Self { io, wire }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.wire.from_redis.fetch_add(read as u64, Relaxed);
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.wire.to_redis.fetch_add(n as u64, Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
