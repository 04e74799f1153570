//! The TLS port's raw socket, metered: [`Metered`] counts the ciphertext that crosses the TCP
//! connection under TLS, so the follower above TLS (which sees plaintext) can count TLS's own
//! bytes (record headers, authentication tags, the handshake, alerts) as the difference.
//!
//! Counting the difference, rather than parsing TLS records, keeps the ledger's one rule: a
//! figure is what crossed the socket, not what a model of the protocol says should have.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Ciphertext totals of one connection, shared with the follower above TLS.
#[derive(Debug, Default)]
pub struct TlsMeter {
    read: AtomicU64,
    written: AtomicU64,
}

impl TlsMeter {
    /// Bytes read from the client so far, and written to it.
    pub fn totals(&self) -> (u64, u64) {
        (self.read.load(Relaxed), self.written.load(Relaxed))
    }
}

/// A socket whose bytes are counted into a [`TlsMeter`].
pub struct Metered<T> {
    io: T,
    meter: Arc<TlsMeter>,
}

impl<T> Metered<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            meter: Arc::default(),
        }
    }
    pub fn meter(&self) -> Arc<TlsMeter> {
        Arc::clone(&self.meter)
    }
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let n = buf.filled().len() - before;
            this.meter.read.fetch_add(n as u64, Relaxed);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            this.meter.written.fetch_add(n as u64, Relaxed);
        }
        result
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
    // Vectored writes fall back to `poll_write`, so every written byte is counted.
}
