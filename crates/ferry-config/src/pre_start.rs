//! `--pre-start URL`: Passenger's `passenger_pre_start`, checked here and sent by `ferry-app`.
//!
//! Passenger sends `HEAD <path> HTTP/1.1` with `Host: <host>` and `Connection: close` to
//! 127.0.0.1 at the URL's port, whatever the host resolves to. `ferry start` has one listener, so
//! a URL without a port (or a bare path such as `/status`) means that listener rather than port 80.
//! An `https` URL is refused: Ferry serves plain HTTP only and has no TLS client to send one with.

/// One `--pre-start` URL, checked: where the `HEAD` request goes and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreStart {
    /// The URL as the user gave it (for the log).
    pub url: String,
    /// The `Host` header: the URL's host, with its port when it names one. `None` for a bare
    /// path: the address the request is sent to.
    pub host: Option<String>,
    /// The TCP port on 127.0.0.1 to send the request to. `None`: Ferry's own listener.
    pub port: Option<u16>,
    /// The path and query to ask for; starts with `/`.
    pub path: String,
}

// === impl PreStart ===

impl PreStart {
    /// Parses `url`: `http://HOST[:PORT][/PATH][?QUERY]`, or a path starting with `/`.
    ///
    /// The error is the reason the URL cannot be used.
    pub fn parse(url: &str) -> Result<PreStart, &'static str> {
        if !url.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must not contain spaces, control or non-ASCII characters");
        }
        if url.starts_with('/') {
            return Ok(PreStart {
                url: url.to_owned(),
                host: None,
                port: None,
                path: path_and_query(url),
            });
        }
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(
                    "https is not supported: Ferry serves plain HTTP and sends pre-start \
                            requests in plain HTTP; use http://HOST/PATH or just /PATH",
                );
            }
            _ => return Err("must be an http:// URL or a path starting with /"),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (host, port) = split_authority(authority)?;
        Ok(PreStart {
            url: url.to_owned(),
            host: Some(match port {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }),
            port,
            path: path_and_query(path),
        })
    }
}

/// `HOST[:PORT]` → the host and the port, if one is given (`host:` counts as none).
fn split_authority(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    if authority.contains('@') {
        return Err("must not contain a user name or password");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("has an unclosed [ in its host")?;
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ":.".contains(c))
        {
            return Err("has an invalid IPv6 address in its host");
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("has junk after its host")?),
        };
        (&authority[..addr.len() + 2], port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("has no host");
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~%".contains(c);
    if !host.starts_with('[') && !host.chars().all(plain) {
        return Err("has an invalid host name");
    }
    let port = match port {
        None | Some("") => None,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => return Err("has an invalid port (1..=65535)"),
        },
    };
    Ok((host, port))
}

/// The part of the request line after the method: the path and query without the fragment,
/// `/` when empty.
fn path_and_query(path: &str) -> String {
    let path = path.split('#').next().unwrap_or_default();
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> (Option<String>, Option<u16>, String) {
        let p = PreStart::parse(url).expect("valid");
        assert_eq!(p.url, url);
        (p.host, p.port, p.path)
    }

    #[test]
    fn urls_name_host_port_and_path() {
        let host = |h: &str| Some(h.to_owned());
        assert_eq!(
            parse("http://foo.com/"),
            (host("foo.com"), None, "/".into())
        );
        assert_eq!(
            parse("http://bar.com:3500/"),
            (host("bar.com:3500"), Some(3500), "/".into())
        );
        assert_eq!(
            parse("HTTP://myblog.com/store?x=1#top"),
            (host("myblog.com"), None, "/store?x=1".into())
        );
        assert_eq!(parse("http://foo.com"), (host("foo.com"), None, "/".into()));
        assert_eq!(
            parse("http://foo.com?a"),
            (host("foo.com"), None, "/?a".into())
        );
        assert_eq!(
            parse("http://foo.com:/"),
            (host("foo.com"), None, "/".into())
        );
        assert_eq!(
            parse("http://[::1]:8080/x"),
            (host("[::1]:8080"), Some(8080), "/x".into())
        );
        assert_eq!(parse("http://[::1]/"), (host("[::1]"), None, "/".into()));
    }

    #[test]
    fn a_bare_path_means_ferrys_own_listener() {
        assert_eq!(parse("/status"), (None, None, "/status".into()));
        assert_eq!(parse("/a?b=c#d"), (None, None, "/a?b=c".into()));
    }

    #[test]
    fn bad_urls_say_why() {
        let reason = |url: &str| PreStart::parse(url).expect_err(url);
        assert!(reason("https://foo.com/").contains("https is not supported"));
        assert!(reason("ftp://foo.com/").contains("http://"));
        assert!(reason("foo.com/").contains("http://"));
        assert!(reason("").contains("http://"));
        assert!(reason("http:///x").contains("no host"));
        assert!(reason("http://:80/").contains("no host"));
        assert!(reason("http://foo.com:0/").contains("port"));
        assert!(reason("http://foo.com:99999/").contains("port"));
        assert!(reason("http://foo.com:x/").contains("port"));
        assert!(reason("http://u:p@foo.com/").contains("user name"));
        assert!(reason("http://fo o.com/").contains("spaces"));
        assert!(reason("/a\r\nX: y").contains("control"));
        assert!(reason("http://[::1/").contains("unclosed"));
        assert!(reason("http://[::1]x/").contains("junk"));
        assert!(reason("http://foo,bar/").contains("host name"));
    }
}
