//! One client's network faults, for the fault lab (`/api/lab`): what real intermediaries do to
//! realtime connections, applied by the socket guard ([`wire`](super::wire)) to the connections
//! of that client alone.
//!
//! They live beside the client's counters because the guard already knows, for every byte, which
//! client's request it belongs to; so the ledger still counts exactly what the server wrote, and a
//! fault of one client never touches another's connections. Atomics, because a page changes them
//! while its connections are being written.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A client's faults as the API reads and writes them: each `None` (or `false`) is off.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    /// A proxy or firewall that strips `Upgrade`: the client's WebSocket handshakes get 403.
    #[serde(default)]
    pub refuse_upgrade: bool,
    /// A buffering proxy (nginx's `proxy_buffering on`, some antivirus): responses are held until
    /// this many KiB accumulate or the response ends, so streams "hang" while polls work.
    pub buffer_kib: Option<u64>,
    /// A load balancer's idle timeout (60 s in real life, seconds in class): a connection with no
    /// bytes either way for this long is closed.
    pub idle_cut_s: Option<f64>,
    /// Added delay before every write.
    pub latency_ms: Option<u64>,
    /// A flaky network: each connection is cut at a random time between half and one and a half
    /// times this.
    pub cut_every_s: Option<f64>,
}

/// What is wrong with a fault setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFault(String);

impl FaultSettings {
    /// Checks every value against its range.
    pub fn check(&self) -> Result<(), InvalidFault> {
        fn within<T: PartialOrd + std::fmt::Display + Copy>(
            name: &str,
            value: Option<T>,
            min: T,
            max: T,
            unit: &str,
        ) -> Result<(), InvalidFault> {
            match value {
                Some(v) if !(v >= min && v <= max) => Err(InvalidFault(format!(
                    "{name} must be between {min} and {max} {unit}; got {v}"
                ))),
                _ => Ok(()),
            }
        }
        within("buffer_kib", self.buffer_kib, 1, 1024, "KiB")?;
        within("idle_cut_s", self.idle_cut_s, 0.5, 600.0, "seconds")?;
        within("latency_ms", self.latency_ms, 1, 10_000, "milliseconds")?;
        within("cut_every_s", self.cut_every_s, 0.5, 600.0, "seconds")
    }
}

/// A client's faults, read by the socket guard on every write.
#[derive(Debug, Default)]
pub struct Faults {
    refuse_upgrade: AtomicBool,
    buffer_bytes: AtomicU64,
    idle_cut_ms: AtomicU64,
    latency_ms: AtomicU64,
    cut_every_ms: AtomicU64,
}

/// The faults in force on one connection now, as plain values.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Active {
    pub buffer_bytes: u64,
    pub idle_cut: Option<Duration>,
    pub latency: Option<Duration>,
    pub cut_every: Option<Duration>,
}

fn millis(seconds: Option<f64>) -> u64 {
    seconds.map_or(0, |s| (s * 1000.0).round() as u64)
}

fn duration(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl Faults {
    /// Replaces every fault (checked by [`FaultSettings::check`] first).
    pub fn set(&self, settings: &FaultSettings) {
        self.refuse_upgrade.store(settings.refuse_upgrade, Relaxed);
        self.buffer_bytes
            .store(settings.buffer_kib.unwrap_or(0) * 1024, Relaxed);
        self.idle_cut_ms.store(millis(settings.idle_cut_s), Relaxed);
        self.latency_ms
            .store(settings.latency_ms.unwrap_or(0), Relaxed);
        self.cut_every_ms
            .store(millis(settings.cut_every_s), Relaxed);
    }

    pub fn settings(&self) -> FaultSettings {
        let seconds = |ms: u64| (ms > 0).then(|| ms as f64 / 1000.0);
        let some = |n: u64| (n > 0).then_some(n);
        FaultSettings {
            refuse_upgrade: self.refuse_upgrade.load(Relaxed),
            buffer_kib: some(self.buffer_bytes.load(Relaxed) / 1024),
            idle_cut_s: seconds(self.idle_cut_ms.load(Relaxed)),
            latency_ms: some(self.latency_ms.load(Relaxed)),
            cut_every_s: seconds(self.cut_every_ms.load(Relaxed)),
        }
    }

    pub fn refuses_upgrade(&self) -> bool {
        self.refuse_upgrade.load(Relaxed)
    }

    /// The faults the socket guard applies.
    pub fn active(&self) -> Active {
        Active {
            buffer_bytes: self.buffer_bytes.load(Relaxed),
            idle_cut: duration(self.idle_cut_ms.load(Relaxed)),
            latency: duration(self.latency_ms.load(Relaxed)),
            cut_every: duration(self.cut_every_ms.load(Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings round-trip through the atomics; out-of-range values are refused with their range.
    #[test]
    fn settings_round_trip_and_ranges() {
        let settings = FaultSettings {
            refuse_upgrade: true,
            buffer_kib: Some(8),
            idle_cut_s: Some(2.5),
            latency_ms: Some(200),
            cut_every_s: None,
        };
        settings.check().unwrap();
        let faults = Faults::default();
        faults.set(&settings);
        assert_eq!(faults.settings(), settings);
        assert_eq!(faults.active().idle_cut, Some(Duration::from_millis(2500)));
        faults.set(&FaultSettings::default());
        assert_eq!(faults.active(), Active::default());
        for bad in [
            FaultSettings {
                buffer_kib: Some(0),
                ..Default::default()
            },
            FaultSettings {
                idle_cut_s: Some(-1.0),
                ..Default::default()
            },
            FaultSettings {
                idle_cut_s: Some(f64::NAN),
                ..Default::default()
            },
            FaultSettings {
                latency_ms: Some(10_001),
                ..Default::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(
            FaultSettings {
                cut_every_s: Some(0.1),
                ..Default::default()
            }
            .check()
            .unwrap_err()
            .to_string()
            .contains("between 0.5 and 600")
        );
    }
}
