//! Clients that go away before their response is complete, behind the real `ferry` binary and
//! real apps (issue 16 item 7): the app's connection is reset, never half-closed as if the body
//! had ended, so each loader's app sees an abort instead of a short body; and with
//! `--ignore-client-abort` (`passenger_ignore_client_abort on`) the request runs to its end,
//! its process busy until then, as in Passenger.
//!
//! The fixture apps write down what happened to a request in a record file (`/consume` and
//! `/stream-record`, see their headers); tests wait for those lines and for `ferry status`,
//! never for time to pass.

use std::path::Path;
use std::time::Duration;

use ferry_test_support::record::{consume_head, wait_record};
use ferry_test_support::{apps, bounded, require_program, trace_init, Ferry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(90);
/// How long a test waits for something Ferry or an app does promptly.
const PROMPT: Duration = Duration::from_secs(20);

async fn start(app: &str, args: &[&str]) -> Ferry {
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::fixtures_dir().join(app))
        .args(["--spawn-method", "direct"])
        .args(args)
        .spawn()
        .await
        .expect("ferry starts")
}

/// With buffering off, a client that sends half its `Content-Length` and goes away: each
/// loader's app sees an abort (Ruby and Python raise, Node's request is not complete), never a
/// short body taken for a whole one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_buffering_off_a_client_gone_mid_upload_is_an_abort_in_every_loader() {
    trace_init();
    for (app, program, error) in [
        ("rack-stub", "ruby", "error FerryLoader::ClientDisconnected"),
        ("wsgi-stub", "python3", "error ClientDisconnected"),
        ("node-stub", "node", "error aborted"),
    ] {
        if !ferry_test_support::require::require(&[ferry_test_support::Requirement::Program(
            program,
        )]) {
            continue;
        }
        bounded(LIMIT, async {
            let ferry = start(app, &["--request-buffering", "off"]).await;
            let dir = apps::temp_dir();
            let record = dir.path().join("aborted");
            let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
            let head = consume_head(&record, "Content-Length: 1000\r\n");
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(&[b'x'; 500]).await.unwrap();
            wait_record(&record, "arrived", PROMPT).await;
            drop(stream);
            let lines = wait_record(&record, "error", PROMPT).await;
            assert!(
                lines.iter().any(|l| l.starts_with(error)),
                "{app}: {lines:?}"
            );
            assert!(
                !lines.iter().any(|l| l.starts_with("complete")),
                "{app}: {lines:?}"
            );
        })
        .await;
    }
}

/// The requests in progress in the app's processes, from `ferry status --format json`.
async fn sessions(registry: &Path) -> usize {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["status", "--format", "json", "--instance-registry-dir"])
        .arg(registry)
        .output()
        .await
        .expect("ferry status runs");
    assert!(output.status.success(), "{output:?}");
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    status["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["processes"].as_array().into_iter().flatten())
        .map(|p| p["sessions"].as_u64().unwrap_or(0) as usize)
        .sum()
}

/// A client reads the first line of a streamed response and goes away; then the app writes the
/// rest. Off: Ferry closes the app's connection at once (the session ends while the app still
/// works) and the app's next write fails. On: the response is read to its end and the app
/// finishes; the process stays busy until then. The record's lines, in order.
async fn abort_mid_response(ignore_client_abort: bool) -> Vec<String> {
    let registry = apps::temp_dir();
    let mut args = vec![
        "--max-pool-size",
        "1",
        "--instance-registry-dir",
        registry.path().to_str().unwrap(),
    ];
    if ignore_client_abort {
        args.push("--ignore-client-abort");
    }
    let ferry = start("rack-stub", &args).await;
    let dir = apps::temp_dir();
    let (gate, record) = (dir.path().join("gate"), dir.path().join("record"));
    let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
    let request = format!(
        "GET /stream-record?gate={}&record={} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        gate.display(),
        record.display()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("first\n") {
        let mut piece = [0u8; 4096];
        let n = tokio::time::timeout(PROMPT, stream.read(&mut piece))
            .await
            .expect("the first line in time")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&piece[..n]);
    }
    assert_eq!(sessions(registry.path()).await, 1);
    drop(stream);
    if !ignore_client_abort {
        // Ferry has let go of the app's connection before the app writes again.
        let mut released = false;
        for _ in 0..500 {
            if sessions(registry.path()).await == 0 {
                released = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(released, "the session outlived its client");
    }
    std::fs::write(&gate, "").unwrap();
    let lines = wait_record(&record, "closed", PROMPT).await;
    let mut released = false;
    for _ in 0..500 {
        if sessions(registry.path()).await == 0 {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(released, "the process stayed busy after the app finished");
    lines
}

#[tokio::test]
async fn a_client_gone_mid_response_closes_the_apps_connection() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let lines = abort_mid_response(false).await;
        assert_eq!(
            lines,
            ["closed"],
            "the app's write failed: it never finished"
        );
    })
    .await;
}

#[tokio::test]
async fn with_ignore_client_abort_the_request_runs_to_its_end() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let lines = abort_mid_response(true).await;
        assert_eq!(
            lines,
            ["finished", "closed"],
            "the app wrote its whole response"
        );
    })
    .await;
}
