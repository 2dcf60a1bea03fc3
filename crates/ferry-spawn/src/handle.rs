//! Handles to running processes, and the supervisor task that owns each real one.
//!
//! Every process Ferry starts is owned by exactly one supervisor task, which holds its
//! [`tokio::process::Child`] and is the only code that waits on it. The rest of Ferry holds a
//! [`ProcessHandle`]: it asks the supervisor to stop the process or to have it print its
//! backtraces, and learns when it has exited. The handle is channels only, so the same handle
//! works for a process supervised elsewhere ([`ProcessHandle::stub`]).
//!
//! **Invariant:** a supervisor returns only after its child has been reaped, so no zombie outlives
//! it. Stopping signals the whole process group (the app and whatever it started), never just the
//! leader, so nothing is orphaned either. Only the supervisor signals its process, and never once
//! it has reaped it, so a signal cannot reach another process that was given the pid since.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use tokio::process::{Child, ChildStdin};
use tokio::sync::watch;

use crate::sys;

/// How to stop a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Close its stdin; SIGKILL the group after this long. A generic app also gets SIGTERM at
    /// once (it does not know that closing stdin means "stop"); a SpawningKit app (a loader) gets
    /// SIGTERM only when it is still running after three quarters of the time, so that it can
    /// finish its requests and run the app's shutdown hooks first.
    Graceful(Duration),
    /// The process is stuck: send it SIGQUIT (loaders print every thread's backtrace to their
    /// output, which Ferry logs), give it this long to do so, then SIGKILL the group.
    Abort(Duration),
    /// SIGKILL the whole group at once.
    Kill,
}

/// What Ferry asks of a running process through its [`ProcessHandle`], as a [`ProcessStub`]
/// hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRequest {
    /// Stop it. A later request may escalate the mode (`Graceful` → `Abort` → `Kill`).
    Stop(StopMode),
    /// Have it print its threads' backtraces to its output (SIGQUIT to a loader), and go on.
    Backtraces,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

/// Ferry's side of a running process.
///
/// Dropping the handle stops the process gracefully: a process nobody refers to must not live on.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: u32,
    stop: watch::Sender<Option<StopMode>>,
    /// Counts the requests for backtraces; requests not yet served count as one.
    backtraces: watch::Sender<u64>,
    exit: watch::Receiver<Option<ExitInfo>>,
}

/// The other side of a [`ProcessHandle`] for processes that are not real, such as a test's fake.
#[derive(Debug)]
pub struct ProcessStub {
    stop: watch::Receiver<Option<StopMode>>,
    backtraces: watch::Receiver<u64>,
    exit: watch::Sender<Option<ExitInfo>>,
}

/// The grace period used when a handle is dropped without an explicit stop.
const DROP_GRACE: Duration = Duration::from_secs(10);

// === impl ProcessHandle ===

impl ProcessHandle {
    /// A handle for a process that is not real, and the stub that plays the process.
    pub fn stub(pid: u32) -> (ProcessHandle, ProcessStub) {
        let (stop_tx, stop_rx) = watch::channel(None);
        let (backtraces_tx, backtraces_rx) = watch::channel(0);
        let (exit_tx, exit_rx) = watch::channel(None);
        let handle = ProcessHandle {
            pid,
            stop: stop_tx,
            backtraces: backtraces_tx,
            exit: exit_rx,
        };
        (
            handle,
            ProcessStub {
                stop: stop_rx,
                backtraces: backtraces_rx,
                exit: exit_tx,
            },
        )
    }

    /// The process's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks for the process to be stopped. A later request escalates an earlier, gentler one
    /// (`Graceful` → `Abort` → `Kill`), never the other way.
    pub fn stop(&self, mode: StopMode) {
        let rank = |m: StopMode| match m {
            StopMode::Graceful(_) => 0,
            StopMode::Abort(_) => 1,
            StopMode::Kill => 2,
        };
        self.stop.send_if_modified(|current| match *current {
            Some(now) if rank(now) >= rank(mode) => false,
            _ => {
                *current = Some(mode);
                true
            }
        });
    }

    /// Asks the process to print its threads' backtraces to its output, which Ferry logs (a
    /// loader does on SIGQUIT), without stopping it. The supervisor sends the signal while it has
    /// not reaped the process, so it reaches that process or none. `false`: the process has
    /// exited, and nothing was asked.
    pub fn backtraces(&self) -> bool {
        if self.has_exited() {
            return false;
        }
        self.backtraces.send_modify(|n| *n = n.wrapping_add(1));
        !self.backtraces.is_closed()
    }

    /// Whether the process has exited and been reaped.
    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Waits until the process has exited and been reaped.
    pub async fn wait(&self) -> ExitInfo {
        wait_exit(self.exit.clone()).await
    }

    /// A future that resolves when the process exits, independent of this handle's lifetime.
    pub fn exited(&self) -> impl std::future::Future<Output = ExitInfo> + Send + 'static {
        wait_exit(self.exit.clone())
    }
}

/// Waits until a stop is asked for (or the handle is dropped), and returns the mode.
async fn stop_requested(stop: &mut watch::Receiver<Option<StopMode>>) -> Option<StopMode> {
    let _ = stop.wait_for(Option::is_some).await;
    *stop.borrow()
}

async fn wait_exit(mut rx: watch::Receiver<Option<ExitInfo>>) -> ExitInfo {
    match rx.wait_for(Option::is_some).await {
        Ok(info) => info.unwrap_or(ExitInfo::UNKNOWN),
        // The supervisor vanished without reporting, which it never does once it has reaped.
        Err(_) => ExitInfo::UNKNOWN,
    }
}

impl Drop for ProcessHandle {
    fn drop(&mut self) {
        self.stop(StopMode::Graceful(DROP_GRACE));
    }
}

// === impl ProcessStub ===

impl ProcessStub {
    /// How Ferry asked the process to stop, if it has.
    pub fn stop_requested(&self) -> Option<StopMode> {
        *self.stop.borrow()
    }

    /// Waits until Ferry asks the process to stop (or drops its handle).
    pub async fn stopped(&mut self) -> Option<StopMode> {
        stop_requested(&mut self.stop).await
    }

    /// Waits for Ferry's next request: a stop (each new mode once) or backtraces (requests made
    /// meanwhile count as one). `None` once the handle is gone and every request has been heard
    /// (dropping the handle asks for a graceful stop first).
    pub async fn next_request(&mut self) -> Option<ProcessRequest> {
        tokio::select! {
            biased;
            Ok(()) = self.stop.changed() => {
                let mode = *self.stop.borrow_and_update();
                mode.map(ProcessRequest::Stop)
            }
            Ok(()) = self.backtraces.changed() => {
                self.backtraces.borrow_and_update();
                Some(ProcessRequest::Backtraces)
            }
            else => None,
        }
    }

    /// Plays the process's exit.
    pub fn exit(&self, info: ExitInfo) {
        let _ = self.exit.send(Some(info));
    }
}

// === impl ExitInfo ===

impl ExitInfo {
    pub(crate) const UNKNOWN: ExitInfo = ExitInfo {
        code: None,
        signal: None,
    };

    fn from_status(status: std::process::ExitStatus) -> Self {
        ExitInfo {
            code: status.code(),
            signal: status.signal(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exited with status {code}"),
            (None, Some(sig)) => write!(f, "was killed by signal {sig}"),
            (None, None) => f.write_str("exited"),
        }
    }
}

// === supervisor ===

/// A process a supervisor can wait for: Ferry's own child ([`Child`]), or a worker a preloader
/// forked, watched through a pidfd ([`crate::pidfd::Worker`]).
pub(crate) trait Supervised: Send + 'static {
    /// Waits until the process has exited (and, for a child of Ferry, reaps it).
    fn reap(&mut self) -> impl std::future::Future<Output = ExitInfo> + Send;

    /// Sends `signal` to the process alone.
    fn signal(&self, pid: u32, signal: sys::Signal) {
        sys::kill_leader(pid, signal);
    }
}

impl Supervised for Child {
    async fn reap(&mut self) -> ExitInfo {
        self.wait()
            .await
            .map_or(ExitInfo::UNKNOWN, ExitInfo::from_status)
    }
}

/// What keeps a process's stdin open: closing it asks a loader to stop.
pub(crate) type Lifeline = Box<dyn Send + Sync>;

/// Starts the task that owns `child` until it is reaped, and returns the handle to it.
///
/// `term_at_once`: a graceful stop sends SIGTERM right away (generic apps).
pub(crate) fn supervise(
    child: Child,
    stdin: Option<ChildStdin>,
    term_at_once: bool,
    tracker: &tokio_util::task::TaskTracker,
) -> Option<ProcessHandle> {
    let pid = child.id()?;
    let stdin = stdin.map(|s| Box::new(s) as Lifeline);
    Some(supervise_process(child, pid, stdin, term_at_once, tracker))
}

/// Starts the task that owns `process` (pid `pid`, also its process group) until it has exited.
pub(crate) fn supervise_process<P: Supervised>(
    process: P,
    pid: u32,
    stdin: Option<Lifeline>,
    term_at_once: bool,
    tracker: &tokio_util::task::TaskTracker,
) -> ProcessHandle {
    let (handle, stub) = ProcessHandle::stub(pid);
    tracker.spawn(run_supervisor(
        process,
        pid,
        Stdin {
            stdin,
            term_at_once,
        },
        stub,
    ));
    handle
}

/// The process's stdin and what closing it means.
struct Stdin {
    stdin: Option<Lifeline>,
    term_at_once: bool,
}

async fn run_supervisor<P: Supervised>(
    mut process: P,
    pid: u32,
    mut stdin: Stdin,
    mut stub: ProcessStub,
) {
    let info = loop {
        tokio::select! {
            info = process.reap() => break info,
            mode = stop_requested(&mut stub.stop) => {
                if let Some(info) = stop(&mut process, pid, &mut stdin, &mut stub, mode).await {
                    break info;
                }
            }
            Ok(()) = stub.backtraces.changed() => backtraces(&process, pid),
        }
    };
    // The leader is gone; kill whatever it left behind in its group so nothing is orphaned.
    // (The pgid cannot have been reused yet: pids are handed out in sequence up to pid_max.)
    sys::kill_group(pid, sys::Signal::SIGKILL);
    tracing::debug!(pid, %info, "app process reaped");
    stub.exit(info);
}

/// Has the process print its backtraces: SIGQUIT to it alone (the loader), as
/// [`StopMode::Abort`] does before it kills. Called only before the process is reaped.
fn backtraces<P: Supervised>(process: &P, pid: u32) {
    tracing::debug!(pid, "asking the app process for its backtraces (SIGQUIT)");
    process.signal(pid, sys::Signal::SIGQUIT);
}

/// Carries out a stop request. Returns the exit status once the process is gone, or `None` when
/// a graceful stop must keep waiting (a `Kill` may still arrive).
async fn stop<P: Supervised>(
    process: &mut P,
    pid: u32,
    stdin: &mut Stdin,
    stub: &mut ProcessStub,
    mode: Option<StopMode>,
) -> Option<ExitInfo> {
    match mode.unwrap_or(StopMode::Kill) {
        StopMode::Kill => {
            sys::kill_group(pid, sys::Signal::SIGKILL);
            Some(process.reap().await)
        }
        StopMode::Abort(wait) => {
            process.signal(pid, sys::Signal::SIGQUIT);
            tokio::select! {
                info = process.reap() => Some(info),
                () = tokio::time::sleep(wait) => {
                    sys::kill_group(pid, sys::Signal::SIGKILL);
                    Some(process.reap().await)
                }
                Ok(()) = stub.stop.changed() => None,
            }
        }
        StopMode::Graceful(grace) => {
            // Loaders exit when stdin closes; generic apps get SIGTERM too, as Passenger does.
            drop(stdin.stdin.take());
            let term_after = if stdin.term_at_once {
                Duration::ZERO
            } else {
                grace * 3 / 4
            };
            let started = tokio::time::Instant::now();
            let term = async {
                tokio::time::sleep(term_after).await;
                sys::kill_group(pid, sys::Signal::SIGTERM);
                tokio::time::sleep_until(started + grace).await;
            };
            tokio::pin!(term);
            loop {
                tokio::select! {
                    info = process.reap() => return Some(info),
                    () = &mut term => {
                        tracing::warn!(pid, "app process did not exit within {grace:?}; killing it");
                        sys::kill_group(pid, sys::Signal::SIGKILL);
                        return Some(process.reap().await);
                    }
                    // Escalated to Kill: the outer loop carries it out.
                    Ok(()) = stub.stop.changed() => return None,
                    // A process slow to stop is one whose backtraces may tell why.
                    Ok(()) = stub.backtraces.changed() => backtraces(process, pid),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stub_reports_stop_and_exit() {
        let (handle, mut stub) = ProcessHandle::stub(42);
        assert_eq!(handle.pid(), 42);
        assert!(!handle.has_exited());
        handle.stop(StopMode::Graceful(Duration::from_secs(1)));
        handle.stop(StopMode::Kill);
        assert_eq!(stub.stopped().await, Some(StopMode::Kill));
        stub.exit(ExitInfo {
            code: Some(0),
            signal: None,
        });
        assert_eq!(handle.wait().await.code, Some(0));
        assert!(handle.has_exited());
    }

    #[tokio::test]
    async fn kill_is_not_downgraded() {
        let (handle, stub) = ProcessHandle::stub(1);
        handle.stop(StopMode::Kill);
        handle.stop(StopMode::Graceful(Duration::from_secs(1)));
        assert_eq!(stub.stop_requested(), Some(StopMode::Kill));
    }

    #[tokio::test]
    async fn abort_escalates_graceful_and_yields_to_kill() {
        let (handle, stub) = ProcessHandle::stub(1);
        let second = Duration::from_secs(1);
        handle.stop(StopMode::Graceful(second));
        handle.stop(StopMode::Abort(second));
        assert_eq!(stub.stop_requested(), Some(StopMode::Abort(second)));
        handle.stop(StopMode::Graceful(second));
        assert_eq!(stub.stop_requested(), Some(StopMode::Abort(second)));
        handle.stop(StopMode::Kill);
        assert_eq!(stub.stop_requested(), Some(StopMode::Kill));
    }

    #[tokio::test]
    async fn dropping_the_handle_asks_for_a_stop() {
        let (handle, mut stub) = ProcessHandle::stub(7);
        drop(handle);
        assert!(matches!(stub.stopped().await, Some(StopMode::Graceful(_))));
    }

    #[tokio::test]
    async fn backtraces_are_asked_of_the_stub_until_the_exit() {
        let (handle, mut stub) = ProcessHandle::stub(5);
        assert!(handle.backtraces());
        assert!(handle.backtraces());
        assert_eq!(stub.next_request().await, Some(ProcessRequest::Backtraces));
        handle.stop(StopMode::Kill);
        assert_eq!(
            stub.next_request().await,
            Some(ProcessRequest::Stop(StopMode::Kill))
        );
        stub.exit(ExitInfo::UNKNOWN);
        assert!(!handle.backtraces());
        drop(handle);
        assert_eq!(stub.next_request().await, None);
    }

    /// A real child: the request reaches it as SIGQUIT through its supervisor, and none is sent
    /// once it has been reaped.
    #[tokio::test]
    async fn backtraces_reach_a_supervised_child_as_sigquit() {
        let mut command = tokio::process::Command::new("/bin/sh");
        command
            .arg("-c")
            .arg("trap 'exit 7' QUIT; echo ready; while :; do sleep 0.05; done")
            .stdout(std::process::Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().expect("spawn sh");
        let stdout = child.stdout.take().expect("stdout");
        let mut ready = tokio::io::BufReader::new(stdout);
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut ready, &mut line)
            .await
            .expect("the trap is set");
        let tracker = tokio_util::task::TaskTracker::new();
        let handle = supervise(child, None, true, &tracker).expect("a pid");
        assert!(handle.backtraces());
        let info = tokio::time::timeout(Duration::from_secs(10), handle.wait())
            .await
            .expect("the child exits on SIGQUIT");
        assert_eq!(info.code, Some(7));
        assert!(!handle.backtraces());
        tracker.close();
        tracker.wait().await;
    }

    #[test]
    fn exit_info_reads_well() {
        let code = ExitInfo {
            code: Some(3),
            signal: None,
        };
        let sig = ExitInfo {
            code: None,
            signal: Some(9),
        };
        assert_eq!(code.to_string(), "exited with status 3");
        assert_eq!(sig.to_string(), "was killed by signal 9");
    }
}
