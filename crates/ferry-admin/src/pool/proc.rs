//! [`LiveProc`]: process facts from `/proc`. Every read tolerates the process being gone.

use std::fs;

use nix::unistd::{Uid, User};

use super::ProcFacts;

/// The kernel's `USER_HZ`: `/proc` counts CPU time in these ticks. It is 100 on every
/// architecture Linux exports to user space this way, whatever the kernel's own tick rate.
const TICKS_PER_SEC: f64 = 100.0;

/// Reads `/proc/PID/{status,stat,smaps_rollup}` and the user database.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveProc;

impl ProcFacts for LiveProc {
    fn uid(&self, pid: u32) -> Option<u32> {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        // `Uid:` real, effective, saved, filesystem.
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        User::from_uid(Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
    }

    fn cpu_percent(&self, pid: u32) -> Option<f64> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let uptime = fs::read_to_string("/proc/uptime").ok()?;
        let system_up: f64 = uptime.split_whitespace().next()?.parse().ok()?;
        parse_stat_cpu(&stat, system_up)
    }

    fn private_dirty_kib(&self, pid: u32) -> Option<u64> {
        ferry_pool::memory::private_dirty_kib(pid)
    }

    fn rss_kib(&self, pid: u32) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    }
}

/// CPU use in percent from `/proc/PID/stat` and the system's uptime in seconds: CPU time
/// (user + system) over the time since the process started, as `ps` computes `%CPU`. Rounded
/// to one decimal.
pub fn parse_stat_cpu(stat: &str, system_up_secs: f64) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last
    // `)`. Field 3 is then the first; utime and stime are fields 14 and 15, starttime 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    let cpu = (field(14)? + field(15)?) / TICKS_PER_SEC;
    let started = field(22)? / TICKS_PER_SEC;
    let alive = system_up_secs - started;
    if alive <= 0.0 {
        return Some(0.0);
    }
    Some((cpu / alive * 1000.0).round() / 10.0)
}
