//! SIGTERM and SIGINT: Ferry lets in-flight requests finish, stops and reaps its app processes,
//! and exits 0. SIGKILL: its apps die with it.

use std::collections::BTreeSet;
use std::time::Duration;

use ferry_test_support::client::{request, Client, Reply};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{
    apps, body, bounded, poll_until, procfs, require_program, trace_init, Ferry, Signal,
};

const IN_FLIGHT: usize = 4;

/// Waits (bounded) until none of `pids` exists, zombies included; returns the leftovers.
async fn leftovers(pids: &[u32]) -> Vec<u32> {
    let alive = || -> Vec<u32> {
        pids.iter()
            .copied()
            .filter(|&p| procfs::process_exists(p))
            .collect()
    };
    match poll_until(Duration::from_secs(5), || alive().is_empty().then_some(())).await {
        Some(()) => Vec::new(),
        None => alive(),
    }
}

/// The pids the app printed in `<ready> pid=N` lines, as they appear in Ferry's log.
fn started_pids(log: &str, ready: &str) -> BTreeSet<u32> {
    log.lines()
        .filter_map(|l| l.split(&format!("{ready} pid=")).nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Fails if an app process started after the signal: shutting down must not spawn.
fn assert_no_spawn_after_signal(ferry: &Ferry, ready: &str, before: &[u32]) {
    let late: Vec<u32> = started_pids(&ferry.log(), ready)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(
        late.is_empty(),
        "app processes {late:?} were started after the shutdown signal (running before: {before:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(90), async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();

        // Every request has its response head, so it is in flight inside Ferry and the app.
        let mut bodies = Vec::new();
        for _ in 0..IN_FLIGHT {
            let req = request(
                Method::GET,
                &ferry.url_for("/slow?ms=1500"),
                &[],
                body::empty(),
            );
            let res = client.send(req).await.expect("response head");
            assert_eq!(res.status(), StatusCode::OK);
            bodies.push(tokio::spawn(Reply::read(res)));
        }
        let app_pids = ferry.descendants();
        assert!(!app_pids.is_empty(), "no app process is running");

        ferry.signal(Signal::SIGTERM).unwrap();

        for b in bodies {
            let reply = b.await.unwrap().expect("the in-flight body completes");
            let text = reply.text();
            assert!(
                text.starts_with("start\nend pid=") && text.ends_with('\n'),
                "truncated body {text:?}"
            );
        }
        let status = ferry
            .wait_exit(Duration::from_secs(30))
            .await
            .expect("ferry exits after SIGTERM");
        assert_eq!(status.code(), Some(0), "exit status {status}");
        let left = leftovers(&app_pids).await;
        assert!(left.is_empty(), "app processes {left:?} outlived ferry");
        assert_no_spawn_after_signal(&ferry, "node-test ready", &app_pids);
    })
    .await;
}

#[tokio::test]
async fn sigint_stops_ferry_and_its_apps() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(60), async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let app_pids = ferry.descendants();
        assert!(!app_pids.is_empty(), "no app process is running");

        ferry.signal(Signal::SIGINT).unwrap();
        let status = ferry
            .wait_exit(Duration::from_secs(30))
            .await
            .expect("ferry exits after SIGINT");
        assert_eq!(status.code(), Some(0), "exit status {status}");
        let left = leftovers(&app_pids).await;
        assert!(left.is_empty(), "app processes {left:?} outlived ferry");
        assert_no_spawn_after_signal(&ferry, "node-test ready", &app_pids);
    })
    .await;
}

/// A generic app that ignores SIGTERM and has a child of its own (same process group).
const STUBBORN_APP: &str = r#"
import http.server, os, signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", sys.argv[1]])
server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler)
print(f"stubborn app ready pid={os.getpid()}", flush=True)
server.serve_forever()
"#;

#[tokio::test]
async fn sigterm_kills_an_app_that_ignores_sigterm() {
    trace_init();
    require_program!("python3");
    bounded(Duration::from_secs(90), async {
        let dir = apps::temp_dir();
        std::fs::write(dir.path().join("stubborn.py"), STUBBORN_APP).unwrap();
        let tag = format!("876{}", ferry_test_support::unique_digits());
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--app-start-command", &format!("python3 stubborn.py {tag}")])
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new()
            .get(&ferry.url_for("/stubborn.py"))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let needle = format!("sleep {tag}");
        let grandchildren = poll_until(Duration::from_secs(10), || {
            let pids = procfs::find_processes_by_cmdline(&needle);
            (!pids.is_empty()).then_some(pids)
        })
        .await
        .expect("the app's own child runs");
        let mut pids = ferry.descendants();
        pids.extend(grandchildren);

        ferry.signal(Signal::SIGTERM).unwrap();
        let status = ferry
            .wait_exit(Duration::from_secs(60))
            .await
            .expect("ferry exits after SIGTERM, killing the stubborn app");
        assert_eq!(status.code(), Some(0), "exit status {status}");
        let left = leftovers(&pids).await;
        assert!(left.is_empty(), "processes {left:?} outlived ferry");
        assert_no_spawn_after_signal(&ferry, "stubborn app ready", &pids);
    })
    .await;
}

#[tokio::test]
async fn sigkill_of_ferry_takes_its_apps_down() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(60), async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let app_pids = ferry.descendants();
        assert!(!app_pids.is_empty(), "no app process is running");

        // No graceful stop: the parent-death signal the setupper arranged must do it.
        ferry.signal(Signal::SIGKILL).unwrap();
        let left = leftovers(&app_pids).await;
        assert!(
            left.is_empty(),
            "app processes {left:?} outlived a killed ferry"
        );
    })
    .await;
}
