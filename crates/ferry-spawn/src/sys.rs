//! The few operating-system calls spawning needs beyond tokio's `Command`.
//!
//! This is the only module of Ferry that contains `unsafe` (one `pre_exec` hook).

use std::io;

use nix::sys::signal::killpg;
use nix::unistd::Pid;
use tokio::process::Command;

pub(crate) use nix::sys::signal::Signal;

/// Sends `signal` to the process group `pgid`. A group that is already gone is not an error.
pub(crate) fn kill_group(pgid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    if raw <= 1 {
        // Never signal group 0 (our own) or 1: a pid we do not own.
        return;
    }
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pgid, %signal, error = %e, "could not signal process group"),
    }
}

/// Makes the child die with SIGKILL if the thread that forked it ends, which (with Ferry's runtime
/// threads living as long as Ferry) means if Ferry itself dies without stopping its apps. Without
/// this, a `kill -9` of Ferry would orphan every app process.
pub(crate) fn die_with_parent(cmd: &mut Command) {
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // calls are allowed. It makes one raw prctl(2) system call and touches no memory, locks or
    // allocator.
    unsafe {
        cmd.pre_exec(|| {
            if nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn die_with_parent_lets_the_child_run() {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg("exit 7");
        die_with_parent(&mut cmd);
        let status = cmd.status().await.expect("spawn");
        assert_eq!(status.code(), Some(7));
    }

    #[tokio::test]
    async fn kill_group_stops_the_whole_group() {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("sleep 30 & exec sleep 30")
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn");
        let pid = child.id().expect("pid");
        kill_group(pid, Signal::SIGKILL);
        let status = child.wait().await.expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
