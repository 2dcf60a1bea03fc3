//! Reading one snapshot of `/proc` (through [`ferry_sys::proc`]) and deciding which processes
//! belong to which section. Every read tolerates a process vanishing meanwhile.

use std::collections::{HashMap, HashSet};

use ferry_sys::proc::{self, Status, Task};

use super::ProcessInfo;

/// What a `ferry memory-stats` needs from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusFields {
    /// `Threads:`.
    pub threads: u32,
    /// `VmSize:` in KiB; 0 when absent (kernel threads).
    pub vm_size_kib: u64,
}

/// Command-line markers of app processes (preloaders and the workers they forked included, even
/// once a stopped preloader left its workers to init): the loaders' titles and script names.
const APP_MARKERS: &[&str] = &[
    "Ferry RubyApp",
    "Ferry PythonApp",
    "Ferry NodeApp",
    "Ferry App",
    "Ferry AppPreloader",
    "rack-loader.rb",
    "wsgi-loader.py",
    "node-loader.js",
];

/// One process as read from `/proc`, with what classification needs.
#[derive(Clone, Debug)]
pub(super) struct Scanned {
    pub(super) info: ProcessInfo,
    comm: String,
    /// Basename of `/proc/PID/exe`; `None` when unreadable (another user's process).
    exe: Option<String>,
    args: Vec<String>,
}

/// Picks the fields out of `/proc/PID/status`; `None` without a `Threads:` line, or with a
/// `VmSize:` that is not a size.
pub fn parse_status(status: &str) -> Option<StatusFields> {
    fields(&Status::new(status))
}

fn fields(status: &Status) -> Option<StatusFields> {
    let vm_size_kib = match status.field("VmSize") {
        Some(_) => status.kib("VmSize")?,
        None => 0,
    };
    Some(StatusFields {
        threads: status.threads()?,
        vm_size_kib,
    })
}

/// Every process but `skip`.
pub(super) fn scan(skip: u32) -> Vec<Scanned> {
    let mut pids: Vec<u32> = proc::pids()
        .into_iter()
        .filter(|&pid| pid != skip)
        .collect();
    pids.sort_unstable();
    pids.into_iter().filter_map(read).collect()
}

fn read(pid: u32) -> Option<Scanned> {
    let task = Task::process(pid);
    let stat = task.stat()?;
    let status = fields(&task.status()?)?;
    let args = task.cmdline().unwrap_or_default();
    // The pool's own measure (memory limits), so both tools agree on what "private" means.
    let private_dirty_kib = proc::private_dirty_kib(pid);
    let exe = task.exe_name();
    let name = if args.is_empty() {
        format!("[{}]", stat.comm)
    } else {
        args.join(" ")
    };
    let info = ProcessInfo {
        pid,
        ppid: stat.ppid,
        threads: status.threads,
        vm_size_kib: status.vm_size_kib,
        private_dirty_kib,
        name,
    };
    Some(Scanned {
        info,
        comm: stat.comm,
        exe,
        args,
    })
}

// === classification ===

fn named(p: &Scanned, names: &[&str]) -> bool {
    names.contains(&p.comm.as_str()) || p.exe.as_deref().is_some_and(|e| names.contains(&e))
}

pub(super) fn is_apache(p: &Scanned) -> bool {
    named(p, &["apache2", "httpd"])
}

pub(super) fn is_nginx(p: &Scanned) -> bool {
    named(p, &["nginx"])
}

/// The `ferry` binary itself: its exe, or a command line `…/ferry start …`.
fn is_ferry_binary(p: &Scanned) -> bool {
    p.exe.as_deref() == Some("ferry") || is_ferry_start(p)
}

fn is_ferry_start(p: &Scanned) -> bool {
    let program = p.args.first().map(String::as_str).unwrap_or("");
    let is_ferry =
        program == "ferry" || program.ends_with("/ferry") || { p.exe.as_deref() == Some("ferry") };
    is_ferry && p.args.get(1).is_some_and(|a| a == "start")
}

fn is_app(p: &Scanned) -> bool {
    APP_MARKERS.iter().any(|m| p.info.name.contains(m))
}

/// Names the preloaders of smart spawning whose title does not say so (Python cannot set its
/// process title): an app process that is the parent of app processes gets ` (preloader)`.
pub(super) fn mark_preloaders(all: &mut [Scanned]) {
    let parents: HashSet<u32> = all
        .iter()
        .filter(|p| is_app(p))
        .map(|p| p.info.ppid)
        .collect();
    for p in all.iter_mut() {
        if is_app(p) && parents.contains(&p.info.pid) && !p.info.name.contains("AppPreloader") {
            p.info.name.push_str(" (preloader)");
        }
    }
}

/// The pids of the Ferry section: the binary's processes, app processes, and descendants of a
/// `ferry start`.
pub(super) fn ferry_pids(all: &[Scanned]) -> HashSet<u32> {
    let parent: HashMap<u32, u32> = all.iter().map(|p| (p.info.pid, p.info.ppid)).collect();
    let starts: HashSet<u32> = all
        .iter()
        .filter(|p| is_ferry_start(p))
        .map(|p| p.info.pid)
        .collect();
    let under_start = |mut pid: u32| {
        // Bounded walk: a pid reused while scanning cannot make it loop.
        for _ in 0..all.len() {
            match parent.get(&pid) {
                Some(&ppid) if starts.contains(&ppid) => return true,
                Some(&ppid) if ppid != 0 => pid = ppid,
                _ => return false,
            }
        }
        false
    };
    all.iter()
        .filter(|p| is_ferry_binary(p) || is_app(p) || under_start(p.info.pid))
        .map(|p| p.info.pid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(pid: u32, ppid: u32, comm: &str, exe: Option<&str>, args: &[&str]) -> Scanned {
        Scanned {
            info: ProcessInfo {
                pid,
                ppid,
                threads: 1,
                vm_size_kib: 0,
                private_dirty_kib: None,
                name: args.join(" "),
            },
            comm: comm.to_owned(),
            exe: exe.map(str::to_owned),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn preloaders_are_named() {
        let mut all = vec![
            scanned(10, 1, "ferry", Some("ferry"), &["ferry", "start", "."]),
            scanned(11, 10, "python3", None, &["python3", "/x/wsgi-loader.py"]),
            scanned(12, 11, "python3", None, &["python3", "/x/wsgi-loader.py"]),
            scanned(13, 10, "ruby", None, &["Ferry RubyApp: /srv/app"]),
        ];
        mark_preloaders(&mut all);
        let names: Vec<&str> = all.iter().map(|p| p.info.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ferry start .",
                "python3 /x/wsgi-loader.py (preloader)",
                "python3 /x/wsgi-loader.py",
                "Ferry RubyApp: /srv/app"
            ]
        );
    }

    #[test]
    fn reads_threads_and_vm_size_from_status() {
        let status = "Name:\tpython3\nState:\tS (sleeping)\nPPid:\t12\n\
                      VmPeak:\t   30000 kB\nVmSize:\t   28672 kB\nVmRSS:\t    9000 kB\n\
                      Threads:\t3\nSigQ:\t0/31451\n";
        assert_eq!(
            parse_status(status),
            Some(StatusFields {
                threads: 3,
                vm_size_kib: 28672
            })
        );
        // Kernel threads have no VmSize.
        assert_eq!(
            parse_status("Name:\tkthreadd\nThreads:\t1\n"),
            Some(StatusFields {
                threads: 1,
                vm_size_kib: 0
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
        assert_eq!(parse_status("Threads:\t1\nVmSize:\tlots\n"), None);
    }

    #[test]
    fn classifies_web_servers_and_ferry_processes() {
        let all = [
            scanned(1, 0, "systemd", None, &["/sbin/init"]),
            scanned(
                10,
                1,
                "apache2",
                None,
                &["/usr/sbin/apache2", "-k", "start"],
            ),
            scanned(11, 1, "nginx", None, &["nginx: master process"]),
            scanned(20, 1, "ferry", Some("ferry"), &["/opt/ferry", "start", "."]),
            scanned(21, 20, "python3", None, &["Ferry PythonApp: /srv/app"]),
            scanned(22, 21, "sh", None, &["sh", "-c", "true"]),
            scanned(30, 1, "ruby", None, &["ruby", "/x/rack-loader.rb"]),
            scanned(40, 1, "bash", None, &["bash"]),
        ];
        assert!(is_apache(&all[1]) && !is_apache(&all[2]));
        assert!(is_nginx(&all[2]) && !is_nginx(&all[3]));
        let mut ferry: Vec<_> = ferry_pids(&all).into_iter().collect();
        ferry.sort_unstable();
        assert_eq!(ferry, [20, 21, 22, 30]);
    }
}
