//! Finding the instances in a registry: which directories are live instances, which are stale
//! (and removed), and which one a command talks to.
//!
//! A registry may be shared (the temp dir), so anybody may have put a `ferry.*` directory there,
//! with links, FIFOs or lies inside. A directory counts only when it belongs to a user the
//! caller trusts: root, or the caller itself ([`open_trusted`]); any other is ignored (never
//! read, never removed). Inside a trusted directory every file is read as
//! [`UntrustedDir`] reads: no link followed, no FIFO waited on, regular files of the directory's
//! owner, capped in size.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ferry_sys::fs::UntrustedDir;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use rustix::fs::{Mode, OFlags};

use super::{
    Instance, Listing, Properties, SelectError, DIR_PREFIX, LOCK_FILE, LOCK_TMP, PROPERTIES_FILE,
    UNFINISHED_GRACE,
};

/// Longest `properties.json` read.
const MAX_PROPERTIES: u64 = 64 * 1024;

/// What a directory entry turned out to be.
pub(super) enum Found {
    Live(Box<Instance>),
    /// Dead, with the reason.
    Stale(String),
    /// Not an instance directory, or one still being created.
    Other,
    /// A directory of a user the caller does not trust (neither root nor itself), with its owner.
    Foreign(u32),
}

/// The instance directory at `path`, opened without following a link, if it belongs to a user
/// the caller (effective uid `euid`) trusts: root or itself. Its files are then read as that
/// user's. `None`: another user's directory, to be ignored.
pub fn open_trusted(path: &Path, euid: u32) -> io::Result<Option<UntrustedDir>> {
    match open_owned(path, euid)? {
        Ok(dir) => Ok(Some(dir)),
        Err(_) => Ok(None),
    }
}

/// [`open_trusted`], saying whose directory it is when it is not trusted.
fn open_owned(path: &Path, euid: u32) -> io::Result<Result<UntrustedDir, u32>> {
    let dir = UntrustedDir::open(path, None)?;
    let fd = dir.as_fd().try_clone_to_owned()?;
    let owner = File::from(fd.try_clone()?).metadata()?.uid();
    if owner != 0 && owner != euid {
        return Ok(Err(owner));
    }
    Ok(Ok(UntrustedDir::from_fd(fd, Some(owner))?))
}

/// The live instances in `registry`. Stale instance directories are removed on the way (see the
/// module docs). A registry that does not exist holds no instances.
pub fn list_instances(registry: &Path) -> io::Result<Listing> {
    list_instances_as(registry, nix::unistd::geteuid().as_raw())
}

/// [`list_instances`] for a caller of effective uid `euid`.
pub(super) fn list_instances_as(registry: &Path, euid: u32) -> io::Result<Listing> {
    let mut listing = Listing::default();
    let entries = match fs::read_dir(registry) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(listing),
        Err(e) => return Err(e),
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let is_instance = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX))
            && entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_instance {
            continue;
        }
        let path = entry.path();
        match inspect(&path, now, euid) {
            Found::Live(instance) => listing.instances.push(*instance),
            Found::Stale(reason) => match fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), reason, "removed a stale instance directory");
                    listing.cleaned.push(path);
                }
                Err(e) => listing.not_cleaned.push((path, format!("{reason}; {e}"))),
            },
            Found::Other => {}
            Found::Foreign(owner) => {
                tracing::debug!(path = %path.display(), owner, "ignored another user's directory");
            }
        }
    }
    listing
        .instances
        .sort_by(|a, b| a.properties.name.cmp(&b.properties.name));
    Ok(listing)
}

/// [`list_instances`] over several registries; unreadable ones are skipped.
pub fn list_all(registries: &[PathBuf]) -> Listing {
    let mut all = Listing::default();
    for registry in registries {
        if let Ok(listing) = list_instances(registry) {
            all.instances.extend(listing.instances);
            all.cleaned.extend(listing.cleaned);
            all.not_cleaned.extend(listing.not_cleaned);
        }
    }
    all
}

/// What the directory at `path` is, for a caller of effective uid `euid`.
pub(super) fn inspect(path: &Path, now: SystemTime, euid: u32) -> Found {
    let dir = match open_owned(path, euid) {
        Ok(Ok(dir)) => dir,
        Ok(Err(owner)) => return Found::Foreign(owner),
        // Gone, or not a directory (a link): not an instance.
        Err(_) => return Found::Other,
    };
    let Some(locked) = lock_is_held(&dir) else {
        // Every instance directory gets its lock before anything else: this is something else
        // (another program's `ferry.*` directory, a Ferry's runtime directory).
        return Found::Other;
    };
    let properties = dir
        .read(PROPERTIES_FILE, MAX_PROPERTIES)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice::<Properties>(&bytes).ok());
    let Some(properties) = properties else {
        // Being created (the lock is taken first), or left behind by a Ferry that died early.
        let old = age(&dir, now).is_some_and(|age| age > UNFINISHED_GRACE);
        return if !locked && old {
            Found::Stale("no properties.json and nobody holds its lock".into())
        } else {
            Found::Other
        };
    };
    if !pid_alive(properties.pid) {
        return Found::Stale(format!("its pid {} is not running", properties.pid));
    }
    if !locked {
        return Found::Stale("nobody holds its lock".into());
    }
    Found::Live(Box::new(Instance {
        path: path.to_owned(),
        properties,
    }))
}

/// How long ago the directory was last modified.
fn age(dir: &UntrustedDir, now: SystemTime) -> Option<std::time::Duration> {
    let modified = File::from(dir.as_fd().try_clone_to_owned().ok()?)
        .metadata()
        .ok()?
        .modified()
        .ok()?;
    now.duration_since(modified).ok()
}

/// Whether another open file holds an flock on the directory's `lock`; `None` when there is no
/// `lock`. Opened read-only (flock works on any open file, and another user's lock file is only
/// readable), without following a link or waiting on a FIFO; anything but a regular file of the
/// directory's owner cannot be told, and counts as held (so it is never called stale).
pub(super) fn lock_is_held(dir: &UntrustedDir) -> Option<bool> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    // The lock under its temporary name: a Ferry that died before renaming it.
    let opened = [LOCK_FILE, LOCK_TMP]
        .into_iter()
        .map(|name| rustix::fs::openat(dir, name, flags, Mode::empty()))
        .find(|opened| !matches!(opened, Err(rustix::io::Errno::NOENT)))?;
    let file = match opened {
        Ok(fd) => File::from(fd),
        Err(_) => return Some(true),
    };
    let owner = File::from(dir.as_fd().try_clone_to_owned().ok()?)
        .metadata()
        .ok()?
        .uid();
    match file.metadata() {
        Ok(meta) if meta.is_file() && meta.uid() == owner => {}
        _ => return Some(true),
    }
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(_unlocked_on_drop) => Some(false),
        Err((_, Errno::EWOULDBLOCK)) => Some(true),
        // Cannot tell (a file system without flock): do not call it stale for this.
        Err(_) => Some(true),
    }
}

fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None),
        Err(Errno::ESRCH)
    )
}

/// Picks the instance to talk to: the one named `name` (or whose name starts with it), or the
/// only one running.
pub fn select<'a>(
    instances: &'a [Instance],
    name: Option<&str>,
) -> Result<&'a Instance, SelectError> {
    let names = |list: &[&Instance]| list.iter().map(|i| i.properties.name.clone()).collect();
    match name {
        None => match instances {
            [] => Err(SelectError::NoneRunning),
            [one] => Ok(one),
            many => Err(SelectError::Ambiguous(names(
                &many.iter().collect::<Vec<_>>(),
            ))),
        },
        Some(name) => {
            if let Some(exact) = instances.iter().find(|i| i.properties.name == name) {
                return Ok(exact);
            }
            let matching: Vec<_> = instances
                .iter()
                .filter(|i| i.properties.name.starts_with(name))
                .collect();
            match matching.as_slice() {
                [] if instances.is_empty() => Err(SelectError::NoneRunning),
                [] => Err(SelectError::NoSuchName(name.to_owned())),
                [one] => Ok(one),
                many => Err(SelectError::Ambiguous(names(many))),
            }
        }
    }
}

/// The message for "no instance found", naming every directory looked in.
pub fn no_instance_message(searched: &[PathBuf]) -> String {
    let mut message = String::from("Ferry is not running: no live instance was found in");
    for dir in searched {
        message.push_str("\n  ");
        message.push_str(&dir.display().to_string());
    }
    message.push_str(
        "\nIf Ferry was started with --instance-registry-dir, pass the same \
         --instance-registry-dir here.",
    );
    message
}
