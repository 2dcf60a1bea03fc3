//! Nginx-syntax configuration files (issue 6): the parser, and the table of directives Ferry
//! knows. Reading a file gives a tree of [`Directive`]s, each with the file and line it came
//! from, so that every later error can name both.
//!
//! [`resolve()`] gives the tree its meaning: every directive checked in its place (all problems in
//! one run), then the settings in force in each server and location with the line that set each
//! ([`ResolvedConfig`]). `ferry config check` and `ferry config show` print them; [`plan()`] turns it
//! into the [`Deployment`](crate::deployment::Deployment) `ferry start --config` serves.

mod ast;
mod deploy;
pub mod directives;
mod parser;
pub mod resolve;

pub use ast::{Arg, Context, Directive, Span};
pub use deploy::plan;
#[doc(hidden)]
pub use parser::fuzz_logic;
pub use parser::{parse_file, parse_str, ParseError};
pub use resolve::{load, resolve, Problem, Rejected, ResolvedConfig};
