//! The request side of the `session` protocol (loaders/PROTOCOL.md §2.1, §2.2, §2.6, reference
//! §3): the frame Ferry writes before a request's body.
//!
//! A request goes out as a 4-byte big-endian length, then `KEY\0VALUE\0` CGI variables, then the
//! body: `CONTENT_LENGTH` bytes, or chunked (`HTTP_TRANSFER_ENCODING=chunked`) when the client did
//! not say its length. `SCRIPT_NAME` and `PATH_INFO` split the path at the app's base URI.
//! Writing the frame and the body is the front end's job.

use std::net::SocketAddr;

use http::{header, request, HeaderMap, Method, Version};

/// How the request body travels to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// No body: nothing follows the frame and the connection stays usable.
    None,
    /// `CONTENT_LENGTH` bytes.
    Length(u64),
    /// Chunked, for a body whose length the client did not say.
    Chunked,
}

/// What the frame says about the connection the request came on and the server it reached.
#[derive(Debug, Clone, Copy)]
pub struct FrameContext<'a> {
    /// The client's address (`REMOTE_ADDR`, `REMOTE_PORT`); `None` on a unix socket.
    pub peer: Option<SocketAddr>,
    /// The address the client connected to (`SERVER_NAME`/`SERVER_PORT` without `Host`).
    pub local: Option<SocketAddr>,
    /// The request came over TLS (`HTTPS=on`).
    pub https: bool,
    /// The base URI the app is mounted at, without a trailing slash (`None` at the root).
    pub base_uri: Option<&'a str>,
    /// `SERVER_SOFTWARE`.
    pub server_software: &'a str,
    /// The secret the process expects (`PASSENGER_CONNECT_PASSWORD`).
    pub connect_password: &'a str,
    /// Extra CGI variables, last so that they win (`passenger_set_cgi_param`).
    pub extra: &'a [(String, String)],
}

// === impl RequestBody ===

impl RequestBody {
    /// How a request's body goes out, from what is known of it before it is read: whether it
    /// has already ended, its exact length if known, and whether the client sent
    /// `Content-Length` (a known length without it is still sent chunked).
    pub fn from_hints(parts: &request::Parts, ended: bool, exact_len: Option<u64>) -> RequestBody {
        if ended {
            return RequestBody::None;
        }
        match exact_len {
            Some(0) => RequestBody::None,
            Some(n) if parts.headers.contains_key(header::CONTENT_LENGTH) => RequestBody::Length(n),
            _ => RequestBody::Chunked,
        }
    }
}

/// Builds the request frame: the 4-byte length, then the `KEY\0VALUE\0` pairs.
pub fn frame(
    parts: &request::Parts,
    body: RequestBody,
    upgrade: bool,
    cx: &FrameContext<'_>,
) -> Vec<u8> {
    let mut out = FrameBuf::with_capacity(1024);
    request_variables(&mut out, parts, cx);
    body_variables(&mut out, &parts.headers, body);
    out.pair(
        b"PASSENGER_CONNECT_PASSWORD",
        cx.connect_password.as_bytes(),
    );
    if upgrade {
        out.pair(b"HTTP_CONNECTION", b"upgrade");
    }
    header_variables(&mut out, &parts.headers, upgrade, cx.extra);
    for (key, value) in cx.extra {
        out.pair(key.as_bytes(), value.as_bytes());
    }
    out.finish()
}

/// The CGI variables that describe the request line, the server and the client.
fn request_variables(out: &mut FrameBuf, parts: &request::Parts, cx: &FrameContext<'_>) {
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let (script_name, path_info) = split_base(parts.uri.path(), cx.base_uri);
    out.pair(b"REQUEST_URI", target.as_bytes());
    out.pair(b"PATH_INFO", path_info.as_bytes());
    out.pair(b"SCRIPT_NAME", script_name.as_bytes());
    out.pair(
        b"QUERY_STRING",
        parts.uri.query().unwrap_or_default().as_bytes(),
    );
    out.pair(b"REQUEST_METHOD", parts.method.as_str().as_bytes());
    let (name, port) = server_name(&parts.headers, cx);
    out.pair(b"SERVER_NAME", name.as_bytes());
    out.pair(b"SERVER_PORT", port.as_bytes());
    out.pair(b"SERVER_SOFTWARE", cx.server_software.as_bytes());
    let protocol: &[u8] = match parts.version {
        Version::HTTP_10 => b"HTTP/1.0",
        // Issue 19, TLS: honest about HTTP/2 (nginx's `$server_protocol`).
        Version::HTTP_2 => b"HTTP/2.0",
        _ => b"HTTP/1.1",
    };
    out.pair(b"SERVER_PROTOCOL", protocol);
    match cx.peer {
        Some(peer) => {
            out.pair(b"REMOTE_ADDR", peer.ip().to_string().as_bytes());
            out.pair(b"REMOTE_PORT", peer.port().to_string().as_bytes());
        }
        None => {
            out.pair(b"REMOTE_ADDR", b"127.0.0.1");
            out.pair(b"REMOTE_PORT", b"0");
        }
    }
    if cx.https {
        out.pair(b"HTTPS", b"on");
    }
}

/// `CONTENT_TYPE`, and how the body is delimited.
fn body_variables(out: &mut FrameBuf, headers: &HeaderMap, body: RequestBody) {
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        out.pair(b"CONTENT_TYPE", value.as_bytes());
    }
    match body {
        RequestBody::Length(n) => out.pair(b"CONTENT_LENGTH", n.to_string().as_bytes()),
        RequestBody::Chunked => out.pair(b"HTTP_TRANSFER_ENCODING", b"chunked"),
        RequestBody::None => {}
    }
}

/// One `HTTP_*` variable per header name, its values joined, except the [`SKIPPED`] ones, names
/// that could pass for another (only letters, digits and dashes are taken), and names an `extra`
/// variable replaces.
fn header_variables(
    out: &mut FrameBuf,
    headers: &HeaderMap,
    upgrade: bool,
    extra: &[(String, String)],
) {
    let mut name_buf = Vec::with_capacity(64);
    for name in headers.keys() {
        let name = name.as_str();
        if SKIPPED.contains(&name) || (name == "upgrade" && !upgrade) {
            continue;
        }
        // Only letters, digits and dashes: `X_Forwarded_For` must not pass as `X-Forwarded-For`.
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        name_buf.clear();
        name_buf.extend_from_slice(b"HTTP_");
        name_buf.extend(name.bytes().map(|b| match b {
            b'-' => b'_',
            b => b.to_ascii_uppercase(),
        }));
        if extra.iter().any(|(key, _)| key.as_bytes() == name_buf) {
            continue;
        }
        out.pair(&name_buf, &joined_values(headers, name));
    }
}

/// Every value of header `name`, in order: `; `-separated for `Cookie`, `, ` for the rest.
fn joined_values(headers: &HeaderMap, name: &str) -> Vec<u8> {
    let separator: &[u8] = if name == "cookie" { b"; " } else { b", " };
    let mut values = headers.get_all(name).iter();
    let mut joined = values
        .next()
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    for more in values {
        joined.extend_from_slice(separator);
        joined.extend_from_slice(more.as_bytes());
    }
    joined
}

/// A request frame being built: room for the length, then `KEY\0VALUE\0` pairs.
struct FrameBuf(Vec<u8>);

// === impl FrameBuf ===

impl FrameBuf {
    fn with_capacity(capacity: usize) -> FrameBuf {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.extend_from_slice(&[0; 4]);
        FrameBuf(bytes)
    }

    fn pair(&mut self, key: &[u8], value: &[u8]) {
        self.0.extend_from_slice(key);
        self.0.push(0);
        self.0.extend_from_slice(value);
        self.0.push(0);
    }

    /// The frame, with its length filled in.
    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.0.len() - 4).unwrap_or(u32::MAX);
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        self.0
    }
}

/// Headers that are not sent as `HTTP_*` variables: they have variables of their own, describe
/// only the hop to Ferry, or are answered by Ferry.
const SKIPPED: [&str; 10] = [
    "content-type",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "expect",
    "proxy-authorization",
];

/// The frame of an out-of-band-work request (PROTOCOL.md §2.6): `REQUEST_METHOD=OOBW` and the
/// connect password, nothing else.
pub fn oobw_frame(connect_password: &str) -> Vec<u8> {
    let mut frame = FrameBuf::with_capacity(64);
    frame.pair(b"REQUEST_METHOD", b"OOBW");
    frame.pair(b"PASSENGER_CONNECT_PASSWORD", connect_password.as_bytes());
    frame.finish()
}

/// The frame that makes a worker its app's new template (re-forking, PROTOCOL.md §6.4):
/// `REQUEST_METHOD=PROMOTE` and the connect password, nothing else. The worker answers on the
/// same connection with one line, [`crate::preloader::parse_promote_answer`]'s input.
pub fn promote_frame(connect_password: &str) -> Vec<u8> {
    let mut frame = FrameBuf::with_capacity(64);
    frame.pair(b"REQUEST_METHOD", b"PROMOTE");
    frame.pair(b"PASSENGER_CONNECT_PASSWORD", connect_password.as_bytes());
    frame.finish()
}

/// Splits `path` into `SCRIPT_NAME` and `PATH_INFO` for an app mounted at `base`.
pub fn split_base<'p>(path: &'p str, base: Option<&'p str>) -> (&'p str, &'p str) {
    match base {
        Some(base) if under_base(path, base) => {
            let rest = &path[base.len()..];
            (base, if rest.is_empty() { "/" } else { rest })
        }
        _ => ("", if path.is_empty() { "/" } else { path }),
    }
}

/// Whether `path` is `base` or below it.
pub fn under_base(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `SERVER_NAME` and `SERVER_PORT`: from `Host`, else the address the client connected to.
fn server_name(headers: &HeaderMap, cx: &FrameContext<'_>) -> (String, String) {
    let default_port = if cx.https { "443" } else { "80" };
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        // `[::1]:8080`, `example.com:8080`, `example.com`
        let (name, port) = match host.rfind(':') {
            Some(colon) if !host[colon..].contains(']') => (&host[..colon], &host[colon + 1..]),
            _ => (host, default_port),
        };
        return (name.to_owned(), port.to_owned());
    }
    match cx.local {
        Some(addr) => (addr.ip().to_string(), addr.port().to_string()),
        None => ("localhost".into(), default_port.into()),
    }
}

/// Whether the client asked to switch protocols (`Connection: upgrade` and an `Upgrade` header).
pub fn is_upgrade_request(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(frame: &[u8]) -> Vec<(String, String)> {
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let fields: Vec<&[u8]> = frame[4..].split(|&b| b == 0).collect();
        assert_eq!(fields.last().map(|f| f.len()), Some(0), "ends with NUL");
        fields[..fields.len() - 1]
            .chunks(2)
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv[0]).into_owned(),
                    String::from_utf8_lossy(kv[1]).into_owned(),
                )
            })
            .collect()
    }

    fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn context(base: Option<&str>) -> FrameContext<'_> {
        FrameContext {
            peer: Some(([10, 1, 2, 3], 4567).into()),
            local: Some(([127, 0, 0, 1], 3000).into()),
            https: false,
            base_uri: base,
            server_software: "Ferry/test",
            extra: &[],
            connect_password: "secret",
        }
    }

    fn parts(text: &str) -> request::Parts {
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let mut builder = http::Request::builder()
            .method(first.next().unwrap())
            .uri(first.next().unwrap());
        for line in lines.filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(": ").unwrap();
            builder = builder.header(k, v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn frames_carry_the_cgi_variables() {
        let p = parts("POST /blog/posts/1?x=%20y HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nX-Custom-Thing: a\r\nCookie: a=1\r\nCookie: b=2\r\nAccept: x\r\nAccept: y\r\nConnection: keep-alive\r\n");
        let f = pairs(&frame(
            &p,
            RequestBody::Length(3),
            false,
            &context(Some("/blog")),
        ));
        assert_eq!(get(&f, "REQUEST_URI"), Some("/blog/posts/1?x=%20y"));
        assert_eq!(get(&f, "SCRIPT_NAME"), Some("/blog"));
        assert_eq!(get(&f, "PATH_INFO"), Some("/posts/1"));
        assert_eq!(get(&f, "QUERY_STRING"), Some("x=%20y"));
        assert_eq!(get(&f, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(get(&f, "SERVER_NAME"), Some("example.com"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("8080"));
        assert_eq!(get(&f, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(get(&f, "REMOTE_ADDR"), Some("10.1.2.3"));
        assert_eq!(get(&f, "REMOTE_PORT"), Some("4567"));
        assert_eq!(get(&f, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get(&f, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(get(&f, "PASSENGER_CONNECT_PASSWORD"), Some("secret"));
        assert_eq!(get(&f, "HTTP_X_CUSTOM_THING"), Some("a"));
        assert_eq!(get(&f, "HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(get(&f, "HTTP_ACCEPT"), Some("x, y"));
        assert_eq!(get(&f, "HTTP_HOST"), Some("example.com:8080"));
        for absent in [
            "HTTP_CONTENT_TYPE",
            "HTTP_CONTENT_LENGTH",
            "HTTP_CONNECTION",
            "HTTPS",
        ] {
            assert_eq!(get(&f, absent), None, "{absent}");
        }
    }

    #[test]
    fn bodies_of_unknown_length_are_announced_as_chunked() {
        let p = parts("PUT /x HTTP/1.1\r\n");
        let f = pairs(&frame(&p, RequestBody::Chunked, false, &context(None)));
        assert_eq!(get(&f, "HTTP_TRANSFER_ENCODING"), Some("chunked"));
        assert_eq!(get(&f, "CONTENT_LENGTH"), None);
        assert_eq!(get(&f, "SCRIPT_NAME"), Some(""));
        assert_eq!(get(&f, "PATH_INFO"), Some("/x"));
        assert_eq!(get(&f, "SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("3000"));
    }

    #[test]
    fn header_names_that_could_be_confused_are_dropped() {
        let p = parts("GET / HTTP/1.1\r\nX_Forwarded_For: evil\r\nX-Forwarded-For: 1.2.3.4\r\n");
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        let forwarded: Vec<_> = f
            .iter()
            .filter(|(k, _)| k == "HTTP_X_FORWARDED_FOR")
            .collect();
        assert_eq!(forwarded.len(), 1);
        assert_eq!(forwarded[0].1, "1.2.3.4");
    }

    #[test]
    fn upgrades_carry_connection_and_upgrade() {
        let p = parts("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n");
        assert!(is_upgrade_request(&p.method, &p.headers));
        let f = pairs(&frame(&p, RequestBody::None, true, &context(None)));
        assert_eq!(get(&f, "HTTP_CONNECTION"), Some("upgrade"));
        assert_eq!(get(&f, "HTTP_UPGRADE"), Some("websocket"));
        assert_eq!(get(&f, "HTTP_SEC_WEBSOCKET_KEY"), Some("k"));
        let p = parts("GET / HTTP/1.1\r\nUpgrade: h2c\r\n");
        assert!(!is_upgrade_request(&p.method, &p.headers));
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        assert_eq!(get(&f, "HTTP_UPGRADE"), None);
    }

    #[test]
    fn base_uris_split_only_at_segment_boundaries() {
        assert_eq!(split_base("/blog", Some("/blog")), ("/blog", "/"));
        assert_eq!(split_base("/blog/", Some("/blog")), ("/blog", "/"));
        assert_eq!(split_base("/blog/a", Some("/blog")), ("/blog", "/a"));
        assert_eq!(split_base("/blogs", Some("/blog")), ("", "/blogs"));
        assert_eq!(split_base("/a", None), ("", "/a"));
    }

    #[test]
    fn host_headers_with_ipv6_addresses_keep_their_brackets() {
        let p = parts("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n");
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        assert_eq!(get(&f, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("8080"));
        let p = parts("GET / HTTP/1.1\r\nHost: [::1]\r\n");
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        assert_eq!(get(&f, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("80"));
    }

    #[test]
    fn bodies_are_announced_by_what_is_known_of_them() {
        let with_length = parts("POST / HTTP/1.1\r\nContent-Length: 3\r\n");
        let without = parts("POST / HTTP/1.1\r\n");
        assert_eq!(
            RequestBody::from_hints(&with_length, false, Some(3)),
            RequestBody::Length(3)
        );
        assert_eq!(
            RequestBody::from_hints(&without, false, Some(3)),
            RequestBody::Chunked
        );
        assert_eq!(
            RequestBody::from_hints(&without, false, None),
            RequestBody::Chunked
        );
        assert_eq!(
            RequestBody::from_hints(&with_length, false, Some(0)),
            RequestBody::None
        );
        assert_eq!(
            RequestBody::from_hints(&with_length, true, Some(3)),
            RequestBody::None
        );
    }

    #[test]
    fn oobw_frames_carry_only_the_method_and_the_password() {
        let f = pairs(&oobw_frame("secret"));
        assert_eq!(
            f,
            [
                ("REQUEST_METHOD".to_owned(), "OOBW".to_owned()),
                ("PASSENGER_CONNECT_PASSWORD".to_owned(), "secret".to_owned()),
            ]
        );
    }

    #[test]
    fn promote_frames_carry_only_the_method_and_the_password() {
        let f = pairs(&promote_frame("secret"));
        assert_eq!(
            f,
            [
                ("REQUEST_METHOD".to_owned(), "PROMOTE".to_owned()),
                ("PASSENGER_CONNECT_PASSWORD".to_owned(), "secret".to_owned()),
            ]
        );
    }
}
