//! A TCP stream that counts every byte it carries, in each direction.
//!
//! Byte figures are the point of this tool, so they are taken at the one place that cannot lie:
//! the socket. Whatever sits on top (hyper's HTTP/1.1 client, tungstenite's WebSocket framing)
//! reads and writes through [`CountingStream`], so request heads, response heads, chunk framing,
//! WebSocket frame headers, masks, pings and pongs are all counted, exactly as the kernel saw them
//! (minus TCP/IP headers, which no transport choice changes).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Counters one client owns; shared with its stream(s) so reconnects keep adding to the same sums.
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Bytes this client wrote to its socket(s).
    up: AtomicU64,
    /// Bytes this client read from its socket(s).
    down: AtomicU64,
    /// HTTP requests sent (a WebSocket handshake counts as one).
    requests: AtomicU64,
    /// TCP connections opened: more than one per client means it had to reconnect.
    connections: AtomicU64,
    /// Woken on every write: hyper writes from its own task, so a client that must know when its
    /// request is on the wire (a long poll is subscribed from then) waits here.
    wrote: Notify,
}

/// A point-in-time copy of [`WireCounters`], addable across clients.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WireTotals {
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub requests: u64,
    pub connections: u64,
}

impl WireCounters {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once more than `bytes` have been written up in all: the request handed to the
    /// HTTP client when `bytes` were is then on the wire.
    pub async fn wrote_past(&self, bytes: u64) {
        loop {
            let notified = self.wrote.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a write between the check and the wait still wakes.
            notified.as_mut().enable();
            if self.up.load(Ordering::Relaxed) > bytes {
                return;
            }
            notified.await;
        }
    }

    pub fn totals(&self) -> WireTotals {
        WireTotals {
            bytes_up: self.up.load(Ordering::Relaxed),
            bytes_down: self.down.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::AddAssign for WireTotals {
    fn add_assign(&mut self, other: Self) {
        self.bytes_up += other.bytes_up;
        self.bytes_down += other.bytes_down;
        self.requests += other.requests;
        self.connections += other.connections;
    }
}

/// Any async stream, with every byte read or written added to a [`WireCounters`].
#[derive(Debug)]
pub struct CountingStream<S> {
    inner: S,
    counters: Arc<WireCounters>,
    /// An HTTP/1.1 connection: its requests are counted here, as they go on the wire.
    http: bool,
    /// Written since the last read: in the middle of a request.
    writing: bool,
}

impl<S> CountingStream<S> {
    /// Wraps `inner`; counts one new connection.
    pub fn new(inner: S, counters: Arc<WireCounters>) -> Self {
        counters.add_connection();
        Self {
            inner,
            counters,
            http: false,
            writing: false,
        }
    }

    /// Wraps an HTTP/1.1 connection, and counts its requests: each when its first byte is
    /// written. A client's requests and the server's answers take turns on it (no pipelining,
    /// no `Expect: 100-continue`), so a write after a read, or the first write, starts a request.
    /// Counted here rather than where a request is handed to the HTTP client, because a request
    /// handed over and given up before it was written (its client stopped) never reached the
    /// server, whose ledger these counts are checked against.
    pub fn http(inner: S, counters: Arc<WireCounters>) -> Self {
        Self {
            http: true,
            ..Self::new(inner, counters)
        }
    }

    pub fn counters(&self) -> &Arc<WireCounters> {
        &self.counters
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        // Only what this call added: the caller's buffer may already hold earlier bytes.
        let read = buf.filled().len().saturating_sub(before) as u64;
        if read > 0 {
            self.counters.down.fetch_add(read, Ordering::Relaxed);
            self.writing = false;
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &result
            && *written > 0
        {
            if self.http && !self.writing {
                self.counters.add_request();
            }
            self.writing = true;
            self.counters
                .up
                .fetch_add(*written as u64, Ordering::Relaxed);
            self.counters.wrote.notify_waiters();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Both directions are counted exactly, including partial reads into a non-empty buffer.
    #[tokio::test]
    async fn counts_both_directions_exactly() {
        let (a, mut b) = tokio::io::duplex(64);
        let counters = WireCounters::new();
        let mut stream = CountingStream::new(a, counters.clone());
        stream.write_all(b"hello world").await.unwrap();
        b.write_all(b"0123456789abc").await.unwrap();
        let mut buf = vec![0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        let mut rest = Vec::new();
        drop(b);
        stream.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"56789abc");
        assert_eq!(
            counters.totals(),
            WireTotals {
                bytes_up: 11,
                bytes_down: 13,
                requests: 0,
                connections: 1
            }
        );
    }

    /// On an HTTP connection, a request is counted when its first byte is written, however
    /// many writes it takes; the answer's bytes end it; a stream that is not HTTP counts none.
    #[tokio::test]
    async fn counts_http_requests_as_they_are_written() {
        let (a, mut b) = tokio::io::duplex(256);
        let counters = WireCounters::new();
        let mut stream = CountingStream::http(a, counters.clone());
        let mut buf = [0u8; 64];
        assert_eq!(counters.totals().requests, 0, "nothing written yet");
        for _ in 0..2 {
            stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            stream.write_all(b"Host: x\r\n\r\n").await.unwrap();
            b.read_exact(&mut buf[..27]).await.unwrap();
            b.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
            stream.read_exact(&mut buf[..17]).await.unwrap();
        }
        assert_eq!(counters.totals().requests, 2);

        let (a, _b) = tokio::io::duplex(64);
        let plain = WireCounters::new();
        CountingStream::new(a, plain.clone())
            .write_all(b"frame")
            .await
            .unwrap();
        assert_eq!(plain.totals().requests, 0);
    }

    /// `wrote_past` waits for a write from another task, and returns at once for one already made.
    #[tokio::test]
    async fn wrote_past_wakes_on_a_later_write() {
        let (a, mut b) = tokio::io::duplex(64);
        let counters = WireCounters::new();
        let mut stream = CountingStream::new(a, counters.clone());
        let waiter = tokio::spawn({
            let counters = counters.clone();
            async move { counters.wrote_past(0).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        stream.write_all(b"GET").await.unwrap();
        waiter.await.unwrap();
        counters.wrote_past(2).await;
        let mut buf = [0u8; 3];
        b.read_exact(&mut buf).await.unwrap();
    }
}
