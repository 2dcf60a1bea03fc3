//! `tmp/restart.txt` and `tmp/always_restart.txt`: touching the first restarts the app on the
//! next request without failing any request; the second restarts it before every request.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ferry_test_support::client::{Client, Reply};
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, poll_until, procfs, require_program, trace_init, Ferry};

const WORKERS: usize = 4;
const MAX_REQUESTS_PER_WORKER: usize = 5_000;

/// What the `/pid` workers saw.
#[derive(Default)]
struct Seen {
    pids: BTreeSet<u32>,
    failures: Vec<String>,
}

fn pid_of(reply: &Reply) -> u32 {
    let text = reply.text();
    let digits = text.rsplit("pid=").next().unwrap_or(&text).trim();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {text:?}"))
}

/// `WORKERS` tasks requesting `/pid` in a loop until `stop` is set.
fn spawn_workers(
    ferry: &Ferry,
    seen: &Arc<Mutex<Seen>>,
    count: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = Client::new();
    (0..WORKERS)
        .map(|_| {
            let (client, url) = (client.clone(), ferry.url_for("/pid"));
            let (seen, count, stop) = (seen.clone(), count.clone(), stop.clone());
            tokio::spawn(async move {
                for _ in 0..MAX_REQUESTS_PER_WORKER {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let outcome = client.get(&url).await;
                    let mut seen = seen.lock().unwrap();
                    match outcome {
                        Ok(r) if r.status == StatusCode::OK => {
                            seen.pids.insert(pid_of(&r));
                        }
                        Ok(r) => seen
                            .failures
                            .push(format!("status {}: {}", r.status, r.text())),
                        Err(e) => seen.failures.push(format!("error: {e}")),
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touching_restart_txt_restarts_without_failed_requests() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(90), async {
        let dir = apps::node_test_copy();
        let restart_txt = dir.path().join("tmp/restart.txt");
        // Exists from the start, so Ferry's first check records its mtime.
        apps::touch_at(&restart_txt, SystemTime::now()).unwrap();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--max-pool-size", "3"])
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();

        // A long request in flight across the restart: it must finish on its old process.
        let slow = client
            .send(ferry_test_support::client::request(
                ferry_test_support::http::Method::GET,
                &ferry.url_for("/slow?ms=3000"),
                &[],
                ferry_test_support::body::empty(),
            ))
            .await
            .expect("slow request head");
        assert_eq!(slow.status(), StatusCode::OK);
        let slow = tokio::spawn(Reply::read(slow));

        let seen = Arc::new(Mutex::new(Seen::default()));
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = spawn_workers(&ferry, &seen, &count, &stop);
        poll_until(Duration::from_secs(20), || {
            (count.load(Ordering::SeqCst) >= 20).then_some(())
        })
        .await
        .expect("the workers' first 20 requests complete");

        let mut old: BTreeSet<u32> = seen.lock().unwrap().pids.clone();
        old.extend(ferry.descendants());
        apps::touch_at(&restart_txt, SystemTime::now() + Duration::from_secs(10)).unwrap();

        // Restarted once every old process has exited (and was reaped) while requests kept
        // flowing; pool growth alone never stops the old processes.
        let restarted = poll_until(Duration::from_secs(20), || {
            old.iter()
                .all(|&p| !procfs::process_exists(p))
                .then_some(())
        })
        .await;
        // A few more requests on the new generation, then stop the workers.
        let settled = count.load(Ordering::SeqCst) + 8;
        poll_until(Duration::from_secs(10), || {
            (count.load(Ordering::SeqCst) >= settled).then_some(())
        })
        .await;
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.unwrap();
        }

        let seen = std::mem::take(&mut *seen.lock().unwrap());
        assert!(
            seen.failures.is_empty(),
            "failed requests: {:?}",
            seen.failures
        );
        let new: Vec<u32> = seen.pids.difference(&old).copied().collect();
        assert!(!new.is_empty(), "no new pid after the touch; old {old:?}");
        let still_there: Vec<u32> = old
            .iter()
            .copied()
            .filter(|&p| procfs::process_exists(p))
            .collect();
        assert!(
            restarted.is_some(),
            "old processes {still_there:?} still exist 20 s after touching restart.txt"
        );

        let slow = slow
            .await
            .unwrap()
            .expect("the in-flight request completes");
        assert_eq!(slow.status, StatusCode::OK);
        let slow_pid = pid_of(&slow);
        assert!(
            slow.text().starts_with("start\nend pid="),
            "{:?}",
            slow.text()
        );
        assert!(
            old.contains(&slow_pid),
            "in-flight request finished on {slow_pid}, not an old process"
        );
    })
    .await;
}

#[tokio::test]
async fn always_restart_txt_restarts_before_every_request() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(60), async {
        let dir = apps::node_test_copy();
        apps::touch_at(
            &dir.path().join("tmp/always_restart.txt"),
            SystemTime::now(),
        )
        .unwrap();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let mut pids = Vec::new();
        for _ in 0..3 {
            let reply = client.get(&ferry.url_for("/pid")).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            pids.push(pid_of(&reply));
        }
        assert_ne!(pids[0], pids[1], "pids {pids:?}");
        assert_ne!(pids[1], pids[2], "pids {pids:?}");

        // Without the file, the process stays.
        std::fs::remove_file(dir.path().join("tmp/always_restart.txt")).unwrap();
        let a = pid_of(&client.get(&ferry.url_for("/pid")).await.unwrap());
        let b = pid_of(&client.get(&ferry.url_for("/pid")).await.unwrap());
        assert_eq!(a, b, "no restart once always_restart.txt is gone");
    })
    .await;
}
