//! Reading Nginx-syntax files into [`Directive`] trees.
//!
//! The grammar is Nginx's, so that the files Passenger users already have load unchanged:
//!
//! - A file is a list of directives, `name arg... ;` or `name arg... { directives }`.
//! - A token is `;`, `{`, `}`, a quoted string or a bare word. A bare word runs up to
//!   whitespace (space, tab, CR, LF), `;` or `{`; `}`, `#`, quotes, `$`, `(`, `)` and `~` are
//!   ordinary inside it, and `{` is too straight after `$`, so `${var}` stays one word.
//! - `#` starts a comment to the end of the line, but only where a token would start.
//! - `"..."` and `'...'` may span lines. After the closing quote comes whitespace, `;`, `{`, `}`
//!   or `)` (for `if ($a = "b")`); anything else is `unexpected "x"`, as in Nginx.
//! - In quoted strings and bare words alike, `\"`, `\'` and `\\` stand for the character and
//!   `\n`, `\r`, `\t` for the control character; any other `\x` keeps both characters (so
//!   regexes such as `\.php$` arrive intact). A backslash also keeps the next character from
//!   ending a bare word.
//! - `include PATTERN;` is replaced by the directives of the files it names (see [`parse_file`]).
//!
//! Files must be UTF-8: a directive's words are `String`s. Errors name the file and line and the
//! parser carries on after each one (at the next `;` or `}` of the same block), so one run reports
//! as many problems as it can. Limits keep hostile input from exhausting memory or the stack: see
//! the constants below.

#[doc(hidden)]
pub mod fuzz_logic;
mod include;
mod lexer;
mod write;

use std::error::Error as StdError;
use std::fmt;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::{Arg, Directive, Span};
use include::expand_pattern;
use lexer::{LexError, Lexer, Tok};

/// The largest file read, included ones too. Nginx has none; this bounds memory when the input is
/// hostile (or `/dev/zero`).
const MAX_FILE_SIZE: usize = 16 << 20;
/// The most bytes one run reads, all files together.
const MAX_TOTAL_SIZE: usize = 256 << 20;
/// The most files one run reads: a file included twice by each of 32 nested files would
/// otherwise be read 2^32 times.
const MAX_FILES: usize = 10_000;
/// How deeply blocks may nest, counted across includes. Parsing recurses once per level, so this
/// also bounds the stack.
const MAX_BLOCK_DEPTH: usize = 64;
/// The longest chain of files including one another.
const MAX_INCLUDE_DEPTH: usize = 32;
/// A run stops after this many errors: later ones are mostly echoes of the first.
const MAX_ERRORS: usize = 100;

/// A problem in a configuration file, with the file and line where it is.
///
/// Displays as `FILE:LINE: message`, or `FILE: message` when the file as a whole could not be
/// read. The message is for people; do not match on it.
#[derive(Debug)]
pub(crate) struct ParseError {
    span: Span,
    kind: Kind,
}

/// Parses the file at `path` and every file it includes into one tree.
///
/// `include PATTERN;` may appear in any block. A relative `PATTERN` is resolved against the
/// directory of the file that contains the `include`. This is Ferry's choice: Nginx resolves it
/// against its prefix directory, which Ferry does not have, and resolving against the file keeps
/// a configuration directory movable. A pattern with `*`, `?` or `[...]` includes the matching
/// files in sorted order (names starting with `.` only match a pattern starting with `.`), and
/// may match nothing, as in Nginx; a plain path must exist. The included directives take the
/// include's place, each with the span of its own file. Include loops and chains deeper than 32
/// files are errors at the `include`.
///
/// # Errors
///
/// Every problem found (up to 100), each naming its file and line. A file that cannot be read
/// is reported at the `include` naming it, or at line 0 of `path` itself.
pub(super) fn parse_file(path: impl AsRef<Path>) -> Result<Vec<Directive>, Vec<ParseError>> {
    let path = Arc::new(path.as_ref().to_path_buf());
    let at = Span {
        file: path.clone(),
        line: 0,
    };
    let mut run = Run::new(true);
    let tree = run.file(path, &at, 0);
    run.finish(tree)
}

/// Parses `text` as the contents of a file named `file`, which need not exist: spans name
/// `file`, and `include`s are resolved against its directory (the current directory if the
/// name has none) exactly as [`parse_file`] does.
///
/// # Errors
///
/// As [`parse_file`].
pub(crate) fn parse_str(
    text: &str,
    file: impl AsRef<Path>,
) -> Result<Vec<Directive>, Vec<ParseError>> {
    parse_text(text, Arc::new(file.as_ref().to_path_buf()), true)
}

/// What went wrong; the span is kept beside it in [`ParseError`].
#[derive(Debug, thiserror::Error)]
enum Kind {
    #[error("unexpected \"{0}\"")]
    AfterQuote(char),
    #[error("unexpected end of file in a quoted string")]
    UnterminatedQuote,
    #[error("unexpected \"}}\"")]
    StrayClose,
    #[error("unexpected \"{0}\" with no directive name before it")]
    NoName(char),
    #[error("unexpected \"}}\", expecting \";\" or \"{{\" to end \"{0}\"")]
    CloseInDirective(String),
    #[error("unexpected end of file, expecting \";\" or \"{{\" to end \"{0}\"")]
    EofInDirective(String),
    #[error("unexpected end of file, expecting \"}}\" to close the \"{0}\" block")]
    Unclosed(String),
    #[error("blocks nested more than {} deep", MAX_BLOCK_DEPTH)]
    TooDeep,
    #[error("\"include\" takes one file name or pattern, not {0}")]
    IncludeArgs(usize),
    #[error("\"include\" cannot have a block")]
    IncludeBlock,
    #[error("include loop: {0}")]
    IncludeLoop(String),
    #[error("includes nested more than {} files deep", MAX_INCLUDE_DEPTH)]
    IncludeDepth,
    #[error("more than {} files included", MAX_FILES)]
    TooManyFiles,
    #[error("could not read \"{}\"", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("\"{}\" is larger than {} MiB", path.display(), MAX_FILE_SIZE >> 20)]
    TooLarge { path: PathBuf },
    #[error("more than {} MiB of configuration in all", MAX_TOTAL_SIZE >> 20)]
    TooMuch,
    #[error("not valid UTF-8")]
    NotUtf8,
}

/// One parse: the options, the errors so far, and which files are open.
struct Run {
    /// Whether `include` is replaced by the files it names (the fuzz target keeps it as is).
    expand_includes: bool,
    errors: Vec<ParseError>,
    /// The files being parsed, outermost first: canonical path (for loop detection), and the path
    /// as spans name it.
    chain: Vec<(PathBuf, Arc<PathBuf>)>,
    files: usize,
    bytes: usize,
}

/// Parses one file's text, reporting into its [`Run`].
struct FileParser<'r, 's> {
    run: &'r mut Run,
    lex: Lexer<'s>,
    file: Arc<PathBuf>,
}

/// How a list of directives ended.
enum End {
    /// At the `}` of its block.
    Close,
    /// At the end of the file (or of the run, once it has too many errors).
    Eof,
}

/// What came of a block just opened.
enum Block {
    Parsed(Vec<Directive>),
    /// Skipped to its `}` after an error.
    Skipped,
    Eof,
}

fn parse_text(
    text: &str,
    file: Arc<PathBuf>,
    expand_includes: bool,
) -> Result<Vec<Directive>, Vec<ParseError>> {
    let mut run = Run::new(expand_includes);
    if text.len() > MAX_FILE_SIZE {
        let path = file.to_path_buf();
        run.error(Span { file, line: 0 }, Kind::TooLarge { path });
        return run.finish(Vec::new());
    }
    let tree = run.text(text, file, 0);
    run.finish(tree)
}

// === impl ParseError ===

impl ParseError {
    /// Where the problem is. Line 0 stands for the file as a whole (it could not be read).
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// What is wrong, without the place (which [`ParseError::span`] gives).
    pub(crate) fn message(&self) -> String {
        self.kind.to_string()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.span.line == 0 {
            write!(f, "{}: {}", self.span.file.display(), self.kind)
        } else {
            write!(f, "{}: {}", self.span, self.kind)
        }
    }
}

impl StdError for ParseError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.kind.source()
    }
}

// === impl Run ===

impl Run {
    fn new(expand_includes: bool) -> Self {
        Run {
            expand_includes,
            errors: Vec::new(),
            chain: Vec::new(),
            files: 0,
            bytes: 0,
        }
    }

    fn finish(self, tree: Vec<Directive>) -> Result<Vec<Directive>, Vec<ParseError>> {
        if self.errors.is_empty() {
            Ok(tree)
        } else {
            Err(self.errors)
        }
    }

    fn error(&mut self, span: Span, kind: Kind) {
        if !self.full() {
            self.errors.push(ParseError { span, kind });
        }
    }

    fn full(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }

    /// Reads and parses the file at `path`, named at `at` (an `include`, or line 0 of the file
    /// itself), with its top level at block depth `depth`.
    fn file(&mut self, path: Arc<PathBuf>, at: &Span, depth: usize) -> Vec<Directive> {
        if let Err(kind) = self.admit(&path) {
            self.error(at.clone(), kind);
            return Vec::new();
        }
        self.files += 1;
        let bytes = match read_limited(&path) {
            Ok(bytes) => bytes,
            Err(kind) => {
                self.error(at.clone(), kind);
                return Vec::new();
            }
        };
        self.bytes += bytes.len();
        if self.bytes > MAX_TOTAL_SIZE {
            self.error(at.clone(), Kind::TooMuch);
            return Vec::new();
        }
        match String::from_utf8(bytes) {
            Ok(text) => self.text(&text, path, depth),
            Err(e) => {
                let line = line_at(e.as_bytes(), e.utf8_error().valid_up_to());
                self.error(Span { file: path, line }, Kind::NotUtf8);
                Vec::new()
            }
        }
    }

    /// Whether one more file may be opened: not too many, not too deep, not one already open.
    fn admit(&self, path: &Path) -> Result<(), Kind> {
        if self.files >= MAX_FILES {
            return Err(Kind::TooManyFiles);
        }
        if self.chain.len() > MAX_INCLUDE_DEPTH {
            return Err(Kind::IncludeDepth);
        }
        let canonical = canonical(path);
        if let Some(i) = self.chain.iter().position(|(c, _)| *c == canonical) {
            let mut names: Vec<String> = self.chain[i..]
                .iter()
                .map(|(_, name)| name.display().to_string())
                .collect();
            names.push(path.display().to_string());
            return Err(Kind::IncludeLoop(names.join(" -> ")));
        }
        Ok(())
    }

    fn text(&mut self, text: &str, file: Arc<PathBuf>, depth: usize) -> Vec<Directive> {
        self.chain.push((canonical(&file), file.clone()));
        let mut parser = FileParser {
            run: self,
            lex: Lexer::new(text),
            file,
        };
        let (tree, _) = parser.items(depth, true);
        self.chain.pop();
        tree
    }
}

fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Reads at most [`MAX_FILE_SIZE`] bytes, so that a huge file (or a device) cannot exhaust memory.
fn read_limited(path: &Path) -> Result<Vec<u8>, Kind> {
    let read_error = |source| Kind::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() > MAX_FILE_SIZE {
        return Err(Kind::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// The 1-based line of the byte at `offset`.
fn line_at(bytes: &[u8], offset: usize) -> u32 {
    let newlines = bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

// === impl FileParser ===

impl FileParser<'_, '_> {
    /// Parses directives up to the end of the file or, unless `top`, up to the `}` closing the
    /// block they are in (a `}` at the top of a file has nothing to close).
    fn items(&mut self, depth: usize, top: bool) -> (Vec<Directive>, End) {
        let mut out = Vec::new();
        while !self.run.full() {
            let (tok, line) = match self.lex.next() {
                Ok(tok) => tok,
                Err(e) => {
                    self.lex_error(e);
                    continue;
                }
            };
            match tok {
                Tok::Eof => break,
                Tok::Close if !top => return (out, End::Close),
                Tok::Close => self.error(line, Kind::StrayClose),
                Tok::Semi => self.error(line, Kind::NoName(';')),
                Tok::Open => {
                    self.error(line, Kind::NoName('{'));
                    if self.skip(1) {
                        break;
                    }
                }
                Tok::Word { value, .. } => match self.directive(value, line, depth, top) {
                    Some(directives) => out.extend(directives),
                    None => break,
                },
            }
        }
        (out, End::Eof)
    }

    /// Reads the rest of a directive whose name was just read: its directives (one, none after
    /// an error, or an include's), or `None` if the file ended.
    fn directive(
        &mut self,
        name: String,
        line: u32,
        depth: usize,
        top: bool,
    ) -> Option<Vec<Directive>> {
        let mut args = Vec::new();
        let block = loop {
            let (tok, at) = match self.lex.next() {
                Ok(tok) => tok,
                Err(e) => {
                    self.lex_error(e);
                    return Some(Vec::new());
                }
            };
            match tok {
                Tok::Word { value, quoted } => args.push(Arg {
                    value,
                    quoted,
                    span: self.span(at),
                }),
                Tok::Semi => break None,
                Tok::Open => match self.block(&name, line, depth) {
                    Block::Parsed(children) => break Some(children),
                    Block::Skipped => return Some(Vec::new()),
                    Block::Eof => return None,
                },
                Tok::Close => {
                    // Most likely a forgotten `;`: let the `}` close its block.
                    self.error(at, Kind::CloseInDirective(name));
                    if !top {
                        self.lex.unread(Tok::Close, at);
                    }
                    return Some(Vec::new());
                }
                Tok::Eof => {
                    self.eof_error(line, Kind::EofInDirective(name));
                    return None;
                }
            }
        };
        let span = self.span(line);
        let directive = Directive {
            name,
            args,
            block,
            span,
        };
        Some(self.expand(directive, depth))
    }

    /// Parses the block just opened by the directive `name` at `line`.
    fn block(&mut self, name: &str, line: u32, depth: usize) -> Block {
        if depth >= MAX_BLOCK_DEPTH {
            self.error(line, Kind::TooDeep);
            return if self.skip(1) {
                Block::Eof
            } else {
                Block::Skipped
            };
        }
        match self.items(depth + 1, false) {
            (children, End::Close) => Block::Parsed(children),
            (_, End::Eof) => {
                self.eof_error(line, Kind::Unclosed(name.to_owned()));
                Block::Eof
            }
        }
    }

    /// Replaces an `include` by the directives of the files it names; other directives stay.
    /// `depth` is the block depth the include is at, and so that of the included directives.
    fn expand(&mut self, include: Directive, depth: usize) -> Vec<Directive> {
        if include.name != "include" || !self.run.expand_includes {
            return vec![include];
        }
        let line = include.span.line;
        if include.block.is_some() {
            self.error(line, Kind::IncludeBlock);
            return Vec::new();
        }
        let [pattern] = include.args.as_slice() else {
            self.error(line, Kind::IncludeArgs(include.args.len()));
            return Vec::new();
        };
        let base = self.file.parent().unwrap_or(Path::new(""));
        let mut out = Vec::new();
        for path in expand_pattern(base, &pattern.value) {
            out.extend(self.run.file(Arc::new(path), &include.span, depth));
        }
        out
    }

    /// Skips past the rest of a statement after an error: up to and including the next `;` or
    /// block at `level` 0, or up to (not including) a `}` that closes the enclosing block.
    /// `level` 1 skips the rest of a block just opened. Iterative, whatever the nesting. Returns
    /// whether the file ended.
    fn skip(&mut self, mut level: usize) -> bool {
        loop {
            let Ok((tok, line)) = self.lex.next() else {
                continue;
            };
            match tok {
                Tok::Eof => return true,
                Tok::Semi if level == 0 => return false,
                Tok::Open => level += 1,
                Tok::Close if level == 0 => {
                    self.lex.unread(Tok::Close, line);
                    return false;
                }
                Tok::Close => {
                    level -= 1;
                    if level == 0 {
                        return false;
                    }
                }
                Tok::Word { .. } | Tok::Semi => {}
            }
        }
    }

    fn lex_error(&mut self, e: LexError) {
        self.error(e.line, e.kind);
        self.skip(0);
    }

    /// Reports an unexpected end of file, unless it only follows from an unterminated quote.
    fn eof_error(&mut self, line: u32, kind: Kind) {
        if !self.lex.aborted {
            self.error(line, kind);
        }
    }

    fn error(&mut self, line: u32, kind: Kind) {
        let span = self.span(line);
        self.run.error(span, kind);
    }

    fn span(&self, line: u32) -> Span {
        Span {
            file: self.file.clone(),
            line,
        }
    }
}

#[cfg(test)]
mod tests;
