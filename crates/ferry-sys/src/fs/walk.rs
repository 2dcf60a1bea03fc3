//! The checked walk: one component at a time from a directory descriptor, links followed (or
//! refused) by hand. The rules are in [the module docs](super).

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use super::error::{OpenError, Refusal};
use super::kind::FileKind;
use super::policy::DisableSymlinks;

/// Links followed in one lookup before it fails with `ELOOP` (the kernel's own bound).
pub(super) const MAX_LINKS: u32 = 40;

/// Opening a directory component: no link followed, no `open` code run, no inheritance.
pub(super) const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
/// Opening the last component: readable, no link followed, a FIFO does not block.
pub(super) const LAST_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);
/// Opening a link itself, to `fstat` it and read its content from the descriptor.
const LINK_FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// A regular file, opened, with the metadata of the opened descriptor.
#[derive(Debug)]
pub struct OpenFile {
    /// The file, open for reading.
    pub file: File,
    /// `fstat` of `file`: the size and validators describe the bytes `file` reads.
    pub metadata: std::fs::Metadata,
}

/// Directories a walk keeps open above where it is, for `..` in a link's content: enough for
/// any honest link, and a bound on descriptors when a request names a path thousands of
/// directories deep.
pub(super) const HELD: usize = 16;

/// One directory the walk holds open.
struct Held {
    fd: OwnedFd,
    /// The path as walked (links already resolved), for messages.
    path: PathBuf,
}

/// Where a walk is: a directory descriptor (`top`) and the directories the walk came through
/// above it (`above`, nearest last; [`HELD`] directories in all at most).
///
/// Invariant: `above` then `top` is the physical path down to `top`, as walked. Each directory
/// was opened from the one before by a name that was not a link (or by `..`), so `..` from one
/// is the one before it. The first is `/` when `rooted`; otherwise it is a directory the kernel
/// opened (a `from=` prefix, a [`Dir`](super::Dir) found in `off` mode or by a lookup that met no
/// link) or the deepest held of a longer walk, and its parent is `openat(fd, "..")`, which the
/// kernel keeps at `/` too.
#[derive(Clone)]
pub(super) struct Cursor {
    top: Arc<Held>,
    above: Vec<Arc<Held>>,
    rooted: bool,
}

/// One component of a path to walk: a name, or `..` (only from a trusted root path or a link's
/// content; request paths have none).
#[derive(Debug, Clone, Copy)]
pub(super) enum Step<'a> {
    Up,
    Name(&'a OsStr),
}

/// What the last component must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// A directory (opened `O_PATH`).
    Dir,
    /// A regular file or a directory (opened `O_RDONLY`).
    Any,
}

/// Where a walk ended.
#[derive(Debug)]
pub(super) enum Reached {
    Dir(Cursor),
    File(OpenFile),
}

/// One lookup's walk in a checking mode (`on` or `if_not_owner`).
#[derive(Debug)]
pub(super) struct Walk {
    mode: DisableSymlinks,
    links: u32,
}

/// A link's content, split into steps.
struct Target<'a> {
    absolute: bool,
    steps: Vec<Step<'a>>,
    /// Ends in `/`, `/.` or `/..`: what it names must be a directory.
    dir_only: bool,
}

// === impl Cursor ===

impl Cursor {
    /// `/`.
    pub(super) fn root() -> Result<Cursor, OpenError> {
        let fd = rustix::fs::openat(CWD, "/", DIR_FLAGS, Mode::empty())
            .map_err(|e| OpenError::from_errno(e, || PathBuf::from("/")))?;
        Ok(Cursor {
            top: Held::new(fd, PathBuf::from("/")),
            above: Vec::new(),
            rooted: true,
        })
    }

    /// A directory the kernel opened by a trusted path.
    pub(super) fn opened(fd: OwnedFd, path: PathBuf) -> Cursor {
        Cursor {
            top: Held::new(fd, path),
            above: Vec::new(),
            rooted: false,
        }
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.top.fd.as_fd()
    }

    /// The path as walked, for messages.
    pub(super) fn path(&self) -> &Path {
        &self.top.path
    }

    /// How many directories the cursor holds open.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.above.len() + 1
    }

    fn push(mut self, fd: OwnedFd, name: &OsStr) -> Cursor {
        let path = self.path().join(name);
        let parent = std::mem::replace(&mut self.top, Held::new(fd, path));
        self.above.push(parent);
        if self.above.len() >= HELD {
            self.above.remove(0);
            self.rooted = false;
        }
        self
    }

    /// The directory above: the one held, else `..` of the first (`/` itself at `/`).
    fn up(mut self) -> Result<Cursor, OpenError> {
        if let Some(parent) = self.above.pop() {
            self.top = parent;
            return Ok(self);
        }
        if self.rooted {
            return Ok(self);
        }
        let path = self.path().parent().unwrap_or(Path::new("/")).to_owned();
        let fd = rustix::fs::openat(self.fd(), "..", DIR_FLAGS, Mode::empty())
            .map_err(|e| OpenError::from_errno(e, || path.clone()))?;
        Ok(Cursor::opened(fd, path))
    }

    fn owner(&self) -> Result<u32, OpenError> {
        let stat = rustix::fs::fstat(self.fd())
            .map_err(|e| OpenError::from_errno(e, || self.path().to_owned()))?;
        Ok(stat.st_uid)
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("path", &self.path())
            .field("held", &(self.above.len() + 1))
            .field("rooted", &self.rooted)
            .finish()
    }
}

// === impl Held ===

impl Held {
    fn new(fd: OwnedFd, path: PathBuf) -> Arc<Held> {
        Arc::new(Held { fd, path })
    }
}

// === impl Reached ===

impl Reached {
    fn owner(&self) -> Result<u32, OpenError> {
        match self {
            Reached::Dir(cursor) => cursor.owner(),
            Reached::File(file) => Ok(file.metadata.uid()),
        }
    }
}

// === impl Walk ===

impl Walk {
    /// A walk in `mode`, which must be `On` or `IfNotOwner`.
    pub(super) fn new(mode: DisableSymlinks) -> Walk {
        debug_assert_ne!(mode, DisableSymlinks::Off, "`off` is the kernel's walk");
        Walk { mode, links: 0 }
    }

    /// Walks `steps` from `cur`; the last one must be what `want` says. `guarded`: the walk is a
    /// link's content, so its last object is looked at before it is opened.
    pub(super) fn walk(
        &mut self,
        mut cur: Cursor,
        steps: &[Step<'_>],
        want: Want,
        guarded: bool,
    ) -> Result<Reached, OpenError> {
        let Some((last, init)) = steps.split_last() else {
            return Ok(Reached::Dir(cur));
        };
        for step in init {
            cur = match *step {
                Step::Up => cur.up()?,
                Step::Name(name) => self.enter(cur, name)?,
            };
        }
        match (*last, want) {
            (Step::Up, _) => Ok(Reached::Dir(cur.up()?)),
            (Step::Name(name), Want::Dir) => self.enter(cur, name).map(Reached::Dir),
            (Step::Name(name), Want::Any) if guarded => self.last_guarded(cur, name),
            (Step::Name(name), Want::Any) => self.last(cur, name),
        }
    }

    /// A directory component.
    fn enter(&mut self, cur: Cursor, name: &OsStr) -> Result<Cursor, OpenError> {
        match rustix::fs::openat(cur.fd(), name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(cur.push(fd, name)),
            // A link, or not a directory at all.
            Err(Errno::NOTDIR) => self.enter_not_dir(cur, name),
            Err(e) => Err(OpenError::from_errno(e, || cur.path().join(name))),
        }
    }

    /// `name` was not opened as a directory: follow it if it is a link the mode allows.
    fn enter_not_dir(&mut self, cur: Cursor, name: &OsStr) -> Result<Cursor, OpenError> {
        let path = || cur.path().join(name);
        if self.mode == DisableSymlinks::On {
            // Only to say why: whatever it is, it is not entered.
            let stat = rustix::fs::statat(cur.fd(), name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| OpenError::from_errno(e, path))?;
            return Err(match kind(&stat) {
                FileKind::Symlink => refused(path(), Refusal::Symlink),
                _ => OpenError::NotFound,
            });
        }
        let (link, stat) = open_link(&cur, name)?;
        match kind(&stat) {
            FileKind::Symlink => {
                let path = path();
                match self.follow(cur, link, stat.st_uid, path, Want::Dir)? {
                    Reached::Dir(cur) => Ok(cur),
                    Reached::File(_) => Err(OpenError::NotFound),
                }
            }
            // Replaced by a directory since the first open: opened without following, so use it.
            FileKind::Directory => Ok(cur.push(link, name)),
            _ => Err(OpenError::NotFound),
        }
    }

    /// The last component, reached directly (not through a link).
    fn last(&mut self, cur: Cursor, name: &OsStr) -> Result<Reached, OpenError> {
        match rustix::fs::openat(cur.fd(), name, LAST_FLAGS, Mode::empty()) {
            Ok(fd) => opened(cur, name, fd, None),
            // `O_NOFOLLOW` on a one-name path: the name is a link.
            Err(Errno::LOOP) => self.last_link(cur, name),
            Err(e) => Err(OpenError::from_errno(e, || cur.path().join(name))),
        }
    }

    /// The last object a link's content names. A FIFO, socket or device is refused without
    /// being opened; what is opened must be what was looked at.
    fn last_guarded(&mut self, cur: Cursor, name: &OsStr) -> Result<Reached, OpenError> {
        let path = || cur.path().join(name);
        let stat = rustix::fs::statat(cur.fd(), name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| OpenError::from_errno(e, path))?;
        match kind(&stat) {
            FileKind::Symlink => self.last_link(cur, name),
            FileKind::Regular | FileKind::Directory => {
                let fd = match rustix::fs::openat(cur.fd(), name, LAST_FLAGS, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(Errno::LOOP) => return Err(refused(path(), Refusal::Changed)),
                    Err(e) => return Err(OpenError::from_errno(e, path)),
                };
                opened(cur, name, fd, Some(&stat))
            }
            other => Err(OpenError::NotServable {
                path: path(),
                kind: other,
            }),
        }
    }

    /// The last component is a link: refuse it, or follow it.
    fn last_link(&mut self, cur: Cursor, name: &OsStr) -> Result<Reached, OpenError> {
        let path = cur.path().join(name);
        if self.mode == DisableSymlinks::On {
            return Err(refused(path, Refusal::Symlink));
        }
        let (link, stat) = open_link(&cur, name)?;
        if kind(&stat) != FileKind::Symlink {
            return Err(refused(path, Refusal::Changed));
        }
        self.follow(cur, link, stat.st_uid, path, Want::Any)
    }

    /// Resolves the link open as `link` (owned by `owner`, found in `cur`) by walking its
    /// content, and keeps the result only if it has the link's owner.
    fn follow(
        &mut self,
        cur: Cursor,
        link: OwnedFd,
        owner: u32,
        path: PathBuf,
        want: Want,
    ) -> Result<Reached, OpenError> {
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(refused(path, Refusal::TooManyLinks));
        }
        // From the descriptor: the content of the very link whose owner was taken.
        let content = rustix::fs::readlinkat(&link, "", Vec::new())
            .map_err(|e| OpenError::from_errno(e, || path.clone()))?;
        drop(link);
        let Some(target) = Target::parse(content.as_bytes()) else {
            return Err(OpenError::NotFound);
        };
        let start = if target.absolute {
            Cursor::root()?
        } else {
            cur
        };
        let want = if target.dir_only { Want::Dir } else { want };
        let reached = self.walk(start, &target.steps, want, true)?;
        let target_owner = reached.owner()?;
        if target_owner != owner {
            let refusal = Refusal::Owner {
                link: owner,
                target: target_owner,
            };
            return Err(refused(path, refusal));
        }
        Ok(reached)
    }
}

// === impl Target ===

impl<'a> Target<'a> {
    /// `None` for empty content (which the kernel treats as `ENOENT`).
    fn parse(content: &'a [u8]) -> Option<Target<'a>> {
        if content.is_empty() {
            return None;
        }
        let last = content.rsplit(|&b| b == b'/').next().unwrap_or_default();
        let steps = content
            .split(|&b| b == b'/')
            .filter(|part| !part.is_empty() && *part != b".")
            .map(|part| match part {
                b".." => Step::Up,
                name => Step::Name(OsStr::from_bytes(name)),
            })
            .collect();
        Some(Target {
            absolute: content.starts_with(b"/"),
            steps,
            dir_only: matches!(last, b"" | b"." | b".."),
        })
    }
}

// === helpers ===

/// Opens the link `name` itself and `fstat`s it.
fn open_link(cur: &Cursor, name: &OsStr) -> Result<(OwnedFd, Stat), OpenError> {
    let path = || cur.path().join(name);
    let link = rustix::fs::openat(cur.fd(), name, LINK_FLAGS, Mode::empty())
        .map_err(|e| OpenError::from_errno(e, path))?;
    let stat = rustix::fs::fstat(&link).map_err(|e| OpenError::from_errno(e, path))?;
    Ok((link, stat))
}

/// Classifies the last object, opened as `fd` from `cur`. With `expected`, it must be that
/// object (device and inode).
fn opened(
    cur: Cursor,
    name: &OsStr,
    fd: OwnedFd,
    expected: Option<&Stat>,
) -> Result<Reached, OpenError> {
    let path = || cur.path().join(name);
    let file = File::from(fd);
    let metadata = file.metadata().map_err(|e| OpenError::from_io(e, path()))?;
    if let Some(stat) = expected {
        if (metadata.dev(), metadata.ino()) != (stat.st_dev, stat.st_ino) {
            return Err(refused(path(), Refusal::Changed));
        }
    }
    match FileKind::from_std(metadata.file_type()) {
        FileKind::Regular => Ok(Reached::File(OpenFile { file, metadata })),
        FileKind::Directory => Ok(Reached::Dir(cur.push(OwnedFd::from(file), name))),
        kind => Err(OpenError::NotServable { path: path(), kind }),
    }
}

fn kind(stat: &Stat) -> FileKind {
    FileKind::from_mode(stat.st_mode)
}

fn refused(path: PathBuf, refusal: Refusal) -> OpenError {
    OpenError::Refused { path, refusal }
}
