//! Writing a tree back in Nginx syntax, so that it reads back as the same tree.

use std::fmt;

use super::Directive;

/// Writes a tree back in Nginx syntax (see [`Directive`]'s `Display`).
pub(super) fn write_tree(tree: &[Directive]) -> String {
    tree.iter().map(ToString::to_string).collect()
}

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
pub(super) fn encode(value: &str, quoted: bool) -> String {
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
pub(super) fn encode_bare(value: &str) -> Option<String> {
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
