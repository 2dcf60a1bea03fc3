//! Nginx-syntax configuration files (issue 6): the parser, the table of directives Ferry knows,
//! the resolver and the planner. Reading a file gives a tree of directives, each with the file
//! and line it came from, so that every later error can name both.
//!
//! [`load()`] reads a file and gives the tree its meaning: every directive checked in its place
//! (all problems in one run), then the settings in force in each server and location with the
//! line that set each ([`ResolvedConfig`]). `ferry config check` reports it, `ferry config show`
//! prints it ([`show()`]), and [`plan()`] turns it into the
//! [`Deployment`] `ferry start --config` serves
//! ([`Deployment::from_nginx_file`] does both).
//!
//! Only those entry points and the problems they report are public: the runtime reads the
//! [`Deployment`], never this module's types.

mod ast;
mod deploy;
mod directives;
mod parser;
mod resolve;
mod show;

pub use crate::diagnostic::Span;
pub use deploy::plan;
#[doc(hidden)]
pub use parser::fuzz_logic;
pub(crate) use parser::parse_str;
pub(crate) use resolve::resolve;
pub use resolve::{load, Problem, Rejected, ResolvedConfig};
pub use show::show;

use std::path::Path;

use crate::deployment::Deployment;

/// `large_client_header_buffers`' value, `NUMBER SIZE` (`4 8k`), as the number and the size in
/// bytes; `None` if it is not one. For `ferry start --large-client-header-buffers` (issue 16).
pub(crate) fn header_buffers(value: &str) -> Option<(u64, u64)> {
    let args: Vec<&str> = value.split_whitespace().collect();
    match args[..] {
        [_, _] => directives::header_buffers(&args).ok(),
        _ => None,
    }
}

// === impl Deployment ===

impl Deployment {
    /// What the Nginx-syntax configuration file at `path` (and the files it includes) serves:
    /// `ferry start --config`. [`load`] then [`plan`].
    ///
    /// # Errors
    ///
    /// Every problem found in the files, each with its file and line.
    pub fn from_nginx_file(path: impl AsRef<Path>) -> Result<Deployment, Rejected> {
        plan(&load(path)?)
    }

    /// What the Nginx-syntax configuration `text` serves, read as the contents of a file named
    /// `file`, which need not exist: problems name `file`, and relative paths (`include`s, app
    /// roots) are taken against its directory.
    ///
    /// # Errors
    ///
    /// As [`Deployment::from_nginx_file`].
    pub fn from_nginx_str(text: &str, file: impl AsRef<Path>) -> Result<Deployment, Rejected> {
        let tree = parse_str(text, file).map_err(|errors| Rejected::parse(&errors))?;
        plan(&resolve(&tree)?)
    }
}
