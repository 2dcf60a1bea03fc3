//! Re-forking (issue 22, `--refork-after N`) through the real `ferry` binary, for a Rack app and
//! a WSGI app (the `refork-rack` and `refork-wsgi` fixtures): after N requests a warmed worker
//! becomes the app's template. Checked from outside, as an operator would:
//!
//! - the preloader in `/pool.json` (what `ferry status` shows) changes to a pid that served
//!   requests, marked `reforked` with `template_generation` 1;
//! - the app's `promoted_to_template` hook ran in it (the app appends to a file);
//! - the old workers are replaced (never all at once: the pool rolls one at a time) by workers
//!   whose parent (`/proc/PID/stat`) is the template, and which inherited the template's state;
//! - no request fails meanwhile: two request loops run through the whole switch and every
//!   answer is 200.
//!
//! The state decisions (draining, the roll, failures, restarts) are unit-tested in
//! `ferry-pool` (`refork_tests.rs`); the loaders' PROMOTE in `loaders/*/test`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_admin::client::{Client as AdminClient, Level};
use ferry_admin::registry;
use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, procfs, require_program, trace_init, Ferry};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
/// `--refork-after`.
const AFTER: u64 = 8;

async fn pool_json(admin: &AdminClient) -> Value {
    let reply = admin.get("/pool.json").await.expect("pool.json");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json().expect("json")
}

fn parent_of(pid: u32) -> Option<u32> {
    procfs::stat(pid).map(|s| s.ppid)
}

/// The app's preloader as `/pool.json` shows it: (pid, reforked, template_generation).
fn preloader(pool: &Value) -> Option<(u32, bool, u64)> {
    let p = pool["groups"][0]
        .get("preloader")
        .filter(|p| !p.is_null())?;
    Some((
        u32::try_from(p["pid"].as_u64()?).ok()?,
        p["reforked"].as_bool()?,
        p["template_generation"].as_u64()?,
    ))
}

/// The pids of the processes taking requests.
fn serving(pool: &Value) -> Vec<u32> {
    pool["groups"][0]["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["life_state"] == "alive")
        .filter_map(|p| p["pid"].as_u64().and_then(|n| u32::try_from(n).ok()))
        .collect()
}

/// Sends `GET /pid` until `stop` is set, recording every answer's status and pid.
async fn request_loop(
    client: Client,
    url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    seen: Arc<Mutex<(Vec<StatusCode>, HashSet<u32>)>>,
) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let reply = client.get(&url).await.expect("request");
        let pid = reply
            .text()
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let mut seen = seen.lock().unwrap();
        seen.0.push(reply.status);
        seen.1.extend(pid);
    }
}

async fn refork(fixture: &str) {
    let dir = apps::temp_dir();
    let registry_dir = dir.path().join("registry");
    std::fs::create_dir(&registry_dir).unwrap();
    let events = dir.path().join("events");
    let ferry = Ferry::new(
        env!("CARGO_BIN_EXE_ferry"),
        apps::fixtures_dir().join(fixture),
    )
    .args(["--min-instances", "2", "--max-pool-size", "3"])
    .args(["--refork-after", &AFTER.to_string()])
    .arg("--envvar")
    .arg(format!("REFORK_EVENT_FILE={}", events.display()))
    .args(["--envvar", "LAZY_ENTRIES=2000"])
    .arg("--instance-registry-dir")
    .arg(&registry_dir)
    .spawn()
    .await
    .expect("ferry starts");
    let instance = registry::list_instances(&registry_dir)
        .unwrap()
        .instances
        .remove(0);
    let admin = AdminClient::for_instance(&instance, Level::Full).unwrap();
    let client = Client::new();

    // Cold: the preloader loaded the app itself.
    let reply = client.get(&ferry.url_for("/pid")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    let (cold, reforked, generation) = preloader_now(&admin).await.expect("a cold preloader");
    assert!(
        !reforked && generation == 0,
        "{cold} {reforked} {generation}"
    );

    // Requests through the whole switch, from two clients at once.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::new(Mutex::new((Vec::new(), HashSet::new())));
    let loops: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(request_loop(
                client.clone(),
                ferry.url_for("/pid"),
                Arc::clone(&stop),
                Arc::clone(&seen),
            ))
        })
        .collect();
    // The template: a new preloader pid, a re-forked one, that served requests.
    let (template, workers) = wait_for_roll(&admin, cold).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in loops {
        task.await.unwrap();
    }
    let (statuses, pids) = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "a request failed during the switch: {statuses:?}"
    );
    assert!(statuses.len() as u64 >= AFTER, "{}", statuses.len());
    assert!(
        pids.contains(&template),
        "the template {template} is a worker that served requests ({pids:?})"
    );
    assert_eq!(
        std::fs::read_to_string(&events).unwrap(),
        format!("promoted_to_template {template}\n")
    );
    // Every worker now is the template's child, and inherited the template's state.
    for &worker in &workers {
        assert_eq!(parent_of(worker), Some(template), "worker {worker}");
    }
    let body = client
        .get(&ferry.url_for("/promoted"))
        .await
        .unwrap()
        .text();
    assert_eq!(body, template.to_string());
    let status = run_status(&registry_dir).await;
    assert!(
        status.contains(&format!("Preloader: PID {template}, idle"))
            && status.contains("re-forked template generation 1"),
        "{status}"
    );
}

async fn preloader_now(admin: &AdminClient) -> Option<(u32, bool, u64)> {
    for _ in 0..300 {
        if let Some(p) = preloader(&pool_json(admin).await) {
            return Some(p);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits until the preloader is a re-forked template other than `cold` and every process taking
/// requests is its child (the roll is over). Returns the template and those workers.
async fn wait_for_roll(admin: &AdminClient, cold: u32) -> (u32, Vec<u32>) {
    for _ in 0..600 {
        let pool = pool_json(admin).await;
        if let Some((pid, true, 1)) = preloader(&pool) {
            assert_ne!(pid, cold);
            let workers = serving(&pool);
            let pending = pool["groups"][0]["processes"]
                .as_array()
                .map_or(0, |p| p.len() - workers.len());
            if workers.len() >= 2
                && pending == 0
                && workers.iter().all(|&w| parent_of(w) == Some(pid))
            {
                return (pid, workers);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no re-forked template and finished roll: {}",
        pool_json(admin).await
    );
}

/// `ferry status` as text.
async fn run_status(registry_dir: &Path) -> String {
    let out = tokio::process::Command::new(PathBuf::from(env!("CARGO_BIN_EXE_ferry")))
        .arg("status")
        .arg("--instance-registry-dir")
        .arg(registry_dir)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warmed_rack_worker_becomes_the_template() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, refork("refork-rack")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warmed_wsgi_worker_becomes_the_template() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, refork("refork-wsgi")).await;
}
