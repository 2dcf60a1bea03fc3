//! [`AdminBackend`]: all the admin API knows of the running Ferry, and [`AdminError`], what
//! the backend answers when it cannot do what was asked.

use crate::pool::PoolState;
use crate::types::{RequestInfo, RestartMethod, ServerInfo};

/// What the admin API needs from the running Ferry. Every method is called on a runtime worker
/// and must return quickly: start long work (a restart) and return, do not wait for it.
pub trait AdminBackend: Send + Sync + 'static {
    /// The live pool, connect passwords included (the API takes them out for callers who may
    /// not see them). Build it with [`PoolState::from_snapshot`] from `Pool::snapshot()`, and
    /// fill in `GroupState::uid` for groups without processes when the app's account is known,
    /// so that its owner can see and restart it.
    fn pool_state(&self) -> PoolState;

    /// Who this Ferry is.
    fn server_info(&self) -> ServerInfo;

    /// Requests being handled now, for `ferry status --show=requests`. None by default.
    fn requests(&self) -> Vec<RequestInfo> {
        Vec::new()
    }

    /// Restarts the group with exactly this name (the API has matched names and app roots and
    /// checked the caller's rights): `Pool::restart_by_name(group, method == Rolling)`.
    fn restart_app(&self, group: &str, method: RestartMethod) -> Result<(), AdminError>;

    /// Detaches the process `pid` (`Pool::detach_pid`): `Ok(false)` if no process has it.
    fn detach_process(&self, pid: u32) -> Result<bool, AdminError>;

    /// Reopens the log files (after rotation), as SIGUSR1 does.
    fn reopen_logs(&self) -> Result<(), AdminError>;

    /// Sets the log level, 0 (critical only) to 7 (everything), Passenger's scale.
    fn set_log_level(&self, level: u8) -> Result<(), AdminError>;

    /// Backtraces of Ferry's threads or tasks, as text. Not supported by default.
    /// Makes app process `pid` (known to be in the pool) print its threads' backtraces to
    /// its output, which Ferry logs; returns a message saying where they went.
    fn process_backtraces(&self, pid: u32) -> Result<String, AdminError> {
        Err(AdminError::Unsupported(format!(
            "backtraces of process {pid} are not available"
        )))
    }

    /// Ferry's own backtraces, for `ferry status --show=backtraces`.
    fn backtraces(&self) -> Result<String, AdminError> {
        Err(AdminError::Unsupported(
            "backtraces of Ferry itself are not available".into(),
        ))
    }

    // Issue 18, health:
    /// Takes Ferry out of its load balancers (`true`, `ferry drain`: the health path answers
    /// 503, every request is still served) or puts it back (`false`, `ferry undrain`). Not
    /// supported by default.
    fn set_draining(&self, draining: bool) -> Result<(), AdminError> {
        let _ = draining;
        Err(AdminError::Unsupported(
            "this Ferry cannot be drained".into(),
        ))
    }
}

/// Why a backend could not do what was asked.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AdminError {
    /// The thing named does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is understood but its values are not acceptable (422).
    #[error("{0}")]
    Invalid(String),
    /// This Ferry cannot do that (501).
    #[error("{0}")]
    Unsupported(String),
    /// It went wrong (500).
    #[error("{0}")]
    Failed(String),
}
