//! Groups and processes, and every decision the pool takes under its lock.
//!
//! All functions here run with the pool lock held: they only change state and return
//! [`Action`]s for the caller to carry out afterwards.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ferry_spawn::{
    Concurrency, Endpoint, ExitInfo, ProcessHandle, Protocol, SpawnError, SpawnOptions, Spawned,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::restart::RestartWatch;
use crate::session::{Release, Session};
use crate::{Action, CheckoutError, GroupConfig, GroupId, Outcome, State};

/// One app's processes and its queue.
///
/// Invariants: `enabled` holds the processes new requests may go to; `detached` those finishing
/// their sessions before they stop. A process is in at most one of them, and leaves the pool when
/// its exit is observed. `spawning` is true while exactly one spawn for this group is in progress.
#[derive(Debug)]
pub(crate) struct Group<C> {
    id: GroupId,
    config: GroupConfig,
    enabled: Vec<Entry<C>>,
    detached: Vec<Entry<C>>,
    waiters: VecDeque<Waiter<C>>,
    spawning: bool,
    /// Bumped by each restart; a spawn begun under an older generation is discarded.
    generation: u64,
    /// Whether the group has been asked for a session yet (`min_instances` applies from then).
    started: bool,
    restart: Option<Arc<RestartWatch>>,
}

/// A process and the counters the pool keeps for it.
#[derive(Debug)]
struct Entry<C> {
    process: Arc<Process<C>>,
    sessions: usize,
    processed: u64,
    last_used: Instant,
}

/// A running app process, shared with the sessions on it.
#[derive(Debug)]
pub(crate) struct Process<C> {
    id: u64,
    pub(crate) endpoint: Endpoint,
    pub(crate) protocol: Protocol,
    pub(crate) connect_password: String,
    concurrency: Concurrency,
    pub(crate) handle: ProcessHandle,
    pub(crate) idle: Mutex<Vec<C>>,
    retired: AtomicBool,
}

/// A request waiting for a session.
#[derive(Debug)]
pub(crate) struct Waiter<C> {
    tx: oneshot::Sender<Result<Session<C>, CheckoutError>>,
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

/// A group's state at one moment.
#[derive(Debug, Clone)]
pub struct GroupSnapshot {
    /// The group's name.
    pub name: String,
    /// Restart generation (0 until the first restart).
    pub generation: u64,
    /// Requests waiting in the queue.
    pub queued: usize,
    /// Whether a spawn is in progress.
    pub spawning: bool,
    /// Processes taking requests, then those finishing before they stop.
    pub processes: Vec<ProcessSnapshot>,
}

/// A process's state at one moment.
#[derive(Debug, Clone)]
pub struct ProcessSnapshot {
    /// Its pid.
    pub pid: u32,
    /// Requests in flight.
    pub sessions: usize,
    /// Requests completed.
    pub processed: u64,
    /// Whether it is finishing its requests before it stops (restart, failure).
    pub detached: bool,
}

// === impl Process ===

impl<C> Process<C> {
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// Takes the process out of rotation: idle connections to it are closed.
    fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

// === impl Waiter ===

impl<C> Waiter<C> {
    /// Hands the result over. If the request gave up waiting, a session comes straight back.
    pub(crate) fn deliver(self, result: Result<Session<C>, CheckoutError>) {
        let _ = self.tx.send(result);
    }
}

// === impl Entry ===

impl<C> Entry<C> {
    /// Whether the process takes no more requests now.
    fn is_full(&self) -> bool {
        match self.process.concurrency {
            Concurrency::Limited(n) => self.sessions >= n.get(),
            Concurrency::Unlimited => false,
        }
    }

    /// Whether another process would help: the process is full, or (no limit known) it is
    /// already serving a request. Node and generic apps advertise no limit, so without this the
    /// pool would never grow past one process for them.
    fn wants_company(&self) -> bool {
        match self.process.concurrency {
            Concurrency::Limited(_) => self.is_full(),
            Concurrency::Unlimited => self.sessions >= 1,
        }
    }
}

// === impl Group ===

impl<C> Group<C> {
    pub(crate) fn new(id: GroupId, config: GroupConfig) -> Self {
        let restart = config
            .restart_dir
            .clone()
            .map(|dir| Arc::new(RestartWatch::new(dir, config.restart_check_interval)));
        Group {
            id,
            config,
            enabled: Vec::new(),
            detached: Vec::new(),
            waiters: VecDeque::new(),
            spawning: false,
            generation: 0,
            started: false,
            restart,
        }
    }

    pub(crate) fn snapshot(&self) -> GroupSnapshot {
        let list = |entries: &[Entry<C>], detached| {
            entries
                .iter()
                .map(move |e| ProcessSnapshot {
                    pid: e.process.handle.pid(),
                    sessions: e.sessions,
                    processed: e.processed,
                    detached,
                })
                .collect::<Vec<_>>()
        };
        let mut processes = list(&self.enabled, false);
        processes.extend(list(&self.detached, true));
        GroupSnapshot {
            name: self.config.name.clone(),
            generation: self.generation,
            queued: self.waiters.len(),
            spawning: self.spawning,
            processes,
        }
    }

    /// The least-busy process that has room; among equals, the one least recently used.
    fn route(&self) -> Option<usize> {
        self.enabled
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_full())
            .min_by_key(|(_, e)| (e.sessions, e.last_used))
            .map(|(i, _)| i)
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

    /// Gives sessions to waiting requests while some process has room.
    fn serve_waiters(
        &mut self,
        now: Instant,
        release: &Arc<dyn Release<C>>,
        actions: &mut Vec<Action<C>>,
    ) {
        while !self.waiters.is_empty() {
            let Some(i) = self.route() else { break };
            let Some(waiter) = self.waiters.pop_front() else {
                break;
            };
            if waiter.tx.is_closed() {
                continue;
            }
            let session = self.open_session(i, now, release);
            actions.push(Action::Deliver(waiter, Ok(session)));
        }
    }

    /// Whether the group would like one more process. `arrival`: a request has just arrived, so
    /// every process being busy is a reason to grow; otherwise (a process attached, a session
    /// ended) only queued requests and `min_instances` are.
    fn wants_spawn(&self, arrival: bool) -> bool {
        if self.spawning
            || self
                .config
                .max_instances
                .is_some_and(|cap| self.enabled.len() >= cap)
        {
            return false;
        }
        let below_min = self.started && self.enabled.len() < self.config.min_instances;
        let all_busy = arrival && self.enabled.iter().all(Entry::wants_company);
        below_min || !self.waiters.is_empty() || (self.started && all_busy)
    }

    /// Moves the process at `i` of `enabled` to `detached`; stops it now if it is idle.
    fn detach(&mut self, i: usize, actions: &mut Vec<Action<C>>) {
        let entry = self.enabled.remove(i);
        entry.process.retire();
        if entry.sessions == 0 {
            actions.push(Action::Stop(Arc::clone(&entry.process)));
        }
        self.detached.push(entry);
    }

    fn detach_all(&mut self, actions: &mut Vec<Action<C>>) {
        while !self.enabled.is_empty() {
            self.detach(0, actions);
        }
    }

    /// The longest-idle process that could be stopped to make room, as (last used, index).
    fn longest_idle(&self) -> Option<(Instant, usize)> {
        self.enabled
            .iter()
            .enumerate()
            .filter(|(_, e)| e.sessions == 0)
            .map(|(i, e)| (e.last_used, i))
            .min()
    }
}

// === impl State ===

impl<C> State<C> {
    pub(crate) fn checkout(
        &mut self,
        id: GroupId,
        now: Instant,
        release: &Arc<dyn Release<C>>,
        max: usize,
    ) -> (Checkout<C>, Vec<Action<C>>) {
        if self.shutting_down {
            return (Checkout::Rejected(CheckoutError::ShuttingDown), Vec::new());
        }
        self.groups[id.0].started = true;
        // Decide on growth from the state this request found: a request arriving while every
        // process is busy asks for another process, even if it can be served at once.
        let mut actions = self.maybe_spawn_on_arrival(id, max);
        let group = &mut self.groups[id.0];
        if let Some(i) = group.route() {
            let session = group.open_session(i, now, release);
            return (Checkout::Ready(session), actions);
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
            return (Checkout::Rejected(error), actions);
        }
        let (tx, rx) = oneshot::channel();
        group.waiters.push_back(Waiter { tx });
        let time_limit = group.config.max_queue_time;
        actions.extend(self.maybe_spawn(id, max));
        (Checkout::Wait(rx, time_limit), actions)
    }

    /// The error for a request of group `id` that waited `limit` in the queue.
    pub(crate) fn queue_timeout(
        &mut self,
        id: GroupId,
        limit: std::time::Duration,
    ) -> CheckoutError {
        let group = &mut self.groups[id.0];
        group.waiters.retain(|w| !w.tx.is_closed());
        CheckoutError::QueueTimeout {
            app: group.config.name.clone(),
            waited: limit,
            queued: group.waiters.len(),
        }
    }

    /// Stops processes that have been idle for `idle`, longest idle first, while their group
    /// keeps more than `min_instances`.
    pub(crate) fn clean_idle(&mut self, now: Instant, idle: std::time::Duration) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        if self.shutting_down {
            return actions;
        }
        for group in &mut self.groups {
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
        actions
    }

    pub(crate) fn release(
        &mut self,
        id: GroupId,
        process: &Arc<Process<C>>,
        outcome: Outcome,
        now: Instant,
        release: &Arc<dyn Release<C>>,
        max: usize,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let group = &mut self.groups[id.0];
        if let Some(i) = group
            .enabled
            .iter()
            .position(|e| e.process.id == process.id)
        {
            let entry = &mut group.enabled[i];
            entry.sessions -= 1;
            entry.processed += 1;
            entry.last_used = now;
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
        }
        group.serve_waiters(now, release, &mut actions);
        actions.extend(self.maybe_spawn(id, max));
        actions
    }

    /// Takes a stuck process out of rotation and aborts it.
    pub(crate) fn abort(
        &mut self,
        id: GroupId,
        process: &Arc<Process<C>>,
        max: usize,
    ) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let group = &mut self.groups[id.0];
        if let Some(i) = group
            .enabled
            .iter()
            .position(|e| e.process.id == process.id)
        {
            // Its graceful stop, if it is idle, is escalated by the abort that follows.
            group.detach(i, &mut actions);
        }
        actions.push(Action::Abort(Arc::clone(process)));
        actions.extend(self.maybe_spawn(id, max));
        actions
    }

    /// Starts a spawn for the group if it wants one and the pool has (or can make) room.
    fn maybe_spawn(&mut self, id: GroupId, max: usize) -> Vec<Action<C>> {
        self.maybe_spawn_if(id, max, false)
    }

    /// [`Self::maybe_spawn`] for a request that has just arrived.
    fn maybe_spawn_on_arrival(&mut self, id: GroupId, max: usize) -> Vec<Action<C>> {
        self.maybe_spawn_if(id, max, true)
    }

    fn maybe_spawn_if(&mut self, id: GroupId, max: usize, arrival: bool) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        if self.shutting_down || !self.groups[id.0].wants_spawn(arrival) {
            return actions;
        }
        if self.capacity_used() >= max {
            let group = &self.groups[id.0];
            if !(group.enabled.is_empty()
                && !group.waiters.is_empty()
                && self.free_capacity(id, &mut actions))
            {
                return actions;
            }
        }
        let group = &mut self.groups[id.0];
        group.spawning = true;
        actions.push(Action::Spawn(id, group.generation));
        actions
    }

    /// Processes counting against `max_pool_size`: enabled ones and spawns in progress. Detached
    /// processes are on their way out and do not count (as in Passenger).
    fn capacity_used(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.enabled.len() + usize::from(g.spawning))
            .sum()
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

    pub(crate) fn spawn_options(&self, id: GroupId) -> Option<SpawnOptions> {
        self.groups.get(id.0).map(|g| g.config.spawn.clone())
    }

    pub(crate) fn restart_watch(&self, id: GroupId) -> Option<Arc<RestartWatch>> {
        self.groups.get(id.0)?.restart.clone()
    }

    /// Attaches a freshly spawned process, or reports its failure to every waiting request.
    pub(crate) fn attach(
        &mut self,
        id: GroupId,
        generation: u64,
        result: Result<Spawned, SpawnError>,
        release: &Arc<dyn Release<C>>,
        max: usize,
    ) -> (Option<Arc<Process<C>>>, Vec<Action<C>>) {
        let mut actions = Vec::new();
        let next_id = self.next_process_id;
        self.next_process_id += 1;
        let group = &mut self.groups[id.0];
        let current = generation == group.generation;
        if current {
            group.spawning = false;
        }
        let spawned = match result {
            Ok(spawned) => spawned,
            Err(error) => {
                if current {
                    // The spawner has logged the full report under the error's id.
                    tracing::debug!(app = %group.config.name, id = error.id(), "spawn failed; failing the queued requests");
                    let error = CheckoutError::Spawn(Arc::new(error));
                    for waiter in group.waiters.drain(..) {
                        actions.push(Action::Deliver(waiter, Err(error.clone())));
                    }
                }
                return (None, actions);
            }
        };
        let process = Arc::new(Process {
            id: next_id,
            endpoint: spawned.endpoint,
            protocol: spawned.protocol,
            connect_password: spawned.connect_password,
            concurrency: spawned.concurrency,
            handle: spawned.handle,
            idle: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
        });
        if !current || self.shutting_down {
            // Spawned from code that a restart (or shutdown) has since replaced.
            process.retire();
            actions.push(Action::Stop(Arc::clone(&process)));
            actions.extend(self.maybe_spawn(id, max));
            return (Some(process), actions);
        }
        let now = Instant::now();
        group.enabled.push(Entry {
            process: Arc::clone(&process),
            sessions: 0,
            processed: 0,
            last_used: now,
        });
        group.serve_waiters(now, release, &mut actions);
        actions.extend(self.maybe_spawn(id, max));
        (Some(process), actions)
    }

    /// Removes a process whose exit was observed.
    pub(crate) fn process_exited(
        &mut self,
        id: GroupId,
        process: &Arc<Process<C>>,
        info: ExitInfo,
        max: usize,
    ) -> Vec<Action<C>> {
        let pid = process.handle.pid();
        process.retire();
        let group = &mut self.groups[id.0];
        if let Some(i) = group
            .enabled
            .iter()
            .position(|e| e.process.id == process.id)
        {
            let entry = group.enabled.remove(i);
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
        }
        self.maybe_spawn(id, max)
    }

    pub(crate) fn restart(&mut self, id: GroupId, max: usize) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        let Some(group) = self.groups.get_mut(id.0) else {
            return actions;
        };
        group.generation += 1;
        group.spawning = false;
        group.detach_all(&mut actions);
        tracing::info!(app = %group.config.name, generation = group.generation, "restarting app");
        actions.extend(self.maybe_spawn(id, max));
        actions
    }

    pub(crate) fn shutdown(&mut self) -> Vec<Action<C>> {
        self.shutting_down = true;
        let mut actions = Vec::new();
        for group in &mut self.groups {
            for waiter in group.waiters.drain(..) {
                actions.push(Action::Deliver(waiter, Err(CheckoutError::ShuttingDown)));
            }
            group.detach_all(&mut actions);
        }
        actions
    }

    /// Every process still alive, for the last resort of a shutdown that takes too long.
    pub(crate) fn all_processes(&self) -> Vec<Arc<Process<C>>> {
        self.groups
            .iter()
            .flat_map(|g| g.enabled.iter().chain(&g.detached))
            .map(|e| Arc::clone(&e.process))
            .collect()
    }
}
