//! `/metrics`: the counters and histograms of [`ferry_metrics::Metrics`], then gauges read from
//! the [`PoolState`] at scrape time (`ferry_pool_*`, `ferry_app_*`, `ferry_process_*`), written
//! with [`ferry_metrics::exposition`].

use ferry_metrics::exposition::{help, sample};
use ferry_metrics::Metrics;

use crate::pool::{PoolState, ProcessLife};

/// What `/metrics` answers: the counters and histograms, then the gauges of `pool`. Empty when
/// metrics are off.
pub(super) fn render(metrics: &Metrics, pool: &PoolState) -> String {
    let mut out = metrics.render();
    if metrics.is_enabled() {
        render_pool(&mut out, pool);
    }
    out
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

#[cfg(test)]
mod tests;
