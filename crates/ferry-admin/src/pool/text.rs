//! `/pool.txt` and `ferry status`: the pool in the text layout of Passenger's `passenger-status`
//! (seed §10.2, §11.1.4).
//!
//! ```text
//! ----------- General information -----------
//! Max pool size : 6
//! App groups    : 1
//! Processes     : 2
//! Requests in top-level queue : 0
//!
//! ----------- Application groups -----------
//! /srv/app (production):
//!   App root: /srv/app
//!   Requests in queue: 0
//!   * PID: 12345   Sessions: 0       Processed: 17      Uptime: 2m 5s
//!     CPU: 0%      Memory  : 42M     Last used: 3s ago
//!   * PID: 12399   Sessions: 1       Processed: 4       Uptime: 1m 1s
//!     CPU: 1%      Memory  : 40M     Last used: 0s ago
//!     Shutting down...
//! ```
//!
//! Per group, before the queue line: `  (restarting...)` during a rolling restart,
//! `  (spawning N new process(es)...)`, `  (resisting a deployment error...)`, `  (shutting
//! down...)`. Per process, after its two lines: `    Out-of-band work...`, `    Parked
//! (rolling restart)...` or `    Shutting down...`; with `--verbose`, `    URL     : ...` and
//! `    Password: ...` (the process's connect password, for direct access, seed §10.4).
//! Memory is private dirty memory in MB.

use std::fmt::Write;

use super::{duration_words, GroupLife, GroupState, PoolState, ProcessLife, ProcessState};

/// The pool in Passenger's text layout (see the module docs); `verbose` adds each process's
/// URL and, when the state carries it, its connect password.
pub(super) fn render(pool: &PoolState, verbose: bool) -> String {
    let mut out = String::with_capacity(512 + pool.process_count * 256);
    general(&mut out, pool);
    out.push_str("----------- Application groups -----------\n");
    for group in &pool.groups {
        group_lines(&mut out, group);
        let mut processes: Vec<_> = group.processes.iter().collect();
        processes.sort_by_key(|p| match p.life_state {
            ProcessLife::Alive => 0,
            ProcessLife::Oob => 1,
            ProcessLife::Parked => 2,
            ProcessLife::ShuttingDown => 3,
        });
        for p in processes {
            process_lines(&mut out, p, verbose);
        }
        out.push('\n');
    }
    out
}

/// The "General information" section, and the blank line after it.
fn general(out: &mut String, pool: &PoolState) {
    out.push_str("----------- General information -----------\n");
    let _ = writeln!(out, "Max pool size : {}", pool.max_pool_size);
    let _ = writeln!(out, "App groups    : {}", pool.groups.len());
    let _ = writeln!(out, "Processes     : {}", pool.process_count);
    let _ = writeln!(
        out,
        "Requests in top-level queue : {}",
        pool.top_level_queue
    );
    out.push('\n');
}

/// A group's heading lines, down to its preloader.
fn group_lines(out: &mut String, group: &GroupState) {
    let _ = writeln!(out, "{}:", group.name);
    let _ = writeln!(out, "  App root: {}", group.app_root);
    if group.life_state == GroupLife::ShuttingDown {
        out.push_str("  (shutting down...)\n");
    }
    if group.rolling_restart_pending > 0 {
        out.push_str("  (restarting...)\n");
    }
    if group.resisting_deployment_error {
        out.push_str(
            "  (resisting a deployment error: the old processes keep serving until the next restart)\n",
        );
    }
    match group.spawning {
        0 => {}
        1 => out.push_str("  (spawning 1 new process...)\n"),
        n => {
            let _ = writeln!(out, "  (spawning {n} new processes...)");
        }
    }
    let _ = writeln!(out, "  Requests in queue: {}", group.queue_length);
    if let Some(preloader) = &group.preloader {
        // Issue 22, refork: a template says so, with its generation.
        let template = if preloader.reforked {
            format!(
                ", re-forked template generation {}",
                preloader.template_generation
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  Preloader: PID {}, idle {}, {} workers spawned{template}",
            preloader.pid,
            duration_words(preloader.idle_secs),
            preloader.workers_spawned
        );
    }
}

/// One process: its two lines, its state, and with `verbose` its URL and password.
fn process_lines(out: &mut String, p: &ProcessState, verbose: bool) {
    let _ = writeln!(
        out,
        "  * PID: {:<5}   Sessions: {:<2}      Processed: {:<5}   Uptime: {}",
        p.pid,
        p.sessions,
        p.processed,
        duration_words(p.uptime_secs)
    );
    let cpu = format!("{}%", p.cpu_percent.unwrap_or(0.0).round() as u64);
    let memory = format!("{}M", p.private_dirty_kib.unwrap_or(0) / 1024);
    let _ = writeln!(
        out,
        "    CPU: {cpu:<5}   Memory  : {memory:<5}   Last used: {} ago",
        duration_words(p.last_used_secs_ago)
    );
    match p.life_state {
        ProcessLife::Alive => {}
        ProcessLife::Oob => out.push_str("    Out-of-band work...\n"),
        ProcessLife::Parked => out.push_str("    Parked (rolling restart)...\n"),
        ProcessLife::ShuttingDown => out.push_str("    Shutting down...\n"),
    }
    if verbose {
        let _ = writeln!(out, "    URL     : {}", p.url);
        if let Some(password) = &p.connect_password {
            let _ = writeln!(out, "    Password: {password}");
        }
    }
}
