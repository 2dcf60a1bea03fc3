//! [`LiveProc`]: process facts from `/proc` (through [`ferry_sys::proc`]). Every read tolerates
//! the process being gone.

use ferry_sys::proc;
use nix::unistd::{Uid, User};

use super::ProcFacts;

/// Reads `/proc/PID/{status,stat,smaps_rollup}` and the user database.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveProc;

impl ProcFacts for LiveProc {
    fn uid(&self, pid: u32) -> Option<u32> {
        proc::status(pid)?.effective_uid()
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        User::from_uid(Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
    }

    fn cpu_percent(&self, pid: u32) -> Option<f64> {
        let stat = proc::stat(pid)?;
        stat.cpu_percent(proc::uptime_secs()?)
    }

    fn private_dirty_kib(&self, pid: u32) -> Option<u64> {
        proc::private_dirty_kib(pid)
    }

    fn rss_kib(&self, pid: u32) -> Option<u64> {
        proc::status(pid)?.rss_kib()
    }
}
