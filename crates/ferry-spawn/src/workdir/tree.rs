//! Handing a work directory to the app's user and removing it, through directory descriptors:
//! no name below the directory is ever looked up by a path from `/`, and no link is followed.
//!
//! **Handing over** ([`chown_tree`]) gives every object to the app's user, children before
//! their parents and the directory itself last. Until that last `fchown` the directory is
//! Ferry's and mode 0700, so the app's user cannot reach anything below it while the walk runs:
//! nothing can be swapped for a link under the walk. Each entry is changed through its parent's
//! descriptor (`fchownat(dir, name, AT_SYMLINK_NOFOLLOW)`, or `fchown` of a subdirectory opened
//! with `O_NOFOLLOW`), so even a link that were there would be changed itself, never its target.
//!
//! **Removing** ([`remove_tree`]) unlinks every entry through its parent's descriptor and
//! descends only into directories on the work directory's own file system (an app could mount
//! a FUSE file system in a directory it owns, where a walk might hang); then the directory's
//! name is removed with `rmdir`, which removes only an empty directory, never a link's target.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use ferry_sys::fs::FileKind;
use rustix::fs::{AtFlags, Dir, Gid, Mode, OFlags, Uid};

/// The deepest level walked: Ferry's own tree is four levels deep (`response/steps/<step>/`).
const MAX_DEPTH: usize = 8;

/// Opening a directory on the way: it must be one, and not a link.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Gives everything below `dir`, then `dir` itself, to `uid:gid` (see the module doc).
pub(crate) fn chown_tree(dir: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    let ids = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    chown_children(dir, ids, 0)?;
    rustix::fs::fchown(dir, ids.0, ids.1)?;
    Ok(())
}

/// Removes everything below `dir` (the directory at `path`) that is on its file system, then
/// the directory itself if it is empty (see the module doc).
pub(crate) fn remove_tree(dir: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let dev = rustix::fs::fstat(dir)?.st_dev;
    remove_children(dir, dev, 0)?;
    std::fs::remove_dir(path)
}

fn chown_children(
    dir: BorrowedFd<'_>,
    ids: (Option<Uid>, Option<Gid>),
    depth: usize,
) -> io::Result<()> {
    for (name, kind) in entries(dir, depth)? {
        if kind == FileKind::Directory {
            let sub = rustix::fs::openat(dir, &name, DIR_FLAGS, Mode::empty())?;
            chown_children(sub.as_fd(), ids, depth + 1)?;
            rustix::fs::fchown(&sub, ids.0, ids.1)?;
        } else {
            rustix::fs::chownat(dir, &name, ids.0, ids.1, AtFlags::SYMLINK_NOFOLLOW)?;
        }
    }
    Ok(())
}

fn remove_children(dir: BorrowedFd<'_>, dev: u64, depth: usize) -> io::Result<()> {
    for (name, kind) in entries(dir, depth)? {
        if kind != FileKind::Directory {
            rustix::fs::unlinkat(dir, &name, AtFlags::empty())?;
            continue;
        }
        let sub = rustix::fs::openat(dir, &name, DIR_FLAGS, Mode::empty())?;
        if rustix::fs::fstat(&sub)?.st_dev != dev {
            // A mount point: left alone, and so is the directory holding it.
            continue;
        }
        remove_children(sub.as_fd(), dev, depth + 1)?;
        rustix::fs::unlinkat(dir, &name, AtFlags::REMOVEDIR)?;
    }
    Ok(())
}

/// The entries of `dir` (not `.` and `..`) with their kinds, not following links.
fn entries(dir: BorrowedFd<'_>, depth: usize) -> io::Result<Vec<(CString, FileKind)>> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!(
            "more than {MAX_DEPTH} levels of directories"
        )));
    }
    let mut listing = Dir::read_from(dir)?;
    let mut out = Vec::new();
    while let Some(entry) = listing.read() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let kind = match FileKind::from(entry.file_type()) {
            FileKind::Unknown => {
                let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                FileKind::from_mode(stat.st_mode)
            }
            kind => kind,
        };
        out.push((name.to_owned(), kind));
    }
    Ok(out)
}
