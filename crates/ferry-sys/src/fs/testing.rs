//! What the tests of `fs` share: trees of real files in a tempdir, owners changed as root.

use std::io::Write;
use std::os::unix::fs::{lchown, symlink};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, CWD};

/// The app's owner in tests (no such user needs to exist).
pub(super) const APP: u32 = 1000;
/// Another user, whose files the app's owner must not reach.
pub(super) const OTHER: u32 = 54321;

/// Whether this test runs as root (may give files to other uids, make device nodes). When it may not: under `CI=true` the test
/// fails; otherwise it says plainly that it was skipped (it never passes silently).
pub(super) fn require_root(test: &str) -> bool {
    let probe = tempfile::NamedTempFile::new().expect("temp file");
    if std::os::unix::fs::chown(probe.path(), Some(OTHER), None).is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root (to give files to other uids, to make device nodes), and CI=true: \
         run the suite as root"
    );
    // Straight to stderr, past the test harness's capture: a skip must show.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs root (to give files to other uids, to make device nodes)"
    );
    false
}

/// A tree of files under a fresh tempdir, named by paths relative to it.
pub(super) struct Tree {
    _dir: tempfile::TempDir,
    /// The tempdir's canonical path (no link above it, so `on` may walk from `/`).
    pub(super) top: PathBuf,
}

// === impl Tree ===

impl Tree {
    pub(super) fn new() -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        let top = std::fs::canonicalize(dir.path()).expect("canonical tempdir");
        Tree { _dir: dir, top }
    }

    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.top.join(rel)
    }

    pub(super) fn dir(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(&path).expect("create dir");
        path
    }

    pub(super) fn file(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create parent");
        std::fs::write(&path, content).expect("write file");
        path
    }

    pub(super) fn link(&self, rel: &str, target: impl AsRef<Path>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create parent");
        symlink(target, &path).expect("symlink");
        path
    }

    pub(super) fn fifo(&self, rel: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create parent");
        rustix::fs::mkfifoat(CWD, &path, Mode::from_raw_mode(0o644)).expect("mkfifo");
        path
    }

    /// Gives `rel` itself (a link is not followed) to `uid`.
    pub(super) fn chown(&self, rel: &str, uid: u32) {
        lchown(self.path(rel), Some(uid), Some(uid)).expect("lchown");
    }

    /// Gives `rel` and everything below it to `uid`.
    pub(super) fn chown_all(&self, rel: &str, uid: u32) {
        chown_tree(&self.path(rel), uid);
    }
}

fn chown_tree(path: &Path, uid: u32) {
    lchown(path, Some(uid), Some(uid)).expect("lchown");
    if std::fs::symlink_metadata(path).expect("lstat").is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir") {
            chown_tree(&entry.expect("entry").path(), uid);
        }
    }
}
