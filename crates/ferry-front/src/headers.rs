//! Header rewriting between client and app: hop-by-hop headers stay on their hop, and the app
//! learns who the client is.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus `Expect`, which
/// Ferry answers itself.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::EXPECT,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// Tells the app who the client is. `X-Forwarded-For` gets the client's address appended (a
/// proxy in front of Ferry may have set it already); `X-Forwarded-Proto` and `X-Forwarded-Host`
/// are set from what Ferry itself saw, replacing anything the client sent.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, client: Option<IpAddr>, proto: &'static str) {
    if let Some(ip) = client {
        let value = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    match headers.get(header::HOST).cloned() {
        Some(host) => headers.insert(X_FORWARDED_HOST, host),
        None => headers.remove(X_FORWARDED_HOST),
    };
}

/// The process id in the request's sticky session cookie `name`, if it has one that parses.
pub(crate) fn sticky_id(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .and_then(|(_, value)| value.trim().trim_matches('"').parse().ok())
}

/// Tells the client which process served it: `Set-Cookie: NAME=ID; Path=BASE; ATTRIBUTES`, on
/// every response while sticky sessions are on (as Passenger does), so that a client whose
/// process went away is moved to its new one. Issue 19: the default attributes' `Secure` is
/// kept only over TLS (`tls`), since a browser drops a `Secure` cookie sent over plain HTTP;
/// attributes written in the configuration are sent as written.
pub(crate) fn set_sticky_cookie<B>(
    response: &mut http::Response<B>,
    cookie: &crate::StickyCookie,
    id: u64,
    base_uri: Option<&str>,
    tls: bool,
) {
    let path = base_uri.unwrap_or("/");
    let mut value = format!("{}={id}; Path={path}", cookie.name);
    let default = ferry_config::defaults::STICKY_SESSIONS_COOKIE_ATTRIBUTES;
    let attributes = if !tls && cookie.attributes == default {
        default.replace(" Secure;", "").replace("Secure;", "")
    } else {
        cookie.attributes.clone()
    };
    let attributes = attributes.trim();
    if !attributes.is_empty() {
        value.push_str("; ");
        value.push_str(attributes);
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn forwarded_headers_append_the_client_and_replace_the_rest() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("example.com"));
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        add_forwarded(&mut h, Some([127, 0, 0, 1].into()), "http");
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.1, 127.0.0.1");
        assert_eq!(h[&X_FORWARDED_PROTO], "http");
        assert_eq!(h[&X_FORWARDED_HOST], "example.com");
    }

    #[test]
    fn the_sticky_cookie_is_found_among_others_and_must_be_a_number() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; _passenger_route=42"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(sticky_id(&h, "_passenger_route"), Some(42));
        assert_eq!(sticky_id(&h, "route"), None);
        let mut bad = HeaderMap::new();
        bad.insert(
            header::COOKIE,
            HeaderValue::from_static("_passenger_route=abc"),
        );
        assert_eq!(sticky_id(&bad, "_passenger_route"), None);
    }

    #[test]
    fn the_sticky_cookie_names_the_process_and_the_base_uri() {
        let mut response = http::Response::new(());
        let cookie = crate::StickyCookie::default();
        set_sticky_cookie(&mut response, &cookie, 7, Some("/blog"), true);
        assert_eq!(
            response.headers()[header::SET_COOKIE],
            "_passenger_route=7; Path=/blog; SameSite=Lax; Secure;"
        );
        // Issue 19, TLS: the default's Secure only over TLS.
        let mut response = http::Response::new(());
        set_sticky_cookie(&mut response, &cookie, 7, Some("/blog"), false);
        assert_eq!(
            response.headers()[header::SET_COOKIE],
            "_passenger_route=7; Path=/blog; SameSite=Lax;"
        );
        let mut response = http::Response::new(());
        let bare = crate::StickyCookie {
            name: "route".into(),
            attributes: String::new(),
        };
        set_sticky_cookie(&mut response, &bare, 8, None, false);
        assert_eq!(response.headers()[header::SET_COOKIE], "route=8; Path=/");
    }
}
