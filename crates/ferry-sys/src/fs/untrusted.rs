//! [`UntrustedDir`]: reading the files an app writes for Ferry (a spawn's work directory),
//! following no link. The rules are in [the module docs](super).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::kind::FileKind;

#[cfg(test)]
mod tests;

/// A directory Ferry created whose contents an app's owner controls. Every path below it is
/// walked without following links, and only regular files on its file system, owned by the
/// expected user, are read, up to a cap.
#[derive(Debug)]
pub struct UntrustedDir {
    fd: OwnedFd,
    /// The directory's file system: every object read must be on it.
    dev: u64,
    /// The uid every file read must belong to (the app's user), if checked.
    owner: Option<u32>,
}

/// One entry of a listed directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name (never `.` or `..`).
    pub name: OsString,
    /// What it is, not following a link.
    pub kind: FileKind,
}

/// Why a file an app wrote was not read; names the file by its path below the directory.
///
/// Its `Display` is a sentence fit for a spawn error page: "response/error/summary is a
/// symbolic link; Ferry does not follow links an app writes".
#[derive(Debug, thiserror::Error)]
#[error("{} {reason}", path.display())]
pub struct UntrustedError {
    path: PathBuf,
    reason: Reason,
}

/// What was wrong with a file an app wrote.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    /// A symbolic link, the file itself or a directory on its path.
    #[error("is a symbolic link; Ferry does not follow links an app writes")]
    Symlink,
    /// Not a regular file (a FIFO, socket, device or directory).
    #[error("is {0}, not a regular file")]
    NotRegular(FileKind),
    /// A component on the path, or a directory to list, is not a directory.
    #[error("is {0}, not a directory")]
    NotDirectory(FileKind),
    /// Not a FIFO, where one was expected.
    #[error("is {0}, not a FIFO")]
    NotFifo(FileKind),
    /// Owned by another user than the expected one.
    #[error("belongs to uid {actual}, not to the app's user (uid {expected})")]
    Owner {
        /// The uid the caller expected (the app's user).
        expected: u32,
        /// The file's owner.
        actual: u32,
    },
    /// Larger than the caller's cap.
    #[error("is larger than {}", Size(*cap))]
    TooLarge {
        /// The cap, in bytes.
        cap: u64,
    },
    /// A directory with more entries than the caller's cap.
    #[error("has more than {max} entries")]
    TooManyEntries {
        /// The cap.
        max: usize,
    },
    /// On another file system than the directory (a mount point).
    #[error("is on another file system than the directory it is read from")]
    OtherFileSystem,
    /// Not a relative path of plain names (a programmer's error).
    #[error("is not a relative path of plain names")]
    InvalidPath,
    /// A system call failed.
    #[error("could not be read: {0}")]
    Io(io::Error),
}

/// A size in words: "64 KiB", "1 MiB", "32 bytes".
struct Size(u64);

/// Where a walk to a path's last component ended.
struct Parent<'a> {
    /// The directory holding the last component (`None`: the base directory).
    dir: Option<OwnedFd>,
    /// The last component (`None`: the path is empty, the base directory itself).
    name: Option<&'a OsStr>,
}

/// Opening a directory on the way: no link followed, no `open` code run, no inheritance.
const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
/// Opening the last component: no link followed; a FIFO does not block.
const LAST_FLAGS: OFlags = OFlags::NOFOLLOW
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

// === impl UntrustedDir ===

impl UntrustedDir {
    /// Opens the directory Ferry created at `path` (its last component must not be a link).
    /// `owner`: the uid every file read must belong to, or `None` not to check.
    pub fn open(path: &Path, owner: Option<u32>) -> io::Result<UntrustedDir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(CWD, path, flags, Mode::empty())?;
        UntrustedDir::from_fd(fd, owner)
    }

    /// A directory Ferry holds open.
    pub fn from_fd(fd: OwnedFd, owner: Option<u32>) -> io::Result<UntrustedDir> {
        let stat = rustix::fs::fstat(&fd)?;
        if FileKind::from_mode(stat.st_mode) != FileKind::Directory {
            return Err(io::Error::from(Errno::NOTDIR));
        }
        Ok(UntrustedDir {
            fd,
            dev: stat.st_dev,
            owner,
        })
    }

    /// Reads the regular file at `rel`, of at most `cap` bytes; `None` if it (or a directory on
    /// its path) does not exist.
    pub fn read(&self, rel: impl AsRef<Path>, cap: u64) -> Result<Option<Vec<u8>>, UntrustedError> {
        let rel = rel.as_ref();
        let Some((file, len)) = self.open_regular(rel)? else {
            return Ok(None);
        };
        read_capped(file, len, cap)
            .map(Some)
            .map_err(|reason| error(rel, reason))
    }

    /// [`read`](Self::read), as text (invalid UTF-8 replaced).
    pub fn read_string(
        &self,
        rel: impl AsRef<Path>,
        cap: u64,
    ) -> Result<Option<String>, UntrustedError> {
        let bytes = self.read(rel, cap)?;
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The entries of the directory at `rel` (empty: this directory), sorted by name, at most
    /// `max` of them; `None` if it does not exist.
    pub fn list(
        &self,
        rel: impl AsRef<Path>,
        max: usize,
    ) -> Result<Option<Vec<Entry>>, UntrustedError> {
        let rel = rel.as_ref();
        let Some(parent) = self.parent(rel)? else {
            return Ok(None);
        };
        let (dir, name) = (parent.fd(self), parent.name.unwrap_or(OsStr::new(".")));
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | LAST_FLAGS;
        let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(error(rel, explain(dir, name, e, FileKind::Directory))),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| error(rel, Reason::Io(e.into())))?;
        if stat.st_dev != self.dev {
            return Err(error(rel, Reason::OtherFileSystem));
        }
        read_entries(fd, max)
            .map(Some)
            .map_err(|reason| error(rel, reason))
    }

    /// What is at `rel`, not following a link; `None` if nothing is.
    pub fn kind(&self, rel: impl AsRef<Path>) -> Result<Option<FileKind>, UntrustedError> {
        let rel = rel.as_ref();
        let Some(parent) = self.parent(rel)? else {
            return Ok(None);
        };
        let Some(name) = parent.name else {
            return Ok(Some(FileKind::Directory));
        };
        match rustix::fs::statat(parent.fd(self), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileKind::from_mode(stat.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(error(rel, Reason::Io(e.into()))),
        }
    }

    /// Opens the FIFO at `rel` for reading and writing, without blocking (`O_RDWR|O_NONBLOCK`:
    /// the open never waits for a writer, and a writer closing is no end-of-file); `None` if it
    /// does not exist. It is checked to be a FIFO before it is opened, and to be the same FIFO
    /// after.
    pub fn open_fifo(&self, rel: impl AsRef<Path>) -> Result<Option<File>, UntrustedError> {
        let rel = rel.as_ref();
        let Some(parent) = self.parent(rel)? else {
            return Ok(None);
        };
        let name = parent.name.ok_or_else(|| error(rel, Reason::InvalidPath))?;
        let dir = parent.fd(self);
        let before = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(error(rel, Reason::Io(e.into()))),
        };
        match FileKind::from_mode(before.st_mode) {
            FileKind::Fifo => {}
            FileKind::Symlink => return Err(error(rel, Reason::Symlink)),
            other => return Err(error(rel, mismatch(FileKind::Fifo, other))),
        }
        let fd = match rustix::fs::openat(dir, name, OFlags::RDWR | LAST_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => return Err(error(rel, Reason::Symlink)),
            Err(e) => return Err(error(rel, explain(dir, name, e, FileKind::Fifo))),
        };
        let file = File::from(fd);
        let metadata = file.metadata().map_err(|e| error(rel, Reason::Io(e)))?;
        self.check(&metadata, FileKind::Fifo)
            .map_err(|reason| error(rel, reason))?;
        if (metadata.dev(), metadata.ino()) != (before.st_dev, before.st_ino) {
            let changed = io::Error::other("it was replaced while being opened");
            return Err(error(rel, Reason::Io(changed)));
        }
        Ok(Some(file))
    }

    /// Opens the regular file at `rel` and checks it; with its size.
    fn open_regular(&self, rel: &Path) -> Result<Option<(File, u64)>, UntrustedError> {
        let Some(parent) = self.parent(rel)? else {
            return Ok(None);
        };
        let name = parent.name.ok_or_else(|| error(rel, Reason::InvalidPath))?;
        let dir = parent.fd(self);
        let fd = match rustix::fs::openat(dir, name, OFlags::RDONLY | LAST_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(error(rel, Reason::Symlink)),
            // A socket (`ENXIO`), or no permission: say what it is if it is not a file.
            Err(e) => return Err(error(rel, explain(dir, name, e, FileKind::Regular))),
        };
        let file = File::from(fd);
        let metadata = file.metadata().map_err(|e| error(rel, Reason::Io(e)))?;
        self.check(&metadata, FileKind::Regular)
            .map_err(|reason| error(rel, reason))?;
        Ok(Some((file, metadata.len())))
    }

    /// Walks the directories of `rel` (all but its last component); `None` if one is missing.
    fn parent<'a>(&self, rel: &'a Path) -> Result<Option<Parent<'a>>, UntrustedError> {
        let names = plain_names(rel).ok_or_else(|| error(rel, Reason::InvalidPath))?;
        let Some((last, dirs)) = names.split_last() else {
            return Ok(Some(Parent {
                dir: None,
                name: None,
            }));
        };
        let mut walked = PathBuf::new();
        let mut current: Option<OwnedFd> = None;
        for &name in dirs {
            walked.push(name);
            let at = current.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            let fd = match rustix::fs::openat(at, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(error(&walked, explain(at, name, e, FileKind::Directory))),
            };
            let stat = rustix::fs::fstat(&fd).map_err(|e| error(&walked, Reason::Io(e.into())))?;
            if stat.st_dev != self.dev {
                return Err(error(&walked, Reason::OtherFileSystem));
            }
            current = Some(fd);
        }
        Ok(Some(Parent {
            dir: current,
            name: Some(last),
        }))
    }

    /// Checks an opened object: its kind, file system and owner.
    fn check(&self, metadata: &std::fs::Metadata, want: FileKind) -> Result<(), Reason> {
        let kind = FileKind::from_std(metadata.file_type());
        if kind != want {
            return Err(mismatch(want, kind));
        }
        if metadata.dev() != self.dev {
            return Err(Reason::OtherFileSystem);
        }
        match self.owner {
            Some(expected) if metadata.uid() != expected => Err(Reason::Owner {
                expected,
                actual: metadata.uid(),
            }),
            _ => Ok(()),
        }
    }
}

impl AsFd for UntrustedDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

// === impl Parent ===

impl Parent<'_> {
    fn fd<'d>(&'d self, base: &'d UntrustedDir) -> BorrowedFd<'d> {
        self.dir.as_ref().map_or(base.fd.as_fd(), |fd| fd.as_fd())
    }
}

// === impl UntrustedError ===

impl UntrustedError {
    /// The file's path below the directory (up to the component at fault).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was wrong.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

// === impl Size ===

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * 1024;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            1 => f.write_str("1 byte"),
            n => write!(f, "{n} bytes"),
        }
    }
}

// === helpers ===

fn error(path: &Path, reason: Reason) -> UntrustedError {
    UntrustedError {
        path: path.to_owned(),
        reason,
    }
}

/// The names of `rel`, if it is a relative path of plain names only.
fn plain_names(rel: &Path) -> Option<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(name) if !name.as_bytes().contains(&0) => Some(name),
            _ => None,
        })
        .collect()
}

/// Why opening `name` (which should be `want`) failed with `errno`, in words: a link, the
/// wrong kind of object, or the error itself.
fn explain(dir: BorrowedFd<'_>, name: &OsStr, errno: Errno, want: FileKind) -> Reason {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => match FileKind::from_mode(stat.st_mode) {
            FileKind::Symlink => Reason::Symlink,
            kind if kind != want => mismatch(want, kind),
            _ => Reason::Io(errno.into()),
        },
        Err(_) => Reason::Io(errno.into()),
    }
}

/// The reason for finding `got` where `want` should be.
fn mismatch(want: FileKind, got: FileKind) -> Reason {
    match want {
        FileKind::Directory => Reason::NotDirectory(got),
        FileKind::Fifo => Reason::NotFifo(got),
        _ => Reason::NotRegular(got),
    }
}

/// Reads `file` (of `len` bytes by `fstat`) if it holds at most `cap` bytes.
fn read_capped(file: File, len: u64, cap: u64) -> Result<Vec<u8>, Reason> {
    if len > cap {
        return Err(Reason::TooLarge { cap });
    }
    // One byte more than the cap tells a file that grew since `fstat`.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Reason::Io)?;
    if bytes.len() as u64 > cap {
        return Err(Reason::TooLarge { cap });
    }
    Ok(bytes)
}

/// Reads the entries of the directory open as `fd`, at most `max`, sorted by name.
fn read_entries(fd: OwnedFd, max: usize) -> Result<Vec<Entry>, Reason> {
    let mut dir = rustix::fs::Dir::new(fd).map_err(|e| Reason::Io(e.into()))?;
    let mut entries = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(|e| Reason::Io(e.into()))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if entries.len() == max {
            return Err(Reason::TooManyEntries { max });
        }
        let kind = match FileKind::from(entry.file_type()) {
            // The file system does not fill `d_type`: ask, without following.
            FileKind::Unknown => {
                let at = dir.fd().map_err(|e| Reason::Io(e.into()))?;
                rustix::fs::statat(at, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                    .map(|stat| FileKind::from_mode(stat.st_mode))
                    .unwrap_or(FileKind::Unknown)
            }
            kind => kind,
        };
        entries.push(Entry {
            name: OsStr::from_bytes(name).to_owned(),
            kind,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}
