//! From a place's `disable_symlinks`, as the deployment writes it, to the policy its lookups
//! follow (`ferry_sys::fs` states the rules and walks the paths).
//!
//! Where nothing is written, the default depends on whether Ferry runs as root
//! ([`Symlinks::in_force`]): `if_not_owner` as root, so that no link an app's owner writes makes
//! root serve a file that owner could not read; nginx's `off` otherwise. It is decided here, once
//! per place, when the router and the sites are built.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ferry_config::deployment::{SymlinkFrom, SymlinkMode, Symlinks};
use ferry_sys::fs::{DisableSymlinks, SymlinkPolicy};

/// The setting in force for `written` (`None`: nothing written, the default).
pub(crate) fn in_force(written: Option<&Symlinks>) -> Symlinks {
    Symlinks::in_force(written, runs_as_root())
}

/// The lookup policy of `symlinks` in a place whose document root (for `from=$document_root`)
/// is `document_root`. A relative `from=` or document root is taken against the current
/// directory, as the kernel reads a relative `root`.
pub(crate) fn policy(symlinks: &Symlinks, document_root: Option<&Path>) -> SymlinkPolicy {
    let from = match &symlinks.from {
        None => None,
        Some(SymlinkFrom::Path(path)) => Some(absolute(path)),
        Some(SymlinkFrom::DocumentRoot) => document_root.map(absolute),
    };
    SymlinkPolicy::new(mode(symlinks.mode), from)
}

/// `path`, absolute (against the current directory, without resolving links); unchanged when
/// that fails (only for an empty path, which no lookup matches).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn mode(mode: SymlinkMode) -> DisableSymlinks {
    match mode {
        SymlinkMode::Off => DisableSymlinks::Off,
        SymlinkMode::On => DisableSymlinks::On,
        SymlinkMode::IfNotOwner => DisableSymlinks::IfNotOwner,
    }
}

/// Whether Ferry's effective uid is root. Read once: Ferry never changes its own uid (apps are
/// switched in their own processes).
fn runs_as_root() -> bool {
    static AS_ROOT: OnceLock<bool> = OnceLock::new();
    *AS_ROOT.get_or_init(|| nix::unistd::geteuid().is_root())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_document_root_is_the_places_and_paths_are_made_absolute() {
        let symlinks = |from| Symlinks {
            mode: SymlinkMode::IfNotOwner,
            from,
        };
        let doc = symlinks(Some(SymlinkFrom::DocumentRoot));
        let policy = policy(&doc, Some(Path::new("/srv/www")));
        assert_eq!(policy.disable, DisableSymlinks::IfNotOwner);
        assert_eq!(policy.from.as_deref(), Some(Path::new("/srv/www")));
        let relative = super::policy(&doc, Some(Path::new("www")));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(relative.from, Some(cwd.join("www")));
        let none = super::policy(&symlinks(None), Some(Path::new("/srv/www")));
        assert_eq!(none.from, None);
        let path = symlinks(Some(SymlinkFrom::Path("/srv".into())));
        assert_eq!(
            super::policy(&path, None).from.as_deref(),
            Some(Path::new("/srv"))
        );
    }

    #[test]
    fn the_default_depends_on_the_effective_uid() {
        let expected = if nix::unistd::geteuid().is_root() {
            SymlinkMode::IfNotOwner
        } else {
            SymlinkMode::Off
        };
        assert_eq!(in_force(None).mode, expected);
        let on = Symlinks {
            mode: SymlinkMode::On,
            from: None,
        };
        assert_eq!(in_force(Some(&on)), on, "a written setting wins");
    }
}
