//! The Nginx examples of seed 000 (`tests/seed_examples/*.conf`, §3–§8), served by the real
//! `ferry` binary: each file is checked (`ferry config check`), some of its settings are read
//! back with the line that set them (`ferry config show`), and Ferry serves it
//! (`ferry start --config`) to requests with the example's `Host` header.
//!
//! The examples name absolute paths (`/webapps/mycook/public`, `/usr/bin/ruby1.8`, ...).
//! `tests/seed_examples/apps/` mirrors them; each test copies it to a temporary directory T and
//! rewrites the file: every such path moves under T, each `listen` port becomes a free port on
//! 127.0.0.1 (in `passenger_pre_start` URLs too), and the `http` block starts with
//! [`config_user_directives`] so that apps run as the test's user (and without a login shell).
//! Lines keep their numbers.
//!
//! The apps answer with `key=value` lines (see `apps/ferry-seed/echo.rb`): which app, its
//! working directory (the app root), its interpreter, SCRIPT_NAME and PATH_INFO, its CGI
//! variables (`env.`) and environment variables (`ENV.`). The seed's own hello-world apps
//! (§4.1, §5.1) answer what the seed says; their app root is read from `/proc/PID/cwd`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ferry_test_support::client::{self, Client, Reply};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{
    apps, bounded, config_user_directives, poll_until, procfs, require_program, trace_init, Ferry,
};
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(60);

/// How long a test waits for processes it expects (spawned in the background).
const PROCESS_WAIT: Duration = Duration::from_secs(20);

/// The absolute path prefixes the examples use, all mirrored under `tests/seed_examples/apps/`.
const PREFIXES: [&str; 5] = [
    "/webapps/",
    "/websites/",
    "/var/rails/",
    "/usr/bin/",
    "/usr/local/rvm/",
];

/// One example, ready to run from its temporary directory.
struct Example {
    /// The example's file name under `tests/seed_examples/`.
    name: &'static str,
    /// The file as written in the repository (its line numbers are the rewritten file's).
    text: String,
    /// T, canonical: where the mirrored paths are.
    root: PathBuf,
    /// T/nginx.conf.
    file: PathBuf,
    /// Port in the example → the free port the test listens on instead.
    ports: HashMap<u16, u16>,
    _dir: TempDir,
}

// === impl Example ===

impl Example {
    /// Copies the apps, rewrites `name` into T/nginx.conf.
    fn new(name: &'static str) -> Example {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/seed_examples");
        let dir = apps::copy_fixture(&seeds.join("apps")).expect("copy the seed apps");
        let root = dir.path().canonicalize().unwrap();
        let text = fs::read_to_string(seeds.join(name)).unwrap();
        let mut example = Example {
            name,
            file: root.join("nginx.conf"),
            root,
            ports: HashMap::new(),
            text,
            _dir: dir,
        };
        let rewritten = example.rewrite();
        fs::write(&example.file, rewritten).unwrap();
        example
    }

    fn rewrite(&mut self) -> String {
        let mut out = String::new();
        let text = self.text.clone();
        for line in text.lines() {
            let mut line = line.to_owned();
            for prefix in PREFIXES {
                line = line.replace(prefix, &format!("{}{prefix}", self.root.display()));
            }
            let code = line.split('#').next().unwrap_or_default().trim().to_owned();
            if let Some(port) = code
                .strip_prefix("listen ")
                .and_then(|p| p.strip_suffix(';'))
            {
                let port = self.port(port.parse().expect("the examples listen on a port"));
                line = line.replace(&code, &format!("listen 127.0.0.1:{port};"));
            } else if let Some(url) = code.strip_prefix("passenger_pre_start ") {
                let url = url.trim_end_matches(';');
                line = line.replace(url, &self.pre_start_url(url));
            } else if code == "http {" {
                // On the same line, so that every line keeps its number.
                line = format!("{line} {}", config_user_directives());
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// The free port standing in for `seed_port` (picked by the OS on first use).
    fn port(&mut self, seed_port: u16) -> u16 {
        *self.ports.entry(seed_port).or_insert_with(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        })
    }

    /// `http://HOST[:PORT]/PATH` with the port replaced by the test's (80 when absent).
    fn pre_start_url(&mut self, url: &str) -> String {
        let rest = url.strip_prefix("http://").expect("an http:// URL");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, port.parse().unwrap()),
            None => (authority, 80),
        };
        format!("http://{host}:{}{path}", self.port(port))
    }

    /// A path of the example (`/webapps/foo`) as it is in T.
    fn path(&self, seed_path: &str) -> PathBuf {
        self.root.join(seed_path.trim_start_matches('/'))
    }

    /// The numbers of the lines of the file containing `needle` (at least one).
    fn lines(&self, needle: &str) -> Vec<usize> {
        let found: Vec<usize> = (1..)
            .zip(self.text.lines())
            .filter(|(_, l)| l.contains(needle))
            .map(|(n, _)| n)
            .collect();
        assert!(!found.is_empty(), "{}: no line with {needle:?}", self.name);
        found
    }

    fn config(&self, command: &str) -> Output {
        let bin = std::env::var_os(ferry_test_support::ferry::BIN_OVERRIDE_ENV)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_ferry").into());
        Command::new(bin)
            .args(["config", command])
            .arg(&self.file)
            .output()
            .unwrap()
    }

    /// `ferry config check` accepts the file, without warnings.
    fn check(&self) {
        let out = self.config("check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let file = fs::read_to_string(&self.file).unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {stderr}\n{file}",
            self.name
        );
        assert!(
            stdout.starts_with(&format!(
                "{}: configuration is valid (",
                self.file.display()
            )) && stdout.trim_end().ends_with(", 0 warnings)"),
            "{}: {stdout}{stderr}",
            self.name
        );
    }

    /// `ferry config show` prints each `(setting, needle)`: `setting` set on the line of the
    /// file that contains `needle` (on each, if there are several).
    fn shows(&self, expected: &[(&str, &str)]) {
        let out = self.config("show");
        assert_eq!(out.status.code(), Some(0), "{}", self.name);
        let show = String::from_utf8_lossy(&out.stdout);
        for (setting, needle) in expected {
            for n in self.lines(needle) {
                let line = format!("{setting}    # {}:{n}", self.file.display());
                assert!(
                    show.lines().any(|l| l.trim_start() == line),
                    "{}: no line {line:?} in\n{show}",
                    self.name
                );
            }
        }
    }

    async fn start(&self) -> Ferry {
        Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &self.file)
            .spawn()
            .await
            .expect("ferry starts")
    }

    /// `http://127.0.0.1:PORT/PATH`, PORT standing in for the example's `seed_port`.
    fn url(&self, seed_port: u16, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[&seed_port])
    }

    /// GET `path` from the server `host` on (the example's) port 80.
    async fn get(&self, host: &str, path: &str) -> Reply {
        self.get_on(80, host, path).await
    }

    async fn get_on(&self, seed_port: u16, host: &str, path: &str) -> Reply {
        let url = self.url(seed_port, path);
        Client::new()
            .get_with(&url, &[("host", host)])
            .await
            .unwrap_or_else(|e| panic!("{}: GET {url} (Host {host}): {e}", self.name))
    }

    /// GET `path` from `host`, answered by the app named `app` with status 200.
    async fn app_reply(&self, host: &str, path: &str, app: &str) -> Echo {
        let reply = self.get(host, path).await;
        let echo = Echo(reply.text());
        assert_eq!(
            (reply.status, echo.get("app")),
            (StatusCode::OK, Some(app)),
            "{}: GET {path} (Host {host}):\n{}",
            self.name,
            echo.0
        );
        echo
    }

    /// GET `path` from `host`: a static file whose body is `body`.
    async fn static_file(&self, host: &str, path: &str, body: &str) {
        let reply = self.get(host, path).await;
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (StatusCode::OK, body),
            "{}: GET {path} (Host {host})",
            self.name
        );
    }

    /// The app processes under `ferry` whose working directory is `app_root` (a seed path):
    /// those whose loader has titled them `Ferry <Lang>App: ...`, which leaves out preloaders
    /// (`Ferry AppPreloader: ...`) and processes still starting. Ruby's title is its command
    /// line; Python's loader (without `setproctitle`) sets only the kernel's task name, which
    /// keeps the title's first 15 bytes.
    fn app_processes(&self, ferry: &Ferry, app_root: &str) -> Vec<u32> {
        let root = self.path(app_root);
        let title = |pid: u32| {
            let cmdline = procfs::cmdline(pid).unwrap_or_default();
            if cmdline.starts_with("Ferry ") {
                return Some(cmdline);
            }
            procfs::stat(pid).filter(|s| s.state != 'Z').map(|s| s.comm)
        };
        ferry
            .descendants()
            .into_iter()
            .filter(|&pid| fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == root))
            .filter(|&pid| {
                title(pid)
                    .is_some_and(|t| t.starts_with("Ferry ") && !t.starts_with("Ferry AppPre"))
            })
            .collect()
    }

    /// Waits until `count` processes of `app_root` run; returns their pids.
    async fn wait_for_processes(&self, ferry: &Ferry, app_root: &str, count: usize) -> Vec<u32> {
        let found = poll_until(PROCESS_WAIT, || {
            let pids = self.app_processes(ferry, app_root);
            (pids.len() == count).then_some(pids)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "{}: not {count} processes of {app_root} within {PROCESS_WAIT:?} (have {:?})",
                self.name,
                self.app_processes(ferry, app_root)
            )
        })
    }

    /// Waits, without sending a request, until `app_root` (a seed path) has app processes.
    async fn wait_for_pre_start(&self, ferry: &Ferry, app_root: &str) {
        let found = poll_until(PROCESS_WAIT, || {
            Some(self.app_processes(ferry, app_root)).filter(|pids| !pids.is_empty())
        })
        .await;
        assert!(
            found.is_some(),
            "{}: {app_root} was not pre-started within {PROCESS_WAIT:?}",
            self.name
        );
    }
}

/// An echo app's answer: `key=value` lines.
struct Echo(String);

impl Echo {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }

    /// Asserts `key=value`.
    fn has(&self, key: &str, value: &str) -> &Self {
        assert_eq!(self.get(key), Some(value), "{key} in\n{}", self.0);
        self
    }

    /// Asserts the app root: the app's working directory is `app_root` (a seed path) under T.
    fn runs_in(&self, example: &Example, app_root: &str) -> &Self {
        let cwd = example.path(app_root);
        self.has("cwd", &cwd.display().to_string())
    }

    /// Asserts the default environment: production (seed 000 §3, §4, §8.3.4).
    fn in_production(&self) -> &Self {
        for name in ["RAILS_ENV", "RACK_ENV", "PASSENGER_APP_ENV"] {
            self.has(&format!("ENV.{name}"), "production");
        }
        self
    }
}

/// A vhost-root example (§3.1, §4.2, §5.2): the app at `/`, its static files from `public/`.
async fn vhost_root(name: &'static str, host: &str, app: &str, app_root: &str) {
    let example = Example::new(name);
    example.check();
    let ferry = example.start().await;
    example
        .app_reply(host, "/some/page?x=1", app)
        .await
        .runs_in(&example, app_root)
        .in_production()
        .has("script_name", "")
        .has("path_info", "/some/page")
        .has("env.QUERY_STRING", "x=1");
    let body = format!("static file of {app}\n");
    example.static_file(host, "/static.txt", &body).await;
    drop(ferry);
}

/// A sub-URI example (§3.2, §4.3, §5.3): www.phusion.nl's own files at `/`, the app at `/subapp`.
async fn sub_uri(name: &'static str, app: &str, app_root: &str) {
    let host = "www.phusion.nl";
    let example = Example::new(name);
    example.check();
    let document_root = format!("{app_root}/public");
    example.shows(&[
        ("passenger_base_uri /subapp", "passenger_base_uri /subapp;"),
        (
            &format!("passenger_app_root {}", example.path(app_root).display()),
            "passenger_app_root",
        ),
        (
            &format!(
                "passenger_document_root {}",
                example.path(&document_root).display()
            ),
            "passenger_document_root",
        ),
    ]);
    let ferry = example.start().await;
    let home = example.get(host, "/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.text().contains("<title>www.phusion.nl</title>"),
        "{}",
        home.text()
    );
    example
        .app_reply(host, "/subapp/users/1?x=1", app)
        .await
        .runs_in(&example, app_root)
        .in_production()
        .has("script_name", "/subapp")
        .has("path_info", "/users/1")
        .has("env.QUERY_STRING", "x=1");
    example
        .app_reply(host, "/subapp", app)
        .await
        .has("script_name", "/subapp");
    let body = format!("static file of {app}\n");
    example.static_file(host, "/subapp/static.txt", &body).await;
    drop(ferry);
}

#[tokio::test]
async fn s3_1_rails_app_at_a_virtual_hosts_root() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let name = "3.1-vhost-root.conf";
        vhost_root(name, "www.mycook.com", "mycook", "/webapps/mycook").await;
    })
    .await;
}

#[tokio::test]
async fn s3_2_rails_app_in_a_sub_uri() {
    trace_init();
    require_program!("ruby");
    bounded(
        LIMIT,
        sub_uri("3.2-sub-uri.conf", "rails", "/websites/rails"),
    )
    .await;
}

#[tokio::test]
async fn s4_1_hello_world_rack_app() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("4.1-rack-hello-world.conf");
        example.check();
        let ferry = example.start().await;
        let reply = example.get("www.rackexample.com", "/").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "hello <b>world</b>");
        assert_eq!(reply.header("content-type"), Some("text/html"));
        example
            .wait_for_processes(&ferry, "/webapps/rack_example", 1)
            .await;
    })
    .await;
}

#[tokio::test]
async fn s4_2_rack_app_at_a_virtual_hosts_root() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let name = "4.2-rack-vhost-root.conf";
        vhost_root(name, "www.rackapp.com", "rackapp", "/webapps/rackapp").await;
    })
    .await;
}

#[tokio::test]
async fn s4_3_rack_app_in_a_sub_uri() {
    trace_init();
    require_program!("ruby");
    bounded(
        LIMIT,
        sub_uri("4.3-rack-sub-uri.conf", "rack", "/websites/rack"),
    )
    .await;
}

#[tokio::test]
async fn s5_1_hello_world_wsgi_app() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let example = Example::new("5.1-wsgi-hello-world.conf");
        example.check();
        let ferry = example.start().await;
        let reply = example.get("www.wsgiexample.com", "/").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "hello world!\n");
        example
            .wait_for_processes(&ferry, "/webapps/wsgi_example", 1)
            .await;
    })
    .await;
}

#[tokio::test]
async fn s5_2_wsgi_app_at_a_virtual_hosts_root() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let name = "5.2-wsgi-vhost-root.conf";
        vhost_root(name, "www.wsgiapp.com", "wsgiapp", "/webapps/wsgiapp").await;
    })
    .await;
}

#[tokio::test]
async fn s5_3_wsgi_app_in_a_sub_uri() {
    trace_init();
    require_program!("python3");
    bounded(
        LIMIT,
        sub_uri("5.3-wsgi-sub-uri.conf", "wsgi", "/websites/wsgi"),
    )
    .await;
}

#[tokio::test]
async fn s8_2_1_a_location_re_enables_passenger() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.2.1-passenger-enabled-location.conf");
        example.check();
        let enabled = "passenger_enabled on";
        example.shows(&[
            ("location /attachments", "location /attachments"),
            // The server's and the location's.
            (enabled, "passenger_enabled on;"),
        ]);
        let ferry = example.start().await;
        let host = "www.foo.com";
        example
            .app_reply(host, "/attachments/1.png", "foo")
            .await
            .runs_in(&example, "/webapps/foo")
            .has("path_info", "/attachments/1.png");
        example
            .app_reply(host, "/", "foo")
            .await
            .has("path_info", "/");
        example
            .static_file(host, "/static.txt", "static file of foo\n")
            .await;
        drop(ferry);
    })
    .await;
}

#[tokio::test]
async fn s8_3_1_each_app_runs_with_its_interpreter() {
    trace_init();
    require_program!("ruby");
    require_program!("python3");
    bounded(LIMIT, async {
        let example = Example::new("8.3.1-interpreters.conf");
        example.check();
        let ruby = |p: &str| format!("passenger_ruby {}", example.path(p).display());
        let jruby = "/usr/local/rvm/wrappers/jruby-1.7.1/ruby";
        example.shows(&[
            (
                &ruby("/usr/bin/ruby1.8"),
                "passenger_ruby /usr/bin/ruby1.8;",
            ),
            (
                &format!(
                    "passenger_nodejs {}",
                    example.path("/usr/bin/node").display()
                ),
                "passenger_nodejs /usr/bin/node;",
            ),
            (&ruby(jruby), jruby),
        ]);
        let ferry = example.start().await;
        // Four apps, started at once.
        let (foo, bar, blog, baz) = tokio::join!(
            example.app_reply("www.foo.com", "/", "foo"),
            example.app_reply("www.bar.com", "/", "bar"),
            example.app_reply("www.bar.com", "/blog/posts", "blog"),
            example.app_reply("www.baz.com", "/", "baz"),
        );
        foo.runs_in(&example, "/webapps/foo")
            .has("interpreter", "/usr/bin/ruby1.8");
        bar.runs_in(&example, "/webapps/bar")
            .has("interpreter", "/usr/local/rvm/wrappers/ruby-1.9.3/ruby");
        blog.runs_in(&example, "/websites/blog")
            .has("interpreter", jruby)
            .has("script_name", "/blog")
            .has("path_info", "/posts");
        baz.runs_in(&example, "/webapps/baz")
            .has("interpreter", "/usr/bin/python3.0")
            .in_production();
        drop(ferry);
    })
    .await;
}

#[tokio::test]
async fn s8_3_7_the_app_root_is_passenger_app_root() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.3.7-app-root.conf");
        example.check();
        let zena = example.path("/var/rails/zena");
        example.shows(&[(
            &format!("passenger_app_root {}", zena.display()),
            "passenger_app_root /var/rails/zena;",
        )]);
        let ferry = example.start().await;
        example
            .app_reply("test.host", "/", "zena")
            .await
            .runs_in(&example, "/var/rails/zena");
        let body = "static file of zena (sites/example.com)\n";
        example.static_file("test.host", "/static.txt", body).await;
        drop(ferry);
    })
    .await;
}

#[tokio::test]
async fn s8_3_8_a_node_app_started_from_server_js() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let example = Example::new("8.3.8-app-type.conf");
        example.check();
        example.shows(&[
            ("passenger_app_type node", "passenger_app_type node;"),
            (
                "passenger_startup_file server.js",
                "passenger_startup_file server.js;",
            ),
        ]);
        let ferry = example.start().await;
        example
            .app_reply("example.com", "/items?page=2", "example.com")
            .await
            .runs_in(&example, "/webapps/example.com")
            .has("url", "/items?page=2")
            .has("header.host", "example.com")
            .has("ENV.NODE_ENV", "production");
        let body = "static file of example.com\n";
        example
            .static_file("example.com", "/static.txt", body)
            .await;
        drop(ferry);
    })
    .await;
}

#[tokio::test]
async fn s8_5_2_min_instances_spawns_three_processes() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.5.2-min-instances.conf");
        example.check();
        example.shows(&[
            ("passenger_max_pool_size 15", "passenger_max_pool_size 15;"),
            (
                "passenger_pool_idle_time 10",
                "passenger_pool_idle_time 10;",
            ),
            ("passenger_min_instances 3", "passenger_min_instances 3;"),
        ]);
        let ferry = example.start().await;
        let root = "/webapps/foobar";
        assert!(
            example.app_processes(&ferry, root).is_empty(),
            "no process before a visit"
        );
        example
            .app_reply("foobar.com", "/", "foobar")
            .await
            .runs_in(&example, root);
        // "1 application process will be started immediately to serve the visitor, while 2
        // will be spawned in the background."
        example.wait_for_processes(&ferry, root, 3).await;
    })
    .await;
}

#[tokio::test]
async fn s8_5_11_expensive_computation_has_its_own_max_request_time() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.5.11-max-request-time.conf");
        example.check();
        example.shows(&[
            (
                "location /expensive_computation",
                "location /expensive_computation",
            ),
            (
                "passenger_max_request_time 2",
                "passenger_max_request_time 2;",
            ),
            (
                "passenger_max_request_time 10",
                "passenger_max_request_time 10;",
            ),
        ]);
        let ferry = example.start().await;
        let host = "www.example.com";
        example
            .app_reply(host, "/expensive_computation", "my_app")
            .await
            .runs_in(&example, "/webapps/my_app")
            .has("path_info", "/expensive_computation");
        example.app_reply(host, "/cheap", "my_app").await;
        drop(ferry);
    })
    .await;
}

/// §8.5.13 examples 1 and 3: foo.com (port 80) and bar.com (port 3500) run before any request,
/// and serve.
async fn foo_and_bar_are_pre_started(example: &Example) {
    let ferry = example.start().await;
    // Not checked: that a pre-started process serves the first request. Ferry sometimes starts
    // a second process for the pre-start request (seen with smart spawning), which may answer.
    tokio::join!(
        example.wait_for_pre_start(&ferry, "/webapps/foo"),
        example.wait_for_pre_start(&ferry, "/webapps/bar"),
    );
    let reply = example.get_on(80, "foo.com", "/").await;
    Echo(reply.text()).has("app", "foo");
    let reply = example.get_on(3500, "bar.com", "/").await;
    Echo(reply.text()).has("app", "bar");
    drop(ferry);
}

#[tokio::test]
async fn s8_5_13_example_1_pre_starts_both_apps() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.5.13-1-pre-start.conf");
        example.check();
        let url = example.url(3500, "/").replace("127.0.0.1", "bar.com");
        example.shows(&[(
            &format!("passenger_pre_start {url}"),
            "http://bar.com:3500/",
        )]);
        foo_and_bar_are_pre_started(&example).await;
    })
    .await;
}

#[tokio::test]
async fn s8_5_13_example_2_pre_starts_a_sub_uri_app() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.5.13-2-pre-start-sub-uri.conf");
        example.check();
        let ferry = example.start().await;
        example.wait_for_pre_start(&ferry, "/webapps/store").await;
        let host = "myblog.com";
        example
            .app_reply(host, "/store/cart", "store")
            .await
            .runs_in(&example, "/webapps/store")
            .has("script_name", "/store")
            .has("path_info", "/cart");
        example
            .static_file(host, "/store/static.txt", "static file of store\n")
            .await;
        let home = example.get(host, "/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(
            home.text().contains("<title>myblog.com</title>"),
            "{}",
            home.text()
        );
        drop(ferry);
    })
    .await;
}

#[tokio::test]
async fn s8_5_13_example_3_pre_starts_with_min_instances() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.5.13-3-pre-start-min-instances.conf");
        example.check();
        example.shows(&[("passenger_min_instances 1", "passenger_min_instances 1;")]);
        foo_and_bar_are_pre_started(&example).await;
    })
    .await;
}

#[tokio::test]
async fn s8_6_1_cgi_params_per_request_and_at_spawn() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.6.1-1-set-cgi-param.conf");
        example.check();
        let ferry = example.start().await;
        let host = "www.superblog.com";
        example
            .app_reply(host, "/", "superblog")
            .await
            .runs_in(&example, "/webapps/blog")
            .has("env.APP_NAME", "my super blog")
            .has("env.EXTRA_REQUEST_METHOD", "method=GET")
            // A constant is also in the environment from the start; a value with a variable
            // has no request to take it from then.
            .has("ENV.APP_NAME", "my super blog");
        let url = example.url(80, "/");
        let body = ferry_test_support::body::empty();
        let request = client::request(Method::POST, &url, &[("host", host)], body);
        let reply = Client::new().request(request).await.unwrap();
        let echo = Echo(reply.text());
        echo.has("env.EXTRA_REQUEST_METHOD", "method=POST")
            .has("env.REQUEST_METHOD", "POST");
        assert_eq!(echo.get("ENV.EXTRA_REQUEST_METHOD"), None, "{}", echo.0);
        drop(ferry);
    })
    .await;
}

#[tokio::test]
async fn s8_6_1_cgi_params_are_not_inherited() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.6.1-2-not-inherited.conf");
        example.check();
        let ferry = example.start().await;
        let host = "www.superblog.com";
        let (apps, users) = tokio::join!(
            example.app_reply(host, "/apps/1", "superblog"),
            example.app_reply(host, "/users/1", "superblog"),
        );
        apps.has("env.FOO", "foo").has("path_info", "/apps/1");
        users.has("path_info", "/users/1");
        assert_eq!(users.get("env.FOO"), None, "{}", users.0);
        drop(ferry);
    })
    .await;
}

#[tokio::test]
async fn s8_6_2_a_full_queue_gets_the_custom_503_page() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let example = Example::new("8.6.2-request-queue.conf");
        example.check();
        example.shows(&[
            (
                "passenger_max_request_queue_size 1",
                "queue_size 1;  # added",
            ),
            (
                "passenger_intercept_errors on",
                "passenger_intercept_errors on;",
            ),
        ]);
        let ferry = example.start().await;
        let host = "www.example.com";
        let page = "error503.html of seed 000 §8.6.2";
        // The app's own 503 is replaced by the page.
        let reply = example.get(host, "/status/503").await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.text().contains(page), "{}", reply.text());
        // The only process busy, one request waiting: the next is turned away with the page.
        let gate = example.root.join("gate");
        let started = example.root.join("gate.started");
        let held_url = example.url(80, &format!("/hold?gate={}", gate.display()));
        let get = move |url: String| async move {
            Client::new()
                .get_with(&url, &[("host", "www.example.com")])
                .await
        };
        let held = tokio::spawn(get(held_url));
        let busy = poll_until(PROCESS_WAIT, || started.exists().then_some(())).await;
        assert!(busy.is_some(), "the app got the held request");
        let mut first = tokio::spawn(get(example.url(80, "/1")));
        let mut second = tokio::spawn(get(example.url(80, "/2")));
        let (rejected, queued) = tokio::select! {
            r = &mut first => (r, second),
            r = &mut second => (r, first),
        };
        let rejected = rejected.unwrap().unwrap();
        assert_eq!(rejected.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(rejected.text().contains(page), "{}", rejected.text());
        fs::write(&gate, b"").unwrap();
        assert_eq!(held.await.unwrap().unwrap().text(), "released\n");
        let queued = queued.await.unwrap().unwrap();
        assert_eq!(
            Echo(queued.text()).get("app"),
            Some("queue"),
            "{}",
            queued.text()
        );
        drop(ferry);
    })
    .await;
}
