//! The tree a configuration file parses into.

pub(crate) use crate::diagnostic::Span;

/// One directive: `name arg...;` or `name arg... { children }`. `include` directives have been
/// replaced by what the included files contain (each keeping its own spans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// The directive's name, as written.
    pub name: String,
    /// Its arguments, unquoted and unescaped.
    pub args: Vec<Arg>,
    /// The directives inside its block, if it has one (`Some(vec![])` for `{}`).
    pub block: Option<Vec<Directive>>,
    /// Where its name was written.
    pub span: Span,
}

/// One argument of a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arg {
    /// The value with quotes removed and escapes (`\"`, `\'`, `\\`, `\n`, `\t`, `\r`) resolved.
    /// `$variables` are kept as written; they are expanded per request where Nginx allows them.
    pub value: String,
    /// Whether it was written in quotes (a quoted `"{"` is a string, not a block).
    pub quoted: bool,
    /// Where it was written.
    pub span: Span,
}

/// The kind of block a directive sits in, for the directive table's "allowed in" rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Context {
    /// The top of the file, outside every block.
    Main,
    /// `events { ... }`.
    Events,
    /// `http { ... }`.
    Http,
    /// `server { ... }` inside `http`.
    Server,
    /// `location ... { ... }` inside `server` or another `location`.
    Location,
    /// `if (...) { ... }` (Ferry rejects `if` blocks, but the table says where Passenger allows a
    /// directive, and that includes `if`).
    If,
}

impl Context {
    /// The name Nginx's documentation uses for the context (`http`, `server`, ...).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Context::Main => "main",
            Context::Events => "events",
            Context::Http => "http",
            Context::Server => "server",
            Context::Location => "location",
            Context::If => "if",
        }
    }
}
