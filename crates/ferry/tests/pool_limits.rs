//! Pool limits behind the real `ferry` binary (issue 5, first part): the time a request may wait
//! in the queue (`--max-request-queue-time` → 504), the status of a request turned away by a
//! full queue (`--request-queue-overflow-status-code`), and idle processes stopped after
//! `--pool-idle-time`, down to `--min-instances`.
//!
//! The WSGI stub serves one request per process at a time, so a request held open on
//! `/stream?gate=…` (its first chunk received, the rest waiting for the gate file) occupies a
//! process for as long as the test wants, without sleeps.

use std::path::Path;
use std::time::Duration;

use ferry_test_support::client::{self, Client};
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, poll_until, procfs, require_program, trace_init, Ferry};
use http_body_util::BodyExt;
use hyper::body::Incoming;

const LIMIT: Duration = Duration::from_secs(60);

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

/// Starts a streamed request and returns once its first chunk has arrived: the process serving
/// it is now busy until `gate` exists.
async fn hold(ferry: &Ferry, gate: &Path) -> Incoming {
    let url = ferry.url_for(&format!("/stream?gate={}", gate.display()));
    Client::new().hold(&url, &[], b"first\n").await.unwrap()
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
async fn waiting_longer_than_the_queue_time_gives_504() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let ferry = start(&["--max-pool-size", "1", "--max-request-queue-time", "1"]).await;
        let dir = apps::temp_dir();
        let gate = dir.path().join("gate");
        let held = hold(&ferry, &gate).await;
        let started = std::time::Instant::now();
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
        assert!(started.elapsed() >= Duration::from_secs(1));
        ferry
            .wait_for_log("in the queue of", Duration::from_secs(5))
            .await
            .expect("the rejection is logged");
        std::fs::write(&gate, b"").unwrap();
        assert_eq!(&held.collect().await.unwrap().to_bytes()[..], b"last\n");
        // The timed-out request left the queue: the next one is served.
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn a_full_queue_answers_with_the_configured_status() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let ferry = start(&[
            "--max-pool-size",
            "1",
            "--max-request-queue-size",
            "1",
            "--request-queue-overflow-status-code",
            "429",
        ])
        .await;
        let dir = apps::temp_dir();
        let gate = dir.path().join("gate");
        let held = hold(&ferry, &gate).await;
        // Two more requests: one takes the only place in the queue, the other is turned away at
        // once, whichever arrives second.
        let get = |url: String| async move { client::get(&url).await };
        let mut first = tokio::spawn(get(ferry.url_for("/hello")));
        let mut second = tokio::spawn(get(ferry.url_for("/hello")));
        let (rejected, queued) = tokio::select! {
            r = &mut first => (r, second),
            r = &mut second => (r, first),
        };
        let rejected = rejected.unwrap().unwrap();
        assert_eq!(rejected.status, StatusCode::TOO_MANY_REQUESTS);
        ferry
            .wait_for_log("is full (1 waiting, limit 1)", Duration::from_secs(5))
            .await
            .expect("the rejection names the queue length and the limit");
        std::fs::write(&gate, b"").unwrap();
        held.collect().await.unwrap();
        assert_eq!(queued.await.unwrap().unwrap().status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn idle_processes_are_stopped_down_to_min_instances() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let ferry = start(&[
            "--max-pool-size",
            "3",
            "--min-instances",
            "1",
            "--pool-idle-time",
            "1",
        ])
        .await;
        let dir = apps::temp_dir();
        let gate = dir.path().join("gate");
        // Three requests held at once need three processes.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(hold(&ferry, &gate).await);
        }
        assert_eq!(app_processes(&ferry), 3);
        std::fs::write(&gate, b"").unwrap();
        for body in held {
            body.collect().await.unwrap();
        }
        let left = poll_until(Duration::from_secs(15), || {
            (app_processes(&ferry) == 1).then_some(())
        })
        .await;
        assert!(
            left.is_some(),
            "{} app processes left\n{}",
            app_processes(&ferry),
            ferry.log()
        );
        assert!(ferry.log().contains("pool_idle_time"), "{}", ferry.log());
        // And the one left still serves.
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn a_process_is_replaced_after_max_requests() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let ferry = start(&["--max-pool-size", "1", "--max-requests", "3"]).await;
        let client = Client::new();
        let mut pids = Vec::new();
        for _ in 0..4 {
            let reply = client.get(&ferry.url_for("/pid")).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK);
            pids.push(reply.text().trim().to_owned());
        }
        assert!(pids[..3].iter().all(|p| *p == pids[0]), "{pids:?}");
        assert_ne!(pids[3], pids[0], "the fourth request reaches a new process");
        assert!(ferry.log().contains("max_requests"), "{}", ferry.log());
    })
    .await;
}

#[tokio::test]
async fn max_instances_keeps_the_app_small() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let ferry = start(&[
            "--max-pool-size",
            "4",
            "--max-instances",
            "1",
            "--max-request-queue-time",
            "1",
        ])
        .await;
        let dir = apps::temp_dir();
        let gate = dir.path().join("gate");
        let held = hold(&ferry, &gate).await;
        // The pool has room, but the app may have only one process: the request waits, and
        // the queue time runs out.
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(app_processes(&ferry), 1);
        std::fs::write(&gate, b"").unwrap();
        held.collect().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_request_over_max_request_time_gets_504_and_its_process_is_replaced() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = Ferry::new(
            env!("CARGO_BIN_EXE_ferry"),
            apps::fixtures_dir().join("rack-stub"),
        )
        .args(["--max-pool-size", "1", "--max-request-time", "1"])
        .spawn()
        .await
        .expect("ferry starts");
        let client = Client::new();
        let before = client.get(&ferry.url_for("/pid")).await.unwrap().text();
        // Waits for a second arrival that never comes (for 30 s): stuck.
        let reply = client
            .get(&ferry.url_for("/barrier?n=2&timeout=30"))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
        // SIGQUIT made the loader print where its threads were: in the app's barrier.
        ferry
            .wait_for_log("in `barrier'", Duration::from_secs(10))
            .await
            .expect("the stuck process's backtrace is logged");
        let after = client.get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(after.status, StatusCode::OK);
        assert_ne!(after.text(), before, "a new process serves");
        let old: u32 = before.trim().parse().unwrap();
        let gone = poll_until(Duration::from_secs(10), || {
            (!procfs::process_exists(old) || procfs::is_zombie(old)).then_some(())
        })
        .await;
        assert!(gone.is_some(), "the stuck process was killed");
    })
    .await;
}
