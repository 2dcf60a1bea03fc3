//! Issue 17, item 1: nothing an app's owner writes makes a root Ferry serve a file that owner
//! could not read. Static files (an app's `public/`), `root` and `alias` places and
//! `X-Accel-Redirect` targets are opened through `ferry_sys::fs::Root` under nginx's
//! `disable_symlinks`: `if_not_owner` by default as root (and always for `ferry start`), so a
//! link is followed only when it and what it leads to have the same owner.
//!
//! Every test runs the real binary as root, with a real unprivileged user (`users::TestUser`)
//! owning the app and its links, and checks that no response ever carries the first line of
//! `/etc/shadow`, and that the status is the mapping's: in `public/` a refused link goes to the
//! app (its 404 here), in a `root`/`alias` place it is 403. The owner's own links (Capistrano's
//! `current -> releases/1`, `public/system -> shared/system`) keep working.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_test_support::client::{Client, Reply};
use ferry_test_support::http::StatusCode;
use ferry_test_support::users::TestUser;
use ferry_test_support::{bounded, require, trace_init, Ferry, Requirement};

const LIMIT: Duration = Duration::from_secs(90);
/// How long a link is swapped in and out while `/d/shadow` is fetched (the issue's figure).
const RACE: Duration = Duration::from_secs(5);

/// The app: `X-Accel-Redirect` to `?to=`, and 404 "app: not found" for anything else, so a test
/// can tell that a request reached it.
const APP_JS: &str = r#"
const http = require('http');
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://app');
  if (url.pathname === '/accel') {
    res.writeHead(200, { 'X-Accel-Redirect': url.searchParams.get('to'), 'Content-Type': 'text/plain' });
    return res.end('app body');
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('app: not found');
}).listen(process.env.PORT || 3000);
"#;

const APP_404: &str = "app: not found";

/// The first line of root's `/etc/shadow`: no body may hold it unless `off` asked for it.
fn shadow_line() -> String {
    let shadow = std::fs::read_to_string("/etc/shadow").expect("read /etc/shadow as root");
    shadow.lines().next().unwrap_or_default().to_owned()
}

fn holds_shadow(reply: &Reply) -> bool {
    String::from_utf8_lossy(&reply.body).contains(&shadow_line())
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn link(target: impl AsRef<Path>, at: &Path) {
    std::fs::create_dir_all(at.parent().expect("a parent")).expect("mkdir");
    symlink(target, at).expect("symlink");
}

/// The app in `dir/app`: `app.js`, `public/hello.txt`, and the owner's links to root's files:
/// `public/leak -> /etc/shadow`, `public/dir -> /etc`.
fn app_with_foreign_links(dir: &Path) {
    write(&dir.join("app/app.js"), APP_JS);
    write(&dir.join("app/public/hello.txt"), "hello\n");
    link("/etc/shadow", &dir.join("app/public/leak"));
    link("/etc", &dir.join("app/public/dir"));
}

/// A Capistrano deploy in `dir/cap`: `current -> releases/1`, whose `public/system` is an
/// absolute link to `shared/system` (outside `public/`) and `public/rel.txt` a relative one to a
/// file there.
fn capistrano(dir: &Path) {
    let cap = dir.join("cap");
    write(&cap.join("releases/1/app.js"), APP_JS);
    write(&cap.join("releases/1/public/index.html"), "release 1\n");
    write(&cap.join("shared/system/a.txt"), "shared a\n");
    link(
        cap.join("shared/system"),
        &cap.join("releases/1/public/system"),
    );
    link(
        "../../../shared/system/a.txt",
        &cap.join("releases/1/public/rel.txt"),
    );
    link("releases/1", &cap.join("current"));
}

async fn start(app_dir: &Path, args: &[&str]) -> Ferry {
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), app_dir)
        .args(args)
        .spawn()
        .await
        .expect("ferry starts")
}

async fn start_config(dir: &Path, text: &str) -> Ferry {
    let file = dir.join("ferry.conf");
    std::fs::write(&file, text).expect("write the configuration");
    Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
        .spawn()
        .await
        .expect("ferry starts")
}

async fn get(ferry: &Ferry, client: &Client, host: &str, path: &str) -> Reply {
    client
        .get_with(&ferry.url_for(path), &[("host", host)])
        .await
        .unwrap_or_else(|e| panic!("GET {path} on {host}: {e}"))
}

/// GETs `path` and checks that the answer is `status` (with `body` when given) and holds no
/// byte of `/etc/shadow`.
async fn expect(ferry: &Ferry, client: &Client, host: &str, path: &str, status: u16, body: &str) {
    let reply = get(ferry, client, host, path).await;
    assert!(!holds_shadow(&reply), "{host}{path} served /etc/shadow");
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{host}{path}: {}",
        reply.text()
    );
    if !body.is_empty() {
        assert_eq!(reply.text(), body, "{host}{path}");
    }
}

// === ferry start ===

#[tokio::test]
async fn start_never_follows_the_owners_link_to_roots_files() {
    trace_init();
    require!(Requirement::Root, Requirement::Program("node"));
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        app_with_foreign_links(dir.path());
        user.chown_tree(dir.path());
        let ferry = start(&dir.path().join("app"), &[]).await;
        let client = Client::new();
        expect(&ferry, &client, "a", "/hello.txt", 200, "hello\n").await;
        for path in ["/leak", "/dir/shadow", "/dir/", "/dir/passwd"] {
            // In public/, a refused link is the app's business, as Passenger does.
            expect(&ferry, &client, "a", path, 404, APP_404).await;
        }
    })
    .await;
}

#[tokio::test]
async fn start_never_serves_shadow_while_a_link_is_swapped_in_and_out() {
    trace_init();
    require!(Requirement::Root, Requirement::Program("node"));
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        let public = dir.path().join("app/public");
        write(&dir.path().join("app/app.js"), APP_JS);
        write(&public.join("d/shadow"), "decoy\n");
        link("/etc", &public.join("swap"));
        user.chown_tree(dir.path());
        let ferry = start(&dir.path().join("app"), &[]).await;
        let seen = race(&ferry, "a", &public).await;
        assert!(
            seen.decoys > 0 && seen.refused > 0,
            "both sides seen: {seen:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn start_serves_the_owners_links_in_a_capistrano_layout() {
    trace_init();
    require!(Requirement::Root, Requirement::Program("node"));
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        capistrano(dir.path());
        user.chown_tree(dir.path());
        let ferry = start(&dir.path().join("cap/current"), &[]).await;
        let client = Client::new();
        expect(&ferry, &client, "a", "/", 200, "release 1\n").await;
        expect(&ferry, &client, "a", "/system/a.txt", 200, "shared a\n").await;
        expect(&ferry, &client, "a", "/rel.txt", 200, "shared a\n").await;
    })
    .await;
}

#[tokio::test]
async fn start_disable_symlinks_on_refuses_every_link_and_off_follows_them() {
    trace_init();
    require!(Requirement::Root, Requirement::Program("node"));
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        capistrano(dir.path());
        link(
            "/etc/shadow",
            &dir.path().join("cap/releases/1/public/leak"),
        );
        user.chown_tree(dir.path());
        let app = dir.path().join("cap/current");
        let client = Client::new();
        let on = start(&app, &["--disable-symlinks", "on"]).await;
        expect(&on, &client, "a", "/", 200, "release 1\n").await;
        for path in ["/system/a.txt", "/rel.txt", "/leak"] {
            expect(&on, &client, "a", path, 404, APP_404).await;
        }
        drop(on);
        // What the operator asked for: as root, `off` serves root's own files through a link.
        let off = start(&app, &["--disable-symlinks=off"]).await;
        let reply = get(&off, &client, "a", "/leak").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(holds_shadow(&reply), "off follows the link");
    })
    .await;
}

// === ferry start --config ===

/// `root` and `alias` places (Passenger off), an app's `public/` (Passenger on) and an
/// `X-Accel-Redirect` target, each with the owner's links to root's files; no
/// `disable_symlinks` written, so the root default.
fn default_config(d: &Path) -> String {
    let d = d.display();
    format!(
        r"
http {{
    passenger_load_shell_envvars off;
    server {{
        listen 127.0.0.1:0;
        server_name files.test;
        root {d}/site;
        location /files/ {{
            alias {d}/data/;
        }}
        location /strict/ {{
            disable_symlinks on;
        }}
        location /open/ {{
            disable_symlinks off;
        }}
    }}
    server {{
        listen 127.0.0.1:0;
        server_name app.test;
        root {d}/app/public;
        passenger_enabled on;
        location /protected/ {{
            root {d};
        }}
    }}
}}
"
    )
}

#[tokio::test]
async fn config_default_refuses_the_owners_links_to_roots_files() {
    trace_init();
    require!(Requirement::Root, Requirement::Program("node"));
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        let d = dir.path();
        app_with_foreign_links(d);
        write(&d.join("site/hello.txt"), "site hello\n");
        link("/etc/shadow", &d.join("site/leak"));
        link("/etc", &d.join("site/dir"));
        write(&d.join("data/x.txt"), "aliased\n");
        link("/etc/shadow", &d.join("data/leak"));
        link("/etc", &d.join("data/dir"));
        write(&d.join("protected/ok.txt"), "protected ok\n");
        link("/etc/shadow", &d.join("protected/leak"));
        link("/etc", &d.join("protected/dir"));
        user.chown_tree(d);
        let ferry = start_config(d, &default_config(d)).await;
        let client = Client::new();
        let (files, app) = ("files.test", "app.test");

        // root and alias, Passenger off: 403 for a refused link, as nginx answers ELOOP.
        expect(&ferry, &client, files, "/hello.txt", 200, "site hello\n").await;
        expect(&ferry, &client, files, "/files/x.txt", 200, "aliased\n").await;
        for path in [
            "/leak",
            "/dir/shadow",
            "/dir/",
            "/files/leak",
            "/files/dir/shadow",
        ] {
            expect(&ferry, &client, files, path, 403, "").await;
        }

        // The app's public/: the app gets the request.
        expect(&ferry, &client, app, "/hello.txt", 200, "hello\n").await;
        for path in ["/leak", "/dir/shadow"] {
            expect(&ferry, &client, app, path, 404, APP_404).await;
        }

        // X-Accel-Redirect through the owner's link to root's file: refused.
        let accel = "/accel?to=/protected/ok.txt";
        expect(&ferry, &client, app, accel, 200, "protected ok\n").await;
        for to in ["/protected/leak", "/protected/dir/shadow"] {
            let path = format!("/accel?to={to}");
            expect(&ferry, &client, app, &path, 403, "").await;
        }
    })
    .await;
}

#[tokio::test]
async fn config_disable_symlinks_on_refuses_every_link_and_off_follows_them() {
    trace_init();
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        let d = dir.path();
        write(&d.join("site/hello.txt"), "site hello\n");
        link("../hello.txt", &d.join("site/strict/own.txt"));
        link("/etc/shadow", &d.join("site/open/leak"));
        user.chown_tree(d);
        let text = format!(
            "http {{ server {{ listen 127.0.0.1:0; server_name files.test; root {}/site; \
             location /strict/ {{ disable_symlinks on; }} \
             location /open/ {{ disable_symlinks off; }} }} }}",
            d.display()
        );
        let ferry = start_config(d, &text).await;
        let client = Client::new();
        let files = "files.test";
        // `on`: even the owner's own link, to the owner's own file.
        expect(&ferry, &client, files, "/strict/own.txt", 403, "").await;
        // `off`, as root: what the operator asked for.
        let reply = get(&ferry, &client, files, "/open/leak").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(holds_shadow(&reply), "off follows the link");
    })
    .await;
}

#[tokio::test]
async fn config_serves_the_owners_links_in_a_capistrano_layout() {
    trace_init();
    require!(Requirement::Root, Requirement::Program("node"));
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        let d = dir.path();
        capistrano(d);
        user.chown_tree(d);
        let c = d.join("cap").display().to_string();
        let text = format!(
            r"
http {{
    passenger_load_shell_envvars off;
    server {{
        listen 127.0.0.1:0;
        server_name app.test;
        root {c}/current/public;
        passenger_enabled on;
    }}
    server {{
        listen 127.0.0.1:0;
        server_name files.test;
        root {c}/current/public;
    }}
}}
"
        );
        let ferry = start_config(d, &text).await;
        let client = Client::new();
        for host in ["app.test", "files.test"] {
            expect(&ferry, &client, host, "/system/a.txt", 200, "shared a\n").await;
            expect(&ferry, &client, host, "/rel.txt", 200, "shared a\n").await;
        }
        expect(&ferry, &client, "files.test", "/", 200, "release 1\n").await;
    })
    .await;
}

#[tokio::test]
async fn config_root_never_serves_shadow_while_a_link_is_swapped_in_and_out() {
    trace_init();
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let user = TestUser::create();
        let dir = user.app_dir();
        let site = dir.path().join("site");
        write(&site.join("d/shadow"), "decoy\n");
        link("/etc", &site.join("swap"));
        user.chown_tree(dir.path());
        let text = format!(
            "http {{ server {{ listen 127.0.0.1:0; server_name files.test; root {}; }} }}",
            site.display()
        );
        let ferry = start_config(dir.path(), &text).await;
        let seen = race(&ferry, "files.test", &site).await;
        assert!(
            seen.decoys > 0 && seen.refused > 0,
            "both sides seen: {seen:?}"
        );
    })
    .await;
}

// === the race ===

/// What the fetches of `/d/shadow` got while `d` was being swapped.
#[derive(Debug, Default)]
struct Seen {
    /// The directory's own file.
    decoys: u64,
    /// The link to `/etc`, refused (403 in a place, the app's 404 in `public/`).
    refused: u64,
    /// How many times `d` was swapped.
    swaps: u64,
}

/// For [`RACE`], swaps `dir/d` (a directory holding a harmless `shadow`) with `dir/swap` (the
/// owner's link to `/etc`) as fast as `renameat2(RENAME_EXCHANGE)` goes, while fetching
/// `/d/shadow` from `host`: root's shadow must never come back.
async fn race(ferry: &Ferry, host: &str, dir: &Path) -> Seen {
    let swapper = Swapper::start(dir.join("d"), dir.join("swap"));
    let client = Client::new();
    let mut seen = Seen::default();
    let deadline = Instant::now() + RACE;
    while Instant::now() < deadline {
        let reply = get(ferry, &client, host, "/d/shadow").await;
        assert!(!holds_shadow(&reply), "/d/shadow served /etc/shadow");
        match reply.status.as_u16() {
            200 => {
                assert_eq!(reply.text(), "decoy\n");
                seen.decoys += 1;
            }
            403 | 404 => seen.refused += 1,
            other => panic!("/d/shadow: {other} {}", reply.text()),
        }
    }
    seen.swaps = swapper.stop();
    eprintln!("race on {host}: {seen:?}");
    assert!(seen.swaps > 0, "the swapper ran");
    seen
}

/// A thread exchanging two names until stopped (or dropped, when a test fails).
struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Swapper {
    fn start(a: PathBuf, b: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
            std::thread::spawn(move || {
                use nix::fcntl::{renameat2, RenameFlags};
                while !stop.load(Ordering::Relaxed)
                    && renameat2(None, &a, None, &b, RenameFlags::RENAME_EXCHANGE).is_ok()
                {
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        Swapper {
            stop,
            swaps,
            thread: Some(thread),
        }
    }

    /// Stops the thread; how many exchanges it made.
    fn stop(mut self) -> u64 {
        self.halt();
        self.swaps.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.halt();
    }
}
