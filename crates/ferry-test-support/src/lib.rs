//! Helpers for Ferry's integration tests, which run the real `ferry` binary or start Ferry
//! inside the test process.
//!
//! - [`Ferry`] starts the binary on an OS-chosen port, captures its stdout and stderr, and kills
//!   it (and every process it spawned) when dropped, so a failing test leaves nothing behind.
//! - `in_process::Ferry` (feature `in-process`) serves the same configuration through
//!   `ferry_app` on a runtime of its own inside the test process, and shuts it down when dropped.
//! - [`client`] is an HTTP/1.1 client with keep-alive, streaming uploads from a generator and
//!   streaming downloads hashed on the fly; [`raw`] sends bytes the `http` crate would refuse.
//! - [`procfs`] reads `/proc`: descendants, zombies, peak memory, command lines.
//! - [`apps`] locates the fixture apps and copies them into fresh temporary directories.
//! - [`prometheus`] parses the metrics text format strictly, as Prometheus would; [`schema`]
//!   checks JSON against the admin API's documented schema.
//! - [`require`](mod@require) is the one skip policy: a test that needs what this machine lacks (an
//!   interpreter, root, a package) fails under CI and says plainly that it skipped elsewhere.
//! - [`users`] makes a real unprivileged user for a test run as root, removed when dropped.
//!
//! Everything here waits with a bounded deadline: tests poll a condition, never sleep to
//! synchronise (STYLE.md §7).

pub mod apps;
pub mod body;
pub mod client;
pub mod ferry;
#[cfg(feature = "in-process")]
pub mod in_process;
pub mod procfs;
pub mod prometheus;
pub mod raw;
pub mod record;
pub mod require;
pub mod schema;
pub mod users;

use std::future::Future;
use std::time::Duration;

pub use crate::ferry::{config_user_directives, Ferry, FerryBuilder, Listener};
pub use crate::require::Requirement;
pub use bytes::Bytes;
pub use http;
pub use nix::sys::signal::Signal;

/// The error type of every helper: tests only need to report it.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Result of a helper.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Installs a tracing subscriber for the test process, honouring `RUST_LOG`.
///
/// Safe to call from every test: only the first call installs anything.
pub fn trace_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Runs `fut` to completion, or panics once `limit` has passed.
///
/// Wrap each test body in this so that a broken server fails the test instead of hanging it.
/// Everything the future owns (a [`Ferry`] included) is dropped before the panic, so the server
/// is killed and its log printed.
///
/// # Panics
///
/// When `limit` elapses before `fut` completes.
pub async fn bounded<F: Future>(limit: Duration, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(output) => output,
        Err(_) => panic!("test did not finish within {limit:?}"),
    }
}

/// Polls `cond` until it returns `Some`, or `None` once `timeout` has passed.
///
/// For conditions nothing notifies us about (the state of `/proc`): checks every 20 ms, and
/// always checks once more at the deadline.
pub async fn poll_until<T>(timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = cond() {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A string unique to this call within the test run, made of digits only.
///
/// Mixes the test process id, a counter and the clock, so that concurrent test binaries do not
/// collide either. Used to tag processes and log lines a test later looks for.
pub fn unique_digits() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}{n:03}{:06}", std::process::id(), nanos % 1_000_000)
}

/// Lower-case hexadecimal encoding of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
