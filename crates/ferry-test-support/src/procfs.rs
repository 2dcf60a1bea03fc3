//! Reading `/proc`: process trees, zombies, memory use and command lines.
//!
//! Tests use these to check that Ferry reaps what it spawns (no leftover process, not even a
//! zombie) and that streaming keeps its memory flat (`VmHWM`). All functions are snapshots and
//! tolerate processes vanishing while they read. The parsing is `ferry_sys::proc`'s, the one
//! Ferry itself uses.

use std::collections::{HashMap, HashSet};

use ferry_sys::proc;

/// The fields of `/proc/PID/stat`: process id, `comm`, state letter (`Z`: zombie), parent pid.
pub use ferry_sys::proc::Stat;

/// Reads `/proc/PID/stat`; `None` if the process does not exist (any more).
pub fn stat(pid: u32) -> Option<Stat> {
    proc::stat(pid)
}

/// Whether `pid` exists; a zombie (exited, not yet reaped) counts as existing.
pub fn process_exists(pid: u32) -> bool {
    stat(pid).is_some()
}

/// Whether `pid` is a zombie: exited, but its parent has not reaped it.
pub fn is_zombie(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.is_zombie())
}

/// Every process id currently in `/proc`.
pub fn all_pids() -> Vec<u32> {
    proc::pids()
}

/// Every descendant of `pid` (children, grandchildren, ...), zombies included.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for s in all_pids().into_iter().filter_map(stat) {
        children.entry(s.ppid).or_default().push(s.pid);
    }
    let mut seen = HashSet::from([pid]);
    let mut out = Vec::new();
    let mut queue = vec![pid];
    // Each pid enters the queue at most once (`seen`), so this ends.
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(c) {
                out.push(c);
                queue.push(c);
            }
        }
    }
    out
}

/// A `kB` field of `/proc/PID/status`, such as `VmHWM` or `VmRSS`.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    proc::status(pid)?.kib(field)
}

/// Peak resident set size of `pid`, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

/// Current resident set size of `pid`, in KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// The command line of `pid`, arguments joined by spaces (empty for zombies).
pub fn cmdline(pid: u32) -> Option<String> {
    proc::title(pid)
}

/// Processes whose command line contains `needle`, excluding the calling process.
///
/// Zombies have an empty command line, so they are not found here: record the pids while the
/// processes are alive and then check them with [`process_exists`].
pub fn find_processes_by_cmdline(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    all_pids()
        .into_iter()
        .filter(|&p| p != me)
        .filter(|&p| cmdline(p).is_some_and(|c| c.contains(needle)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        let s = stat(me).unwrap();
        assert_eq!(s.pid, me);
        assert!(process_exists(me));
        assert!(!is_zombie(me));
        assert!(vm_hwm_kib(me).unwrap() > 0);
        assert!(vm_rss_kib(me).unwrap() > 0);
    }

    #[test]
    fn finds_child_and_its_zombie() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(descendants(std::process::id()).contains(&pid));
        // The parent of a vfork-style spawn runs on before exec has set the new command line
        // (its `/proc/PID/cmdline` is empty for that moment): wait for it, bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !cmdline(pid).is_some_and(|c| c.contains("sleep 30"))
            && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        assert!(cmdline(pid).unwrap().contains("sleep 30"));
        child.kill().unwrap();
        // Not yet reaped: a zombie, which still exists.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !is_zombie(pid) && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(is_zombie(pid));
        assert!(process_exists(pid));
        child.wait().unwrap();
        assert!(!process_exists(pid));
    }
}
