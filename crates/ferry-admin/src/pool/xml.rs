//! `/pool.xml`: the pool in the element layout of Passenger's `/pool.xml` (`<info version="3">`,
//! `<supergroups><supergroup><group><processes><process>`), so that tools written for Passenger
//! read Ferry's. Numbers are plain decimal; times are microseconds since the Unix epoch; memory
//! is in KiB, as in Passenger. Elements Ferry has no value for are left out.

use std::fmt::Write;

use super::{duration_words, GroupLife, GroupState, PoolState, ProcessLife, ProcessState};

pub(super) fn render(pool: &PoolState, secrets: bool) -> String {
    let mut out = String::with_capacity(1024 + pool.process_count * 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<info version=\"3\">");
    element(&mut out, "passenger_version", &pool.version);
    element(&mut out, "group_count", pool.groups.len());
    element(&mut out, "process_count", pool.process_count);
    element(&mut out, "max", pool.max_pool_size);
    element(&mut out, "capacity_used", pool.capacity_used);
    element(&mut out, "get_wait_list_size", pool.top_level_queue);
    out.push_str("<supergroups>");
    for group in &pool.groups {
        supergroup(&mut out, group, secrets);
    }
    out.push_str("</supergroups></info>\n");
    out
}

fn supergroup(out: &mut String, g: &GroupState, secrets: bool) {
    let capacity = g.spawning
        + g.processes
            .iter()
            .filter(|p| matches!(p.life_state, ProcessLife::Alive | ProcessLife::Oob))
            .count();
    let count = |life: ProcessLife| g.processes.iter().filter(|p| p.life_state == life).count();
    out.push_str("<supergroup>");
    element(out, "name", &g.name);
    element(
        out,
        "state",
        match g.life_state {
            GroupLife::Alive => "READY",
            GroupLife::ShuttingDown => "DESTROYING",
        },
    );
    element(out, "get_wait_list_size", g.queue_length);
    element(out, "capacity_used", capacity);
    out.push_str("<group default=\"true\">");
    element(out, "name", &g.name);
    element(out, "component_name", &g.name);
    element(out, "app_root", &g.app_root);
    element(out, "app_type", &g.app_type);
    element(out, "environment", &g.environment);
    element(out, "enabled_process_count", count(ProcessLife::Alive));
    element(out, "disabling_process_count", 0);
    element(
        out,
        "disabled_process_count",
        count(ProcessLife::Oob) + count(ProcessLife::Parked),
    );
    element(out, "capacity_used", capacity);
    element(out, "get_wait_list_size", g.queue_length);
    element(out, "disable_wait_list_size", 0);
    element(out, "processes_being_spawned", g.spawning);
    if g.spawning > 0 {
        out.push_str("<spawning/>");
    }
    if g.rolling_restart_pending > 0 {
        out.push_str("<restarting/>");
    }
    element(out, "restart_generation", g.generation);
    element(
        out,
        "resisting_deployment_error",
        g.resisting_deployment_error,
    );
    element(
        out,
        "life_status",
        match g.life_state {
            GroupLife::Alive => "ALIVE",
            GroupLife::ShuttingDown => "SHUTTING_DOWN",
        },
    );
    if let Some(user) = &g.user {
        element(out, "user", user);
    }
    if let Some(uid) = g.uid {
        element(out, "uid", uid);
    }
    out.push_str("<options>");
    element(out, "app_root", &g.app_root);
    element(out, "app_group_name", &g.name);
    element(out, "app_type", &g.app_type);
    element(out, "environment", &g.environment);
    element(out, "max_request_queue_size", g.max_queue);
    out.push_str("</options><processes>");
    for process in &g.processes {
        self::process(out, process, secrets);
    }
    out.push_str("</processes></group></supergroup>");
}

fn process(out: &mut String, p: &ProcessState, secrets: bool) {
    let micros = |secs: f64| (secs * 1_000_000.0).round() as u64;
    out.push_str("<process>");
    element(out, "pid", p.pid);
    element(out, "sticky_session_id", p.sticky_id);
    element(out, "gupid", format_args!("ferry-{}", p.sticky_id));
    element(out, "concurrency", p.concurrency);
    element(out, "sessions", p.sessions);
    element(out, "processed", p.processed);
    element(out, "spawn_start_time", micros(p.spawned_at));
    element(out, "spawn_end_time", micros(p.spawned_at));
    element(out, "last_used", micros(p.last_used_at));
    element(
        out,
        "last_used_desc",
        format_args!("{} ago", duration_words(p.last_used_secs_ago)),
    );
    element(out, "uptime", duration_words(p.uptime_secs));
    element(
        out,
        "life_status",
        match p.life_state {
            ProcessLife::ShuttingDown => "SHUTDOWN_TRIGGERED",
            _ => "ALIVE",
        },
    );
    element(
        out,
        "enabled",
        match p.life_state {
            ProcessLife::Alive => "ENABLED",
            ProcessLife::Oob | ProcessLife::Parked => "DISABLED",
            ProcessLife::ShuttingDown => "DETACHED",
        },
    );
    let has_metrics = p.cpu_percent.is_some() || p.private_dirty_kib.is_some();
    element(out, "has_metrics", has_metrics);
    if has_metrics {
        element(out, "cpu", p.cpu_percent.unwrap_or(0.0).round() as u64);
        if let Some(rss) = p.rss_kib {
            element(out, "rss", rss);
        }
        if let Some(private) = p.private_dirty_kib {
            element(out, "private_dirty", private);
            element(out, "real_memory", private);
        }
    }
    if let Some(uid) = p.uid {
        element(out, "uid", uid);
    }
    out.push_str("<sockets><socket>");
    element(out, "name", "main");
    element(
        out,
        "address",
        match p.url.strip_prefix("http://") {
            Some(hostport) => format!("tcp://{hostport}"),
            None => p.url.clone(),
        },
    );
    element(out, "protocol", &p.protocol);
    element(out, "concurrency", p.concurrency);
    element(out, "accept_http_requests", p.protocol == "http");
    element(out, "sessions", p.sessions);
    out.push_str("</socket></sockets>");
    if secrets {
        if let Some(password) = &p.connect_password {
            element(out, "connect_password", password);
        }
    }
    out.push_str("</process>");
}

/// `<name>value</name>`, the value escaped.
fn element(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "<{name}>");
    let text = value.to_string();
    escape_into(out, &text);
    let _ = write!(out, "</{name}>");
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}
