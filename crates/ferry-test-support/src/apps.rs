//! Fixture apps and the temporary directories tests run them from.
//!
//! The fixtures live in `crates/ferry-test-support/apps/`. A test that changes an app directory
//! (touching `tmp/restart.txt`, adding files under `public/`) works on a copy made by
//! [`copy_fixture`], never on the fixture itself, so tests stay independent.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use tempfile::TempDir;

/// The directory holding every fixture app.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("apps")
}

/// The Node.js fixture app (`apps/node-test`, see its `app.js` for the routes).
pub fn node_test() -> PathBuf {
    fixtures_dir().join("node-test")
}

/// A fresh copy of the Node.js fixture app in a new temporary directory.
///
/// # Panics
///
/// When the copy fails (the test could not run anyway).
pub fn node_test_copy() -> TempDir {
    copy_fixture(&node_test()).expect("copy the node-test fixture")
}

/// A new, empty temporary directory named `ferry-test-*`.
///
/// # Panics
///
/// When the directory cannot be created.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("ferry-test-")
        .tempdir()
        .expect("create a temporary directory")
}

/// Copies the directory `src` (recursively) into a new temporary directory.
pub fn copy_fixture(src: &Path) -> io::Result<TempDir> {
    let dir = tempfile::Builder::new().prefix("ferry-test-").tempdir()?;
    copy_dir(src, dir.path())?;
    Ok(dir)
}

fn copy_dir(src: &Path, dst: &Path) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            fs::create_dir_all(&to)?;
            copy_dir(&entry.path(), &to)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &to)?;
        } else {
            fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// Creates `path` (and its parent directories) if needed, and sets its mtime to `mtime`.
///
/// Setting the time explicitly makes a "touch" visible even within the same second as a
/// previous one, which a plain re-creation would not be on a coarse-grained clock.
pub fn touch_at(path: &Path, mtime: SystemTime) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.set_modified(mtime)
}

/// Whether `program --version` runs successfully (the interpreter is installed).
pub fn have_program(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
