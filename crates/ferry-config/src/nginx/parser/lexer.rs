//! Splitting a file's text into tokens (the grammar is in the parent module's doc).

use super::Kind;

/// Splits text into tokens, one at a time.
pub(super) struct Lexer<'s> {
    text: &'s str,
    pos: usize,
    line: u32,
    /// Set once a quoted string runs to the end of the file: every later "unexpected end of
    /// file" is a consequence, not news.
    pub(super) aborted: bool,
    /// A token given back by the parser.
    back: Option<(Tok, u32)>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Word { value: String, quoted: bool },
    Semi,
    Open,
    Close,
    Eof,
}

/// An error while reading a token.
pub(super) struct LexError {
    pub(super) line: u32,
    pub(super) kind: Kind,
}

// === impl Lexer ===

impl<'s> Lexer<'s> {
    pub(super) fn new(text: &'s str) -> Self {
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
    pub(super) fn next(&mut self) -> Result<(Tok, u32), LexError> {
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

    pub(super) fn unread(&mut self, tok: Tok, line: u32) {
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
