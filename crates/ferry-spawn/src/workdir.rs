//! The work directory of one spawn (seed 004, "The work directory").
//!
//! ```text
//! ferry.spawn.XXXXXXXX/          0700; Ferry's until handed to the app's user
//!   args.json  args/<key>        the spawn arguments
//!   response/finish              FIFO: the subprocess writes `1` (up) or `0` (failed)
//!   response/properties.json     written by the subprocess: its sockets
//!   response/error/              written by a failing subprocess
//!   response/steps/<step>/       state, begin_time[_monotonic], end_time[_monotonic]
//!   envdump/                     envvars, user_info, ulimits, annotations/
//!   stdin  stdout_and_err        FIFOs, only to spawn through a preloader: the worker's stdin
//!                                and its output
//! ```
//!
//! Ferry creates it before the fork ([`WorkDir::create`]) and reads the response back after the
//! handshake ([`WorkDir::read`]); it is removed when the [`WorkDir`] is dropped. The subprocess
//! side (the setupper) writes through a [`Writer`].
//!
//! # Who may write it, and when
//!
//! Ferry usually runs as root, and the app's user is then hostile: anything that user can write,
//! they can replace by a link to `/etc/shadow`, a FIFO that never opens, a device, a file of a
//! gigabyte, at any moment. The directory is therefore **Ferry's, mode 0700, until the
//! subprocess is about to become the app's user**:
//!
//! 1. Ferry creates it with `mkdtemp` in the spawn directory (`/dev/shm` or the temp dir, both
//!    sticky: nobody else may rename or remove Ferry's entry there; a spawn directory that others
//!    may write and that is not sticky is refused), opens it (`O_DIRECTORY|O_NOFOLLOW`) and
//!    keeps that descriptor, fills it, and opens `response/finish` (`O_RDWR|O_NONBLOCK`) and,
//!    for a worker forked by a preloader, its `stdin` and `stdout_and_err` FIFOs, all while
//!    nobody else can reach it.
//! 2. The setupper, still root, opens it once by its path (it must be a directory owned by its
//!    own user, not a link), reads `args.json` and records its first steps through that
//!    descriptor; then, just before it switches users, hands the tree to the app's user
//!    ([`tree::chown_tree`]: children before parents, through descriptors, the directory
//!    itself last, so the app's user reaches nothing before everything is theirs). Whatever the
//!    setupper writes as root goes through [`Writer`] (`O_CREAT|O_EXCL|O_NOFOLLOW` relative to
//!    directory descriptors), and what it creates after the hand-over is given to the app's
//!    user. A worker forked by a preloader gets its directory from Ferry, handed over the same
//!    way ([`WorkDir::hand_over`]) once its FIFOs are open.
//! 3. Ferry reads the directory back through its descriptor with
//!    [`UntrustedDir`](ferry_sys::fs::UntrustedDir): no link followed anywhere, regular files
//!    on the directory's own file system only, of a capped size, **owned by the directory's
//!    owner**, which must be Ferry's user (never handed over: only Ferry's processes wrote it)
//!    or the app's (handed over: every file in it is the app's user's, so a hard link to a
//!    file of root's, which `fs.protected_hardlinks=0` would allow, is refused). The reads run
//!    on the blocking pool with a timeout ([`READ_TIMEOUT`]). A file that breaks a rule is not
//!    read: it becomes a spawn error naming it.

mod parse;
mod read;
mod tree;
mod write;

#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_sys::fs::UntrustedDir;
use rustix::fs::{Mode, OFlags, CWD};
use serde_json::{Map, Value};

pub(crate) use parse::{check_invariants, StepFiles, SubprocessError};
pub(crate) use read::Reader;
pub(crate) use write::{ErrorReport, Writer};

use crate::args;
use crate::journey::{Actor, Journey, JourneyType, Step};

/// Longest time reading a work directory back may take. Reading files on the local file system
/// takes microseconds; past this, something (a hung network or FUSE file system) is wrong, and
/// the spawn fails instead of waiting (the blocked thread is left behind on the blocking pool).
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A spawn's work directory, removed on drop.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
    /// The directory, opened right after it was created. `None` only while dropping.
    dir: Option<OwnedFd>,
    /// `response/finish`, opened read-write before anyone else could reach it.
    finish: Option<File>,
    /// Ferry's effective uid.
    ferry_uid: u32,
    /// The app's `uid:gid` when the directory is handed to another user.
    app: Option<(u32, u32)>,
}

// === impl WorkDir ===

impl WorkDir {
    /// Creates a fresh work directory under `parent` with the arguments, the finish FIFO and one
    /// directory per subprocess step of `journey`, all Ferry's; `app` is the app's `uid:gid`
    /// when the app runs as another user, to whom the directory will be handed.
    pub(crate) fn create(
        parent: &Path,
        args: &Map<String, Value>,
        journey: &Journey,
        app: Option<(u32, u32)>,
    ) -> io::Result<WorkDir> {
        check_parent(parent)?;
        let template = parent.join("ferry.spawn.XXXXXXXX");
        let path = nix::unistd::mkdtemp(&template).map_err(io::Error::from)?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = match rustix::fs::openat(CWD, &path, flags, Mode::empty()) {
            Ok(dir) => dir,
            Err(e) => {
                let _ = fs::remove_dir(&path);
                return Err(e.into());
            }
        };
        let mut workdir = WorkDir {
            path,
            dir: Some(dir),
            finish: None,
            ferry_uid: rustix::process::geteuid().as_raw(),
            app,
        };
        workdir.populate(args, journey)?;
        let finish = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags((OFlags::NONBLOCK | OFlags::NOFOLLOW).bits() as i32)
            .open(workdir.path.join("response/finish"))?;
        workdir.finish = Some(finish);
        Ok(workdir)
    }

    /// Fills the fresh directory. Only Ferry's user can reach it, so paths are safe here.
    fn populate(&self, args: &Map<String, Value>, journey: &Journey) -> io::Result<()> {
        let mkdir = |p: &Path| fs::DirBuilder::new().mode(0o700).create(p);
        write_private(&self.path.join("args.json"), &serde_json::to_vec(args)?)?;
        mkdir(&self.path.join("args"))?;
        for (key, value) in args {
            match args::scalar_text(value) {
                Some(text) => write_private(&self.path.join("args").join(key), text.as_bytes())?,
                None => write_private(
                    &self.path.join("args").join(format!("{key}.json")),
                    &serde_json::to_vec(value)?,
                )?,
            }
        }
        let response = self.path.join("response");
        mkdir(&response)?;
        mkfifo(&response.join("finish"))?;
        mkdir(&response.join("error"))?;
        mkdir(&response.join("steps"))?;
        for step in subprocess_steps(journey) {
            mkdir(&response.join("steps").join(step.dir_name()))?;
        }
        if journey.kind() == JourneyType::SpawnThroughPreloader {
            mkfifo(&self.stdin_path())?;
            mkfifo(&self.output_path())?;
        }
        mkdir(&self.path.join("envdump"))?;
        mkdir(&self.path.join("envdump/annotations"))
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The FIFO that becomes the stdin of a worker forked by a preloader. Open it before
    /// [`hand_over`](Self::hand_over).
    pub(crate) fn stdin_path(&self) -> PathBuf {
        self.path.join("stdin")
    }

    /// The FIFO that becomes the stdout and stderr of a worker forked by a preloader. Open it
    /// before [`hand_over`](Self::hand_over).
    pub(crate) fn output_path(&self) -> PathBuf {
        self.path.join("stdout_and_err")
    }

    /// `response/finish`, as opened when the directory was created (`O_RDWR|O_NONBLOCK`: a
    /// writer closing is no end-of-file).
    pub(crate) fn finish(&self) -> io::Result<File> {
        match &self.finish {
            Some(file) => file.try_clone(),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    /// Hands the directory to the app's user, when it runs as another user: what Ferry does for
    /// a worker forked by a preloader, whose process never runs as Ferry's user. The setupper
    /// does it itself on the direct route.
    pub(crate) fn hand_over(&self) -> io::Result<()> {
        match (self.app, &self.dir) {
            (Some((uid, gid)), Some(dir)) => tree::chown_tree(dir.as_fd(), uid, gid),
            _ => Ok(()),
        }
    }

    /// Runs `f` with a [`Reader`] of the directory on the blocking pool, at most
    /// [`READ_TIMEOUT`]; returns what it returned and the problems the reader met (each naming
    /// its file), or why the directory could not be read at all.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<(T, Vec<String>), String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Reader) -> T + Send + 'static,
    {
        let fd = self.dir.as_ref().map(OwnedFd::try_clone);
        let fd = fd
            .unwrap_or_else(|| Err(io::ErrorKind::NotFound.into()))
            .map_err(|e| format!("the work directory could not be opened: {e}"))?;
        let (ferry_uid, app_uid) = (self.ferry_uid, self.app.map(|(uid, _)| uid));
        let task = tokio::task::spawn_blocking(move || {
            let mut reader = Reader::new(untrusted(fd, ferry_uid, app_uid)?);
            let value = f(&mut reader);
            Ok((value, reader.into_problems()))
        });
        match tokio::time::timeout(READ_TIMEOUT, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(format!("reading the work directory failed: {e}")),
            Err(_) => Err(format!(
                "reading the work directory {} took longer than {} s (is it on a file system \
                 that does not answer?)",
                self.path.display(),
                READ_TIMEOUT.as_secs()
            )),
        }
    }

    /// Merges the records of the steps the subprocess (and the preloader) took into `journey`.
    /// Files that cannot be read are skipped here: the read that decides the spawn reports them.
    pub(crate) async fn read_steps(&self, journey: &mut Journey) {
        let steps = subprocess_steps(journey);
        if let Ok((files, _problems)) = self.read(move |r| r.steps(&steps)).await {
            merge_steps(journey, &files);
        }
    }
}

impl Drop for WorkDir {
    /// Removes the directory, on the blocking pool when there is a runtime: deleting a few dozen
    /// files can take milliseconds on a slow disk, and a finished spawn need not wait for it.
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        let Some(dir) = self.dir.take() else {
            return;
        };
        let remove = move || {
            if let Err(e) = tree::remove_tree(dir.as_fd(), &path) {
                tracing::debug!(path = %path.display(), error = %e, "could not remove work directory");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// The steps of `journey` that the subprocess or the preloader performs: those with a
/// directory under `response/steps/`.
pub(crate) fn subprocess_steps(journey: &Journey) -> Vec<Step> {
    journey
        .steps()
        .iter()
        .filter(|r| r.step.actor() != Actor::Ferry)
        .map(|r| r.step)
        .collect()
}

/// Merges what the step files say into `journey`.
pub(crate) fn merge_steps(journey: &mut Journey, files: &[(Step, StepFiles)]) {
    for (step, files) in files {
        if let Some(report) = files.parse() {
            journey.merge_subprocess_step(*step, report.state, report.begin, report.end);
        }
    }
}

/// The directory open as `fd`, to be read with its files owned by its owner, who must be Ferry's
/// user or the app's.
fn untrusted(fd: OwnedFd, ferry_uid: u32, app_uid: Option<u32>) -> Result<UntrustedDir, String> {
    let owner = rustix::fs::fstat(&fd)
        .map_err(|e| format!("the work directory could not be read: {e}"))?
        .st_uid;
    if owner != ferry_uid && Some(owner) != app_uid {
        return Err(format!(
            "the work directory belongs to uid {owner}, neither Ferry's (uid {ferry_uid}) nor \
             the app's"
        ));
    }
    UntrustedDir::from_fd(fd, Some(owner))
        .map_err(|e| format!("the work directory could not be read: {e}"))
}

/// Refuses a spawn directory where another user could rename Ferry's work directory away and
/// put something else under its name: one that others may write and that is not sticky.
fn check_parent(parent: &Path) -> io::Result<()> {
    let meta = fs::metadata(parent)?;
    let shared = meta.mode() & 0o022 != 0;
    let sticky = meta.mode() & 0o1000 != 0;
    if shared && !sticky {
        return Err(io::Error::other(format!(
            "{} is writable by other users and not sticky (mode {:o}); work directories need \
             a directory like /tmp (mode 1777) or one only Ferry's user may write",
            parent.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

fn mkfifo(path: &Path) -> io::Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(io::Error::from)
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(contents)
}
