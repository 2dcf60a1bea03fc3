//! The instance registry: one directory per running Ferry, so that `ferry status` and the other
//! admin commands can find it, prove who they are, and talk to it.
//!
//! ```text
//! <registry>/ferry.<name>/              0755, removed when Ferry stops
//!     lock                              0644, flock(LOCK_EX) held for Ferry's whole life
//!     properties.json                   0644, see Properties
//!     admin.sock                        0666, the admin API (who may do what is decided per
//!                                       request: passwords and peer credentials)
//!     full_admin_password.txt           0600, Ferry's user only
//!     read_only_admin_password.txt      0640, Ferry's user and its group
//! ```
//!
//! **Where.** `--instance-registry-dir` when given. Otherwise a directory that systemd's
//! `PrivateTmp` and tmp cleaners leave alone (Passenger #2209, #2270): `/run/ferry` when Ferry
//! runs as root, `$XDG_RUNTIME_DIR/ferry` for other users when that is set, and only then the
//! temp dir (`PASSENGER_TMPDIR`, `TMPDIR`, `/tmp`), where instance directories sit directly (like
//! Passenger's `passenger.*`) because a shared subdirectory would belong to whichever user
//! created it first. [`InstanceDir::touch`] keeps an instance directory in the temp dir fresh
//! against cleaners; call it every hour or so.
//!
//! **Passwords.** The full password lets its holder do everything, so only Ferry's user reads
//! it. The read-only password is also readable by Ferry's group (mode 0640), so operators in
//! that group can run `ferry status` without sudo; it shows every app but changes nothing.
//! Everyone else is recognised by peer credentials alone (see `server`).
//!
//! **Liveness.** An instance is alive while its `lock` is locked and the pid in its
//! `properties.json` exists. [`list_instances`] removes directories failing either test (when
//! it may), and directories without `properties.json` whose lock is free and that are older
//! than a minute (a Ferry that died while creating it).
//!
//! **A shared registry.** The registry may be the temp dir, where any local user may create
//! `ferry.*` names first, plant links or FIFOs, or flock a file they can open. So:
//!
//! * the registry must be a directory others cannot rename Ferry's entries in: owned by root or
//!   Ferry's user and not writable by others, or sticky (`/tmp`); else it is refused;
//! * the instance directory is made by `mkdir` (mode 0700), never reused: a name that exists is
//!   another random name, or for a chosen name a stale directory of Ferry's own user removed
//!   first, or an error naming its owner;
//! * while it is 0700 nobody else can open anything in it: the lock is created under a
//!   temporary name, locked, then renamed into place, so no other user can flock it first; the
//!   passwords and `properties.json` are written; only then does the directory become 0755 so
//!   that others can reach the admin socket;
//! * readers ([`list_instances`], the admin client) trust a directory only if it belongs to root
//!   or to themselves, and read its files without following links or waiting on FIFOs, as
//!   regular files of the directory's owner, capped ([`open_trusted`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ferry_sys::secret::{self, ALNUM, LOWER_ALNUM};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

mod listing;

use listing::{inspect, Found};
pub use listing::{list_all, list_instances, no_instance_message, open_trusted, select};
#[cfg(test)]
use listing::{list_instances_as, lock_is_held};

/// Prefix of instance directory names.
pub const DIR_PREFIX: &str = "ferry.";
/// The lock file Ferry holds locked for its life.
pub const LOCK_FILE: &str = "lock";
/// The lock file's name until it is locked (see [`InstanceDir::create`]).
const LOCK_TMP: &str = "lock.tmp";
/// The instance's description.
pub const PROPERTIES_FILE: &str = "properties.json";
/// The admin API's unix socket.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// The password granting everything.
pub const FULL_PASSWORD_FILE: &str = "full_admin_password.txt";
/// The password granting read-only access to everything.
pub const READ_ONLY_PASSWORD_FILE: &str = "read_only_admin_password.txt";
/// The version of the directory layout written to `properties.json`.
pub const LAYOUT_VERSION: u32 = 1;
/// A directory without `properties.json` and with its lock free is a leftover after this long.
const UNFINISHED_GRACE: Duration = Duration::from_secs(60);

/// What the registry's location depends on, read once (the environment seam: tests pass their
/// own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryEnv {
    /// Ferry's effective uid.
    pub euid: u32,
    /// `XDG_RUNTIME_DIR`, if set and not empty.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `PASSENGER_TMPDIR`, if set and not empty.
    pub passenger_tmpdir: Option<PathBuf>,
    /// `TMPDIR`, if set and not empty.
    pub tmpdir: Option<PathBuf>,
}

/// Settings for [`InstanceDir::create`].
#[derive(Debug, Clone, Default)]
pub struct InstanceOptions {
    /// `--instance-registry-dir`: where to create the instance directory.
    pub registry_dir: Option<PathBuf>,
    /// The instance name; a random one (8 lower-case letters and digits) when `None`.
    pub name: Option<String>,
    /// Ferry's version.
    pub version: String,
    /// What the instance serves, shown next to its name (e.g. `Ferry 0.1.0 standalone`).
    pub description: String,
    /// The URLs Ferry listens on (may be set later, [`InstanceDir::set_listeners`]).
    pub listeners: Vec<String>,
    /// The configuration file Ferry was started with, if any.
    pub config_file: Option<PathBuf>,
}

/// `properties.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Properties {
    /// The layout version ([`LAYOUT_VERSION`]).
    pub layout_version: u32,
    /// The instance name (`ferry status --instance NAME`).
    pub name: String,
    /// Ferry's pid.
    pub pid: u32,
    /// Ferry's version.
    pub version: String,
    /// What the instance serves.
    pub description: String,
    /// When Ferry started, in seconds since the Unix epoch.
    pub started_at: u64,
    /// The URLs Ferry listens on.
    pub listeners: Vec<String>,
    /// The configuration file, if any.
    pub config_file: Option<PathBuf>,
    /// The admin API's socket.
    pub admin_socket: PathBuf,
    /// The user Ferry runs as.
    pub user: String,
    /// Its uid.
    pub uid: u32,
}

/// The instance directory of this Ferry: created at startup, locked while Ferry runs, removed
/// when dropped.
#[derive(Debug)]
pub struct InstanceDir {
    path: PathBuf,
    properties: Properties,
    full_password: String,
    read_only_password: String,
    _lock: Flock<File>,
}

/// Another Ferry's instance, as found in a registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Its directory.
    pub path: PathBuf,
    /// Its `properties.json`.
    pub properties: Properties,
}

/// What [`list_instances`] found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Live instances, by name.
    pub instances: Vec<Instance>,
    /// Stale directories removed.
    pub cleaned: Vec<PathBuf>,
    /// Stale directories that could not be removed (another user's), with the reason.
    pub not_cleaned: Vec<(PathBuf, String)>,
}

/// Why the instance directory could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A directory could not be created.
    #[error("could not create the directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file could not be written.
    #[error("could not write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The lock could not be taken.
    #[error("could not lock {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The name has characters other than letters, digits, `-` and `_`, or is too long.
    #[error("invalid instance name `{0}`: use 1 to 64 letters, digits, `-` or `_`")]
    InvalidName(String),
    /// A live instance already has this name.
    #[error("an instance named `{name}` is already running ({path})")]
    NameInUse {
        /// The name.
        name: String,
        /// Its directory.
        path: PathBuf,
    },
    /// No random name was free after many attempts.
    #[error("could not find a free instance name in {0}")]
    NoFreeName(PathBuf),
    /// The registry is a directory where others could rename Ferry's entries.
    #[error("the instance registry {path} cannot be used: {reason}")]
    UnsafeRegistry {
        /// The registry.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The chosen name's directory exists and belongs to another user.
    #[error(
        "{path} exists and belongs to uid {owner}, not to this Ferry's user: it is never reused; \
         remove it or choose another name"
    )]
    NotOurs {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
    },
}

/// Why no single instance could be picked.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectError {
    /// None is running.
    #[error("no Ferry instance is running")]
    NoneRunning,
    /// None has that name (or a name starting with it).
    #[error("no Ferry instance is named `{0}`")]
    NoSuchName(String),
    /// Several run and no name was given, or the name prefix fits several.
    #[error("several Ferry instances are running; choose one with --instance NAME: {}", .0.join(", "))]
    Ambiguous(Vec<String>),
}

// === impl RegistryEnv ===

impl RegistryEnv {
    /// Ferry's own uid and environment.
    pub fn from_process() -> RegistryEnv {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        RegistryEnv {
            euid: nix::unistd::geteuid().as_raw(),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            passenger_tmpdir: var("PASSENGER_TMPDIR"),
            tmpdir: var("TMPDIR"),
        }
    }

    /// The temp dir: `PASSENGER_TMPDIR`, then `TMPDIR`, then `/tmp`.
    pub fn temp_dir(&self) -> PathBuf {
        self.passenger_tmpdir
            .clone()
            .or_else(|| self.tmpdir.clone())
            .unwrap_or_else(|| PathBuf::from("/tmp"))
    }

    /// Where this Ferry creates its instance directory unless told otherwise (see the module
    /// docs).
    pub fn default_registry_dir(&self) -> PathBuf {
        if self.euid == 0 {
            PathBuf::from("/run/ferry")
        } else if let Some(xdg) = &self.xdg_runtime_dir {
            xdg.join("ferry")
        } else {
            self.temp_dir()
        }
    }

    /// Where admin commands look when not given a registry directory: this user's default
    /// first, then root's `/run/ferry` (a Ferry run by root may serve this user's apps), then
    /// the temp dir. Without duplicates.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.default_registry_dir()];
        for dir in [PathBuf::from("/run/ferry"), self.temp_dir()] {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

// === impl InstanceDir ===

impl InstanceDir {
    /// Creates and locks this Ferry's instance directory, writes its properties and passwords.
    pub fn create(
        options: &InstanceOptions,
        env: &RegistryEnv,
    ) -> Result<InstanceDir, RegistryError> {
        let registry = options
            .registry_dir
            .clone()
            .unwrap_or_else(|| env.default_registry_dir());
        create_registry(&registry)?;
        let (path, lock) = match &options.name {
            Some(name) => claim_named(&registry, name)?,
            None => claim_random(&registry)?,
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .unwrap_or_default()
            .to_owned();
        // From here on, a failure must not leave the directory behind.
        let cleanup = RemoveOnError(Some(path.clone()));
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(env.euid))
            .ok()
            .flatten()
            .map_or_else(|| format!("#{}", env.euid), |u| u.name);
        let properties = Properties {
            layout_version: LAYOUT_VERSION,
            name,
            pid: std::process::id(),
            version: options.version.clone(),
            description: options.description.clone(),
            started_at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            listeners: options.listeners.clone(),
            config_file: options.config_file.clone(),
            admin_socket: path.join(ADMIN_SOCKET),
            user,
            uid: env.euid,
        };
        let write_error = |file: &str| {
            let path = path.join(file);
            move |source| RegistryError::Write { path, source }
        };
        let full_password = password().map_err(write_error(FULL_PASSWORD_FILE))?;
        let read_only_password = password().map_err(write_error(READ_ONLY_PASSWORD_FILE))?;
        write_secret(&path.join(FULL_PASSWORD_FILE), &full_password, 0o600)
            .map_err(write_error(FULL_PASSWORD_FILE))?;
        write_secret(
            &path.join(READ_ONLY_PASSWORD_FILE),
            &read_only_password,
            0o640,
        )
        .map_err(write_error(READ_ONLY_PASSWORD_FILE))?;
        write_properties(&path, &properties).map_err(write_error(PROPERTIES_FILE))?;
        // Everything is in place: others may now reach the admin socket.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).map_err(|source| {
            RegistryError::CreateDir {
                path: path.clone(),
                source,
            }
        })?;
        cleanup.disarm();
        Ok(InstanceDir {
            path,
            properties,
            full_password,
            read_only_password,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.properties.name
    }

    /// Where the admin API must listen (`server::bind`).
    pub fn admin_socket_path(&self) -> &Path {
        &self.properties.admin_socket
    }

    /// What `properties.json` says.
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    /// The password granting everything.
    pub fn full_password(&self) -> &str {
        &self.full_password
    }

    /// The password granting read-only access.
    pub fn read_only_password(&self) -> &str {
        &self.read_only_password
    }

    /// Records the URLs Ferry listens on, once its sockets are bound.
    pub fn set_listeners(&mut self, listeners: Vec<String>) -> io::Result<()> {
        self.properties.listeners = listeners;
        write_properties(&self.path, &self.properties)
    }

    /// Sets the modification time of the directory and its files to now, so that temp dir
    /// cleaners (which remove what has not changed for days) leave it alone.
    pub fn touch(&self) -> io::Result<()> {
        let now = SystemTime::now();
        for entry in fs::read_dir(&self.path)? {
            let path = entry?.path();
            if let Ok(file) = File::open(&path) {
                let _ = file.set_modified(now);
            }
        }
        File::open(&self.path)?.set_modified(now)
    }
}

impl Drop for InstanceDir {
    fn drop(&mut self) {
        // The lock is released after the directory is gone (field drop order), so nobody sees
        // an unlocked directory that still looks like a live instance.
        if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove the instance directory");
        }
    }
}

/// Removes a half-made instance directory unless disarmed.
struct RemoveOnError(Option<PathBuf>);

impl RemoveOnError {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_dir_all(path);
        }
    }
}

/// Creates the registry if needed, and checks that nobody but root and Ferry's user can rename
/// what Ferry puts there (see the module docs).
fn create_registry(registry: &Path) -> Result<(), RegistryError> {
    let fail = |source| RegistryError::CreateDir {
        path: registry.to_owned(),
        source,
    };
    if !registry.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(registry)
            .map_err(fail)?;
    }
    let meta = fs::metadata(registry).map_err(fail)?;
    let euid = nix::unistd::geteuid().as_raw();
    let sticky = meta.mode() & 0o1000 != 0;
    let reason = if sticky {
        None
    } else if meta.uid() != 0 && meta.uid() != euid {
        Some(format!(
            "it belongs to uid {} and is not sticky",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        let mode = meta.mode() & 0o7777;
        Some(format!(
            "other users may write it (mode {mode:o}) and it is not sticky"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(RegistryError::UnsafeRegistry {
            path: registry.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// An admin password: 24 letters and digits (about 143 bits) from the kernel's CSPRNG.
fn password() -> io::Result<String> {
    Ok(secret::string(ALNUM, 24)?)
}

fn claim_random(registry: &Path) -> Result<(PathBuf, Flock<File>), RegistryError> {
    for _ in 0..100 {
        let name = secret::string(LOWER_ALNUM, 8).map_err(|e| RegistryError::CreateDir {
            path: registry.to_owned(),
            source: e.into(),
        })?;
        if let Some(claimed) = try_claim(&registry.join(format!("{DIR_PREFIX}{name}")))? {
            return Ok(claimed);
        }
    }
    Err(RegistryError::NoFreeName(registry.to_owned()))
}

fn claim_named(registry: &Path, name: &str) -> Result<(PathBuf, Flock<File>), RegistryError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(RegistryError::InvalidName(name.to_owned()));
    }
    let path = registry.join(format!("{DIR_PREFIX}{name}"));
    if let Some(claimed) = try_claim(&path)? {
        return Ok(claimed);
    }
    // Taken: by a live instance, by a stale one of ours that can go, or by another user.
    let euid = nix::unistd::geteuid().as_raw();
    let owner = fs::symlink_metadata(&path).map(|m| m.uid()).ok();
    if let Some(owner) = owner.filter(|&owner| owner != euid) {
        return Err(RegistryError::NotOurs { path, owner });
    }
    if matches!(inspect(&path, SystemTime::now(), euid), Found::Stale(_)) {
        let _ = fs::remove_dir_all(&path);
        if let Some(claimed) = try_claim(&path)? {
            return Ok(claimed);
        }
    }
    Err(RegistryError::NameInUse {
        name: name.to_owned(),
        path,
    })
}

/// Creates `path` (mode 0700: only Ferry's user gets in until [`InstanceDir::create`] opens it
/// up) and takes its lock; `None` if `path` exists already, whoever made it.
fn try_claim(path: &Path) -> Result<Option<(PathBuf, Flock<File>)>, RegistryError> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(source) => {
            return Err(RegistryError::CreateDir {
                path: path.to_owned(),
                source,
            })
        }
    }
    let lock = lock_in_place(path).map_err(|source| {
        let _ = fs::remove_dir_all(path);
        RegistryError::Lock {
            path: path.join(LOCK_FILE),
            source,
        }
    })?;
    Ok(Some((path.to_owned(), lock)))
}

/// Takes the lock of the fresh directory `dir`: the file is created under a temporary name,
/// locked, then renamed to [`LOCK_FILE`], so that it is locked before it ever has its name.
/// The directory must be Ferry's alone (mode 0700, owned by this process's user), which is
/// checked first.
fn lock_in_place(dir: &Path) -> io::Result<Flock<File>> {
    let meta = fs::symlink_metadata(dir)?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a directory of this Ferry's user alone",
            dir.display()
        )));
    }
    let tmp = dir.join(LOCK_TMP);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)?;
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e)?;
    fs::rename(&tmp, dir.join(LOCK_FILE))?;
    Ok(lock)
}

fn write_secret(path: &Path, secret: &str, mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The umask may only take bits away; set exactly what is documented.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(secret.as_bytes())
}

/// Writes `properties.json` through a temporary file and a rename, so a reader never sees half.
fn write_properties(dir: &Path, properties: &Properties) -> io::Result<()> {
    let tmp = dir.join(format!("{PROPERTIES_FILE}.tmp"));
    let mut json = serde_json::to_vec_pretty(properties).map_err(io::Error::other)?;
    json.push(b'\n');
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        file.write_all(&json)?;
    }
    fs::rename(tmp, dir.join(PROPERTIES_FILE))
}

// === impl Instance ===

impl Instance {
    /// The admin API's socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.path.join(ADMIN_SOCKET)
    }

    /// The full password file.
    pub fn full_password_file(&self) -> PathBuf {
        self.path.join(FULL_PASSWORD_FILE)
    }

    /// The read-only password file.
    pub fn read_only_password_file(&self) -> PathBuf {
        self.path.join(READ_ONLY_PASSWORD_FILE)
    }
}

#[cfg(test)]
mod tests;
