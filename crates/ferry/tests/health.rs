//! Issue 18, health: the health path on the serving port (`--health-path`, `passenger_health_check
//! on`), `ferry drain` / `ferry undrain`, and SIGTERM's `--shutdown-delay`, behind the real
//! binary with real Node apps.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{
    apps, bounded, config_user_directives, require_program, trace_init, Ferry, Signal,
};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
/// How long an app may take to start, or Ferry to react, before a poll gives up.
const WAIT: Duration = Duration::from_secs(60);

/// A Node app that listens only once the file `gate` exists in its directory: it is still
/// starting for as long as the test wants.
const GATED_APP: &str = r#"
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('pid=' + process.pid + '\n');
});
const gate = path.join(__dirname, 'gate');
const wait = setInterval(() => {
  if (fs.existsSync(gate)) {
    clearInterval(wait);
    server.listen(Number(process.env.PORT) || 3000, '127.0.0.1');
  }
}, 20);
"#;

/// A Ferry and the registry its admin commands look in.
struct Running {
    ferry: Ferry,
    registry: PathBuf,
    _dir: tempfile::TempDir,
}

/// The gated app in a fresh directory; the directory.
fn gated_app() -> tempfile::TempDir {
    let dir = apps::temp_dir();
    std::fs::write(dir.path().join("app.js"), GATED_APP).unwrap();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    dir
}

async fn start(app_dir: &Path, dir: tempfile::TempDir, args: &[&str]) -> Running {
    let registry = dir.path().join("registry");
    std::fs::create_dir(&registry).unwrap();
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app_dir)
        .arg("--instance-registry-dir")
        .arg(&registry)
        .args(args)
        .spawn()
        .await
        .expect("ferry starts");
    Running {
        ferry,
        registry,
        _dir: dir,
    }
}

impl Running {
    /// `GET /healthz` on a new connection: its status and JSON body.
    async fn health(&self) -> (StatusCode, Value) {
        let reply = Client::new()
            .get(&self.ferry.url_for("/healthz"))
            .await
            .expect("the health path answers");
        assert_eq!(
            reply.header("cache-control"),
            Some("no-store"),
            "{:?}",
            reply.headers
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let body = serde_json::from_slice(&reply.body).expect("a JSON body");
        (reply.status, body)
    }

    /// Polls the health path (bounded) until it answers `status`; its body then.
    async fn wait_for_health(&self, status: StatusCode) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            let (now, body) = self.health().await;
            if now == status {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the health path still answers {now} {body} after {WAIT:?}\n{}",
                self.ferry.log()
            );
        }
    }

    /// `ferry ARGS --instance-registry-dir REGISTRY`: its exit code and stdout.
    async fn ferry_cmd(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = tokio::time::timeout(
            WAIT,
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
                .args(args)
                .arg("--instance-registry-dir")
                .arg(&self.registry)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("the command finishes")
        .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// `GET path` on a new connection answers 200.
    async fn assert_served(&self, path: &str) {
        let reply = Client::new().get(&self.ferry.url_for(path)).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    }

    async fn stop(self) {
        self.ferry.signal(Signal::SIGTERM).unwrap();
        let status = self.ferry.wait_exit(WAIT).await.expect("ferry exits");
        assert_eq!(status.code(), Some(0), "exit status {status}");
    }
}

#[tokio::test]
async fn health_waits_for_the_app_and_follows_drain_and_undrain() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let app = gated_app();
        let dir = apps::temp_dir();
        let ferry = start(app.path(), dir, &["--health-path", "/healthz"]).await;

        // min_instances is 1: Ferry starts the app at once, and it cannot finish starting.
        let (status, body) = ferry.health().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "starting", "{body}");
        assert_eq!(body["apps"][0]["processes"], 0, "{body}");
        assert_eq!(body["apps"][0]["required"], true, "{body}");

        // The test sends no request to the app: Ferry started it for the health path.
        std::fs::write(app.path().join("gate"), "").unwrap();
        let body = ferry.wait_for_health(StatusCode::OK).await;
        assert_eq!(body["status"], "ready", "{body}");
        assert_eq!(body["apps"][0]["processes"], 1, "{body}");
        let head = Client::new()
            .head(&ferry.ferry.url_for("/healthz"))
            .await
            .unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());

        let (code, out) = ferry.ferry_cmd(&["drain"]).await;
        assert_eq!(code, Some(0), "{out}");
        let (status, body) = ferry.health().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "draining", "{body}");
        assert_eq!(body["apps"][0]["processes"], 1, "{body}");
        // Draining changes the health path only.
        ferry.assert_served("/").await;
        let (code, status_text) = ferry.ferry_cmd(&["status"]).await;
        assert_eq!(code, Some(0), "{status_text}");
        assert!(status_text.contains("Ferry is draining"), "{status_text}");
        let (_, server) = ferry.ferry_cmd(&["status", "--show=server"]).await;
        assert!(server.contains("\nState        : Draining\n"), "{server}");
        let (_, json) = ferry
            .ferry_cmd(&["status", "--show=server", "--format=json"])
            .await;
        let json: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(json["info"]["draining"], true, "{json}");

        let (code, out) = ferry.ferry_cmd(&["undrain"]).await;
        assert_eq!(code, Some(0), "{out}");
        let (status, body) = ferry.health().await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, status_text) = ferry.ferry_cmd(&["status"]).await;
        assert!(!status_text.contains("draining"), "{status_text}");
        assert!(ferry.ferry.log().contains("draining (ferry drain)"));
        ferry.stop().await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_delay_keeps_serving_with_the_health_path_at_503() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = start(
            &apps::node_test(),
            dir,
            &["--health-path", "/healthz", "--shutdown-delay", "2"],
        )
        .await;
        ferry.wait_for_health(StatusCode::OK).await;
        let addr = ferry.ferry.addr();

        ferry.ferry.signal(Signal::SIGTERM).unwrap();
        ferry
            .ferry
            .wait_for_log("shutdown delay: the health path answers 503", WAIT)
            .await
            .expect("the delay begins");
        // Within the delay (2 s): new connections are accepted and served.
        let (status, body) = ferry.health().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "stopping", "{body}");
        ferry.assert_served("/hello").await;

        // Then Ferry stops accepting, drains and exits 0.
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Ferry still accepts connections {WAIT:?} after SIGTERM"
            );
        }
        let status = ferry.ferry.wait_exit(WAIT).await.expect("ferry exits");
        assert_eq!(status.code(), Some(0), "exit status {status}");
        let log = ferry.ferry.log();
        let delay_over = log.find("shutdown delay over").expect("the delay ends");
        let draining = log
            .find("shutting down: finishing in-flight requests")
            .expect("then the drain");
        assert!(delay_over < draining, "{log}");
    })
    .await;
}

#[tokio::test]
async fn a_second_sigterm_cuts_the_shutdown_delay_short() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = start(&apps::node_test(), dir, &["--shutdown-delay", "600"]).await;
        ferry.assert_served("/hello").await;
        ferry.ferry.signal(Signal::SIGTERM).unwrap();
        ferry
            .ferry
            .wait_for_log("shutdown delay: the health path answers 503", WAIT)
            .await
            .expect("the delay begins");
        ferry.assert_served("/hello").await;
        ferry.ferry.signal(Signal::SIGTERM).unwrap();
        let status = ferry.ferry.wait_exit(WAIT).await.expect("ferry exits");
        assert_eq!(status.code(), Some(0), "exit status {status}");
        assert!(ferry.ferry.log().contains("cut short by a second signal"));
    })
    .await;
}

#[tokio::test]
async fn a_health_location_in_a_configuration_file() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let app = gated_app();
        let dir = apps::temp_dir();
        let file = dir.path().join("ferry.conf");
        let registry = dir.path().join("registry");
        std::fs::create_dir(&registry).unwrap();
        std::fs::write(
            &file,
            format!(
                r#"
http {{
    {users}
    server {{
        listen 127.0.0.1:0;
        root {root}/public;
        passenger_enabled on;
        location = /healthz {{
            passenger_health_check on;
        }}
    }}
}}
"#,
                users = config_user_directives(),
                root = app.path().display()
            ),
        )
        .unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
            .arg("--instance-registry-dir")
            .arg(&registry)
            .spawn()
            .await
            .expect("ferry starts");
        let running = Running {
            ferry,
            registry,
            _dir: dir,
        };
        let (status, body) = running.health().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "starting", "{body}");
        // A POST to the health location is refused; nothing reaches the app.
        let reply = Client::new()
            .upload(
                ferry_test_support::http::Method::POST,
                &running.ferry.url_for("/healthz"),
                ferry_test_support::body::empty(),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        std::fs::write(app.path().join("gate"), "").unwrap();
        let body = running.wait_for_health(StatusCode::OK).await;
        assert_eq!(body["apps"][0]["processes"], 1, "{body}");
        running.assert_served("/").await;
        running.stop().await;
    })
    .await;
}
