//! Pool behaviour against a fake spawner: no processes, scripted outcomes.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use ferry_spawn::{
    Category, ExitInfo, Journey, ProcessHandle, ProcessRequest, SpawnError, SpawnOptions, Spawned,
    Spawner, Step,
};
use tokio::sync::Semaphore;

use super::*;

/// A spawner whose processes are stubs that exit when asked to stop.
#[derive(Debug, Clone)]
struct FakeSpawner(Arc<FakeState>);

impl std::ops::Deref for FakeSpawner {
    type Target = FakeState;
    fn deref(&self) -> &FakeState {
        &self.0
    }
}

#[derive(Debug)]
struct FakeState {
    concurrency: Concurrency,
    next_pid: AtomicU32,
    /// Scripted failures, consumed one per spawn before successes.
    failures: StdMutex<VecDeque<String>>,
    /// Each spawn takes one permit before it completes, so a test decides when spawns finish.
    gate: Arc<Semaphore>,
    stops: StdMutex<Vec<(u32, StopMode)>>,
    /// The pids asked for their backtraces, once per request heard.
    backtraces: StdMutex<Vec<u32>>,
}

use ferry_spawn::Concurrency;

impl FakeSpawner {
    fn new(concurrency: Concurrency) -> Self {
        FakeSpawner(Arc::new(FakeState {
            concurrency,
            next_pid: AtomicU32::new(100),
            failures: StdMutex::new(VecDeque::new()),
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            stops: StdMutex::new(Vec::new()),
            backtraces: StdMutex::new(Vec::new()),
        }))
    }

    fn gated(concurrency: Concurrency) -> Self {
        let fake = FakeSpawner::new(concurrency);
        fake.gate.forget_permits(Semaphore::MAX_PERMITS);
        fake
    }
}

impl Spawner for FakeSpawner {
    async fn spawn(&self, _options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        if let Some(summary) = self.failures.lock().unwrap().pop_front() {
            let error = SpawnError::new(
                Category::Internal,
                Step::HandshakePerform,
                summary,
                Journey::spawn_directly(),
            );
            return Err(error);
        }
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        let (handle, mut stub) = ProcessHandle::stub(pid);
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(ProcessRequest::Backtraces) = stub.next_request().await {
                me.backtraces.lock().unwrap().push(pid);
            }
            if let Some(mode) = stub.stop_requested() {
                me.stops.lock().unwrap().push((pid, mode));
            }
            stub.exit(ExitInfo {
                code: Some(0),
                signal: None,
            });
        });
        Ok(Spawned {
            endpoint: ferry_spawn::Endpoint::Tcp(([127, 0, 0, 1], 1).into()),
            protocol: ferry_spawn::Protocol::Http,
            concurrency: self.concurrency,
            connect_password: "test".into(),
            peer_uid: None,
            handle,
            journey: Journey::spawn_directly(),
        })
    }

    async fn shutdown(&self) {}
}

fn one() -> Concurrency {
    Concurrency::Limited(NonZeroUsize::MIN)
}

fn pool(spawner: &FakeSpawner, max: usize, queue: usize) -> (Pool<u32>, GroupId) {
    let pool = Pool::new(
        Arc::new(spawner.clone()),
        PoolConfig {
            stop_grace: Duration::from_secs(5),
            idle_time: None,
            ..PoolConfig::new(max)
        },
    );
    let group = pool.add_group(GroupConfig {
        name: "/apps/test".into(),
        max_queue: queue,
        ..GroupConfig::new(SpawnOptions::generic("/apps/test", "true"))
    });
    (pool, group)
}

fn pids(pool: &Pool<u32>) -> Vec<(u32, bool)> {
    pool.snapshot()[0]
        .processes
        .iter()
        .map(|p| (p.pid, p.detached))
        .collect()
}

/// Lets spawned tasks run until the pool is quiet.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn first_checkout_spawns_a_process() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 1, 100);
    let session = pool.checkout(group).await.expect("session");
    assert_eq!(session.pid(), 100);
    drop(session);
    let again = pool.checkout(group).await.expect("session");
    assert_eq!(again.pid(), 100, "an idle process is reused");
}

#[tokio::test]
async fn a_busy_process_makes_the_pool_grow_up_to_its_limit() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 2, 100);
    let a = pool.checkout(group).await.expect("a");
    let b = pool.checkout(group).await.expect("b");
    assert_ne!(a.pid(), b.pid());
    // Full pool, both busy: the third waits until one is released.
    let third = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout(group).await.map(|s| s.pid()) }
    });
    settle().await;
    assert!(!third.is_finished());
    assert_eq!(pool.snapshot()[0].queued, 1);
    let a_pid = a.pid();
    drop(a);
    assert_eq!(third.await.expect("join").expect("session"), a_pid);
    assert_eq!(pids(&pool).len(), 2, "never more than max_pool_size");
}

#[tokio::test]
async fn unlimited_concurrency_grows_when_every_process_is_busy() {
    let spawner = FakeSpawner::new(Concurrency::Unlimited);
    let (pool, group) = pool(&spawner, 2, 100);
    let a = pool.checkout(group).await.expect("a");
    settle().await;
    // b arrives while a's process is busy: it is served there at once, and a second process is
    // started for what comes next.
    let b = pool.checkout(group).await.expect("b");
    assert_eq!(b.pid(), a.pid());
    settle().await;
    assert_eq!(pids(&pool).len(), 2);
    // Least busy first: c goes to the new process.
    let c = pool.checkout(group).await.expect("c");
    assert_ne!(c.pid(), a.pid());
    let fourth = pool.checkout(group).await.expect("never queued: no limit");
    drop((a, b, c, fourth));
    assert_eq!(pids(&pool).len(), 2);
}

#[tokio::test]
async fn a_full_queue_rejects_with_its_limit() {
    let spawner = FakeSpawner::gated(one());
    let (pool, group) = pool(&spawner, 1, 2);
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.checkout(group).await.map(|s| s.pid()) })
        })
        .collect();
    settle().await;
    let err = pool.checkout(group).await.expect_err("queue full");
    assert!(
        matches!(
            err,
            CheckoutError::QueueFull {
                queued: 2,
                limit: 2,
                ..
            }
        ),
        "{err}"
    );
    spawner.gate.add_permits(1);
    for w in waiting {
        assert_eq!(w.await.expect("join").expect("session"), 100);
    }
}

#[tokio::test]
async fn a_spawn_failure_reaches_every_waiting_request() {
    let spawner = FakeSpawner::gated(one());
    spawner
        .failures
        .lock()
        .unwrap()
        .push_back("the app exploded".into());
    let (pool, group) = pool(&spawner, 1, 100);
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.checkout(group).await.map(|s| s.pid()) })
        })
        .collect();
    settle().await;
    spawner.gate.add_permits(10);
    for w in waiting {
        let err = w.await.expect("join").expect_err("spawn failed");
        assert_eq!(
            err.spawn_error().map(SpawnError::summary),
            Some("the app exploded")
        );
    }
    // The next request tries again.
    assert_eq!(pool.checkout(group).await.expect("second try").pid(), 100);
}

#[tokio::test]
async fn restart_lets_sessions_finish_on_old_processes_and_sends_new_ones_to_new_processes() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 1, 100);
    let old = pool.checkout(group).await.expect("old");
    pool.restart(group);
    let new = pool.checkout(group).await.expect("new");
    assert_ne!(old.pid(), new.pid());
    assert!(
        spawner.stops.lock().unwrap().is_empty(),
        "busy old process keeps running"
    );
    let old_pid = old.pid();
    drop(old);
    settle().await;
    assert_eq!(
        spawner.stops.lock().unwrap().first().map(|s| s.0),
        Some(old_pid)
    );
    assert_eq!(
        pids(&pool),
        vec![(new.pid(), false)],
        "the old process left the pool"
    );
}

#[tokio::test]
async fn a_failed_process_is_detached_and_replaced() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 1, 100);
    let mut s = pool.checkout(group).await.expect("s");
    let bad = s.pid();
    s.process_failed();
    drop(s);
    let next = pool.checkout(group).await.expect("next");
    assert_ne!(next.pid(), bad);
}

#[tokio::test]
async fn idle_connections_are_kept_per_process_and_dropped_on_retirement() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 1, 100);
    let s = pool.checkout(group).await.expect("s");
    s.put_connection(7);
    drop(s);
    let s = pool.checkout(group).await.expect("s");
    assert_eq!(s.take_connection(), Some(7));
    s.put_connection(8);
    pool.restart(group);
    assert_eq!(
        s.take_connection(),
        None,
        "retired process keeps no connections"
    );
}

#[tokio::test]
async fn shutdown_fails_waiters_and_stops_every_process() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 1, 100);
    let held = pool.checkout(group).await.expect("held");
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout(group).await.map(|s| s.pid()) }
    });
    settle().await;
    let stopping = tokio::spawn({
        let pool = pool.clone();
        async move { pool.shutdown().await }
    });
    let err = waiter.await.expect("join").expect_err("shutting down");
    assert!(matches!(err, CheckoutError::ShuttingDown));
    drop(held);
    stopping.await.expect("shutdown completes");
    assert_eq!(spawner.stops.lock().unwrap().len(), 1);
    assert!(pids(&pool).is_empty());
    assert!(matches!(
        pool.checkout(group).await,
        Err(CheckoutError::ShuttingDown)
    ));
}

fn pool_with(
    spawner: &FakeSpawner,
    max: usize,
    idle_time: Option<Duration>,
    min_instances: usize,
    max_queue_time: Option<Duration>,
) -> (Pool<u32>, GroupId) {
    pool_limits(
        spawner,
        max,
        idle_time,
        min_instances,
        max_queue_time,
        None,
        None,
    )
}

fn pool_limits(
    spawner: &FakeSpawner,
    max: usize,
    idle_time: Option<Duration>,
    min_instances: usize,
    max_queue_time: Option<Duration>,
    max_instances: Option<usize>,
    max_requests: Option<u64>,
) -> (Pool<u32>, GroupId) {
    let pool = Pool::new(
        Arc::new(spawner.clone()),
        PoolConfig {
            stop_grace: Duration::from_secs(5),
            idle_time,
            ..PoolConfig::new(max)
        },
    );
    let group = pool.add_group(GroupConfig {
        name: "/apps/test".into(),
        min_instances,
        max_queue_time,
        max_instances,
        max_requests,
        ..GroupConfig::new(SpawnOptions::generic("/apps/test", "true"))
    });
    (pool, group)
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_past_the_queue_time_is_turned_away() {
    let spawner = FakeSpawner::gated(one());
    let (pool, group) = pool_with(&spawner, 1, None, 1, Some(Duration::from_secs(3)));
    // Nothing can be spawned (the gate is shut): the request waits, then gives up.
    let err = pool.checkout(group).await.expect_err("timed out");
    assert!(
        matches!(err, CheckoutError::QueueTimeout { queued: 0, .. }),
        "{err}"
    );
    // Its place in the queue is gone: the next request is the only one waiting.
    spawner.gate.add_permits(1);
    let session = pool.checkout(group).await.expect("session");
    assert_eq!(session.pid(), 100);
}

#[tokio::test(start_paused = true)]
async fn idle_processes_go_down_to_min_instances_and_no_further() {
    let spawner = FakeSpawner::new(one());
    let idle = Duration::from_secs(10);
    let (pool, group) = pool_with(&spawner, 3, Some(idle), 1, None);
    // Three sessions at once: three processes.
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let pool = pool.clone();
        sessions.push(tokio::spawn(async move { pool.checkout(group).await }));
        settle().await;
    }
    let sessions: Vec<_> = futures_join(sessions).await;
    assert_eq!(pool.snapshot()[0].processes.len(), 3);
    drop(sessions);
    // Not yet idle long enough.
    tokio::time::sleep(idle / 2).await;
    settle().await;
    assert_eq!(
        pool.snapshot()[0]
            .processes
            .iter()
            .filter(|p| !p.detached)
            .count(),
        3
    );
    // Past the idle time: down to min_instances, however long it stays idle.
    tokio::time::sleep(idle * 3).await;
    settle().await;
    let snapshot = pool.snapshot();
    assert_eq!(
        snapshot[0].processes.iter().filter(|p| !p.detached).count(),
        1
    );
    assert_eq!(spawner.stops.lock().unwrap().len(), 2);
}

async fn futures_join<T>(
    handles: Vec<tokio::task::JoinHandle<Result<T, CheckoutError>>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("join").expect("session"));
    }
    out
}

#[tokio::test]
async fn max_instances_caps_the_group_below_the_pool_size() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool_limits(
        &spawner,
        6,
        None,
        1,
        Some(Duration::from_millis(200)),
        Some(2),
        None,
    );
    let a = pool.checkout(group).await.expect("first");
    let b = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.checkout(group).await })
    };
    let b = b.await.expect("join").expect("second process");
    assert_ne!(a.pid(), b.pid());
    // A third request finds both busy and may not add a process: it waits, then times out.
    let err = pool.checkout(group).await.expect_err("capped");
    assert!(matches!(err, CheckoutError::QueueTimeout { .. }), "{err}");
    assert_eq!(pool.snapshot()[0].processes.len(), 2);
}

#[tokio::test]
async fn a_process_is_replaced_after_max_requests() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool_limits(&spawner, 1, None, 1, None, None, Some(3));
    for _ in 0..3 {
        assert_eq!(pool.checkout(group).await.expect("session").pid(), 100);
    }
    // The third request wore it out: the next one gets a new process.
    assert_eq!(pool.checkout(group).await.expect("session").pid(), 101);
    settle().await;
    assert_eq!(
        spawner.stops.lock().unwrap().first().map(|s| s.0),
        Some(100)
    );
}

/// A pool of one group, both configured by the caller from the test defaults.
fn pool_cfg(
    spawner: &FakeSpawner,
    pool_config: impl FnOnce(&mut PoolConfig),
    group_config: impl FnOnce(&mut GroupConfig),
) -> (Pool<u32>, GroupId) {
    let mut pc = PoolConfig {
        stop_grace: Duration::from_secs(5),
        idle_time: None,
        ..PoolConfig::new(4)
    };
    pool_config(&mut pc);
    let mut gc = GroupConfig {
        name: "/apps/test".into(),
        ..GroupConfig::new(SpawnOptions::generic("/apps/test", "true"))
    };
    group_config(&mut gc);
    let pool = Pool::new(Arc::new(spawner.clone()), pc);
    let group = pool.add_group(gc);
    (pool, group)
}

/// Checks out `n` sessions at once (each on its own process when concurrency is 1).
async fn hold_n(pool: &Pool<u32>, group: GroupId, n: usize) -> Vec<Session<u32>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.checkout(group).await })
        })
        .collect();
    futures_join(tasks).await
}

fn enabled(pool: &Pool<u32>) -> Vec<u32> {
    pool.snapshot()[0]
        .processes
        .iter()
        .filter(|p| !p.detached)
        .map(|p| p.pid)
        .collect()
}

#[tokio::test]
async fn a_rolling_restart_spawns_first_retires_one_old_process_per_new_one_and_prefers_the_new() {
    let spawner = FakeSpawner::gated(one());
    spawner.gate.add_permits(2);
    let (pool, group) = pool_cfg(&spawner, |_| {}, |g| g.min_instances = 2);
    drop(hold_n(&pool, group, 2).await);
    assert_eq!(enabled(&pool), vec![100, 101]);

    pool.restart_with(group, true);
    let snap = &pool.snapshot()[0];
    assert_eq!((snap.spawning, snap.rolling_restart_pending), (1, 2));
    // Until a new process is up, the old ones serve: nothing queues.
    let s = pool.checkout(group).await.expect("old process serves");
    assert!([100, 101].contains(&s.pid()));
    drop(s);

    spawner.gate.add_permits(1);
    poll(|| enabled(&pool).contains(&102)).await;
    assert_eq!(
        enabled(&pool).len(),
        2,
        "one old process made way: {:?}",
        enabled(&pool)
    );
    // The new process is preferred even though the old one was used less recently.
    let s = pool.checkout(group).await.expect("session");
    assert_eq!(s.pid(), 102, "newest generation first");
    // Newest saturated: the old one takes the overflow rather than the request waiting.
    let overflow = pool.checkout(group).await.expect("fallback");
    assert!([100, 101].contains(&overflow.pid()));
    drop((s, overflow));

    spawner.gate.add_permits(1);
    poll(|| enabled(&pool) == vec![102, 103]).await;
    let snap = &pool.snapshot()[0];
    assert_eq!(snap.rolling_restart_pending, 0);
    assert!(snap
        .processes
        .iter()
        .all(|p| p.detached || p.generation == 1));
    settle().await;
    let mut stopped: Vec<u32> = spawner.stops.lock().unwrap().iter().map(|s| s.0).collect();
    stopped.sort_unstable();
    assert_eq!(stopped, vec![100, 101], "every old process stopped");
}

#[tokio::test]
async fn a_rolling_restart_at_the_pool_limit_retires_before_it_spawns() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool_cfg(&spawner, |p| p.max_pool_size = 2, |g| g.min_instances = 2);
    drop(hold_n(&pool, group, 2).await);
    pool.restart_with(group, true);
    poll(|| enabled(&pool) == vec![102, 103]).await;
    assert!(pids(&pool).iter().filter(|p| !p.1).count() <= 2);
}

#[tokio::test]
async fn resisting_a_deployment_error_keeps_the_old_processes_until_the_next_restart() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool_cfg(
        &spawner,
        |_| {},
        |g| {
            g.min_instances = 2;
            g.resist_deployment_errors = true;
        },
    );
    drop(hold_n(&pool, group, 2).await);
    spawner
        .failures
        .lock()
        .unwrap()
        .push_back("syntax error".into());
    pool.restart_with(group, true);
    poll(|| pool.snapshot()[0].resisting_deployment_error).await;
    assert_eq!(enabled(&pool), vec![100, 101], "old processes keep serving");
    // Busy processes would normally make the pool grow; not while resisting: the third waits.
    let (a, b) = (
        pool.checkout(group).await.expect("a"),
        pool.checkout(group).await.expect("b"),
    );
    let third = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout(group).await.map(|s| s.pid()) }
    });
    settle().await;
    assert_eq!(pool.snapshot()[0].spawning, 0);
    let a_pid = a.pid();
    drop(a);
    assert_eq!(
        third
            .await
            .expect("join")
            .expect("served by an old process"),
        a_pid
    );
    drop(b);

    // Fixed: the next restart replaces them.
    pool.restart_with(group, true);
    poll(|| enabled(&pool) == vec![102, 103]).await;
    assert!(!pool.snapshot()[0].resisting_deployment_error);
}

#[tokio::test]
async fn without_resistance_a_failed_rolling_spawn_retires_its_old_process_and_goes_on() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool_cfg(&spawner, |_| {}, |g| g.min_instances = 2);
    drop(hold_n(&pool, group, 2).await);
    spawner.failures.lock().unwrap().push_back("flaky".into());
    pool.restart_with(group, true);
    // One replacement failed (its old process retired), the other succeeded.
    poll(|| {
        let e = enabled(&pool);
        e.len() == 2 && !e.contains(&100) && !e.contains(&101)
    })
    .await;
    assert_eq!(pool.snapshot()[0].rolling_restart_pending, 0);
}

#[tokio::test]
async fn a_sticky_request_waits_for_its_busy_process_while_others_go_elsewhere() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool_cfg(&spawner, |_| {}, |g| g.min_instances = 2);
    let held = hold_n(&pool, group, 2).await;
    let (a_id, a_pid) = (held[0].sticky_id(), held[0].pid());
    let b_pid = held[1].pid();
    drop(held);
    let busy = pool.checkout_sticky(group, Some(a_id)).await.expect("a");
    assert_eq!(busy.pid(), a_pid);
    let sticky = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.checkout_sticky(group, Some(a_id))
                .await
                .map(|s| s.pid())
        }
    });
    settle().await;
    assert!(
        !sticky.is_finished(),
        "waits for its process although another is idle"
    );
    assert_eq!(
        pool.snapshot()[0].spawning,
        0,
        "a new process would not serve it"
    );
    let other = pool
        .checkout(group)
        .await
        .expect("non-sticky goes to the idle process");
    assert_eq!(other.pid(), b_pid);
    drop(busy);
    assert_eq!(sticky.await.expect("join").expect("session"), a_pid);
    // An id of a process that is gone routes normally.
    drop(other);
    let s = pool
        .checkout_sticky(group, Some(9999))
        .await
        .expect("normal route");
    assert!([a_pid, b_pid].contains(&s.pid()));
}

#[tokio::test]
async fn out_of_band_work_waits_for_the_process_to_drain_and_keeps_requests_away() {
    let spawner = FakeSpawner::new(Concurrency::Limited(NonZeroUsize::new(2).unwrap()));
    let (pool, group) = pool_cfg(&spawner, |_| {}, |g| g.min_instances = 2);
    // Two processes; two sessions on the first.
    let first = pool.checkout(group).await.expect("first");
    poll(|| enabled(&pool).len() == 2).await;
    let p = first.pid();
    let second = pool
        .checkout_sticky(group, Some(first.sticky_id()))
        .await
        .expect("same");
    assert_eq!(second.pid(), p);
    let oob = tokio::spawn(first.out_of_band_work());
    settle().await;
    assert!(
        !oob.is_finished(),
        "another request still runs on the process"
    );
    let snap = pool.snapshot();
    assert!(snap[0].processes.iter().any(|x| x.pid == p && x.oob));
    // No request goes to the process meanwhile.
    let elsewhere = pool.checkout(group).await.expect("other process");
    assert_ne!(elsewhere.pid(), p);
    // One at a time: the other process may not start out-of-band work now.
    assert!(elsewhere.out_of_band_work().await.is_none());
    drop(second);
    let work = oob
        .await
        .expect("join")
        .expect("out-of-band work may start");
    assert_eq!(work.pid(), p);
    let meanwhile = pool.checkout(group).await.expect("other process");
    assert_ne!(meanwhile.pid(), p);
    drop(meanwhile);
    drop(work);
    let snap = pool.snapshot();
    assert!(snap[0].processes.iter().all(|x| !x.oob));
}

#[tokio::test]
async fn out_of_band_work_is_refused_on_the_last_process() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 1, 100);
    let s = pool.checkout(group).await.expect("s");
    assert!(s.out_of_band_work().await.is_none());
    let again = pool.checkout(group).await.expect("routable");
    assert_eq!(again.pid(), 100);
}

#[tokio::test(start_paused = true)]
async fn spawn_failures_back_off_and_answer_with_the_last_error_meanwhile() {
    let spawner = FakeSpawner::new(one());
    for _ in 0..3 {
        spawner.failures.lock().unwrap().push_back("broken".into());
    }
    let (pool, group) = pool(&spawner, 1, 100);
    pool.checkout(group).await.expect_err("first failure");
    // The first retry is immediate.
    pool.checkout(group).await.expect_err("second failure");
    let failures_left = || spawner.failures.lock().unwrap().len();
    assert_eq!(failures_left(), 1);
    // Now within the back-off: answered at once with the last error, no spawn.
    let err = pool.checkout(group).await.expect_err("backing off");
    assert_eq!(err.spawn_error().map(SpawnError::summary), Some("broken"));
    assert_eq!(failures_left(), 1, "no spawn attempted");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    pool.checkout(group).await.expect_err("third failure");
    assert_eq!(failures_left(), 0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(pool.checkout(group).await.expect("recovered").pid(), 100);
}

#[tokio::test]
async fn a_deep_queue_spawns_in_parallel_up_to_the_bound() {
    let spawner = FakeSpawner::gated(one());
    let (pool, group) = pool_cfg(&spawner, |p| p.max_parallel_spawns = 2, |_| {});
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.checkout(group).await.map(|s| s.pid()) })
        })
        .collect();
    settle().await;
    assert_eq!(pool.snapshot()[0].spawning, 2);
    spawner.gate.add_permits(10);
    for w in waiting {
        w.await.expect("join").expect("served");
    }
}

/// Polls `f` between yields until it holds (bounded).
async fn poll(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        settle().await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn detach_pid_takes_a_process_out_and_a_replacement_comes() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 2, 100);
    let session = pool.checkout(group).await.expect("session");
    let pid = session.pid();
    assert!(!pool.detach_pid(4242), "no such pid");
    assert!(pool.detach_pid(pid));
    assert_eq!(
        pids(&pool),
        vec![(pid, true)],
        "busy: finishing its request"
    );
    drop(session);
    poll(|| pids(&pool).iter().all(|(p, _)| *p != pid)).await;
    let again = pool.checkout(group).await.expect("served by a new process");
    assert_ne!(again.pid(), pid);
}

#[tokio::test]
async fn restart_by_name_finds_the_group() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 2, 100);
    drop(pool.checkout(group).await.expect("session"));
    assert_eq!(pool.group_by_name("/apps/test"), Some(group));
    assert!(!pool.restart_by_name("/apps/other", false));
    assert!(pool.restart_by_name("/apps/test", false));
    assert_eq!(pool.snapshot()[0].generation, 1);
}

#[tokio::test]
async fn the_snapshot_carries_what_status_output_needs() {
    let spawner = FakeSpawner::gated(one());
    let (pool, group) = pool(&spawner, 2, 100);
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout(group).await.map(|s| s.pid()) }
    });
    settle().await;
    let snap = &pool.snapshot()[0];
    assert_eq!(snap.app_root, std::path::PathBuf::from("/apps/test"));
    assert_eq!(snap.max_queue, 100);
    assert_eq!(snap.spawning, 1);
    assert!(snap.spawning_for.is_some());
    assert!(!snap.shutting_down);
    assert_eq!(pool.max_pool_size(), 2);
    spawner.gate.add_permits(10);
    waiting.await.expect("join").expect("served");
    let snap = &pool.snapshot()[0];
    assert!(snap.spawning_for.is_none());
    let process = &snap.processes[0];
    assert_eq!(process.connect_password, "test");
    assert_eq!(process.protocol, ferry_spawn::Protocol::Http);
    assert_eq!(process.concurrency, one());
    assert!(matches!(process.endpoint, ferry_spawn::Endpoint::Tcp(_)));
    assert!(!pool.is_shutting_down());
}

#[tokio::test]
async fn backtraces_go_through_the_process_handle() {
    let spawner = FakeSpawner::new(one());
    let (pool, group) = pool(&spawner, 2, 10);
    let session = pool.checkout(group).await.unwrap();
    let pid = session.pid();
    assert!(pool.backtraces(pid));
    assert!(!pool.backtraces(pid + 1000), "no process has that pid");
    settle().await;
    assert_eq!(*spawner.backtraces.lock().unwrap(), vec![pid]);
    assert!(
        spawner.stops.lock().unwrap().is_empty(),
        "the process goes on"
    );
    pool.detach_pid(pid);
    drop(session);
    settle().await;
    assert!(
        !pool.backtraces(pid),
        "a process that has left the pool is not asked"
    );
    assert_eq!(*spawner.backtraces.lock().unwrap(), vec![pid]);
}
