//! nginx's `disable_symlinks` setting, as a value.

use std::path::{Path, PathBuf};

/// nginx's `disable_symlinks` modes; see [the module docs](super) for what each allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DisableSymlinks {
    /// Follow every link (the kernel opens the whole path); nginx's default.
    #[default]
    Off,
    /// Refuse any link in any checked component.
    On,
    /// Follow a link only when it and the object it resolves to have the same owner.
    IfNotOwner,
}

/// A `disable_symlinks` mode with its optional `from=PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SymlinkPolicy {
    /// The mode.
    pub disable: DisableSymlinks,
    /// The part of a full path (up to and including this prefix, by whole components) that the
    /// kernel opens unchecked. Only meaningful as an absolute path.
    pub from: Option<PathBuf>,
}

/// How one lookup treats its full path, after `from=` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// The kernel opens everything (mode `off`, or the full path is the `from=` prefix).
    Kernel,
    /// The first `unchecked` components below the base are opened by the kernel; the rest is
    /// walked with `mode` (`On` or `IfNotOwner`).
    Checked {
        mode: DisableSymlinks,
        unchecked: usize,
    },
}

// === impl DisableSymlinks ===

impl DisableSymlinks {
    /// The mode's name in nginx's configuration (`off`, `on`, `if_not_owner`).
    pub fn as_str(self) -> &'static str {
        match self {
            DisableSymlinks::Off => "off",
            DisableSymlinks::On => "on",
            DisableSymlinks::IfNotOwner => "if_not_owner",
        }
    }
}

impl std::fmt::Display for DisableSymlinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl SymlinkPolicy ===

impl SymlinkPolicy {
    /// Follow every link (nginx's default).
    pub const OFF: SymlinkPolicy = SymlinkPolicy {
        disable: DisableSymlinks::Off,
        from: None,
    };

    /// `disable_symlinks DISABLE [from=FROM]`.
    pub fn new(disable: DisableSymlinks, from: Option<PathBuf>) -> SymlinkPolicy {
        SymlinkPolicy { disable, from }
    }

    /// The plan for a lookup of `rel` (`rel_len` components) below a base whose full path is
    /// `base`, so that the lookup's full path is `full` (`base` joined with `rel`).
    pub(super) fn plan(&self, base: &Path, full: &Path, rel_len: usize) -> Plan {
        if self.disable == DisableSymlinks::Off {
            return Plan::Kernel;
        }
        let mode = self.disable;
        let Some(from) = self.from.as_deref() else {
            return Plan::Checked { mode, unchecked: 0 };
        };
        if !full.starts_with(from) {
            return Plan::Checked { mode, unchecked: 0 };
        }
        if full == from {
            return Plan::Kernel;
        }
        // A prefix at or above the base leaves all of `rel` to be checked.
        if base.starts_with(from) {
            return Plan::Checked { mode, unchecked: 0 };
        }
        let below_prefix = full.components().count() - from.components().count();
        Plan::Checked {
            mode,
            unchecked: rel_len.saturating_sub(below_prefix),
        }
    }
}
