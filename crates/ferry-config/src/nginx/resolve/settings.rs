//! Effective settings: what a block's directives come to once inheritance is applied, each
//! entry with the line that set it.

use std::collections::BTreeMap;

use super::super::ast::{Context, Span};
use super::super::directives::{self, Inherit, Spec, ValueKind, DIRECTIVES};

/// The settings in force in one block (`http`, a `server` or a `location`): its own directives
/// and those it inherits, keyed by canonical name (`rails_env` is stored as `passenger_app_env`).
/// Settings nobody wrote are absent; [`Settings::effective`] adds the table's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    map: BTreeMap<&'static str, Setting>,
}

/// One directive's entries in a block. A directive that may be given once per block has one
/// entry; a list (`passenger_env_var`, `passenger_set_cgi_param`, `passenger_pre_start`,
/// `passenger_ctl`, `index`, ...) keeps every entry, in the order they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    entries: Vec<Entry>,
}

/// One written directive: its arguments and where it was written (in this block or in an
/// enclosing one it was inherited from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The name as written (`rails_env` for an alias).
    pub written_as: &'static str,
    /// Its arguments, unquoted.
    pub args: Vec<String>,
    /// Where it was written.
    pub span: Span,
}

/// A setting's value and where it comes from, as [`Settings::effective`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Effective<'a> {
    /// The directive (canonical name).
    pub name: &'static str,
    /// Its arguments.
    pub args: Vec<&'a str>,
    /// Where it comes from.
    pub origin: Origin<'a>,
}

/// Where an effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin<'a> {
    /// Written at this span (in this block or an enclosing one).
    Written(&'a Span),
    /// The directive table's default.
    Default,
}

// === impl Settings ===

impl Settings {
    /// The setting for `name` (an alias finds its directive), if written here or inherited.
    pub(crate) fn get(&self, name: &str) -> Option<&Setting> {
        match directives::lookup(name) {
            Some(spec) => self.map.get(spec.canonical_name()),
            None => self.map.get(name),
        }
    }

    /// The single value of `name` (its first argument), if set.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Setting::value)
    }

    /// Every setting, by canonical name, in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &Setting)> {
        self.map.iter().map(|(name, setting)| (*name, setting))
    }

    /// What is in force in a block of kind `context`, in the directive table's order: every
    /// entry set (here or inherited), and the table's default for each directive allowed in
    /// `context` that is not set. Structural directives (blocks, `listen`, `server_name`,
    /// `include`, `types`) and the ones Ferry ignores or refuses are left out.
    pub(crate) fn effective(&self, context: Context) -> Vec<Effective<'_>> {
        let mut out = Vec::new();
        for spec in DIRECTIVES.iter().filter(|s| shown(s, context)) {
            match self.map.get(spec.name) {
                Some(setting) => out.extend(setting.entries.iter().map(|e| Effective {
                    name: spec.name,
                    args: e.args.iter().map(String::as_str).collect(),
                    origin: Origin::Written(&e.span),
                })),
                None => out.extend(spec.default.map(|d| Effective {
                    name: spec.name,
                    args: vec![d],
                    origin: Origin::Default,
                })),
            }
        }
        out
    }

    /// Adds an entry written in this block. The caller has checked repeats.
    pub(super) fn push(&mut self, spec: &'static Spec, entry: Entry) {
        self.map
            .entry(spec.canonical_name())
            .or_insert_with(|| Setting {
                entries: Vec::new(),
            })
            .entries
            .push(entry);
    }

    /// The settings of a block of kind `context` whose own directives are `own`, inside a
    /// block whose settings are `self`: each directive's [`Inherit`] rule decides.
    pub(super) fn inherit(&self, own: &Settings, context: Context) -> Settings {
        let mut map = own.map.clone();
        // `root` and `alias` are one setting in Nginx (where the files are): a block that sets
        // either inherits neither.
        let sets_files = own.map.contains_key("root") || own.map.contains_key("alias");
        for (name, parent) in &self.map {
            if sets_files && (*name == "root" || *name == "alias") {
                continue;
            }
            let Some(spec) = directives::lookup(name) else {
                continue;
            };
            let inherited = match spec.inherit {
                Inherit::Yes => Some(parent.clone()),
                Inherit::NotIntoLocations if context != Context::Location => Some(parent.clone()),
                Inherit::NotIntoLocations | Inherit::No => None,
                Inherit::Merge => Some(merge(spec, parent, own.map.get(name))),
            };
            match (inherited, spec.inherit) {
                (Some(merged), Inherit::Merge) => {
                    map.insert(name, merged);
                }
                (Some(parent), _) => {
                    map.entry(name).or_insert(parent);
                }
                (None, _) => {}
            }
        }
        Settings { map }
    }
}

/// Whether [`Settings::effective`] lists `spec` for a block of kind `context`.
fn shown(spec: &Spec, context: Context) -> bool {
    use directives::Role;
    let structural = spec.block
        || matches!(
            spec.value,
            ValueKind::Listen | ValueKind::ServerName | ValueKind::MimeTypes
        )
        || spec.name == "include";
    let meaningful = matches!(
        spec.role,
        Role::Passenger | Role::NoEffect { .. } | Role::Core
    );
    !structural && meaningful && spec.allows(context)
}

/// A parent's list followed by the block's own entries. For `NAME VALUE` lists an own entry
/// replaces the parent's entries of the same name.
fn merge(spec: &Spec, parent: &Setting, own: Option<&Setting>) -> Setting {
    let own_entries = own.map_or(&[][..], |s| &s.entries[..]);
    let by_name = matches!(spec.value, ValueKind::EnvVar);
    let overridden = |e: &Entry| by_name && own_entries.iter().any(|o| o.args[0] == e.args[0]);
    let entries = parent
        .entries
        .iter()
        .filter(|e| !overridden(e))
        .chain(own_entries)
        .cloned()
        .collect();
    Setting { entries }
}

// === impl Origin ===

impl Origin<'_> {
    /// The line that set it, if it was written.
    #[cfg(test)]
    pub(crate) fn line(self) -> Option<u32> {
        match self {
            Origin::Written(span) => Some(span.line),
            Origin::Default => None,
        }
    }
}

// === impl Setting ===

impl Setting {
    /// Every entry, in the order they apply (inherited ones first for merged lists).
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The first argument of the first entry: the value of a single-valued directive.
    pub(crate) fn value(&self) -> Option<&str> {
        self.entries
            .first()
            .and_then(|e| e.args.first())
            .map(String::as_str)
    }

    /// Where the first entry was written: the line that set a single-valued directive.
    pub(crate) fn span(&self) -> Option<&Span> {
        self.entries.first().map(|e| &e.span)
    }
}
