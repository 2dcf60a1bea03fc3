//! Tests against a real `public/` tree in a temporary directory.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferry_sys::fs::DisableSymlinks;
use http::Request;
use tempfile::TempDir;

use super::*;

const HELLO: &str = "Hello, world!\n";
const SECRET: &str = "TOP SECRET";

/// Another user, whose files the app's owner must not reach through a link (no such user needs
/// to exist).
const OTHER: u32 = 54321;

/// A temporary app directory: `public/` plus a `secret` file next to it, served under
/// `if_not_owner` (`ferry start`'s default).
struct Site {
    dir: TempDir,
    files: StaticFiles,
}

/// The fixed mtime of `public/hello.txt`: 2023-11-14T22:13:20Z.
fn hello_mtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn site() -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let public = dir.path().join("public");
    for sub in ["d", "a", "empty-dir", ".well-known"] {
        fs::create_dir_all(public.join(sub)).expect("mkdir");
    }
    let files = [
        ("hello.txt", HELLO),
        ("foo.html", "<p>foo</p>"),
        ("index.html", "<p>index</p>"),
        ("d/index.html", "<p>d</p>"),
        ("style.css", "body{}"),
        ("app.js", "1;"),
        ("data.json", "{}"),
        ("image.png", "PNG"),
        ("blob.qqqzzz", "?"),
        ("empty.txt", ""),
        (".well-known/security.txt", "Contact: x"),
    ];
    for (name, contents) in files {
        fs::write(public.join(name), contents).expect("write");
    }
    set_mtime(&public.join("hello.txt"), hello_mtime());
    fs::write(dir.path().join("secret"), SECRET).expect("write secret");
    let files = StaticFiles::new(&public, policy(DisableSymlinks::IfNotOwner))
        .expect("public is a directory");
    Site { dir, files }
}

fn policy(disable: DisableSymlinks) -> SymlinkPolicy {
    SymlinkPolicy::new(disable, None)
}

/// Whether this test runs as root (to give files to another uid). When it does not: under
/// `CI=true` the test fails; otherwise it says plainly that it skipped that part.
fn as_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    assert!(
        !ci,
        "{test} needs root (to give files to another uid), and CI=true"
    );
    // Straight to stderr, past the test harness's capture: a skip must show.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("SKIPPED: {test}: not running as root\n").as_bytes(),
    );
    false
}

fn set_mtime(path: &Path, mtime: SystemTime) {
    let file = fs::File::options().write(true).open(path).expect("open");
    file.set_modified(mtime).expect("set mtime");
}

impl Site {
    fn public(&self) -> PathBuf {
        self.dir.path().join("public")
    }

    /// The same `public/` under another `disable_symlinks` mode.
    fn with(&self, disable: DisableSymlinks) -> Site {
        let files = StaticFiles::new(&self.public(), policy(disable)).expect("public/");
        Site {
            dir: tempfile::tempdir().expect("an unused tempdir"),
            files,
        }
    }

    async fn get(&self, path: &str) -> Outcome {
        self.request(Method::GET, path, &[]).await
    }

    async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Outcome {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).expect("valid request");
        self.files
            .serve(request.method(), request.uri(), request.headers())
            .await
    }

    async fn response(&self, path: &str, headers: &[(&str, &str)]) -> Response<Body> {
        served(self.request(Method::GET, path, headers).await)
    }
}

fn served(outcome: Outcome) -> Response<Body> {
    match outcome {
        Outcome::Response(response) => response,
        Outcome::NotStatic => panic!("expected a response, got NotStatic"),
    }
}

fn is_not_static(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::NotStatic)
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii"))
}

async fn body_of(response: Response<Body>) -> Bytes {
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

/// `(status, Content-Range, body)` of a GET with one `Range` header.
async fn ranged(site: &Site, range: &str) -> (StatusCode, Option<String>, Bytes) {
    let response = site.response("/hello.txt", &[("range", range)]).await;
    let content_range = header(&response, "content-range").map(str::to_owned);
    (response.status(), content_range, body_of(response).await)
}

// === plain GET and HEAD ===

#[tokio::test]
async fn get_serves_the_whole_file_with_validators() {
    let site = site();
    let response = site.response("/hello.txt", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header(&response, "content-length"), Some("14"));
    assert_eq!(header(&response, "accept-ranges"), Some("bytes"));
    assert_eq!(
        header(&response, "last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    let etag = header(&response, "etag").expect("etag").to_owned();
    let inner = etag.strip_prefix('"').and_then(|e| e.strip_suffix('"'));
    let (left, right) = inner.and_then(|e| e.split_once('-')).expect("\"x-y\"");
    assert!(left.bytes().all(|b| b.is_ascii_hexdigit()), "{etag}");
    assert_eq!(right, "e", "size 14 in hex");
    assert_eq!(body_of(response).await, HELLO);
}

#[tokio::test]
async fn etag_changes_when_the_file_changes() {
    let site = site();
    let before = site.response("/hello.txt", &[]).await;
    set_mtime(
        &site.public().join("hello.txt"),
        hello_mtime() + Duration::from_nanos(1),
    );
    let after = site.response("/hello.txt", &[]).await;
    assert_ne!(header(&before, "etag"), header(&after, "etag"));
}

#[tokio::test]
async fn content_type_follows_the_extension() {
    let site = site();
    let cases = [
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/image.png", "image/png"),
        ("/foo.html", "text/html; charset=utf-8"),
        ("/blob.qqqzzz", "application/octet-stream"),
    ];
    for (path, expected) in cases {
        let response = site.response(path, &[]).await;
        assert_eq!(header(&response, "content-type"), Some(expected), "{path}");
    }
}

#[test]
fn charset_is_added_to_javascript_and_json() {
    assert_eq!(
        content_type(Path::new("x.mjs")),
        "application/javascript; charset=utf-8"
    );
    assert_eq!(
        content_type(Path::new("x.txt")),
        "text/plain; charset=utf-8"
    );
    assert_eq!(content_type(Path::new("x.gz")), "application/gzip");
}

#[tokio::test]
async fn head_sends_the_headers_of_get_and_no_body() {
    let site = site();
    let response = served(site.request(Method::HEAD, "/hello.txt", &[]).await);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-length"), Some("14"));
    assert!(header(&response, "etag").is_some());
    assert!(body_of(response).await.is_empty());
}

#[tokio::test]
async fn head_with_a_range_sends_the_range_headers() {
    let site = site();
    let outcome = site
        .request(Method::HEAD, "/hello.txt", &[("range", "bytes=0-4")])
        .await;
    let response = served(outcome);
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&response, "content-length"), Some("5"));
    assert_eq!(header(&response, "content-range"), Some("bytes 0-4/14"));
    assert!(body_of(response).await.is_empty());
}

#[tokio::test]
async fn empty_file_is_served() {
    let site = site();
    let response = site.response("/empty.txt", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-length"), Some("0"));
    assert!(body_of(response).await.is_empty());
}

#[tokio::test]
async fn hidden_files_are_served() {
    let site = site();
    let response = site.response("/.well-known/security.txt", &[]).await;
    assert_eq!(body_of(response).await, "Contact: x");
}

#[tokio::test]
async fn query_string_is_ignored() {
    let site = site();
    let response = site.response("/hello.txt?v=3", &[]).await;
    assert_eq!(body_of(response).await, HELLO);
}

#[tokio::test]
async fn pre_epoch_mtime_does_not_panic() {
    let site = site();
    let path = site.public().join("foo.html");
    set_mtime(&path, UNIX_EPOCH - Duration::from_secs(86_400));
    let response = site.response("/foo.html", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let stored = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    if stored < UNIX_EPOCH {
        assert_eq!(header(&response, "last-modified"), None);
    }
}

// === conditional requests ===

#[tokio::test]
async fn if_none_match_gives_304() {
    let site = site();
    let etag = header(&site.response("/hello.txt", &[]).await, "etag")
        .expect("etag")
        .to_owned();
    let weak = format!("W/{etag}");
    let listed = format!("\"other\", {etag}");
    for value in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
        let response = site
            .response("/hello.txt", &[("if-none-match", value)])
            .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{value}");
        assert_eq!(header(&response, "etag"), Some(etag.as_str()));
        assert!(header(&response, "last-modified").is_some());
        assert!(body_of(response).await.is_empty());
    }
}

#[tokio::test]
async fn if_none_match_mismatch_overrides_if_modified_since() {
    let site = site();
    let headers = [
        ("if-none-match", "\"stale\""),
        ("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),
    ];
    let response = site.response("/hello.txt", &headers).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_of(response).await, HELLO);
}

#[tokio::test]
async fn if_modified_since_gives_304_when_not_newer() {
    let site = site();
    for (since, expected) in [
        ("Tue, 14 Nov 2023 22:13:20 GMT", StatusCode::NOT_MODIFIED),
        ("Wed, 15 Nov 2023 00:00:00 GMT", StatusCode::NOT_MODIFIED),
        ("Tue, 14 Nov 2023 22:13:19 GMT", StatusCode::OK),
        ("not a date", StatusCode::OK),
    ] {
        let response = site
            .response("/hello.txt", &[("if-modified-since", since)])
            .await;
        assert_eq!(response.status(), expected, "{since}");
    }
}

#[tokio::test]
async fn if_modified_since_ignores_sub_second_mtime() {
    let site = site();
    set_mtime(
        &site.public().join("hello.txt"),
        hello_mtime() + Duration::from_millis(999),
    );
    let since = [("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT")];
    let response = site.response("/hello.txt", &since).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
}

// === ranges ===

#[tokio::test]
async fn the_three_range_forms_give_206() {
    let site = site();
    let cases = [
        ("bytes=0-4", "bytes 0-4/14", "Hello"),
        ("bytes=7-", "bytes 7-13/14", "world!\n"),
        ("bytes=-6", "bytes 8-13/14", "orld!\n"),
        ("bytes=7-1000", "bytes 7-13/14", "world!\n"),
        ("bytes=-1000", "bytes 0-13/14", HELLO),
        ("Bytes=13-13", "bytes 13-13/14", "\n"),
    ];
    for (range, content_range, bytes) in cases {
        let (status, got_range, body) = ranged(&site, range).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(got_range.as_deref(), Some(content_range), "{range}");
        assert_eq!(body, bytes, "{range}");
    }
}

#[tokio::test]
async fn range_sets_content_length_of_the_part() {
    let site = site();
    let response = site.response("/hello.txt", &[("range", "bytes=2-5")]).await;
    assert_eq!(header(&response, "content-length"), Some("4"));
}

#[tokio::test]
async fn unsatisfiable_range_gives_416() {
    let site = site();
    for range in [
        "bytes=14-",
        "bytes=14-20",
        "bytes=-0",
        "bytes=99999999999999999999999-",
    ] {
        let (status, content_range, body) = ranged(&site, range).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(content_range.as_deref(), Some("bytes */14"), "{range}");
        assert!(body.is_empty());
    }
}

#[tokio::test]
async fn multiple_or_malformed_ranges_give_the_whole_file() {
    let site = site();
    let ignored = [
        "bytes=0-1,4-5",
        "bytes=0-1, 4-5",
        "bytes=5-2",
        "bytes=a-b",
        "bytes=-",
        "bytes=0",
        "items=0-4",
        "bytes=+1-2",
        "",
    ];
    for range in ignored {
        let (status, content_range, body) = ranged(&site, range).await;
        assert_eq!(status, StatusCode::OK, "{range:?}");
        assert_eq!(content_range, None, "{range:?}");
        assert_eq!(body, HELLO, "{range:?}");
    }
}

#[tokio::test]
async fn ranges_of_an_empty_file() {
    let site = site();
    let suffix = site.response("/empty.txt", &[("range", "bytes=-5")]).await;
    assert_eq!(suffix.status(), StatusCode::OK);
    let from_start = site.response("/empty.txt", &[("range", "bytes=0-")]).await;
    assert_eq!(from_start.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn if_range_must_match_for_the_range_to_apply() {
    let site = site();
    let etag = header(&site.response("/hello.txt", &[]).await, "etag")
        .expect("etag")
        .to_owned();
    let weak = format!("W/{etag}");
    let cases = [
        (etag.as_str(), StatusCode::PARTIAL_CONTENT),
        ("Tue, 14 Nov 2023 22:13:20 GMT", StatusCode::PARTIAL_CONTENT),
        ("\"stale\"", StatusCode::OK),
        (weak.as_str(), StatusCode::OK),
        ("Tue, 14 Nov 2023 22:13:19 GMT", StatusCode::OK),
        ("garbage", StatusCode::OK),
    ];
    for (if_range, expected) in cases {
        let headers = [("range", "bytes=0-4"), ("if-range", if_range)];
        let response = site.response("/hello.txt", &headers).await;
        assert_eq!(response.status(), expected, "{if_range}");
    }
}

// === page caching and what is not static ===

#[tokio::test]
async fn page_cache_tries_html_and_index() {
    let site = site();
    for (path, expected) in [
        ("/foo", "<p>foo</p>"),
        ("/foo.html", "<p>foo</p>"),
        ("/", "<p>index</p>"),
        ("/d/", "<p>d</p>"),
        ("/d/.", "<p>d</p>"),
        ("/a/..", "<p>index</p>"),
    ] {
        let response = site.response(path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(body_of(response).await, expected, "{path}");
    }
}

#[tokio::test]
async fn directories_are_not_static() {
    let site = site();
    for path in ["/d", "/empty-dir", "/empty-dir/", "/a"] {
        assert!(is_not_static(&site.get(path).await), "{path}");
    }
}

#[tokio::test]
async fn missing_files_are_not_static() {
    let site = site();
    for path in ["/nope", "/nope/", "/hello.txt/", "/hello.txt/x"] {
        assert!(is_not_static(&site.get(path).await), "{path}");
    }
}

#[tokio::test]
async fn other_methods_are_not_static() {
    let site = site();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let outcome = site.request(method.clone(), "/hello.txt", &[]).await;
        assert!(is_not_static(&outcome), "{method}");
    }
}

#[test]
fn serve_can_run_on_a_multi_threaded_runtime() {
    fn assert_send<T: Send>(_: T) {}
    let site = site();
    let (uri, headers) = (Uri::from_static("/"), HeaderMap::new());
    assert_send(site.files.serve(&Method::GET, &uri, &headers));
}

#[test]
fn new_refuses_missing_or_non_directory() {
    let site = site();
    let if_not_owner = || policy(DisableSymlinks::IfNotOwner);
    assert!(StaticFiles::new(&site.dir.path().join("missing"), if_not_owner()).is_none());
    assert!(StaticFiles::new(&site.dir.path().join("secret"), if_not_owner()).is_none());
}

// === safety ===

#[tokio::test]
async fn traversal_never_reaches_the_secret() {
    let site = site();
    let attacks = [
        ("/../secret", true),
        ("/%2e%2e/secret", true),
        ("/%2E%2e/secret", true),
        ("/.%2e/secret", true),
        ("/a/%2e%2e/%2e%2e/secret", true),
        ("/..%2fsecret", true),
        ("/a/..%2F..%2Fsecret", true),
        ("/%2e%2e%5csecret", false),
        ("/..%5c..%5csecret", false),
        ("/a%5c..%5c..%5csecret", false),
        ("/%252e%252e/secret", false),
    ];
    for (path, bad_request) in attacks {
        match site.get(path).await {
            Outcome::NotStatic => assert!(!bad_request, "{path}: expected 400"),
            Outcome::Response(response) => {
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
                assert!(bad_request, "{path}: expected NotStatic");
                assert_ne!(body_of(response).await, SECRET, "{path}");
            }
        }
    }
}

#[tokio::test]
async fn dot_segments_inside_public_are_resolved() {
    let site = site();
    let response = site.response("/a/../d/./../hello.txt", &[]).await;
    assert_eq!(body_of(response).await, HELLO);
}

#[tokio::test]
async fn nul_byte_is_a_bad_request() {
    let site = site();
    let response = served(site.get("/hello.txt%00.html").await);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn non_utf8_path_is_not_static() {
    let site = site();
    assert!(is_not_static(&site.get("/%ff%fe").await));
}

#[tokio::test]
async fn symlink_to_a_file_outside_is_not_static() {
    let site = site();
    let public = site.public();
    std::os::unix::fs::symlink(site.dir.path().join("secret"), public.join("leak"))
        .expect("symlink");
    std::os::unix::fs::symlink("../secret", public.join("leak.txt")).expect("symlink");
    let on = site.with(DisableSymlinks::On);
    assert!(is_not_static(&on.get("/leak").await));
    assert!(is_not_static(&on.get("/leak.txt").await));
}

#[tokio::test]
async fn symlinked_directory_outside_is_not_static() {
    let site = site();
    std::os::unix::fs::symlink(site.dir.path(), site.public().join("up")).expect("symlink");
    let on = site.with(DisableSymlinks::On);
    assert!(is_not_static(&on.get("/up/secret").await));
}

/// `if_not_owner` (`ferry start`'s default): the app's owner links to a file or a directory of
/// someone else (root's `/etc/shadow`, another app's files); the app gets the request.
#[tokio::test]
async fn links_to_another_owners_files_are_not_static() {
    if !as_root("links_to_another_owners_files_are_not_static") {
        return;
    }
    let site = site();
    let public = site.public();
    let links = [
        (site.dir.path().join("secret"), "leak"),
        (PathBuf::from("../secret"), "leak.txt"),
        (site.dir.path().to_path_buf(), "up"),
    ];
    for (target, name) in links {
        std::os::unix::fs::symlink(target, public.join(name)).expect("symlink");
        std::os::unix::fs::lchown(public.join(name), Some(OTHER), None).expect("lchown");
    }
    for path in ["/leak", "/leak.txt", "/up/secret", "/up/public/hello.txt"] {
        assert!(is_not_static(&site.get(path).await), "{path}");
    }
}

/// `if_not_owner`: a link and what it leads to have the same owner, inside `public/` or out of
/// it (Capistrano's `public/system -> /srv/app/shared/system`): served.
#[tokio::test]
async fn links_of_the_owner_are_served_inside_public_and_out_of_it() {
    let site = site();
    let public = site.public();
    let shared = site.dir.path().join("shared/system");
    fs::create_dir_all(&shared).expect("mkdir");
    fs::write(shared.join("upload.txt"), "uploaded").expect("write");
    std::os::unix::fs::symlink(&shared, public.join("system")).expect("symlink");
    std::os::unix::fs::symlink("../shared/system", public.join("system-rel")).expect("symlink");
    std::os::unix::fs::symlink("../secret", public.join("own.txt")).expect("symlink");
    for path in ["/system/upload.txt", "/system-rel/upload.txt"] {
        let response = site.response(path, &[]).await;
        assert_eq!(body_of(response).await, "uploaded", "{path}");
    }
    assert_eq!(body_of(site.response("/own.txt", &[]).await).await, SECRET);
    assert!(is_not_static(
        &site
            .with(DisableSymlinks::On)
            .get("/system/upload.txt")
            .await
    ));
}

#[tokio::test]
async fn off_follows_every_link() {
    let site = site();
    std::os::unix::fs::symlink("../secret", site.public().join("leak.txt")).expect("symlink");
    let off = site.with(DisableSymlinks::Off);
    assert_eq!(body_of(off.response("/leak.txt", &[]).await).await, SECRET);
}

#[tokio::test]
async fn a_fifo_is_not_static_and_does_not_block() {
    let site = site();
    let fifo = site.public().join("pipe.txt");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    // Opening a FIFO for reading without O_NONBLOCK would wait for a writer forever.
    for mode in [DisableSymlinks::Off, DisableSymlinks::IfNotOwner] {
        assert!(
            is_not_static(&site.with(mode).get("/pipe.txt").await),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn symlink_inside_public_is_served() {
    let site = site();
    let public = site.public();
    std::os::unix::fs::symlink("hello.txt", public.join("alias.css")).expect("symlink");
    std::os::unix::fs::symlink("d", public.join("docs")).expect("symlink");
    let response = site.response("/alias.css", &[]).await;
    assert_eq!(
        header(&response, "content-type"),
        Some("text/css; charset=utf-8"),
        "type comes from the requested name"
    );
    assert_eq!(body_of(response).await, HELLO);
    let index = site.response("/docs/", &[]).await;
    assert_eq!(body_of(index).await, "<p>d</p>");
}

#[tokio::test]
async fn public_dir_reached_through_a_symlink_works() {
    let site = site();
    let link = site.dir.path().join("public-link");
    std::os::unix::fs::symlink(site.public(), &link).expect("symlink");
    let files = StaticFiles::new(&link, policy(DisableSymlinks::IfNotOwner)).expect("directory");
    let uri = Uri::from_static("/hello.txt");
    let outcome = files.serve(&Method::GET, &uri, &HeaderMap::new()).await;
    assert_eq!(body_of(served(outcome)).await, HELLO);
}

#[test]
fn clean_path_resolves_dot_segments() {
    let clean = |segments: &[&str], directory| {
        Ok(CleanPath {
            segments: segments.iter().map(|s| s.to_string()).collect(),
            directory,
        })
    };
    assert_eq!(clean_path("/"), clean(&[], true));
    assert_eq!(clean_path("//a///b"), clean(&["a", "b"], false));
    assert_eq!(clean_path("/a/./b/../c"), clean(&["a", "c"], false));
    assert_eq!(clean_path("/a/b/.."), clean(&["a"], true));
    assert_eq!(clean_path("/a%20b/"), clean(&["a b"], true));
    assert_eq!(clean_path("/..."), clean(&["..."], false));
    assert_eq!(clean_path("/a/../.."), Err(Rejection::BadRequest));
    assert_eq!(clean_path("/%00"), Err(Rejection::BadRequest));
    assert_eq!(clean_path("/a%5cb"), Err(Rejection::NotStatic));
    assert_eq!(clean_path("*"), Err(Rejection::NotStatic));
}

// === streaming ===

#[tokio::test]
async fn large_file_streams_in_chunks() {
    let site = site();
    let contents: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    fs::write(site.public().join("big.bin"), &contents).expect("write");
    let response = site.response("/big.bin", &[]).await;
    assert_eq!(header(&response, "content-length"), Some("8388608"));
    let (frames, received) = frames_of(response).await;
    assert!(frames > 1, "{frames} frame(s)");
    assert_eq!(received, contents);
}

#[tokio::test]
async fn large_range_streams_the_exact_bytes() {
    let site = site();
    let contents: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    fs::write(site.public().join("big.bin"), &contents).expect("write");
    let response = site
        .response("/big.bin", &[("range", "bytes=100000-300000")])
        .await;
    let (frames, received) = frames_of(response).await;
    assert!(frames > 1, "{frames} frame(s)");
    assert_eq!(received, &contents[100_000..=300_000]);
}

/// The number of data frames and their concatenation; each frame is at most one chunk.
async fn frames_of(response: Response<Body>) -> (usize, Vec<u8>) {
    let mut body = response.into_body();
    let (mut frames, mut received) = (0, Vec::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            assert!(data.len() <= CHUNK_SIZE);
            frames += 1;
            received.extend_from_slice(&data);
        }
    }
    (frames, received)
}

/// A small deterministic run of the fuzz target's body over generated hostile paths and ranges.
#[test]
fn fuzz_logic_holds_on_generated_inputs() {
    let pieces = [
        "/", "..", ".", "%2e", "%2E%2e", "%2f", "%5c", "a", "%00", "//", "%", "%zz", "b.html",
        "\u{e9}",
    ];
    let ranges = [
        "bytes=0-0",
        "bytes=-5",
        "bytes=5-",
        "bytes=9-3",
        "bytes=18446744073709551615-",
        "x",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let mut path = String::from("/");
        for _ in 0..(seed % 7) {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            path.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
        }
        let range = ranges[(seed >> 40) as usize % ranges.len()];
        crate::fuzz_logic::static_path_and_range(&path, range, seed % 20);
    }
}
