//! Nginx-syntax configuration files (issue 6): the parser, and the table of directives Ferry
//! knows. Reading a file gives a tree of [`Directive`]s, each with the file and line it came
//! from, so that every later error can name both.
//!
//! Nothing here gives directives a meaning yet; that is the resolver's job (http → server →
//! location inheritance, apps, listeners), which comes with `ferry start --config`.

mod ast;
pub mod directives;
mod parser;

pub use ast::{Arg, Context, Directive, Span};
#[doc(hidden)]
pub use parser::fuzz_logic;
pub use parser::{parse_file, parse_str, ParseError};
