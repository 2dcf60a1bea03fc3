//! `PoolState`: the live pool as the admin API shows it (`/pool.json`, `/pool.xml`, `/pool.txt`)
//! and as `ferry status` reads it back.
//!
//! It is built from the pool's own snapshot ([`ferry_pool::GroupSnapshot`]) plus what only the
//! operating system knows about each process (the user it runs as, CPU and memory use), read
//! through the [`ProcFacts`] seam so that tests need no real processes.
//!
//! The JSON form is `serde` of these types; `docs/admin-api.schema.json` is its schema. The XML
//! form ([`PoolState::to_xml`]) follows the element layout of Passenger's `/pool.xml`, so tools
//! written for Passenger (passenger_exporter and friends) read it, and the text form
//! ([`PoolState::to_text`]) that of `passenger-status`. The server renders and the client reads
//! these forms, so they live here, below both.

mod proc;
mod text;
mod xml;

use std::time::{Duration, SystemTime};

use ferry_pool::{GroupSnapshot, ProcessSnapshot};
use ferry_spawn::{Concurrency, Endpoint, Protocol};
use serde::{Deserialize, Serialize};

pub use proc::LiveProc;

/// The whole pool at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolState {
    /// Ferry's version.
    pub version: String,
    /// Most processes alive at once (`max_pool_size`).
    pub max_pool_size: usize,
    /// Processes counting against `max_pool_size`: those taking requests and spawns in progress.
    pub capacity_used: usize,
    /// Every process listed, over all groups (finishing ones included).
    pub process_count: usize,
    /// Requests waiting for any group. Ferry queues per group only, so always 0; kept because
    /// Passenger's tools show it.
    pub top_level_queue: usize,
    /// One entry per app group.
    pub groups: Vec<GroupState>,
}

/// One app group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The group's name (normally the app root, plus the environment when it is not the
    /// default one).
    pub name: String,
    /// The app's root directory.
    pub app_root: String,
    /// The app's environment (`production`, ...).
    pub environment: String,
    /// Passenger's app type (`ruby`, `python`, `nodejs`; empty for generic apps).
    pub app_type: String,
    /// The uid the app's processes run as; `None` while it has none (then only root and
    /// Ferry's own user see the group through the API).
    pub uid: Option<u32>,
    /// That uid's user name, when it has one.
    pub user: Option<String>,
    /// Requests waiting in the group's queue.
    pub queue_length: usize,
    /// The longest queue allowed (0: unbounded).
    pub max_queue: usize,
    /// Restart generation: 0 until the first restart, then one more per restart.
    pub generation: u64,
    /// Spawns in progress.
    pub spawning: usize,
    /// How long the oldest spawn in progress has been running, in seconds.
    pub spawning_for_secs: Option<u64>,
    /// Old processes a rolling restart has still to replace (0: no rolling restart going on).
    pub rolling_restart_pending: usize,
    /// A rolling restart could not spawn the new version: the old processes keep serving and
    /// nothing is spawned until the next restart.
    pub resisting_deployment_error: bool,
    /// Whether the group serves or is shutting down with Ferry.
    pub life_state: GroupLife,
    /// Processes taking requests first, then those on their way out.
    pub processes: Vec<ProcessState>,
    /// The app's preloader under smart spawning (`None`: it has none running).
    #[serde(default)]
    pub preloader: Option<PreloaderState>,
}

/// An app's preloader (smart spawning): the process that loaded the app once and forks its
/// workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreloaderState {
    /// Its pid.
    pub pid: u32,
    /// Seconds since it last forked a worker (or started).
    pub idle_secs: u64,
    /// Workers it forked.
    pub workers_spawned: u64,
    /// The restart generation it preloads.
    pub generation: u64,
    // Issue 22, refork:
    /// Whether it is a template: a warmed worker promoted to preloader (`refork_after`).
    #[serde(default)]
    pub reforked: bool,
    /// 0 for the cold preloader (it loaded the app); n for the n-th template since then.
    #[serde(default)]
    pub template_generation: u64,
}

/// A group's life state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLife {
    /// Serving.
    Alive,
    /// Ferry is shutting down.
    ShuttingDown,
}

/// One app process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessState {
    /// Its pid.
    pub pid: u32,
    /// Its sticky session id (the `_passenger_route` cookie's value; unique in the pool).
    pub sticky_id: u64,
    /// The restart generation it was spawned under.
    pub generation: u64,
    /// Requests in flight.
    pub sessions: usize,
    /// Requests completed.
    pub processed: u64,
    /// Requests it takes at once; 0 means no limit (Passenger's convention).
    pub concurrency: usize,
    /// Seconds since it was attached to the pool.
    pub uptime_secs: u64,
    /// When it was attached, in seconds since the Unix epoch.
    pub spawned_at: f64,
    /// Seconds since it last started a request.
    pub last_used_secs_ago: u64,
    /// When it last started a request, in seconds since the Unix epoch.
    pub last_used_at: f64,
    /// CPU use in percent: CPU time over lifetime, as `ps` shows it; `None` if unknown.
    pub cpu_percent: Option<f64>,
    /// Private dirty memory in KiB (what it would give back if it stopped); `None` if unknown.
    pub private_dirty_kib: Option<u64>,
    /// Resident set size in KiB; `None` if unknown.
    pub rss_kib: Option<u64>,
    /// The uid it runs as; `None` if unknown (it is gone).
    pub uid: Option<u32>,
    /// That uid's user name.
    pub user: Option<String>,
    /// Where it is in its life.
    pub life_state: ProcessLife,
    /// What it speaks on its socket: `http` or `session`.
    pub protocol: String,
    /// Where it takes requests: `http://127.0.0.1:PORT` or `unix:/path`.
    pub url: String,
    /// The `X-Passenger-Connect-Password` direct requests must carry. Present only when secrets
    /// were asked for (`?secrets=true`) by someone allowed to see them.
    pub connect_password: Option<String>,
}

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessLife {
    /// Takes requests.
    Alive,
    /// Doing out-of-band work (or waiting for its requests to end to begin it): no new requests.
    Oob,
    /// Set aside while its replacement spawns (a rolling restart at a limit); stops once the
    /// replacement is up.
    Parked,
    /// Finishing its requests before it stops (restart, detach, idle, limits).
    ShuttingDown,
}

/// What the operating system tells about a process. [`LiveProc`] reads `/proc`; tests use fakes.
pub trait ProcFacts {
    /// The effective uid `pid` runs as.
    fn uid(&self, pid: u32) -> Option<u32>;
    /// The user name of `uid`.
    fn user_name(&self, uid: u32) -> Option<String>;
    /// CPU time over lifetime, in percent.
    fn cpu_percent(&self, pid: u32) -> Option<f64>;
    /// Private dirty memory in KiB.
    fn private_dirty_kib(&self, pid: u32) -> Option<u64>;
    /// Resident set size in KiB.
    fn rss_kib(&self, pid: u32) -> Option<u64>;
}

// === impl PoolState ===

impl PoolState {
    /// The pool state from the pool's snapshot, taken at `now`, with process facts from
    /// `facts`. Connect passwords are included; take them out with
    /// [`PoolState::without_secrets`] before showing the state to someone not allowed to see
    /// them.
    ///
    /// A group's uid is that of its first process with a known uid; a backend that knows which
    /// account an app will run as may fill it in for groups without processes.
    pub fn from_snapshot(
        version: &str,
        max_pool_size: usize,
        groups: &[GroupSnapshot],
        facts: &dyn ProcFacts,
        now: SystemTime,
    ) -> PoolState {
        let groups: Vec<GroupState> = groups
            .iter()
            .map(|g| GroupState::from_snapshot(g, facts, now))
            .collect();
        let capacity_used = groups
            .iter()
            .map(|g| {
                g.spawning
                    + g.processes
                        .iter()
                        .filter(|p| matches!(p.life_state, ProcessLife::Alive | ProcessLife::Oob))
                        .count()
            })
            .sum();
        PoolState {
            version: version.to_owned(),
            max_pool_size,
            capacity_used,
            process_count: groups.iter().map(|g| g.processes.len()).sum(),
            top_level_queue: 0,
            groups,
        }
    }

    /// The same state with every connect password taken out.
    pub fn without_secrets(mut self) -> PoolState {
        for group in &mut self.groups {
            for process in &mut group.processes {
                process.connect_password = None;
            }
        }
        self
    }

    /// Only the groups whose processes run as `uid` (what a user other than root and Ferry's
    /// own may see), with the totals recounted.
    pub fn only_uid(mut self, uid: u32) -> PoolState {
        self.groups.retain(|g| g.uid == Some(uid));
        self.process_count = self.groups.iter().map(|g| g.processes.len()).sum();
        self
    }

    /// The group named `name`, or else every group whose app root is `name` (one app root may
    /// run in several environments). Empty when nothing matches.
    pub fn find_groups(&self, name: &str) -> Vec<&GroupState> {
        if let Some(group) = self.groups.iter().find(|g| g.name == name) {
            return vec![group];
        }
        let trimmed = name.trim_end_matches('/');
        self.groups
            .iter()
            .filter(|g| g.app_root.trim_end_matches('/') == trimmed)
            .collect()
    }

    /// The group holding the process `pid`.
    pub fn group_of_pid(&self, pid: u32) -> Option<&GroupState> {
        self.groups
            .iter()
            .find(|g| g.processes.iter().any(|p| p.pid == pid))
    }

    /// Requests queued over all groups.
    pub fn queued(&self) -> usize {
        self.groups.iter().map(|g| g.queue_length).sum()
    }

    /// The Passenger-compatible XML form (see the module docs). `secrets` adds each process's
    /// connect password.
    pub fn to_xml(&self, secrets: bool) -> String {
        xml::render(self, secrets)
    }

    /// The text of `passenger-status` (`/pool.txt`, `ferry status`). `verbose` adds each
    /// process's URL and, when the state carries it, its connect password.
    pub fn to_text(&self, verbose: bool) -> String {
        text::render(self, verbose)
    }
}

// === impl GroupState ===

impl GroupState {
    fn from_snapshot(g: &GroupSnapshot, facts: &dyn ProcFacts, now: SystemTime) -> GroupState {
        let processes: Vec<ProcessState> = g
            .processes
            .iter()
            .map(|p| ProcessState::from_snapshot(p, facts, now))
            .collect();
        let uid = processes.iter().find_map(|p| p.uid);
        GroupState {
            name: g.name.clone(),
            app_root: g.app_root.display().to_string(),
            environment: g.environment.clone(),
            app_type: g.app_type.clone(),
            uid,
            user: uid.and_then(|uid| facts.user_name(uid)),
            queue_length: g.queued,
            max_queue: g.max_queue,
            generation: g.generation,
            spawning: g.spawning,
            spawning_for_secs: g.spawning_for.map(|d| d.as_secs()),
            rolling_restart_pending: g.rolling_restart_pending,
            resisting_deployment_error: g.resisting_deployment_error,
            life_state: if g.shutting_down {
                GroupLife::ShuttingDown
            } else {
                GroupLife::Alive
            },
            processes,
            preloader: None,
        }
    }

    /// Processes taking requests.
    pub fn alive_processes(&self) -> usize {
        self.processes
            .iter()
            .filter(|p| p.life_state == ProcessLife::Alive)
            .count()
    }
}

// === impl ProcessState ===

impl ProcessState {
    fn from_snapshot(p: &ProcessSnapshot, facts: &dyn ProcFacts, now: SystemTime) -> ProcessState {
        let life_state = if p.parked {
            ProcessLife::Parked
        } else if p.detached {
            ProcessLife::ShuttingDown
        } else if p.oob {
            ProcessLife::Oob
        } else {
            ProcessLife::Alive
        };
        let uid = facts.uid(p.pid);
        ProcessState {
            pid: p.pid,
            sticky_id: p.sticky_id,
            generation: p.generation,
            sessions: p.sessions,
            processed: p.processed,
            concurrency: match p.concurrency {
                Concurrency::Unlimited => 0,
                Concurrency::Limited(n) => n.get(),
            },
            uptime_secs: p.uptime.as_secs(),
            spawned_at: unix_secs(now, p.uptime),
            last_used_secs_ago: p.idle_for.as_secs(),
            last_used_at: unix_secs(now, p.idle_for),
            cpu_percent: facts.cpu_percent(p.pid),
            private_dirty_kib: p
                .private_dirty_kib
                .or_else(|| facts.private_dirty_kib(p.pid)),
            rss_kib: facts.rss_kib(p.pid),
            uid,
            user: uid.and_then(|uid| facts.user_name(uid)),
            life_state,
            protocol: match p.protocol {
                Protocol::Http => "http",
                Protocol::Session => "session",
            }
            .to_owned(),
            url: match &p.endpoint {
                Endpoint::Tcp(addr) => format!("http://{addr}"),
                Endpoint::Unix(path) => format!("unix:{}", path.display()),
            },
            connect_password: Some(p.connect_password.clone()),
        }
    }
}

/// `now - ago` in seconds since the Unix epoch, to the millisecond.
fn unix_secs(now: SystemTime, ago: Duration) -> f64 {
    let at = now.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH);
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    secs as f64 / 1000.0
}

/// A duration in Passenger's words: `5s`, `2m 5s`, `3h 2m 5s`, `1d 3h 2m 5s`.
pub fn duration_words(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m {s}s")
    } else if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
pub(crate) mod tests;
