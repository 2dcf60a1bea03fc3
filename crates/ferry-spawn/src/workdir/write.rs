//! The subprocess side of the work directory: what the SpawnEnvSetupper reads and writes there
//! ([`Writer`]), first as Ferry's user (usually root), then as the app's.
//!
//! The setupper opens the directory once, by the path on its command line, while it is still
//! Ferry's and mode 0700 (so nobody else can have replaced it: see [`super`]), and then works
//! only through that descriptor:
//!
//! * a directory on the way is opened with `O_DIRECTORY|O_NOFOLLOW` (created with `mkdirat` when
//!   missing), so a link there is an error, never followed;
//! * a file is written by removing the name (`unlinkat`: a link is removed, not its target),
//!   then creating it with `O_CREAT|O_EXCL|O_NOFOLLOW` (mode 0600): if anything appears under
//!   that name in between, the create fails instead of opening it. A hard link to another file
//!   cannot be written through either: the file written is always a new one;
//! * once the directory was handed to the app's user ([`Writer::hand_over`]) while this process
//!   is still root (only when switching users then fails), every file and directory it creates
//!   is given to the app's user too, so that everything in a handed-over directory belongs to
//!   that user, as Ferry expects when it reads the directory back.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use ferry_sys::fs::UntrustedDir;
use rustix::fs::{AtFlags, Gid, Mode, OFlags, Uid, CWD};
use rustix::io::Errno;

use super::tree;
use crate::category::Category;
use crate::error::EnvDump;
use crate::journey::{self, Step, StepState};

/// Longest `args.json` read (the environment variables make up most of it).
const MAX_ARGS: u64 = 4 * 1024 * 1024;

/// Opening a directory on the way: it must be one, and not a link.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Creating a file: a new one, never through a link or an existing name.
const CREATE_FLAGS: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The work directory as the setupper sees it: one descriptor, everything relative to it.
#[derive(Debug)]
pub(crate) struct Writer {
    path: PathBuf,
    dir: OwnedFd,
    /// The app's `uid:gid`, once the directory was handed over by this process.
    handed_to: Option<(u32, u32)>,
}

/// What a failing step reports into `response/error/`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorReport<'a> {
    pub(crate) category: Category,
    pub(crate) summary: &'a str,
    pub(crate) problem: Option<&'a str>,
    pub(crate) solution: Option<&'a str>,
    pub(crate) advanced: Option<&'a str>,
}

// === impl Writer ===

impl Writer {
    /// Opens the work directory at `path`: a directory, not a link, owned by this process's
    /// effective user (Ferry's before the hand-over, the app's after).
    pub(crate) fn open(path: &Path) -> io::Result<Writer> {
        let dir = rustix::fs::openat(CWD, path, DIR_FLAGS, Mode::empty())?;
        let owner = rustix::fs::fstat(&dir)?.st_uid;
        let euid = rustix::process::geteuid().as_raw();
        if owner != euid {
            return Err(io::Error::other(format!(
                "the work directory {} belongs to uid {owner}, not to this process's uid {euid}",
                path.display()
            )));
        }
        Ok(Writer {
            path: path.to_owned(),
            dir,
            handed_to: None,
        })
    }

    /// The directory's path, as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The text of `args.json`, read without following a link and up to a cap.
    pub(crate) fn read_args(&self) -> io::Result<String> {
        let euid = rustix::process::geteuid().as_raw();
        let dir = UntrustedDir::from_fd(self.dir.try_clone()?, Some(euid))?;
        match dir.read_string("args.json", MAX_ARGS) {
            Ok(Some(text)) => Ok(text),
            Ok(None) => Err(io::ErrorKind::NotFound.into()),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    /// Gives the directory and everything in it to `uid:gid`, the directory itself last (see
    /// [`tree::chown_tree`]); later files are created for that user too.
    pub(crate) fn hand_over(&mut self, uid: u32, gid: u32) -> io::Result<()> {
        tree::chown_tree(self.dir.as_fd(), uid, gid)?;
        self.handed_to = Some((uid, gid));
        Ok(())
    }

    /// Records a step's state (begin time when it starts, end time when it ends). Best effort:
    /// a step that cannot be recorded does not stop the spawn.
    pub(crate) fn record_step(&self, step: Step, state: StepState) {
        let dir = Path::new("response/steps").join(step.dir_name());
        let now = format!("{:.6}", journey::monotonic_now());
        let _ = self.write(&dir, "state", state.name().as_bytes());
        if state == StepState::InProgress || !self.exists(&dir, "begin_time_monotonic") {
            let _ = self.write(&dir, "begin_time_monotonic", now.as_bytes());
        }
        if matches!(state, StepState::Performed | StepState::Errored) {
            let _ = self.write(&dir, "end_time_monotonic", now.as_bytes());
        }
    }

    /// Writes a failure report into `response/error/` (best effort).
    pub(crate) fn write_error(&self, report: &ErrorReport<'_>) {
        let dir = Path::new("response/error");
        let _ = self.write(dir, "category", report.category.name().as_bytes());
        let _ = self.write(dir, "summary", report.summary.as_bytes());
        let optional = [
            ("problem_description.txt", report.problem),
            ("solution_description.txt", report.solution),
            ("advanced_problem_details", report.advanced),
        ];
        for (name, text) in optional {
            if let Some(text) = text {
                let _ = self.write(dir, name, text.as_bytes());
            }
        }
    }

    /// Writes `envdump/` files (best effort).
    pub(crate) fn write_envdump(&self, dump: &EnvDump) {
        let dir = Path::new("envdump");
        let files = [
            ("pid", dump.pid.map(|p| p.to_string())),
            ("envvars", dump.envvars.clone()),
            ("user_info", dump.user_info.clone()),
            ("ulimits", dump.ulimits.clone()),
        ];
        for (name, value) in files {
            if let Some(value) = value {
                let _ = self.write(dir, name, value.as_bytes());
            }
        }
    }

    /// Writes `contents` as the new file `name` in the directory `rel` (created if missing).
    pub(crate) fn write(&self, rel: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
        let dir = self.dir_at(rel)?;
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = rustix::fs::openat(&dir, name, CREATE_FLAGS, Mode::from_raw_mode(0o600))?;
        self.give(&fd)?;
        File::from(fd).write_all(contents)
    }

    /// Whether something is at `name` in the directory `rel`, not following a link.
    fn exists(&self, rel: &Path, name: &str) -> bool {
        self.dir_at(rel)
            .and_then(|dir| Ok(rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?))
            .is_ok()
    }

    /// The directory `rel` (plain names only), each component opened without following a link
    /// and created (mode 0700) when missing.
    fn dir_at(&self, rel: &Path) -> io::Result<OwnedFd> {
        let mut current = self.dir.try_clone()?;
        for component in rel.components() {
            let Component::Normal(name) = component else {
                return Err(io::Error::other("not a relative path of plain names"));
            };
            current = match rustix::fs::openat(&current, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(&current, name, Mode::from_raw_mode(0o700)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    let fd = rustix::fs::openat(&current, name, DIR_FLAGS, Mode::empty())?;
                    self.give(&fd)?;
                    fd
                }
                Err(e) => return Err(e.into()),
            };
        }
        Ok(current)
    }

    /// Gives a new object to the app's user when the directory was handed over by this process
    /// and it is still someone else.
    fn give(&self, fd: &OwnedFd) -> io::Result<()> {
        match self.handed_to {
            Some((uid, gid)) if rustix::process::geteuid().as_raw() != uid => {
                rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
