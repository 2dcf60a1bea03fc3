//! `--pre-start URL` (Passenger's `passenger_pre_start`) behind the real `ferry` binary: once
//! Ferry listens it sends `HEAD` for each URL in order, so the app starts before anyone asks;
//! a failed pre-start request is logged and does not stop Ferry; an `https` URL is a
//! configuration error.
//!
//! The WSGI stub answers `/hello` with 200 and `/status/<code>` with that code (`/` is a 404).

use std::time::Duration;

use ferry_test_support::client;
use ferry_test_support::ferry::BIN_OVERRIDE_ENV;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, poll_until, procfs, require_program, trace_init, Ferry};
use tokio::net::TcpListener;

const LIMIT: Duration = Duration::from_secs(90);
/// Ferry's own limit per pre-start request, which covers the app's spawn.
const PRE_START_TIMEOUT: Duration = Duration::from_secs(60);

async fn start(args: &[&str]) -> Ferry {
    Ferry::new(
        env!("CARGO_BIN_EXE_ferry"),
        apps::fixtures_dir().join("wsgi-stub"),
    )
    // Counts the app's processes under Ferry: spawned directly, no preloader is among them.
    .args(["--spawn-method", "direct"])
    .args(args)
    .spawn()
    .await
    .expect("ferry starts")
}

/// The app processes (loaders) under Ferry.
fn app_processes(ferry: &Ferry) -> usize {
    ferry
        .descendants()
        .into_iter()
        .filter(|&pid| procfs::cmdline(pid).is_some_and(|c| c.contains("wsgi-loader")))
        .count()
}

#[tokio::test]
async fn pre_start_starts_the_app_before_any_request() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        // A path alone, and a URL without a port: both go to Ferry's own listener.
        let ferry = start(&[
            "--pre-start",
            "/hello",
            "--pre-start",
            "http://ferry.test/status/204",
        ])
        .await;
        // The test sends nothing: the process exists because of the pre-start request.
        poll_until(PRE_START_TIMEOUT, || {
            (app_processes(&ferry) > 0).then_some(())
        })
        .await
        .expect("an app process starts without a request from the test");
        let first = "pre-start request to /hello: 200 OK";
        let second = "pre-start request to http://ferry.test/status/204: 204";
        for line in [first, second] {
            ferry
                .wait_for_log(line, PRE_START_TIMEOUT)
                .await
                .expect("the pre-start outcome is logged");
        }
        let log = ferry.log();
        assert!(log.find(first) < log.find(second), "sent in order:\n{log}");
        assert_eq!(app_processes(&ferry), 1, "one process serves both");
    })
    .await;
}

#[tokio::test]
async fn a_failed_pre_start_request_is_logged_and_ferry_serves_on() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        // Something on an explicit port that is not an HTTP server: it hangs up at once.
        let rude = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = rude.local_addr().unwrap().port();
        let hang_up = tokio::spawn(async move {
            while let Ok((conn, _)) = rude.accept().await {
                drop(conn);
            }
        });
        let rude_url = format!("http://localhost:{port}/");
        let ferry = start(&["--pre-start", &rude_url, "--pre-start", "/hello"]).await;
        ferry
            .wait_for_log(
                &format!("pre-start request to {rude_url} failed"),
                PRE_START_TIMEOUT,
            )
            .await
            .expect("the failure is logged");
        ferry
            .wait_for_log("pre-start request to /hello: 200 OK", PRE_START_TIMEOUT)
            .await
            .expect("the next URL is still sent");
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        hang_up.abort();
    })
    .await;
}

#[tokio::test]
async fn an_https_pre_start_url_is_a_configuration_error() {
    trace_init();
    bounded(LIMIT, async {
        let bin = std::env::var_os(BIN_OVERRIDE_ENV)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_ferry").into());
        let output = tokio::process::Command::new(bin)
            .arg("start")
            .arg(apps::fixtures_dir().join("wsgi-stub"))
            .args(["--address", "127.0.0.1", "--port", "0"])
            .args(["--pre-start", "https://example.com/"])
            .kill_on_drop(true)
            .output()
            .await
            .expect("ferry runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "stderr: {stderr}");
        assert!(
            stderr
                .contains("--pre-start=https://example.com/ is not valid: https is not supported"),
            "stderr: {stderr}"
        );
        assert!(output.stdout.is_empty(), "ferry did not listen");
    })
    .await;
}
