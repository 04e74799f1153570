//! Delivery latency histograms (hdrhistogram, microsecond resolution, 3 significant digits).
//!
//! One [`LatencyHistogram`] per transport, shared by all of its clients. Clients record into a
//! small local buffer ([`LatencyRecorder`]) and flush it under the lock in batches, so thousands
//! of clients do not contend on every delivery, and memory stays one histogram per transport
//! whatever the client count.

use std::sync::{Arc, Mutex, MutexGuard};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram can hold: one hour. Larger values are clamped, not dropped.
const MAX_US: u64 = 3_600_000_000;
/// Deliveries a recorder buffers before taking the lock.
const FLUSH_EVERY: usize = 256;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    hist: Histogram<u64>,
}

/// The figures the reports print, in microseconds.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// (percentile, latency µs) points for a CDF plot, from 0 to 100.
    pub cdf: Vec<(f64, u64)>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        // unwrap: the bounds are constants that satisfy hdrhistogram's preconditions
        // (low >= 1, high >= 2 * low, sigfig <= 5).
        let hist = Histogram::new_with_bounds(1, MAX_US, 3).expect("constant valid bounds");
        Self { hist }
    }

    /// Records one latency; 0 is stored as 1 µs (the resolution), over an hour as an hour.
    pub fn record(&mut self, us: u64) {
        self.hist.saturating_record(us.clamp(1, MAX_US));
    }

    pub fn merge(&mut self, other: &Self) {
        // Both have the same bounds, so adding cannot fail; a failure would only drop samples.
        let _ = self.hist.add(&other.hist);
    }

    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The value at `percentile` (0..=100).
    pub fn percentile(&self, percentile: f64) -> u64 {
        if self.hist.is_empty() {
            return 0;
        }
        self.hist.value_at_percentile(percentile)
    }

    pub fn summary(&self) -> LatencySummary {
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        // Dense where the tail is: 0..90 by 5, then 90, 99, 99.9, ... in log steps.
        let mut points: Vec<f64> = (0..18).map(|i| f64::from(i) * 5.0).collect();
        let mut tail = 90.0;
        while tail < 99.9999 {
            for step in 0..9 {
                points.push(tail + (100.0 - tail) * f64::from(step) / 10.0);
            }
            tail = 100.0 - (100.0 - tail) / 10.0;
        }
        points.push(100.0);
        let cdf = points
            .into_iter()
            .map(|p| (p, self.hist.value_at_percentile(p)))
            .collect();
        LatencySummary {
            count: self.hist.len(),
            min_us: self.hist.min(),
            mean_us: self.hist.mean(),
            p50_us: self.hist.value_at_percentile(50.0),
            p90_us: self.hist.value_at_percentile(90.0),
            p99_us: self.hist.value_at_percentile(99.0),
            p999_us: self.hist.value_at_percentile(99.9),
            max_us: self.hist.max(),
            cdf,
        }
    }
}

/// A transport's histogram, shared by its clients.
#[derive(Debug, Clone, Default)]
pub struct SharedHistogram(Arc<Mutex<LatencyHistogram>>);

impl SharedHistogram {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn recorder(&self) -> LatencyRecorder {
        LatencyRecorder {
            shared: self.clone(),
            buf: Vec::with_capacity(FLUSH_EVERY),
        }
    }

    pub fn snapshot(&self) -> LatencyHistogram {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, LatencyHistogram> {
        // A panicking client cannot leave a histogram half-updated in a way that matters here.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One client's buffered view of a [`SharedHistogram`]; flushes when full and when dropped.
#[derive(Debug)]
pub struct LatencyRecorder {
    shared: SharedHistogram,
    buf: Vec<u64>,
}

impl LatencyRecorder {
    pub fn record(&mut self, us: u64) {
        self.buf.push(us);
        if self.buf.len() >= FLUSH_EVERY {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut hist = self.shared.lock();
        for us in self.buf.drain(..) {
            hist.record(us);
        }
    }
}

impl Drop for LatencyRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1..=1000 µs once each: percentiles land on exact values (within 3 significant digits).
    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000 {
            h.record(us);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert_eq!((s.min_us, s.max_us), (1, 1000));
        // 99.9% of 1000 samples rounds up to the last one in hdrhistogram's float arithmetic.
        assert_eq!(
            (s.p50_us, s.p90_us, s.p99_us, s.p999_us),
            (500, 900, 990, 1000)
        );
        assert!((s.mean_us - 500.5).abs() < 0.01);
        assert_eq!(s.cdf.first(), Some(&(0.0, 1)));
        assert_eq!(s.cdf.last(), Some(&(100.0, 1000)));
        assert!(
            s.cdf
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
    }

    /// Out-of-range values are clamped, and large values keep 3 significant digits.
    #[test]
    fn clamps_and_keeps_precision() {
        let mut h = LatencyHistogram::new();
        h.record(0);
        h.record(123_456);
        h.record(u64::MAX);
        assert_eq!(h.len(), 3);
        assert_eq!(h.percentile(0.0), 1);
        let mid = h.percentile(50.0);
        assert!((123_400..=123_600).contains(&mid), "{mid}");
        assert!(h.percentile(100.0) >= MAX_US);
    }

    /// Recorders from many clients all land in the shared histogram, including partial batches.
    #[test]
    fn recorders_flush_into_the_shared_histogram() {
        let shared = SharedHistogram::new();
        let mut a = shared.recorder();
        let mut b = shared.recorder();
        for us in 0..300 {
            a.record(100 + us);
        }
        b.record(7);
        assert_eq!(shared.snapshot().len(), 256);
        drop(a);
        drop(b);
        let s = shared.snapshot().summary();
        assert_eq!((s.count, s.min_us), (301, 7));
        let mut merged = LatencyHistogram::new();
        merged.merge(&shared.snapshot());
        merged.merge(&shared.snapshot());
        assert_eq!(merged.len(), 602);
        assert_eq!(LatencyHistogram::new().summary(), LatencySummary::default());
    }
}
