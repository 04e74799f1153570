//! The socket guard: [`CountingStream`] wraps each accepted connection (a TCP socket, or the
//! plaintext side of TLS on the TLS port), hands every byte read and written to the connection's
//! follower ([`Followed`]: HTTP/1.1's or HTTP/2's, which count them into the ledger), and
//! enforces what a connection is allowed ([`WireLimits`]).
//!
//! It sits on the socket because that is the one place every byte passes exactly once, as the
//! kernel saw it; what the bytes *mean* is the follower's job, kept apart so it can be tested by
//! feeding it byte slices. This file only applies the follower's verdicts (a refused WebSocket
//! frame ends the connection with an I/O error, after a close frame 1009 that tells the client
//! why) and the limits no parser sees: a write blocked for longer than the stall timeout ends the
//! connection, and the connection permit is held for as long as the socket lives.
//!
//! It also applies the fault lab's faults (see [`faults`](super::faults)) to the connections of
//! the client they were set for: a buffering proxy holds the server's writes back (they are
//! counted when the server writes them, as a proxy would receive them), latency delays each
//! write, and an idle or random cut closes the connection.
//!
//! It also notices a peer that has gone: a read that finds the end of the stream (FIN) or an
//! error (RST) fires the connection's [`PeerGone`]. actix-http only learns that a peer left when a
//! later write fails, which for an idle stream is a heartbeat or two later; meanwhile the socket,
//! its slot under the connection caps and its memory stay taken. Streams and held requests watch
//! `PeerGone` and end at once instead.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep};
use tokio_util::sync::CancellationToken;

use super::Ledger;
use super::counts::Direction;
use super::faults::Active;
use super::follower::{Followed, Follower};
use super::http1::Conversation;
use crate::limits::ConnectionPermit;

/// What a connection is allowed, besides the ledger.
#[derive(Debug, Clone, Copy)]
pub struct WireLimits {
    /// How long a write may stay blocked (the client stopped reading) before the connection ends.
    pub stall_timeout: Duration,
    /// Longest client WebSocket frame payload let through to actix-http. actix buffers a whole
    /// frame before checking its size, so a header declaring gigabytes would otherwise make it
    /// buffer without bound; such a connection is cut here, at the header, after a close frame
    /// 1009. Frames between the message limit and this get the WebSocket handler's close 1009.
    pub max_client_frame: u64,
}

/// A connection whose bytes are counted into the ledger as they are read and written, and which
/// is closed if its client stops reading.
pub struct CountingStream<T> {
    io: T,
    /// Follows and counts what crosses `io`; dropped with the socket, which counts the close.
    conn: Followed,
    limits: WireLimits,
    /// Running while writes are blocked: the socket buffer is full because the client is not
    /// reading. Nothing else would wake a connection whose client never reads again, so this
    /// timer is what ends it.
    stalled: Option<Pin<Box<Sleep>>>,
    /// This connection's place under the connection caps, released when it closes.
    permit: Option<ConnectionPermit>,
    /// Fired when a read finds the peer gone.
    peer_gone: PeerGone,
    /// The last write took only part of what it was offered: the client's stream stops inside
    /// a frame (or head), where no frame of ours may be slipped in.
    mid_write: bool,
    /// The fault lab's state on this connection.
    lab: Lab,
}

/// What the fault lab's faults hold on one connection.
#[derive(Default)]
struct Lab {
    /// A buffering fault's bytes: written by the server (and counted), not sent yet. At most the
    /// fault's threshold plus one write, since nothing new is taken while they are released.
    held: Vec<u8>,
    /// The held bytes are being sent (the threshold was reached or the response ended).
    releasing: bool,
    /// The latency fault's wait before the next write.
    delay: Option<Pin<Box<Sleep>>>,
    /// The idle cut: fires after the fault's time without bytes either way.
    idle: Option<Pin<Box<Sleep>>>,
    /// The random cut: when this connection is cut.
    cut_at: Option<Pin<Box<Sleep>>>,
    /// Cut by a fault: every later read and write fails.
    cut: bool,
}

fn cut_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "cut by the fault lab")
}

/// Between half and one and a half times `every`, from the standard library's random keys.
fn jittered(every: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    let fraction = (bits % 10_000) as f64 / 10_000.0;
    every.mul_f64(0.5 + fraction)
}

/// Fired once the peer has closed its side (FIN) or reset the connection: nothing more can be
/// delivered on it. Reaches handlers through `req.conn_data::<PeerGone>()`.
#[derive(Debug, Clone, Default)]
pub struct PeerGone(CancellationToken);

impl PeerGone {
    /// Resolves once the peer is gone (never, for a connection without a guard).
    pub async fn gone(&self) {
        self.0.cancelled().await;
    }

    fn fire(&self) {
        self.0.cancel();
    }
}

impl<T> CountingStream<T> {
    /// A plain-port HTTP/1.1 connection.
    pub fn new(
        io: T,
        ledger: Ledger,
        limits: WireLimits,
        permit: Option<ConnectionPermit>,
    ) -> Self {
        let follower = Follower::Http1(Conversation::new(ledger.clone(), limits.max_client_frame));
        Self::followed(io, Followed::new(follower, ledger, None), limits, permit)
    }

    /// A connection followed by `conn` (HTTP/2, or on the TLS port).
    pub fn followed(
        io: T,
        conn: Followed,
        limits: WireLimits,
        permit: Option<ConnectionPermit>,
    ) -> Self {
        Self {
            limits,
            stalled: None,
            permit,
            peer_gone: PeerGone::default(),
            mid_write: false,
            lab: Lab::default(),
            io,
            conn,
        }
    }

    /// Whether the connection was admitted over the cap (health endpoints only).
    pub fn over_cap(&self) -> bool {
        self.permit.as_ref().is_some_and(ConnectionPermit::over_cap)
    }

    /// What fires when this connection's peer goes.
    pub fn peer_gone(&self) -> PeerGone {
        self.peer_gone.clone()
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for CountingStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let active = this.active();
        if this.poll_cut(cx, &active) {
            return Poll::Ready(Err(cut_error()));
        }
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.activity(&active);
                }
                // Nothing read into a buffer with room: the end of the stream.
                if read.is_empty() && room {
                    this.peer_gone.fire();
                }
                if let Err(refused) = this.conn.on_read(read) {
                    this.farewell(cx, &refused.farewell);
                    return Poll::Ready(Err(refused.error));
                }
            }
            Poll::Ready(Err(_)) => this.peer_gone.fire(),
            Poll::Pending => {}
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> CountingStream<T> {
    /// Before a refused client frame cuts the connection, tells the client why: the follower's
    /// farewell (a close frame 1009 on a WebSocket, a GOAWAY on HTTP/2), written straight to the
    /// socket and counted like every byte written.
    ///
    /// Best effort, and never waiting: the farewell is under 100 bytes, which a socket's send
    /// buffer (kilobytes, even when small) takes whole in one non-blocking write unless the
    /// client has stopped reading, and then it would not read it anyway. Whatever is not taken at
    /// once is dropped with the connection. Skipped when the client's stream stops inside a frame
    /// of ours: a farewell there would be read as part of that frame.
    fn farewell(&mut self, cx: &mut Context<'_>, farewell: &[u8]) {
        if self.mid_write || !self.lab.held.is_empty() {
            return;
        }
        let mut rest = farewell;
        while !rest.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, rest) {
                Poll::Ready(Ok(written)) if written > 0 => {
                    self.conn.on_write(&rest[..written]);
                    rest = &rest[written..];
                }
                _ => break,
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> CountingStream<T> {
    /// The lab faults of the client this connection serves now.
    fn active(&self) -> Active {
        self.conn
            .client()
            .map(|c| c.faults.active())
            .unwrap_or_default()
    }

    /// Whether a cut fault has fired (or fires now, closing our side); otherwise the timers are
    /// armed with this task's waker.
    fn poll_cut(&mut self, cx: &mut Context<'_>, active: &Active) -> bool {
        if self.lab.cut {
            return true;
        }
        let idle = match active.idle_cut {
            Some(after) => self
                .lab
                .idle
                .get_or_insert_with(|| Box::pin(sleep(after)))
                .as_mut()
                .poll(cx)
                .is_ready(),
            None => {
                self.lab.idle = None;
                false
            }
        };
        let random = match active.cut_every {
            Some(every) => self
                .lab
                .cut_at
                .get_or_insert_with(|| Box::pin(sleep(jittered(every))))
                .as_mut()
                .poll(cx)
                .is_ready(),
            None => {
                self.lab.cut_at = None;
                false
            }
        };
        if idle || random {
            tracing::debug!(idle, random, "the fault lab cut a connection");
            self.lab.cut = true;
            self.peer_gone.fire();
            // Our FIN, as a load balancer closing the connection sends; best effort.
            let _ = Pin::new(&mut self.io).poll_shutdown(cx);
        }
        self.lab.cut
    }

    /// Bytes crossed: the idle cut starts counting again.
    fn activity(&mut self, active: &Active) {
        if let (Some(timer), Some(after)) = (&mut self.lab.idle, active.idle_cut) {
            timer.as_mut().reset(Instant::now() + after);
        }
    }

    /// Writes to the socket, ending the connection when the client has not read for the stall
    /// timeout. Counting is the caller's.
    fn raw_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        match &result {
            Poll::Ready(Ok(written)) => {
                self.stalled = None;
                self.mid_write = *written < buf.len();
            }
            Poll::Pending => {
                let timeout = self.limits.stall_timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if stalled.as_mut().poll(cx).is_ready() {
                    self.conn.on_stall(timeout);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    )));
                }
            }
            Poll::Ready(Err(_)) => {}
        }
        result
    }

    /// Sends what a buffering fault held, once it is to be let go.
    fn release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.lab.releasing && !self.lab.held.is_empty() {
            let held = std::mem::take(&mut self.lab.held);
            let written = self.raw_write(cx, &held);
            self.lab.held = held;
            match written {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.lab.held.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.lab.releasing = false;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let active = this.active();
        if this.poll_cut(cx, &active) {
            return Poll::Ready(Err(cut_error()));
        }
        match active.latency {
            Some(latency) => {
                let delay = this
                    .lab
                    .delay
                    .get_or_insert_with(|| Box::pin(sleep(latency)));
                if delay.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            None => this.lab.delay = None,
        }
        if this.lab.releasing {
            match this.release(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map_ok(|()| 0),
            }
        }
        // A buffering proxy passes an upgraded connection through.
        let buffering = active.buffer_bytes > 0 && !this.conn.is_websocket();
        if buffering || !this.lab.held.is_empty() {
            // Taken and counted now, as the proxy receives it; sent when the proxy lets go.
            this.conn.on_write(buf);
            this.lab.held.extend_from_slice(buf);
            this.lab.delay = None;
            if !buffering
                || this.lab.held.len() as u64 >= active.buffer_bytes
                || this.conn.response_ended()
            {
                this.lab.releasing = true;
                if let Poll::Ready(Err(e)) = this.release(cx) {
                    return Poll::Ready(Err(e));
                }
                this.activity(&active);
            }
            return Poll::Ready(Ok(buf.len()));
        }
        let result = this.raw_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &result {
            this.conn.on_write(&buf[..*written]);
            this.lab.delay = None;
            if *written > 0 {
                this.activity(&active);
            }
        }
        result
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.lab.cut {
            return Poll::Ready(Err(cut_error()));
        }
        if this.release(cx)?.is_pending() {
            return Poll::Pending;
        }
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        // TLS writes what it held when flushed.
        this.conn.tls_crossed(Direction::Down, 0);
        flushed
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // What a buffering proxy held goes out when the connection ends.
        this.lab.releasing = true;
        if this.release(cx)?.is_pending() {
            return Poll::Pending;
        }
        let shut = Pin::new(&mut this.io).poll_shutdown(cx);
        // TLS's close_notify alert.
        this.conn.tls_crossed(Direction::Down, 0);
        shut
    }
    // Vectored writes fall back to `poll_write`, so every written byte passes through the count.
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::*;
    use crate::transports::Transport;

    const REQUEST: &[u8] = b"GET /api/poll?since=0 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 39\r\n\
        content-type: application/json\r\n\r\n{\"messages\":[],\"last_id\":0,\"gap\":false}";
    const UPGRADE: &[u8] =
        b"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\r\n";
    const SWITCHING: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n";

    fn limits() -> WireLimits {
        WireLimits {
            stall_timeout: Duration::from_millis(50),
            max_client_frame: 1024,
        }
    }

    /// A server end wrapped in the guard, its client end, and the ledger it counts into.
    fn connection(buffer: usize) -> (CountingStream<DuplexStream>, DuplexStream, Ledger) {
        let (server, client) = duplex(buffer);
        let ledger = Ledger::new();
        let guarded = CountingStream::new(server, ledger.clone(), limits(), None);
        (guarded, client, ledger)
    }

    /// Bytes read and written through the guard reach the follower and so the ledger.
    #[tokio::test]
    async fn counts_what_crosses_the_socket() {
        let (mut server, mut client, ledger) = connection(4096);

        client.write_all(REQUEST).await.unwrap();
        let mut request = vec![0; REQUEST.len()];
        server.read_exact(&mut request).await.unwrap();
        server.write_all(RESPONSE).await.unwrap();

        let poll = *ledger.stats(None).unwrap().transports.get(Transport::Poll);
        assert_eq!(
            (poll.requests, poll.request_bytes, poll.response_bytes),
            (1, REQUEST.len() as u64, RESPONSE.len() as u64)
        );
        assert_eq!(poll.empty_responses, 1);
    }

    /// A client frame header declaring 2048 bytes, over the 1024 the test limits allow.
    fn oversized_header() -> Vec<u8> {
        let mut header = vec![0x82, 0x80 | 126];
        header.extend_from_slice(&2048u16.to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        header
    }

    /// The follower's refusal of an oversized client frame ends the read with an error, after a
    /// close frame 1009 saying why, counted in the ledger.
    #[tokio::test]
    async fn oversized_client_frame_fails_the_read_after_a_close_frame() {
        let (mut server, mut client, ledger) = connection(4096);
        client.write_all(UPGRADE).await.unwrap();
        let mut request = vec![0; UPGRADE.len()];
        server.read_exact(&mut request).await.unwrap();
        server.write_all(SWITCHING).await.unwrap();

        client.write_all(&oversized_header()).await.unwrap();
        let refused = server.read(&mut [0; 64]).await.unwrap_err();
        drop(server);

        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
        let mut received = vec![];
        client.read_to_end(&mut received).await.unwrap();
        let reason = b"frame header declares more than 1024 bytes";
        let close = [&[0x88, 2 + reason.len() as u8, 0x03, 0xF1][..], reason].concat();
        assert_eq!(received, [SWITCHING, &close].concat());
        let ws = *ledger.stats(None).unwrap().transports.get(Transport::Ws);
        assert_eq!(
            (ws.response_bytes, ws.other_bytes),
            ((SWITCHING.len() + close.len()) as u64, close.len() as u64)
        );
    }

    /// A refusal while our last write is unfinished writes no close frame: it would land inside
    /// the frame being written.
    #[tokio::test]
    async fn no_close_frame_inside_an_unfinished_write() {
        let (mut server, mut client, _ledger) = connection(100);
        client.write_all(UPGRADE).await.unwrap();
        let mut request = vec![0; UPGRADE.len()];
        server.read_exact(&mut request).await.unwrap();
        let mut text = vec![0x81, 100];
        text.extend_from_slice(&[b't'; 100]);
        // The 100-byte pipe takes the 101's 56 bytes and 44 of the 102-byte frame; the client
        // then reads half, so there is room for a close frame, which must not come.
        let written = server.write(&[SWITCHING, &text].concat()).await.unwrap();
        let mut received = vec![0; 50];
        client.read_exact(&mut received).await.unwrap();

        client.write_all(&oversized_header()).await.unwrap();
        server.read(&mut [0; 64]).await.unwrap_err();
        drop(server);

        client.read_to_end(&mut received).await.unwrap();
        assert_eq!((written, received.len()), (100, 100));
    }

    /// A write blocked for longer than the stall timeout fails, and is counted as a slow
    /// disconnect of the transport being answered.
    #[tokio::test]
    async fn stalled_write_times_out() {
        let (mut server, mut client, ledger) = connection(100);
        client.write_all(REQUEST).await.unwrap();
        let mut request = vec![0; REQUEST.len()];
        server.read_exact(&mut request).await.unwrap();

        // The client never reads: the 100-byte pipe fills with the head (71 bytes) and the start
        // of the 39-byte body, and the write blocks.
        let stalled = server.write_all(RESPONSE).await.unwrap_err();

        assert_eq!(stalled.kind(), io::ErrorKind::TimedOut);
        let poll = *ledger.stats(None).unwrap().transports.get(Transport::Poll);
        assert_eq!((poll.slow_disconnects, poll.response_bytes), (1, 100));
    }
}
