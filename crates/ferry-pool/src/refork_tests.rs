//! Re-forking (`refork_after`, issue 22) against a fake spawner that records promotions.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use ferry_spawn::{
    AppKind, Concurrency, ExitInfo, Journey, ProcessHandle, Promoted, Promotion, SpawnError,
    SpawnMethod, SpawnOptions, Spawned, Spawner,
};

use super::*;

/// Spawns stub processes; promotes by keeping the worker's handle (or fails as scripted).
#[derive(Debug, Clone, Default)]
struct Fake(Arc<FakeState>);

#[derive(Debug, Default)]
struct FakeState {
    next_pid: AtomicU32,
    /// The restart generation each spawn asked for.
    spawned: StdMutex<Vec<(u32, u64)>>,
    /// Pids promoted, with the restart generation asked for.
    promoted: StdMutex<Vec<(u32, u64)>>,
    /// The handles of the templates, kept as a spawner keeps its preloader's.
    templates: StdMutex<Vec<ProcessHandle>>,
    /// Scripted promotion failures, consumed first.
    refusals: StdMutex<VecDeque<String>>,
    /// Pids whose stop was asked for.
    stopped: StdMutex<Vec<u32>>,
    /// When set, each promotion waits for one permit.
    hold: Option<Arc<tokio::sync::Semaphore>>,
}

impl Spawner for Fake {
    async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let pid = 100 + self.0.next_pid.fetch_add(1, Ordering::Relaxed);
        self.0
            .spawned
            .lock()
            .unwrap()
            .push((pid, options.restart_generation));
        let (handle, mut stub) = ProcessHandle::stub(pid);
        let me = self.clone();
        tokio::spawn(async move {
            stub.stopped().await;
            me.0.stopped.lock().unwrap().push(pid);
            stub.exit(ExitInfo {
                code: Some(0),
                signal: None,
            });
        });
        Ok(Spawned {
            endpoint: ferry_spawn::Endpoint::Tcp(([127, 0, 0, 1], 1).into()),
            protocol: ferry_spawn::Protocol::Session,
            concurrency: Concurrency::Limited(NonZeroUsize::new(2).unwrap()),
            connect_password: "test".into(),
            peer_uid: None,
            handle,
            journey: Journey::spawn_directly(),
        })
    }

    async fn shutdown(&self) {}

    async fn promote(&self, options: &SpawnOptions, worker: Promotion) -> Result<Promoted, String> {
        let pid = worker.handle.pid();
        if let Some(hold) = &self.0.hold {
            hold.acquire().await.expect("open").forget();
        }
        self.0
            .promoted
            .lock()
            .unwrap()
            .push((pid, options.restart_generation));
        if let Some(why) = self.0.refusals.lock().unwrap().pop_front() {
            return Err(why);
        }
        let mut templates = self.0.templates.lock().unwrap();
        templates.push(worker.handle);
        Ok(Promoted {
            pid,
            template_generation: templates.len() as u64,
        })
    }
}

fn smart() -> SpawnOptions {
    SpawnOptions {
        kind: AppKind::SpawningKit { wrapper: true },
        spawn_method: SpawnMethod::Smart,
        ..SpawnOptions::generic("/apps/test", "ruby loader.rb")
    }
}

fn pool(
    fake: &Fake,
    min: usize,
    refork_after: Option<u64>,
    spawn: SpawnOptions,
) -> (Pool<u32>, GroupId) {
    let pool = Pool::new(
        Arc::new(fake.clone()),
        PoolConfig {
            stop_grace: Duration::from_secs(5),
            idle_time: None,
            ..PoolConfig::new(6)
        },
    );
    let group = pool.add_group(GroupConfig {
        min_instances: min,
        refork_after,
        ..GroupConfig::new(spawn)
    });
    (pool, group)
}

fn serving(pool: &Pool<u32>) -> Vec<u32> {
    let mut pids: Vec<u32> = pool.snapshot()[0]
        .processes
        .iter()
        .filter(|p| !p.detached)
        .map(|p| p.pid)
        .collect();
    pids.sort_unstable();
    pids
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

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
async fn the_process_that_served_refork_after_requests_becomes_the_template_and_its_peers_roll() {
    let fake = Fake::default();
    let (pool, group) = pool(&fake, 2, Some(3), smart());
    // Two processes, both up (min_instances 2).
    drop(pool.checkout(group).await.unwrap());
    poll(|| serving(&pool) == [100, 101]).await;
    // Requests go to the least recently used: 100 reaches three first (its third is the fifth).
    for _ in 0..5 {
        drop(pool.checkout(group).await.unwrap());
    }
    poll(|| fake.0.promoted.lock().unwrap().len() == 1).await;
    assert_eq!(*fake.0.promoted.lock().unwrap(), [(100, 0)]);
    // 101 and the template's place are replaced by two new workers; 101 stops; the template is
    // the spawner's now (not stopped, not in the pool).
    poll(|| serving(&pool) == [102, 103] && fake.0.stopped.lock().unwrap().contains(&101)).await;
    assert!(!fake.0.stopped.lock().unwrap().contains(&100));
    assert!(pool.snapshot()[0].processes.iter().all(|p| p.pid != 100));
    // Spawns still ask for restart generation 0: the template is not replaced by a cold preloader.
    assert!(fake.0.spawned.lock().unwrap().iter().all(|&(_, g)| g == 0));
    // Once per restart generation: the new workers serving many requests promote nothing.
    for _ in 0..10 {
        drop(pool.checkout(group).await.unwrap());
    }
    settle().await;
    assert_eq!(fake.0.promoted.lock().unwrap().len(), 1);
    assert_eq!(pool.snapshot()[0].rolling_restart_pending, 0);
}

#[tokio::test]
async fn a_chosen_process_takes_no_new_request_and_is_promoted_when_its_last_one_ends() {
    let fake = Fake::default();
    let (pool, group) = pool(&fake, 1, Some(2), smart());
    let first = pool.checkout(group).await.unwrap();
    let held = pool.checkout(group).await.unwrap(); // concurrency 2: the same process
    assert_eq!((first.pid(), held.pid()), (100, 100));
    drop(first); // its first request done
    let second = pool.checkout(group).await.unwrap();
    assert_eq!(second.pid(), 100);
    drop(second); // its second request done: chosen, but `held` is still in flight
    settle().await;
    assert!(fake.0.promoted.lock().unwrap().is_empty());
    // A new request does not go to it: a new process is spawned for it.
    let other = pool.checkout(group).await.unwrap();
    assert_ne!(other.pid(), 100);
    drop(held);
    poll(|| fake.0.promoted.lock().unwrap().len() == 1).await;
    assert_eq!(fake.0.promoted.lock().unwrap()[0].0, 100);
    drop(other);
}

#[tokio::test]
async fn a_failed_promotion_stops_the_process_and_a_restart_allows_another() {
    let fake = Fake::default();
    fake.0.refusals.lock().unwrap().push_back("no".into());
    let (pool, group) = pool(&fake, 1, Some(1), smart());
    drop(pool.checkout(group).await.unwrap());
    poll(|| fake.0.stopped.lock().unwrap().contains(&100)).await;
    assert_eq!(fake.0.promoted.lock().unwrap().len(), 1);
    // Its replacement serves on; no second try in this restart generation.
    for _ in 0..3 {
        drop(pool.checkout(group).await.unwrap());
    }
    settle().await;
    assert_eq!(fake.0.promoted.lock().unwrap().len(), 1);
    // A restart: spawns ask for the next restart generation, and promotion is possible again.
    pool.restart_with(group, false);
    drop(pool.checkout(group).await.unwrap());
    poll(|| fake.0.promoted.lock().unwrap().len() == 2).await;
    assert_eq!(fake.0.promoted.lock().unwrap()[1].1, 1);
    assert_eq!(fake.0.spawned.lock().unwrap().last().map(|s| s.1), Some(1));
}

#[tokio::test]
async fn without_a_preloader_or_refork_after_nothing_is_promoted() {
    let fake = Fake::default();
    let direct = SpawnOptions::generic("/apps/test", "true");
    for (refork_after, spawn) in [(Some(1), direct), (None, smart())] {
        let (pool, group) = pool(&fake, 1, refork_after, spawn);
        for _ in 0..5 {
            drop(pool.checkout(group).await.unwrap());
        }
        settle().await;
        pool.shutdown().await;
    }
    assert!(fake.0.promoted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn spawns_wait_while_a_process_becomes_the_template() {
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = Fake(Arc::new(FakeState {
        hold: Some(Arc::clone(&hold)),
        ..FakeState::default()
    }));
    let (pool, group) = pool(&fake, 1, Some(1), smart());
    drop(pool.checkout(group).await.unwrap());
    // 100 is with the spawner; a request waits, and nothing is spawned meanwhile.
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.checkout(group).await.map(|s| s.pid()) }
    });
    settle().await;
    assert!(!waiting.is_finished());
    assert_eq!(fake.0.spawned.lock().unwrap().len(), 1);
    hold.add_permits(1);
    assert_eq!(waiting.await.unwrap().unwrap(), 101);
    assert_eq!(*fake.0.promoted.lock().unwrap(), [(100, 0)]);
}
