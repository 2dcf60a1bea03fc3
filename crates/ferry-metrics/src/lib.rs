//! Prometheus metrics: counters and histograms updated on the request path, and the text
//! exposition format.
//!
//! This crate sits below the front end and the pool, so that both can record without knowing
//! the admin API; the admin API serves [`Metrics::render`] at `/metrics`, followed by the pool
//! gauges it renders from its own pool state with [`exposition`]'s writer.
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
//! | `ferry_pool_*`, `ferry_app_*`, `ferry_process_*` | gauges | the admin API, from its `PoolState` at scrape time |
//!
//! Requests answered without an app (static files, 404 outside every app) count under
//! `app=""` ([`AppId::NONE`]).

mod counters;
pub mod exposition;
mod spawner;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use counters::{Histogram, Sharded};
pub use exposition::CONTENT_TYPE;
use exposition::{help, sample};
pub use spawner::MeteredSpawner;

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

    /// The text exposition format of the counters and histograms. Empty when metrics are off.
    pub fn render(&self) -> String {
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
        out
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

#[cfg(test)]
mod tests;
