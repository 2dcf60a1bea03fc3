//! A real unprivileged user for the tests that need one (issue 17: what an app's owner writes
//! must not make a root Ferry read a file that owner could not): created with `useradd` under a
//! unique name, removed with `userdel` when the guard is dropped, even when the test fails.
//!
//! Only root can make one: a test says `require!(Requirement::Root)` first.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// `useradd` and `userdel` of one test binary take turns: each locks `/etc/passwd` and fails
/// rather than wait when another holds it.
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// How long `useradd`/`userdel` keep being retried while another process (another test binary,
/// another checkout's tests) holds the lock on `/etc/passwd`.
const LOCK_PATIENCE: Duration = Duration::from_secs(10);

/// A user (with a group of the same name) that exists while this value lives.
#[derive(Debug)]
pub struct TestUser {
    /// The user's name: `fst` and digits.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group's gid.
    pub gid: u32,
}

// === impl TestUser ===

impl TestUser {
    /// A new user with its own group, no home directory and `/bin/sh` as its shell.
    ///
    /// # Panics
    ///
    /// When `useradd` fails (the caller is not root, say).
    pub fn create() -> TestUser {
        let digits = crate::unique_digits();
        let name = format!("fst{}", &digits[digits.len().saturating_sub(20)..]);
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let created = retry_while_locked(|| {
            Command::new("useradd")
                .args(["--no-create-home", "--home-dir", "/nonexistent"])
                .args(["--user-group", "--shell", "/bin/sh", &name])
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(
            created,
            "useradd {name} failed (is the test running as root?)"
        );
        let user = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .expect("the new user exists");
        TestUser {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            name,
        }
    }

    /// A directory under `/tmp` that this user owns and everyone can reach (mode 0755), for an
    /// app. `/tmp` itself holds no link, so a lookup from `/` meets none on the way.
    ///
    /// # Panics
    ///
    /// When the directory cannot be made or given away.
    pub fn app_dir(&self) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix("ferry-user-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        self.chown(dir.path());
        dir
    }

    /// Gives `path` (not following a link) to this user and their group.
    ///
    /// # Panics
    ///
    /// When `lchown` fails.
    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }

    /// Writes an executable script (mode 0755) owned by this user.
    ///
    /// # Panics
    ///
    /// When the file cannot be written or given away.
    pub fn script(&self, path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, body).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        self.chown(path);
    }

    /// Gives `path` and everything below it to this user, links themselves included (never
    /// followed).
    ///
    /// # Panics
    ///
    /// When a directory cannot be listed or an entry given away.
    pub fn chown_tree(&self, path: &Path) {
        self.chown(path);
        let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            return;
        }
        let entries =
            std::fs::read_dir(path).unwrap_or_else(|e| panic!("list {}: {e}", path.display()));
        for entry in entries {
            self.chown_tree(&entry.expect("a directory entry").path());
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        // Something may still run as this user (an app Ferry did not stop yet): `--force`
        // removes the account anyway.
        let removed = retry_while_locked(|| {
            Command::new("userdel")
                .args(["--force", &self.name])
                .status()
                .is_ok_and(|s| s.success())
        });
        if !removed {
            eprintln!("warning: could not remove the test user {}", self.name);
        }
    }
}

/// Runs `attempt` until it succeeds or [`LOCK_PATIENCE`] has passed: `useradd` and `userdel`
/// fail at once when another process holds the lock on `/etc/passwd`, and other test binaries
/// may be making users at the same time. Not a wait for a condition: a retry of a refused call.
fn retry_while_locked(mut attempt: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LOCK_PATIENCE;
    loop {
        if attempt() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::require::Requirement;

    #[test]
    fn a_user_exists_while_its_guard_lives() {
        crate::require!(Requirement::Root);
        let user = TestUser::create();
        let name = user.name.clone();
        let found = nix::unistd::User::from_name(&name).ok().flatten();
        assert_eq!(found.map(|u| u.uid.as_raw()), Some(user.uid));
        let dir = user.app_dir();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("sub/etc")).unwrap();
        user.chown_tree(dir.path());
        let link = std::fs::symlink_metadata(dir.path().join("sub/etc")).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&link), user.uid);
        let etc = std::fs::metadata("/etc").unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&etc), 0, "not followed");
        drop(user);
        assert!(nix::unistd::User::from_name(&name).ok().flatten().is_none());
    }
}
