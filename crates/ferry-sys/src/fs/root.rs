//! [`Root`]: files served from a trusted document root under nginx's `disable_symlinks`.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

use super::error::OpenError;
use super::kind::FileKind;
use super::policy::{Plan, SymlinkPolicy};
use super::walk::{Cursor, OpenFile, Reached, Step, Walk, Want, DIR_FLAGS, LAST_FLAGS};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// A trusted document root (from root's configuration) and the symlink policy for lookups in it.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    policy: Arc<SymlinkPolicy>,
}

/// A directory found by a lookup, holding the walk's descriptors so that names below it are
/// looked up by the same rules without walking from `/` again.
#[derive(Debug, Clone)]
pub struct Dir {
    cursor: Cursor,
    /// The full path as requested (document root and names, links not resolved): `from=` is
    /// compared with it.
    path: PathBuf,
    policy: Arc<SymlinkPolicy>,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Found {
    /// A regular file, open for reading.
    File(OpenFile),
    /// A directory (for an index file, or a redirect to the name with a `/`).
    Dir(Dir),
}

/// Where a lookup starts.
#[derive(Clone, Copy)]
enum Base<'a> {
    /// `/`, for a lookup from a [`Root`].
    Slash,
    Dir(&'a Dir),
}

// === impl Root ===

impl Root {
    /// A document root at `path`, which must be absolute (else [`OpenError::InvalidPath`]).
    /// Nothing is opened yet: each lookup walks from `/` (or opens the `from=` prefix) again,
    /// so a deploy that swaps a `current` link is seen at once.
    pub fn new(path: impl Into<PathBuf>, policy: SymlinkPolicy) -> Result<Root, OpenError> {
        let path = path.into();
        if !path.is_absolute() {
            return Err(OpenError::InvalidPath(path.display().to_string()));
        }
        Ok(Root {
            path,
            policy: Arc::new(policy),
        })
    }

    /// The document root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The symlink policy.
    pub fn policy(&self) -> &SymlinkPolicy {
        &self.policy
    }

    /// Opens the regular file or directory at `components` below the root (no components: the
    /// root itself). Each component is a plain name: percent-decoded, not empty, `.` or `..`,
    /// without `/` or NUL.
    pub fn open<S: AsRef<OsStr>>(&self, components: &[S]) -> Result<Found, OpenError> {
        let (steps, full) = self.steps(components)?;
        let reached = lookup(&self.policy, Base::Slash, &steps, &full, Want::Any)?;
        Ok(found(reached, full, &self.policy))
    }

    /// Opens the directory at `components` below the root (a regular file there is
    /// [`OpenError::NotFound`], as `ENOTDIR`).
    pub fn open_dir<S: AsRef<OsStr>>(&self, components: &[S]) -> Result<Dir, OpenError> {
        let (steps, full) = self.steps(components)?;
        match lookup(&self.policy, Base::Slash, &steps, &full, Want::Dir)? {
            Reached::Dir(cursor) => Ok(dir(cursor, full, &self.policy)),
            Reached::File(_) => Err(OpenError::NotFound),
        }
    }

    /// The steps from `/` (the root's own components, then the request's) and the full path.
    fn steps<'a, S: AsRef<OsStr>>(
        &'a self,
        components: &'a [S],
    ) -> Result<(Vec<Step<'a>>, PathBuf), OpenError> {
        let mut steps: Vec<Step<'a>> = self
            .path
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(Step::Name(name)),
                Component::ParentDir => Some(Step::Up),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
            })
            .collect();
        let mut full = self.path.clone();
        for name in names(components)? {
            steps.push(Step::Name(name));
            full.push(name);
        }
        Ok((steps, full))
    }
}

// === impl Dir ===

impl Dir {
    /// The full path as requested (the document root and names; links not resolved).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the regular file or directory at `components` below this directory (`name`,
    /// `name.html`, `name/index.html`), by the same rules as [`Root::open`].
    pub fn open_at<S: AsRef<OsStr>>(&self, components: &[S]) -> Result<Found, OpenError> {
        let (steps, full) = self.steps(components)?;
        let reached = lookup(&self.policy, Base::Dir(self), &steps, &full, Want::Any)?;
        Ok(found(reached, full, &self.policy))
    }

    /// Opens the directory at `components` below this directory.
    pub fn open_dir_at<S: AsRef<OsStr>>(&self, components: &[S]) -> Result<Dir, OpenError> {
        let (steps, full) = self.steps(components)?;
        match lookup(&self.policy, Base::Dir(self), &steps, &full, Want::Dir)? {
            Reached::Dir(cursor) => Ok(dir(cursor, full, &self.policy)),
            Reached::File(_) => Err(OpenError::NotFound),
        }
    }

    fn steps<'a, S: AsRef<OsStr>>(
        &self,
        components: &'a [S],
    ) -> Result<(Vec<Step<'a>>, PathBuf), OpenError> {
        let names = names(components)?;
        let mut full = self.path.clone();
        full.extend(&names);
        Ok((names.into_iter().map(Step::Name).collect(), full))
    }
}

impl AsFd for Dir {
    /// The directory's descriptor (`O_PATH` or `O_RDONLY`): good for `openat` and `fstat`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.cursor.fd()
    }
}

// === lookup ===

/// Finds `steps` below `base`, whose full path is `full`, under `policy`.
fn lookup(
    policy: &SymlinkPolicy,
    base: Base<'_>,
    steps: &[Step<'_>],
    full: &Path,
    want: Want,
) -> Result<Reached, OpenError> {
    let base_path = match base {
        Base::Slash => Path::new("/"),
        Base::Dir(dir) => dir.path(),
    };
    let (mode, unchecked) = match policy.plan(base_path, full, steps.len()) {
        Plan::Kernel => return kernel_open(base, steps, full, want),
        Plan::Checked { mode, unchecked } => (mode, unchecked),
    };
    let (head, tail) = steps.split_at(unchecked.min(steps.len()));
    let start = match (head.is_empty(), base) {
        (true, Base::Slash) => {
            if let Some(reached) = without_links(None, tail, full, want) {
                return reached;
            }
            Cursor::root()?
        }
        (true, Base::Dir(dir)) => dir.cursor.clone(),
        (false, _) => {
            let path = base_path.join(joined(head));
            let fd = kernel_openat(base, head, kernel_flags(Want::Dir))
                .map_err(|e| OpenError::from_errno(e, || path.clone()))?;
            Cursor::opened(fd, path)
        }
    };
    if let Some(reached) = without_links(Some(start.fd()), tail, full, want) {
        return reached;
    }
    Walk::new(mode).walk(start, tail, want, false)
}

/// Whether `openat2` may be tried; cleared the first time the kernel says it has none.
static OPENAT2: AtomicBool = AtomicBool::new(true);

/// The checked part, `steps` below `from` (`None`: below `/`), opened by one
/// `openat2(RESOLVE_NO_SYMLINKS)`. When no component is a link the mode has nothing to decide,
/// and the kernel opens in one system call what the walk would open one component at a time;
/// it fails with `ENOENT` only where the walk finds nothing either (the components before the
/// missing one were no links). `None` leaves it to the walk: a link somewhere (`ELOOP`, or
/// `ENOTDIR` for a last component that must be a directory), any other failure (reported by
/// the walk as its rules say), a `..`, a single name below a directory (one `openat` either
/// way), or a kernel without `openat2`.
fn without_links(
    from: Option<BorrowedFd<'_>>,
    steps: &[Step<'_>],
    full: &Path,
    want: Want,
) -> Option<Result<Reached, OpenError>> {
    let single_name = from.is_some() && steps.len() < 2;
    let has_up = steps.iter().any(|step| matches!(step, Step::Up));
    if steps.is_empty() || single_name || has_up || !OPENAT2.load(Ordering::Relaxed) {
        return None;
    }
    let flags = match want {
        Want::Dir => DIR_FLAGS,
        Want::Any => LAST_FLAGS,
    };
    let (mode, resolve) = (Mode::empty(), ResolveFlags::NO_SYMLINKS);
    let opened = match from {
        Some(dir) => rustix::fs::openat2(dir, joined(steps), flags, mode, resolve),
        None => rustix::fs::openat2(
            CWD,
            Path::new("/").join(joined(steps)),
            flags,
            mode,
            resolve,
        ),
    };
    match opened {
        Ok(fd) => Some(classify(fd, full, want)),
        Err(Errno::NOENT) => Some(Err(OpenError::NotFound)),
        Err(Errno::NOSYS) => {
            OPENAT2.store(false, Ordering::Relaxed);
            None
        }
        Err(_) => None,
    }
}

/// The kernel opens all of `steps`, following links (mode `off`, or the full path is `from=`).
fn kernel_open(
    base: Base<'_>,
    steps: &[Step<'_>],
    full: &Path,
    want: Want,
) -> Result<Reached, OpenError> {
    let fd = kernel_openat(base, steps, kernel_flags(want))
        .map_err(|e| OpenError::from_errno(e, || full.to_owned()))?;
    classify(fd, full, want)
}

/// What the kernel opened as `fd` for `full`: a directory, a regular file, or not servable.
fn classify(fd: OwnedFd, full: &Path, want: Want) -> Result<Reached, OpenError> {
    if want == Want::Dir {
        return Ok(Reached::Dir(Cursor::opened(fd, full.to_owned())));
    }
    let file = File::from(fd);
    let metadata = file
        .metadata()
        .map_err(|e| OpenError::from_io(e, full.to_owned()))?;
    match FileKind::from_std(metadata.file_type()) {
        FileKind::Regular => Ok(Reached::File(OpenFile { file, metadata })),
        FileKind::Directory => Ok(Reached::Dir(Cursor::opened(
            OwnedFd::from(file),
            full.to_owned(),
        ))),
        kind => Err(OpenError::NotServable {
            path: full.to_owned(),
            kind,
        }),
    }
}

fn kernel_flags(want: Want) -> OFlags {
    match want {
        Want::Dir => OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        // `O_NONBLOCK`: opening a FIFO must not wait for a writer, even here.
        Want::Any => OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
    }
}

/// `openat` of `steps` joined, from `/` or from the base directory.
fn kernel_openat(
    base: Base<'_>,
    steps: &[Step<'_>],
    flags: OFlags,
) -> Result<OwnedFd, rustix::io::Errno> {
    let rel = joined(steps);
    match base {
        Base::Slash => rustix::fs::openat(CWD, Path::new("/").join(rel), flags, Mode::empty()),
        Base::Dir(dir) if rel.as_os_str().is_empty() => {
            rustix::fs::openat(dir.cursor.fd(), ".", flags, Mode::empty())
        }
        Base::Dir(dir) => rustix::fs::openat(dir.cursor.fd(), rel, flags, Mode::empty()),
    }
}

fn joined(steps: &[Step<'_>]) -> PathBuf {
    steps
        .iter()
        .map(|step| match *step {
            Step::Up => OsStr::new(".."),
            Step::Name(name) => name,
        })
        .collect()
}

/// Checks that each component is a plain file name.
fn names<S: AsRef<OsStr>>(components: &[S]) -> Result<Vec<&OsStr>, OpenError> {
    components
        .iter()
        .map(|c| {
            let name = c.as_ref();
            let bytes = name.as_bytes();
            let plain =
                !matches!(bytes, b"" | b"." | b"..") && !bytes.iter().any(|&b| b == b'/' || b == 0);
            if plain {
                Ok(name)
            } else {
                Err(OpenError::InvalidPath(name.to_string_lossy().into_owned()))
            }
        })
        .collect()
}

fn found(reached: Reached, full: PathBuf, policy: &Arc<SymlinkPolicy>) -> Found {
    match reached {
        Reached::File(file) => Found::File(file),
        Reached::Dir(cursor) => Found::Dir(dir(cursor, full, policy)),
    }
}

fn dir(cursor: Cursor, path: PathBuf, policy: &Arc<SymlinkPolicy>) -> Dir {
    Dir {
        cursor,
        path,
        policy: policy.clone(),
    }
}
