//! Limits that keep one client from taking the server from the others: open connections (in all
//! and per IP address) and the rate at which an IP address may publish.
//!
//! Loopback addresses are exempt from the per-IP limits unless `--limit-loopback` is given, so
//! local tools and the project's own load test on 127.0.0.1 never trip them. Every table here is
//! bounded, so a flood of addresses cannot grow memory without limit either.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::lock::lock;

/// Connections admitted beyond `--max-connections`, each for one request to `/healthz` or
/// `/metrics` only (see [`crate::admission`]): a full server must still say it is alive, or a
/// supervisor restarts a healthy one. Few, and each closed after one answer, so a flood cannot
/// turn them into more capacity.
pub const HEALTH_RESERVE: usize = 32;

/// Most IP addresses the publish limiter remembers at once.
const MAX_TRACKED_IPS: usize = 100_000;

/// Why a connection was refused; the text goes into the 503 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooManyConnections(usize),
    TooManyFromAddress(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyConnections(max) => {
                write!(f, "the server has its maximum of {max} open connections")
            }
            Self::TooManyFromAddress(max) => {
                write!(f, "your address has its maximum of {max} open connections")
            }
        }
    }
}

/// Counts open connections; a permit is held for each and released when it is dropped.
#[derive(Clone)]
pub struct ConnectionLimiter {
    inner: Arc<ConnInner>,
}

struct ConnInner {
    max_total: usize,
    max_per_ip: usize,
    limit_loopback: bool,
    open: Mutex<OpenConnections>,
}

#[derive(Default)]
struct OpenConnections {
    total: usize,
    /// Connections admitted over the cap, for the health endpoints only.
    reserve: usize,
    /// Only addresses with at least one open connection, so its size is bounded by `max_total`.
    per_ip: HashMap<IpAddr, usize>,
}

/// One open connection's place in the count.
pub struct ConnectionPermit {
    limiter: ConnectionLimiter,
    ip: Option<IpAddr>,
    /// Admitted over the cap: may ask `/healthz` or `/metrics`, once.
    over_cap: bool,
}

impl ConnectionPermit {
    /// Whether this connection came in over the cap (see [`HEALTH_RESERVE`]).
    pub fn over_cap(&self) -> bool {
        self.over_cap
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = lock(&self.limiter.inner.open);
        if self.over_cap {
            open.reserve = open.reserve.saturating_sub(1);
            return;
        }
        open.total = open.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(count) = open.per_ip.get_mut(&ip)
        {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

impl ConnectionLimiter {
    pub fn new(config: &Config) -> Self {
        Self {
            inner: Arc::new(ConnInner {
                max_total: config.max_connections,
                max_per_ip: config.max_connections_per_ip,
                limit_loopback: config.limit_loopback,
                open: Mutex::default(),
            }),
        }
    }

    /// A permit for a new connection from `peer`, or why not. Over the total cap, one of the
    /// [`HEALTH_RESERVE`] places for the health endpoints, while one is free.
    pub fn admit(&self, peer: Option<IpAddr>) -> Result<ConnectionPermit, Refusal> {
        let mut open = lock(&self.inner.open);
        if open.total >= self.inner.max_total {
            if open.reserve >= HEALTH_RESERVE {
                return Err(Refusal::TooManyConnections(self.inner.max_total));
            }
            open.reserve += 1;
            return Ok(ConnectionPermit {
                limiter: self.clone(),
                ip: None,
                over_cap: true,
            });
        }
        let ip = peer.filter(|ip| self.inner.limit_loopback || !ip.is_loopback());
        if let Some(ip) = ip {
            let count = open.per_ip.entry(ip).or_default();
            if *count >= self.inner.max_per_ip {
                return Err(Refusal::TooManyFromAddress(self.inner.max_per_ip));
            }
            *count += 1;
        }
        open.total += 1;
        Ok(ConnectionPermit {
            limiter: self.clone(),
            ip,
            over_cap: false,
        })
    }

    /// Open connections under the cap, and the cap.
    pub fn fill(&self) -> (usize, usize) {
        (lock(&self.inner.open).total, self.inner.max_total)
    }
}

/// A token bucket per IP address for publishing.
#[derive(Clone)]
pub struct PublishLimiter {
    inner: Arc<RateInner>,
}

struct RateInner {
    per_second: f64,
    burst: f64,
    limit_loopback: bool,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl PublishLimiter {
    pub fn new(config: &Config) -> Self {
        Self {
            inner: Arc::new(RateInner {
                per_second: config.posts_per_second,
                burst: f64::from(config.post_burst),
                limit_loopback: config.limit_loopback,
                buckets: Mutex::default(),
            }),
        }
    }

    /// Takes one publish from `peer`'s allowance; `Err` says how long until the next one is allowed.
    pub fn check(&self, peer: Option<IpAddr>) -> Result<(), Duration> {
        let Some(ip) = peer.filter(|ip| self.inner.limit_loopback || !ip.is_loopback()) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = lock(&self.inner.buckets);
        if buckets.len() >= MAX_TRACKED_IPS && !buckets.contains_key(&ip) {
            // A bucket that has refilled is the same as no bucket: forget those.
            let (rate, burst) = (self.inner.per_second, self.inner.burst);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
            if buckets.len() >= MAX_TRACKED_IPS {
                return Err(Duration::from_secs(1));
            }
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.inner.burst,
            updated: now,
        });
        let refilled = bucket.tokens
            + now.duration_since(bucket.updated).as_secs_f64() * self.inner.per_second;
        bucket.tokens = refilled.min(self.inner.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.inner.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["transport-lab"];
        all.extend_from_slice(args);
        Config::parse_from(all)
    }

    const LAN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));
    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// Per-IP and total caps, released when permits drop; loopback exempt from the per-IP cap.
    #[test]
    fn connection_caps() {
        let limiter = ConnectionLimiter::new(&config(&[
            "--max-connections",
            "4",
            "--max-connections-per-ip",
            "2",
        ]));
        let a = limiter.admit(Some(LAN)).unwrap();
        let _b = limiter.admit(Some(LAN)).unwrap();
        assert_eq!(
            limiter.admit(Some(LAN)).err(),
            Some(Refusal::TooManyFromAddress(2))
        );
        let _c = limiter.admit(Some(LOCAL)).unwrap();
        let d = limiter.admit(Some(LOCAL)).unwrap();
        assert_eq!(limiter.fill(), (4, 4));
        // Over the cap: the health reserve, then refusals.
        let reserve: Vec<_> = (0..HEALTH_RESERVE)
            .map(|_| limiter.admit(Some(OTHER)).unwrap())
            .collect();
        assert!(reserve.iter().all(ConnectionPermit::over_cap) && !d.over_cap());
        assert_eq!(
            limiter.admit(Some(OTHER)).err(),
            Some(Refusal::TooManyConnections(4))
        );
        drop(reserve);
        assert!(limiter.admit(Some(OTHER)).unwrap().over_cap());
        assert_eq!(limiter.fill(), (4, 4));
        drop(a);
        assert!(
            limiter.admit(Some(LAN)).is_ok(),
            "a closed connection frees its place"
        );
    }

    /// A burst, then one token per 1/rate seconds; loopback exempt unless asked.
    #[test]
    fn publish_rate() {
        let limiter =
            PublishLimiter::new(&config(&["--posts-per-second", "10", "--post-burst", "3"]));
        for _ in 0..3 {
            assert!(limiter.check(Some(LAN)).is_ok());
        }
        let wait = limiter.check(Some(LAN)).unwrap_err();
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(
            limiter.check(Some(OTHER)).is_ok(),
            "addresses have their own buckets"
        );
        for _ in 0..100 {
            assert!(limiter.check(Some(LOCAL)).is_ok());
        }
        let strict = PublishLimiter::new(&config(&["--post-burst", "1", "--limit-loopback"]));
        assert!(strict.check(Some(LOCAL)).is_ok());
        assert!(strict.check(Some(LOCAL)).is_err());
    }
}
