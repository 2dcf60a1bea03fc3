//! Giving a parsed configuration its meaning: every directive checked against the
//! [directive table](super::directives) in its place, then the settings in force in each
//! `server` and `location` worked out, each with the line that set it.
//!
//! ```text
//! parse_file ──> [Directive] ──walk──> checked blocks ──build──> ResolvedConfig
//!                                │                                 http settings
//!                                └─ every error and warning        servers: listens, names,
//!                                   (FILE:LINE: message)             settings, locations
//! ```
//!
//! **Walk** (`walk.rs`) visits the tree with its block context (top level → `events`/`http` →
//! `server` → `location`, nested locations allowed → `if`) and reports every problem in one run:
//! unknown directives, directives outside the places they are allowed in, wrong argument counts
//! and values, a directive given twice where it may be given once (naming the first), blocks
//! missing or unexpected, refused directives (`if`, TLS, `add_header`) with the table's reason,
//! `location` modifiers and regexes, `listen` and `server_name` forms. Directives Ferry ignores
//! are warnings, not errors.
//!
//! **Build** (`build.rs`) applies inheritance http → server → location → nested location by
//! each directive's [`Inherit`](super::directives::Inherit) rule, keeps every entry of list
//! directives, lands aliases on their directive (`rails_env` → `passenger_app_env`), sorts
//! locations into Nginx's search order, and checks what needs more than one directive: one
//! `default_server` per address, `passenger_enabled` with an app to serve (seed 000 §8.2.1),
//! `root` beside `alias`.
//!
//! The result, [`ResolvedConfig`], is a plain value that owns everything it needs; nothing in
//! it refers back to the files or the tree, so a running Ferry can keep one while a new one is
//! checked.

use std::fmt;
use std::path::Path;

use super::ast::{Context, Directive, Span};
use super::parser::{parse_file, ParseError};
use crate::deployment::{ListenAddress, LocationMatch, ServerName};
pub use crate::diagnostic::{Problem, Rejected};

mod build;
mod settings;
mod walk;

pub(super) use settings::{Origin, Settings};

/// A configuration file's meaning: the global settings and every server, checked. Outside this
/// crate it is only shown ([`super::show()`]), counted and planned ([`super::plan()`]).
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The settings of the `http` block (with the top level's inherited), including those only
    /// allowed there (`passenger_max_pool_size`, `passenger_pre_start`, ...).
    pub(crate) http: Settings,
    /// The servers, in file order.
    pub(crate) servers: Vec<ServerConfig>,
    /// Things that load but deserve a look: ignored directives, directives without effect,
    /// locations that set Passenger options with Passenger off.
    pub(crate) warnings: Vec<Problem>,
}

/// One `server` block.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    /// Where its `server` was written.
    pub span: Span,
    /// Its `listen`s. None written: Nginx's default, `*:80`.
    pub listens: Vec<Listen>,
    /// Its `server_name`s, in order. None written: Nginx's default, the empty name.
    pub names: Vec<ServerName>,
    /// The settings in force at the server level (its own and those from `http`).
    pub settings: Settings,
    /// Its locations, in the order Nginx considers them: exact ones, prefixes (longest first),
    /// regexes (in file order), named ones.
    pub locations: Vec<LocationConfig>,
}

/// One `listen` of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listen {
    /// Where to listen.
    pub address: ListenAddress,
    /// Whether this server answers requests for this address whose `Host` no server name
    /// matches (`default_server`, or its old spelling `default`). Without one, the first
    /// server listening on the address does.
    pub default_server: bool,
    /// Where it was written.
    pub span: Span,
    // Issue 19, TLS:
    /// `listen ... ssl`: the address speaks TLS.
    pub ssl: bool,
    /// `listen ... http2`: the address speaks HTTP/2 too.
    pub http2: bool,
}

/// One `location` block.
#[derive(Debug, Clone)]
pub(crate) struct LocationConfig {
    /// Where its `location` was written.
    pub span: Span,
    /// How it matches URIs.
    pub matcher: LocationMatch,
    /// The settings in force in it (its own and those inherited).
    pub settings: Settings,
    /// The locations nested in it, in search order.
    pub locations: Vec<LocationConfig>,
}

/// Checks a parsed tree and works out its settings.
///
/// # Errors
///
/// Every problem found, each with its file and line.
pub(crate) fn resolve(tree: &[Directive]) -> Result<ResolvedConfig, Rejected> {
    let mut walker = walk::Walker::default();
    let top = walker.top(tree);
    let (http, servers) = build::build(&top, &mut walker);
    let (errors, warnings) = walker.finish();
    if errors.is_empty() {
        Ok(ResolvedConfig {
            http,
            servers,
            warnings,
        })
    } else {
        Err(Rejected { errors, warnings })
    }
}

/// Parses the file at `path` (and what it includes) and resolves it.
///
/// # Errors
///
/// The parse errors, if it does not parse; else every problem the resolver finds, each with its file and line.
pub fn load(path: impl AsRef<Path>) -> Result<ResolvedConfig, Rejected> {
    let tree = parse_file(path).map_err(|errors| Rejected::parse(&errors))?;
    resolve(&tree)
}

// === impl ResolvedConfig ===

impl ResolvedConfig {
    /// Things that load but deserve a look: ignored directives, directives without effect,
    /// locations that set Passenger options with Passenger off.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// How many servers there are.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// How many locations there are, nested ones included.
    pub fn location_count(&self) -> usize {
        fn count(locations: &[LocationConfig]) -> usize {
            locations.len() + locations.iter().map(|l| count(&l.locations)).sum::<usize>()
        }
        self.servers.iter().map(|s| count(&s.locations)).sum()
    }
}

// === impl Listen ===

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if self.default_server {
            f.write_str(" default_server")?;
        }
        // Issue 19, TLS:
        if self.ssl {
            f.write_str(" ssl")?;
        }
        if self.http2 {
            f.write_str(" http2")?;
        }
        Ok(())
    }
}

// === impl ServerConfig ===

impl ServerConfig {
    /// The location that serves `uri`, by Nginx's rules: an exact match wins; else the longest
    /// prefix is remembered and its nested locations searched the same way; unless that prefix
    /// is `^~`, regexes are then tried in file order (nested ones first) and the first match
    /// (then the locations nested in it) wins; else the longest prefix. `None`: the server
    /// level serves it. This walks the locations: the reference the tests hold the resolver's
    /// search order to; the front end's router does the same search on indexed locations, per
    /// request.
    #[cfg(test)]
    pub(crate) fn find_location(&self, uri: &str) -> Option<&LocationConfig> {
        find_in(&self.locations, uri).0
    }
}

/// The location `uri` gets among `locations`, and whether the search is over (an exact or
/// regex match, or a `^~` prefix) rather than open to the enclosing level's regexes.
#[cfg(test)]
fn find_in<'a>(locations: &'a [LocationConfig], uri: &str) -> (Option<&'a LocationConfig>, bool) {
    use crate::deployment::Modifier;
    let searchable = || locations.iter().filter(|l| l.matcher.matches(uri));
    if let Some(exact) = searchable().find(|l| l.matcher.modifier == Modifier::Exact) {
        return (Some(exact), true);
    }
    let longest = searchable()
        .filter(|l| l.matcher.is_prefix())
        .max_by_key(|l| l.matcher.pattern.len());
    let mut found = longest;
    if let Some(prefix) = longest {
        let (inner, done) = find_in(&prefix.locations, uri);
        if done {
            return (inner, true);
        }
        found = inner.or(found);
        if found.is_some_and(|l| l.matcher.modifier == Modifier::PrefixNoRegex) {
            return (found, true);
        }
    }
    match searchable().find(|l| l.matcher.is_regex()) {
        Some(regex) => (
            Some(find_in(&regex.locations, uri).0.unwrap_or(regex)),
            true,
        ),
        None => (found, false),
    }
}

// === impl Rejected ===

impl Rejected {
    /// A file that does not parse: its parse errors, no warnings.
    pub(crate) fn parse(errors: &[ParseError]) -> Rejected {
        Rejected {
            errors: errors
                .iter()
                .map(|e| Problem {
                    span: e.span().clone(),
                    message: e.message(),
                })
                .collect(),
            warnings: Vec::new(),
        }
    }
}

/// How messages name a block kind: "the top level", "server", ...
fn place(context: Context) -> &'static str {
    match context {
        Context::Main => "the top level",
        other => other.name(),
    }
}

#[cfg(test)]
mod tests;
