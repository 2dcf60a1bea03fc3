//! The direct spawner on its own, with the real `ferry` binary as the environment setupper:
//! the generic route, the SpawningKit handshake through `finish` and `properties.json`, failures,
//! and Passenger 6's own loaders (compatibility).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_spawn::{
    AppKind, Category, Concurrency, DirectSpawner, Endpoint, Protocol, SpawnOptions, Spawner,
    SpawnerConfig, Step, StopMode,
};
use ferry_test_support::ferry::current_user;
use ferry_test_support::require::PASSENGER_HELPER_SCRIPTS;
use ferry_test_support::{bounded, require, require_program, Requirement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);

fn spawner() -> DirectSpawner {
    DirectSpawner::new(SpawnerConfig::new(vec![
        env!("CARGO_BIN_EXE_ferry").into(),
        "spawn-env-setupper".into(),
    ]))
}

/// A generic app in `root`, run as the current user so the test behaves the same as root or not.
fn options(root: &Path, cmd: &str, timeout: Duration) -> SpawnOptions {
    let mut options = SpawnOptions::generic(root, cmd);
    options.start_timeout = timeout;
    options.env.push(("FERRY_TEST_VAR".into(), "yes".into()));
    options.user_switching.user = Some(current_user());
    // The current user may be root, which an app may be only when allowed.
    options.user_switching.allow_root = true;
    options
}

#[tokio::test]
async fn a_generic_app_is_up_once_its_port_accepts() {
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let cmd = "python3 -m http.server $PORT --bind 127.0.0.1";
        let spawned = spawner()
            .spawn(&options(dir.path(), cmd, Duration::from_secs(20)))
            .await
            .expect("spawn");
        let Endpoint::Tcp(addr) = spawned.endpoint else {
            panic!("tcp endpoint")
        };
        tokio::net::TcpStream::connect(addr)
            .await
            .expect("app accepts");
        assert_eq!(spawned.concurrency, Concurrency::Unlimited);
        assert_eq!(spawned.protocol, Protocol::Http);
        assert!(spawned.journey.duration(Step::HandshakePerform).is_some());
        spawned
            .handle
            .stop(StopMode::Graceful(Duration::from_secs(5)));
        let info = spawned.handle.wait().await;
        assert!(info.code.is_some() || info.signal.is_some());
    })
    .await;
}

#[tokio::test]
async fn an_app_that_exits_reports_its_output_status_and_step() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let cmd = "echo out-marker; echo err-marker >&2; echo $FERRY_TEST_VAR $NODE_ENV; exit 3";
        let err = spawner()
            .spawn(&options(dir.path(), cmd, Duration::from_secs(20)))
            .await
            .expect_err("must fail");
        assert_eq!(err.step(), Step::SubprocessAppLoadOrExec);
        assert_eq!(err.category(), Category::Internal);
        assert!(
            err.summary().contains("exited with status 3"),
            "{}",
            err.summary()
        );
        for marker in ["out-marker", "err-marker", "yes production"] {
            assert!(err.output().contains(marker), "{:?}", err.output());
        }
        let env = err
            .subprocess_env()
            .expect("the setupper dumped its environment");
        assert!(env
            .envvars
            .as_deref()
            .unwrap_or("")
            .contains("IN_PASSENGER=1"));
        assert_eq!(err.id().len(), 8);
    })
    .await;
}

#[tokio::test]
async fn an_app_that_never_listens_is_killed_at_the_timeout() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let cmd = "echo waiting-forever; exec sleep 600";
        let err = spawner()
            .spawn(&options(dir.path(), cmd, Duration::from_millis(500)))
            .await
            .expect_err("must time out");
        assert!(err.is_timeout());
        assert_eq!(err.category(), Category::Timeout);
        assert_eq!(err.step(), Step::SubprocessAppLoadOrExec);
        assert!(err.output().contains("waiting-forever"));
    })
    .await;
}

#[tokio::test]
async fn a_missing_app_root_fails_in_the_setupper() {
    bounded(LIMIT, async {
        let mut opts = options(Path::new("/"), "true", Duration::from_secs(10));
        opts.app_root = "/nonexistent/ferry/app".into();
        let err = spawner().spawn(&opts).await.expect_err("must fail");
        assert_eq!(err.step(), Step::SubprocessSpawnEnvSetupperBeforeShell);
        assert_eq!(err.category(), Category::FileSystem);
        assert!(
            err.summary().contains("/nonexistent/ferry/app"),
            "{}",
            err.summary()
        );
        assert!(err.solution_html().contains("--user"));
    })
    .await;
}

#[tokio::test]
async fn shutdown_aborts_a_spawn_in_progress_and_reaps_it() {
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let spawner = spawner();
        let opts = options(dir.path(), "exec sleep 600", Duration::from_secs(600));
        let spawning = spawner.spawn(&opts);
        let stopping = async {
            tokio::task::yield_now().await;
            spawner.shutdown().await;
        };
        let (result, ()) = tokio::join!(spawning, stopping);
        let err = result.expect_err("aborted");
        assert!(err.summary().contains("shutting down"), "{}", err.summary());
    })
    .await;
}

/// A SpawningKit-enabled app written in Python: listens on a unix socket, reports it in
/// `properties.json`, writes `1` to `finish`, serves HTTP.
const KURIA_APP: &str = r#"
import json, os, socket, sys
wd = os.environ["PASSENGER_SPAWN_WORK_DIR"]
args = json.load(open(wd + "/args.json"))
path = os.path.join(args["socket_dir"], "kuria.%d" % os.getpid())
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(10)
print("work dir", wd, flush=True)
json.dump({"sockets": [{"address": "unix:" + path, "protocol": "http", "concurrency": 1,
           "accept_http_requests": True}]}, open(wd + "/response/properties.json", "w"))
with open(wd + "/response/finish", "w") as f: f.write("1")
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nkuria"); c.close()
"#;

#[tokio::test]
async fn a_spawning_kit_app_is_up_when_it_writes_finish() {
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.py"), KURIA_APP).unwrap();
        let mut opts = options(dir.path(), "python3 app.py", Duration::from_secs(20));
        opts.kind = AppKind::SpawningKit { wrapper: false };
        let spawned = spawner().spawn(&opts).await.expect("spawn");
        let Endpoint::Unix(path) = &spawned.endpoint else {
            panic!("unix endpoint, got {:?}", spawned.endpoint)
        };
        assert_eq!(
            spawned.concurrency,
            Concurrency::Limited(1.try_into().unwrap())
        );
        let mut conn = tokio::net::UnixStream::connect(path).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        assert!(answer.ends_with("kuria"), "{answer}");
        // Every subprocess step is performed and the work directory is gone.
        assert!(spawned
            .journey
            .steps()
            .iter()
            .all(|r| r.state == ferry_spawn::StepState::Performed));
        spawned.handle.stop(StopMode::Kill);
        spawned.handle.wait().await;
    })
    .await;
}

#[tokio::test]
async fn the_work_directory_is_removed_after_a_successful_spawn() {
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("wd");
        let cmd = format!(
            "echo $PASSENGER_SPAWN_WORK_DIR > {}; exec python3 -m http.server $PORT --bind 127.0.0.1",
            marker.display()
        );
        let spawned = spawner()
            .spawn(&options(dir.path(), &cmd, Duration::from_secs(20)))
            .await
            .expect("spawn");
        let wd = PathBuf::from(std::fs::read_to_string(&marker).unwrap().trim());
        assert!(wd.to_string_lossy().contains("ferry.spawn."), "{}", wd.display());
        // Removed in the background once the spawn is done.
        let gone = ferry_test_support::poll_until(Duration::from_secs(10), || {
            (!wd.exists()).then_some(())
        })
        .await;
        assert!(gone.is_some(), "{} still exists", wd.display());
        spawned.handle.stop(StopMode::Kill);
        spawned.handle.wait().await;
    })
    .await;
}

// === Passenger 6's own loaders ===

async fn spawn_with_passenger_loader(
    loader: &str,
    interpreter: &str,
    startup: (&str, &str),
    extra: Vec<(String, serde_json::Value)>,
) -> ferry_spawn::Spawned {
    // The caller required `Requirement::PassengerPackage`.
    let scripts = Path::new(PASSENGER_HELPER_SCRIPTS);
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(dir.join(startup.0), startup.1).unwrap();
    let cmd = format!("{interpreter} {}", scripts.join(loader).display());
    let mut opts = options(&dir, &cmd, Duration::from_secs(30));
    opts.kind = AppKind::SpawningKit { wrapper: true };
    opts.startup_file = Some(dir.join(startup.0));
    opts.extra_args = extra;
    opts.extra_args
        .push(("connect_password".into(), CONNECT_PASSWORD.into()));
    match spawner().spawn(&opts).await {
        Ok(spawned) => spawned,
        Err(e) => panic!("{e}\n{}\noutput:\n{}", e.problem_html(), e.output()),
    }
}

/// The connect password the tests give the loaders (Passenger's Ruby loader checks it).
const CONNECT_PASSWORD: &str = "ferrytestpasswrd";

/// Sends one request in Passenger's `session` protocol and returns the raw answer.
async fn session_request(path: &Path) -> String {
    let pairs: &[(&str, &str)] = &[
        ("PASSENGER_CONNECT_PASSWORD", CONNECT_PASSWORD),
        ("REQUEST_METHOD", "GET"),
        ("PATH_INFO", "/"),
        ("SCRIPT_NAME", ""),
        ("QUERY_STRING", ""),
        ("REQUEST_URI", "/"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "0"),
        ("HTTP_HOST", "localhost"),
    ];
    let mut head = Vec::new();
    for (k, v) in pairs {
        head.extend_from_slice(k.as_bytes());
        head.push(0);
        head.extend_from_slice(v.as_bytes());
        head.push(0);
    }
    let mut conn = tokio::net::UnixStream::connect(path).await.unwrap();
    conn.write_all(&(head.len() as u32).to_be_bytes())
        .await
        .unwrap();
    conn.write_all(&head).await.unwrap();
    conn.shutdown().await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn passengers_wsgi_loader_completes_the_handshake() {
    require_program!("python3");
    require!(Requirement::PassengerPackage);
    bounded(LIMIT, async {
        let app = "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'wsgi says hi']\n";
        let spawned = spawn_with_passenger_loader(
            "wsgi-loader.py",
            "python3",
            ("passenger_wsgi.py", app),
            Vec::new(),
        )
        .await;
        assert_eq!(spawned.protocol, Protocol::Session);
        let Endpoint::Unix(path) = &spawned.endpoint else {
            panic!("unix socket")
        };
        let answer = session_request(path).await;
        assert!(answer.contains("200 OK") && answer.ends_with("wsgi says hi"), "{answer}");
        spawned.handle.stop(StopMode::Graceful(Duration::from_secs(10)));
        spawned.handle.wait().await;
    })
    .await;
}

#[tokio::test]
async fn passengers_rack_loader_completes_the_handshake() {
    require_program!("ruby");
    require!(Requirement::PassengerPackage);
    bounded(LIMIT, async {
        let app =
            "run lambda { |env| [200, {'content-type' => 'text/plain'}, ['rack says hi']] }\n";
        // Passenger's Ruby loader loads its support library from these two arguments.
        let extra = vec![
            ("ruby_libdir".into(), "/usr/lib/ruby/vendor_ruby".into()),
            (
                "passenger_root".into(),
                "/usr/lib/ruby/vendor_ruby/phusion_passenger/locations.ini".into(),
            ),
        ];
        let spawned =
            spawn_with_passenger_loader("rack-loader.rb", "ruby", ("config.ru", app), extra).await;
        assert_eq!(spawned.protocol, Protocol::Session);
        let Endpoint::Unix(path) = &spawned.endpoint else {
            panic!("unix socket")
        };
        let answer = session_request(path).await;
        assert!(
            answer.contains("200") && answer.ends_with("rack says hi"),
            "{answer}"
        );
        spawned
            .handle
            .stop(StopMode::Graceful(Duration::from_secs(10)));
        spawned.handle.wait().await;
    })
    .await;
}
