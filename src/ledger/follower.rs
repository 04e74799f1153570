//! The follower a connection's bytes go to: [`http1`](super::http1)'s or
//! [`http2`](super::http2)'s, chosen when the connection is accepted (ALPN on the TLS port, the
//! connection preface on the plain one), plus the TLS overhead of a connection on the TLS port.
//!
//! TLS overhead is the ciphertext the [`TlsMeter`] saw minus the plaintext the follower saw, per
//! direction, counted under the request the connection serves now (before the first request,
//! kept until it arrives; a connection that never carries one counts it in the ledger's
//! `connection` row). TLS reads ahead of what it has decrypted, so the figure can run a record
//! ahead for a moment; it is exact whenever the connection is quiet.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::counts::Direction;
use super::http1::Conversation;
use super::http2::{self, H2Conversation};
use super::metered::TlsMeter;
use super::{Client, Ledger, Target};

/// Which HTTP a connection speaks. HTTP/1.1, the common case, is kept inline: no allocation
/// more per connection.
#[allow(clippy::large_enum_variant)]
pub enum Follower {
    Http1(Conversation),
    /// Boxed: its frame readers and HPACK tables would make every HTTP/1.1 connection pay
    /// for them.
    Http2(Box<H2Conversation>),
}

/// A connection's follower and, on the TLS port, its TLS accounting.
pub struct Followed {
    pub follower: Follower,
    tls: Option<Box<TlsCount>>,
    ledger: Ledger,
}

/// TLS overhead accounting of one connection.
struct TlsCount {
    meter: Arc<TlsMeter>,
    /// Plaintext read and written so far.
    plain: [u64; 2],
    /// Overhead already counted, per direction.
    counted: [i64; 2],
    /// Counted before any request named a target.
    pending: [i64; 2],
}

/// The follower refused what the client sent: `farewell` is written first if it can be (a close
/// frame 1009, a GOAWAY), then the connection ends with `error`.
pub struct Refused {
    pub farewell: Vec<u8>,
    pub error: io::Error,
}

impl Followed {
    pub fn new(follower: Follower, ledger: Ledger, tls: Option<Arc<TlsMeter>>) -> Self {
        Self {
            follower,
            tls: tls.map(|meter| {
                Box::new(TlsCount {
                    meter,
                    plain: [0; 2],
                    counted: [0; 2],
                    pending: [0; 2],
                })
            }),
            ledger,
        }
    }

    fn latest(&self) -> Option<&Target> {
        match &self.follower {
            Follower::Http1(c) => c.latest(),
            Follower::Http2(c) => c.latest(),
        }
    }

    /// The client whose lab faults apply to the connection now.
    pub fn client(&self) -> Option<&Arc<Client>> {
        match &self.follower {
            Follower::Http1(c) => c.client(),
            Follower::Http2(c) => c.client(),
        }
    }

    /// Where a buffering proxy lets go of what it held.
    pub fn response_ended(&self) -> bool {
        match &self.follower {
            Follower::Http1(c) => c.response_ended(),
            Follower::Http2(c) => c.response_ended(),
        }
    }

    /// Carrying WebSocket frames (passed through by a buffering proxy).
    pub fn is_websocket(&self) -> bool {
        matches!(&self.follower, Follower::Http1(c) if c.is_websocket())
    }

    pub fn on_stall(&mut self, after: Duration) {
        match &mut self.follower {
            Follower::Http1(c) => c.on_stall(after),
            Follower::Http2(c) => c.on_stall(after),
        }
    }

    /// Follows bytes read from the client.
    pub fn on_read(&mut self, data: &[u8]) -> Result<(), Refused> {
        let followed = match &mut self.follower {
            Follower::Http1(c) => c.on_read(data).map_err(|error| Refused {
                farewell: c.close_too_big(),
                error,
            }),
            Follower::Http2(c) => c.on_read(data).map_err(|refusal| Refused {
                // Only between our frames: inside one it would be read as part of it.
                farewell: if c.between_frames() {
                    http2::goaway(c.last_stream(), &refusal.to_string())
                } else {
                    Vec::new()
                },
                error: io::Error::new(io::ErrorKind::InvalidData, refusal.to_string()),
            }),
        };
        self.tls_crossed(Direction::Up, data.len());
        followed
    }

    /// Follows bytes written to the client.
    pub fn on_write(&mut self, data: &[u8]) {
        match &mut self.follower {
            Follower::Http1(c) => c.on_write(data),
            Follower::Http2(c) => c.on_write(data),
        }
        self.tls_crossed(Direction::Down, data.len());
    }

    /// `n` plaintext bytes crossed (0: only TLS may have, as in a flush or a close): counts the
    /// change in TLS overhead.
    pub fn tls_crossed(&mut self, direction: Direction, n: usize) {
        let Some(tls) = &mut self.tls else { return };
        let d = direction as usize;
        tls.plain[d] += n as u64;
        let (read, written) = tls.meter.totals();
        let cipher = if direction == Direction::Up {
            read
        } else {
            written
        };
        let overhead = cipher as i64 - tls.plain[d] as i64;
        let delta = overhead - tls.counted[d];
        if delta == 0 {
            return;
        }
        tls.counted[d] = overhead;
        let latest = match &self.follower {
            Follower::Http1(c) => c.latest(),
            Follower::Http2(c) => c.latest(),
        };
        match latest {
            Some(target) => {
                let pending = std::mem::take(&mut tls.pending[d]);
                target.add_tls(direction, pending + delta);
            }
            None => tls.pending[d] += delta,
        }
    }
}

impl Drop for Followed {
    fn drop(&mut self) {
        self.tls_crossed(Direction::Up, 0);
        self.tls_crossed(Direction::Down, 0);
        if self.latest().is_none()
            && let Some(tls) = &self.tls
        {
            let connection = self.ledger.connection();
            connection.add_tls(Direction::Up, tls.pending[0]);
            connection.add_tls(Direction::Down, tls.pending[1]);
        }
    }
}
