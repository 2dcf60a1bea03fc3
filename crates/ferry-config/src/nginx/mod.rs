//! Nginx-syntax configuration files (issue 6): the parser, the table of directives Ferry knows,
//! the resolver and the planner. Reading a file gives a tree of directives, each with the file
//! and line it came from, so that every later error can name both.
//!
//! [`load()`] reads a file and gives the tree its meaning: every directive checked in its place
//! (all problems in one run), then the settings in force in each server and location with the
//! line that set each ([`ResolvedConfig`]). `ferry config check` reports it, `ferry config show`
//! prints it ([`show()`]), and [`plan()`] turns it into the
//! [`Deployment`](crate::deployment::Deployment) `ferry start --config` serves
//! ([`Deployment::from_nginx_file`](crate::deployment::Deployment::from_nginx_file) does both).
//!
//! Only those entry points and the problems they report are public: the runtime reads the
//! [`Deployment`](crate::deployment::Deployment), never this module's types.

mod ast;
mod deploy;
mod directives;
mod parser;
mod resolve;
mod show;

pub use ast::Span;
pub use deploy::plan;
#[doc(hidden)]
pub use parser::fuzz_logic;
pub(crate) use parser::parse_str;
pub(crate) use resolve::resolve;
pub use resolve::{load, Problem, Rejected, ResolvedConfig};
pub use show::show;
