//! Every decision the pool takes under its lock.
//!
//! The functions here only change [`State`] and return [`Action`]s; the caller carries them out
//! once the lock is released (STYLE.md §6).

use std::sync::Arc;
use std::time::Duration;

use ferry_spawn::{ExitInfo, SpawnError, SpawnOptions, Spawned};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::action::Action;
use crate::config::GroupId;
use crate::error::CheckoutError;
use crate::group::{Checkout, Entry, Group};
use crate::process::{OobStart, Process};
use crate::restart::RestartWatch;
use crate::session::{Outcome, Release, Waiter};

/// Everything behind the pool lock.
#[derive(Debug)]
pub(crate) struct State<C> {
    pub(crate) groups: Vec<Group<C>>,
    pub(crate) shutting_down: bool,
    pub(crate) next_process_id: u64,
}

/// The pool-wide limits the decisions under the lock need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_pool_size: usize,
    pub(crate) max_parallel_spawns: usize,
}

// === impl State ===

impl<C> State<C> {
    pub(crate) fn new() -> Self {
        State {
            groups: Vec::new(),
            shutting_down: false,
            next_process_id: 1,
        }
    }

    pub(crate) fn checkout(
        &mut self,
        id: GroupId,
        sticky: Option<u64>,
        now: Instant,
        release: &Arc<dyn Release<C>>,
        limits: Limits,
    ) -> (Checkout<C>, Vec<Action<C>>) {
        if self.shutting_down {
            return (Checkout::Rejected(CheckoutError::ShuttingDown), Vec::new());
        }
        let mut actions = Vec::new();
        let group = &mut self.groups[id.0];
        if !group.started {
            group.started = true;
            actions.push(group.hook("after_initialize_supergroup", None));
        }
        // Decide on growth from the state this request found: a request arriving while every
        // process is busy asks for another process, even if it can be served at once.
        self.maybe_spawn_if(id, limits, true, now, &mut actions);
        let group = &mut self.groups[id.0];
        if let Some(session) = group.try_route(sticky, now, release) {
            return (Checkout::Ready(session), actions);
        }
        // An app that keeps failing to start, and has no process: answer with its last error
        // instead of queueing for a spawn that is not going to happen yet.
        if group.enabled.is_empty() && group.spawning == 0 && !group.backoff.allows(now) {
            if let Some(error) = group.backoff.last_error.clone() {
                return (Checkout::Rejected(error), actions);
            }
        }
        // Requests that gave up (client gone, queue time over) no longer count.
        group.waiters.retain(|w| !w.tx.is_closed());
        let limit = group.config.max_queue;
        if limit > 0 && group.waiters.len() >= limit {
            let error = CheckoutError::QueueFull {
                app: group.config.name.clone(),
                queued: group.waiters.len(),
                limit,
            };
            tracing::warn!(%error, "rejecting request");
            actions.push(group.hook("queue_full_error", None));
            return (Checkout::Rejected(error), actions);
        }
        let (tx, rx) = oneshot::channel();
        group.waiters.push_back(Waiter { tx, sticky });
        let time_limit = group.config.max_queue_time;
        self.maybe_spawn(id, limits, now, &mut actions);
        (Checkout::Wait(rx, time_limit), actions)
    }

    /// The error for a request of group `id` that waited `limit` in the queue.
    pub(crate) fn queue_timeout(&mut self, id: GroupId, limit: Duration) -> CheckoutError {
        let group = &mut self.groups[id.0];
        group.waiters.retain(|w| !w.tx.is_closed());
        CheckoutError::QueueTimeout {
            app: group.config.name.clone(),
            waited: limit,
            queued: group.waiters.len(),
        }
    }

    /// Stops processes that have been idle for `idle`, longest idle first, while their group
    /// keeps more than `min_instances`. A group resisting a deployment error keeps its processes.
    pub(crate) fn clean_idle(
        &mut self,
        now: Instant,
        idle: Duration,
        limits: Limits,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        if self.shutting_down {
            return actions;
        }
        for group in &mut self.groups {
            if group.resisting.is_some() {
                continue;
            }
            while group.enabled.len() > group.config.min_instances {
                let Some((last_used, i)) = group.longest_idle() else {
                    break;
                };
                if now.saturating_duration_since(last_used) < idle {
                    break;
                }
                tracing::info!(
                    app = %group.config.name,
                    pid = group.enabled[i].process.handle.pid(),
                    "stopping a process idle for {idle:?} (pool_idle_time)"
                );
                group.detach(i, &mut actions);
            }
        }
        for i in 0..self.groups.len() {
            if self.groups[i].has_waiters() {
                self.maybe_spawn(GroupId(i), limits, now, &mut actions);
            }
        }
        actions
    }

    pub(crate) fn release(
        &mut self,
        id: GroupId,
        process: &Arc<Process<C>>,
        outcome: Outcome,
        now: Instant,
        release: &Arc<dyn Release<C>>,
        limits: Limits,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let group = &mut self.groups[id.0];
        if let Some(i) = group.position(process) {
            group.session_ended(i, now);
            let entry = &group.enabled[i];
            let worn_out = group
                .config
                .max_requests
                .is_some_and(|max| entry.processed >= max);
            if outcome == Outcome::ProcessFailed {
                tracing::warn!(
                    pid = process.handle.pid(),
                    "app process could not be reached; detaching it"
                );
                group.detach(i, &mut actions);
            } else if worn_out {
                tracing::info!(
                    app = %group.config.name,
                    pid = process.handle.pid(),
                    processed = entry.processed,
                    "app process served max_requests; replacing it"
                );
                group.detach(i, &mut actions);
            } else if !self.shutting_down {
                group.refork_turn(i, &mut actions);
            }
        } else if let Some(entry) = group
            .detached
            .iter_mut()
            .find(|e| e.process.id == process.id)
        {
            entry.sessions -= 1;
            entry.processed += 1;
            if entry.sessions == 0 {
                actions.push(Action::Stop(Arc::clone(&entry.process)));
            }
        } else if let Some(entry) = group.parked.as_mut().filter(|e| e.process.id == process.id) {
            entry.sessions -= 1;
            entry.processed += 1;
        }
        group.serve_waiters(now, release, &mut actions);
        self.maybe_spawn_all(id, limits, now, &mut actions);
        actions
    }

    /// Takes a stuck process out of rotation and aborts it.
    pub(crate) fn abort(
        &mut self,
        id: GroupId,
        process: &Arc<Process<C>>,
        limits: Limits,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let group = &mut self.groups[id.0];
        if let Some(i) = group.position(process) {
            // Its graceful stop, if it is idle, is escalated by the abort that follows.
            group.detach(i, &mut actions);
        }
        actions.push(Action::Abort(Arc::clone(process)));
        self.maybe_spawn_all(id, limits, Instant::now(), &mut actions);
        actions
    }

    /// Asks for out-of-band work on `process` (its caller holds a session on it).
    pub(crate) fn begin_oob(&mut self, id: GroupId, process: &Process<C>) -> OobStart {
        if self.shutting_down {
            return OobStart::Refused;
        }
        self.groups[id.0].begin_oob(process)
    }

    /// Measured memory, and the processes over their group's limits retired (soft) or killed
    /// (hard). `readings`: (group, process id, private dirty KiB).
    pub(crate) fn memory_measured(
        &mut self,
        readings: &[(GroupId, u64, u64)],
        limits: Limits,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let now = Instant::now();
        for &(gid, pid_key, kib) in readings {
            let group = &mut self.groups[gid.0];
            let Some(i) = group.enabled.iter().position(|e| e.process.id == pid_key) else {
                continue;
            };
            group.enabled[i].private_dirty_kib = Some(kib);
            let mib = kib / 1024;
            let process = Arc::clone(&group.enabled[i].process);
            if group
                .config
                .memory_hard_limit
                .is_some_and(|hard| mib > hard)
            {
                tracing::warn!(
                    app = %group.config.name,
                    pid = process.handle.pid(),
                    "app process uses {mib} MB of private memory, over memory_hard_limit \
                     ({} MB); killing it",
                    group.config.memory_hard_limit.unwrap_or_default()
                );
                group.detach(i, &mut actions);
                actions.push(Action::Kill(process));
            } else if group.config.memory_limit.is_some_and(|soft| mib > soft) {
                tracing::warn!(
                    app = %group.config.name,
                    pid = process.handle.pid(),
                    "app process uses {mib} MB of private memory, over memory_limit ({} MB); \
                     replacing it once its requests are done",
                    group.config.memory_limit.unwrap_or_default()
                );
                group.detach(i, &mut actions);
            } else {
                continue;
            }
            self.maybe_spawn_all(gid, limits, now, &mut actions);
        }
        actions
    }

    /// The live processes of groups with a memory limit, to measure.
    pub(crate) fn memory_watched(&self) -> Vec<(GroupId, u64, u32)> {
        self.groups
            .iter()
            .filter(|g| g.config.memory_limit.is_some() || g.config.memory_hard_limit.is_some())
            .flat_map(|g| {
                g.enabled
                    .iter()
                    .map(move |e| (g.id, e.process.id, e.process.handle.pid()))
            })
            .collect()
    }

    /// [`Self::maybe_spawn`] for group `first`, then for every other group: room freed by one
    /// group may be what another group's queued requests are waiting for.
    fn maybe_spawn_all(
        &mut self,
        first: GroupId,
        limits: Limits,
        now: Instant,
        actions: &mut Vec<Action<C>>,
    ) {
        self.maybe_spawn(first, limits, now, actions);
        for i in 0..self.groups.len() {
            if i != first.0 && self.groups[i].has_waiters() {
                self.maybe_spawn(GroupId(i), limits, now, actions);
            }
        }
    }

    fn maybe_spawn(
        &mut self,
        id: GroupId,
        limits: Limits,
        now: Instant,
        actions: &mut Vec<Action<C>>,
    ) {
        self.maybe_spawn_if(id, limits, false, now, actions);
    }

    /// Starts a spawn for the group if it wants one and the pool has (or can make) room.
    fn maybe_spawn_if(
        &mut self,
        id: GroupId,
        limits: Limits,
        arrival: bool,
        now: Instant,
        actions: &mut Vec<Action<C>>,
    ) {
        if self.shutting_down
            || !self.groups[id.0].wants_spawn(arrival, limits.max_parallel_spawns, now)
        {
            return;
        }
        let full = self.capacity_used() >= limits.max_pool_size;
        let group = &mut self.groups[id.0];
        if group.to_replace > 0 && group.spawning == 0 {
            // A rolling restart at a limit makes room by setting an old process aside first.
            if full || !group.below_cap() {
                if group.old_processes() == 0 {
                    group.to_replace = 0;
                    return;
                }
                let Some(i) = group.oldest_to_retire() else {
                    return; // none may leave now (out-of-band work); a later event retries
                };
                group.park(i);
            }
        } else if full {
            let group = &self.groups[id.0];
            if !(group.enabled.is_empty()
                && group.spawning == 0
                && !group.waiters.is_empty()
                && self.free_capacity(id, actions))
            {
                return;
            }
        }
        let group = &mut self.groups[id.0];
        group.spawning += 1;
        group.spawn_started.push_back(now);
        actions.push(Action::Spawn(id, group.generation));
    }

    /// Processes counting against `max_pool_size`: enabled ones and spawns in progress. Detached
    /// processes are on their way out and do not count (as in Passenger).
    fn capacity_used(&self) -> usize {
        self.groups.iter().map(Group::instances).sum()
    }

    /// Stops the longest-idle process of another group to make room for `for_group`.
    fn free_capacity(&mut self, for_group: GroupId, actions: &mut Vec<Action<C>>) -> bool {
        let victim = self
            .groups
            .iter()
            .filter(|g| g.id != for_group)
            .filter_map(|g| g.longest_idle().map(|(t, i)| (t, g.id, i)))
            .min_by_key(|(t, _, _)| *t);
        let Some((_, gid, i)) = victim else {
            return false;
        };
        tracing::info!(group = %self.groups[gid.0].config.name, "stopping an idle process to make room");
        self.groups[gid.0].detach(i, actions);
        true
    }

    /// How to start a process of group `id`, and the group's span to spawn it under.
    /// The options carry the group's restart generation (a smart spawner replaces the app's
    /// preloader when it rises).
    pub(crate) fn spawn_options(&self, id: GroupId) -> Option<(SpawnOptions, tracing::Span)> {
        self.groups.get(id.0).map(|g| {
            let mut options = g.config.spawn.clone();
            options.restart_generation = g.restarts;
            (options, g.span.clone())
        })
    }

    /// The spawner is done promoting `process` of group `id` to template (re-forking).
    pub(crate) fn promoted(
        &mut self,
        id: GroupId,
        process: &Arc<Process<C>>,
        result: Result<ferry_spawn::Promoted, String>,
        limits: Limits,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        self.groups[id.0].promoted(process, result, &mut actions);
        self.maybe_spawn_all(id, limits, Instant::now(), &mut actions);
        actions
    }

    /// The span of group `id` (`app{name}`).
    pub(crate) fn app_span(&self, id: GroupId) -> tracing::Span {
        self.groups
            .get(id.0)
            .map_or_else(tracing::Span::none, |g| g.span.clone())
    }

    pub(crate) fn restart_watch(&self, id: GroupId) -> Option<Arc<RestartWatch>> {
        self.groups.get(id.0)?.restart.clone()
    }

    /// Attaches a freshly spawned process, or handles its failure.
    pub(crate) fn attach(
        &mut self,
        id: GroupId,
        generation: u64,
        result: Result<Spawned, SpawnError>,
        release: &Arc<dyn Release<C>>,
        limits: Limits,
    ) -> (Option<Arc<Process<C>>>, Vec<Action<C>>) {
        let mut actions = Vec::new();
        let now = Instant::now();
        let next_id = self.next_process_id;
        self.next_process_id += 1;
        let group = &mut self.groups[id.0];
        let current = generation == group.generation;
        if current {
            group.spawning -= 1;
            group.spawn_started.pop_front();
        }
        let spawned = match result {
            Ok(spawned) => spawned,
            Err(error) => {
                if current {
                    self.spawn_failed(id, error, now, &mut actions);
                    // Resisting gives the old processes back their queue.
                    self.groups[id.0].serve_waiters(now, release, &mut actions);
                    self.maybe_spawn_all(id, limits, now, &mut actions);
                }
                return (None, actions);
            }
        };
        let process = Arc::new(Process::new(next_id, generation, spawned, &group.span));
        if !current || self.shutting_down {
            // Spawned from code that a restart (or shutdown) has since replaced.
            process.retire();
            actions.push(Action::Stop(Arc::clone(&process)));
            self.maybe_spawn_all(id, limits, now, &mut actions);
            return (Some(process), actions);
        }
        group.backoff.reset();
        group.resisting = None;
        group.enabled.push(Entry::new(Arc::clone(&process), now));
        actions.push(group.hook("attached_process", Some(&process)));
        if group.to_replace > 0 {
            // Rolling restart: one old process makes way for each new one (unless one already
            // did, to make room for this spawn).
            group.to_replace -= 1;
            if group.parked.is_some() {
                group.detach_parked(&mut actions);
            } else if group.old_processes() > group.to_replace {
                if let Some(i) = group.oldest_to_retire() {
                    group.detach(i, &mut actions);
                }
            }
            if group.to_replace == 0 {
                tracing::info!(app = %group.config.name, "rolling restart complete");
            }
        }
        group.serve_waiters(now, release, &mut actions);
        self.maybe_spawn_all(id, limits, now, &mut actions);
        (Some(process), actions)
    }

    /// A spawn of the current generation failed.
    fn spawn_failed(
        &mut self,
        id: GroupId,
        error: SpawnError,
        now: Instant,
        actions: &mut Vec<Action<C>>,
    ) {
        let group = &mut self.groups[id.0];
        let error_id = error.id().to_owned();
        let error = CheckoutError::Spawn(Arc::new(error));
        if group.to_replace > 0 {
            if group.config.resist_deployment_errors
                && (!group.enabled.is_empty() || group.parked.is_some())
            {
                group.unpark();
                tracing::error!(
                    app = %group.config.name,
                    error_id,
                    "the new version could not be spawned; resisting the deployment error: the \
                     old processes keep serving, and nothing is spawned until the next restart"
                );
                group.to_replace = 0;
                group.resisting = Some(error);
                return;
            }
            // Give up replacing one old process; the rest are still tried.
            group.to_replace -= 1;
            if group.parked.is_some() {
                group.detach_parked(actions);
            } else if group.old_processes() > group.to_replace {
                if let Some(i) = group.oldest_to_retire() {
                    group.detach(i, actions);
                }
            }
        }
        // The spawner has logged the full report under the error's id.
        tracing::debug!(app = %group.config.name, error_id, "spawn failed; failing the queued requests");
        if let Some(at) = group.backoff.failed(now, error.clone()) {
            actions.push(Action::Wake(id, at));
        }
        for waiter in group.waiters.drain(..) {
            actions.push(Action::Deliver(waiter, Err(error.clone())));
        }
    }

    /// Removes a process whose exit was observed.
    pub(crate) fn process_exited(
        &mut self,
        id: GroupId,
        process: &Arc<Process<C>>,
        info: ExitInfo,
        limits: Limits,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let pid = process.handle.pid();
        process.retire();
        let group = &mut self.groups[id.0];
        if let Some(i) = group.position(process) {
            let entry = group.remove(i, &mut actions);
            tracing::warn!(
                pid,
                sessions = entry.sessions,
                "app process {info} unexpectedly; removed from the pool"
            );
        } else if let Some(i) = group
            .detached
            .iter()
            .position(|e| e.process.id == process.id)
        {
            group.detached.remove(i);
            tracing::debug!(pid, "app process {info} after it was stopped");
        } else if group
            .promoting
            .as_ref()
            .is_some_and(|e| e.process.id == process.id)
        {
            group.promoting = None;
            tracing::warn!(
                pid,
                "app process {info} while it was being promoted to template"
            );
        } else if group
            .parked
            .as_ref()
            .is_some_and(|e| e.process.id == process.id)
        {
            group.parked = None;
            actions.push(group.hook("detached_process", Some(process)));
            tracing::warn!(
                pid,
                "app process {info} unexpectedly while its replacement was spawning"
            );
        }
        self.maybe_spawn_all(id, limits, Instant::now(), &mut actions);
        actions
    }

    /// A spawn back-off of group `id` is over: spawn if requests are waiting.
    pub(crate) fn backoff_over(&mut self, id: GroupId, limits: Limits) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        if self.groups[id.0].has_waiters() {
            self.maybe_spawn(id, limits, Instant::now(), &mut actions);
        }
        actions
    }

    /// Restarts a group: blocking (every process detached, new ones spawned) or rolling (new
    /// processes spawned one at a time, each retiring an old one when it is up).
    pub(crate) fn restart(&mut self, id: GroupId, rolling: bool, limits: Limits) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let Some(group) = self.groups.get_mut(id.0) else {
            return actions;
        };
        group.generation += 1;
        group.reset_refork();
        group.spawning = 0;
        group.spawn_started.clear();
        group.resisting = None;
        group.backoff.reset();
        // A process set aside for a replacement of the previous roll is just an old one now.
        group.unpark();
        let live = group.enabled.len();
        if rolling && live > 0 {
            group.to_replace = live;
            tracing::info!(app = %group.config.name, generation = group.generation, processes = live, "rolling restart");
        } else {
            group.to_replace = 0;
            group.detach_all(&mut actions);
            tracing::info!(app = %group.config.name, generation = group.generation, "restarting app");
        }
        self.maybe_spawn_all(id, limits, Instant::now(), &mut actions);
        actions
    }

    /// Detaches the process with this pid, wherever it takes requests (a parked process, set
    /// aside by a rolling restart, leaves too). Returns whether one was found.
    pub(crate) fn detach_pid(&mut self, pid: u32, limits: Limits) -> (bool, Vec<Action<C>>) {
        let mut actions = Vec::new();
        let found = self.groups.iter().enumerate().find_map(|(g, group)| {
            if let Some(i) = group
                .enabled
                .iter()
                .position(|e| e.process.handle.pid() == pid)
            {
                Some((g, Some(i)))
            } else {
                group
                    .parked
                    .as_ref()
                    .filter(|e| e.process.handle.pid() == pid)
                    .map(|_| (g, None))
            }
        });
        let Some((g, i)) = found else {
            return (false, actions);
        };
        let group = &mut self.groups[g];
        tracing::info!(app = %group.config.name, pid, "detaching process on request");
        match i {
            Some(i) => group.detach(i, &mut actions),
            None => group.detach_parked(&mut actions),
        }
        self.maybe_spawn_all(GroupId(g), limits, Instant::now(), &mut actions);
        (true, actions)
    }

    pub(crate) fn shutdown(&mut self) -> Vec<Action<C>> {
        self.shutting_down = true;
        let mut actions = Vec::new();
        for group in &mut self.groups {
            for waiter in group.waiters.drain(..) {
                actions.push(Action::Deliver(waiter, Err(CheckoutError::ShuttingDown)));
            }
            group.detach_all(&mut actions);
            if group.started {
                actions.push(group.hook("before_destroy_supergroup", None));
            }
        }
        actions
    }

    /// The process with this pid, wherever it is in the pool (taking requests, detached or
    /// parked).
    pub(crate) fn process_by_pid(&self, pid: u32) -> Option<Arc<Process<C>>> {
        self.groups
            .iter()
            .flat_map(|g| {
                g.enabled
                    .iter()
                    .chain(&g.detached)
                    .chain(&g.parked)
                    .chain(&g.promoting)
            })
            .find(|e| e.process.handle.pid() == pid)
            .map(|e| Arc::clone(&e.process))
    }

    /// Every process still alive, for the last resort of a shutdown that takes too long.
    pub(crate) fn all_processes(&self) -> Vec<Arc<Process<C>>> {
        self.groups
            .iter()
            .flat_map(|g| {
                g.enabled
                    .iter()
                    .chain(&g.detached)
                    .chain(&g.parked)
                    .chain(&g.promoting)
            })
            .map(|e| Arc::clone(&e.process))
            .collect()
    }
}
