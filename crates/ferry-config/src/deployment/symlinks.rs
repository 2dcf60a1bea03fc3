//! nginx's `disable_symlinks` as the configuration says it: the types only (the defaults in
//! [`crate::defaults`] are values of them; [`Symlinks::in_force`] applies those defaults).

use std::path::PathBuf;

/// nginx's `disable_symlinks MODE [from=PREFIX]`: which symbolic links a lookup of a file to
/// serve follows. `ferry_sys::fs` states the rules and implements them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symlinks {
    /// The mode.
    pub mode: SymlinkMode,
    /// `from=`: the part of a file's path opened without checks (only with `on` and
    /// `if_not_owner`).
    pub from: Option<SymlinkFrom>,
}

/// nginx's `disable_symlinks` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymlinkMode {
    /// `off`: every link is followed.
    Off,
    /// `on`: no link is followed, anywhere on the path.
    On,
    /// `if_not_owner`: a link is followed only when it and what it leads to have the same owner.
    IfNotOwner,
}

/// What `from=` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymlinkFrom {
    /// An absolute path.
    Path(PathBuf),
    /// `$document_root`: the place's `root`, or its `alias` as expanded for the request.
    DocumentRoot,
}

// === impl SymlinkMode ===

impl SymlinkMode {
    /// The mode as nginx writes it: `off`, `on`, `if_not_owner`.
    pub const fn name(self) -> &'static str {
        match self {
            SymlinkMode::Off => "off",
            SymlinkMode::On => "on",
            SymlinkMode::IfNotOwner => "if_not_owner",
        }
    }
}

impl std::str::FromStr for SymlinkMode {
    type Err = String;

    fn from_str(text: &str) -> Result<SymlinkMode, String> {
        match text {
            "off" => Ok(SymlinkMode::Off),
            "on" => Ok(SymlinkMode::On),
            "if_not_owner" => Ok(SymlinkMode::IfNotOwner),
            other => Err(format!("expected off, on or if_not_owner, not {other:?}")),
        }
    }
}

impl std::fmt::Display for SymlinkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
