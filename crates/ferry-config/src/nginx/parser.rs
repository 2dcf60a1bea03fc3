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

use std::error::Error as StdError;
use std::fmt;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::ast::{Arg, Directive, Span};

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

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzz_logic {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::{parse_text, write_tree, Directive, MAX_FILE_SIZE};

    /// Parses `input` as a configuration (with `include` left unexpanded, so no file is read),
    /// panicking if an invariant breaks: errors name a line of the input, and a tree written
    /// back out parses to the same tree and writes out the same text again.
    pub fn nginx_config(input: &[u8]) {
        let text = String::from_utf8_lossy(input);
        let file = Arc::new(PathBuf::from("fuzz.conf"));
        let lines = u32::try_from(text.matches('\n').count() + 1).unwrap_or(u32::MAX);
        let tree = match parse_text(&text, file.clone(), false) {
            Ok(tree) => tree,
            Err(errors) => {
                assert!(!errors.is_empty(), "an error result without errors");
                for e in &errors {
                    assert!((1..=lines).contains(&e.span.line), "{e} is out of range");
                    assert!(!e.to_string().is_empty());
                }
                return;
            }
        };
        check_lines(&tree, lines);
        let written = write_tree(&tree);
        if written.len() > MAX_FILE_SIZE {
            return;
        }
        let again = match parse_text(&written, file, false) {
            Ok(again) => again,
            Err(e) => panic!("the written tree does not parse: {e:?}\n{written}"),
        };
        assert!(
            same_tree(&tree, &again),
            "{tree:#?}\nwritten as\n{written}\nreads back as\n{again:#?}"
        );
        assert_eq!(write_tree(&again), written);
    }

    fn check_lines(tree: &[Directive], lines: u32) {
        for d in tree {
            assert!((1..=lines).contains(&d.span.line), "{d:?}");
            for a in &d.args {
                assert!((d.span.line..=lines).contains(&a.span.line), "{d:?}");
            }
            check_lines(d.block.as_deref().unwrap_or_default(), lines);
        }
    }

    /// Whether two trees have the same names, arguments (values and quoting) and blocks, whatever
    /// their spans.
    pub(crate) fn same_tree(a: &[Directive], b: &[Directive]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(a, b)| {
                a.name == b.name
                    && a.args.len() == b.args.len()
                    && a.args
                        .iter()
                        .zip(&b.args)
                        .all(|(x, y)| x.value == y.value && x.quoted == y.quoted)
                    && match (&a.block, &b.block) {
                        (None, None) => true,
                        (Some(x), Some(y)) => same_tree(x, y),
                        _ => false,
                    }
            })
    }
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

/// Splits text into tokens, one at a time.
struct Lexer<'s> {
    text: &'s str,
    pos: usize,
    line: u32,
    /// Set once a quoted string runs to the end of the file: every later "unexpected end of
    /// file" is a consequence, not news.
    aborted: bool,
    /// A token given back by the parser.
    back: Option<(Tok, u32)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Word { value: String, quoted: bool },
    Semi,
    Open,
    Close,
    Eof,
}

/// An error while reading a token.
struct LexError {
    line: u32,
    kind: Kind,
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

/// Writes a tree back in Nginx syntax (see [`Directive`]'s `Display`).
fn write_tree(tree: &[Directive]) -> String {
    tree.iter().map(ToString::to_string).collect()
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

// === impl Lexer ===

impl<'s> Lexer<'s> {
    fn new(text: &'s str) -> Self {
        Lexer {
            text,
            pos: 0,
            line: 1,
            aborted: false,
            back: None,
        }
    }

    /// The next token and the line it starts on. After an error, lexing goes on from the
    /// offending character.
    fn next(&mut self) -> Result<(Tok, u32), LexError> {
        if let Some(back) = self.back.take() {
            return Ok(back);
        }
        self.skip_blanks();
        let line = self.line;
        let tok = match self.text.as_bytes().get(self.pos) {
            None => Tok::Eof,
            Some(b';') => self.punct(Tok::Semi),
            Some(b'{') => self.punct(Tok::Open),
            Some(b'}') => self.punct(Tok::Close),
            Some(&q @ (b'"' | b'\'')) => self.quoted(q)?,
            Some(_) => self.bare(),
        };
        Ok((tok, line))
    }

    fn unread(&mut self, tok: Tok, line: u32) {
        self.back = Some((tok, line));
    }

    fn punct(&mut self, tok: Tok) -> Tok {
        self.pos += 1;
        tok
    }

    /// Skips whitespace and comments.
    fn skip_blanks(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                }
                b'#' => {
                    let rest = &bytes[self.pos..];
                    self.pos += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                }
                _ => break,
            }
        }
    }

    fn bare(&mut self) -> Tok {
        let bytes = self.text.as_bytes();
        let mut value = Vec::new();
        let mut after_dollar = false;
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' => break,
                b'{' if !after_dollar => break,
                b'\\' => {
                    self.escape(&mut value);
                    after_dollar = false;
                    continue;
                }
                _ => {}
            }
            value.push(b);
            after_dollar = b == b'$';
            self.pos += 1;
        }
        Tok::Word {
            value: into_string(value),
            quoted: false,
        }
    }

    fn quoted(&mut self, quote: u8) -> Result<Tok, LexError> {
        let bytes = self.text.as_bytes();
        let start = self.line;
        let mut value = Vec::new();
        self.pos += 1;
        loop {
            let Some(&b) = bytes.get(self.pos) else {
                self.aborted = true;
                return Err(LexError {
                    line: start,
                    kind: Kind::UnterminatedQuote,
                });
            };
            if b == quote {
                self.pos += 1;
                break;
            }
            if b == b'\\' {
                self.escape(&mut value);
                continue;
            }
            if b == b'\n' {
                self.line += 1;
            }
            value.push(b);
            self.pos += 1;
        }
        match bytes.get(self.pos) {
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b'}' | b')') => {
                Ok(Tok::Word {
                    value: into_string(value),
                    quoted: true,
                })
            }
            Some(_) => {
                let c = self.text.get(self.pos..).and_then(|s| s.chars().next());
                Err(LexError {
                    line: self.line,
                    kind: Kind::AfterQuote(c.unwrap_or(char::REPLACEMENT_CHARACTER)),
                })
            }
        }
    }

    /// Consumes the backslash at `pos` and the character after it, appending what they stand for.
    fn escape(&mut self, value: &mut Vec<u8>) {
        let Some(&c) = self.text.as_bytes().get(self.pos + 1) else {
            value.push(b'\\');
            self.pos += 1;
            return;
        };
        match c {
            b'"' | b'\'' | b'\\' => value.push(c),
            b'n' => value.push(b'\n'),
            b'r' => value.push(b'\r'),
            b't' => value.push(b'\t'),
            _ => {
                value.extend([b'\\', c]);
                if c == b'\n' {
                    self.line += 1;
                }
            }
        }
        self.pos += 2;
    }
}

/// Tokens are cut at ASCII bytes only, so they are always whole UTF-8; the fallback is for form.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

// === include patterns ===

/// How an include pattern's components match file names, as glob(3) matches them: case
/// matters, and a leading `.` must be matched by a literal `.`.
const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The files an include pattern names, relative to `base`: the path itself if it has no glob
/// characters (whether it exists or not, so that reading it reports a missing file), else the
/// existing paths that match, sorted bytewise as glob(3) sorts them in the C locale. Nginx
/// expands the pattern with glob(3), so a pattern matching nothing is not an error.
fn expand_pattern(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = base.join(pattern);
    if !is_glob(pattern) {
        return vec![full];
    }
    let mut found = vec![PathBuf::new()];
    for component in full.components() {
        let name = component.as_os_str().to_string_lossy();
        if matches!(component, Component::Normal(_)) && is_glob(&name) {
            let Some(pattern) = compile(&name) else {
                return Vec::new();
            };
            found = found
                .iter()
                .flat_map(|dir| matching_entries(dir, &pattern))
                .collect();
        } else {
            for path in &mut found {
                path.push(component);
            }
        }
    }
    found.retain(|path| fs::symlink_metadata(path).is_ok());
    found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    found
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The entries of `dir` (the current directory if empty) whose names match `pattern`.
fn matching_entries(dir: &Path, pattern: &glob::Pattern) -> Vec<PathBuf> {
    let listing = if dir.as_os_str().is_empty() {
        fs::read_dir(".")
    } else {
        fs::read_dir(dir)
    };
    let Ok(listing) = listing else {
        return Vec::new();
    };
    listing
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .filter(|name| pattern.matches_with(&name.to_string_lossy(), MATCH))
        .map(|name| dir.join(name))
        .collect()
}

/// One component of an include pattern, in glob(3)'s syntax, compiled by the `glob` crate. The
/// two differ in three places, which are rewritten first: glob(3) also writes `[!a]` as `[^a]`,
/// takes a `[` without its `]` literally (the crate refuses it), and reads `**` as `*` (the
/// crate's `**` spans directories). `None` if the crate still refuses it.
fn compile(component: &str) -> Option<glob::Pattern> {
    let chars: Vec<char> = component.chars().collect();
    let mut out = String::with_capacity(component.len() + 2);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '*' => {
                out.push('*');
                while chars.get(i + 1) == Some(&'*') {
                    i += 1;
                }
            }
            '[' => match set_end(&chars, i) {
                Some(end) => {
                    let mut first = i + 1;
                    out.push('[');
                    if matches!(chars[first], '!' | '^') {
                        out.push('!');
                        first += 1;
                    }
                    out.extend(&chars[first..=end]);
                    i = end;
                }
                None => out.push_str("[[]"),
            },
            other => out.push(other),
        }
        i += 1;
    }
    glob::Pattern::new(&out).ok()
}

/// Where the set opened by the `[` at `open` closes: the first `]` after its first character
/// (a `]` straight after `[`, `[!` or `[^` is a member, as in glob(3) and the crate). `None`
/// for a `[` without its `]`.
fn set_end(chars: &[char], open: usize) -> Option<usize> {
    let mut first = open + 1;
    if matches!(chars.get(first), Some('!' | '^')) {
        first += 1;
    }
    let after = first + 1;
    chars
        .get(after..)?
        .iter()
        .position(|&c| c == ']')
        .map(|at| after + at)
}

// === writing ===

impl fmt::Display for Directive {
    /// Writes the directive in Nginx syntax, its block indented four spaces a level. Every line
    /// ends in a newline, so a list of directives is written by writing each in turn. Parsing the
    /// text gives the directive back (spans aside): arguments are quoted if they were, or if
    /// they cannot be written bare.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_directive(f, self, 0)
    }
}

fn write_directive(f: &mut fmt::Formatter<'_>, d: &Directive, indent: usize) -> fmt::Result {
    let pad = indent * 4;
    write!(f, "{:pad$}{}", "", encode(&d.name, false))?;
    for arg in &d.args {
        write!(f, " {}", encode(&arg.value, arg.quoted))?;
    }
    let Some(block) = &d.block else {
        return f.write_str(";\n");
    };
    f.write_str(" {\n")?;
    for child in block {
        write_directive(f, child, indent + 1)?;
    }
    writeln!(f, "{:pad$}}}", "")
}

/// `value` as a token that reads back as `value`: bare if it was bare and can be, else quoted.
fn encode(value: &str, quoted: bool) -> String {
    if let Some(bare) = encode_bare(value).filter(|_| !quoted) {
        return bare;
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `value` as a bare word, escaped so that the lexer reads it back, or `None` if no bare word
/// reads as `value` (it is empty, starts with `#` or `}`, or has a space, `;` or `{` that no
/// backslash or `$` protects).
fn encode_bare(value: &str) -> Option<String> {
    if value.is_empty() || value.starts_with(['#', '}']) {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    let mut after_dollar = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // `\\` reads as one backslash, and leaves the next character to be read as usual
            // (a `$` still protects a `{`). Only a space, `;` or `{` cannot be read as usual; a
            // backslash before one is kept as written, and keeps it in the word.
            '\\' => match chars.peek() {
                Some(&next @ (' ' | ';' | '{')) => {
                    out.extend(['\\', next]);
                    chars.next();
                }
                _ => out.push_str("\\\\"),
            },
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' | ';' => return None,
            '{' if !after_dollar => return None,
            _ => out.push(c),
        }
        after_dollar = c == '$';
    }
    Some(out)
}

#[cfg(test)]
mod tests;
