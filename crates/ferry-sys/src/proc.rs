//! Reading `/proc`: the one place Ferry parses what Linux says about its processes.
//!
//! The admin API (uid, CPU, memory of each app process), `ferry memory-stats` (every process on
//! the machine), the pool's memory limits (private dirty memory), `ferry status
//! --show=backtraces` (Ferry's own threads), the preloader (whose child a worker is) and the test
//! harness (process trees, zombies) all read the same few files:
//!
//! | file | type | what it gives |
//! |---|---|---|
//! | `/proc/PID/stat` | [`Stat`] | command name, state letter, parent pid, CPU and start times |
//! | `/proc/PID/status` | [`Status`] | `Key: value` lines: uids, threads, `Vm*` sizes |
//! | `/proc/PID/smaps_rollup` | [`SmapsRollup`] | memory summed over the mappings (Linux ≥ 4.14) |
//! | `/proc/PID/cmdline` | [`cmdline`], [`title`] | the arguments, or the title a process set |
//! | `/proc/PID/exe` | [`exe_name`] | the executable's file name |
//! | `/proc/PID/task/` | [`own_threads`] | the calling process's threads |
//! | `/proc/uptime` | [`uptime_secs`] | seconds since boot |
//!
//! **Processes come and go.** Every read is a snapshot and a process may exit between two of
//! them: a process that is gone, or a file the caller may not read (another user's
//! `smaps_rollup`), gives `None`, never an error or a panic. Parsers take the file's text, so
//! the tests feed them fixed text as well as the real files of the test process.

use std::fs;
use std::io;
use std::path::PathBuf;

/// The kernel's `USER_HZ`: `/proc` counts CPU time in these ticks. It is 100 on every
/// architecture Linux exports to user space this way, whatever the kernel's own tick rate.
pub const TICKS_PER_SEC: f64 = 100.0;

/// The directory of one task (a process, or one thread of the calling process) in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    dir: PathBuf,
}

/// The fields of `/proc/PID/stat` Ferry uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Process (or thread) id.
    pub pid: u32,
    /// The executable name (`comm`), without its parentheses; it may hold spaces and
    /// parentheses itself.
    pub comm: String,
    /// State letter: `R`, `S`, `D`, `Z` (zombie), `T`, ...
    pub state: char,
    /// Parent process id (0 for the kernel's own first tasks).
    pub ppid: u32,
    /// CPU time used and start time; `None` when the line stops before them (never the case
    /// for a file the kernel wrote).
    pub times: Option<CpuTimes>,
}

/// Fields 14, 15 and 22 of `/proc/PID/stat`, in clock ticks ([`TICKS_PER_SEC`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time spent in user mode (`utime`).
    pub user_ticks: u64,
    /// Time spent in kernel mode (`stime`).
    pub system_ticks: u64,
    /// When the process started, after boot (`starttime`).
    pub start_ticks: u64,
}

/// `/proc/PID/status`: one `Key:<tab>value` line per field. Fields are looked up by name
/// ([`Status::field`]); the common ones have their own accessors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    text: String,
}

/// `/proc/PID/smaps_rollup`: the memory of every mapping of a process, summed, one `Key: N kB`
/// line per measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmapsRollup {
    text: String,
}

// === impl Task ===

impl Task {
    /// The process `pid`: `/proc/PID`.
    pub fn process(pid: u32) -> Task {
        Task {
            dir: PathBuf::from(format!("/proc/{pid}")),
        }
    }

    /// The thread `tid` of the calling process: `/proc/self/task/TID`.
    pub fn own_thread(tid: u32) -> Task {
        Task {
            dir: PathBuf::from(format!("/proc/self/task/{tid}")),
        }
    }

    fn read(&self, file: &str) -> Option<String> {
        fs::read_to_string(self.dir.join(file)).ok()
    }

    /// `stat`, parsed.
    pub fn stat(&self) -> Option<Stat> {
        Stat::parse(&self.read("stat")?)
    }

    /// `status`.
    pub fn status(&self) -> Option<Status> {
        self.read("status").map(Status::new)
    }

    /// `smaps_rollup` (for a process; root's, or the caller's own).
    pub fn smaps_rollup(&self) -> Option<SmapsRollup> {
        self.read("smaps_rollup").map(SmapsRollup::new)
    }

    /// The arguments from `cmdline` (see [`parse_cmdline`]).
    pub fn cmdline(&self) -> Option<Vec<String>> {
        fs::read(self.dir.join("cmdline"))
            .ok()
            .map(|raw| parse_cmdline(&raw))
    }

    /// `comm`, without its line feed: the executable name, or the name a thread was given.
    pub fn comm(&self) -> Option<String> {
        self.read("comm").map(|t| t.trim().to_owned())
    }

    /// `wchan`: the kernel function the task sleeps in (`0` when it runs).
    pub fn wchan(&self) -> Option<String> {
        self.read("wchan").map(|t| t.trim().to_owned())
    }

    /// The file name of the executable `exe` points to, without the ` (deleted)` the kernel
    /// adds once it was replaced. `None` when unreadable (another user's process, unless root).
    pub fn exe_name(&self) -> Option<String> {
        let path = fs::read_link(self.dir.join("exe")).ok()?;
        let name = path.file_name()?.to_string_lossy().into_owned();
        Some(name.trim_end_matches(" (deleted)").to_owned())
    }
}

// === impl Stat ===

impl Stat {
    /// Parses the line of `/proc/PID/stat`; `None` when it lacks the pid, name, state or
    /// parent. The name (field 2) ends at the *last* `)`; fields resume after it.
    pub fn parse(text: &str) -> Option<Stat> {
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let pid = text.get(..open)?.trim().parse().ok()?;
        let comm = text.get(open + 1..close)?.to_owned();
        // Field 3 (the state) is the first after the name.
        let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied();
        let state = field(3)?.chars().next()?;
        let ppid = field(4)?.parse().ok()?;
        let number = |n: usize| -> Option<u64> { field(n)?.parse().ok() };
        let times = match (number(14), number(15), number(22)) {
            (Some(user_ticks), Some(system_ticks), Some(start_ticks)) => Some(CpuTimes {
                user_ticks,
                system_ticks,
                start_ticks,
            }),
            _ => None,
        };
        Some(Stat {
            pid,
            comm,
            state,
            ppid,
            times,
        })
    }

    /// Whether the process has exited and waits for its parent to reap it.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }

    /// CPU use in percent as `ps` computes `%CPU`: CPU time (user + system) over the time since
    /// the process started, given the system's uptime in seconds ([`uptime_secs`]). Rounded to
    /// one decimal; 0 for a process started "after" `system_up_secs`.
    pub fn cpu_percent(&self, system_up_secs: f64) -> Option<f64> {
        let times = self.times?;
        let cpu = (times.user_ticks + times.system_ticks) as f64 / TICKS_PER_SEC;
        let alive = system_up_secs - times.start_ticks as f64 / TICKS_PER_SEC;
        if alive <= 0.0 {
            return Some(0.0);
        }
        Some((cpu / alive * 1000.0).round() / 10.0)
    }
}

// === impl Status ===

impl Status {
    /// The text of a `status` file.
    pub fn new(text: impl Into<String>) -> Status {
        Status { text: text.into() }
    }

    /// The value of field `name` (`"VmRSS"`, without the colon), trimmed; `None` when absent.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.text, name)
    }

    /// A size field in KiB (`VmSize`, `VmRSS`, `VmHWM`, ...); `None` when absent or not
    /// `N kB`.
    pub fn kib(&self, name: &str) -> Option<u64> {
        kib(&self.text, name)
    }

    /// `Threads:`.
    pub fn threads(&self) -> Option<u32> {
        self.field("Threads")?.parse().ok()
    }

    /// The effective uid: the second of `Uid:`'s real, effective, saved and filesystem uids.
    pub fn effective_uid(&self) -> Option<u32> {
        self.field("Uid")?.split_whitespace().nth(1)?.parse().ok()
    }

    /// Resident set size in KiB (`VmRSS:`; absent for kernel threads).
    pub fn rss_kib(&self) -> Option<u64> {
        self.kib("VmRSS")
    }
}

// === impl SmapsRollup ===

impl SmapsRollup {
    /// The text of an `smaps_rollup` file.
    pub fn new(text: impl Into<String>) -> SmapsRollup {
        SmapsRollup { text: text.into() }
    }

    /// A measure in KiB (`Rss`, `Pss`, `Private_Dirty`, `Swap`, ...).
    pub fn kib(&self, name: &str) -> Option<u64> {
        kib(&self.text, name)
    }

    /// Private dirty memory: what the process would give back if it stopped (shared and clean
    /// pages are not its own alone).
    pub fn private_dirty_kib(&self) -> Option<u64> {
        self.kib("Private_Dirty")
    }

    /// Proportional set size: resident memory with each shared page divided among its sharers.
    pub fn pss_kib(&self) -> Option<u64> {
        self.kib("Pss")
    }
}

/// The value of the first `name:` line of a `Key: value` file, trimmed.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}

/// A `name: N kB` field, in KiB.
fn kib(text: &str, name: &str) -> Option<u64> {
    field(text, name)?.strip_suffix("kB")?.trim().parse().ok()
}

/// The arguments in a `cmdline` file: NUL-separated, empty ones dropped (a process that
/// rewrote its title pads it with NULs), each decoded lossily. Empty for zombies and kernel
/// threads.
pub fn parse_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

// === One process, by pid ===

/// `/proc/PID/stat`; `None` if the process does not exist (any more).
pub fn stat(pid: u32) -> Option<Stat> {
    Task::process(pid).stat()
}

/// The parent pid of `pid`.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.ppid)
}

/// `/proc/PID/status`.
pub fn status(pid: u32) -> Option<Status> {
    Task::process(pid).status()
}

/// Private dirty memory of `pid` in KiB, from `/proc/PID/smaps_rollup`: what the pool's memory
/// limits and `ferry memory-stats` measure. `None` if the process is gone or the file cannot be
/// read.
pub fn private_dirty_kib(pid: u32) -> Option<u64> {
    Task::process(pid).smaps_rollup()?.private_dirty_kib()
}

/// The arguments of `pid` (see [`parse_cmdline`]).
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    Task::process(pid).cmdline()
}

/// The command line of `pid` as `ps` shows it, arguments joined by spaces: the title for a
/// process that set one (`Ferry RubyApp: /srv/app`). Empty for zombies.
pub fn title(pid: u32) -> Option<String> {
    cmdline(pid).map(|args| args.join(" "))
}

/// See [`Task::exe_name`].
pub fn exe_name(pid: u32) -> Option<String> {
    Task::process(pid).exe_name()
}

// === The whole system ===

/// Every process id in `/proc` now, in directory order; empty if `/proc` cannot be read.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The thread ids of the calling process, ascending.
///
/// # Errors
///
/// When `/proc/self/task` cannot be listed (no `/proc` mounted).
pub fn own_threads() -> io::Result<Vec<u32>> {
    let mut tids: Vec<u32> = fs::read_dir("/proc/self/task")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

/// Seconds since boot, from `/proc/uptime`.
pub fn uptime_secs() -> Option<f64> {
    parse_uptime(&fs::read_to_string("/proc/uptime").ok()?)
}

fn parse_uptime(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests;
