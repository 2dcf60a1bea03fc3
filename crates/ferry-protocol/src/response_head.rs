//! Parsing the response head a `session`-protocol loader writes back (loaders/PROTOCOL.md §2.3).
//!
//! The head is either an HTTP/1.x status line and headers, or a CGI-style block of headers whose
//! `Status:` header carries the status. The parser is incremental: it is given everything read so
//! far and answers "need more", "here is the head (and where the body starts)" or an error. It
//! never panics on any input; the `session_response` fuzz target checks that.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use memchr::memchr;

/// Longest response head accepted.
pub const MAX_HEAD: usize = 1024 * 1024;
/// Most header lines accepted in one head.
const MAX_HEADERS: usize = 4096;

/// How the body after the head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the app closes the connection.
    Eof,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    /// The status: from the status line, else from a `Status:` header, else 200.
    pub status: StatusCode,
    /// The headers to pass on: without `Status`, framing, hop-by-hop and `!~` headers.
    pub headers: HeaderMap,
    /// How the body after the head is delimited.
    pub framing: Framing,
    /// The app may take another request on this connection (as far as the head says).
    pub keep_alive: bool,
    /// The app asked for out-of-band work (`!~Request-OOB-Work`, `X-Passenger-Request-OOB-Work`).
    pub wants_oob_work: bool,
    /// The app switches protocols (101 with an `Upgrade` header).
    pub upgrade: bool,
    /// Bytes the head took; the body starts there.
    pub len: usize,
}

/// Why a head is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The head (or a chunk-size line) has no end within the limit.
    #[error("the response head is longer than {MAX_HEAD} bytes")]
    TooLong,
    /// The head or the chunked framing breaks the format; the text says how.
    #[error("the response head is malformed: {0}")]
    Malformed(String),
}

/// Parses `buf`. `Ok(None)`: the head is not complete yet.
pub fn parse(buf: &[u8], head_request: bool) -> Result<Option<Head>, HeadError> {
    let Some(end) = head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Err(HeadError::TooLong)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(HeadError::TooLong);
    }
    let mut slots = vec![httparse::EMPTY_HEADER; 64];
    loop {
        match parse_with(&buf[..end], &mut slots) {
            Err(httparse::Error::TooManyHeaders) if slots.len() < MAX_HEADERS => {
                let grown = slots.len() * 4;
                slots = vec![httparse::EMPTY_HEADER; grown];
            }
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
            Ok((code, headers)) => return build(code, headers, end, head_request).map(Some),
        }
    }
}

/// Where the head ends (just past the blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(pos) = memchr(b'\n', &buf[i..]) {
        let nl = i + pos;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

/// Header lines as parsed: name and raw value.
type RawHeaders<'b> = Vec<(&'b str, &'b [u8])>;

/// The status code from a status line, or `None` for a CGI-style head, and the headers.
fn parse_with<'b>(
    head: &'b [u8],
    slots: &mut [httparse::Header<'b>],
) -> Result<(Option<u16>, RawHeaders<'b>), httparse::Error> {
    if head.starts_with(b"HTTP/") {
        let mut response = httparse::Response::new(slots);
        response.parse(head)?;
        let code = response.code;
        let headers = response.headers.iter().map(|h| (h.name, h.value)).collect();
        Ok((code, headers))
    } else {
        match httparse::parse_headers(head, slots)? {
            httparse::Status::Complete((_, headers)) => {
                Ok((None, headers.iter().map(|h| (h.name, h.value)).collect()))
            }
            httparse::Status::Partial => Err(httparse::Error::Token),
        }
    }
}

/// What the header lines say about the response, gathered one line at a time by [`Scan::line`]
/// and turned into a [`Head`] by [`Scan::finish`].
struct Scan {
    /// From the status line, else from the first `Status:` header.
    status: Option<u16>,
    /// The headers to pass on.
    headers: HeaderMap,
    length: Option<u64>,
    chunked: bool,
    close: bool,
    wants_oob_work: bool,
}

/// The head from its parsed lines: `code` from the status line (`None` for a CGI-style head),
/// `len` the bytes it took.
fn build(
    code: Option<u16>,
    raw: RawHeaders<'_>,
    len: usize,
    head_request: bool,
) -> Result<Head, HeadError> {
    let mut scan = Scan {
        status: code,
        headers: HeaderMap::with_capacity(raw.len()),
        length: None,
        chunked: false,
        close: false,
        wants_oob_work: false,
    };
    for (name, value) in raw {
        scan.line(name, value)?;
    }
    scan.finish(len, head_request)
}

fn malformed(what: String) -> HeadError {
    HeadError::Malformed(what)
}

// === impl Scan ===

impl Scan {
    /// Takes in one header line: framing, status and hop-by-hop headers are consumed, the
    /// others kept.
    fn line(&mut self, name: &str, value: &[u8]) -> Result<(), HeadError> {
        if name.starts_with("!~") {
            self.wants_oob_work |= name.eq_ignore_ascii_case("!~Request-OOB-Work");
            return Ok(());
        }
        let lower = name.to_ascii_lowercase();
        let text = || std::str::from_utf8(value).unwrap_or("");
        match lower.as_str() {
            "status" => self.status_header(text()),
            "content-length" => self.content_length(text().trim()),
            "transfer-encoding" => {
                self.chunked |= text()
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
                Ok(())
            }
            "connection" => {
                self.close |= text()
                    .split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("close"));
                Ok(())
            }
            "keep-alive" | "proxy-connection" | "te" | "trailer" => Ok(()),
            "x-passenger-request-oob-work" => {
                self.wants_oob_work = true;
                Ok(())
            }
            _ => self.keep(name, &lower, value),
        }
    }

    /// A `Status:` header; a status line, or an earlier `Status:`, wins.
    fn status_header(&mut self, text: &str) -> Result<(), HeadError> {
        let digits = text.trim().split(' ').next().unwrap_or("");
        let parsed = digits
            .parse::<u16>()
            .map_err(|_| malformed(format!("Status: {text:?} has no status code")))?;
        self.status.get_or_insert(parsed);
        Ok(())
    }

    /// A `Content-Length:` header (`text` trimmed); repeats must agree.
    fn content_length(&mut self, text: &str) -> Result<(), HeadError> {
        let n = text
            .parse::<u64>()
            .map_err(|_| malformed(format!("Content-Length: {text:?} is not a number")))?;
        if self.length.is_some_and(|m| m != n) {
            return Err(malformed("conflicting Content-Length headers".into()));
        }
        self.length = Some(n);
        Ok(())
    }

    /// A header passed on as it is (its name in lower case).
    fn keep(&mut self, name: &str, lower: &str, value: &[u8]) -> Result<(), HeadError> {
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| malformed(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| malformed(format!("invalid value for header {name}")))?;
        self.headers.append(name, value);
        Ok(())
    }

    /// The head, once every line is in: the status checked, the framing decided, and the
    /// headers fixed up for an upgrade and for the length.
    fn finish(mut self, len: usize, head_request: bool) -> Result<Head, HeadError> {
        let status = StatusCode::from_u16(self.status.unwrap_or(200))
            .map_err(|_| malformed(format!("invalid status code {}", self.status.unwrap_or(0))))?;
        if self.chunked && self.length.is_some() {
            return Err(malformed(
                "both Content-Length and Transfer-Encoding are set".into(),
            ));
        }
        let upgrade = self.upgrade(status);
        let framing = self.framing(status, head_request);
        // The length is re-stated for HEAD responses, where it describes the body a GET would get.
        if let (Some(n), false) = (self.length, self.chunked) {
            if head_request || framing != Framing::Empty || n == 0 {
                self.headers
                    .insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
            }
        }
        Ok(Head {
            status,
            headers: self.headers,
            framing,
            keep_alive: !self.close && !upgrade && framing != Framing::Eof,
            wants_oob_work: self.wants_oob_work,
            upgrade,
            len,
        })
    }

    /// Whether the response switches protocols (101 with an `Upgrade` header). If so the
    /// `Connection: upgrade` goes with it; if not, a stray `Upgrade` is dropped.
    fn upgrade(&mut self, status: StatusCode) -> bool {
        let upgrade = status == StatusCode::SWITCHING_PROTOCOLS
            && self.headers.contains_key(http::header::UPGRADE);
        if upgrade {
            self.headers.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
        } else {
            self.headers.remove(http::header::UPGRADE);
        }
        upgrade
    }

    fn framing(&self, status: StatusCode, head_request: bool) -> Framing {
        let bodiless = head_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        match (bodiless, self.chunked, self.length) {
            (true, _, _) | (false, false, Some(0)) => Framing::Empty,
            (false, true, _) => Framing::Chunked,
            (false, false, Some(n)) => Framing::Length(n),
            (false, false, None) => Framing::Eof,
        }
    }
}

/// Decodes chunked transfer coding incrementally (RFC 9112 §7.1), trailers discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// The body is complete.
    Done,
}

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Need more input.
    More,
    /// `consumed` bytes of input were framing; nothing to emit.
    Skip(usize),
    /// Emit `input[start..start + len]`, then drop `start + len` bytes of input.
    Data {
        /// Where the data starts in the input.
        start: usize,
        /// How many bytes of data.
        len: usize,
    },
}

/// Longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 16 * 1024;

// === impl Chunked ===

impl Chunked {
    /// Advances over the start of `input`.
    pub fn step(&mut self, input: &[u8]) -> Result<Decoded, HeadError> {
        let bad = |what: &str| HeadError::Malformed(format!("bad chunked encoding: {what}"));
        match *self {
            Chunked::Done => Ok(Decoded::Skip(0)),
            Chunked::Data(left) => {
                if input.is_empty() {
                    return Ok(Decoded::More);
                }
                let len = (input.len() as u64).min(left) as usize;
                let left = left - len as u64;
                *self = if left == 0 {
                    Chunked::DataEnd
                } else {
                    Chunked::Data(left)
                };
                Ok(Decoded::Data { start: 0, len })
            }
            Chunked::DataEnd => match input {
                [b'\r', b'\n', ..] => {
                    *self = Chunked::Size;
                    Ok(Decoded::Skip(2))
                }
                [b'\n', ..] => {
                    *self = Chunked::Size;
                    Ok(Decoded::Skip(1))
                }
                [] | [b'\r'] => Ok(Decoded::More),
                _ => Err(bad("no CRLF after chunk data")),
            },
            Chunked::Size | Chunked::Trailers => {
                let Some(nl) = memchr(b'\n', input) else {
                    return if input.len() > MAX_CHUNK_LINE {
                        Err(bad("line too long"))
                    } else {
                        Ok(Decoded::More)
                    };
                };
                let line = &input[..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if *self == Chunked::Trailers {
                    if line.is_empty() {
                        *self = Chunked::Done;
                    }
                    return Ok(Decoded::Skip(nl + 1));
                }
                let digits = line
                    .split(|&b| b == b';')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                if digits.is_empty() || digits.len() > 16 {
                    return Err(bad("invalid chunk size"));
                }
                let text = std::str::from_utf8(digits).map_err(|_| bad("invalid chunk size"))?;
                let size = u64::from_str_radix(text, 16).map_err(|_| bad("invalid chunk size"))?;
                *self = if size == 0 {
                    Chunked::Trailers
                } else {
                    Chunked::Data(size)
                };
                Ok(Decoded::Skip(nl + 1))
            }
        }
    }
}

/// Parses `input` as a head and, if it parses, decodes what follows as chunked data, checking
/// the invariants the front end relies on. Used by the fuzz target and the unit tests.
pub(crate) fn check_invariants(input: &[u8]) {
    for head_request in [false, true] {
        let Ok(Some(head)) = parse(input, head_request) else {
            continue;
        };
        assert!(head.len <= input.len());
        assert!(head.headers.get("status").is_none());
        assert!(head.headers.keys().all(|k| !k.as_str().starts_with("!~")));
        if head_request {
            assert_eq!(head.framing, Framing::Empty);
        }
        let mut rest = &input[head.len..];
        let mut decoder = Chunked::Size;
        let mut total = 0usize;
        while let Ok(step) = decoder.step(rest) {
            match step {
                Decoded::More => break,
                Decoded::Skip(0) => break,
                Decoded::Skip(n) => rest = &rest[n..],
                Decoded::Data { start, len } => {
                    assert!(start + len <= rest.len() && len > 0);
                    total += len;
                    rest = &rest[start + len..];
                }
            }
        }
        assert!(total <= input.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse(text.as_bytes(), false).unwrap().unwrap()
    }

    #[test]
    fn status_line_heads_are_parsed() {
        let h = head("HTTP/1.1 201 Whatever\r\nContent-Length: 5\r\nX-A: 1\r\nStatus: 201 Created\r\n\r\nhello");
        assert_eq!(h.status, 201);
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        assert_eq!(h.headers["x-a"], "1");
        assert!(h.headers.get("status").is_none());
        assert_eq!(
            h.len,
            "HTTP/1.1 201 Whatever\r\nContent-Length: 5\r\nX-A: 1\r\nStatus: 201 Created\r\n\r\n"
                .len()
        );
    }

    #[test]
    fn cgi_style_heads_take_the_status_header() {
        let h = head("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n");
        assert_eq!(h.status, 404);
        assert_eq!(h.framing, Framing::Eof);
        assert!(!h.keep_alive);
        let h = head("Content-Type: text/plain\n\n");
        assert_eq!(h.status, 200);
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Le", false)
            .unwrap()
            .is_none());
        assert!(parse(b"", false).unwrap().is_none());
    }

    #[test]
    fn several_cookies_stay_several() {
        let h = head(
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
        );
        let cookies: Vec<_> = h.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(h.framing, Framing::Empty);
    }

    #[test]
    fn bodiless_statuses_and_head_requests_have_no_body() {
        for code in [204, 304, 100] {
            let h = head(&format!(
                "HTTP/1.1 {code} X\r\nTransfer-Encoding: chunked\r\n\r\n"
            ));
            assert_eq!(h.framing, Framing::Empty, "{code}");
        }
        let h = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Empty);
        assert_eq!(h.headers["content-length"], "42");
    }

    #[test]
    fn framing_and_connection_headers_are_consumed() {
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nKeep-Alive: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.keep_alive);
        assert!(h.headers.is_empty());
    }

    #[test]
    fn oob_work_requests_are_noticed_and_hidden() {
        let h = head("HTTP/1.1 200 OK\r\n!~Request-OOB-Work: true\r\nContent-Length: 0\r\n\r\n");
        assert!(h.wants_oob_work);
        assert_eq!(h.headers.len(), 1, "only Content-Length: {:?}", h.headers);
        let h = head("HTTP/1.1 200 OK\r\nX-Passenger-Request-OOB-Work: 1\r\n\r\n");
        assert!(h.wants_oob_work);
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let h = head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n");
        assert!(h.upgrade);
        assert_eq!(h.headers["upgrade"], "websocket");
        assert_eq!(h.headers["connection"], "upgrade");
        assert!(!h.keep_alive);
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "Status: abc\r\n\r\n",
            "HTTP/1.1 999999 OK\r\n\r\n",
            "garbage line\r\n\r\n",
        ] {
            assert!(parse(bad.as_bytes(), false).is_err(), "{bad:?}");
        }
        let long = format!("HTTP/1.1 200 OK\r\nX: {}", "x".repeat(MAX_HEAD + 1));
        assert_eq!(
            parse(long.as_bytes(), false).unwrap_err(),
            HeadError::TooLong
        );
    }

    #[test]
    fn many_headers_are_accepted() {
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..1000 {
            text.push_str(&format!("X-H{i}: {i}\r\n"));
        }
        text.push_str("\r\n");
        assert_eq!(head(&text).headers.len(), 1000);
    }

    fn dechunk(input: &[u8]) -> Result<(Vec<u8>, Chunked), HeadError> {
        let mut out = Vec::new();
        let mut state = Chunked::Size;
        let mut rest = input;
        loop {
            match state.step(rest)? {
                Decoded::More | Decoded::Skip(0) => return Ok((out, state)),
                Decoded::Skip(n) => rest = &rest[n..],
                Decoded::Data { start, len } => {
                    out.extend_from_slice(&rest[start..start + len]);
                    rest = &rest[start + len..];
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode() {
        let (out, state) =
            dechunk(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n").unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(state, Chunked::Done);
        let (out, state) = dechunk(b"5\r\nhel").unwrap();
        assert_eq!(out, b"hel");
        assert_eq!(state, Chunked::Data(2));
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"1\r\nab").is_err());
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet = b"HTTP/1.1 200\r\n:;Status-Length0123456789abcdefchunked!~ \x00\xff";
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 96) as usize;
            let input: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()])
                .collect();
            check_invariants(&input);
            let mut prefixed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            prefixed.extend_from_slice(&input);
            check_invariants(&prefixed);
        }
    }
}
