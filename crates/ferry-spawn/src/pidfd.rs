//! Watching processes Ferry did not fork: workers forked by a preloader.
//!
//! Such a worker is the preloader's child, so Ferry cannot `wait` for it. Its pid alone is not a
//! safe handle either: once the process exits and its parent reaps it, the kernel may hand the pid
//! to an unrelated process. A *pidfd* (`pidfd_open(2)`) refers to the process itself, not to its
//! number: it becomes readable when that process exits, and a signal sent through it
//! (`pidfd_send_signal(2)`) can only reach that process. Ferry registers the pidfd with tokio
//! ([`AsyncFd`]) so waiting costs no thread.
//!
//! A pidfd does not give the exit status (only the parent can reap); the worker's exit is reported
//! as [`ExitInfo::UNKNOWN`].

use std::io;
use std::os::fd::OwnedFd;

use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags};
use tokio::io::unix::AsyncFd;

use crate::handle::{ExitInfo, Supervised};
use crate::sys;

/// A process Ferry did not fork, watched through its pidfd.
#[derive(Debug)]
pub(crate) struct Worker {
    fd: AsyncFd<OwnedFd>,
}

impl Worker {
    /// Opens a pidfd for `pid`. Fails with `ESRCH` when no such process exists (any more).
    pub(crate) fn open(pid: u32) -> io::Result<Worker> {
        let raw = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let fd = pidfd_open(raw, PidfdFlags::NONBLOCK).map_err(io::Error::from)?;
        // tokio 1.54 deprecated its safe constructors in favour of an `unsafe` `register`, whose
        // contract is that the fd stays open and the same for the `AsyncFd`'s life. An `OwnedFd`
        // moved into the `AsyncFd`, never handed out mutably, keeps it; and this crate forbids
        // `unsafe`.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)?;
        Ok(Worker { fd })
    }
}

impl Supervised for Worker {
    async fn reap(&mut self) -> ExitInfo {
        // Readable, once, for good: the process has exited. An error means the fd is unusable,
        // which cannot happen to a pidfd we own; treat it as an exit rather than spin.
        let _ = self.fd.readable().await;
        ExitInfo::UNKNOWN
    }

    fn signal(&self, pid: u32, signal: sys::Signal) {
        let Some(sig) = rustix::process::Signal::from_named_raw(signal as i32) else {
            return;
        };
        if let Err(e) = pidfd_send_signal(self.fd.get_ref(), sig) {
            if e != rustix::io::Errno::SRCH {
                tracing::warn!(pid, %signal, error = %e, "could not signal process");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_pidfd_sees_the_exit_of_a_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn");
        let mut worker = Worker::open(child.id()).expect("pidfd_open");
        worker.signal(child.id(), sys::Signal::SIGKILL);
        let info = tokio::time::timeout(Duration::from_secs(10), worker.reap())
            .await
            .expect("exit noticed");
        assert_eq!(info, ExitInfo::UNKNOWN);
        child.wait().expect("reap");
    }

    #[test]
    fn no_such_process_is_an_error() {
        // pid_max is at most 2^22 on Linux.
        assert!(Worker::open(u32::MAX / 2).is_err());
    }
}
