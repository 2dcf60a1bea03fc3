//! `ferry memory-stats`: the web servers' and Ferry's processes with their real memory use, like
//! Passenger's `passenger-memory-stats` (seed §10.1).
//!
//! Everything comes from `/proc` (no `ps`): threads and virtual size from `/proc/PID/status`,
//! private dirty memory (what a process would give back if it stopped) from
//! `/proc/PID/smaps_rollup`. Another user's `smaps_rollup` is readable only by root, so its
//! private memory is unknown (`?` in text, `null` in JSON).
//!
//! Three sections: Apache (`apache2`/`httpd`), Nginx (`nginx`) and Ferry: the `ferry` binary's
//! own processes (`ferry start`, `spawn-env-setupper`), app processes (loader titles such as
//! `Ferry PythonApp: /srv/app`, loader script names) and every other descendant of a
//! `ferry start`. The report's JSON form (see [`Report::to_json`]) is:
//!
//! ```text
//! { "version": "0.1.0", "date": "2026-11-21 21:45:26 +0000",
//!   "sections": [ { "name": "ferry", "title": "Ferry processes",
//!                   "processes": [ { "pid": 1, "ppid": 0, "threads": 1, "vm_size_kib": 1024,
//!                                    "private_dirty_kib": 512, "name": "ferry start ." } ],
//!                   "total_private_dirty_kib": 512, "total_is_partial": false } ],
//!   "some_private_unknown": false }
//! ```
//!
//! `private_dirty_kib` is `null` when unreadable; `total_is_partial` says the total misses some.

mod proc;
mod text;

use serde::Serialize;

pub use proc::{parse_status, StatusFields};
pub use text::render_text;

/// One process's line in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Number of threads (`Threads:` in `/proc/PID/status`).
    pub threads: u32,
    /// Virtual memory size in KiB (`VmSize:`; 0 for kernel threads).
    pub vm_size_kib: u64,
    /// Private dirty memory in KiB; `None` when `smaps_rollup` cannot be read.
    pub private_dirty_kib: Option<u64>,
    /// The command line, arguments separated by spaces.
    pub name: String,
}

/// One table: Apache, Nginx or Ferry processes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Short key: `apache`, `nginx` or `ferry`.
    pub name: &'static str,
    /// The table's title, e.g. `Ferry processes`.
    pub title: &'static str,
    /// The processes, by pid.
    pub processes: Vec<ProcessInfo>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Ferry's version.
    pub version: String,
    /// When the report was taken, local time.
    pub date: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// Which sections to include.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Include Apache processes.
    pub apache: bool,
    /// Include Nginx processes.
    pub nginx: bool,
}

// === impl Section ===

impl Section {
    /// The sum of the known private dirty sizes, in KiB.
    pub fn total_private_dirty_kib(&self) -> u64 {
        self.processes
            .iter()
            .filter_map(|p| p.private_dirty_kib)
            .sum()
    }

    /// Whether some process's private dirty size is unknown.
    pub fn total_is_partial(&self) -> bool {
        self.processes.iter().any(|p| p.private_dirty_kib.is_none())
    }
}

// === impl Report ===

impl Report {
    /// Scans `/proc` now. `version` is Ferry's version; the calling process itself is left out.
    pub fn collect(version: &str, options: Options) -> Self {
        let mut all = proc::scan(std::process::id());
        proc::mark_preloaders(&mut all);
        let mut sections = Vec::new();
        if options.apache {
            sections.push(section("apache", "Apache processes", &all, proc::is_apache));
        }
        if options.nginx {
            sections.push(section("nginx", "Nginx processes", &all, proc::is_nginx));
        }
        let ferry = proc::ferry_pids(&all);
        sections.push(section("ferry", "Ferry processes", &all, |p| {
            ferry.contains(&p.info.pid)
        }));
        Report {
            version: version.to_owned(),
            date: chrono::Local::now()
                .format("%Y-%m-%d %H:%M:%S %z")
                .to_string(),
            sections,
        }
    }

    /// Whether some process's private dirty size is unknown (running as root shows all).
    pub fn some_private_unknown(&self) -> bool {
        self.sections.iter().any(Section::total_is_partial)
    }

    /// The JSON form documented in the module docs.
    pub fn to_json(&self) -> serde_json::Value {
        let sections: Vec<_> = self
            .sections
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "title": s.title,
                    "processes": s.processes,
                    "total_private_dirty_kib": s.total_private_dirty_kib(),
                    "total_is_partial": s.total_is_partial(),
                })
            })
            .collect();
        serde_json::json!({
            "version": self.version,
            "date": self.date,
            "sections": sections,
            "some_private_unknown": self.some_private_unknown(),
        })
    }
}

fn section(
    name: &'static str,
    title: &'static str,
    all: &[proc::Scanned],
    keep: impl Fn(&proc::Scanned) -> bool,
) -> Section {
    let processes = all
        .iter()
        .filter(|p| keep(p))
        .map(|p| p.info.clone())
        .collect();
    Section {
        name,
        title,
        processes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_this_test_process_tree_without_failing() {
        let report = Report::collect(
            "9.9.9",
            Options {
                apache: false,
                nginx: true,
            },
        );
        let names: Vec<_> = report.sections.iter().map(|s| s.name).collect();
        assert_eq!(names, ["nginx", "ferry"]);
        let json = report.to_json();
        assert_eq!(json["version"], "9.9.9");
        assert_eq!(json["sections"][1]["title"], "Ferry processes");
    }
}
