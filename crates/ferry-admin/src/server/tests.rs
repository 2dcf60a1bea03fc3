//! The admin API over a real unix socket, against a fake backend.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use ferry_test_support::Requirement;
use http::{Method, StatusCode};
use serde_json::json;

use super::auth::constant_time_eq;
use super::*;
use crate::client::{Client, Credentials, Reply};
use crate::pool::tests::sample;
use crate::pool::PoolState;
use crate::types::tests::{info, server_state};
use crate::types::{RequestInfo, RestartMethod, ServerInfo, ServerState, BASE64};

const FULL: &str = "full-password-123";
const READ_ONLY: &str = "ro-password-456";
/// The uid the fake pool's second group runs as: `nobody`, so that a client running as nobody
/// owns it.
const NOBODY: u32 = 65534;

#[derive(Debug, Default)]
pub(crate) struct FakeBackend {
    pub(crate) calls: Mutex<Vec<String>>,
}

impl FakeBackend {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
}

/// The sample pool, its second group (pid 1500) running as nobody.
fn pool() -> PoolState {
    let mut pool = sample();
    pool.groups[1].uid = Some(NOBODY);
    pool.groups[1].processes[0].uid = Some(NOBODY);
    pool
}

impl AdminBackend for FakeBackend {
    fn pool_state(&self) -> PoolState {
        pool()
    }
    fn server_info(&self) -> ServerInfo {
        info()
    }
    fn requests(&self) -> Vec<RequestInfo> {
        server_state().requests
    }
    fn restart_app(&self, group: &str, method: RestartMethod) -> Result<(), AdminError> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("restart {group} {method:?}"));
        Ok(())
    }
    fn detach_process(&self, pid: u32) -> Result<bool, AdminError> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("detach {pid}"));
        Ok(pid == 100 || pid == 1500)
    }
    fn reopen_logs(&self) -> Result<(), AdminError> {
        self.calls.lock().expect("lock").push("reopen".into());
        Ok(())
    }
    fn set_log_level(&self, level: u8) -> Result<(), AdminError> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("log {level}"));
        Ok(())
    }
    // Issue 18, health:
    fn set_draining(&self, draining: bool) -> Result<(), AdminError> {
        self.calls
            .lock()
            .expect("lock")
            .push(format!("draining {draining}"));
        Ok(())
    }
}

fn config(peer_credentials: bool) -> ApiConfig {
    ApiConfig {
        full_password: FULL.into(),
        read_only_password: READ_ONLY.into(),
        ferry_uid: nix::unistd::geteuid().as_raw(),
        peer_credentials,
        metrics: Arc::new(Metrics::new(["/srv/root-app"])),
    }
}

/// A running API on a socket in a fresh directory (reachable by other users).
struct Running {
    dir: tempfile::TempDir,
    backend: Arc<FakeBackend>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(config: ApiConfig) -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let listener = bind(&dir.path().join("admin.sock")).await.expect("bind");
        let backend = Arc::new(FakeBackend::default());
        let server = AdminServer::new(Arc::clone(&backend), config);
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, server, stop.clone()));
        Running {
            dir,
            backend,
            stop,
            task,
        }
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("admin.sock")
    }

    fn client(&self, credentials: Credentials) -> Client {
        Client::new(self.socket(), credentials).with_timeout(Duration::from_secs(10))
    }

    fn full(&self) -> Client {
        self.client(password("admin", FULL))
    }

    fn read_only(&self) -> Client {
        self.client(password("ro_admin", READ_ONLY))
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve ends")
            .expect("join");
    }
}

fn password(user: &'static str, password: &str) -> Credentials {
    Credentials::Password {
        user,
        password: password.into(),
    }
}

async fn call(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    client
        .request(method, path, body.as_ref())
        .await
        .expect("an answer")
}

#[tokio::test]
async fn without_credentials_or_with_wrong_ones_it_is_401() {
    let api = Running::start(config(false)).await;
    let reply = call(
        &api.client(Credentials::PeerOnly),
        Method::GET,
        "/pool.json",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Basic realm=\"api\"")
    );
    api.stop().await;

    // Peer credentials on, and we may well be root: a wrong password is still refused.
    let api = Running::start(config(true)).await;
    for credentials in [
        password("admin", "wrong"),
        password("ro_admin", FULL),
        password("admin", READ_ONLY),
        password("someone", FULL),
    ] {
        let reply = call(
            &api.client(credentials.clone()),
            Method::GET,
            "/pool.json",
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{credentials:?}");
    }
    api.stop().await;
}

#[tokio::test]
async fn the_read_only_password_reads_but_changes_nothing() {
    let api = Running::start(config(false)).await;
    let ro = api.read_only();
    let reply = call(&ro, Method::GET, "/pool.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let pool: PoolState = reply.json().expect("PoolState");
    assert_eq!(pool.groups.len(), 2);
    assert!(pool.groups[0].processes[0].connect_password.is_none());
    assert_eq!(
        call(&ro, Method::GET, "/pool.json?secrets=true", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/pool/restart_app_group.json",
            json!({"name": "/srv/root-app"}),
        ),
        (
            Method::POST,
            "/pool/detach_process.json",
            json!({"pid": 100}),
        ),
        (Method::POST, "/reopen_logs.json", json!({})),
        (Method::PUT, "/config.json", json!({"log_level": 5})),
    ] {
        let reply = call(&ro, method, path, Some(body)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(api.backend.calls().is_empty());
    for path in [
        "/server.json",
        "/metrics",
        "/pool.xml",
        "/pool.txt",
        "/info.json",
        "/config.json",
    ] {
        assert_eq!(
            call(&ro, Method::GET, path, None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn the_full_password_changes_things() {
    let api = Running::start(config(false)).await;
    let full = api.full();
    let reply = call(
        &full,
        Method::POST,
        "/pool/restart_app_group.json",
        Some(json!({"name": "/srv/root-app"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body: serde_json::Value = reply.json().expect("json");
    assert_eq!(
        body,
        json!({"restarted": true, "groups": ["/srv/root-app"]})
    );
    // By app root, rolling.
    let reply = call(
        &full,
        Method::POST,
        "/pool/restart_app_group.json",
        Some(json!({"name": "/srv/user-app", "restart_method": "rolling"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = call(
        &full,
        Method::POST,
        "/pool/restart_app_group.json",
        Some(json!({"name": "/nope"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = call(
        &full,
        Method::POST,
        "/pool/detach_process.json",
        Some(json!({"pid": 100})),
    )
    .await;
    assert_eq!(
        reply.json::<serde_json::Value>().expect("json"),
        json!({"detached": true})
    );
    let reply = call(
        &full,
        Method::POST,
        "/pool/detach_process.json",
        Some(json!({"pid": 7})),
    )
    .await;
    assert_eq!(
        reply.json::<serde_json::Value>().expect("json"),
        json!({"detached": false})
    );
    assert_eq!(
        call(&full, Method::POST, "/reopen_logs.json", None)
            .await
            .status,
        StatusCode::OK
    );
    let reply = call(
        &full,
        Method::PUT,
        "/config.json",
        Some(json!({"log_level": 5})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        call(
            &full,
            Method::PUT,
            "/config.json",
            Some(json!({"log_level": 9}))
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        api.backend.calls(),
        [
            "restart /srv/root-app Blocking",
            "restart /srv/user-app <&\"tag\"> Rolling",
            "detach 100",
            "detach 7",
            "reopen",
            "log 5",
        ]
    );
    // Secrets for the full password.
    let pool: PoolState = call(&full, Method::GET, "/pool.json?secrets=true", None)
        .await
        .json()
        .expect("json");
    assert_eq!(
        pool.groups[0].processes[0].connect_password.as_deref(),
        Some("secret-100")
    );
    api.stop().await;
}

#[tokio::test]
async fn protocol_errors() {
    let api = Running::start(config(false)).await;
    let full = api.full();
    assert_eq!(
        call(&full, Method::GET, "/nope", None).await.status,
        StatusCode::NOT_FOUND
    );
    let reply = call(&full, Method::DELETE, "/pool.json", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    let reply = call(
        &full,
        Method::POST,
        "/pool/detach_process.json",
        Some(json!({"pid": "x"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let big = json!({ "name": "x".repeat(MAX_BODY + 1) });
    let reply = call(
        &full,
        Method::POST,
        "/pool/restart_app_group.json",
        Some(big),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(api.backend.calls().is_empty());
    api.stop().await;
}

#[tokio::test]
async fn every_format_over_the_socket() {
    let api = Running::start(config(false)).await;
    let ro = api.read_only();
    let xml = call(&ro, Method::GET, "/pool.xml", None).await;
    assert_eq!(
        xml.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/xml")
    );
    roxmltree::Document::parse(&xml.text()).expect("XML parses");
    let text = call(&ro, Method::GET, "/pool.txt", None).await.text();
    assert!(text.starts_with("----------- General information -----------\n"));
    let metrics = call(&ro, Method::GET, "/metrics", None).await;
    assert_eq!(
        metrics
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some(ferry_metrics::CONTENT_TYPE)
    );
    let samples = ferry_test_support::prometheus::parse_exposition(&metrics.text());
    assert!(samples.iter().any(|s| s.name == "ferry_app_queue_length"));
    let info: ServerInfo = call(&ro, Method::GET, "/info.json", None)
        .await
        .json()
        .expect("info");
    assert_eq!(info, self::info());
    let server: ServerState = call(&ro, Method::GET, "/server.json", None)
        .await
        .json()
        .expect("server");
    assert_eq!(server, server_state());
    assert_eq!(
        call(&ro, Method::GET, "/backtraces.txt", None).await.status,
        StatusCode::NOT_IMPLEMENTED
    );
    let ping = call(&ro, Method::GET, "/ping.json", None).await;
    assert_eq!(
        ping.json::<serde_json::Value>().expect("json"),
        json!({"status": "ok"})
    );
    api.stop().await;

    let mut off = config(false);
    off.metrics = Arc::new(Metrics::disabled());
    let api = Running::start(off).await;
    assert_eq!(
        call(&api.read_only(), Method::GET, "/metrics", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    api.stop().await;
}

#[test]
fn authorization_rules() {
    let config = config(true);
    let me = config.ferry_uid;
    let basic = |user: &str, password: &str| {
        http::HeaderValue::from_str(&format!(
            "Basic {}",
            BASE64.encode(format!("{user}:{password}").as_bytes())
        ))
        .expect("header")
    };
    assert_eq!(authorize(None, Some(0), &config), Ok(Access::Full));
    assert_eq!(authorize(None, Some(me), &config), Ok(Access::Full));
    assert_eq!(authorize(None, Some(1234), &config), Ok(Access::User(1234)));
    assert!(authorize(None, None, &config).is_err());
    assert_eq!(
        authorize(Some(&basic("ro_admin", READ_ONLY)), Some(0), &config),
        Ok(Access::ReadOnly),
        "credentials sent are what counts"
    );
    assert_eq!(
        authorize(Some(&basic("admin", FULL)), Some(1234), &config),
        Ok(Access::Full)
    );
    assert!(authorize(Some(&basic("admin", "")), Some(0), &config).is_err());
    let garbage = http::HeaderValue::from_static("Bearer xyz");
    assert!(authorize(Some(&garbage), Some(0), &config).is_err());
    assert!(constant_time_eq("abc", "abc"));
    assert!(!constant_time_eq("abcd", "abc"));
    assert!(!constant_time_eq("", ""));
}

/// Peer credentials for real: a client running as `nobody` sees and restarts only the group
/// running as nobody, and gets 403 for root's app. Needs root (to switch users) and `setpriv`.
#[tokio::test]
async fn another_user_sees_and_restarts_only_their_own_apps() {
    // Acting as another user needs root.
    ferry_test_support::require!(
        Requirement::Root,
        Requirement::Program("setpriv"),
        Requirement::User("nobody"),
        Requirement::Group("nogroup"),
    );
    let api = Running::start(config(true)).await;
    let exe = std::env::current_exe().expect("current exe");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(&exe)
            .args([
                "--exact",
                "server::tests::peer_client_helper",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FERRY_ADMIN_TEST_SOCKET", api.socket())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the helper finishes")
    .expect("the helper runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "helper failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for want in [
        "uid=65534",
        "pool=200 groups=[\"/srv/user-app <&\\\"tag\\\">\"]",
        "pool_secrets=200 password=Some(\"secret-1500\")",
        "restart_root=403",
        "restart_own=200",
        "detach_root=403",
        "detach_own=200",
        "server=403",
        "metrics=403",
        "reopen=403",
        "info=200",
    ] {
        assert!(stdout.contains(want), "{want:?} missing in:\n{stdout}");
    }
    assert_eq!(
        api.backend.calls(),
        ["restart /srv/user-app <&\"tag\"> Blocking", "detach 1500"]
    );
    api.stop().await;
}

/// Run by the test above as `nobody`, through the socket it names; not a test on its own.
#[tokio::test]
#[ignore = "a helper process for another_user_sees_and_restarts_only_their_own_apps"]
async fn peer_client_helper() {
    let Some(socket) = std::env::var_os("FERRY_ADMIN_TEST_SOCKET") else {
        return;
    };
    println!("uid={}", nix::unistd::getuid());
    let client = Client::new(socket, Credentials::PeerOnly).with_timeout(Duration::from_secs(10));
    let reply = call(&client, Method::GET, "/pool.json", None).await;
    let names: Vec<String> = reply
        .json::<PoolState>()
        .map(|p| p.groups.into_iter().map(|g| g.name).collect())
        .unwrap_or_default();
    println!("pool={} groups={names:?}", reply.status.as_u16());
    let reply = call(&client, Method::GET, "/pool.json?secrets=true", None).await;
    let password = reply.json::<PoolState>().ok().and_then(|p| {
        p.groups
            .first()?
            .processes
            .first()?
            .connect_password
            .clone()
    });
    println!(
        "pool_secrets={} password={password:?}",
        reply.status.as_u16()
    );
    for (label, method, path, body) in [
        (
            "restart_root",
            Method::POST,
            "/pool/restart_app_group.json",
            Some(json!({"name": "/srv/root-app"})),
        ),
        (
            "restart_own",
            Method::POST,
            "/pool/restart_app_group.json",
            Some(json!({"name": "/srv/user-app"})),
        ),
        (
            "detach_root",
            Method::POST,
            "/pool/detach_process.json",
            Some(json!({"pid": 100})),
        ),
        (
            "detach_own",
            Method::POST,
            "/pool/detach_process.json",
            Some(json!({"pid": 1500})),
        ),
        ("server", Method::GET, "/server.json", None),
        ("metrics", Method::GET, "/metrics", None),
        ("reopen", Method::POST, "/reopen_logs.json", None),
        ("info", Method::GET, "/info.json", None),
    ] {
        let reply = call(&client, method, path, body).await;
        println!("{label}={}", reply.status.as_u16());
    }
}

// Issue 18, health:
#[tokio::test]
async fn drain_and_undrain_need_full_access() {
    let api = Running::start(config(false)).await;
    for path in ["/drain.json", "/undrain.json"] {
        let reply = call(&api.read_only(), Method::POST, path, None).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(api.backend.calls().is_empty());
    let full = api.full();
    let reply = call(&full, Method::POST, "/drain.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json::<serde_json::Value>().expect("json"),
        json!({"draining": true})
    );
    let reply = call(&full, Method::POST, "/undrain.json", None).await;
    assert_eq!(
        reply.json::<serde_json::Value>().expect("json"),
        json!({"draining": false})
    );
    assert_eq!(
        call(&full, Method::GET, "/drain.json", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        api.backend.calls(),
        vec!["draining true".to_owned(), "draining false".to_owned()]
    );
    api.stop().await;
}
