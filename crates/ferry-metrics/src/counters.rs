//! The atomic counters behind [`crate::Metrics`]: sharded per thread, and histograms made of
//! them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::exposition::sample;

/// How many copies of the hot counters there are: each runtime thread updates its own
/// (`shard()`), so two cores recording at once do not fight over one cache line; a scrape adds
/// them up.
const SHARDS: usize = 8;
/// Counters per shard, in 8-byte words: 128 bytes, so shards never share a cache line.
const STRIDE: usize = 16;

/// The shard of the calling thread.
fn shard() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// `SHARDS` rows of `STRIDE` counters.
#[derive(Debug)]
pub(crate) struct Sharded(Box<[AtomicU64]>);

impl Sharded {
    pub(crate) fn new() -> Sharded {
        Sharded((0..SHARDS * STRIDE).map(|_| AtomicU64::new(0)).collect())
    }

    pub(crate) fn add(&self, i: usize, n: u64) {
        self.0[shard() * STRIDE + i].fetch_add(n, Ordering::Relaxed);
    }

    /// Counter `i`, over every shard.
    pub(crate) fn total(&self, i: usize) -> u64 {
        (0..SHARDS)
            .map(|s| self.0[s * STRIDE + i].load(Ordering::Relaxed))
            .sum()
    }
}

/// A histogram with fixed bounds (at most `STRIDE - 2` of them). Buckets count observations
/// falling in them only (they are made cumulative when rendered), so one observation touches
/// one bucket and the sum, in the calling thread's shard.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Per shard: one counter per bound, one for `+Inf`, then the sum in microseconds.
    counters: Sharded,
}

// === impl Histogram ===

impl Histogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Histogram {
        assert!(bounds.len() + 2 <= STRIDE, "too many buckets for a shard");
        Histogram {
            bounds,
            counters: Sharded::new(),
        }
    }

    pub(crate) fn observe(&self, value: Duration) {
        let secs = value.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(self.bounds.len());
        let row = shard() * STRIDE;
        let counters = &self.counters.0;
        counters[row + i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        counters[row + self.bounds.len() + 1].fetch_add(micros, Ordering::Relaxed);
    }

    pub(crate) fn render(&self, out: &mut String, name: &str, app: &str) {
        // Read each bucket once; the count is their total, so `+Inf` and `_count` agree even
        // while requests are being recorded.
        let counts: Vec<u64> = (0..=self.bounds.len())
            .map(|i| self.counters.total(i))
            .collect();
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, n) in counts.iter().enumerate() {
            cumulative += n;
            let le = match self.bounds.get(i) {
                Some(bound) => bound.to_string(),
                None => "+Inf".to_owned(),
            };
            sample(out, &bucket, &[("app", app), ("le", &le)], cumulative);
        }
        let sum = self.counters.total(self.bounds.len() + 1) as f64 / 1e6;
        sample(out, &format!("{name}_sum"), &[("app", app)], sum);
        sample(out, &format!("{name}_count"), &[("app", app)], cumulative);
    }
}
