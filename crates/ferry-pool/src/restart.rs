//! `tmp/restart.txt` and `tmp/always_restart.txt`.
//!
//! Semantics (seed §4.4, §11.6, Passenger's `Group::needsRestart`): the first look only records
//! restart.txt's modification time; later looks restart when the file appeared or its mtime
//! changed (deleting it does not restart). `always_restart.txt` restarts at every check while it
//! exists. Looks are throttled to one per interval, so a busy app does not `stat` per request; only
//! while always_restart.txt exists is it looked at on every request.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Watches one app's restart files.
#[derive(Debug)]
pub(crate) struct RestartWatch {
    dir: PathBuf,
    interval: Duration,
    state: Mutex<WatchState>,
}

#[derive(Debug, Default)]
struct WatchState {
    next_check: Option<Instant>,
    /// restart.txt's mtime at the last look; `None` before the first look.
    last_mtime: Option<Option<SystemTime>>,
    always_seen: bool,
}

impl RestartWatch {
    pub(crate) fn new(dir: PathBuf, interval: Duration) -> Self {
        RestartWatch {
            dir,
            interval,
            state: Mutex::new(WatchState::default()),
        }
    }

    /// Whether the app must restart before serving a request arriving at `now`.
    pub(crate) fn needs_restart(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.next_check.is_some_and(|next| now < next) {
            if state.always_seen {
                state.always_seen = self.always_restart_exists();
            }
            return state.always_seen;
        }
        state.next_check = Some(now + self.interval);
        let mtime = self.restart_mtime();
        let changed = match state.last_mtime {
            Some(previous) => mtime.is_some() && mtime != previous,
            None => false,
        };
        state.last_mtime = Some(mtime);
        state.always_seen = self.always_restart_exists();
        changed || state.always_seen
    }

    fn restart_mtime(&self) -> Option<SystemTime> {
        std::fs::metadata(self.dir.join("restart.txt"))
            .and_then(|m| m.modified())
            .ok()
    }

    fn always_restart_exists(&self) -> bool {
        self.dir.join("always_restart.txt").exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn watch() -> (tempfile::TempDir, RestartWatch) {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = RestartWatch::new(dir.path().to_owned(), Duration::from_secs(1));
        (dir, w)
    }

    fn touch(path: &std::path::Path, mtime: SystemTime) {
        let f = File::create(path).expect("create");
        f.set_modified(mtime).expect("set mtime");
    }

    #[test]
    fn first_look_only_records_and_a_change_restarts_once() {
        let (dir, w) = watch();
        let t0 = Instant::now();
        let file = dir.path().join("restart.txt");
        touch(&file, SystemTime::UNIX_EPOCH + Duration::from_secs(1000));
        assert!(!w.needs_restart(t0), "the first look never restarts");
        touch(&file, SystemTime::UNIX_EPOCH + Duration::from_secs(2000));
        assert!(
            !w.needs_restart(t0 + Duration::from_millis(500)),
            "throttled"
        );
        assert!(w.needs_restart(t0 + Duration::from_secs(1)));
        assert!(
            !w.needs_restart(t0 + Duration::from_secs(2)),
            "only once per change"
        );
    }

    #[test]
    fn appearing_restarts_and_vanishing_does_not() {
        let (dir, w) = watch();
        let t0 = Instant::now();
        assert!(!w.needs_restart(t0));
        let file = dir.path().join("restart.txt");
        touch(&file, SystemTime::now());
        assert!(w.needs_restart(t0 + Duration::from_secs(1)));
        std::fs::remove_file(&file).expect("rm");
        assert!(!w.needs_restart(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn always_restart_restarts_every_request_while_present() {
        let (dir, w) = watch();
        let t0 = Instant::now();
        let file = dir.path().join("always_restart.txt");
        touch(&file, SystemTime::now());
        assert!(w.needs_restart(t0));
        assert!(
            w.needs_restart(t0 + Duration::from_millis(1)),
            "even inside the interval"
        );
        std::fs::remove_file(&file).expect("rm");
        assert!(!w.needs_restart(t0 + Duration::from_millis(2)));
        assert!(!w.needs_restart(t0 + Duration::from_millis(3)));
    }
}
