//! Groups and processes: one app's processes, its queue, and how a request picks a process.
//!
//! Everything here runs with the pool lock held (see [`crate::state`]): functions only change
//! state and push [`Action`]s for the caller to carry out afterwards.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ferry_spawn::{Concurrency, Endpoint, Protocol};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::action::Action;
use crate::config::{GroupConfig, GroupId};
use crate::error::CheckoutError;
use crate::process::{OobStart, Process};
use crate::restart::RestartWatch;
use crate::session::{Release, Session, Waiter};

mod refork;

/// The longest wait between spawn attempts of an app that keeps failing to start.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One app's processes and its queue.
///
/// Invariants:
/// - `enabled` holds the processes new requests may go to; `detached` those finishing their
///   sessions before they stop. A process is in at most one of them, and leaves the pool when its
///   exit is observed.
/// - `spawning` counts spawns of the current generation in progress (at most
///   `max_parallel_spawns`); spawns of older generations are not counted and are discarded when
///   they finish.
/// - At most one enabled process has out-of-band work requested or running, and then
///   `oob_active` is set.
/// - `to_replace > 0` only during a rolling restart (or the roll after a promotion): that many
///   old-generation processes still await their replacement.
/// - At most one process is on its way to becoming the template (re-forking): `draining` in
///   `enabled` while `refork` is `Draining(its id)`, then in `promoting` while `refork` is
///   `Promoting(its id)`.
#[derive(Debug)]
pub(crate) struct Group<C> {
    pub(crate) id: GroupId,
    pub(crate) config: GroupConfig,
    pub(crate) enabled: Vec<Entry<C>>,
    pub(crate) detached: Vec<Entry<C>>,
    pub(crate) waiters: VecDeque<Waiter<C>>,
    pub(crate) spawning: usize,
    /// When each counted spawn began, oldest first (as many as `spawning`), for status output.
    pub(crate) spawn_started: VecDeque<Instant>,
    /// Bumped by each restart and each promotion to template; a spawn begun under an older
    /// generation is discarded, and older processes are the ones a roll replaces.
    pub(crate) generation: u64,
    /// Bumped by each restart only: the restart generation spawns ask for
    /// (`SpawnOptions::restart_generation`), so that only a restart replaces the preloader.
    pub(crate) restarts: u64,
    /// Re-forking in this restart generation.
    pub(crate) refork: Refork,
    /// The process being promoted to template: drained, out of rotation, with the spawner.
    pub(crate) promoting: Option<Entry<C>>,
    /// Whether the group has been asked for a session yet (`min_instances` applies from then).
    pub(crate) started: bool,
    pub(crate) restart: Option<Arc<RestartWatch>>,
    /// Old-generation processes a rolling restart has still to replace.
    pub(crate) to_replace: usize,
    /// An old process set aside to make room for its replacement during a rolling restart at a
    /// limit: it takes no new requests and does not count against the limits, but it is only
    /// stopped once the replacement is up, and comes back if the spawn fails while deployment
    /// errors are resisted.
    pub(crate) parked: Option<Entry<C>>,
    /// Set when a rolling restart could not spawn the new version and `resist_deployment_errors`
    /// is on: old processes keep serving; no spawning and no idle cleaning until the next restart.
    pub(crate) resisting: Option<CheckoutError>,
    pub(crate) oob_active: bool,
    pub(crate) backoff: Backoff,
    /// `app{name}`: the parent of the group's spawns and processes (STYLE §4).
    pub(crate) span: tracing::Span,
}

/// Consecutive spawn failures and when the next attempt may start.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    /// What the last attempt failed with, answered to requests that arrive while waiting.
    pub(crate) last_error: Option<CheckoutError>,
}

/// A process and the counters the pool keeps for it.
#[derive(Debug)]
pub(crate) struct Entry<C> {
    pub(crate) process: Arc<Process<C>>,
    pub(crate) sessions: usize,
    pub(crate) processed: u64,
    pub(crate) last_used: Instant,
    pub(crate) spawned_at: Instant,
    pub(crate) oob: Oob,
    /// Private dirty memory at the last measurement, in KiB.
    pub(crate) private_dirty_kib: Option<u64>,
    /// Chosen to become the template (re-forking): no new requests go to it.
    pub(crate) draining: bool,
}

/// Where re-forking stands in a group's restart generation (issue 22): one promotion each.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refork {
    /// No process has been chosen yet.
    #[default]
    Waiting,
    /// The process with this id takes no new requests; it is promoted once its last one ends.
    Draining(u64),
    /// The process with this id is with the spawner, becoming the template.
    Promoting(u64),
    /// Done (or failed) in this restart generation.
    Done,
}

/// Out-of-band work on one process (seed §11.8).
#[derive(Debug, Default)]
pub(crate) enum Oob {
    #[default]
    None,
    /// No new requests go to the process; the holder is told when its own session is the last.
    Requested(Option<oneshot::Sender<bool>>),
    /// The holder is doing the work; the process is routable again when its session ends.
    Running,
}

/// What a checkout got at once.
pub(crate) enum Checkout<C> {
    Ready(Session<C>),
    /// Queued: the session comes through the receiver, within the time limit if there is one.
    Wait(
        oneshot::Receiver<Result<Session<C>, CheckoutError>>,
        Option<std::time::Duration>,
    ),
    Rejected(CheckoutError),
}

/// Where a request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// To the enabled process at this index.
    To(usize),
    /// Nowhere yet: it waits.
    Wait,
}

/// A group's state at one moment.
#[derive(Debug, Clone)]
pub struct GroupSnapshot {
    /// The group's name.
    pub name: String,
    /// Restart generation (0 until the first restart).
    pub generation: u64,
    /// Requests waiting in the queue.
    pub queued: usize,
    /// Spawns in progress.
    pub spawning: usize,
    /// Whether the group is resisting a deployment error (old processes serve; no spawning).
    pub resisting_deployment_error: bool,
    /// Old processes a rolling restart has still to replace.
    pub rolling_restart_pending: usize,
    /// Processes taking requests, then those finishing before they stop.
    pub processes: Vec<ProcessSnapshot>,
    /// The app's root directory.
    pub app_root: std::path::PathBuf,
    /// The app's environment (`production`, ...).
    pub environment: String,
    /// Passenger's app type name (`ruby`, `python`, `nodejs`, or empty for generic apps).
    pub app_type: String,
    /// The longest queue allowed (0: unbounded).
    pub max_queue: usize,
    /// Whether the pool is shutting down (the group takes no more requests).
    pub shutting_down: bool,
    /// How long the oldest spawn in progress has been running (`None`: none is).
    pub spawning_for: Option<Duration>,
}

/// A process's state at one moment.
#[derive(Debug, Clone)]
pub struct ProcessSnapshot {
    /// Its pid.
    pub pid: u32,
    /// Its sticky session id (unique in the pool).
    pub sticky_id: u64,
    /// The restart generation it belongs to.
    pub generation: u64,
    /// Requests in flight.
    pub sessions: usize,
    /// Requests completed.
    pub processed: u64,
    /// Whether it takes no new requests: finishing them before it stops (restart, failure), or
    /// parked.
    pub detached: bool,
    /// Whether it is set aside while its replacement spawns (a rolling restart at a limit): it
    /// is stopped once the replacement is up, or serves again if that fails while deployment
    /// errors are resisted.
    pub parked: bool,
    /// Whether out-of-band work is requested or running on it.
    pub oob: bool,
    /// Private dirty memory at the last measurement (only measured under a memory limit).
    pub private_dirty_kib: Option<u64>,
    /// How long it has been up.
    pub uptime: Duration,
    /// How long since it last started a request.
    pub idle_for: Duration,
    /// Where it takes requests.
    pub endpoint: Endpoint,
    /// What it speaks there.
    pub protocol: Protocol,
    /// How many requests it takes at once.
    pub concurrency: Concurrency,
    /// The secret a direct request to it must carry (`X-Passenger-Connect-Password`). Secret:
    /// show it only to those allowed to send requests to the app.
    pub connect_password: String,
}

// === impl Entry ===

impl<C> Entry<C> {
    pub(crate) fn new(process: Arc<Process<C>>, now: Instant) -> Self {
        Entry {
            process,
            sessions: 0,
            processed: 0,
            last_used: now,
            spawned_at: now,
            oob: Oob::None,
            private_dirty_kib: None,
            draining: false,
        }
    }

    /// Whether the process takes no more requests now.
    fn is_full(&self) -> bool {
        if !matches!(self.oob, Oob::None) || self.draining {
            return true;
        }
        match self.process.concurrency {
            Concurrency::Limited(n) => self.sessions >= n.get(),
            Concurrency::Unlimited => false,
        }
    }

    /// Whether another process would help: the process is full, or (no limit known) it is
    /// already serving a request. Node and generic apps advertise no limit, so without this the
    /// pool would never grow past one process for them.
    pub(crate) fn wants_company(&self) -> bool {
        match self.process.concurrency {
            Concurrency::Limited(_) => self.is_full(),
            Concurrency::Unlimited => self.sessions >= 1 || self.is_full(),
        }
    }

    /// Ends out-of-band work on this process, telling a holder still waiting that it is off.
    fn cancel_oob(&mut self) -> bool {
        match std::mem::take(&mut self.oob) {
            Oob::None => false,
            Oob::Requested(tx) => {
                if let Some(tx) = tx {
                    let _ = tx.send(false);
                }
                true
            }
            Oob::Running => true,
        }
    }
}

// === impl Backoff ===

impl Backoff {
    /// Whether a spawn may start now.
    pub(crate) fn allows(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// Records a failure: the first retry may start at once, then waits grow 1 s, 2 s, 4 s, ...
    /// up to 30 s, so an app that cannot start is not respawned in a tight loop.
    /// Returns when the next attempt may start, if that is later than now.
    pub(crate) fn failed(&mut self, now: Instant, error: CheckoutError) -> Option<Instant> {
        self.failures = self.failures.saturating_add(1);
        let delay = match self.failures {
            0 | 1 => Duration::ZERO,
            n => Duration::from_secs(1u64 << (n - 2).min(5)).min(MAX_BACKOFF),
        };
        self.retry_at = Some(now + delay);
        self.last_error = Some(error);
        (delay > Duration::ZERO).then_some(now + delay)
    }

    pub(crate) fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// Whether the last spawn (if any) succeeded.
    pub(crate) fn is_clear(&self) -> bool {
        self.failures == 0
    }
}

// === impl Group ===

impl<C> Group<C> {
    pub(crate) fn new(id: GroupId, config: GroupConfig) -> Self {
        let restart = config
            .restart_dir
            .clone()
            .map(|dir| Arc::new(RestartWatch::new(dir, config.restart_check_interval)));
        let span = tracing::info_span!("app", name = %config.name);
        Group {
            id,
            config,
            enabled: Vec::new(),
            detached: Vec::new(),
            waiters: VecDeque::new(),
            spawning: 0,
            spawn_started: VecDeque::new(),
            generation: 0,
            restarts: 0,
            refork: Refork::Waiting,
            promoting: None,
            started: false,
            restart,
            to_replace: 0,
            parked: None,
            resisting: None,
            oob_active: false,
            backoff: Backoff::default(),
            span,
        }
    }

    pub(crate) fn app_root(&self) -> String {
        self.config.spawn.app_root.display().to_string()
    }

    pub(crate) fn snapshot(&self, now: Instant) -> GroupSnapshot {
        let list = |entries: &[Entry<C>], detached, parked| {
            entries
                .iter()
                .map(move |e| ProcessSnapshot {
                    parked,
                    pid: e.process.handle.pid(),
                    sticky_id: e.process.id,
                    generation: e.process.generation,
                    sessions: e.sessions,
                    processed: e.processed,
                    detached,
                    oob: !matches!(e.oob, Oob::None),
                    private_dirty_kib: e.private_dirty_kib,
                    uptime: now.saturating_duration_since(e.spawned_at),
                    idle_for: now.saturating_duration_since(e.last_used),
                    endpoint: e.process.endpoint.clone(),
                    protocol: e.process.protocol,
                    concurrency: e.process.concurrency,
                    connect_password: e.process.connect_password.clone(),
                })
                .collect::<Vec<_>>()
        };
        let mut processes = list(&self.enabled, false, false);
        processes.extend(list(self.parked.as_slice(), true, true));
        processes.extend(list(&self.detached, true, false));
        processes.extend(list(self.promoting.as_slice(), true, false));
        GroupSnapshot {
            name: self.config.name.clone(),
            generation: self.generation,
            queued: self.waiters.len(),
            spawning: self.spawning,
            resisting_deployment_error: self.resisting.is_some(),
            rolling_restart_pending: self.to_replace,
            processes,
            app_root: self.config.spawn.app_root.clone(),
            environment: self.config.spawn.environment.clone(),
            app_type: self.config.spawn.app_type.clone(),
            max_queue: self.config.max_queue,
            shutting_down: false,
            spawning_for: self
                .spawn_started
                .iter()
                .min()
                .map(|t| now.saturating_duration_since(*t)),
        }
    }

    /// Where a request goes. With a sticky id of a live process: that process, or wait for it if
    /// it is full. Otherwise the least-busy process with room of the newest generation, and only
    /// when all of those are full, the least-busy of any generation (during a rolling restart the
    /// old processes take what the new ones cannot). Among equals, the least recently used.
    fn route(&self, sticky: Option<u64>) -> Route {
        if let Some(id) = sticky {
            if let Some(i) = self.enabled.iter().position(|e| e.process.id == id) {
                let entry = &self.enabled[i];
                if !entry.is_full() {
                    return Route::To(i);
                }
                if matches!(entry.oob, Oob::None) && !entry.draining {
                    return Route::Wait;
                }
                // Busy with out-of-band work, or becoming the template: not worth waiting for.
            }
        }
        let least_busy = |newest_only: bool| {
            self.enabled
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.is_full())
                .filter(|(_, e)| !newest_only || e.process.generation == self.generation)
                .min_by_key(|(_, e)| (e.sessions, e.last_used))
                .map(|(i, _)| i)
        };
        match least_busy(true).or_else(|| least_busy(false)) {
            Some(i) => Route::To(i),
            None => Route::Wait,
        }
    }

    /// A session for a request arriving now, if a process has room.
    pub(crate) fn try_route(
        &mut self,
        sticky: Option<u64>,
        now: Instant,
        release: &Arc<dyn Release<C>>,
    ) -> Option<Session<C>> {
        match self.route(sticky) {
            Route::To(i) => Some(self.open_session(i, now, release)),
            Route::Wait => None,
        }
    }

    fn open_session(
        &mut self,
        i: usize,
        now: Instant,
        release: &Arc<dyn Release<C>>,
    ) -> Session<C> {
        let entry = &mut self.enabled[i];
        entry.sessions += 1;
        entry.last_used = now;
        Session::new(Arc::clone(release), self.id, Arc::clone(&entry.process))
    }

    /// Gives sessions to waiting requests, in order, while processes have room. A request
    /// waiting for its sticky process keeps its place while that process is full, and the
    /// requests behind it are still served.
    pub(crate) fn serve_waiters(
        &mut self,
        now: Instant,
        release: &Arc<dyn Release<C>>,
        actions: &mut Vec<Action<C>>,
    ) {
        let mut i = 0;
        let mut general_full = false;
        while i < self.waiters.len() {
            if self.waiters[i].tx.is_closed() {
                self.waiters.remove(i);
                continue;
            }
            let sticky = self.waiters[i].sticky;
            if general_full && sticky.is_none() {
                i += 1;
                continue;
            }
            match self.route(sticky) {
                Route::To(p) => {
                    let Some(waiter) = self.waiters.remove(i) else {
                        break;
                    };
                    let session = self.open_session(p, now, release);
                    actions.push(Action::Deliver(waiter, Ok(session)));
                }
                Route::Wait => {
                    if sticky.is_none() {
                        general_full = true;
                        if !self.waiters.iter().skip(i).any(|w| w.sticky.is_some()) {
                            break;
                        }
                    }
                    i += 1;
                }
            }
        }
    }

    /// Processes counting against the group's `max_instances`: enabled ones and spawns.
    pub(crate) fn instances(&self) -> usize {
        self.enabled.len() + self.spawning
    }

    /// Whether the group's own cap leaves room for one more process.
    pub(crate) fn below_cap(&self) -> bool {
        self.config
            .max_instances
            .is_none_or(|cap| self.instances() < cap)
    }

    /// Whether the group would like one more process (before looking at room in the pool).
    /// `arrival`: a request has just arrived, so every process being busy is a reason to grow;
    /// otherwise (a process attached, a session ended) only queued requests, `min_instances` and
    /// a rolling restart are.
    pub(crate) fn wants_spawn(&self, arrival: bool, parallel: usize, now: Instant) -> bool {
        // Resisting a deployment error means serving with the old processes; with none left
        // there is nothing to resist with, and a spawn (which shows the error) is all there is.
        if (self.resisting.is_some() && !self.enabled.is_empty()) || !self.backoff.allows(now) {
            return false;
        }
        // While a process becomes the template, spawns wait: started now, one could fork from
        // the preloader being replaced (requests queue meanwhile, or go to the other processes).
        if matches!(self.refork, Refork::Promoting(_)) {
            return false;
        }
        if self.spawning > 0 {
            // Another spawn alongside only for a deep queue, and never for a rolling restart,
            // which replaces one process at a time.
            return self.spawning < parallel
                && self.to_replace == 0
                && self.waiting_for_any() > self.spawning
                && self.below_cap();
        }
        if self.to_replace > 0 {
            return true; // room is made by retiring an old process if needed
        }
        if !self.below_cap() {
            return false;
        }
        // After a failed spawn, only an arriving request starts the next one: no background
        // retries of an app that cannot start.
        let below_min = self.started
            && self.enabled.len() < self.config.min_instances
            && (arrival || self.backoff.is_clear());
        let all_busy = arrival && self.enabled.iter().all(Entry::wants_company);
        below_min || self.waiting_for_any() > 0 || (self.started && all_busy)
    }

    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting_for_any() > 0
    }

    /// Queued requests a new process could serve: all but those waiting for their sticky
    /// process, which is alive.
    fn waiting_for_any(&self) -> usize {
        self.waiters
            .iter()
            .filter(|w| {
                w.sticky
                    .is_none_or(|id| !self.enabled.iter().any(|e| e.process.id == id))
            })
            .count()
    }

    /// Moves the process at `i` of `enabled` to `detached`; stops it now if it is idle.
    pub(crate) fn detach(&mut self, i: usize, actions: &mut Vec<Action<C>>) {
        let mut entry = self.enabled.remove(i);
        if entry.cancel_oob() {
            self.oob_active = false;
        }
        self.forget_draining(&entry);
        entry.process.retire();
        if entry.sessions == 0 {
            actions.push(Action::Stop(Arc::clone(&entry.process)));
        }
        actions.push(self.hook("detached_process", Some(&entry.process)));
        self.detached.push(entry);
    }

    /// Removes the enabled process at `i` outright (it has exited).
    pub(crate) fn remove(&mut self, i: usize, actions: &mut Vec<Action<C>>) -> Entry<C> {
        let mut entry = self.enabled.remove(i);
        if entry.cancel_oob() {
            self.oob_active = false;
        }
        self.forget_draining(&entry);
        actions.push(self.hook("detached_process", Some(&entry.process)));
        entry
    }

    pub(crate) fn detach_all(&mut self, actions: &mut Vec<Action<C>>) {
        while !self.enabled.is_empty() {
            self.detach(0, actions);
        }
        self.detach_parked(actions);
    }

    /// Sets the process at `i` aside to make room for its replacement (see `parked`).
    pub(crate) fn park(&mut self, i: usize) {
        let mut entry = self.enabled.remove(i);
        if entry.cancel_oob() {
            self.oob_active = false;
        }
        self.parked = Some(entry);
    }

    /// The parked process's replacement is up (or will not come): it leaves for good.
    pub(crate) fn detach_parked(&mut self, actions: &mut Vec<Action<C>>) {
        if let Some(entry) = self.parked.take() {
            self.enabled.push(entry);
            self.detach(self.enabled.len() - 1, actions);
        }
    }

    /// The parked process's replacement could not be spawned: it serves again.
    pub(crate) fn unpark(&mut self) {
        if let Some(entry) = self.parked.take() {
            self.enabled.push(entry);
        }
    }

    /// The longest-idle process that could be stopped to make room, as (last used, index).
    pub(crate) fn longest_idle(&self) -> Option<(Instant, usize)> {
        self.enabled
            .iter()
            .enumerate()
            .filter(|(i, e)| e.sessions == 0 && self.may_retire(*i))
            .map(|(i, e)| (e.last_used, i))
            .min()
    }

    /// The old-generation process to retire next in a rolling restart: the oldest generation
    /// first, then the least busy, then the longest idle.
    pub(crate) fn oldest_to_retire(&self) -> Option<usize> {
        self.enabled
            .iter()
            .enumerate()
            .filter(|(i, e)| e.process.generation < self.generation && self.may_retire(*i))
            .min_by_key(|(_, e)| (e.process.generation, e.sessions, e.last_used))
            .map(|(i, _)| i)
    }

    /// Whether the process at `i` may leave for housekeeping (idle time, room for others, a
    /// rolling restart): not while it is the last one taking requests and another process of
    /// the app is doing out-of-band work.
    fn may_retire(&self, i: usize) -> bool {
        if !self.oob_active || !matches!(self.enabled[i].oob, Oob::None) {
            return true;
        }
        self.enabled
            .iter()
            .enumerate()
            .any(|(j, e)| j != i && matches!(e.oob, Oob::None))
    }

    pub(crate) fn old_processes(&self) -> usize {
        self.enabled
            .iter()
            .filter(|e| e.process.generation < self.generation)
            .count()
    }

    pub(crate) fn position(&self, process: &Process<C>) -> Option<usize> {
        self.enabled.iter().position(|e| e.process.id == process.id)
    }

    /// A hook run with the app root and, for process events, the process's pid.
    pub(crate) fn hook(&self, name: &'static str, process: Option<&Process<C>>) -> Action<C> {
        let mut env = vec![
            ("PASSENGER_APP_ROOT".to_owned(), self.app_root()),
            (
                "PASSENGER_APP_GROUP_NAME".to_owned(),
                self.config.spawn.app_group_name.clone(),
            ),
        ];
        if let Some(process) = process {
            env.push((
                "PASSENGER_PROCESS_PID".to_owned(),
                process.handle.pid().to_string(),
            ));
        }
        Action::Hook(name, env)
    }

    /// Asks for out-of-band work on `process`, which holds one session (the asker's).
    pub(crate) fn begin_oob(&mut self, process: &Process<C>) -> OobStart {
        let Some(i) = self.position(process) else {
            return OobStart::Refused;
        };
        if self.oob_active {
            return OobStart::Refused;
        }
        // Never the last process that can take requests.
        let others = self
            .enabled
            .iter()
            .filter(|e| e.process.id != process.id && matches!(e.oob, Oob::None))
            .count();
        if others == 0 {
            return OobStart::Refused;
        }
        self.oob_active = true;
        let entry = &mut self.enabled[i];
        if entry.sessions <= 1 {
            entry.oob = Oob::Running;
            return OobStart::Ready;
        }
        let (tx, rx) = oneshot::channel();
        entry.oob = Oob::Requested(Some(tx));
        OobStart::Wait(rx)
    }

    // --- re-forking (issue 22) ---

    /// Bookkeeping when a session on the enabled process at `i` ends.
    pub(crate) fn session_ended(&mut self, i: usize, now: Instant) {
        let entry = &mut self.enabled[i];
        entry.sessions -= 1;
        entry.processed += 1;
        entry.last_used = now;
        match &mut entry.oob {
            Oob::Requested(tx) if entry.sessions == 1 => {
                // Only the holder's session is left: its work may begin.
                if let Some(tx) = tx.take() {
                    if tx.send(true).is_ok() {
                        entry.oob = Oob::Running;
                    }
                }
            }
            Oob::Requested(_) | Oob::Running if entry.sessions == 0 => {
                entry.oob = Oob::None;
                self.oob_active = false;
            }
            _ => {}
        }
    }
}
