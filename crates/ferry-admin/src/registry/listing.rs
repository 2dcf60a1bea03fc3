//! Finding the instances in a registry: which directories are live instances, which are stale
//! (and removed), and which one a command talks to.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::{
    Instance, Listing, Properties, SelectError, DIR_PREFIX, LOCK_FILE, PROPERTIES_FILE,
    UNFINISHED_GRACE,
};

/// What a directory entry turned out to be.
pub(super) enum Found {
    Live(Box<Instance>),
    /// Dead, with the reason.
    Stale(String),
    /// Not an instance directory, or one still being created.
    Other,
}

/// The live instances in `registry`. Stale instance directories are removed on the way (see the
/// module docs). A registry that does not exist holds no instances.
pub fn list_instances(registry: &Path) -> io::Result<Listing> {
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
        match inspect(&path, now) {
            Found::Live(instance) => listing.instances.push(*instance),
            Found::Stale(reason) => match fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), reason, "removed a stale instance directory");
                    listing.cleaned.push(path);
                }
                Err(e) => listing.not_cleaned.push((path, format!("{reason}; {e}"))),
            },
            Found::Other => {}
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

pub(super) fn inspect(path: &Path, now: SystemTime) -> Found {
    let locked = lock_is_held(&path.join(LOCK_FILE));
    let properties = fs::read(path.join(PROPERTIES_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Properties>(&bytes).ok());
    let Some(properties) = properties else {
        // Being created (the lock is taken first), or left behind by a Ferry that died early.
        let old = fs::metadata(path)
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > UNFINISHED_GRACE);
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

/// Whether another open file holds an flock on `path`. Opened read-only: flock works on any
/// open file, and another user's lock file is only readable.
pub(super) fn lock_is_held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(_unlocked_on_drop) => false,
        Err((_, Errno::EWOULDBLOCK)) => true,
        // Cannot tell (a file system without flock): do not call it stale for this.
        Err(_) => true,
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
