//! The pool's settings: pool-wide ([`PoolConfig`]) and per group ([`GroupConfig`]), and the
//! id a group is known by ([`GroupId`]).

use std::time::Duration;

use ferry_config::defaults;
use ferry_spawn::SpawnOptions;

/// How long a stopping process may take after SIGTERM before it is killed.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
/// How often, at most, `tmp/restart.txt` is looked at.
pub const DEFAULT_RESTART_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Pool-wide settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most processes alive at once over all groups (Passenger's `max_pool_size`).
    pub max_pool_size: usize,
    /// How long a stopping process may take after SIGTERM before it is killed.
    pub stop_grace: Duration,
    /// Processes idle this long are stopped, down to each group's `min_instances`
    /// (`pool_idle_time`; `None`: never).
    pub idle_time: Option<Duration>,
    /// Most spawns of one group in progress at once (Passenger: 1). More than one only starts
    /// when requests are queued.
    pub max_parallel_spawns: usize,
    /// How often the memory of groups with a `memory_limit` is measured.
    pub memory_check_interval: Duration,
    /// Hook scripts: `attached_process`, `detached_process`, `after_initialize_supergroup`,
    /// `before_destroy_supergroup`, `queue_full_error` run from the pool.
    pub hooks: ferry_spawn::Hooks,
}

// === impl PoolConfig ===

impl PoolConfig {
    /// Passenger's defaults: 6 processes, idle time 300 s.
    pub fn new(max_pool_size: usize) -> Self {
        PoolConfig {
            max_pool_size,
            stop_grace: DEFAULT_STOP_GRACE,
            idle_time: Some(Duration::from_secs(defaults::POOL_IDLE_TIME_SECS)),
            max_parallel_spawns: defaults::MAX_PARALLEL_SPAWNS,
            memory_check_interval: Duration::from_secs(1),
            hooks: ferry_spawn::Hooks::default(),
        }
    }
}

/// Settings of one group (one app).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// The group's name, used in logs (the app root).
    pub name: String,
    /// How to start a process of this app.
    pub spawn: SpawnOptions,
    /// Fewest processes kept once the app has started.
    pub min_instances: usize,
    /// Longest queue of waiting requests (0 = unbounded).
    pub max_queue: usize,
    /// Longest time a request may wait in the queue (`max_request_queue_time`; `None`: no limit).
    pub max_queue_time: Option<Duration>,
    /// Most processes of this app at once, spawning ones included (`max_instances`, and the
    /// global `max_instances_per_app`, whichever is lower; `None`: only `max_pool_size` limits).
    pub max_instances: Option<usize>,
    /// A process is replaced after serving this many requests (`max_requests`; `None`: never).
    pub max_requests: Option<u64>,
    /// A process whose private dirty memory exceeds this many MB finishes its requests and is
    /// replaced (`memory_limit`; `None`: no limit).
    pub memory_limit: Option<u64>,
    /// A process whose private dirty memory exceeds this many MB is killed at once
    /// (`memory_hard_limit`; `None`: no limit).
    pub memory_hard_limit: Option<u64>,
    /// Restarts replace processes one by one, new ones first (`rolling_restarts`).
    pub rolling_restarts: bool,
    /// When a rolling restart cannot spawn the new version, old processes keep serving and the
    /// group stops spawning until the next restart (`resist_deployment_errors`).
    pub resist_deployment_errors: bool,
    /// Directory holding `restart.txt` and `always_restart.txt` (normally `<root>/tmp`).
    pub restart_dir: Option<std::path::PathBuf>,
    /// How often, at most, the restart files are looked at.
    pub restart_check_interval: Duration,
    // Issue 22, refork:
    /// Re-forking: the first process of a smart-spawned app to serve this many requests (in one
    /// restart generation) becomes the app's template, and the others are replaced one at a time
    /// by workers forked from it (`refork_after`; `None`: never).
    pub refork_after: Option<u64>,
}

// === impl GroupConfig ===

impl GroupConfig {
    /// A group with Passenger's defaults: `min_instances` 1, a queue of 100, no other limits.
    pub fn new(spawn: SpawnOptions) -> Self {
        GroupConfig {
            name: spawn.app_group_name.clone(),
            spawn,
            min_instances: defaults::MIN_INSTANCES,
            max_queue: defaults::MAX_REQUEST_QUEUE_SIZE,
            max_queue_time: None,
            max_instances: None,
            max_requests: None,
            memory_limit: None,
            memory_hard_limit: None,
            rolling_restarts: false,
            resist_deployment_errors: false,
            restart_dir: None,
            restart_check_interval: DEFAULT_RESTART_CHECK_INTERVAL,
            // Issue 22, refork:
            refork_after: None,
        }
    }
}

/// Identifies a group within its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub(crate) usize);
