//! `ferry start` reads the app's `Passengerfile.json` and `FERRY_*`/`PASSENGER_*` environment
//! variables (issue 6, item 6), with the precedence command line > environment > Passengerfile >
//! defaults; a file with a value of the wrong type stops Ferry with exit 64, naming the file and
//! the key.
//!
//! Each test runs a copy of the WSGI stub with its own Passengerfile, and `min_instances` shows
//! which source won. The binary test watches the pool start that many processes after the first
//! request; the precedence tests run Ferry in-process (`ferry_test_support::in_process`), where
//! the resolved configuration can be read directly instead of watched for seconds to show that
//! a second process does *not* start.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ferry_config::StartOptions;
use ferry_test_support::client::{self, Client};
use ferry_test_support::http::StatusCode;
use ferry_test_support::{
    apps, bounded, in_process, poll_until, procfs, require_program, trace_init, Ferry,
};
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(60);
const EX_USAGE: i32 = 64;

/// A copy of the WSGI stub with this `Passengerfile.json`.
fn app_with(passengerfile: &str) -> TempDir {
    let dir = apps::copy_fixture(&apps::fixtures_dir().join("wsgi-stub")).expect("copy");
    std::fs::write(dir.path().join("Passengerfile.json"), passengerfile).unwrap();
    dir
}

async fn start(dir: &Path) -> Ferry {
    // Counts the app's processes under Ferry: spawned directly, no preloader is among them.
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir)
        .args(["--spawn-method", "direct"])
        .spawn()
        .await
        .expect("ferry starts")
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
        let ferry = start(dir.path()).await;
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

/// In-process Ferry on `dir` with these options (the command line's layer) and environment (the
/// `FERRY_*`/`PASSENGER_*` layer); after the first request is served, the `min_instances` the
/// configuration resolved to.
async fn min_instances(
    dir: &Path,
    options: impl FnOnce(&mut StartOptions),
    env: &[(&str, &str)],
) -> usize {
    let mut builder = in_process::Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir).options(options);
    for (name, value) in env {
        builder = builder.env(*name, *value);
    }
    let ferry = builder.start().await.expect("ferry starts");
    let reply = Client::new().get(&ferry.url_for("/pid")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", ferry.log());
    ferry.deployment().apps[0].min_instances
}

#[tokio::test]
async fn the_command_line_overrides_the_passengerfile() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = app_with(r#"{"max_pool_size": 2, "min_instances": 2}"#);
        let found = min_instances(dir.path(), |o| o.min_instances = Some(1), &[]).await;
        assert_eq!(found, 1);
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
        assert_eq!(min_instances(dir.path(), |_| {}, &env).await, 1);

        // And upwards: the file says 1, the environment 2.
        let dir = app_with(r#"{"max_pool_size": 2, "min_instances": 1}"#);
        let env = [("PASSENGER_MIN_INSTANCES", "2")];
        assert_eq!(min_instances(dir.path(), |_| {}, &env).await, 2);
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
        let found = min_instances(dir.path(), |o| o.min_instances = Some(2), &env).await;
        assert_eq!(found, 2);
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
