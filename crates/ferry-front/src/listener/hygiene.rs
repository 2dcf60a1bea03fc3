//! A request head checked and cleaned before any app or file sees it (issue 16, items 4 and 6):
//!
//! - a request line longer than `large_client_header_buffers`' size: 414 (nginx);
//! - a header line longer than that: 431, the status RFC 6585 defines for it (nginx answers
//!   400 "Request Header Or Cookie Too Large"); a whole head over the number × size is refused
//!   by hyper itself with 431 (`max_header_size`), and so are more than 100 headers;
//! - two `Host` headers, or a `Host` that names another host than an absolute-form target
//!   (`GET http://a/ HTTP/1.1` with `Host: b`): 400 (nginx would trust the target; a
//!   disagreement is how cache poisoning and routing confusion start);
//! - `Proxy` is dropped (httpoxy: it would become `HTTP_PROXY` in a CGI-style environment);
//! - with `ignore_invalid_headers on` (nginx's default), a header whose name nginx finds invalid
//!   is dropped: names are letters, digits and `-`, and `_` only with `underscores_in_headers
//!   on` (so `X_Forwarded_For` cannot pose as `X-Forwarded-For` once names become CGI variables).
//!
//! A refused request gets `Connection: close`, as nginx closes after these answers.

use ferry_config::deployment::ClientSettings;
use http::{header, HeaderName, Request, StatusCode};

/// What the connection's default server says about request headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderRules {
    /// The longest request line or header line, in bytes.
    pub(crate) line_max: u64,
    /// Names with `_` are valid (`underscores_in_headers on`).
    pub(crate) underscores: bool,
    /// Headers with invalid names are dropped (`ignore_invalid_headers on`).
    pub(crate) drop_invalid: bool,
}

const PROXY: HeaderName = HeaderName::from_static("proxy");

// === impl HeaderRules ===

impl HeaderRules {
    /// The rules of a connection's settings.
    pub(crate) fn of(settings: &ClientSettings) -> HeaderRules {
        HeaderRules {
            line_max: settings.header_line_max,
            underscores: settings.underscores_in_headers,
            drop_invalid: settings.ignore_invalid_headers,
        }
    }

    /// Whether nginx finds `name` (lowercase, as `http` keeps it) valid.
    fn valid(&self, name: &HeaderName) -> bool {
        name.as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && self.underscores))
    }
}

impl Default for HeaderRules {
    fn default() -> Self {
        HeaderRules::of(&ClientSettings::default())
    }
}

/// Checks `request`'s head against `rules` and drops the headers no app may see; the status
/// to answer instead when it cannot be served.
pub(crate) fn clean<B>(request: &mut Request<B>, rules: &HeaderRules) -> Result<(), StatusCode> {
    if request_line_len(request) > rules.line_max {
        tracing::info!("request line longer than large_client_header_buffers' size: 414");
        return Err(StatusCode::URI_TOO_LONG);
    }
    check_host(request)?;
    let mut dropped: Vec<HeaderName> = Vec::new();
    for (name, value) in request.headers() {
        let line = name.as_str().len() + value.len() + 4;
        if line as u64 > rules.line_max {
            tracing::info!(
                header = name.as_str(),
                "header line longer than large_client_header_buffers' size: 431"
            );
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        let drop = *name == PROXY || (rules.drop_invalid && !rules.valid(name));
        if drop && !dropped.contains(name) {
            dropped.push(name.clone());
        }
    }
    for name in dropped {
        tracing::debug!(header = name.as_str(), "request header dropped");
        request.headers_mut().remove(name);
    }
    Ok(())
}

/// The answer to a request [`clean`] refused: the status's page, and the connection closed.
pub(crate) fn refused(status: StatusCode) -> http::Response<crate::body::Body> {
    let mut response = crate::error::status_page(status);
    response
        .headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}

/// `METHOD TARGET HTTP/1.1\r\n`, in bytes.
fn request_line_len<B>(request: &Request<B>) -> u64 {
    let uri = request.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    (request.method().as_str().len() + target + 11) as u64
}

/// One `Host` at most, agreeing with an absolute-form target's host and port.
fn check_host<B>(request: &Request<B>) -> Result<(), StatusCode> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        tracing::info!("two Host headers: 400");
        return Err(StatusCode::BAD_REQUEST);
    }
    let (Some(authority), Some(host)) = (request.uri().authority(), first) else {
        return Ok(());
    };
    let agrees = host.to_str().ok().is_some_and(|host| {
        let default_port = |scheme: Option<&str>| match scheme {
            Some("https") => 443,
            _ => 80,
        };
        let port = authority
            .port_u16()
            .unwrap_or_else(|| default_port(request.uri().scheme_str()));
        let (name, host_port) = split_host(host);
        let host_port = host_port.unwrap_or_else(|| default_port(request.uri().scheme_str()));
        name.trim_end_matches('.')
            .eq_ignore_ascii_case(authority.host().trim_end_matches('.'))
            && host_port == port
    });
    if agrees {
        Ok(())
    } else {
        tracing::info!("Host disagrees with the absolute-form target: 400");
        Err(StatusCode::BAD_REQUEST)
    }
}

/// `name[:port]` or `[v6][:port]`; a port that does not parse counts as none matching.
fn split_host(host: &str) -> (&str, Option<u16>) {
    let (name, port) = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => (&host[..colon], Some(&host[colon + 1..])),
        _ => (host, None),
    };
    (name, port.map(|p| p.parse().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri(target);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn rules(underscores: bool, drop_invalid: bool) -> HeaderRules {
        HeaderRules {
            line_max: 8192,
            underscores,
            drop_invalid,
        }
    }

    #[test]
    fn proxy_is_always_dropped() {
        let mut r = request("/", &[("Proxy", "http://evil"), ("Accept", "*/*")]);
        assert_eq!(clean(&mut r, &rules(true, false)), Ok(()));
        assert!(r.headers().get("proxy").is_none());
        assert!(r.headers().get("accept").is_some());
    }

    #[test]
    fn underscores_and_invalid_names_follow_nginx() {
        let headers = [
            ("X_Forwarded_For", "1.2.3.4"),
            ("X.Dot", "1"),
            ("X-Ok", "1"),
        ];
        let mut r = request("/", &headers);
        assert_eq!(clean(&mut r, &rules(false, true)), Ok(()));
        let names: Vec<&str> = r.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-ok"]);
        let mut r = request("/", &headers);
        assert_eq!(clean(&mut r, &rules(true, true)), Ok(()));
        assert!(r.headers().contains_key("x_forwarded_for"));
        assert!(!r.headers().contains_key("x.dot"));
        let mut r = request("/", &headers);
        assert_eq!(clean(&mut r, &rules(false, false)), Ok(()));
        assert_eq!(r.headers().len(), 3, "ignore_invalid_headers off keeps all");
    }

    #[test]
    fn hosts_must_be_one_and_agree_with_the_target() {
        let two = &[("Host", "a"), ("Host", "b")];
        assert_eq!(
            clean(&mut request("/", two), &rules(false, true)),
            Err(StatusCode::BAD_REQUEST)
        );
        let cases = [
            ("http://a/", "b", false),
            ("http://a/", "A", true),
            ("http://a/", "a:80", true),
            ("http://a:8080/", "a", false),
            ("http://a:8080/", "a:8080", true),
            ("http://[::1]/", "[::1]", true),
            ("/", "anything", true),
        ];
        for (target, host, ok) in cases {
            let result = clean(&mut request(target, &[("Host", host)]), &rules(false, true));
            assert_eq!(result.is_ok(), ok, "{target} with Host {host}");
        }
    }

    #[test]
    fn long_lines_are_refused() {
        let small = HeaderRules {
            line_max: 100,
            ..rules(false, true)
        };
        let long_target = format!("/{}", "a".repeat(100));
        assert_eq!(
            clean(&mut request(&long_target, &[]), &small),
            Err(StatusCode::URI_TOO_LONG)
        );
        let long_value = "v".repeat(100);
        assert_eq!(
            clean(&mut request("/", &[("X-Long", &long_value)]), &small),
            Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(
            clean(&mut request("/", &[("X-Short", "v")]), &small),
            Ok(())
        );
    }
}
