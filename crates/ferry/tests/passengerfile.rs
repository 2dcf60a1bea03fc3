//! `ferry start` reads the app's `Passengerfile.json` and `FERRY_*`/`PASSENGER_*` environment
//! variables (issue 6, item 6), with the precedence command line > environment > Passengerfile >
//! defaults; a file with a value of the wrong type stops Ferry with exit 64, naming the file and
//! the key.
//!
//! Each test runs a copy of the WSGI stub with its own Passengerfile. `min_instances` shows which
//! source won: the pool starts that many processes after the first request.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ferry_test_support::client::{self, Client};
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, poll_until, procfs, require_program, trace_init, Ferry};
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(60);
const EX_USAGE: i32 = 64;

/// A copy of the WSGI stub with this `Passengerfile.json`.
fn app_with(passengerfile: &str) -> TempDir {
    let dir = apps::copy_fixture(&apps::fixtures_dir().join("wsgi-stub")).expect("copy");
    std::fs::write(dir.path().join("Passengerfile.json"), passengerfile).unwrap();
    dir
}

async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Ferry {
    // Counts the app's processes under Ferry: spawned directly, no preloader is among them.
    let mut builder = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir)
        .args(["--spawn-method", "direct"])
        .args(args);
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    builder.spawn().await.expect("ferry starts")
}

/// The app processes (loaders) under Ferry.
fn app_processes(ferry: &Ferry) -> Vec<u32> {
    ferry
        .descendants()
        .into_iter()
        .filter(|&pid| procfs::cmdline(pid).is_some_and(|c| c.contains("wsgi-loader")))
        .collect()
}

/// Sends the first request, which starts the app; the pool then grows to `min_instances`.
async fn first_request(ferry: &Ferry) -> u32 {
    let reply = Client::new().get(&ferry.url_for("/pid")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    reply.text().trim().parse().expect("a pid")
}

/// Waits for `n` app processes; fails with the log if they do not appear.
async fn expect_processes(ferry: &Ferry, n: usize) {
    let found = poll_until(Duration::from_secs(20), || {
        (app_processes(ferry).len() == n).then_some(())
    })
    .await;
    assert!(
        found.is_some(),
        "expected {n} app processes, found {}\n{}",
        app_processes(ferry).len(),
        ferry.log()
    );
}

/// Asserts that the pool does not grow past one process. A second one, if `min_instances` were
/// 2, is started right after the first request; three seconds is several times a stub's spawn.
async fn expect_one_process(ferry: &Ferry) {
    let grew = poll_until(Duration::from_secs(3), || {
        (app_processes(ferry).len() > 1).then_some(())
    })
    .await;
    assert!(grew.is_none(), "a second process started\n{}", ferry.log());
    assert_eq!(app_processes(ferry).len(), 1);
}

/// The variable `name` in the environment of process `pid`.
fn env_of(pid: u32, name: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    raw.split(|&b| b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_owned)
    })
}

#[tokio::test]
async fn the_passengerfile_sets_pool_limits_and_envvars() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = app_with(
            r#"{"max_pool_size": 2, "min_instances": 2,
                "envvars": {"FERRY_FROM_PASSENGERFILE": "yes it is"},
                "colour": "blue"}"#,
        );
        let ferry = start(dir.path(), &[], &[]).await;
        let pid = first_request(&ferry).await;
        expect_processes(&ferry, 2).await;
        assert_eq!(
            env_of(pid, "FERRY_FROM_PASSENGERFILE").as_deref(),
            Some("yes it is")
        );
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        ferry
            .wait_for_log("unknown option \"colour\"; ignored", Duration::from_secs(5))
            .await
            .expect("the unknown key is a warning naming it");
        assert!(
            ferry.log().contains("Passengerfile.json"),
            "{}",
            ferry.log()
        );
    })
    .await;
}

#[tokio::test]
async fn the_command_line_overrides_the_passengerfile() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = app_with(r#"{"max_pool_size": 2, "min_instances": 2}"#);
        let ferry = start(dir.path(), &["--min-instances", "1"], &[]).await;
        first_request(&ferry).await;
        expect_one_process(&ferry).await;
    })
    .await;
}

#[tokio::test]
async fn the_environment_overrides_the_passengerfile() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = app_with(r#"{"max_pool_size": 2, "min_instances": 2}"#);
        let env = [("PASSENGER_MIN_INSTANCES", "1")];
        let ferry = start(dir.path(), &[], &env).await;
        first_request(&ferry).await;
        expect_one_process(&ferry).await;

        // And upwards: the file says 1, the environment 2.
        let dir = app_with(r#"{"max_pool_size": 2, "min_instances": 1}"#);
        let env = [("PASSENGER_MIN_INSTANCES", "2")];
        let ferry = start(dir.path(), &[], &env).await;
        first_request(&ferry).await;
        expect_processes(&ferry, 2).await;
    })
    .await;
}

#[tokio::test]
async fn the_command_line_overrides_the_environment() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = app_with(r#"{"max_pool_size": 2, "min_instances": 1}"#);
        let env = [("PASSENGER_MIN_INSTANCES", "1")];
        let ferry = start(dir.path(), &["--min-instances", "2"], &env).await;
        first_request(&ferry).await;
        expect_processes(&ferry, 2).await;
    })
    .await;
}

#[test]
fn a_value_of_the_wrong_type_exits_64_naming_the_file_and_key() {
    let dir = app_with(r#"{"max_pool_size": "two"}"#);
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["start", "--port", "0"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("ferry runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EX_USAGE), "{stderr}");
    let file = dir.path().join("Passengerfile.json");
    assert_eq!(
        stderr.trim(),
        format!(
            "ferry: invalid configuration: {}: max_pool_size must be a non-negative integer, \
             not \"two\"",
            file.display()
        )
    );
}
