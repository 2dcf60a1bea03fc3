//! Spawning app processes.
//!
//! This crate owns the life of every app process Ferry starts: it prepares the spawn, forks and
//! execs the start command, waits until the process can take requests, supervises it (capturing
//! its output, reaping it) and stops it. It knows nothing of HTTP or of the pool; the pool drives it
//! through the [`Spawner`] trait so that it can be tested with a fake.
//!
//! A spawn walks a [`Journey`] of named [`Step`]s (SpawningKit's vocabulary, so logs, errors and
//! error pages use the same words). A failure is a [`SpawnError`] that names the step that failed
//! and carries the app's captured output.
//!
//! Today there is one route, the *generic* one (seed 004, "Generic vs SpawningKit-enabled
//! applications"): run the start command with `PORT` set to a free port and wait until that port
//! accepts a connection. The SpawningKit work-directory handshake slots in at
//! [`Step::HandshakePerform`].

mod direct;
mod error;
mod handle;
mod journey;
mod output;
mod sys;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use direct::DirectSpawner;
pub use error::{Category, SpawnError};
pub use handle::{ExitInfo, ProcessHandle, ProcessStub, StopMode};
pub use journey::{Journey, Step, StepState};
pub use output::OutputTail;

/// Everything needed to start one process of an app.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The app's root directory; the process's working directory.
    pub app_root: PathBuf,
    /// The command that starts the app, run as `/bin/sh -c "exec <command>"`.
    pub start_command: String,
    /// The app's environment (`production`, ...), exported as `PASSENGER_APP_ENV` and friends.
    pub environment: String,
    /// Longest time the whole journey may take.
    pub start_timeout: Duration,
    /// Extra environment variables, applied last.
    pub env: Vec<(String, String)>,
}

/// How to reach a spawned process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address, normally on loopback.
    Tcp(SocketAddr),
    /// A unix domain socket.
    Unix(PathBuf),
}

/// How many requests one process handles at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// The process did not say (generic and Node apps): it takes any number.
    Unlimited,
    /// At most this many at once (a Ruby or Python process: 1).
    Limited(std::num::NonZeroUsize),
}

/// A process that finished its journey and can take requests.
#[derive(Debug)]
pub struct Spawned {
    /// Where requests go.
    pub endpoint: Endpoint,
    /// How many requests it takes at once.
    pub concurrency: Concurrency,
    /// Controls the process: stop it, learn when it exits.
    pub handle: ProcessHandle,
    /// The journey it walked, with step timings.
    pub journey: Journey,
}

/// Something that starts app processes.
///
/// Implemented by [`DirectSpawner`] for real processes, and by fakes in the pool's tests.
pub trait Spawner: Send + Sync + 'static {
    /// Starts one process and waits until it can take requests or the spawn fails.
    fn spawn(
        &self,
        options: &SpawnOptions,
    ) -> impl Future<Output = Result<Spawned, SpawnError>> + Send;

    /// Aborts spawns in progress and waits until every process this spawner started has been
    /// reaped. Called once, when Ferry shuts down, after the pool has asked its processes to stop.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}
