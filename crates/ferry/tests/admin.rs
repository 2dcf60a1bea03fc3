//! Admin and observability (issue 7) against a running Ferry with two real apps: the WSGI stub
//! and the Rack stub, each on its own server name of one Nginx-style file, with the instance
//! directory in a registry of the test's own (`--instance-registry-dir`).
//!
//! - `ferry status` as text (seed 000 §10.2 and §11.1.4: the Version/Date/Instance header,
//!   "General information", "Application groups" with each app root and process), as JSON
//!   (validated against `docs/admin-api.schema.json`) and as XML (Passenger's `/pool.xml`);
//!   `--show server|requests|backtraces`; `list-instances`; `log-level`; the access log.
//! - `/metrics` read by the real Prometheus text parser (`prometheus_client` from pip), its
//!   request counters moving by exactly the requests sent.
//! - `restart-app` (blocking and `--rolling`), `detach-process`, `backtraces` (Ruby and Python
//!   print every thread's stack into Ferry's log), `reopen-logs` after the log file was moved.
//! - Who may do what: a wrong password is 401, the read-only password changes nothing,
//!   `nobody` neither sees nor restarts root's apps (403); direct process access (seed §10.4)
//!   without and with the connect password.
//! - The registry: stale instance directories are removed by `list-instances`; `ferry status`
//!   finds an instance in a custom registry when told where, and says where it looked when not.
//!
//! The WSGI app is spawned directly: its `/pid` is computed when the module loads, so under smart
//! spawning it would name the preloader.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_admin::client::{Client as AdminClient, Credentials, Level};
use ferry_admin::registry::{self, Instance, Properties};
use ferry_test_support::client::Client;
use ferry_test_support::ferry::BIN_OVERRIDE_ENV;
use ferry_test_support::http::StatusCode;
use ferry_test_support::require::require_for;
use ferry_test_support::{
    apps, bounded, config_user_directives, poll_until, procfs, require_program, trace_init, Ferry,
    Requirement,
};
use regex::Regex;
use serde_json::Value;
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(120);
/// How long a change the admin API made may take to show (a restart, a spawn, a log line).
const SETTLE: Duration = Duration::from_secs(30);
/// How long one `ferry` admin command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

const WSGI_HOST: [(&str, &str); 1] = [("host", "wsgi.test")];
const RACK_HOST: [(&str, &str); 1] = [("host", "rack.test")];

/// Two apps in one Ferry, and where everything is.
struct TwoApps {
    _dir: TempDir,
    registry: PathBuf,
    wsgi: PathBuf,
    rack: PathBuf,
    ferry: Ferry,
}

/// What an admin command printed.
#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

// === The Ferry under test ===

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"
http {{
    {users}
    passenger_max_pool_size 6;
    server {{
        listen 127.0.0.1:0;
        server_name wsgi.test;
        root {d}/wsgi/public;
        passenger_enabled on;
        passenger_spawn_method direct;
    }}
    server {{
        listen 127.0.0.1:0;
        server_name rack.test;
        root {d}/rack/public;
        passenger_enabled on;
    }}
}}
"#,
        users = config_user_directives()
    )
}

/// Starts Ferry with the two apps; `extra` goes after `--config FILE` (the registry is added).
/// The temporary directory and the registry are world-traversable so that `nobody` can reach
/// the admin socket.
async fn two_apps(extra: &[&OsStr]) -> TwoApps {
    let dir = apps::temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (fixture, name) in [("wsgi-stub", "wsgi"), ("rack-stub", "rack")] {
        let copy = apps::copy_fixture(&apps::fixtures_dir().join(fixture)).unwrap();
        std::fs::rename(copy.path(), dir.path().join(name)).unwrap();
        std::fs::create_dir_all(dir.path().join(name).join("public")).unwrap();
    }
    let registry = dir.path().join("registry");
    std::fs::create_dir(&registry).unwrap();
    std::fs::set_permissions(&registry, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("ferry.conf");
    std::fs::write(&file, config(dir.path())).unwrap();
    let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
        .arg("--instance-registry-dir")
        .arg(&registry)
        .args(extra)
        .spawn()
        .await
        .expect("ferry starts");
    TwoApps {
        wsgi: dir.path().join("wsgi"),
        rack: dir.path().join("rack"),
        registry,
        _dir: dir,
        ferry,
    }
}

impl TwoApps {
    fn root(&self, app: &Path) -> String {
        app.display().to_string()
    }

    /// `GET path` on the app behind `host`; its body.
    async fn get(&self, client: &Client, host: &[(&str, &str)], path: &str) -> String {
        let reply = client
            .get_with(&self.ferry.url_for(path), host)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
        reply.text()
    }

    /// The pid of the process that answers `/pid` for `host`.
    async fn pid(&self, client: &Client, host: &[(&str, &str)]) -> u32 {
        self.get(client, host, "/pid").await.trim().parse().unwrap()
    }

    fn instance(&self) -> Instance {
        let listing = registry::list_instances(&self.registry).unwrap();
        assert_eq!(listing.instances.len(), 1, "{listing:?}");
        listing.instances.into_iter().next().unwrap()
    }

    /// A client of the admin API with the full password.
    fn admin(&self) -> AdminClient {
        AdminClient::for_instance(&self.instance(), Level::Full).unwrap()
    }

    /// `ferry ARGS --instance-registry-dir REGISTRY`.
    async fn ferry_cmd(&self, args: &[&str]) -> Output {
        let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        all.extend([
            OsStr::new("--instance-registry-dir"),
            self.registry.as_os_str(),
        ]);
        run(None, &all, &[]).await
    }

    /// The same as `nobody` (see [`as_nobody`]).
    async fn ferry_cmd_as_nobody(&self, args: &[&str]) -> Output {
        let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        all.extend([
            OsStr::new("--instance-registry-dir"),
            self.registry.as_os_str(),
        ]);
        run(Some(&nobody_prefix()), &all, &[]).await
    }
}

// === Helpers ===

fn ferry_bin() -> PathBuf {
    std::env::var_os(BIN_OVERRIDE_ENV)
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ferry")), PathBuf::from)
}

/// Runs `[PREFIX...] ferry ARGS` with `envs` (a `None` value removes the variable), bounded.
async fn run(
    prefix: Option<&[String]>,
    args: &[&OsStr],
    envs: &[(&str, Option<&OsStr>)],
) -> Output {
    let mut command = match prefix {
        Some([program, rest @ ..]) => {
            let mut c = tokio::process::Command::new(program);
            c.args(rest).arg(ferry_bin());
            c
        }
        _ => tokio::process::Command::new(ferry_bin()),
    };
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in envs {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    let out = tokio::time::timeout(COMMAND_LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("ferry {args:?} did not finish within {COMMAND_LIMIT:?}"))
        .unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Output {
    /// Panics unless the command succeeded; its stdout.
    #[track_caller]
    fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "{self:?}");
        self.stdout
    }
}

/// `setpriv` arguments that run a command as `nobody`, with no supplementary groups.
fn nobody_prefix() -> Vec<String> {
    [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
    ]
    .map(String::from)
    .to_vec()
}

/// What acting as `nobody` needs.
fn acting_as_nobody() -> [Requirement; 4] {
    [
        Requirement::Root,
        Requirement::Program("setpriv"),
        Requirement::User("nobody"),
        Requirement::Group("nogroup"),
    ]
}

async fn pool_json(admin: &AdminClient) -> Value {
    let reply = admin.get("/pool.json").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json().unwrap()
}

fn group<'a>(pool: &'a Value, root: &str) -> &'a Value {
    pool["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["app_root"] == root)
        .unwrap_or_else(|| panic!("no group for {root} in {pool:#}"))
}

fn pids(pool: &Value, root: &str) -> Vec<u32> {
    group(pool, root)["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect()
}

/// Polls the pool until `cond` holds for it; panics with the last pool after [`SETTLE`].
async fn wait_for_pool(admin: &AdminClient, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let pool = pool_json(admin).await;
        if cond(&pool) {
            return pool;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {SETTLE:?}; pool: {pool:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `file` until it contains `needle`; its text.
async fn wait_for_file(file: &Path, needle: &str) -> String {
    poll_until(SETTLE, || {
        std::fs::read_to_string(file)
            .ok()
            .filter(|text| text.contains(needle))
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "{} never contained {needle:?}; it has:\n{}",
            file.display(),
            std::fs::read_to_string(file).unwrap_or_default()
        )
    })
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

// === ferry status as text ===

/// Checks `ferry status` text against the seed's layout (§10.2, §11.1.4) and `pool`.
fn check_status_text(text: &str, instance: &Properties, pool: &Value) {
    let mut lines = text.lines();
    let mut next = || {
        lines
            .next()
            .unwrap_or_else(|| panic!("status ends early:\n{text}"))
    };
    assert_eq!(next(), format!("Version : {}", instance.version), "{text}");
    let date = Regex::new(r"^Date    : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$").unwrap();
    let line = next();
    assert!(date.is_match(line), "{line:?}");
    let line = next();
    assert!(
        line.starts_with(&format!("Instance: {} ", instance.name)),
        "{line:?}"
    );
    assert_eq!(next(), "");
    assert_eq!(next(), "----------- General information -----------");
    assert_eq!(next(), format!("Max pool size : {}", pool["max_pool_size"]));
    assert_eq!(next(), "App groups    : 2");
    assert_eq!(next(), format!("Processes     : {}", pool["process_count"]));
    assert_eq!(next(), "Requests in top-level queue : 0");
    assert_eq!(next(), "");
    assert_eq!(next(), "----------- Application groups -----------");
    let first =
        Regex::new(r"^  \* PID: (\d+) +Sessions: (\d+) +Processed: (\d+) +Uptime: (\d+[hms] ?)+$")
            .unwrap();
    let second =
        Regex::new(r"^    CPU: \d+% +Memory  : \d+M +Last used: (\d+[hms] ?)+ ago$").unwrap();
    for group in pool["groups"].as_array().unwrap() {
        let root = group["app_root"].as_str().unwrap();
        assert_eq!(next(), format!("{}:", group["name"].as_str().unwrap()));
        assert_eq!(next(), format!("  App root: {root}"));
        assert_eq!(next(), "  Requests in queue: 0");
        if let Some(preloader) = group.get("preloader").filter(|p| !p.is_null()) {
            let line = next();
            let expected = format!("  Preloader: PID {}, idle ", preloader["pid"]);
            assert!(line.starts_with(&expected), "{line:?} in\n{text}");
        }
        for process in group["processes"].as_array().unwrap() {
            let line = next();
            let caps = first
                .captures(line)
                .unwrap_or_else(|| panic!("{line:?} in\n{text}"));
            assert_eq!(caps[1], process["pid"].to_string());
            assert_eq!(caps[2], process["sessions"].to_string());
            // The pool may count a request that finished between the two snapshots.
            let processed: u64 = caps[3].parse().unwrap();
            assert!(
                processed >= process["processed"].as_u64().unwrap(),
                "{line}"
            );
            let line = next();
            assert!(second.is_match(line), "{line:?} in\n{text}");
        }
        assert_eq!(next(), "");
    }
    assert_eq!(lines.next(), None, "{text}");
}

// === XML ===

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .unwrap_or_else(|| panic!("no <{name}> in <{}>", node.tag_name().name()))
}

fn text(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    child(node, name).text().unwrap_or_default().to_owned()
}

fn check_pool_xml(xml: &str, pool: &Value) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let info = doc.root_element();
    assert_eq!(info.tag_name().name(), "info");
    assert_eq!(info.attribute("version"), Some("3"));
    assert_eq!(text(info, "group_count"), "2");
    assert_eq!(
        text(info, "process_count"),
        pool["process_count"].to_string()
    );
    assert_eq!(text(info, "max"), pool["max_pool_size"].to_string());
    let supergroups: Vec<_> = child(info, "supergroups")
        .children()
        .filter(|c| c.has_tag_name("supergroup"))
        .collect();
    assert_eq!(supergroups.len(), 2);
    for supergroup in supergroups {
        let group_node = child(supergroup, "group");
        assert_eq!(group_node.attribute("default"), Some("true"));
        let root = text(group_node, "app_root");
        let expected = group(pool, &root);
        assert_eq!(text(group_node, "name"), expected["name"].as_str().unwrap());
        assert_eq!(
            text(group_node, "app_type"),
            expected["app_type"].as_str().unwrap()
        );
        let xml_pids: Vec<u32> = child(group_node, "processes")
            .children()
            .filter(|c| c.has_tag_name("process"))
            .map(|p| {
                assert_eq!(text(p, "enabled"), "ENABLED");
                let socket = child(child(p, "sockets"), "socket");
                assert!(!text(socket, "address").is_empty());
                text(p, "pid").parse().unwrap()
            })
            .collect();
        assert_eq!(xml_pids, pids(pool, &root));
    }
}

// === Metrics ===

/// The Prometheus parser that turns the text into `[family name, type, sample name, labels,
/// value]` rows (JSON on stdout).
const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
rows = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        rows.append([family.name, family.type, s.name, s.labels, s.value])
json.dump(rows, sys.stdout)
"#;

/// What running Prometheus' own parser needs.
const PROMETHEUS_PARSER: [Requirement; 2] = [
    Requirement::Program("python3"),
    Requirement::PythonModule("prometheus_client.parser"),
];

/// One sample as the parser prints it: family, type, sample name, labels, value.
type Row = (String, String, String, HashMap<String, String>, f64);

/// One parsed exposition: (sample name, sorted labels) → value, and family name → type.
struct Metrics {
    samples: HashMap<(String, Vec<(String, String)>), f64>,
    types: HashMap<String, String>,
}

impl Metrics {
    async fn fetch(admin: &AdminClient) -> Metrics {
        let reply = admin.get("/metrics").await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let content_type = reply.headers["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        Metrics::parse(&reply.text()).await
    }

    async fn parse(text: &str) -> Metrics {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new("python3")
            .args(["-c", PARSER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).await.unwrap();
        drop(stdin);
        let out = tokio::time::timeout(COMMAND_LIMIT, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "the Prometheus parser refused the exposition: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<Row> = serde_json::from_slice(&out.stdout).unwrap();
        let mut metrics = Metrics {
            samples: HashMap::new(),
            types: HashMap::new(),
        };
        for (family, kind, name, labels, value) in rows {
            metrics.types.insert(family, kind);
            let mut labels: Vec<_> = labels.into_iter().collect();
            labels.sort();
            metrics.samples.insert((name, labels), value);
        }
        metrics
    }

    /// The sample `name` with exactly `labels`; 0 when absent.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<_> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        self.samples
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }
}

// === Tests ===

/// `ferry status` in every format, `list-instances`, `log-level`, `/metrics` and the access log.
#[tokio::test]
async fn status_formats_metrics_log_level_and_access_log_with_two_apps() {
    trace_init();
    require_program!("python3");
    require_program!("ruby");
    bounded(LIMIT, async {
        let dir_holder = apps::temp_dir();
        let access_log = dir_holder.path().join("access.log");
        let t = two_apps(&[OsStr::new("--access-log"), access_log.as_os_str()]).await;
        let (wsgi, rack) = (t.root(&t.wsgi), t.root(&t.rack));
        let client = Client::new();
        let wsgi_pid = t.pid(&client, &WSGI_HOST).await;
        let rack_pid = t.pid(&client, &RACK_HOST).await;
        let admin = t.admin();
        let instance = t.instance();
        assert_eq!(instance.properties.pid, t.ferry.pid());

        // Text, in the seed's layout.
        let pool = pool_json(&admin).await;
        assert_eq!(pids(&pool, &wsgi), [wsgi_pid]);
        assert_eq!(pids(&pool, &rack), [rack_pid]);
        let text = t.ferry_cmd(&["status"]).await.ok();
        check_status_text(&text, &instance.properties, &pool);
        let no_header = t.ferry_cmd(&["status", "--no-header"]).await.ok();
        assert!(
            no_header.starts_with("----------- General information"),
            "{no_header}"
        );

        // JSON, against the documented schema.
        let json: Value = serde_json::from_str(&t.ferry_cmd(&["status", "--format", "json"]).await.ok())
            .unwrap();
        assert_eq!(ferry_test_support::schema::errors(&json), Vec::<String>::new(), "{json:#}");
        assert_eq!(pids(&json, &wsgi), [wsgi_pid]);
        assert_eq!(group(&json, &rack)["app_type"], "ruby");
        assert_eq!(group(&json, &wsgi)["app_type"], "python");
        for root in [&wsgi, &rack] {
            let process = &group(&json, root)["processes"][0];
            assert_eq!(process["life_state"], "alive");
            assert!(process["connect_password"].is_null(), "no secrets without --verbose");
        }

        // XML, Passenger's layout.
        let xml = t.ferry_cmd(&["status", "--format", "xml"]).await.ok();
        check_pool_xml(&xml, &pool);

        // The server and its requests.
        let server = t.ferry_cmd(&["status", "--show", "server"]).await.ok();
        assert!(server.contains(&format!("\nPID          : {}\n", t.ferry.pid())), "{server}");
        assert!(server.contains("\nLog level    : 3\n"), "{server}");
        assert!(server.contains("\nMetrics      : on\n"), "{server}");
        assert!(server.contains(&format!("Listening on : {}", t.ferry.url())), "{server}");
        let server: Value = serde_json::from_str(
            &t.ferry_cmd(&["status", "--show", "server", "--format", "json"])
                .await
                .ok(),
        )
        .unwrap();
        assert_eq!(server["info"]["pid"], t.ferry.pid());
        assert_eq!(server["info"]["instance_name"], instance.properties.name.as_str());
        let requests = t.ferry_cmd(&["status", "--show", "requests"]).await.ok();
        assert!(
            requests.contains("----------- Requests in progress -----------\n(none)\n"),
            "{requests}"
        );
        let backtraces = t.ferry_cmd(&["status", "--show", "backtraces"]).await;
        assert!(
            backtraces.code == Some(0) || backtraces.stderr.contains("not available"),
            "{backtraces:?}"
        );

        // list-instances, as text and JSON.
        let listing = t.ferry_cmd(&["list-instances"]).await.ok();
        let row = listing
            .lines()
            .find(|l| l.starts_with(&instance.properties.name))
            .unwrap_or_else(|| panic!("{listing}"));
        let row: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(row[1], t.ferry.pid().to_string());
        assert_eq!(row.last().copied(), Some(t.ferry.url().as_str()));
        let listing: Value =
            serde_json::from_str(&t.ferry_cmd(&["list-instances", "--json"]).await.ok()).unwrap();
        assert_eq!(listing.as_array().unwrap().len(), 1, "{listing:#}");
        assert_eq!(listing[0]["properties"]["pid"], t.ferry.pid());

        // log-level: the API reports the new level; back to the default.
        assert_eq!(t.ferry_cmd(&["log-level", "5"]).await.ok(), "log level set\n");
        let info: Value = admin.get("/info.json").await.unwrap().json().unwrap();
        assert_eq!(info["log_level"], 5);
        let server = t.ferry_cmd(&["status", "--show", "server"]).await.ok();
        assert!(server.contains("\nLog level    : 5\n"), "{server}");
        t.ferry_cmd(&["log-level", "3"]).await.ok();
        let info: Value = admin.get("/info.json").await.unwrap().json().unwrap();
        assert_eq!(info["log_level"], 3);

        // /metrics: parsed by Prometheus' own parser; the counters move with traffic.
        let (mut wsgi_sent, mut rack_sent) = (1, 1);
        if require_for("the /metrics checks", &PROMETHEUS_PARSER) {
            check_metrics(&t, &admin, &client, wsgi_pid).await;
            (wsgi_sent, rack_sent) = (wsgi_sent + 5, rack_sent + 4);
        }

        // The access log: one line per request, with the app and the process.
        let sent = wsgi_sent + rack_sent;
        let text = poll_until(SETTLE, || {
            let text = std::fs::read_to_string(&access_log).ok()?;
            (text.lines().count() >= sent).then_some(text)
        })
        .await
        .unwrap_or_else(|| panic!("the access log never had {sent} lines"));
        assert_eq!(text.lines().count(), sent, "{text}");
        let line = Regex::new(
            r#"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /[\w/]+ HTTP/1\.1" (200|404) (\d+|-) "-" "[^"]*" rt=\d+\.\d{3} app="([^"]+)" pid=(\d+)$"#,
        )
        .unwrap();
        let mut served = HashMap::<(String, u32), usize>::new();
        for l in text.lines() {
            let caps = line.captures(l).unwrap_or_else(|| panic!("{l:?}"));
            *served
                .entry((caps[3].to_owned(), caps[4].parse().unwrap()))
                .or_default() += 1;
        }
        let mut expected = HashMap::new();
        expected.insert((wsgi.clone(), wsgi_pid), wsgi_sent);
        expected.insert((rack.clone(), rack_pid), rack_sent);
        assert_eq!(served, expected, "{text}");
        drop(dir_holder);
    })
    .await;
}

/// Sends requests and checks the metrics move by exactly as many.
async fn check_metrics(t: &TwoApps, admin: &AdminClient, client: &Client, wsgi_pid: u32) {
    let (wsgi, rack) = (t.root(&t.wsgi), t.root(&t.rack));
    let before = Metrics::fetch(admin).await;
    assert_eq!(before.types["ferry_http_requests"], "counter");
    assert_eq!(
        before.types["ferry_http_request_duration_seconds"],
        "histogram"
    );
    assert_eq!(before.types["ferry_queue_wait_seconds"], "histogram");
    assert_eq!(before.types["ferry_spawn_duration_seconds"], "histogram");
    assert_eq!(before.types["ferry_app_processes"], "gauge");
    assert_eq!(before.get("ferry_pool_max_processes", &[]), 6.0);
    for app in [&wsgi, &rack] {
        let alive = before.get("ferry_app_processes", &[("app", app), ("state", "alive")]);
        assert_eq!(alive, 1.0, "{app}");
        let spawned = before.get("ferry_spawn_duration_seconds_count", &[("app", app)]);
        assert_eq!(spawned, 1.0, "{app}");
    }
    let wsgi_pid = wsgi_pid.to_string();
    let processed = |m: &Metrics| {
        m.get(
            "ferry_process_processed_total",
            &[("app", &wsgi), ("pid", &wsgi_pid)],
        )
    };
    assert!(processed(&before) >= 1.0);

    for _ in 0..5 {
        assert_eq!(t.get(client, &WSGI_HOST, "/hello").await, "hello world");
    }
    for _ in 0..3 {
        assert_eq!(t.get(client, &RACK_HOST, "/hello").await, "hello world");
    }
    let missing = client
        .get_with(&t.ferry.url_for("/status/404"), &RACK_HOST)
        .await
        .unwrap();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The counters are bumped as each response ends: wait for the last one.
    let requests = |m: &Metrics, app: &str, code: &str| {
        m.get("ferry_http_requests_total", &[("app", app), ("code", code)])
            - before.get("ferry_http_requests_total", &[("app", app), ("code", code)])
    };
    let deadline = tokio::time::Instant::now() + SETTLE;
    let after = loop {
        let after = Metrics::fetch(admin).await;
        if requests(&after, &rack, "4xx") >= 1.0 || tokio::time::Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(requests(&after, &wsgi, "2xx"), 5.0);
    assert_eq!(requests(&after, &rack, "2xx"), 3.0);
    assert_eq!(requests(&after, &rack, "4xx"), 1.0);
    assert_eq!(requests(&after, &wsgi, "5xx"), 0.0);
    let durations = |m: &Metrics, app: &str| {
        m.get("ferry_http_request_duration_seconds_count", &[("app", app)])
    };
    assert_eq!(durations(&after, &wsgi) - durations(&before, &wsgi), 5.0);
    assert_eq!(durations(&after, &rack) - durations(&before, &rack), 4.0);
    assert_eq!(
        after.get(
            "ferry_http_request_duration_seconds_bucket",
            &[("app", &wsgi), ("le", "+Inf")]
        ),
        durations(&after, &wsgi)
    );
    assert_eq!(processed(&after) - processed(&before), 5.0);
}

/// `restart-app` (blocking, rolling), `detach-process`, `backtraces` and `reopen-logs`.
#[tokio::test]
async fn restart_detach_backtraces_and_reopen_logs() {
    trace_init();
    require_program!("python3");
    require_program!("ruby");
    bounded(LIMIT, async {
        let logs = apps::temp_dir();
        let log = logs.path().join("ferry.log");
        let t = two_apps(&[OsStr::new("--log-file"), log.as_os_str()]).await;
        let (wsgi, rack) = (t.root(&t.wsgi), t.root(&t.rack));
        let client = Client::new();
        let admin = t.admin();
        let wsgi_pid = t.pid(&client, &WSGI_HOST).await;
        let rack_pid = t.pid(&client, &RACK_HOST).await;

        // Backtraces of a Ruby process, then a Python one, land in the log as its output.
        let said = t
            .ferry_cmd(&["backtraces", &rack_pid.to_string()])
            .await
            .ok();
        assert!(said.contains("SIGQUIT"), "{said}");
        let text = wait_for_file(&log, &format!("App {rack_pid} output: Thread ")).await;
        let frame = Regex::new(&format!(r"App {rack_pid} output: +\S+\.rb:\d+:in ")).unwrap();
        assert!(frame.is_match(&text), "no Ruby stack frame in:\n{text}");
        t.ferry_cmd(&["backtraces", &wsgi_pid.to_string()])
            .await
            .ok();
        let text = wait_for_file(&log, &format!("App {wsgi_pid} output: ")).await;
        let frame = Regex::new(&format!(
            r#"App {wsgi_pid} output: +File "[^"]+\.py", line \d+"#
        ))
        .unwrap();
        assert!(frame.is_match(&text), "no Python stack frame in:\n{text}");
        // A pid that is not an app process of this Ferry.
        let refused = t
            .ferry_cmd(&["backtraces", &t.ferry.pid().to_string()])
            .await;
        assert_eq!(refused.code, Some(1), "{refused:?}");

        // reopen-logs: after the file was moved away, new lines go to a new file at the path.
        let rotated = logs.path().join("ferry.log.1");
        std::fs::rename(&log, &rotated).unwrap();
        t.ferry_cmd(&["reopen-logs"]).await.ok();
        let rotated_len = std::fs::metadata(&rotated).unwrap().len();
        t.ferry_cmd(&["backtraces", &rack_pid.to_string()])
            .await
            .ok();
        wait_for_file(&log, &format!("App {rack_pid} output: Thread ")).await;
        let old = std::fs::read_to_string(&rotated).unwrap();
        assert_eq!(old.len() as u64, rotated_len, "the moved file still grows");
        assert_eq!(count(&old, "SIGQUIT: backtraces"), 1, "{old}");

        // restart-app, blocking: a new generation, and a new process.
        let generation = group(&pool_json(&admin).await, &rack)["generation"]
            .as_u64()
            .unwrap();
        assert_eq!(
            t.ferry_cmd(&["restart-app", &rack]).await.ok(),
            "restarted\n"
        );
        wait_for_pool(&admin, "blocking restart", |pool| {
            group(pool, &rack)["generation"].as_u64() > Some(generation)
                && !pids(pool, &rack).contains(&rack_pid)
        })
        .await;
        let restarted_pid = t.pid(&client, &RACK_HOST).await;
        assert_ne!(restarted_pid, rack_pid);
        let pool = pool_json(&admin).await;
        let generation = group(&pool, &rack)["generation"].as_u64().unwrap();
        assert_eq!(
            group(&pool, &rack)["processes"][0]["generation"],
            generation
        );
        let gone = poll_until(SETTLE, || {
            (!procfs::process_exists(rack_pid) || procfs::is_zombie(rack_pid)).then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "the old process {rack_pid} is still running"
        );
        // The wsgi app was not touched.
        assert_eq!(pids(&pool, &wsgi), [wsgi_pid]);

        // restart-app --rolling: new process first, then the old one goes.
        assert_eq!(
            t.ferry_cmd(&["restart-app", &rack, "--rolling"]).await.ok(),
            "restarted\n"
        );
        wait_for_pool(&admin, "rolling restart", |pool| {
            let g = group(pool, &rack);
            g["generation"].as_u64() > Some(generation)
                && g["rolling_restart_pending"] == 0
                && !pids(pool, &rack).contains(&restarted_pid)
        })
        .await;
        let rolled_pid = t.pid(&client, &RACK_HOST).await;
        assert_ne!(rolled_pid, restarted_pid);
        assert_ne!(rolled_pid, rack_pid);

        // No such app.
        let refused = t.ferry_cmd(&["restart-app", "/no/such/app"]).await;
        assert_eq!(refused.code, Some(1), "{refused:?}");
        assert!(refused.stderr.contains("/no/such/app"), "{refused:?}");

        // detach-process: the process leaves the pool and stops.
        assert_eq!(
            t.ferry_cmd(&["detach-process", &wsgi_pid.to_string()])
                .await
                .ok(),
            "detached\n"
        );
        wait_for_pool(&admin, "detach", |pool| {
            !pids(pool, &wsgi).contains(&wsgi_pid)
        })
        .await;
        let gone = poll_until(SETTLE, || {
            (!procfs::process_exists(wsgi_pid) || procfs::is_zombie(wsgi_pid)).then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "the detached process {wsgi_pid} is still running"
        );
        let next = t.pid(&client, &WSGI_HOST).await;
        assert_ne!(next, wsgi_pid);
        // A pid the pool does not have: an error, not "detached".
        let unknown = t
            .ferry_cmd(&["detach-process", &wsgi_pid.to_string()])
            .await;
        assert_eq!(unknown.code, Some(1), "{unknown:?}");
    })
    .await;
}

/// Passwords, peer credentials and direct process access.
#[tokio::test]
async fn auth_and_direct_process_access() {
    trace_init();
    require_program!("python3");
    require_program!("ruby");
    bounded(LIMIT, async {
        let t = two_apps(&[]).await;
        let (wsgi, rack) = (t.root(&t.wsgi), t.root(&t.rack));
        let client = Client::new();
        let wsgi_pid = t.pid(&client, &WSGI_HOST).await;
        let rack_pid = t.pid(&client, &RACK_HOST).await;
        let instance = t.instance();
        let socket = instance.admin_socket();

        // A wrong password is 401, whoever sends it (the test runs as Ferry's own user).
        for user in ["admin", "ro_admin"] {
            let wrong = AdminClient::new(
                &socket,
                Credentials::Password {
                    user,
                    password: "not-the-password".into(),
                },
            );
            let reply = wrong.get("/pool.json").await.unwrap();
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{user}");
            assert_eq!(
                reply.headers["www-authenticate"],
                r#"Basic realm="api""#,
                "{user}"
            );
        }
        // The read-only password reads but changes nothing.
        let read_only = AdminClient::for_instance(&instance, Level::ReadOnly).unwrap();
        assert_eq!(read_only.get("/pool.json").await.unwrap().status, StatusCode::OK);
        let body = serde_json::json!({"name": rack, "restart_method": "blocking"});
        let reply = read_only
            .post_json("/pool/restart_app_group.json", &body)
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        let reply = read_only.get("/pool.json?secrets=true").await.unwrap();
        assert_eq!(reply.status, StatusCode::FORBIDDEN);

        // nobody: sees none of root's apps and may not restart, detach or inspect them.
        if require_for("the checks as nobody", &acting_as_nobody()) {
            check_nobody(&t, &socket, rack_pid).await;
        }
        let pool = pool_json(&t.admin()).await;
        assert_eq!(pids(&pool, &rack), [rack_pid], "nobody changed nothing");
        assert_eq!(group(&pool, &rack)["generation"], 0);

        // Direct access: `status --verbose` shows each process's URL and password.
        let verbose = t.ferry_cmd(&["status", "--verbose"]).await.ok();
        let block = Regex::new(
            r"(?m)^  \* PID: (\d+) .*\n.*\n    URL     : (http://127\.0\.0\.1:\d+)\n    Password: (\S+)$",
        )
        .unwrap();
        let direct: Vec<(u32, String, String)> = block
            .captures_iter(&verbose)
            .map(|c| (c[1].parse().unwrap(), c[2].to_owned(), c[3].to_owned()))
            .collect();
        let mut seen: Vec<u32> = direct.iter().map(|d| d.0).collect();
        seen.sort_unstable();
        let mut expected = vec![wsgi_pid, rack_pid];
        expected.sort_unstable();
        assert_eq!(seen, expected, "{verbose}");
        for (pid, url, password) in &direct {
            let target = format!("{url}/pid");
            let reply = client.get(&target).await.unwrap();
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "no password: {pid}");
            let wrong = [("x-passenger-connect-password", "wrong")];
            let reply = client.get_with(&target, &wrong).await.unwrap();
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "wrong password: {pid}");
            let right = [("x-passenger-connect-password", password.as_str())];
            for _ in 0..3 {
                let reply = client.get_with(&target, &right).await.unwrap();
                assert_eq!(reply.status, StatusCode::OK, "{pid}: {}", reply.text());
                assert_eq!(reply.text(), pid.to_string());
            }
        }
        let wsgi_direct = direct.iter().find(|d| d.0 == wsgi_pid).unwrap();
        let reply = client
            .get_with(
                &format!("{}/hello", wsgi_direct.1),
                &[("x-passenger-connect-password", wsgi_direct.2.as_str())],
            )
            .await
            .unwrap();
        assert_eq!(reply.header("x-pid"), Some(wsgi_pid.to_string().as_str()));
        // The JSON carries the same passwords with secrets, and none without.
        let secret: Value = t
            .admin()
            .get("/pool.json?secrets=true")
            .await
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            group(&secret, &wsgi)["processes"][0]["connect_password"],
            wsgi_direct.2.as_str()
        );
    })
    .await;
}

/// The checks made as `nobody`, through the CLI and a raw request with peer credentials only.
async fn check_nobody(t: &TwoApps, socket: &Path, rack_pid: u32) {
    let rack = t.root(&t.rack);
    let status = t.ferry_cmd_as_nobody(&["status"]).await.ok();
    assert!(!status.contains(&rack), "{status}");
    assert!(
        status.contains("Ferry is currently not serving any applications."),
        "{status}"
    );
    let refused = t.ferry_cmd_as_nobody(&["restart-app", &rack]).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("does not run as your user"),
        "{refused:?}"
    );
    let refused = t
        .ferry_cmd_as_nobody(&["detach-process", &rack_pid.to_string()])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let refused = t.ferry_cmd_as_nobody(&["status", "--show", "server"]).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("not allowed"), "{refused:?}");
    // The status code itself, from a raw request over the socket as nobody.
    if require_for(
        "the 403 of a raw request as nobody",
        &[Requirement::Program("curl")],
    ) {
        let body = format!(r#"{{"name": "{rack}", "restart_method": "blocking"}}"#);
        let mut args = nobody_prefix();
        args.extend(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--unix-socket",
                &socket.display().to_string(),
                "-d",
                &body,
                "http://localhost/pool/restart_app_group.json",
            ]
            .map(String::from),
        );
        let out = tokio::process::Command::new(&args[0])
            .args(&args[1..])
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    }
}

/// Stale instance directories, a custom registry, and the message when nothing runs.
#[tokio::test]
async fn registry_stale_instances_and_custom_directory() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let app = apps::copy_fixture(&apps::fixtures_dir().join("wsgi-stub")).unwrap();
        let dir = apps::temp_dir();
        let custom = dir.path().join("custom");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app.path())
            .arg("--instance-registry-dir")
            .arg(&custom)
            .spawn()
            .await
            .expect("ferry starts");
        let listing = registry::list_instances(&custom).unwrap();
        assert_eq!(listing.instances.len(), 1);
        let live = listing.instances[0].clone();
        assert_eq!(live.properties.pid, ferry.pid());

        // Two stale directories: a dead pid, and a live pid whose lock nobody holds.
        let dead_pid = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            pid
        };
        let stale_dead = fake_instance(&custom, "deadbeef", dead_pid, &live.properties);
        let stale_unlocked =
            fake_instance(&custom, "unlocked", std::process::id(), &live.properties);
        let unrelated = custom.join("not-an-instance");
        std::fs::create_dir(&unrelated).unwrap();

        let custom_arg = custom.to_str().unwrap();
        let out = run(
            None,
            &["list-instances", "--instance-registry-dir", custom_arg].map(OsStr::new),
            &[],
        )
        .await
        .ok();
        assert!(out.contains(&live.properties.name), "{out}");
        assert!(
            !out.contains("deadbeef") && !out.contains("unlocked"),
            "{out}"
        );
        assert!(!stale_dead.exists(), "the dead pid's directory is removed");
        assert!(
            !stale_unlocked.exists(),
            "the unlocked directory is removed"
        );
        assert!(unrelated.exists(), "other directories are left alone");
        assert!(live.path.exists());

        // Told where, `ferry status` finds it (by name prefix too).
        let status = run(
            None,
            &["status", "--instance-registry-dir", custom_arg].map(OsStr::new),
            &[],
        )
        .await
        .ok();
        assert!(
            status.contains(&format!("Instance: {} ", live.properties.name)),
            "{status}"
        );
        assert!(
            status.contains(&format!(
                "  App root: {}",
                app.path().canonicalize().unwrap().display()
            )),
            "{status}"
        );
        let prefix = &live.properties.name[..3];
        run(
            None,
            &[
                "status",
                "--instance",
                prefix,
                "--instance-registry-dir",
                custom_arg,
            ]
            .map(OsStr::new),
            &[],
        )
        .await
        .ok();
        let wrong = run(
            None,
            &[
                "status",
                "--instance",
                "zzzzzzzzz",
                "--instance-registry-dir",
                custom_arg,
            ]
            .map(OsStr::new),
            &[],
        )
        .await;
        assert_eq!(wrong.code, Some(2), "{wrong:?}");
        assert!(
            wrong.stderr.contains("no Ferry instance is named"),
            "{wrong:?}"
        );

        // Told another place: the message says where it looked and what to pass.
        for verb in ["status", "list-instances"] {
            let out = run(
                None,
                &[verb, "--instance-registry-dir", empty.to_str().unwrap()].map(OsStr::new),
                &[],
            )
            .await;
            assert_eq!(out.code, Some(2), "{out:?}");
            assert!(out.stderr.contains("Ferry is not running"), "{out:?}");
            assert!(
                out.stderr.contains(&format!("\n  {}\n", empty.display())),
                "{out:?}"
            );
            assert!(out.stderr.contains("--instance-registry-dir"), "{out:?}");
        }
        // Not told at all: the default places do not include the custom registry. (Another
        // Ferry may run in /run/ferry on this machine, so only this instance's absence is sure.)
        let out = run(
            None,
            &[OsStr::new("status")],
            &[
                ("TMPDIR", Some(empty.as_os_str())),
                ("PASSENGER_TMPDIR", None),
                ("XDG_RUNTIME_DIR", None),
            ],
        )
        .await;
        assert!(!out.stdout.contains(&live.properties.name), "{out:?}");
        if out.stderr.contains("Ferry is not running") {
            assert!(
                out.stderr.contains(&format!("\n  {}", empty.display())),
                "{out:?}"
            );
        }
        drop(ferry);
    })
    .await;
}

/// Writes `REGISTRY/ferry.NAME` with a `properties.json` naming `pid` and a lock file nobody
/// holds; its path.
fn fake_instance(registry: &Path, name: &str, pid: u32, like: &Properties) -> PathBuf {
    let path = registry.join(format!("{}{name}", registry::DIR_PREFIX));
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join(registry::LOCK_FILE), "").unwrap();
    let properties = Properties {
        name: name.to_owned(),
        pid,
        admin_socket: path.join(registry::ADMIN_SOCKET),
        ..like.clone()
    };
    std::fs::write(
        path.join(registry::PROPERTIES_FILE),
        serde_json::to_vec(&properties).unwrap(),
    )
    .unwrap();
    path
}
