//! What `listen`, `server_name` and `location` arguments mean: addresses, names and URI
//! matchers. The Nginx reader ([`crate::nginx`]) parses them once, when the configuration is
//! read (regexes compiled), so that the front end matches requests against them without
//! parsing anything.
//!
//! Regular expressions (`location ~`, `location ~*`, `server_name ~`) are compiled with the
//! `regex` crate, where Nginx uses PCRE. The common syntax is the same (classes, groups,
//! alternation, anchors, repetition, `(?i)`, named groups `(?<name>...)` and `(?P<name>...)`),
//! and captures work as in Nginx (`$1` in `alias`). What PCRE has and `regex` has not is an
//! error at check time, never a surprise at request time: look-ahead and look-behind
//! (`(?=`, `(?!`, `(?<=`, `(?<!`), backreferences (`\1`), atomic groups and possessive
//! quantifiers, recursion, conditionals, `\K`, and `(?'name'...)` groups. Two differences
//! change matching rather than syntax: `\d`, `\w`, `\s` and `\b` are Unicode-aware (PCRE's
//! are ASCII unless told otherwise; URIs are matched percent-decoded, so this matters only
//! for non-ASCII paths), and `$` matches only at the very end (PCRE's also matches before a
//! final newline, which a request path cannot contain).

use std::fmt;
use std::path::PathBuf;

use regex::Regex;

/// A `listen` address. `80`, `*:80` and `0.0.0.0:80` are the same address, as in Nginx.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListenAddress {
    /// A TCP address. `host` is `*` for every IPv4 address, an IP address (IPv6 without
    /// brackets) or a host name.
    Tcp {
        /// The host.
        host: String,
        /// The port.
        port: u16,
    },
    /// `unix:PATH`.
    Unix(PathBuf),
}

/// One `server_name` entry. Names are compared without regard to case.
#[derive(Debug, Clone)]
pub enum ServerName {
    /// `www.example.com`, or `""`: the requests without a `Host` header.
    Exact(String),
    /// `*.example.com`: any name ending in `.example.com` (stored as `.example.com`).
    LeadingWildcard(String),
    /// `www.example.*`: any name starting with `www.` (stored as `www.`).
    TrailingWildcard(String),
    /// `.example.com`: `example.com` and any name ending in `.example.com` (stored as
    /// `example.com`).
    Domain(String),
    /// `~regex`: names the expression matches.
    Regex(Regex),
}

/// How a `location` matches a request's URI.
#[derive(Debug, Clone)]
pub struct LocationMatch {
    /// The modifier.
    pub modifier: Modifier,
    /// The URI, regular expression or name, without the modifier.
    pub pattern: String,
    /// The compiled expression of a regex location.
    pub regex: Option<Regex>,
}

/// A `location`'s modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `=`: the URI exactly.
    Exact,
    /// None: URIs starting with the pattern; the longest such location wins, then regexes
    /// are tried.
    Prefix,
    /// `^~`: a prefix that, when it is the longest match, stops the regex search.
    PrefixNoRegex,
    /// `~`: a case-sensitive regular expression.
    Regex,
    /// `~*`: a case-insensitive regular expression.
    RegexCaseless,
    /// `@name`: only reachable from `error_page` and the like, never by a URI.
    Named,
}

// === impl ListenAddress ===

impl ListenAddress {
    /// Reads a `listen` address the table has already checked; `None` if it is malformed.
    pub(crate) fn parse(text: &str) -> Option<ListenAddress> {
        if let Some(path) = text.strip_prefix("unix:") {
            return Some(ListenAddress::Unix(PathBuf::from(path)));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (ip, after) = rest.split_once(']')?;
            (ip, after.strip_prefix(':'))
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            ("*", Some(text))
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = port.map_or(Some(80), |p| p.parse().ok())?;
        let host = if host == "0.0.0.0" { "*" } else { host };
        Some(ListenAddress::Tcp {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            ListenAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
            ListenAddress::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

// === impl ServerName ===

impl ServerName {
    /// Reads a `server_name` entry the table has already checked.
    ///
    /// # Errors
    ///
    /// A regex that does not compile, with the reason.
    pub(crate) fn parse(text: &str) -> Result<ServerName, String> {
        if let Some(regex) = text.strip_prefix('~') {
            return compile(regex, false).map(ServerName::Regex);
        }
        let name = text.to_ascii_lowercase();
        Ok(if let Some(rest) = name.strip_prefix('*') {
            ServerName::LeadingWildcard(rest.to_owned())
        } else if let Some(rest) = name.strip_suffix('*') {
            ServerName::TrailingWildcard(rest.to_owned())
        } else if let Some(rest) = name.strip_prefix('.') {
            ServerName::Domain(rest.to_owned())
        } else {
            ServerName::Exact(name)
        })
    }

    /// Whether a request for `host` (without its port) matches this name.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self {
            ServerName::Exact(name) => host == *name,
            ServerName::LeadingWildcard(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            ServerName::TrailingWildcard(prefix) => {
                host.len() > prefix.len() && host.starts_with(prefix.as_str())
            }
            ServerName::Domain(domain) => {
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
            }
            ServerName::Regex(regex) => regex.is_match(&host),
        }
    }

    /// The name as a key for "the same name twice on one address" (regexes by their text).
    pub(crate) fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerName::Exact(name) if name.is_empty() => f.write_str("\"\""),
            ServerName::Exact(name) => f.write_str(name),
            ServerName::LeadingWildcard(suffix) => write!(f, "*{suffix}"),
            ServerName::TrailingWildcard(prefix) => write!(f, "{prefix}*"),
            ServerName::Domain(domain) => write!(f, ".{domain}"),
            ServerName::Regex(regex) => write!(f, "~{}", regex.as_str()),
        }
    }
}

// === impl LocationMatch ===

impl LocationMatch {
    /// Reads a `location`'s arguments the table has already checked: `[MODIFIER] URI`, or one
    /// word with the modifier glued on (`=/`, `~\.php$`, `^~/static`), or `@name`.
    ///
    /// # Errors
    ///
    /// A regex that does not compile, with the reason.
    pub(crate) fn parse(args: &[&str]) -> Result<LocationMatch, String> {
        let (modifier, pattern) = match args {
            [modifier, pattern] => (modifier_of(modifier), *pattern),
            [word] => split_glued(word),
            _ => (Modifier::Prefix, ""),
        };
        let regex = match modifier {
            Modifier::Regex => Some(compile(pattern, false)?),
            Modifier::RegexCaseless => Some(compile(pattern, true)?),
            _ => None,
        };
        Ok(LocationMatch {
            modifier,
            pattern: pattern.to_owned(),
            regex,
        })
    }

    /// Whether `uri` matches, by this location's own rule (choosing between locations is the
    /// router's business, and `ferry config check`'s).
    pub fn matches(&self, uri: &str) -> bool {
        match self.modifier {
            Modifier::Exact => uri == self.pattern,
            Modifier::Prefix | Modifier::PrefixNoRegex => uri.starts_with(&self.pattern),
            Modifier::Regex | Modifier::RegexCaseless => {
                self.regex.as_ref().is_some_and(|r| r.is_match(uri))
            }
            Modifier::Named => false,
        }
    }

    /// The number of capture groups of a regex location (0 otherwise).
    pub fn captures(&self) -> usize {
        self.regex
            .as_ref()
            .map_or(0, |r| r.captures_len().saturating_sub(1))
    }

    /// Whether this is a prefix location (with or without `^~`).
    pub fn is_prefix(&self) -> bool {
        matches!(self.modifier, Modifier::Prefix | Modifier::PrefixNoRegex)
    }

    /// Whether this is a regex location.
    pub fn is_regex(&self) -> bool {
        matches!(self.modifier, Modifier::Regex | Modifier::RegexCaseless)
    }
}

impl fmt::Display for LocationMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.modifier {
            Modifier::Prefix | Modifier::Named => f.write_str(&self.pattern),
            other => write!(f, "{} {}", other.symbol(), self.pattern),
        }
    }
}

// === impl Modifier ===

impl Modifier {
    /// The modifier as written (`""` for a plain prefix, `"@"` for a named location).
    pub fn symbol(self) -> &'static str {
        match self {
            Modifier::Exact => "=",
            Modifier::Prefix => "",
            Modifier::PrefixNoRegex => "^~",
            Modifier::Regex => "~",
            Modifier::RegexCaseless => "~*",
            Modifier::Named => "@",
        }
    }

    /// Where a location of this kind sorts in Nginx's search: exact, prefix, regex, named.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Modifier::Exact => 0,
            Modifier::Prefix | Modifier::PrefixNoRegex => 1,
            Modifier::Regex | Modifier::RegexCaseless => 2,
            Modifier::Named => 3,
        }
    }
}

fn modifier_of(word: &str) -> Modifier {
    match word {
        "=" => Modifier::Exact,
        "^~" => Modifier::PrefixNoRegex,
        "~" => Modifier::Regex,
        "~*" => Modifier::RegexCaseless,
        _ => Modifier::Prefix,
    }
}

/// One-word forms: Nginx reads a leading `=`, `~*`, `~`, `^~` or `@` as the modifier.
fn split_glued(word: &str) -> (Modifier, &str) {
    if let Some(rest) = word.strip_prefix("~*") {
        (Modifier::RegexCaseless, rest)
    } else if let Some(rest) = word.strip_prefix('~') {
        (Modifier::Regex, rest)
    } else if let Some(rest) = word.strip_prefix("^~") {
        (Modifier::PrefixNoRegex, rest)
    } else if let Some(rest) = word.strip_prefix('=') {
        (Modifier::Exact, rest)
    } else if word.starts_with('@') {
        (Modifier::Named, word)
    } else {
        (Modifier::Prefix, word)
    }
}

/// Compiles a regex, with the reason on one line when it does not compile.
fn compile(pattern: &str, caseless: bool) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(caseless)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(text) => text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or("syntax error")
                .to_owned(),
            other => other.to_string(),
        })
}
