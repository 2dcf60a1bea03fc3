//! The few operating-system calls spawning needs beyond tokio's `Command`: signalling process
//! groups.

use nix::sys::signal::killpg;
use nix::unistd::Pid;

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

/// Sends `signal` to the process `pid` alone (the group's leader: the loader itself).
pub(crate) fn kill_leader(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    if raw <= 1 {
        return;
    }
    match nix::sys::signal::kill(Pid::from_raw(raw), signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => tracing::warn!(pid, %signal, error = %e, "could not signal process"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kill_group_stops_the_whole_group() {
        let mut cmd = tokio::process::Command::new("/bin/sh");
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
