//! Smart spawning through the real `ferry` binary (issue 8): Ruby and Python apps are spawned
//! through a preloader by default, workers are the preloader's children, a `tmp/restart.txt`
//! restart replaces the preloader, a preloader that cannot load the app yields an error page whose
//! journey is the preloader's, and `--spawn-method direct` still spawns directly.
//!
//! The spawner itself (idle time, crashes, fallback, timings) is tested with real processes in
//! `crates/ferry-spawn/tests/preloader.rs`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, poll_until, procfs, require_program, trace_init, Ferry};

const LIMIT: Duration = Duration::from_secs(90);

fn heavy(name: &str) -> std::path::PathBuf {
    apps::fixtures_dir().join(name)
}

/// The parent pid of `pid`.
fn parent_of(pid: u32) -> Option<u32> {
    procfs::stat(pid).map(|s| s.ppid)
}

/// The preloaders among Ferry's descendants: `Ferry AppPreloader: ...` in their title (Python
/// without `setproctitle` shows only its first 15 bytes). A worker just forked still has its
/// preloader's title, so a titled process whose parent has the title too is not counted.
fn preloaders(ferry: &Ferry) -> Vec<u32> {
    let titled: Vec<u32> = ferry
        .descendants()
        .into_iter()
        .filter(|&pid| {
            let title = procfs::cmdline(pid).unwrap_or_default()
                + &std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            title.contains("Ferry AppPre")
        })
        .collect();
    titled
        .iter()
        .copied()
        .filter(|&pid| parent_of(pid).is_none_or(|parent| !titled.contains(&parent)))
        .collect()
}

async fn text(client: &Client, ferry: &Ferry, path: &str) -> String {
    let reply = client.get(&ferry.url_for(path)).await.expect("request");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.text()
}

/// `"<pid> <ppid>"` from the heavy app's `/pid`.
async fn pid_and_parent(client: &Client, ferry: &Ferry) -> (u32, u32) {
    let text = text(client, ferry, "/pid").await;
    let mut parts = text.split_whitespace().map(|p| p.parse().expect("a pid"));
    (parts.next().expect("pid"), parts.next().expect("ppid"))
}

async fn workers_come_from_the_preloader(app: &str, extra: &[&str]) {
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), heavy(app))
        .args(["--min-instances", "2", "--max-pool-size", "2"])
        .args(extra)
        .spawn()
        .await
        .expect("ferry starts");
    let client = Client::new();
    assert_eq!(text(&client, &ferry, "/forked").await, "true");
    let found = preloaders(&ferry);
    assert_eq!(found.len(), 1, "one preloader: {found:?}");
    let preloader = found[0];
    let (worker, parent) = pid_and_parent(&client, &ferry).await;
    assert_eq!(
        parent, preloader,
        "worker {worker} is the preloader's child"
    );
    // --min-instances 2: the second worker comes from the same preloader.
    let children = poll_until(Duration::from_secs(30), || {
        let children: Vec<u32> = ferry
            .descendants()
            .into_iter()
            .filter(|&pid| parent_of(pid) == Some(preloader))
            .collect();
        (children.len() >= 2).then_some(children)
    })
    .await
    .expect("two workers forked by the preloader");
    assert!(children.contains(&worker), "{children:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_workers_come_from_the_preloader() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, workers_come_from_the_preloader("heavy-ruby", &[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_workers_come_from_the_preloader() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, workers_come_from_the_preloader("heavy-python", &[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_method_direct_spawns_directly() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), heavy("heavy-ruby"))
            .args(["--spawn-method", "direct"])
            .env("HEAVY_LOAD_SECONDS", "0")
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        assert_eq!(text(&client, &ferry, "/forked").await, "false");
        assert!(preloaders(&ferry).is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_txt_replaces_the_preloader() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let dir = apps::copy_fixture(&heavy("heavy-ruby")).expect("copy the app");
        let restart_txt = dir.path().join("tmp/restart.txt");
        apps::touch_at(&restart_txt, SystemTime::now() - Duration::from_secs(60)).unwrap();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .env("HEAVY_LOAD_SECONDS", "0")
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let (_, first) = pid_and_parent(&client, &ferry).await;
        apps::touch_at(&restart_txt, SystemTime::now()).unwrap();
        // The restart is noticed at the next request (throttled checks): keep asking.
        let replaced = async {
            loop {
                let (_, parent) = pid_and_parent(&client, &ferry).await;
                if parent != first {
                    return parent;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let parent = tokio::time::timeout(Duration::from_secs(30), replaced)
            .await
            .expect("a worker of a new preloader");
        assert_eq!(preloaders(&ferry), vec![parent]);
        assert!(
            poll_until(Duration::from_secs(10), || (!procfs::process_exists(first)
                || procfs::is_zombie(first))
            .then_some(()))
            .await
            .is_some(),
            "the old preloader exited"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_shows_the_preloader_journey() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        write(
            dir.path(),
            "config.ru",
            "run lambda { |env| [200, {}, ['x']]\n",
        );
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--environment", "development", "--app-type", "rack"])
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
        let page = reply.text();
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{page}");
        let spec = spec_of(&page);
        assert_eq!(spec["journey_type"], "START_PRELOADER", "{spec}");
        assert_eq!(spec["failed_step"], "SUBPROCESS_APP_LOAD_OR_EXEC", "{spec}");
        assert!(page.to_lowercase().contains("syntax"), "{page}");
    })
    .await;
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).expect("write");
}

/// The JSON spec the friendly page embeds.
fn spec_of(page: &str) -> serde_json::Value {
    let start_tag = r#"<script type="application/json" id="ferry-error-spec">"#;
    let start = page.find(start_tag).expect("friendly page with a spec") + start_tag.len();
    let end = start + page[start..].find("</script>").expect("end of spec");
    serde_json::from_str(&page[start..end]).expect("the spec is JSON")
}
