//! Prometheus metrics: counters and histograms updated on the request path, gauges read from
//! the pool when scraped, and the text exposition format.
//!
//! **Cost.** Apps are known at startup, so every per-app series is allocated then and found by
//! index ([`AppId`]): recording is two or three relaxed atomic adds, with no lock, no map lookup
//! and no allocation. With metrics off ([`Metrics::disabled`]) every `record_*` returns after one
//! branch on a plain `bool`, and callers can skip even reading the clock ([`Metrics::is_enabled`]).
//!
//! **Where the data comes from.**
//!
//! | metric | type | updated by |
//! |---|---|---|
//! | `ferry_http_requests_total{app,code}` | counter | front end, per response ([`Metrics::record_response`]); `code` is the class, `2xx` |
//! | `ferry_http_request_duration_seconds{app}` | histogram | front end, same call: request head in to response end |
//! | `ferry_queue_wait_seconds{app}` | histogram | front end, after a checkout ([`Metrics::record_queue_wait`]) |
//! | `ferry_spawn_duration_seconds{app}` | histogram | [`MeteredSpawner`], successful spawns |
//! | `ferry_spawn_failures_total{app}` | counter | [`MeteredSpawner`] |
//! | `ferry_pool_*`, `ferry_app_*`, `ferry_process_*` | gauges | read from [`PoolState`] at scrape time |
//!
//! Requests answered without an app (static files, 404 outside every app) count under
//! `app=""` ([`AppId::NONE`]).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferry_spawn::{SpawnError, SpawnOptions, Spawned, Spawner};

use crate::pool::{PoolState, ProcessLife};

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the request duration and queue wait buckets, in seconds.
pub const REQUEST_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of the spawn duration buckets, in seconds.
pub const SPAWN_BUCKETS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Status classes counted: 1xx to 5xx, and anything else.
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// The metrics registry. Share it as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    enabled: bool,
    /// Index 0 is [`AppId::NONE`].
    apps: Vec<AppMetrics>,
    by_name: HashMap<String, AppId>,
}

/// An app's index in [`Metrics`], looked up once ([`Metrics::app`]) and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppId(usize);

impl AppId {
    /// Requests answered without an app (`app=""`).
    pub const NONE: AppId = AppId(0);
}

#[derive(Debug)]
struct AppMetrics {
    name: String,
    /// Per status class ([`CLASSES`]).
    responses: Sharded,
    request_duration: Histogram,
    queue_wait: Histogram,
    spawn_duration: Histogram,
    spawn_failures: AtomicU64,
}

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
struct Sharded(Box<[AtomicU64]>);

impl Sharded {
    fn new() -> Sharded {
        Sharded((0..SHARDS * STRIDE).map(|_| AtomicU64::new(0)).collect())
    }

    fn add(&self, i: usize, n: u64) {
        self.0[shard() * STRIDE + i].fetch_add(n, Ordering::Relaxed);
    }

    /// Counter `i`, over every shard.
    fn total(&self, i: usize) -> u64 {
        (0..SHARDS)
            .map(|s| self.0[s * STRIDE + i].load(Ordering::Relaxed))
            .sum()
    }
}

/// A histogram with fixed bounds (at most `STRIDE - 2` of them). Buckets count observations
/// falling in them only (they are made cumulative when rendered), so one observation touches
/// one bucket and the sum, in the calling thread's shard.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Per shard: one counter per bound, one for `+Inf`, then the sum in microseconds.
    counters: Sharded,
}

// === impl Metrics ===

impl Metrics {
    /// Metrics on, with one series set per app group name.
    pub fn new<I, S>(apps: I) -> Metrics
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut metrics = Metrics {
            enabled: true,
            apps: vec![AppMetrics::new(String::new())],
            by_name: HashMap::new(),
        };
        for name in apps {
            let name = name.into();
            if !metrics.by_name.contains_key(&name) {
                metrics
                    .by_name
                    .insert(name.clone(), AppId(metrics.apps.len()));
                metrics.apps.push(AppMetrics::new(name));
            }
        }
        metrics
    }

    /// Metrics off: recording does nothing, and there is nothing to scrape.
    pub fn disabled() -> Metrics {
        Metrics {
            enabled: false,
            apps: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    /// Whether metrics are on. Callers may skip timing work when they are not.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The id of the app group `name`; [`AppId::NONE`] for an app not registered at startup.
    /// Look it up once, not per request.
    pub fn app(&self, name: &str) -> AppId {
        self.by_name.get(name).copied().unwrap_or(AppId::NONE)
    }

    fn get(&self, app: AppId) -> Option<&AppMetrics> {
        if !self.enabled {
            return None;
        }
        self.apps.get(app.0)
    }

    /// A response with `status` finished, `elapsed` after its request arrived.
    pub fn record_response(&self, app: AppId, status: u16, elapsed: Duration) {
        let Some(m) = self.get(app) else { return };
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => CLASSES.len() - 1,
        };
        m.responses.add(class, 1);
        m.request_duration.observe(elapsed);
    }

    /// A request waited `waited` for a session (0 when a process had room at once).
    pub fn record_queue_wait(&self, app: AppId, waited: Duration) {
        if let Some(m) = self.get(app) {
            m.queue_wait.observe(waited);
        }
    }

    /// A spawn of `app` ended after `took`: successfully or not.
    pub fn record_spawn(&self, app: AppId, took: Duration, ok: bool) {
        let Some(m) = self.get(app) else { return };
        if ok {
            m.spawn_duration.observe(took);
        } else {
            m.spawn_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition format: the counters and histograms, and gauges from `pool` when
    /// given. Empty when metrics are off.
    pub fn render(&self, pool: Option<&PoolState>) -> String {
        let mut out = String::with_capacity(4096 + self.apps.len() * 4096);
        if !self.enabled {
            return out;
        }
        help(
            &mut out,
            "ferry_http_requests_total",
            "counter",
            "Responses sent, by app and status class.",
        );
        for m in &self.apps {
            for (i, class) in CLASSES.iter().enumerate() {
                let n = m.responses.total(i);
                sample(
                    &mut out,
                    "ferry_http_requests_total",
                    &[("app", &m.name), ("code", class)],
                    n,
                );
            }
        }
        histogram_family(
            &mut out,
            "ferry_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            self.apps.iter().map(|m| (&m.name, &m.request_duration)),
        );
        histogram_family(
            &mut out,
            "ferry_queue_wait_seconds",
            "Time a request waited for an app process.",
            self.apps.iter().map(|m| (&m.name, &m.queue_wait)),
        );
        let apps = || self.apps.iter().skip(1);
        histogram_family(
            &mut out,
            "ferry_spawn_duration_seconds",
            "Time taken by successful spawns of app processes.",
            apps().map(|m| (&m.name, &m.spawn_duration)),
        );
        help(
            &mut out,
            "ferry_spawn_failures_total",
            "counter",
            "Spawns of app processes that failed.",
        );
        for m in apps() {
            let n = m.spawn_failures.load(Ordering::Relaxed);
            sample(
                &mut out,
                "ferry_spawn_failures_total",
                &[("app", &m.name)],
                n,
            );
        }
        if let Some(pool) = pool {
            render_pool(&mut out, pool);
        }
        out
    }
}

fn render_pool(out: &mut String, pool: &PoolState) {
    help(out, "ferry_pool_max_processes", "gauge", "max_pool_size.");
    sample(out, "ferry_pool_max_processes", &[], pool.max_pool_size);
    help(
        out,
        "ferry_pool_capacity_used",
        "gauge",
        "Processes counting against max_pool_size (taking requests, or spawning).",
    );
    sample(out, "ferry_pool_capacity_used", &[], pool.capacity_used);
    help(
        out,
        "ferry_app_queue_length",
        "gauge",
        "Requests waiting for a process.",
    );
    for g in &pool.groups {
        sample(
            out,
            "ferry_app_queue_length",
            &[("app", &g.name)],
            g.queue_length,
        );
    }
    help(
        out,
        "ferry_app_processes",
        "gauge",
        "Processes by life state.",
    );
    for g in &pool.groups {
        let count = |life: ProcessLife| g.processes.iter().filter(|p| p.life_state == life).count();
        for (state, n) in [
            ("alive", count(ProcessLife::Alive)),
            ("oob", count(ProcessLife::Oob)),
            ("parked", count(ProcessLife::Parked)),
            ("shutting_down", count(ProcessLife::ShuttingDown)),
            ("spawning", g.spawning),
        ] {
            sample(
                out,
                "ferry_app_processes",
                &[("app", &g.name), ("state", state)],
                n,
            );
        }
    }
    help(
        out,
        "ferry_app_restart_generation",
        "gauge",
        "Restarts of the app since Ferry started.",
    );
    for g in &pool.groups {
        sample(
            out,
            "ferry_app_restart_generation",
            &[("app", &g.name)],
            g.generation,
        );
    }
    let processes = || {
        pool.groups
            .iter()
            .flat_map(|g| g.processes.iter().map(move |p| (g, p, p.pid.to_string())))
    };
    help(
        out,
        "ferry_process_sessions",
        "gauge",
        "Requests in flight on a process.",
    );
    for (g, p, pid) in processes() {
        sample(
            out,
            "ferry_process_sessions",
            &[("app", &g.name), ("pid", &pid)],
            p.sessions,
        );
    }
    help(
        out,
        "ferry_process_processed_total",
        "counter",
        "Requests a process has completed.",
    );
    for (g, p, pid) in processes() {
        sample(
            out,
            "ferry_process_processed_total",
            &[("app", &g.name), ("pid", &pid)],
            p.processed,
        );
    }
    help(
        out,
        "ferry_process_private_dirty_bytes",
        "gauge",
        "Private dirty memory of a process.",
    );
    for (g, p, pid) in processes() {
        if let Some(kib) = p.private_dirty_kib {
            sample(
                out,
                "ferry_process_private_dirty_bytes",
                &[("app", &g.name), ("pid", &pid)],
                kib * 1024,
            );
        }
    }
    help(
        out,
        "ferry_process_cpu_percent",
        "gauge",
        "CPU time of a process over its lifetime, in percent.",
    );
    for (g, p, pid) in processes() {
        if let Some(cpu) = p.cpu_percent {
            sample(
                out,
                "ferry_process_cpu_percent",
                &[("app", &g.name), ("pid", &pid)],
                cpu,
            );
        }
    }
}

fn histogram_family<'a>(
    out: &mut String,
    name: &str,
    text: &str,
    series: impl Iterator<Item = (&'a String, &'a Histogram)>,
) {
    help(out, name, "histogram", text);
    for (app, histogram) in series {
        histogram.render(out, name, app);
    }
}

/// `# HELP` and `# TYPE` lines.
fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line: `name{label="value",...} value`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label(out, value);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

// === impl AppMetrics ===

impl AppMetrics {
    fn new(name: String) -> AppMetrics {
        AppMetrics {
            name,
            responses: Sharded::new(),
            request_duration: Histogram::new(&REQUEST_BUCKETS),
            queue_wait: Histogram::new(&REQUEST_BUCKETS),
            spawn_duration: Histogram::new(&SPAWN_BUCKETS),
            spawn_failures: AtomicU64::new(0),
        }
    }
}

// === impl Histogram ===

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        assert!(bounds.len() + 2 <= STRIDE, "too many buckets for a shard");
        Histogram {
            bounds,
            counters: Sharded::new(),
        }
    }

    fn observe(&self, value: Duration) {
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

    fn render(&self, out: &mut String, name: &str, app: &str) {
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

// === MeteredSpawner ===

/// A [`Spawner`] that times every spawn of the one it wraps and counts failures: wrap the real
/// spawner with it before handing it to the pool.
#[derive(Debug)]
pub struct MeteredSpawner<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> MeteredSpawner<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, metrics: Arc<Metrics>) -> Self {
        MeteredSpawner { inner, metrics }
    }

    /// The wrapped spawner.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Spawner> Spawner for MeteredSpawner<S> {
    async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        if !self.metrics.is_enabled() {
            return self.inner.spawn(options).await;
        }
        let app = self.metrics.app(&options.app_group_name);
        let started = tokio::time::Instant::now();
        let result = self.inner.spawn(options).await;
        self.metrics
            .record_spawn(app, started.elapsed(), result.is_ok());
        result
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

#[cfg(test)]
pub(crate) mod tests;
