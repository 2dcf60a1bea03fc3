//! A real unprivileged user for the root-safety tests (issue 17): created with `useradd`, under
//! a unique name, removed with `userdel` when the guard is dropped, even when the test fails.
//! Only root can make one; the tests that need one say `require!(Requirement::Root)` first.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use tempfile::TempDir;

/// `useradd` and `userdel` lock `/etc/passwd` and fail rather than wait when another holds it:
/// the tests of one binary take turns (binaries run one after another).
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// A user that exists while this value lives.
#[derive(Debug)]
pub(crate) struct TestUser {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl TestUser {
    /// A new user with its own group, no home directory and `/bin/sh` as its shell.
    ///
    /// # Panics
    ///
    /// When `useradd` fails (the caller is not root, say).
    pub(crate) fn create() -> TestUser {
        let digits = ferry_test_support::unique_digits();
        let name = format!("frs{}", &digits[digits.len().saturating_sub(20)..]);
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let status = Command::new("useradd")
            .args(["--no-create-home", "--home-dir", "/nonexistent"])
            .args(["--user-group", "--shell", "/bin/sh", &name])
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name}: {status}");
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

    /// A directory under `/tmp` that this user owns and can reach (mode 0755), for an app.
    pub(crate) fn app_dir(&self) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix("ferry-rootsafe-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        self.chown(dir.path());
        dir
    }

    /// Gives `path` (not following a link) to this user and their group.
    pub(crate) fn chown(&self, path: &Path) {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).expect("chown");
    }

    /// Writes an executable script owned by this user.
    pub(crate) fn script(&self, path: &Path, body: &str) {
        std::fs::write(path, body).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.chown(path);
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        // Something may still run as this user (an app Ferry did not stop yet): `--force`
        // removes the account anyway.
        let status = Command::new("userdel")
            .args(["--force", &self.name])
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("warning: could not remove the test user {}", self.name);
        }
    }
}
