//! Static files: answering from `APP_DIR/public` without waking the app.
//!
//! Passenger serves any GET or HEAD request whose path names a regular file under the app's
//! `public/` directory itself, and it does "page caching": `/foo` may be answered by
//! `public/foo.html` and `/docs/` by `public/docs/index.html` (users guide §12.1). This module
//! does the same. It owns the mapping from a request path to a file, the rules that keep that
//! mapping inside `public/` and away from files the app's owner could not read, and the HTTP
//! semantics of a file response (validators, conditional requests, single byte ranges, HEAD).
//! Everything it does not serve it hands back as [`Outcome::NotStatic`], and the caller forwards
//! the request to the app, which is what Passenger does too. [`serve_file`] is the same HTTP
//! semantics for the files `root`, `alias` and `X-Accel-Redirect` find (`router::files`).
//!
//! # From a request path to a file
//!
//! ```text
//!  uri.path() ──percent-decode──► NUL? ─────────────► 400 Bad Request
//!                                 not UTF-8? ───────► NotStatic
//!                                 backslash? ───────► NotStatic
//!             ──split on '/'────► `..` above root? ─► 400 Bad Request
//!             ──candidates──────► public/a/ then b, b.html         (path `/a/b`)
//!                                 public/a/ then index.html        (path `/a/`, `/a/.`)
//!             ──Root lookup─────► the directory: not found? ──────► NotStatic
//!                                 a link the policy refuses? ─────► NotStatic
//!                                 each name: not found, directory ► next candidate
//!                                 refused, FIFO, socket…? ────────► NotStatic
//!                                 regular file ───────────────────► 200 / 206 / 304 / 416
//! ```
//!
//! # Traversal
//!
//! The path is percent-decoded *first* and split on `/` *afterwards*, as nginx does. So
//! `%2e%2e`, `.%2E`, `%2f` and any mix of them mean exactly what their decoded bytes mean, and
//! the dot-segment rules see them. A file whose name contains a literal `/` cannot be named
//! by any request; no file system allows one anyway.
//!
//! Dot segments are resolved like nginx: `.` and empty segments (`//`) are dropped and `..`
//! removes the segment before it. A `..` with nothing left to remove would climb above
//! `public/`; that is answered with **400 Bad Request** and not passed to the app, because
//! no honest client sends it (clients resolve dot segments themselves, RFC 3986 §5.2.4) and
//! an app that naively joins the path onto a directory should never see it.
//!
//! A decoded NUL byte is also a 400: no file name contains one, and C code in an app could
//! truncate the path at it. A decoded backslash is not an error (it is a legal Unix file
//! name byte), but it is a directory separator on Windows and in some app frameworks, so a
//! path containing one is never served here; the app gets it and decides. A path that is not
//! UTF-8 after decoding goes to the app as well: Ferry only serves names it can log and
//! compare as text.
//!
//! # Symlinks
//!
//! Files are opened through [`ferry_sys::fs::Root`], which walks the path one component at a
//! time from directory descriptors under nginx's `disable_symlinks` rules (its module docs state
//! them): no `canonicalize`, no open by path, so nothing swapped in between a check and the open
//! can redirect the read. The policy is the site's: `ferry start` uses `if_not_owner` unless
//! `--disable-symlinks` says otherwise, so a link is followed only when it and what it leads to
//! have the same owner (a Capistrano `public/system -> /srv/app/shared/system` is served; a link
//! to `/etc/shadow` or to another user's files is not); a configuration file's `disable_symlinks`
//! decides for its places. A link the policy refuses sends the request to the app, which may
//! know what the link is for. The lookups run inline, as a local-disk `stat` did: a thread hop
//! per request would cost more than the system calls.
//!
//! The size and validators come from the opened descriptor, so they describe the bytes sent.
//!
//! # Hidden files
//!
//! Names starting with `.` (`.well-known/`, `.htaccess`) are served like any other file.
//! Passenger, Apache and nginx do so by default and `.well-known/` (ACME challenges,
//! `security.txt`) depends on it. Keeping secrets out of `public/` is the app's job.
//!
//! # What is not a static file
//!
//! Only GET and HEAD are served. Directories never are (an index is only found through a
//! trailing `/`), nor are FIFOs, sockets or devices (opened without blocking, then refused).
//! Any failure other than "not found" on a candidate (a refused link, permission denied, an I/O
//! error) sends the request to the app with a debug log; the app is the one that knows how to
//! answer with a proper error page.
//!
//! # HTTP semantics
//!
//! * `ETag` is `"<inode><mtime ns>-<size>"` in hex, a strong validator (it changes whenever
//!   the file is rewritten, even within one second). `Last-Modified` is the mtime in whole
//!   seconds, omitted for an mtime HTTP dates cannot express (before 1970, after 9999).
//! * `If-None-Match` (weak comparison, `*` matches) decides alone when present; otherwise
//!   `If-Modified-Since` does. A match yields 304 with the validators and no body.
//!   `If-Match` and `If-Unmodified-Since` are not evaluated.
//! * One `Range: bytes=…` range yields 206 or 416. Several ranges or a malformed header are
//!   ignored and the whole file is sent with 200, which RFC 9110 §14.2 allows. An `If-Range`
//!   that does not match (strong comparison for tags, exact date otherwise) also disables
//!   the range.
//! * HEAD gets exactly the status and headers GET would get, including 206 and 416 for a
//!   range, as nginx and Apache do; only the body is empty.
//! * Bodies are read from disk in [`CHUNK_SIZE`] frames as the client consumes them, so a
//!   file is never held in memory. If the file shrinks while being sent, the body ends early
//!   and hyper closes the connection because the promised `Content-Length` was not met.

use std::io::{self, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_sys::fs::{Found, OpenError, OpenFile, Root, SymlinkPolicy};
use futures_util::TryStreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Uri};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use mime_guess::mime;
use percent_encoding::percent_decode_str;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;
use tracing::debug;

use crate::body::{self, Body, BoxError};

pub(crate) mod symlinks;
#[cfg(test)]
mod tests;

/// How many bytes of a file one body frame carries: large enough that a big download is not
/// dominated by per-frame overhead, small enough that thousands of slow downloads stay cheap.
const CHUNK_SIZE: usize = 64 * 1024;

/// The last second HTTP dates can express (9999-12-31T23:59:59Z); `httpdate` panics beyond it.
const LAST_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// The index file of a directory in `public/` (Passenger's page caching).
const INDEX: &str = "index.html";

/// Static files under one app's `public/` directory.
#[derive(Debug, Clone)]
pub(crate) struct StaticFiles {
    /// `public/` (absolute, links not resolved) and the policy of every lookup under it.
    root: Root,
}

/// What [`StaticFiles::serve`] decided.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Not a static file: forward the request to the app.
    NotStatic,
    /// A complete response (200, 206, 304, 400, 416).
    Response(Response<Body>),
}

/// Why a request path is not looked up on disk.
#[derive(Debug, PartialEq, Eq)]
enum Rejection {
    /// The path is hostile or nonsense (climbs above the root, contains NUL).
    BadRequest,
    /// The path may mean something to the app, but not to us.
    NotStatic,
}

/// A request path after decoding and dot-segment removal: every segment is a plain file
/// name, never empty, `.`, `..`, or containing `/`, `\` or NUL.
#[derive(Debug, PartialEq, Eq)]
struct CleanPath {
    segments: Vec<String>,
    /// The path ended in `/` (or a dot segment), so it names a directory's index.
    directory: bool,
}

/// The files that may answer a request, in order: names tried in one directory below
/// `public/` (Passenger's page caching).
#[derive(Debug, PartialEq, Eq)]
struct Candidates<'a> {
    /// The directory, as segments below `public/`.
    dir: &'a [String],
    /// The names tried in it, in order.
    names: Vec<String>,
}

/// An opened regular file, ready to be sent.
struct StaticFile {
    file: File,
    len: u64,
    content_type: HeaderValue,
    validators: Validators,
}

/// What conditional requests are compared against.
struct Validators {
    /// The quoted entity tag, e.g. `"1a2b0000017f00000000-400"`.
    etag: String,
    /// The mtime truncated to whole seconds, when an HTTP date can express it.
    modified: Option<SystemTime>,
}

/// Which bytes of the file to send, after looking at `Range` and `If-Range`.
#[derive(Debug, PartialEq, Eq)]
enum Selection {
    Full,
    /// `start..=end`, both within the file.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

// === impl StaticFiles ===

impl StaticFiles {
    /// `None` when `public_dir` is not a directory that `policy` lets a lookup reach (it does
    /// not exist, is a file, or a link on its path is refused: that one is logged, since every
    /// request then goes to the app). A relative `public_dir` is taken against the current
    /// directory.
    pub(crate) fn new(public_dir: &Path, policy: SymlinkPolicy) -> Option<StaticFiles> {
        let root = Root::new(symlinks::absolute(public_dir), policy).ok()?;
        if let Err(error) = root.open_dir::<&str>(&[]) {
            if !error.is_not_found() {
                tracing::warn!(
                    %error,
                    dir = %public_dir.display(),
                    "the public directory cannot be served (its requests go to the app); \
                     disable_symlinks from= exempts the part of its path that root trusts"
                );
            }
            return None;
        }
        Some(StaticFiles { root })
    }

    /// Serve the request if it names a static file; otherwise say so, so the caller forwards
    /// it to the app.
    pub(crate) async fn serve(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Outcome {
        if *method != Method::GET && *method != Method::HEAD {
            return Outcome::NotStatic;
        }
        let clean = match clean_path(uri.path()) {
            Ok(clean) => clean,
            Err(Rejection::BadRequest) => return Outcome::Response(bad_request()),
            Err(Rejection::NotStatic) => return Outcome::NotStatic,
        };
        let Some(found) = self.find(&clean) else {
            return Outcome::NotStatic;
        };
        match respond(method, headers, found).await {
            Ok(response) => Outcome::Response(response),
            Err(error) => {
                debug!(%error, path = uri.path(), "static file unreadable; forwarding to the app");
                Outcome::NotStatic
            }
        }
    }

    /// The first candidate for `clean` that is a regular file the policy lets us open. Most
    /// requests name no static file, so a miss must be cheap: the lookups' system calls run
    /// inline, blocking this worker for local-disk `openat`s as nginx does; the thread hop of an
    /// async call would cost more than the calls themselves.
    fn find(&self, clean: &CleanPath) -> Option<StaticFile> {
        let candidates = candidates(clean);
        // Each candidate is looked up whole from the root: a path without links is one
        // `openat2` (a miss costs one system call per candidate, as the `stat` it replaces),
        // and only a path that meets a link is walked.
        let mut path: Vec<&str> = candidates.dir.iter().map(String::as_str).collect();
        for name in &candidates.names {
            path.push(name);
            match self.root.open(&path) {
                Ok(Found::File(file)) => return Some(StaticFile::new(file, Path::new(name))),
                Ok(Found::Dir(_)) | Err(OpenError::NotFound) => {}
                Err(error) => return not_static(&error),
            }
            path.pop();
        }
        None
    }
}

/// Answers with `file` (found by a lookup) as `method` and `headers` ask: 200, 206, 304 or
/// 416; HEAD gets the headers only. The content type comes from `name`, the name requested, not
/// a link's target, so that `latest.tar.gz -> v1.2` is still served as a gzip file.
pub(crate) async fn serve_file(
    method: &Method,
    headers: &HeaderMap,
    file: OpenFile,
    name: &Path,
) -> io::Result<Response<Body>> {
    respond(method, headers, StaticFile::new(file, name)).await
}

/// "Not found" means nothing here; anything else is the app's business (logged).
fn not_static<T>(error: &OpenError) -> Option<T> {
    if !error.is_not_found() {
        debug!(%error, "static file lookup failed; forwarding to the app");
    }
    None
}

// === impl StaticFile ===

impl StaticFile {
    /// `file`, with its length and validators from the opened descriptor (so they describe the
    /// bytes sent) and the content type of `name`.
    fn new(file: OpenFile, name: &Path) -> StaticFile {
        StaticFile {
            len: file.metadata.len(),
            content_type: content_type(name),
            validators: Validators::of(&file.metadata),
            file: File::from_std(file.file),
        }
    }
}

// === request path ===

/// Decodes `raw` and resolves its dot segments; see the module docs for the rules.
fn clean_path(raw: &str) -> Result<CleanPath, Rejection> {
    if !raw.starts_with('/') {
        return Err(Rejection::NotStatic);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Rejection::NotStatic)?;
    if decoded.contains('\0') {
        return Err(Rejection::BadRequest);
    }
    if decoded.contains('\\') {
        return Err(Rejection::NotStatic);
    }
    let mut segments: Vec<String> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop().ok_or(Rejection::BadRequest)?;
            }
            name => segments.push(name.to_owned()),
        }
    }
    // `rsplit` always yields at least one item; `/` and `/a/..` both name the root index.
    let last = decoded.rsplit('/').next().unwrap_or_default();
    let directory = segments.is_empty() || matches!(last, "" | "." | "..");
    Ok(CleanPath {
        segments,
        directory,
    })
}

/// The files that may answer `clean`, in order (Passenger's page caching): `a/` then `b` and
/// `b.html` for `/a/b`; `a/` then `index.html` for `/a/`.
fn candidates(clean: &CleanPath) -> Candidates<'_> {
    match clean.segments.split_last() {
        Some((last, dir)) if !clean.directory => Candidates {
            dir,
            names: vec![last.clone(), format!("{last}.html")],
        },
        _ => Candidates {
            dir: &clean.segments,
            names: vec![INDEX.to_owned()],
        },
    }
}

// === response ===

async fn respond(
    method: &Method,
    headers: &HeaderMap,
    found: StaticFile,
) -> io::Result<Response<Body>> {
    if not_modified(headers, &found.validators) {
        return Ok(not_modified_response(&found.validators));
    }
    let (status, start, end) = match select(headers, &found.validators, found.len) {
        // `end` is exclusive here, so an empty file needs no special case.
        Selection::Full => (StatusCode::OK, 0, found.len),
        Selection::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        Selection::Unsatisfiable => return Ok(unsatisfiable(&found)),
    };
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    let response_headers = response.headers_mut();
    file_headers(response_headers, &found);
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{}", end - 1, found.len);
        insert(response_headers, header::CONTENT_RANGE, range);
    }
    if *method != Method::HEAD {
        *response.body_mut() = stream(found.file, start, end - start).await?;
    }
    Ok(response)
}

/// A body that reads `len` bytes from `start` as the client consumes them.
async fn stream(mut file: File, start: u64, len: u64) -> io::Result<Body> {
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let chunks = ReaderStream::with_capacity(file.take(len), CHUNK_SIZE);
    let frames = chunks.map_ok(Frame::data).map_err(BoxError::from);
    Ok(StreamBody::new(frames).boxed())
}

fn not_modified_response(validators: &Validators) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    validator_headers(response.headers_mut(), validators);
    response
}

fn unsatisfiable(found: &StaticFile) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
    let headers = response.headers_mut();
    file_headers(headers, found);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
    insert(
        headers,
        header::CONTENT_RANGE,
        format!("bytes */{}", found.len),
    );
    response
}

fn bad_request() -> Response<Body> {
    let mut response = Response::new(body::full("Bad Request\n"));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn file_headers(headers: &mut HeaderMap, found: &StaticFile) {
    headers.insert(header::CONTENT_TYPE, found.content_type.clone());
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    validator_headers(headers, &found.validators);
}

fn validator_headers(headers: &mut HeaderMap, validators: &Validators) {
    insert(headers, header::ETAG, validators.etag.clone());
    if let Some(modified) = validators.modified {
        insert(
            headers,
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(modified),
        );
    }
}

/// Inserts a value we built ourselves. Those are always valid header values, so a failure
/// is a bug that should cost a header, not the response.
fn insert(headers: &mut HeaderMap, name: HeaderName, value: String) {
    match HeaderValue::try_from(value) {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(error) => debug!(%name, %error, "invalid static file header value dropped"),
    }
}

/// The `Content-Type` for `path`: by extension, with a charset for text a browser would
/// otherwise guess the encoding of.
fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let value = if needs_charset(&mime) {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::try_from(value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

fn needs_charset(mime: &mime::Mime) -> bool {
    let texty = mime.type_() == mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json"
        );
    texty && mime.get_param(mime::CHARSET).is_none()
}

// === conditional requests ===

impl Validators {
    fn of(meta: &std::fs::Metadata) -> Validators {
        let mtime = meta.modified().ok();
        let nanos = mtime
            .and_then(|mtime| mtime.duration_since(UNIX_EPOCH).ok())
            .map(|since_epoch| since_epoch.as_nanos())
            .unwrap_or_default();
        Validators {
            etag: format!("\"{:x}{nanos:016x}-{:x}\"", inode(meta), meta.len()),
            modified: mtime.and_then(http_date_secs),
        }
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

/// `time` truncated to whole seconds, if an HTTP date can express it.
fn http_date_secs(time: SystemTime) -> Option<SystemTime> {
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs <= LAST_HTTP_DATE_SECS).then(|| UNIX_EPOCH + Duration::from_secs(secs))
}

/// Whether the client's cached copy is current (RFC 9110 §13.2.2, steps 3 and 4).
fn not_modified(headers: &HeaderMap, validators: &Validators) -> bool {
    if headers.contains_key(header::IF_NONE_MATCH) {
        return headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|list| etag_list_matches(list, &validators.etag));
    }
    match (
        header_date(headers, header::IF_MODIFIED_SINCE),
        validators.modified,
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// Weak comparison against each tag of an `If-None-Match` list.
fn etag_list_matches(list: &HeaderValue, etag: &str) -> bool {
    let Ok(list) = list.to_str() else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || strip_weak(tag) == strip_weak(etag))
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

fn header_date(headers: &HeaderMap, name: HeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

// === ranges ===

/// Which part of a `len`-byte file to send.
fn select(headers: &HeaderMap, validators: &Validators, len: u64) -> Selection {
    let mut ranges = headers.get_all(header::RANGE).iter();
    let (Some(range), None) = (ranges.next(), ranges.next()) else {
        return Selection::Full;
    };
    if !if_range_holds(headers, validators) {
        return Selection::Full;
    }
    range
        .to_str()
        .ok()
        .and_then(|range| parse_range(range, len))
        .unwrap_or(Selection::Full)
}

/// Whether `If-Range`, if present, still describes this file (RFC 9110 §13.1.5).
fn if_range_holds(headers: &HeaderMap, validators: &Validators) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        // Strong comparison: a weak tag never matches, and ours are never weak.
        return value == validators.etag;
    }
    match (httpdate::parse_http_date(value), validators.modified) {
        (Ok(date), Some(modified)) => date == modified,
        _ => false,
    }
}

/// Parses a single-range `bytes=` header against a `len`-byte file. `None` means "ignore
/// the header": another unit, several ranges, or bad syntax.
fn parse_range(value: &str, len: u64) -> Option<Selection> {
    let (unit, spec) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    if first.is_empty() {
        return suffix_range(parse_position(last)?, len);
    }
    let start = parse_position(first)?;
    let end = match last {
        "" => u64::MAX,
        last => parse_position(last)?,
    };
    if end < start {
        return None;
    }
    if start >= len {
        return Some(Selection::Unsatisfiable);
    }
    Some(Selection::Partial {
        start,
        end: end.min(len - 1),
    })
}

/// `bytes=-n`: the last `n` bytes.
fn suffix_range(n: u64, len: u64) -> Option<Selection> {
    if n == 0 {
        return Some(Selection::Unsatisfiable);
    }
    if len == 0 {
        // Satisfiable in principle, but `Content-Range` cannot describe zero bytes.
        return None;
    }
    Some(Selection::Partial {
        start: len.saturating_sub(n),
        end: len - 1,
    })
}

/// A decimal byte position. Saturates instead of failing, so an absurdly large start is
/// unsatisfiable (416) and an absurdly large end means "to the end of the file".
fn parse_position(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, digit| {
        n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
    }))
}

/// The fuzz target's body: cleans `raw` and parses `range` for a file of `len` bytes, checking
/// what the rest of this module relies on. Panics when an invariant breaks.
pub(crate) fn check_invariants(raw: &str, range: &str, len: u64) {
    if let Ok(clean) = clean_path(raw) {
        for segment in &clean.segments {
            assert!(!segment.is_empty() && segment != "." && segment != "..");
            assert!(!segment.contains(['/', '\\', '\0']), "{segment:?}");
        }
        let root = Path::new("/public");
        let candidates = candidates(&clean);
        for name in &candidates.names {
            assert!(!name.is_empty() && name != "." && name != "..");
            assert!(!name.contains(['/', '\\', '\0']), "{name:?}");
            let mut candidate = root.to_path_buf();
            candidate.extend(candidates.dir);
            candidate.push(name);
            assert!(
                candidate.starts_with(root),
                "{candidate:?} escapes the root"
            );
        }
    }
    match parse_range(range, len) {
        Some(Selection::Partial { start, end }) => assert!(start <= end && end < len),
        Some(Selection::Full | Selection::Unsatisfiable) | None => {}
    }
}
