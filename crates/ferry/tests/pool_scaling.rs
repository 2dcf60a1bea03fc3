//! The process pool under concurrent load: Ferry spawns more processes when every process is
//! busy, up to `--max-pool-size`, and never more.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_test_support::client::{Client, Reply};
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, require_program, trace_init, Ferry};

const WORKERS: usize = 8;
/// Requests each worker makes at most: bounds the test even if the pool never grows.
const MAX_REQUESTS_PER_WORKER: usize = 200;
/// Requests each worker still makes once two processes were seen, to catch a third one.
const REQUESTS_AFTER_GROWTH: usize = 6;

/// The pid in a `/pid` body (`1234`) or a `/slow` body (`start\nend pid=1234\n`).
fn pid_of(reply: &Reply) -> Option<u32> {
    let text = reply.text();
    let digits = text.rsplit("pid=").next().unwrap_or(&text).trim();
    digits.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_load_grows_pool_to_max_pool_size() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(60), async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .args(["--max-pool-size", "2"])
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let pids = Arc::new(Mutex::new(BTreeSet::new()));
        let grown = Arc::new(AtomicBool::new(false));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut workers = Vec::new();
        for w in 0..WORKERS {
            let (client, pids, grown) = (client.clone(), pids.clone(), grown.clone());
            let (slow, pid) = (ferry.url_for("/slow?ms=50"), ferry.url_for("/pid"));
            workers.push(tokio::spawn(async move {
                let mut after_growth = 0;
                let mut failures = Vec::new();
                for i in 0..MAX_REQUESTS_PER_WORKER {
                    if after_growth >= REQUESTS_AFTER_GROWTH
                        || tokio::time::Instant::now() >= deadline
                    {
                        break;
                    }
                    let url = if (i + w) % 2 == 0 { &slow } else { &pid };
                    match client.get(url).await {
                        Ok(reply) if reply.status == StatusCode::OK => {
                            let p = pid_of(&reply).expect("a pid in the body");
                            let mut set = pids.lock().unwrap();
                            set.insert(p);
                            if set.len() >= 2 {
                                grown.store(true, Ordering::SeqCst);
                            }
                        }
                        Ok(reply) => failures.push(format!("{url}: {}", reply.status)),
                        Err(e) => failures.push(format!("{url}: {e}")),
                    }
                    if grown.load(Ordering::SeqCst) {
                        after_growth += 1;
                    }
                }
                failures
            }));
        }
        let mut failures = Vec::new();
        for w in workers {
            failures.extend(w.await.unwrap());
        }
        let pids = pids.lock().unwrap().clone();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
        assert_eq!(
            pids.len(),
            2,
            "expected exactly 2 app processes with --max-pool-size 2, saw {pids:?}"
        );
        let live: Vec<u32> = ferry
            .descendants()
            .into_iter()
            .filter(|p| pids.contains(p))
            .collect();
        assert_eq!(live.len(), 2, "both app processes are Ferry's descendants");
    })
    .await;
}
