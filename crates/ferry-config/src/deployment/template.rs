//! Values with Nginx variables in them (`method=$request_method`, `/srv/app/public$1`): parsed
//! once when the configuration is read (by [`crate::nginx`]), so that an unknown variable is an
//! error with its line, and expanded per request by the front end, which knows the request.

use std::fmt;

/// A value with variables: literal text and variables, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text taken as it is.
    Literal(String),
    /// A variable, replaced by its value for the request (empty when it has none).
    Var(Var),
}

/// The variables Ferry knows, named as in Nginx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `$request_method`: `GET`, `POST`, ...
    RequestMethod,
    /// `$host`: the `Host` header's name without its port, lowercased; else the server's
    /// first name.
    Host,
    /// `$remote_addr`: the client's address (empty on a unix socket).
    RemoteAddr,
    /// `$remote_port`: the client's port (empty on a unix socket).
    RemotePort,
    /// `$scheme`: `http` (Ferry serves plain HTTP).
    Scheme,
    /// `$request_uri`: the request target as received, with its query.
    RequestUri,
    /// `$uri`: the path, percent-decoded and normalized, as locations see it.
    Uri,
    /// `$args` and `$query_string`: the query, without `?`.
    Args,
    /// `$is_args`: `?` when there is a query, else empty.
    IsArgs,
    /// `$server_name`: the matched server's first name.
    ServerName,
    /// `$server_port`: the port the request came in on.
    ServerPort,
    /// `$server_addr`: the address the request came in on.
    ServerAddr,
    /// `$server_protocol`: `HTTP/1.1` or `HTTP/1.0`.
    ServerProtocol,
    /// `$document_root`: the `root` (or `alias`) in force.
    DocumentRoot,
    /// `$content_type`: the request's `Content-Type`.
    ContentType,
    /// `$content_length`: the request's `Content-Length`.
    ContentLength,
    /// `$http_NAME`: a request header, `NAME` lowercased with `_` for `-`.
    Http(String),
    /// `$cookie_NAME`: a request cookie.
    Cookie(String),
    /// `$arg_NAME`: a query argument.
    Arg(String),
    /// `$1` to `$9`: a capture of the location's (or server name's) regular expression.
    Capture(usize),
}

/// The names [`Template::parse`] accepts, for error messages.
const KNOWN_VARIABLES: &str = "$request_method, $host, $remote_addr, $remote_port, $scheme, \
     $request_uri, $uri, $document_uri, $args, $query_string, $is_args, $server_name, \
     $server_port, $server_addr, $server_protocol, $document_root, $content_type, \
     $content_length, $http_NAME, $cookie_NAME, $arg_NAME, $1 to $9";

// === impl Template ===

impl Template {
    /// Parses `text`: `$name` or `${name}` is a variable, anything else literal text. A `$`
    /// not followed by a name is literal, as in Nginx.
    ///
    /// # Errors
    ///
    /// The message for an unknown variable or an unclosed `${`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced
                    .find('}')
                    .ok_or_else(|| format!("the variable in \"{text}\" misses its closing }}"))?;
                (&braced[..end], end + 2)
            } else if after.starts_with(|c: char| c.is_ascii_digit()) {
                (&after[..1], 1)
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                literal.push('$');
                rest = after;
                continue;
            }
            let var = Var::named(name).ok_or_else(|| {
                format!("unknown variable \"${name}\"; Ferry knows {KNOWN_VARIABLES}")
            })?;
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(var));
            rest = &after[consumed..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// A template without variables.
    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            parts: vec![Part::Literal(text.into())],
        }
    }

    /// Its pieces, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The text, when there are no variables in it.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(_) => return None,
            }
        }
        Some(out)
    }

    /// Whether it uses `$1`..`$9`.
    pub fn uses_captures(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var(Var::Capture(_))))
    }

    /// The value, with each variable replaced by what `lookup` gives for it.
    pub fn expand<'a>(&'a self, mut lookup: impl FnMut(&'a Var, &mut String)) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(var) => lookup(var, &mut out),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Var(var) => write!(f, "${{{var}}}")?,
            }
        }
        Ok(())
    }
}

// === impl Var ===

impl Var {
    fn named(name: &str) -> Option<Var> {
        let var = match name {
            "request_method" => Var::RequestMethod,
            "host" => Var::Host,
            "remote_addr" => Var::RemoteAddr,
            "remote_port" => Var::RemotePort,
            "scheme" => Var::Scheme,
            "request_uri" => Var::RequestUri,
            "uri" | "document_uri" => Var::Uri,
            "args" | "query_string" => Var::Args,
            "is_args" => Var::IsArgs,
            "server_name" => Var::ServerName,
            "server_port" => Var::ServerPort,
            "server_addr" => Var::ServerAddr,
            "server_protocol" => Var::ServerProtocol,
            "document_root" => Var::DocumentRoot,
            "content_type" => Var::ContentType,
            "content_length" => Var::ContentLength,
            _ => {
                if let Ok(n @ 1..=9) = name.parse::<usize>() {
                    return Some(Var::Capture(n));
                }
                let (prefix, rest) = name.split_once('_')?;
                if rest.is_empty() {
                    return None;
                }
                let rest = rest.to_ascii_lowercase();
                match prefix {
                    "http" => Var::Http(rest),
                    "cookie" => Var::Cookie(rest),
                    "arg" => Var::Arg(rest),
                    _ => return None,
                }
            }
        };
        Some(var)
    }
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Var::RequestMethod => "request_method",
            Var::Host => "host",
            Var::RemoteAddr => "remote_addr",
            Var::RemotePort => "remote_port",
            Var::Scheme => "scheme",
            Var::RequestUri => "request_uri",
            Var::Uri => "uri",
            Var::Args => "args",
            Var::IsArgs => "is_args",
            Var::ServerName => "server_name",
            Var::ServerPort => "server_port",
            Var::ServerAddr => "server_addr",
            Var::ServerProtocol => "server_protocol",
            Var::DocumentRoot => "document_root",
            Var::ContentType => "content_type",
            Var::ContentLength => "content_length",
            Var::Http(name) => return write!(f, "http_{name}"),
            Var::Cookie(name) => return write!(f, "cookie_{name}"),
            Var::Arg(name) => return write!(f, "arg_{name}"),
            Var::Capture(n) => return write!(f, "{n}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_and_variables() {
        let t = Template::parse("method=$request_method;${http_x_real}!").unwrap();
        assert_eq!(
            t.parts(),
            [
                Part::Literal("method=".into()),
                Part::Var(Var::RequestMethod),
                Part::Literal(";".into()),
                Part::Var(Var::Http("x_real".into())),
                Part::Literal("!".into()),
            ]
        );
        assert_eq!(t.as_literal(), None);
        assert_eq!(
            Template::parse("plain").unwrap().as_literal().unwrap(),
            "plain"
        );
    }

    #[test]
    fn captures_are_single_digits() {
        let t = Template::parse("/srv/public$1x").unwrap();
        assert!(t.uses_captures());
        assert_eq!(
            t.parts(),
            [
                Part::Literal("/srv/public".into()),
                Part::Var(Var::Capture(1)),
                Part::Literal("x".into()),
            ]
        );
    }

    #[test]
    fn a_lone_dollar_is_literal() {
        let t = Template::parse("costs $ 5 $").unwrap();
        assert_eq!(t.as_literal().unwrap(), "costs $ 5 $");
    }

    #[test]
    fn unknown_variables_are_errors() {
        let e = Template::parse("$nope").unwrap_err();
        assert!(e.starts_with("unknown variable \"$nope\""), "{e}");
        assert!(Template::parse("${host").unwrap_err().contains("closing }"));
        assert!(Template::parse("$http_").is_err());
    }

    #[test]
    fn expand_replaces_each_variable() {
        let t = Template::parse("$request_method $arg_id").unwrap();
        let out = t.expand(|var, out| match var {
            Var::RequestMethod => out.push_str("GET"),
            Var::Arg(name) => out.push_str(name),
            _ => {}
        });
        assert_eq!(out, "GET id");
    }
}
