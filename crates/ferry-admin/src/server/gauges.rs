//! `/metrics`: the counters and histograms of [`ferry_metrics::Metrics`], then gauges read from
//! the [`PoolState`] at scrape time (`ferry_pool_*`, `ferry_app_*`, `ferry_process_*`), written
//! with [`ferry_metrics::exposition`].

use std::fmt::Display;

use ferry_metrics::exposition::{help, sample};
use ferry_metrics::Metrics;

use crate::pool::{GroupState, PoolState, ProcessLife, ProcessState};

/// What `/metrics` answers: the counters and histograms, then the gauges of `pool`. Empty when
/// metrics are off.
pub(super) fn render(
    metrics: &Metrics,
    pool: &PoolState,
    certificates: &[crate::types::CertificateStatus],
) -> String {
    let mut out = metrics.render();
    if metrics.is_enabled() {
        render_pool(&mut out, pool);
        // Issue 19, TLS:
        certificate_gauges(&mut out, certificates);
    }
    out
}

// Issue 19, TLS:
/// `ferry_tls_certificate_expiry_timestamp_seconds`: when each certificate served expires.
fn certificate_gauges(out: &mut String, certificates: &[crate::types::CertificateStatus]) {
    if certificates.is_empty() {
        return;
    }
    let name = "ferry_tls_certificate_expiry_timestamp_seconds";
    help(
        out,
        name,
        "gauge",
        "When the certificate expires (its notAfter), in seconds since the Unix epoch.",
    );
    for cert in certificates {
        sample(
            out,
            name,
            &[
                ("file", cert.file.as_str()),
                ("subject", cert.subject.as_str()),
            ],
            cert.not_after,
        );
    }
}

fn render_pool(out: &mut String, pool: &PoolState) {
    pool_gauges(out, pool);
    app_gauges(out, pool);
    process_gauges(out, pool);
}

/// `ferry_pool_*`: the pool as a whole.
fn pool_gauges(out: &mut String, pool: &PoolState) {
    help(out, "ferry_pool_max_processes", "gauge", "max_pool_size.");
    sample(out, "ferry_pool_max_processes", &[], pool.max_pool_size);
    help(
        out,
        "ferry_pool_capacity_used",
        "gauge",
        "Processes counting against max_pool_size (taking requests, or spawning).",
    );
    sample(out, "ferry_pool_capacity_used", &[], pool.capacity_used);
}

/// `ferry_app_*`: one series per app (and per process state).
fn app_gauges(out: &mut String, pool: &PoolState) {
    app_gauge(
        out,
        pool,
        "ferry_app_queue_length",
        "Requests waiting for a process.",
        |g| g.queue_length,
    );
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
    app_gauge(
        out,
        pool,
        "ferry_app_restart_generation",
        "Restarts of the app since Ferry started.",
        |g| g.generation,
    );
}

/// `ferry_process_*`: one series per process, labelled with its app and pid.
fn process_gauges(out: &mut String, pool: &PoolState) {
    process_metric(
        out,
        pool,
        ("ferry_process_sessions", "gauge"),
        "Requests in flight on a process.",
        |p| Some(p.sessions),
    );
    process_metric(
        out,
        pool,
        ("ferry_process_processed_total", "counter"),
        "Requests a process has completed.",
        |p| Some(p.processed),
    );
    process_metric(
        out,
        pool,
        ("ferry_process_private_dirty_bytes", "gauge"),
        "Private dirty memory of a process.",
        |p| p.private_dirty_kib.map(|kib| kib * 1024),
    );
    process_metric(
        out,
        pool,
        ("ferry_process_cpu_percent", "gauge"),
        "CPU time of a process over its lifetime, in percent.",
        |p| p.cpu_percent,
    );
}

/// A gauge with one sample per app, labelled `app`.
fn app_gauge<V: Display>(
    out: &mut String,
    pool: &PoolState,
    name: &str,
    text: &str,
    value: impl Fn(&GroupState) -> V,
) {
    help(out, name, "gauge", text);
    for g in &pool.groups {
        sample(out, name, &[("app", &g.name)], value(g));
    }
}

/// A metric (`name` and kind) with one sample per process that has a value, labelled `app` and
/// `pid`.
fn process_metric<V: Display>(
    out: &mut String,
    pool: &PoolState,
    (name, kind): (&str, &str),
    text: &str,
    value: impl Fn(&ProcessState) -> Option<V>,
) {
    help(out, name, kind, text);
    for g in &pool.groups {
        for p in &g.processes {
            if let Some(v) = value(p) {
                sample(
                    out,
                    name,
                    &[("app", &g.name), ("pid", &p.pid.to_string())],
                    v,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
