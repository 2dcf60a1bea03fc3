//! Static files under `APP_DIR/public`: served by Ferry itself with validators and ranges, the
//! page cache (`/foo` → `foo.html`, `/` → `index.html`), no path out of `public/`, and no link
//! out of it under `--disable-symlinks on`.

use std::path::Path;
use std::time::Duration;

use ferry_test_support::client::{self, Client};
use ferry_test_support::http::StatusCode;
use ferry_test_support::raw::{self, RawReply};
use ferry_test_support::{apps, bounded, require_program, trace_init, unique_digits, Ferry};
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(60);
const STATIC_TXT: &str = "static file from node-test\n";

/// 1000 bytes of `i % 251`, written to `public/data.bin` for range requests.
fn data_bin() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

/// A copy of the fixture, plus `public/data.bin`, and `secret.txt` next to `public/` with
/// symlinks to it from inside `public/`. Returns the dir and the secret's content.
fn app_with_secret() -> (TempDir, String) {
    let dir = apps::node_test_copy();
    let root = dir.path();
    let secret = format!("TOP-SECRET-{}", unique_digits());
    std::fs::write(root.join("secret.txt"), &secret).unwrap();
    std::fs::write(root.join("public/data.bin"), data_bin()).unwrap();
    std::fs::create_dir_all(root.join("public/sub")).unwrap();
    std::fs::write(root.join("public/sub/inner.txt"), "inner\n").unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), root.join("public/leak.txt")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", root.join("public/leak-rel.txt")).unwrap();
    std::os::unix::fs::symlink(root, root.join("public/leakdir")).unwrap();
    (dir, secret)
}

async fn start(app_dir: &Path) -> Ferry {
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), app_dir)
        .spawn()
        .await
        .expect("ferry starts")
}

#[tokio::test]
async fn static_file_is_served_with_validators() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (dir, _) = app_with_secret();
        let ferry = start(dir.path()).await;
        let reply = client::get(&ferry.url_for("/static.txt")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), STATIC_TXT);
        let ctype = reply.header("content-type").unwrap_or("");
        assert!(ctype.starts_with("text/plain"), "Content-Type: {ctype:?}");
        assert!(
            reply.header("etag").is_some(),
            "no ETag: {:?}",
            reply.headers
        );
        assert!(
            reply.header("last-modified").is_some(),
            "no Last-Modified: {:?}",
            reply.headers
        );
    })
    .await;
}

#[tokio::test]
async fn conditional_requests_get_304() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (dir, _) = app_with_secret();
        let ferry = start(dir.path()).await;
        let client = Client::new();
        let url = ferry.url_for("/static.txt");
        let first = client.get(&url).await.unwrap();
        assert_eq!(first.status, StatusCode::OK);
        let etag = first.header("etag").expect("ETag").to_owned();
        let modified = first
            .header("last-modified")
            .expect("Last-Modified")
            .to_owned();

        let reply = client
            .get_with(&url, &[("if-none-match", &etag)])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "If-None-Match");
        assert!(reply.body.is_empty());

        let reply = client
            .get_with(&url, &[("if-modified-since", &modified)])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "If-Modified-Since");
        assert!(reply.body.is_empty());

        let reply = client
            .get_with(&url, &[("if-none-match", "\"some-other-etag\"")])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "a non-matching ETag");
        assert_eq!(reply.text(), STATIC_TXT);
    })
    .await;
}

#[tokio::test]
async fn range_requests_get_exact_bytes() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (dir, _) = app_with_secret();
        let ferry = start(dir.path()).await;
        let client = Client::new();
        let url = ferry.url_for("/data.bin");
        let data = data_bin();

        let reply = client
            .get_with(&url, &[("range", "bytes=10-19")])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(&reply.body[..], &data[10..20]);
        assert_eq!(reply.header("content-range"), Some("bytes 10-19/1000"));

        let reply = client
            .get_with(&url, &[("range", "bytes=990-")])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(&reply.body[..], &data[990..]);

        let reply = client
            .get_with(&url, &[("range", "bytes=5000-6000")])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE);

        let reply = client.get(&url).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(&reply.body[..], &data[..]);
    })
    .await;
}

#[tokio::test]
async fn head_on_static_file() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (dir, _) = app_with_secret();
        let ferry = start(dir.path()).await;
        let reply = Client::new()
            .head(&ferry.url_for("/static.txt"))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body.is_empty());
        let len = STATIC_TXT.len().to_string();
        assert_eq!(reply.header("content-length"), Some(len.as_str()));
    })
    .await;
}

#[tokio::test]
async fn page_cache_serves_html_files() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (dir, _) = app_with_secret();
        let ferry = start(dir.path()).await;
        let client = Client::new();
        let reply = client.get(&ferry.url_for("/foo")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "<h1>page cache foo</h1>\n");
        let reply = client.get(&ferry.url_for("/")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "<h1>page cache index</h1>\n");
        let ctype = reply.header("content-type").unwrap_or("");
        assert!(ctype.starts_with("text/html"), "Content-Type: {ctype:?}");
        // A path without a file still reaches the app.
        let reply = client.get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.text(), "hello");
    })
    .await;
}

#[tokio::test]
async fn traversal_never_leaves_public() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (dir, secret) = app_with_secret();
        let ferry = start(dir.path()).await;
        let targets = [
            "/../secret.txt",
            "/../../secret.txt",
            "/sub/../../secret.txt",
            "/./../secret.txt",
            "//../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/..%2fsecret.txt",
            "/%2e%2e%2fsecret.txt",
            "/sub/..%2f..%2fsecret.txt",
            "/sub%2f..%2f..%2fsecret.txt",
            "/.%2e/secret.txt",
            "http://localhost/../secret.txt",
        ];
        never_served(&ferry, &targets, &secret).await;
    })
    .await;
}

/// The links out of `public/` in [`app_with_secret`] are the app owner's own, which
/// `if_not_owner` (the default) follows, as Capistrano's `public/system` needs; `on` follows no
/// link. (A link to another owner's file is refused by default: `static_files_symlinks.rs`.)
#[tokio::test]
async fn links_out_of_public_are_refused_with_disable_symlinks_on() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (dir, secret) = app_with_secret();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--disable-symlinks", "on"])
            .spawn()
            .await
            .expect("ferry starts");
        let targets = ["/leak.txt", "/leak-rel.txt", "/leakdir/secret.txt"];
        never_served(&ferry, &targets, &secret).await;
    })
    .await;
}

/// Sends each of `targets` as it is written and checks that `secret` never comes back: 400, or
/// the app's 403 or 404. A control request first shows that the raw helper works.
async fn never_served(ferry: &Ferry, targets: &[&str], secret: &str) {
    let timeout = Duration::from_secs(10);
    let control = raw::exchange(ferry.addr(), &raw::get_request("/sub/inner.txt"), timeout)
        .await
        .unwrap();
    assert_eq!(control.status, 200, "{}", control.head);
    assert_eq!(control.body, b"inner\n");
    for target in targets {
        let reply: RawReply = raw::exchange(ferry.addr(), &raw::get_request(target), timeout)
            .await
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        eprintln!("{target} -> {}", reply.status);
        assert!(
            !reply.body_contains(secret.as_bytes()),
            "{target} returned the secret file ({}):\n{}",
            reply.status,
            reply.head
        );
        assert!(
            reply.status == 400 || reply.status == 403 || reply.status == 404,
            "{target}: status {} (expected 400, or the app's 404)",
            reply.status
        );
    }
}
