//! User switching: which account an app process runs as, and dropping privileges to it.
//!
//! Ferry follows Passenger's user-switching rules. Switching happens only when Ferry runs as
//! root (effective uid 0) *and* the `user_switching` option is on (the default):
//!
//! | Ferry runs as | `user_switching` | app runs as                                   |
//! |---------------|------------------|-----------------------------------------------|
//! | root          | on               | the rules below                               |
//! | root          | off              | `default_user` / `default_group`              |
//! | not root      | either           | Ferry's own user; options ignored, no setuid  |
//!
//! With switching on, the first matching rule wins:
//!
//! 1. `user` / `group` set explicitly: that user / group. An unset group means the user's
//!    primary group; an unset user means rules 2 and 3 pick the user, with the explicit group.
//! 2. The startup file is owned by root, or by a uid with no passwd entry: `default_user`
//!    (`nobody` unless configured) and `default_group` (unset: `default_user`'s primary group).
//! 3. Otherwise the startup file's owner, with that user's primary group.
//!
//! Ownership is read with `lstat`, so a symlinked startup file counts as owned by whoever owns
//! the link. Generic apps have no startup file; their caller passes the app root instead. The
//! group value [`STARTUP_FILE_GROUP`] (`!STARTUP_FILE!`) means the startup file's own group.
//!
//! **No app runs as uid 0 or gid 0 unless root's own command line allows it**
//! ([`UserSwitching::allow_root`]: `ferry start --allow-root-apps`, or `passenger_allow_root_apps
//! on` in a root-owned configuration file). Rule 2 exists so a root-owned startup file never
//! leads to root. Without the permission:
//!
//! * a user or group that is root's *by name in the configuration* (`user`, `default_user`,
//!   `group`, `default_group` naming uid or gid 0) is refused: [`UserError::Root`] names the
//!   option and the flag that would allow it (Passenger instead falls back to the default user;
//!   Ferry says so, since running as someone else than configured would surprise too);
//! * a group that is gid 0 *by the file system or the user database* (the startup file's group
//!   under [`STARTUP_FILE_GROUP`], a user's primary group) is replaced by the fallback group:
//!   `default_group` when set, else `nobody`'s primary group, else `nogroup`.
//!
//! With the permission, root is honoured, and the resolved [`Account`] has
//! [`explicit_root`](Account::explicit_root) set so that the caller logs a warning.
//!
//! [`resolve`] runs in Ferry's own process and only reads the user database and the file
//! system. [`become_account`] runs in the freshly exec'ed helper that becomes the app.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

/// The `group` value meaning "the group of the startup file".
pub const STARTUP_FILE_GROUP: &str = "!STARTUP_FILE!";

const USER_OPTION: &str = "--user / passenger_user";
const GROUP_OPTION: &str = "--group / passenger_group";
const DEFAULT_USER_OPTION: &str = "--default-user / passenger_default_user";
const DEFAULT_GROUP_OPTION: &str = "--default-group / passenger_default_group";
/// Who chose the user or group when no option named it.
const RULES: &str = "the user-switching rules";

/// The user-switching options as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSwitching {
    /// Whether apps run as a user chosen by the rules (default `true`). Has no effect unless
    /// Ferry runs as root.
    pub enabled: bool,
    /// The user every app process runs as, overriding the startup file's owner.
    pub user: Option<String>,
    /// The group app processes run as; [`STARTUP_FILE_GROUP`] means the startup file's group.
    pub group: Option<String>,
    /// The user for apps whose startup file is owned by root or by an unknown uid, and for all
    /// apps when switching is off (default `nobody`).
    pub default_user: String,
    /// The group going with `default_user`; `None` means `default_user`'s primary group.
    pub default_group: Option<String>,
    /// Whether an app may run as uid 0 or gid 0 (`--allow-root-apps`; default `false`). Only
    /// root's own command line, or a root-owned configuration file, may set it.
    pub allow_root: bool,
}

/// The account an app process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
    /// The user name, or `#<uid>` if the uid has no passwd entry (possible only when not
    /// switching).
    pub user: String,
    /// The group name, or `#<gid>` if the gid has no group entry.
    pub group: String,
    /// The user's home directory, from the passwd entry.
    pub home: Option<PathBuf>,
    /// The user's login shell, from the passwd entry.
    pub shell: Option<PathBuf>,
    /// Whether the spawned process must change uid/gid (initgroups/setgid/setuid): false when
    /// Ferry is not root.
    pub switch: bool,
    /// How the account was chosen, for logs and error pages, e.g. "owner of
    /// /srv/app/config.ru", "--user", "default user (owner of /srv/app/config.ru is root)",
    /// "Ferry's own user (Ferry does not run as root)".
    pub reason: String,
    /// True when the account is root (uid 0), which only explicit configuration with
    /// [`UserSwitching::allow_root`] can cause.
    pub explicit_root: bool,
}

/// Why no account could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A configured user name has no passwd entry.
    #[error("the user `{name}` given by {option} does not exist")]
    NoSuchUser {
        /// The option that named the user, e.g. `--user / passenger_user`.
        option: &'static str,
        /// The user name as configured.
        name: String,
    },
    /// A configured group name has no group entry.
    #[error("the group `{name}` given by {option} does not exist")]
    NoSuchGroup {
        /// The option that named the group, e.g. `--group / passenger_group`.
        option: &'static str,
        /// The group name as configured.
        name: String,
    },
    /// The startup file (or app root) could not be `lstat`ed to find its owner.
    #[error("could not lstat {path} to find out which user the app should run as")]
    Stat {
        /// The startup file or app root.
        path: PathBuf,
        /// The `lstat` error.
        #[source]
        source: io::Error,
    },
    /// The configuration asks for root's user or group, and root apps are not allowed.
    #[error(
        "{option} names {what}; Ferry does not run apps as root (uid 0 or gid 0) unless it is \
         started with --allow-root-apps (or passenger_allow_root_apps on, in a root-owned \
         configuration file)"
    )]
    Root {
        /// The option that named root's user or group, e.g. `--user / passenger_user`.
        option: &'static str,
        /// What it named, e.g. "user `root` (uid 0)".
        what: String,
    },
    /// The user or group database could not be read.
    #[error("could not look up {what} in the user database")]
    Lookup {
        /// What was looked up, e.g. "user `www`" or "uid 1000".
        what: String,
        /// The error from `getpwnam_r` and friends.
        #[source]
        source: nix::Error,
    },
}

/// Why a process could not drop privileges to an [`Account`].
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// The user name contains a NUL byte, so it cannot be passed to `initgroups`.
    #[error("the user name {name:?} contains a NUL byte")]
    UserName {
        /// The offending name.
        name: String,
    },
    /// `initgroups(user, gid)` failed.
    #[error("initgroups failed for user `{user}`")]
    Initgroups {
        /// The user whose supplementary groups were being set.
        user: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// `setgid(gid)` failed.
    #[error("setgid({gid}) failed")]
    Setgid {
        /// The target gid.
        gid: u32,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// `setuid(uid)` failed.
    #[error("setuid({uid}) failed")]
    Setuid {
        /// The target uid.
        uid: u32,
        /// The errno.
        #[source]
        source: nix::Error,
    },
}

/// Applies the user-switching rules (see the module doc) and returns the app's account.
///
/// `owner_path` is the startup file, or the app root for generic apps; it is `lstat`ed only
/// when a rule needs its owner or group. `ferry_uid` is Ferry's effective uid (pass
/// `nix::unistd::geteuid().as_raw()`); when it is not 0 the options are ignored and Ferry's own
/// account is returned with `switch: false` and Ferry's effective gid.
pub fn resolve(
    rules: &UserSwitching,
    owner_path: &Path,
    ferry_uid: u32,
) -> Result<Account, UserError> {
    if ferry_uid != 0 {
        return own_account(ferry_uid);
    }
    let account = if rules.enabled {
        switched_account(rules, owner_path)?
    } else {
        let user = checked_user(rules, &rules.default_user, DEFAULT_USER_OPTION)?;
        let reason = "default user (user switching is off)".to_owned();
        with_default_group(rules, UserChoice { user, reason })?
    };
    // Each rule above checks its own choice; this states the invariant once more.
    if !rules.allow_root && (account.uid == 0 || account.gid == 0) {
        let what = format!("uid {} and gid {}", account.uid, account.gid);
        return Err(UserError::Root {
            option: RULES,
            what,
        });
    }
    Ok(account)
}

/// Drops privileges to `account` in the current process: `initgroups(user, gid)`,
/// `setgid(gid)`, `setuid(uid)`, in that order. Does nothing when `account.switch` is false.
///
/// Meant for the freshly exec'ed helper that becomes the app, never for Ferry itself.
pub fn become_account(account: &Account) -> Result<(), SwitchError> {
    if !account.switch {
        return Ok(());
    }
    let name = CString::new(account.user.as_str()).map_err(|_| SwitchError::UserName {
        name: account.user.clone(),
    })?;
    let gid = Gid::from_raw(account.gid);
    nix::unistd::initgroups(&name, gid).map_err(|source| SwitchError::Initgroups {
        user: account.user.clone(),
        source,
    })?;
    nix::unistd::setgid(gid).map_err(|source| SwitchError::Setgid {
        gid: account.gid,
        source,
    })?;
    nix::unistd::setuid(Uid::from_raw(account.uid)).map_err(|source| SwitchError::Setuid {
        uid: account.uid,
        source,
    })
}

/// Looks up a user by name; `Ok(None)` if there is no such user.
pub fn lookup_user(name: &str) -> Result<Option<User>, UserError> {
    User::from_name(name).map_err(|source| UserError::Lookup {
        what: format!("user `{name}`"),
        source,
    })
}

/// Looks up a group by name; `Ok(None)` if there is no such group.
pub fn lookup_group(name: &str) -> Result<Option<Group>, UserError> {
    Group::from_name(name).map_err(|source| UserError::Lookup {
        what: format!("group `{name}`"),
        source,
    })
}

// === impl UserSwitching ===

impl Default for UserSwitching {
    fn default() -> Self {
        UserSwitching {
            enabled: true,
            user: None,
            group: None,
            default_user: ferry_config::defaults::DEFAULT_USER.to_owned(),
            default_group: None,
            allow_root: false,
        }
    }
}

impl UserSwitching {
    /// Checks that every user and group named by the options exists (and is not root's unless
    /// allowed), so that a typo is reported when the configuration is loaded rather than at the
    /// first spawn.
    pub fn validate(&self) -> Result<(), UserError> {
        if let Some(user) = &self.user {
            checked_user(self, user, USER_OPTION)?;
        }
        if let Some(group) = self.group.as_deref().filter(|g| *g != STARTUP_FILE_GROUP) {
            checked_group(self, group, GROUP_OPTION)?;
        }
        checked_user(self, &self.default_user, DEFAULT_USER_OPTION)?;
        if let Some(group) = &self.default_group {
            checked_group(self, group, DEFAULT_GROUP_OPTION)?;
        }
        Ok(())
    }
}

// === impl Account ===

impl Account {
    /// The account of `user` with group `gid`, to be switched to.
    fn switched(user: &User, gid: Gid, reason: String) -> Result<Account, UserError> {
        let uid = user.uid.as_raw();
        Ok(Account {
            uid,
            gid: gid.as_raw(),
            user: user.name.clone(),
            group: group_name(gid)?,
            home: Some(user.dir.clone()),
            shell: Some(user.shell.clone()),
            switch: true,
            reason,
            // The rules map a root-owned startup file to the default user, so uid 0 can only
            // come from an explicit `user root` or `default_user root`.
            explicit_root: uid == 0,
        })
    }
}

// === Rules ===

/// A user picked by the rules, before its group is known.
struct UserChoice {
    user: User,
    reason: String,
}

/// The `lstat` of the startup file, done at most once and only when a rule needs it.
struct OwnerStat<'a> {
    path: &'a Path,
    metadata: Option<std::fs::Metadata>,
}

fn own_account(uid: u32) -> Result<Account, UserError> {
    let user = User::from_uid(Uid::from_raw(uid)).map_err(|source| UserError::Lookup {
        what: format!("uid {uid}"),
        source,
    })?;
    let gid = nix::unistd::getegid();
    Ok(Account {
        uid,
        gid: gid.as_raw(),
        user: user
            .as_ref()
            .map_or_else(|| format!("#{uid}"), |u| u.name.clone()),
        group: group_name(gid)?,
        home: user.as_ref().map(|u| u.dir.clone()),
        shell: user.as_ref().map(|u| u.shell.clone()),
        switch: false,
        reason: "Ferry's own user (Ferry does not run as root)".to_owned(),
        explicit_root: false,
    })
}

/// Rules 1-3, for Ferry running as root with switching on.
fn switched_account(rules: &UserSwitching, owner_path: &Path) -> Result<Account, UserError> {
    let mut stat = OwnerStat::new(owner_path);
    let (choice, is_default) = match &rules.user {
        Some(name) => (explicit_user(rules, name)?, false),
        None => user_from_owner(rules, &mut stat)?,
    };
    let (gid, reason) = match rules.group.as_deref() {
        Some(STARTUP_FILE_GROUP) => {
            let gid = Gid::from_raw(stat.get()?.gid());
            let reason = format!("{}; group of {}", choice.reason, owner_path.display());
            implicit_gid(rules, gid, reason)?
        }
        Some(name) => {
            let group = checked_group(rules, name, GROUP_OPTION)?;
            (group.gid, format!("{}; group from --group", choice.reason))
        }
        None if is_default => return with_default_group(rules, choice),
        None => implicit_gid(rules, choice.user.gid, choice.reason.clone())?,
    };
    Account::switched(&choice.user, gid, reason)
}

fn explicit_user(rules: &UserSwitching, name: &str) -> Result<UserChoice, UserError> {
    let user = checked_user(rules, name, USER_OPTION)?;
    Ok(UserChoice {
        user,
        reason: "--user".to_owned(),
    })
}

/// Rules 2 and 3: the startup file's owner, unless that is root or unknown. The flag says
/// whether the default user was chosen.
fn user_from_owner(
    rules: &UserSwitching,
    stat: &mut OwnerStat<'_>,
) -> Result<(UserChoice, bool), UserError> {
    let uid = stat.get()?.uid();
    let path = stat.path.display();
    let why = if uid == 0 {
        format!("owner of {path} is root")
    } else {
        match User::from_uid(Uid::from_raw(uid)).map_err(|source| UserError::Lookup {
            what: format!("uid {uid}"),
            source,
        })? {
            Some(user) => {
                let reason = format!("owner of {path}");
                return Ok((UserChoice { user, reason }, false));
            }
            None => format!("owner of {path} is uid {uid}, which has no passwd entry"),
        }
    };
    let user = checked_user(rules, &rules.default_user, DEFAULT_USER_OPTION)?;
    let reason = format!("default user ({why})");
    Ok((UserChoice { user, reason }, true))
}

/// The default user's account: with `default_group` if set, else its primary group.
fn with_default_group(rules: &UserSwitching, choice: UserChoice) -> Result<Account, UserError> {
    match &rules.default_group {
        Some(name) => {
            let group = checked_group(rules, name, DEFAULT_GROUP_OPTION)?;
            let reason = format!("{}; group from --default-group", choice.reason);
            Account::switched(&choice.user, group.gid, reason)
        }
        None => {
            let (gid, reason) = implicit_gid(rules, choice.user.gid, choice.reason)?;
            Account::switched(&choice.user, gid, reason)
        }
    }
}

/// `gid`, a group no option named (the startup file's, a user's primary group), unless it is
/// root's and root apps are not allowed: then the fallback group (see the module doc).
fn implicit_gid(
    rules: &UserSwitching,
    gid: Gid,
    reason: String,
) -> Result<(Gid, String), UserError> {
    if gid.as_raw() != 0 || rules.allow_root {
        return Ok((gid, reason));
    }
    if let Some(name) = &rules.default_group {
        let group = checked_group(rules, name, DEFAULT_GROUP_OPTION)?;
        return Ok((
            group.gid,
            format!("{reason}; gid 0 replaced by --default-group"),
        ));
    }
    let nobody = lookup_user("nobody")?.map(|u| u.gid);
    let nogroup = || Ok::<_, UserError>(lookup_group("nogroup")?.map(|g| g.gid));
    let fallback = match nobody.filter(|g| g.as_raw() != 0) {
        Some(gid) => Some(gid),
        None => nogroup()?.filter(|g| g.as_raw() != 0),
    };
    let gid = fallback.ok_or_else(|| UserError::NoSuchGroup {
        option: "the fallback for gid 0 (nobody's group, nogroup)",
        name: "nogroup".to_owned(),
    })?;
    Ok((gid, format!("{reason}; gid 0 replaced by nobody's group")))
}

/// The user `name` named by `option`: it must exist, and be root only when allowed.
fn checked_user(
    rules: &UserSwitching,
    name: &str,
    option: &'static str,
) -> Result<User, UserError> {
    let user = require_user(name, option)?;
    if user.uid.is_root() && !rules.allow_root {
        let what = format!("user `{name}` (uid 0)");
        return Err(UserError::Root { option, what });
    }
    Ok(user)
}

/// The group `name` named by `option`: it must exist, and be gid 0 only when allowed.
fn checked_group(
    rules: &UserSwitching,
    name: &str,
    option: &'static str,
) -> Result<Group, UserError> {
    let group = require_group(name, option)?;
    if group.gid.as_raw() == 0 && !rules.allow_root {
        let what = format!("group `{name}` (gid 0)");
        return Err(UserError::Root { option, what });
    }
    Ok(group)
}

fn require_user(name: &str, option: &'static str) -> Result<User, UserError> {
    lookup_user(name)?.ok_or_else(|| UserError::NoSuchUser {
        option,
        name: name.to_owned(),
    })
}

fn require_group(name: &str, option: &'static str) -> Result<Group, UserError> {
    lookup_group(name)?.ok_or_else(|| UserError::NoSuchGroup {
        option,
        name: name.to_owned(),
    })
}

/// The name of `gid`, or `#<gid>` when it has no group entry.
fn group_name(gid: Gid) -> Result<String, UserError> {
    let group = Group::from_gid(gid).map_err(|source| UserError::Lookup {
        what: format!("gid {gid}"),
        source,
    })?;
    Ok(group.map_or_else(|| format!("#{gid}"), |g| g.name))
}

// === impl OwnerStat ===

impl<'a> OwnerStat<'a> {
    fn new(path: &'a Path) -> Self {
        OwnerStat {
            path,
            metadata: None,
        }
    }

    fn get(&mut self) -> Result<&std::fs::Metadata, UserError> {
        match self.metadata {
            Some(ref metadata) => Ok(metadata),
            None => {
                let metadata =
                    std::fs::symlink_metadata(self.path).map_err(|source| UserError::Stat {
                        path: self.path.to_owned(),
                        source,
                    })?;
                Ok(self.metadata.insert(metadata))
            }
        }
    }
}

#[cfg(test)]
mod tests;
