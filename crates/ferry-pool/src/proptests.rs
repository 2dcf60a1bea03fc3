//! Property tests: random sequences of operations against a pool of two groups over a fake
//! spawner, with the pool's invariants checked after every step.
//!
//! Each case runs on its own current-thread runtime with a paused clock: time moves only when the
//! test advances it, so a case is deterministic and replays exactly when proptest shrinks it.
//!
//! After every operation the test lets the runtime settle (a bounded number of yields; nothing
//! else can happen meanwhile, since timers only fire when the test advances the clock) and checks:
//!
//! 1. **Capacity.** Over both groups, enabled processes plus spawns in progress never exceed
//!    `max_pool_size`.
//! 2. **Every request is answered or queued.** Per group, the checkouts not yet finished are
//!    exactly the group's `queued` count.
//! 3. **Queue overflow at exactly limit + 1.** A `QueueFull` error says `queued == limit ==
//!    max_queue`, and it comes if and only if the queue held `max_queue` requests when the
//!    checkout arrived; no group ever queues more than its `max_queue`.
//! 4. **No leaks.** A detached process without sessions has been asked to stop (except one parked
//!    while its replacement spawns during a rolling restart); every process the
//!    fake has alive is known to the pool; no process known to the pool has exited; each
//!    process's session count is the number of sessions the test holds on it. After the final
//!    phase and `shutdown`, the pool has no process left and every process the fake started has
//!    exited (having been asked to stop, unless it crashed).
//! 5. **`min_instances` survives idle cleaning** (see [`Harness::finish`] for the exact
//!    statement).
//! 6. **Sticky routing.** A checkout naming sticky id S, made while S was an enabled process of
//!    the group not busy with out-of-band work, gets S, unless S was seen detached, gone or busy
//!    with out-of-band work at some observation before the checkout finished.
//! 7. **Out-of-band work.** At most one process per group has `oob`, and while it lasts another
//!    enabled process of the group takes requests (crashes excused).
//! 8. **Liveness** (final phase): with every session given back, spawns succeeding, and time past
//!    the idle time and any spawn back-off, no request is left waiting.
//!
//! Environment: `PROPTEST_CASES` (default 64 here) and `FERRY_PROPTEST_TRACE` (see
//! [`TRACE_ENV`]). What the properties found is kept as regression tests at the end of this
//! file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use ferry_spawn::{
    Category, Concurrency, ExitInfo, Journey, ProcessHandle, SpawnError, SpawnOptions, Spawned,
    Spawner, Step,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::*;

/// Yields per settle: enough for the longest chain of hand-offs one operation starts (a spawn
/// completing, attaching, serving a waiter, starting the next spawn, a stop, an exit, ...).
const SETTLE_YIELDS: usize = 100;

/// Set (to anything) to print the pool's state after every step (with `--nocapture`; best with
/// `PROPTEST_CASES=1` or a regression test).
const TRACE_ENV: &str = "FERRY_PROPTEST_TRACE";

/// The idle time of cases that have one.
const IDLE: Duration = Duration::from_secs(10);

// === the fake spawner ===

/// A spawner whose processes are stubs. Spawns wait for permits of a gate (the test decides when
/// they finish), take scripted failures first, and the fake keeps what happened to each process.
#[derive(Debug, Clone)]
struct Fake(Arc<FakeState>);

#[derive(Debug)]
struct FakeState {
    concurrency: Concurrency,
    next_pid: AtomicU32,
    /// Scripted failures, consumed one per spawn before successes.
    failures: StdMutex<VecDeque<String>>,
    /// Each spawn takes one permit before it completes.
    gate: Semaphore,
    record: StdMutex<Record>,
}

/// What became of the fake's processes.
#[derive(Debug, Default)]
struct Record {
    spawned: BTreeSet<u32>,
    /// Processes the pool asked to stop (or whose handle it dropped).
    stop_requested: BTreeSet<u32>,
    exited: BTreeSet<u32>,
    /// Processes alive, with what makes each crash.
    live: BTreeMap<u32, oneshot::Sender<()>>,
}

impl Fake {
    fn new(concurrency: Concurrency) -> Self {
        Fake(Arc::new(FakeState {
            concurrency,
            next_pid: AtomicU32::new(100),
            failures: StdMutex::new(VecDeque::new()),
            gate: Semaphore::new(0),
            record: StdMutex::new(Record::default()),
        }))
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.0.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.0.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the `index`-th live process (modulo their number) exit as if it crashed.
    fn crash(&self, index: usize) -> Option<u32> {
        let mut record = self.record();
        let n = record.live.len();
        if n == 0 {
            return None;
        }
        let pid = *record.live.keys().nth(index % n)?;
        let tx = record.live.remove(&pid)?;
        let _ = tx.send(());
        Some(pid)
    }
}

impl Spawner for Fake {
    async fn spawn(&self, _options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        if let Ok(permit) = self.0.gate.acquire().await {
            permit.forget();
        }
        let failure = self.failures().pop_front();
        if let Some(summary) = failure {
            return Err(SpawnError::new(
                Category::Internal,
                Step::HandshakePerform,
                summary,
                Journey::spawn_directly(),
            ));
        }
        let pid = self.0.next_pid.fetch_add(1, Ordering::Relaxed);
        let (handle, mut stub) = ProcessHandle::stub(pid);
        let (crash_tx, crash_rx) = oneshot::channel::<()>();
        {
            let mut record = self.record();
            record.spawned.insert(pid);
            record.live.insert(pid, crash_tx);
        }
        let me = self.clone();
        tokio::spawn(async move {
            let info = tokio::select! {
                mode = stub.stopped() => {
                    if mode.is_some() {
                        me.record().stop_requested.insert(pid);
                    }
                    ExitInfo { code: Some(0), signal: None }
                }
                Ok(()) = crash_rx => ExitInfo { code: None, signal: Some(9) },
            };
            {
                let mut record = me.record();
                record.live.remove(&pid);
                record.exited.insert(pid);
            }
            stub.exit(info);
        });
        Ok(Spawned {
            endpoint: ferry_spawn::Endpoint::Tcp(([127, 0, 0, 1], 1).into()),
            protocol: ferry_spawn::Protocol::Http,
            concurrency: self.0.concurrency,
            connect_password: "test".into(),
            peer_uid: None,
            handle,
            journey: Journey::spawn_directly(),
        })
    }

    async fn shutdown(&self) {}
}

// === what a case is made of ===

#[derive(Debug, Clone)]
struct GroupSpec {
    min_instances: usize,
    max_queue: usize,
    max_instances: Option<usize>,
    resist_deployment_errors: bool,
}

#[derive(Debug, Clone)]
struct Spec {
    max_pool_size: usize,
    /// 1, 2, or 0 for unlimited.
    concurrency: usize,
    idle: bool,
    max_parallel_spawns: usize,
    groups: [GroupSpec; 2],
}

#[derive(Debug, Clone)]
enum Op {
    /// A request to a group, naming (by index into the known ids) a sticky process or not.
    Checkout {
        group: usize,
        sticky: Option<usize>,
    },
    /// Gives back the held session at this index (modulo their number).
    Release(usize),
    /// Lets this many spawns finish.
    CompleteSpawns(usize),
    FailNextSpawn,
    Restart {
        group: usize,
        rolling: bool,
    },
    AdvanceTime(u64),
    /// Crashes the live process at this index (modulo their number).
    KillProcess(usize),
    /// Turns the held session at this index into out-of-band work.
    OobWork(usize),
}

fn group_spec() -> impl Strategy<Value = GroupSpec> {
    (
        0..=2usize,
        1..=4usize,
        prop::option::weighted(0.3, 1..=4usize),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(min_instances, max_queue, max_instances, resist_deployment_errors)| GroupSpec {
                min_instances,
                max_queue,
                max_instances,
                resist_deployment_errors,
            },
        )
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1..=4usize,
        0..=2usize,
        any::<bool>(),
        1..=2usize,
        group_spec(),
        group_spec(),
    )
        .prop_map(
            |(max_pool_size, concurrency, idle, max_parallel_spawns, a, b)| Spec {
                max_pool_size,
                concurrency,
                idle,
                max_parallel_spawns,
                groups: [a, b],
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, prop::option::weighted(0.4, 0..6usize))
            .prop_map(|(group, sticky)| Op::Checkout { group, sticky }),
        4 => (0..8usize).prop_map(Op::Release),
        3 => (1..=3usize).prop_map(Op::CompleteSpawns),
        1 => Just(Op::FailNextSpawn),
        1 => (0..2usize, any::<bool>()).prop_map(|(group, rolling)| Op::Restart { group, rolling }),
        2 => (0..=30u64).prop_map(Op::AdvanceTime),
        1 => (0..8usize).prop_map(Op::KillProcess),
        2 => (0..8usize).prop_map(Op::OobWork),
    ]
}

/// Where in a case a check failed, for the failure message.
struct Ctx<'a> {
    stage: &'static str,
    ops: &'a [Op],
    /// Ops carried out so far.
    done: usize,
}

impl fmt::Display for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = self.done.min(self.ops.len());
        match done.checked_sub(1).map(|i| &self.ops[i]) {
            Some(last) => write!(f, "[{} after op #{} {last:?}", self.stage, done - 1)?,
            None => write!(f, "[{} before any op", self.stage)?,
        }
        write!(f, "; ops so far: {:?}]", &self.ops[..done])
    }
}

/// One line per group and the sessions held, for tracing.
struct Trace<'a>(&'a Ctx<'a>, &'a [GroupSnapshot], &'a [Session<u32>]);

impl fmt::Display for Trace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Trace(ctx, snap, held) = self;
        let done = ctx.done.min(ctx.ops.len());
        match done.checked_sub(1) {
            Some(i) => writeln!(f, "{} #{i} {:?}", ctx.stage, ctx.ops[i])?,
            None => writeln!(f, "{}", ctx.stage)?,
        }
        for (g, group) in snap.iter().enumerate() {
            write!(
                f,
                "  g{g}: gen {} queued {} spawning {}{}{} |",
                group.generation,
                group.queued,
                group.spawning,
                if group.resisting_deployment_error {
                    " RESISTING"
                } else {
                    ""
                },
                if group.rolling_restart_pending > 0 {
                    " ROLLING"
                } else {
                    ""
                },
            )?;
            for p in &group.processes {
                write!(
                    f,
                    " pid {} id {} s{}{}{}",
                    p.pid,
                    p.sticky_id,
                    p.sessions,
                    if p.detached { " DETACHED" } else { "" },
                    if p.oob { " OOB" } else { "" },
                )?;
                f.write_str(";")?;
            }
            writeln!(f)?;
        }
        let ids: Vec<u64> = held.iter().map(Session::sticky_id).collect();
        write!(f, "  held sessions on ids {ids:?}")
    }
}

// === statistics, to see what the cases exercise (printed with --nocapture) ===

static STAT_CASES: AtomicUsize = AtomicUsize::new(0);
static STAT_SESSIONS: AtomicUsize = AtomicUsize::new(0);
static STAT_QUEUE_FULL: AtomicUsize = AtomicUsize::new(0);
static STAT_OTHER_ERRORS: AtomicUsize = AtomicUsize::new(0);
static STAT_STICKY_CHECKED: AtomicUsize = AtomicUsize::new(0);
static STAT_OOB_GRANTED: AtomicUsize = AtomicUsize::new(0);
static STAT_CRASHES: AtomicUsize = AtomicUsize::new(0);
static STAT_MIN_CHECKED: AtomicUsize = AtomicUsize::new(0);
static STAT_SPAWNED: AtomicUsize = AtomicUsize::new(0);

fn bump(stat: &AtomicUsize) {
    stat.fetch_add(1, Ordering::Relaxed);
}

// === the harness ===

/// A checkout whose result has not been collected yet.
struct PendingCheckout {
    group: usize,
    sticky: Option<u64>,
    /// The sticky process was enabled in the group and free of out-of-band work when the request
    /// was made, and at every observation since: the request must get it.
    sticky_binding: bool,
    /// The group's queue length when the request arrived.
    queued_before: usize,
    handle: JoinHandle<Result<Session<u32>, CheckoutError>>,
}

struct Harness {
    spec: Spec,
    fake: Fake,
    pool: Pool<u32>,
    groups: [GroupId; 2],
    held: Vec<Session<u32>>,
    pending: Vec<PendingCheckout>,
    /// Out-of-band work asked for, with the sticky id of the session given up for it.
    oob: Vec<(u64, JoinHandle<Option<Session<u32>>>)>,
    /// Every sticky id seen, in order of first sighting.
    known_ids: Vec<u64>,
    started: [bool; 2],
    /// Print every step (see `TRACE_ENV`).
    trace: bool,
    /// A process of the group crashed while the group had out-of-band work going on.
    oob_excused: [bool; 2],
}

/// Whether a sticky request for `id` must be routed to it: it is an enabled process of the group
/// and not busy with out-of-band work.
fn binding(group: &GroupSnapshot, id: u64) -> bool {
    group
        .processes
        .iter()
        .any(|p| p.sticky_id == id && !p.detached && !p.oob)
}

fn enabled_count(group: &GroupSnapshot) -> usize {
    group.processes.iter().filter(|p| !p.detached).count()
}

async fn settle() {
    for _ in 0..SETTLE_YIELDS {
        tokio::task::yield_now().await;
    }
}

impl Harness {
    fn new(spec: Spec) -> Self {
        let concurrency = match spec.concurrency {
            0 => Concurrency::Unlimited,
            n => Concurrency::Limited(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)),
        };
        let fake = Fake::new(concurrency);
        let pool = Pool::new(
            Arc::new(fake.clone()),
            PoolConfig {
                stop_grace: Duration::from_secs(5),
                idle_time: spec.idle.then_some(IDLE),
                max_parallel_spawns: spec.max_parallel_spawns,
                ..PoolConfig::new(spec.max_pool_size)
            },
        );
        let add = |i: usize| {
            let g = &spec.groups[i];
            let root = format!("/apps/g{i}");
            pool.add_group(GroupConfig {
                name: root.clone(),
                min_instances: g.min_instances,
                max_queue: g.max_queue,
                max_instances: g.max_instances,
                resist_deployment_errors: g.resist_deployment_errors,
                ..GroupConfig::new(SpawnOptions::generic(root, "true"))
            })
        };
        let groups = [add(0), add(1)];
        Harness {
            spec,
            fake,
            pool,
            groups,
            held: Vec::new(),
            pending: Vec::new(),
            oob: Vec::new(),
            known_ids: Vec::new(),
            started: [false; 2],
            trace: std::env::var_os(TRACE_ENV).is_some(),
            oob_excused: [false; 2],
        }
    }

    async fn run(&mut self, ops: &[Op]) -> Result<(), TestCaseError> {
        bump(&STAT_CASES);
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Checkout { group, sticky } => self.checkout(group, sticky),
                Op::Release(k) => {
                    if !self.held.is_empty() {
                        let k = k % self.held.len();
                        drop(self.held.remove(k));
                    }
                }
                Op::CompleteSpawns(n) => self.fake.0.gate.add_permits(n),
                Op::FailNextSpawn => self.fake.failures().push_back("scripted failure".into()),
                Op::Restart { group, rolling } => {
                    self.pool.restart_with(self.groups[group], rolling)
                }
                Op::AdvanceTime(secs) => {
                    for _ in 0..secs {
                        tokio::time::advance(Duration::from_secs(1)).await;
                        settle().await;
                    }
                }
                Op::KillProcess(k) => {
                    let snap = self.pool.snapshot();
                    if let Some(pid) = self.fake.crash(k) {
                        bump(&STAT_CRASHES);
                        for (g, group) in snap.iter().enumerate() {
                            if group.processes.iter().any(|p| p.pid == pid)
                                && group.processes.iter().any(|p| p.oob)
                            {
                                self.oob_excused[g] = true;
                            }
                        }
                    }
                }
                Op::OobWork(k) => {
                    if !self.held.is_empty() {
                        let session = self.held.remove(k % self.held.len());
                        let id = session.sticky_id();
                        self.oob
                            .push((id, tokio::spawn(session.out_of_band_work())));
                    }
                }
            }
            let ctx = Ctx {
                stage: "run",
                ops,
                done: i + 1,
            };
            self.observe(&ctx).await?;
        }
        self.finish(ops).await
    }

    /// Starts a checkout task for `group`, with the sticky id picked by `sticky`: an index into
    /// the ids of the processes in the pool now, then those seen before.
    fn checkout(&mut self, group: usize, sticky: Option<usize>) {
        let snap = self.pool.snapshot();
        let mut candidates: Vec<u64> = snap
            .iter()
            .flat_map(|g| g.processes.iter().map(|p| p.sticky_id))
            .collect();
        candidates.sort_unstable();
        candidates.extend(
            self.known_ids
                .iter()
                .filter(|id| !candidates.contains(id))
                .collect::<Vec<_>>(),
        );
        let sticky = sticky.and_then(|k| candidates.get(k % candidates.len().max(1)).copied());
        let sticky_binding = sticky.is_some_and(|id| binding(&snap[group], id));
        self.started[group] = true;
        let pool = self.pool.clone();
        let gid = self.groups[group];
        let handle = tokio::spawn(async move { pool.checkout_sticky(gid, sticky).await });
        self.pending.push(PendingCheckout {
            group,
            sticky,
            sticky_binding,
            queued_before: snap[group].queued,
            handle,
        });
    }

    /// Lets the runtime settle, collects finished tasks and checks the invariants.
    async fn observe(&mut self, ctx: &Ctx<'_>) -> Result<(), TestCaseError> {
        settle().await;
        let snap = self.pool.snapshot();

        // Property 6, bookkeeping: a sticky request stops being bound to its process once the
        // process is seen detached, gone or busy with out-of-band work.
        for p in &mut self.pending {
            if let Some(id) = p.sticky {
                if p.sticky_binding && !binding(&snap[p.group], id) {
                    p.sticky_binding = false;
                }
            }
        }

        // Finished checkouts.
        let mut i = 0;
        while i < self.pending.len() {
            if !self.pending[i].handle.is_finished() {
                i += 1;
                continue;
            }
            let p = self.pending.remove(i);
            let result = p
                .handle
                .await
                .map_err(|e| TestCaseError::fail(format!("{ctx}: checkout task failed: {e}")))?;
            let max_queue = self.spec.groups[p.group].max_queue;
            match result {
                Ok(session) => {
                    bump(&STAT_SESSIONS);
                    if let (Some(id), true) = (p.sticky, p.sticky_binding) {
                        bump(&STAT_STICKY_CHECKED);
                        prop_assert_eq!(
                            session.sticky_id(),
                            id,
                            "{}: property 6: a request for sticky id {} of group {} got process \
                             {} although {} stayed enabled; snapshot {:#?}",
                            ctx,
                            id,
                            p.group,
                            session.sticky_id(),
                            id,
                            snap
                        );
                    }
                    self.held.push(session);
                }
                Err(CheckoutError::QueueFull { queued, limit, .. }) => {
                    bump(&STAT_QUEUE_FULL);
                    prop_assert!(
                        queued == limit && limit == max_queue && p.queued_before == max_queue,
                        "{}: property 3: QueueFull {{ queued: {}, limit: {} }} for group {} with \
                         max_queue {} and {} queued when the request arrived",
                        ctx,
                        queued,
                        limit,
                        p.group,
                        max_queue,
                        p.queued_before
                    );
                }
                Err(error) => {
                    bump(&STAT_OTHER_ERRORS);
                    // No queue time limit and no shutdown yet: only spawn errors are expected.
                    prop_assert!(
                        matches!(error, CheckoutError::Spawn(_)),
                        "{}: unexpected error for a request to group {}: {}",
                        ctx,
                        p.group,
                        error
                    );
                }
            }
        }
        // The other half of property 3: a request that found room in the queue was not turned
        // away for a full queue (checked above for errors), and one that found the queue full
        // was not queued.
        for p in &self.pending {
            let max_queue = self.spec.groups[p.group].max_queue;
            prop_assert!(
                p.queued_before < max_queue,
                "{}: property 3: a request to group {} was queued although {} requests (the \
                 limit) were queued when it arrived",
                ctx,
                p.group,
                p.queued_before
            );
        }

        // Finished out-of-band work requests.
        let mut i = 0;
        while i < self.oob.len() {
            if !self.oob[i].1.is_finished() {
                i += 1;
                continue;
            }
            let (_, handle) = self.oob.remove(i);
            let result = handle
                .await
                .map_err(|e| TestCaseError::fail(format!("{ctx}: oob task failed: {e}")))?;
            if let Some(session) = result {
                bump(&STAT_OOB_GRANTED);
                self.held.push(session);
            }
        }

        for id in snap
            .iter()
            .flat_map(|g| g.processes.iter().map(|p| p.sticky_id))
        {
            if !self.known_ids.contains(&id) {
                self.known_ids.push(id);
            }
        }
        if self.trace {
            eprintln!("{}", Trace(ctx, &snap, &self.held));
        }
        self.check_snapshot(ctx, &snap)?;
        for (g, group) in snap.iter().enumerate() {
            if !group.processes.iter().any(|p| p.oob) {
                self.oob_excused[g] = false;
            }
        }
        Ok(())
    }

    fn check_snapshot(&self, ctx: &Ctx<'_>, snap: &[GroupSnapshot]) -> Result<(), TestCaseError> {
        // Property 1.
        let used: usize = snap.iter().map(|g| enabled_count(g) + g.spawning).sum();
        prop_assert!(
            used <= self.spec.max_pool_size,
            "{}: property 1: {} enabled + spawning processes in a pool of {}: {:#?}",
            ctx,
            used,
            self.spec.max_pool_size,
            snap
        );

        for (g, group) in snap.iter().enumerate() {
            // Property 2.
            let waiting = self.pending.iter().filter(|p| p.group == g).count();
            prop_assert_eq!(
                waiting,
                group.queued,
                "{}: property 2: group {} has {} unanswered requests but {} queued: {:#?}",
                ctx,
                g,
                waiting,
                group.queued,
                snap
            );
            // Property 3.
            prop_assert!(
                group.queued <= self.spec.groups[g].max_queue,
                "{}: property 3: group {} queues {} > max_queue {}",
                ctx,
                g,
                group.queued,
                self.spec.groups[g].max_queue
            );
            // Property 7.
            let oob = group.processes.iter().filter(|p| p.oob).count();
            prop_assert!(
                oob <= 1,
                "{}: property 7: group {} has {} processes doing out-of-band work: {:#?}",
                ctx,
                g,
                oob,
                group
            );
            let enabled = enabled_count(group);
            let routable = group
                .processes
                .iter()
                .filter(|p| !p.detached && !p.oob)
                .count();
            // While out-of-band work lasts, some other enabled process still takes requests
            // (crashes excused, which nothing can prevent).
            if !self.oob_excused[g] {
                prop_assert!(
                    enabled == 0 || routable > 0,
                    "{}: property 7: every enabled process of group {} does out-of-band work: \
                     {:#?}",
                    ctx,
                    g,
                    group
                );
            }
        }

        // Property 4, during the run.
        let record = self.fake.record();
        for (g, group) in snap.iter().enumerate() {
            for p in &group.processes {
                prop_assert!(
                    !record.exited.contains(&p.pid),
                    "{}: property 4: process {} of group {} has exited but is still in the pool: \
                     {:#?}",
                    ctx,
                    p.pid,
                    g,
                    snap
                );
                // A parked process waits for its replacement (rolling restart at a limit) and
                // is stopped once that is up; see `Group::parked`.
                if p.detached && !p.parked && p.sessions == 0 {
                    prop_assert!(
                        record.stop_requested.contains(&p.pid),
                        "{}: property 4: detached process {} of group {} has no session but was \
                         not asked to stop: {:#?}",
                        ctx,
                        p.pid,
                        g,
                        snap
                    );
                }
                let held = self
                    .held
                    .iter()
                    .filter(|s| s.sticky_id() == p.sticky_id)
                    .count()
                    + self.oob.iter().filter(|(id, _)| *id == p.sticky_id).count();
                prop_assert_eq!(
                    p.sessions,
                    held,
                    "{}: property 4: process {} of group {} counts {} sessions, the test holds {}: \
                     {:#?}",
                    ctx,
                    p.pid,
                    g,
                    p.sessions,
                    held,
                    snap
                );
            }
        }
        for pid in record.live.keys() {
            prop_assert!(
                snap.iter()
                    .any(|g| g.processes.iter().any(|p| p.pid == *pid)),
                "{}: property 4: process {} is alive but the pool does not know it (stop asked: \
                 {}): {:#?}",
                ctx,
                pid,
                record.stop_requested.contains(pid),
                snap
            );
        }
        Ok(())
    }

    /// Gives back every session until none comes back (waiters served, out-of-band work granted).
    async fn drain(&mut self, ctx: &Ctx<'_>) -> Result<(), TestCaseError> {
        for _ in 0..20 {
            self.held.clear();
            self.observe(ctx).await?;
            if self.held.is_empty() && self.oob.is_empty() {
                return Ok(());
            }
        }
        prop_assert!(
            false,
            "{}: sessions keep coming back: {} held, {} out-of-band requests",
            ctx,
            self.held.len(),
            self.oob.len()
        );
        Ok(())
    }

    /// Checks out a session on `group` and gives it back.
    async fn poke(&mut self, group: usize, ctx: &Ctx<'_>) -> Result<(), TestCaseError> {
        self.checkout(group, None);
        self.observe(ctx).await?;
        self.drain(ctx).await
    }

    /// Lets `secs` seconds pass, one at a time.
    async fn pass(&mut self, secs: u64, ctx: &Ctx<'_>) -> Result<(), TestCaseError> {
        for _ in 0..secs {
            tokio::time::advance(Duration::from_secs(1)).await;
            settle().await;
        }
        self.observe(ctx).await
    }

    /// The final phase: everything given back, spawns succeed, time passes; then properties 8
    /// and 5, and the leak checks of 4 around a shutdown.
    async fn finish(&mut self, ops: &[Op]) -> Result<(), TestCaseError> {
        let ctx = |stage| Ctx {
            stage,
            ops,
            done: ops.len(),
        };
        self.fake.failures().clear();
        self.fake.0.gate.add_permits(100_000);
        self.drain(&ctx("final drain")).await?;
        // Past the idle time (and its cleaner's tick), and past any spawn back-off (≤ 30 s).
        let settle_time = IDLE.as_secs() * 3 + 5;
        self.pass(settle_time, &ctx("final idle")).await?;

        // Property 8. Every session has been given back, spawns succeed, processes went idle
        // and back-offs expired: no request may still wait.
        let snap = self.pool.snapshot();
        let stuck = self.pending.len();
        prop_assert!(
            stuck == 0,
            "{}: property 8: {} requests still wait with every session given back and spawns \
             succeeding: {:#?}",
            ctx("final liveness"),
            stuck,
            snap
        );
        self.drain(&ctx("final liveness")).await?;
        self.pass(settle_time, &ctx("final idle")).await?;

        // Property 5. With nothing queued and every process idle past the idle time (so each
        // group is down to min_instances, or below it), one more request (given back at once)
        // to each started group with min_instances > 0 that is not resisting a deployment error
        // must bring it to `need` = min(min_instances, max_instances) enabled processes, provided
        // the pool has room for that: with `have` the enabled processes of each group before
        // these requests, Σ over eligible groups of max(have, need) + Σ over the others of
        // have ≤ max_pool_size. (When the shared cap is short, Ferry, like Passenger, only frees
        // room for a group with no process at all, so min_instances is not promised then.)
        let before = self.pool.snapshot();
        let eligible: Vec<bool> = (0..2)
            .map(|g| {
                self.started[g]
                    && !before[g].resisting_deployment_error
                    && self.spec.groups[g].min_instances > 0
            })
            .collect();
        let need: Vec<usize> = (0..2)
            .map(|g| {
                let spec = &self.spec.groups[g];
                spec.min_instances
                    .min(spec.max_instances.unwrap_or(usize::MAX))
            })
            .collect();
        let have: Vec<usize> = before.iter().map(enabled_count).collect();
        let room_needed: usize = (0..2)
            .map(|g| {
                if eligible[g] {
                    have[g].max(need[g])
                } else {
                    have[g]
                }
            })
            .sum();
        for (g, _) in eligible.iter().enumerate().filter(|(_, e)| **e) {
            self.poke(g, &ctx("final min_instances")).await?;
        }
        let after = self.pool.snapshot();
        if room_needed <= self.spec.max_pool_size {
            for (g, &eligible) in eligible.iter().enumerate() {
                if eligible {
                    bump(&STAT_MIN_CHECKED);
                    prop_assert!(
                        enabled_count(&after[g]) >= need[g],
                        "{}: property 5: group {} has {} enabled processes, min_instances {} \
                         (max_instances {:?}); before the last requests: {:#?}; after: {:#?}",
                        ctx("final min_instances"),
                        g,
                        enabled_count(&after[g]),
                        self.spec.groups[g].min_instances,
                        self.spec.groups[g].max_instances,
                        before,
                        after
                    );
                }
            }
        }

        // Property 4 at shutdown.
        self.held.clear();
        let ctx = ctx("shutdown");
        let done = tokio::time::timeout(Duration::from_secs(120), self.pool.shutdown()).await;
        prop_assert!(done.is_ok(), "{}: shutdown did not complete", ctx);
        settle().await;
        let snap = self.pool.snapshot();
        prop_assert!(
            snap.iter().all(|g| g.processes.is_empty() && g.queued == 0),
            "{}: property 4: processes left after shutdown: {:#?}",
            ctx,
            snap
        );
        let record = self.fake.record();
        STAT_SPAWNED.fetch_add(record.spawned.len(), Ordering::Relaxed);
        prop_assert!(
            record.live.is_empty() && record.spawned == record.exited,
            "{}: property 4: processes alive after shutdown: {:?} (spawned {:?}, exited {:?})",
            ctx,
            record.live.keys().collect::<Vec<_>>(),
            record.spawned,
            record.exited
        );
        Ok(())
    }
}

fn run_case(spec: Spec, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| TestCaseError::fail(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        let mut harness = Harness::new(spec);
        harness.run(&ops).await
    })
}

#[test]
fn pool_invariants_hold_under_random_operations() {
    let mut config = Config {
        // Never write regression files into the source tree.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    let mut runner = TestRunner::new(config);
    let result = runner.run(
        &(spec(), prop::collection::vec(op(), 1..=40)),
        |(spec, ops)| run_case(spec, ops),
    );
    let stat = |s: &AtomicUsize| s.load(Ordering::Relaxed);
    eprintln!(
        "pool proptests: {} cases run, {} spawned, {} sessions, {} queue full, {} other errors, \
         {} sticky checks, {} oob granted, {} crashes, {} min_instances checks",
        stat(&STAT_CASES),
        stat(&STAT_SPAWNED),
        stat(&STAT_SESSIONS),
        stat(&STAT_QUEUE_FULL),
        stat(&STAT_OTHER_ERRORS),
        stat(&STAT_STICKY_CHECKED),
        stat(&STAT_OOB_GRANTED),
        stat(&STAT_CRASHES),
        stat(&STAT_MIN_CHECKED),
    );
    if let Err(error) = result {
        panic!("{error}");
    }
}

// === what the properties found: regression tests ===
//
// Each of these failed before the pool was fixed; the fix is named in its comment.

/// A pool over `fake` whose spawns all succeed at once, with a group per (min_instances,
/// resist_deployment_errors).
fn open_pool(
    fake: &Fake,
    max_pool_size: usize,
    idle_time: Option<Duration>,
    max_parallel_spawns: usize,
    groups: &[(usize, bool)],
) -> (Pool<u32>, Vec<GroupId>) {
    let pool = Pool::new(
        Arc::new(fake.clone()),
        PoolConfig {
            stop_grace: Duration::from_secs(5),
            idle_time,
            max_parallel_spawns,
            ..PoolConfig::new(max_pool_size)
        },
    );
    let ids = groups
        .iter()
        .enumerate()
        .map(|(i, &(min_instances, resist_deployment_errors))| {
            let root = format!("/apps/g{i}");
            pool.add_group(GroupConfig {
                name: root.clone(),
                min_instances,
                resist_deployment_errors,
                ..GroupConfig::new(SpawnOptions::generic(root, "true"))
            })
        })
        .collect();
    (pool, ids)
}

fn checkout_task(
    pool: &Pool<u32>,
    group: GroupId,
) -> JoinHandle<Result<Session<u32>, CheckoutError>> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.checkout(group).await })
}

fn enabled_of(pool: &Pool<u32>, group: usize) -> Vec<(u64, bool)> {
    pool.snapshot()[group]
        .processes
        .iter()
        .filter(|p| !p.detached)
        .map(|p| (p.sticky_id, p.oob))
        .collect()
}

/// Property 8. A request to a group with no process, made while the pool is full and nothing is
/// idle, waits in its group's queue; when capacity frees up later (the other group's process goes
/// idle, is idle-cleaned, or exits), the groups waiting for it are looked at again
/// (`State::maybe_spawn_all`), as Passenger does.
#[tokio::test(start_paused = true)]
async fn a_group_waiting_for_capacity_gets_it_when_another_group_frees_it() {
    let fake = Fake::new(Concurrency::Unlimited);
    let (pool, g) = open_pool(&fake, 1, Some(IDLE), 1, &[(0, false), (0, false)]);
    let first = checkout_task(&pool, g[0]); // spawns the pool's only process
    settle().await;
    let starved = checkout_task(&pool, g[1]); // full, nothing idle: queued
    settle().await;
    fake.0.gate.add_permits(100);
    settle().await;
    drop(first.await.expect("join").expect("session"));
    // g0's process is idle, then idle-cleaned: the pool is empty.
    tokio::time::sleep(IDLE * 3).await;
    settle().await;
    assert!(
        starved.is_finished(),
        "the request to g1 still waits in an empty pool: {:#?}",
        pool.snapshot()
    );
}

/// Property 8. A group resisting a deployment error spawns nothing while it has old processes;
/// when they are all gone (crash, abort, memory limit, ...), there is nothing left to resist
/// with, and a request spawns (and gets the spawn error if the app is still broken) instead of
/// waiting forever.
#[tokio::test(start_paused = true)]
async fn a_resisting_group_with_no_process_left_spawns_again() {
    let fake = Fake::new(Concurrency::Unlimited);
    fake.0.gate.add_permits(100);
    let (pool, g) = open_pool(&fake, 2, None, 1, &[(1, true)]);
    drop(pool.checkout(g[0]).await.expect("session"));
    settle().await;
    fake.failures().push_back("syntax error".into());
    pool.restart_with(g[0], true);
    settle().await;
    assert!(pool.snapshot()[0].resisting_deployment_error);
    // The old process crashes.
    assert!(fake.crash(0).is_some());
    settle().await;
    let request = checkout_task(&pool, g[0]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        request.is_finished(),
        "the request still waits a minute later: {:#?}",
        pool.snapshot()
    );
}

/// Property 7. Out-of-band work starts only while another process of the group takes requests,
/// and that stays true while it lasts: making room for another group (`State::free_capacity`),
/// the idle cleaner and a rolling restart never take the last process that takes requests
/// (`Group::may_retire`).
#[tokio::test(start_paused = true)]
async fn oob_work_keeps_the_last_other_process_when_another_group_needs_room() {
    let fake = Fake::new(Concurrency::Unlimited);
    fake.0.gate.add_permits(100);
    let (pool, g) = open_pool(&fake, 2, None, 1, &[(2, false), (0, false)]);
    let session = pool.checkout(g[0]).await.expect("session");
    settle().await; // min_instances: a second process
    assert_eq!(enabled_of(&pool, 0).len(), 2);
    let work = session
        .out_of_band_work()
        .await
        .expect("another process takes requests");
    // g1's first request: the pool is full, so g0's idle process is stopped to make room.
    let _other = checkout_task(&pool, g[1]);
    settle().await;
    let waiting = checkout_task(&pool, g[0]);
    settle().await;
    assert!(
        waiting.is_finished(),
        "g0's request must not wait for the out-of-band work: g0 = {:?}",
        enabled_of(&pool, 0)
    );
    drop(work);
}

/// Property 7 again, through the idle cleaner: the process doing out-of-band work holds a
/// session; the group's other (idle) process is the last one taking requests, so it stays.
#[tokio::test(start_paused = true)]
async fn oob_work_keeps_the_last_other_process_through_idle_cleaning() {
    let fake = Fake::new(Concurrency::Limited(NonZeroUsize::MIN));
    fake.0.gate.add_permits(100);
    let (pool, g) = open_pool(&fake, 3, Some(IDLE), 1, &[(0, false)]);
    let a = pool.checkout(g[0]).await.expect("a");
    let b = checkout_task(&pool, g[0]).await.expect("join").expect("b");
    drop(b);
    let work = a
        .out_of_band_work()
        .await
        .expect("another process takes requests");
    tokio::time::sleep(IDLE * 3).await;
    settle().await;
    let routable = enabled_of(&pool, 0).iter().filter(|(_, oob)| !oob).count();
    assert!(
        routable > 0,
        "no process of g0 takes requests during its out-of-band work: {:?}",
        enabled_of(&pool, 0)
    );
    drop(work);
}

/// Found while tracing property 7: at a full pool (or at `max_instances`) a rolling restart
/// must make room for the replacement. It parks the old process (`Group::parked`) instead of
/// stopping it, so that when the spawn fails and deployment errors are resisted, the old process
/// comes back and keeps serving.
#[tokio::test(start_paused = true)]
async fn resisting_a_deployment_error_at_a_full_pool_keeps_the_old_process() {
    let fake = Fake::new(Concurrency::Unlimited);
    fake.0.gate.add_permits(100);
    let (pool, g) = open_pool(&fake, 1, None, 1, &[(1, true)]);
    let old = pool.checkout(g[0]).await.expect("session").sticky_id();
    settle().await;
    // The new version is broken: every spawn of it fails.
    for _ in 0..10 {
        fake.failures().push_back("syntax error".into());
    }
    pool.restart_with(g[0], true);
    settle().await;
    let snap = pool.snapshot();
    let served = pool.checkout(g[0]).await.map(|s| s.sticky_id());
    assert!(
        snap[0].resisting_deployment_error && matches!(served, Ok(id) if id == old),
        "the old process should keep serving; got {:?} and {snap:#?}",
        served.map_err(|e| e.to_string())
    );
}

/// Found by property 5: with `max_parallel_spawns` > 1, a group with no process and a deep queue
/// frees capacity only for its first spawn, never by stopping another group's process for a
/// second, parallel one (as in Passenger: only a group with neither a process nor a spawn in
/// progress frees capacity).
#[tokio::test(start_paused = true)]
async fn a_parallel_spawn_does_not_evict_another_group_below_min_instances() {
    let fake = Fake::new(Concurrency::Unlimited);
    fake.0.gate.add_permits(1);
    let (pool, g) = open_pool(&fake, 2, None, 2, &[(1, false), (1, false)]);
    drop(pool.checkout(g[0]).await.expect("session"));
    settle().await;
    assert_eq!(enabled_of(&pool, 0).len(), 1);
    // Two requests to g1: one spawn fits, the second is parallel and the pool is full.
    let _a = checkout_task(&pool, g[1]);
    let _b = checkout_task(&pool, g[1]);
    settle().await;
    assert_eq!(
        enabled_of(&pool, 0).len(),
        1,
        "g0 went below min_instances: {:#?}",
        pool.snapshot()
    );
}

/// Found alongside property 8: a request queued while the group backs off (it has a process,
/// busy) whose process then exits is served when the back-off ends (`Action::Wake`), without
/// waiting for another request to the group.
#[tokio::test(start_paused = true)]
async fn a_request_queued_during_a_spawn_back_off_is_served_when_it_ends() {
    let fake = Fake::new(Concurrency::Limited(NonZeroUsize::MIN));
    fake.0.gate.add_permits(100);
    let (pool, g) = open_pool(&fake, 2, None, 1, &[(0, false)]);
    let busy = pool.checkout(g[0]).await.expect("session");
    // Two failed spawns: the second starts a back-off of 1 s.
    for _ in 0..2 {
        fake.failures().push_back("flaky".into());
        let err = pool.checkout(g[0]).await.expect_err("spawn failed");
        assert!(matches!(err, CheckoutError::Spawn(_)), "{err}");
    }
    let queued = checkout_task(&pool, g[0]);
    settle().await;
    assert_eq!(pool.snapshot()[0].queued, 1);
    // The busy process crashes; the back-off ends a second later.
    assert!(fake.crash(0).is_some());
    tokio::time::sleep(Duration::from_secs(10)).await;
    settle().await;
    assert!(
        queued.is_finished(),
        "the request still waits 10 s later in a pool with room: {:#?}",
        pool.snapshot()
    );
    drop(busy);
}
