//! The pool's newer features behind the real `ferry` binary and the Rack stub: `min_instances`
//! surviving the idle cleaner, rolling restarts under load, resisting deployment errors, sticky
//! sessions, out-of-band work, a process killed mid-request, memory limits and the pool's hooks.
//!
//! The Rack stub serves one request per process at a time (process model), so a request held on
//! `/stream?gate=…` or `/hang?gate=…` occupies its process until the test creates the gate file,
//! and out-of-band work waits for `$FERRY_TEST_OOB_DIR/oob-release`: tests wait for conditions
//! (files, log lines, `/proc`), never for time to pass. The one exception is a bounded watch:
//! that nothing happens to `min_instances` processes over four idle times. `--max-requests`
//! replacement is covered by `pool_limits.rs`.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ferry_test_support::client::{self, Client, Reply};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{
    apps, body, bounded, poll_until, procfs, require_program, trace_init, Ferry, Signal,
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(60);
/// How often the loops below look again at something nothing notifies them about.
const POLL: Duration = Duration::from_millis(20);
/// The stub's `/pid` requesters in the rolling restart test.
const WORKERS: usize = 4;
/// Upper bound on each requester's loop, so it ends even if nothing stops it.
const MAX_REQUESTS_PER_WORKER: usize = 20_000;

fn rack_stub() -> PathBuf {
    apps::fixtures_dir().join("rack-stub")
}

async fn start(app_dir: &Path, args: &[&str]) -> Ferry {
    // Counts the app's processes under Ferry: spawned directly, every worker stays Ferry's
    // descendant (a worker forked by a preloader is reparented away when the preloader stops).
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), app_dir)
        .args(["--spawn-method", "direct"])
        .args(args)
        .spawn()
        .await
        .expect("ferry starts")
}

/// A copy of the Rack stub whose `tmp/restart.txt` exists from the start, so that Ferry's first
/// look records its mtime and a later [`touch_restart`] is a change.
fn rack_stub_copy() -> TempDir {
    let dir = apps::copy_fixture(&rack_stub()).expect("copy the rack-stub fixture");
    apps::touch_at(&dir.path().join("tmp/restart.txt"), SystemTime::now()).unwrap();
    dir
}

/// Moves the mtime of `tmp/restart.txt` `ahead` into the future: a change Ferry sees even
/// within the second of an earlier touch.
fn touch_restart(app: &Path, ahead: Duration) {
    apps::touch_at(&app.join("tmp/restart.txt"), SystemTime::now() + ahead).unwrap();
}

/// The app processes, starting ones included: the Ruby loader names itself `Ferry RubyApp: ROOT`
/// before it loads the app.
fn app_pids(ferry: &Ferry) -> BTreeSet<u32> {
    ferry
        .descendants()
        .into_iter()
        .filter(|&pid| procfs::cmdline(pid).is_some_and(|c| c.contains("RubyApp")))
        .collect()
}

fn pid_of(reply: &Reply) -> u32 {
    let text = reply.text();
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {text:?}"))
}

/// GET `/pid`, which must succeed.
async fn get_pid(client: &Client, ferry: &Ferry, headers: &[(&str, &str)]) -> Reply {
    let reply = client
        .get_with(&ferry.url_for("/pid"), headers)
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply
}

/// Requests `/pid` until `n` different processes have answered. Requests one at a time go to
/// the least recently used process, so every process that is up answers in turn.
async fn distinct_pids(client: &Client, ferry: &Ferry, n: usize) -> BTreeSet<u32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = BTreeSet::new();
    while seen.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {seen:?} answered within 30 s, expected {n} processes"
        );
        seen.insert(pid_of(&get_pid(client, ferry, &[]).await));
        if seen.len() < n {
            tokio::time::sleep(POLL).await;
        }
    }
    seen
}

/// Whether `pid` has exited and been reaped.
fn gone(pid: u32) -> bool {
    !procfs::process_exists(pid)
}

async fn wait_gone(pids: &BTreeSet<u32>, timeout: Duration) -> bool {
    poll_until(timeout, || pids.iter().all(|&p| gone(p)).then_some(()))
        .await
        .is_some()
}

/// Starts a GET of `/stream?gate=…` and returns once its first chunk has arrived: the process
/// serving it is busy until `gate` exists.
async fn hold(client: &Client, ferry: &Ferry, gate: &Path, headers: &[(&str, &str)]) -> Incoming {
    let url = ferry.url_for(&format!("/stream?gate={}", gate.display()));
    client.hold(&url, headers, b"first\n").await.unwrap()
}

/// The sticky session id in a response's `_passenger_route` cookie, checking its `Path`.
fn route_cookie(reply: &Reply) -> u64 {
    let cookie = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("_passenger_route="))
        .unwrap_or_else(|| panic!("no _passenger_route cookie in {:?}", reply.headers));
    let mut parts = cookie.split(';').map(str::trim);
    let id = parts
        .next()
        .and_then(|p| p.strip_prefix("_passenger_route="));
    assert!(parts.any(|p| p == "Path=/"), "{cookie:?}");
    id.and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no process id in {cookie:?}"))
}

/// `/whoami`: the serving process's id and the events it has seen.
async fn whoami(client: &Client, ferry: &Ferry) -> (u32, Vec<String>) {
    let reply = client.get(&ferry.url_for("/whoami")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let pid = value["pid"].as_u64().expect("a pid") as u32;
    let events = value["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();
    (pid, events)
}

#[tokio::test]
async fn min_instances_are_kept_through_idle_time() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            &rack_stub(),
            &[
                "--min-instances",
                "3",
                "--max-pool-size",
                "6",
                "--pool-idle-time",
                "1",
            ],
        )
        .await;
        let client = Client::new();
        get_pid(&client, &ferry, &[]).await;
        // One process for the first request, the other two spawned in the background.
        let three = poll_until(Duration::from_secs(30), || {
            let pids = app_pids(&ferry);
            (pids.len() == 3).then_some(pids)
        })
        .await
        .unwrap_or_else(|| panic!("app processes: {:?}", app_pids(&ferry)));
        // Four times the idle time, watched: the idle cleaner (every 0.5 s) stops none of them.
        let watch_until = tokio::time::Instant::now() + Duration::from_secs(4);
        while tokio::time::Instant::now() < watch_until {
            assert_eq!(app_pids(&ferry), three, "{}", ferry.log());
            tokio::time::sleep(POLL).await;
        }
        assert!(!ferry.log().contains("pool_idle_time"), "{}", ferry.log());
        // And the same three processes serve.
        assert_eq!(distinct_pids(&client, &ferry, 3).await, three);
        assert_eq!(app_pids(&ferry), three);
    })
    .await;
}

/// What the rolling restart's requesters saw, in order.
#[derive(Default)]
struct Seen {
    pids: Vec<u32>,
    failures: Vec<String>,
}

/// `WORKERS` tasks requesting `/pid` in a loop until `stop` is set.
fn spawn_workers(
    ferry: &Ferry,
    seen: &Arc<Mutex<Seen>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = Client::new();
    (0..WORKERS)
        .map(|_| {
            let (client, url) = (client.clone(), ferry.url_for("/pid"));
            let (seen, stop) = (seen.clone(), stop.clone());
            tokio::spawn(async move {
                for _ in 0..MAX_REQUESTS_PER_WORKER {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let outcome = client.get(&url).await;
                    let mut seen = seen.lock().unwrap();
                    match outcome {
                        Ok(r) if r.status == StatusCode::OK => seen.pids.push(pid_of(&r)),
                        Ok(r) => seen
                            .failures
                            .push(format!("status {}: {}", r.status, r.text())),
                        Err(e) => seen.failures.push(format!("error: {e}")),
                    }
                }
            })
        })
        .collect()
}

fn seen_count(seen: &Mutex<Seen>) -> usize {
    let seen = seen.lock().unwrap();
    seen.pids.len() + seen.failures.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_fails_no_request() {
    trace_init();
    require_program!("ruby");
    bounded(Duration::from_secs(120), async {
        let dir = rack_stub_copy();
        let ferry = start(
            dir.path(),
            &[
                "--rolling-restarts",
                "--min-instances",
                "2",
                "--max-pool-size",
                "4",
            ],
        )
        .await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = spawn_workers(&ferry, &seen, &stop);
        // Four requesters keep every process busy: the pool grows to its size, and no further.
        // Once four processes have served, no spawn is in progress (it would count against the
        // size), so these are all the old processes. (A process that is still starting is not
        // one: a restart discards it.)
        let old = poll_until(Duration::from_secs(40), || {
            let served: BTreeSet<u32> = seen.lock().unwrap().pids.iter().copied().collect();
            (served.len() == 4).then_some(served)
        })
        .await
        .unwrap_or_else(|| panic!("app processes: {:?}", app_pids(&ferry)));
        assert_eq!(app_pids(&ferry), old);
        touch_restart(dir.path(), Duration::from_secs(10));

        let restarted = wait_gone(&old, Duration::from_secs(60)).await;
        let still_there: Vec<u32> = old.iter().copied().filter(|&p| !gone(p)).collect();
        assert!(
            restarted,
            "old processes {still_there:?} still exist 60 s after touching restart.txt"
        );
        // A request in flight when the last old process went may still be recorded after this
        // point; the ones after it were served by the new processes.
        let after = seen_count(&seen) + WORKERS;
        poll_until(Duration::from_secs(20), || {
            (seen_count(&seen) >= after + 40).then_some(())
        })
        .await
        .expect("requests keep being served after the restart");
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
        // Rolling: the old processes kept serving after the first new one did.
        let first_new = seen.pids.iter().position(|p| !old.contains(p));
        let first_new = first_new.expect("a new process served");
        assert!(
            seen.pids[first_new..].iter().any(|p| old.contains(p)),
            "no old process served once a new one did: not a rolling restart"
        );
        let last: BTreeSet<u32> = seen.pids[after.min(seen.pids.len())..]
            .iter()
            .copied()
            .collect();
        assert!(!last.is_empty());
        assert!(
            last.is_disjoint(&old),
            "old {old:?}, last served by {last:?}"
        );
        let now = app_pids(&ferry);
        assert!(
            !now.is_empty() && now.is_disjoint(&old),
            "old {old:?}, now {now:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_broken_deployment_is_resisted_until_it_is_fixed() {
    trace_init();
    require_program!("ruby");
    bounded(Duration::from_secs(90), async {
        let dir = rack_stub_copy();
        let config_ru = dir.path().join("config.ru");
        let good = std::fs::read_to_string(&config_ru).unwrap();
        let ferry = start(
            dir.path(),
            &[
                "--rolling-restarts",
                "--resist-deployment-errors",
                "--min-instances",
                "2",
            ],
        )
        .await;
        let client = Client::new();
        let old = distinct_pids(&client, &ferry, 2).await;

        std::fs::write(&config_ru, "run(lambda do |env|\n").unwrap();
        touch_restart(dir.path(), Duration::from_secs(10));
        // The restart is noticed on the request path (at most once a second); meanwhile and
        // after, every request is answered by an old process.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while !ferry.log().contains("resisting the deployment error") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no deployment error resisted\n{}",
                ferry.log()
            );
            let pid = pid_of(&get_pid(&client, &ferry, &[]).await);
            assert!(old.contains(&pid), "{pid} is not one of {old:?}");
            tokio::time::sleep(POLL).await;
        }
        let mut answered = BTreeSet::new();
        for _ in 0..10 {
            answered.insert(pid_of(&get_pid(&client, &ferry, &[]).await));
        }
        assert_eq!(answered, old, "both old processes keep serving");
        assert_eq!(app_pids(&ferry), old);

        std::fs::write(&config_ru, good).unwrap();
        touch_restart(dir.path(), Duration::from_secs(20));
        // Until every old process has gone, requests may reach old or new ones, all with 200.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        let mut new = BTreeSet::new();
        while !old.iter().all(|&p| gone(p)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "old processes still up: {:?}\n{}",
                app_pids(&ferry),
                ferry.log()
            );
            let pid = pid_of(&get_pid(&client, &ferry, &[]).await);
            if !old.contains(&pid) {
                new.insert(pid);
            }
            tokio::time::sleep(POLL).await;
        }
        for _ in 0..6 {
            let pid = pid_of(&get_pid(&client, &ferry, &[]).await);
            assert!(!old.contains(&pid), "old {pid} still serves");
            new.insert(pid);
        }
        assert!(new.len() >= 2, "new processes {new:?}");
        assert!(app_pids(&ferry).is_disjoint(&old));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_sessions_bring_a_client_back_to_its_process() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            &rack_stub(),
            &[
                "--sticky-sessions",
                "--min-instances",
                "2",
                "--max-pool-size",
                "2",
            ],
        )
        .await;
        let client = Client::new();
        let both = distinct_pids(&client, &ferry, 2).await;

        let first = get_pid(&client, &ferry, &[]).await;
        let (sticky_pid, id) = (pid_of(&first), route_cookie(&first));
        let other = *both.iter().find(|&&p| p != sticky_pid).unwrap();
        let cookie = format!("_passenger_route={id}");
        let with_cookie = [("cookie", cookie.as_str())];
        // Without the cookie the two processes would take turns (least recently used first).
        for _ in 0..10 {
            let reply = get_pid(&client, &ferry, &with_cookie).await;
            assert_eq!(pid_of(&reply), sticky_pid);
            assert_eq!(route_cookie(&reply), id);
        }

        // The sticky process busy: a request with the cookie waits for it, one without goes to
        // the other process.
        let dir = apps::temp_dir();
        let gate = dir.path().join("gate");
        let holder = Client::new();
        let held = hold(&holder, &ferry, &gate, &with_cookie).await;
        let waiting = {
            let (client, url, cookie) = (Client::new(), ferry.url_for("/pid"), cookie.clone());
            tokio::spawn(async move { client.get_with(&url, &[("cookie", &cookie)]).await })
        };
        let plain = get_pid(&client, &ferry, &[]).await;
        assert_eq!(pid_of(&plain), other);
        assert_ne!(route_cookie(&plain), id);
        assert!(
            !waiting.is_finished(),
            "the sticky request was answered while its process was busy"
        );
        std::fs::write(&gate, b"").unwrap();
        assert_eq!(&held.collect().await.unwrap().to_bytes()[..], b"last\n");
        let waited = waiting.await.unwrap().unwrap();
        assert_eq!(waited.status, StatusCode::OK);
        assert_eq!(pid_of(&waited), sticky_pid, "served by its own process");

        // An id no process has: served as usual, and told where it went.
        let unknown = get_pid(&client, &ferry, &[("cookie", "_passenger_route=987654321")]).await;
        assert!(both.contains(&pid_of(&unknown)));
        assert_ne!(route_cookie(&unknown), 987_654_321);
    })
    .await;
}

#[tokio::test]
async fn out_of_band_work_takes_its_process_out_of_rotation() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let oob_dir = apps::temp_dir();
        let envvar = format!("FERRY_TEST_OOB_DIR={}", oob_dir.path().display());
        let ferry = start(
            &rack_stub(),
            &[
                "--min-instances",
                "2",
                "--max-pool-size",
                "2",
                "--envvar",
                &envvar,
            ],
        )
        .await;
        let client = Client::new();
        let both = distinct_pids(&client, &ferry, 2).await;

        let reply = client.get(&ferry.url_for("/oob")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.header("x-passenger-request-oob-work").is_none());
        let busy = pid_of(&reply);
        let other = *both.iter().find(|&&p| p != busy).unwrap();
        let started = oob_dir.path().join(format!("oob-started-{busy}"));
        poll_until(Duration::from_secs(20), || started.exists().then_some(()))
            .await
            .unwrap_or_else(|| panic!("no out-of-band work on {busy}\n{}", ferry.log()));
        // While the work runs, every request goes to the other process.
        for _ in 0..6 {
            assert_eq!(pid_of(&get_pid(&client, &ferry, &[]).await), other);
        }

        std::fs::write(oob_dir.path().join("oob-release"), b"").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let events = loop {
            let (pid, events) = whoami(&client, &ferry).await;
            if pid == busy {
                break events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{busy} serves no request after its out-of-band work"
            );
            tokio::time::sleep(POLL).await;
        };
        assert!(events.iter().any(|e| e == "oob_work"), "{events:?}");
    })
    .await;
}

#[tokio::test]
async fn the_only_process_does_no_out_of_band_work() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let oob_dir = apps::temp_dir();
        let envvar = format!("FERRY_TEST_OOB_DIR={}", oob_dir.path().display());
        let ferry = start(&rack_stub(), &["--max-pool-size", "1", "--envvar", &envvar]).await;
        let client = Client::new();
        let reply = client.get(&ferry.url_for("/oob")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let pid = pid_of(&reply);
        // The process stays checked out until the pool has decided on the work, so this request
        // comes after that decision; had the work run, its event would be recorded by now.
        let (served_by, events) = whoami(&client, &ferry).await;
        assert_eq!(served_by, pid);
        assert!(!events.iter().any(|e| e == "oob_work"), "{events:?}");
        assert!(!oob_dir.path().join(format!("oob-started-{pid}")).exists());
    })
    .await;
}

#[tokio::test]
async fn a_process_killed_mid_request_gives_502_and_is_replaced() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(&rack_stub(), &["--max-pool-size", "2"]).await;
        let client = Client::new();
        let first = pid_of(&get_pid(&client, &ferry, &[]).await);
        let dir = apps::temp_dir();
        let gate = dir.path().join("gate");
        // A POST: Ferry never sends it twice, so the failure reaches the client.
        let hanging = {
            let url = ferry.url_for(&format!("/hang?gate={}", gate.display()));
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .request(client::request(Method::POST, &url, &[], body::empty()))
                    .await
            })
        };
        let started = PathBuf::from(format!("{}.started", gate.display()));
        let victim: u32 = poll_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&started).ok()?.trim().parse().ok()
        })
        .await
        .expect("the request reaches the app");
        assert_eq!(victim, first);
        kill(Pid::from_raw(victim as i32), Signal::SIGKILL).unwrap();

        let reply = hanging.await.unwrap().unwrap();
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
        assert!(
            wait_gone(&BTreeSet::from([victim]), Duration::from_secs(10)).await,
            "the killed process was reaped"
        );
        let replacement = pid_of(&get_pid(&client, &ferry, &[]).await);
        assert_ne!(replacement, victim);
        // The pool took it out either when it saw the exit or, if a request got there first,
        // when that request could not connect.
        let removed = poll_until(Duration::from_secs(10), || {
            let log = ferry.log();
            (log.contains("unexpectedly; removed from the pool")
                || log.contains("could not be reached; detaching it"))
            .then_some(())
        })
        .await;
        assert!(removed.is_some(), "{}", ferry.log());
    })
    .await;
}

/// Grows the process serving `/grow` to 200 MB, past a limit of 150 MB; returns once the log
/// says `needle`, the process has gone and a new one answers, with the status `/grow` got (if
/// any).
async fn outgrow_the_limit(ferry: &Ferry, needle: &str) -> Option<StatusCode> {
    let client = Client::new();
    let before = pid_of(&get_pid(&client, ferry, &[]).await);
    // A POST: a process killed while growing would see a GET sent again, to its replacement.
    let url = ferry.url_for("/grow?mb=200");
    let grown = client
        .request(client::request(Method::POST, &url, &[], body::empty()))
        .await;
    ferry
        .wait_for_log(needle, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", ferry.log()));
    assert!(
        wait_gone(&BTreeSet::from([before]), Duration::from_secs(20)).await,
        "{before} still runs"
    );
    let after = pid_of(&get_pid(&client, ferry, &[]).await);
    assert_ne!(after, before);
    let grown = grown.ok();
    if let Some(reply) = grown.as_ref().filter(|r| r.status == StatusCode::OK) {
        assert_eq!(pid_of(reply), before, "the process that grew answered");
    }
    grown.map(|r| r.status)
}

#[tokio::test]
async fn a_process_over_the_memory_limit_is_replaced_after_its_request() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            &rack_stub(),
            &["--memory-limit", "150", "--min-instances", "1"],
        )
        .await;
        let grown = outgrow_the_limit(&ferry, "over memory_limit (150 MB)").await;
        // The soft limit lets the request finish.
        assert_eq!(grown, Some(StatusCode::OK));
    })
    .await;
}

#[tokio::test]
async fn a_process_over_the_memory_hard_limit_is_killed() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            &rack_stub(),
            &["--memory-hard-limit", "150", "--min-instances", "1"],
        )
        .await;
        // Killed at the first check over the limit, whether or not it had answered yet.
        let grown = outgrow_the_limit(&ferry, "over memory_hard_limit (150 MB)").await;
        assert!(
            matches!(grown, Some(StatusCode::OK | StatusCode::BAD_GATEWAY)),
            "{grown:?}"
        );
    })
    .await;
}

/// The hook lines written so far, as (hook name, pid, app root).
fn hook_lines(log: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('|');
            Some((
                fields.next()?.to_owned(),
                fields.next()?.to_owned(),
                fields.next()?.to_owned(),
            ))
        })
        .collect()
}

async fn wait_for_hook(log: &Path, name: &str, pid: &str, root: &str) {
    let found = poll_until(Duration::from_secs(20), || {
        hook_lines(log)
            .iter()
            .any(|(n, p, r)| n == name && p == pid && r == root)
            .then_some(())
    })
    .await;
    assert!(
        found.is_some(),
        "no {name} hook with pid {pid:?} and root {root}: {:?}",
        hook_lines(log)
    );
}

#[tokio::test]
async fn the_pool_runs_its_hooks() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let log = dir.path().join("hooks.log");
        let script = dir.path().join("hook.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$PASSENGER_HOOK_NAME|$PASSENGER_PROCESS_PID|$PASSENGER_APP_ROOT\" >> '{}'\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hooks: Vec<String> = [
            "attached_process",
            "detached_process",
            "after_initialize_supergroup",
            "before_destroy_supergroup",
        ]
        .iter()
        .map(|name| format!("{name}={}", script.display()))
        .collect();
        let mut args = vec!["--max-requests", "1"];
        for hook in &hooks {
            args.extend(["--hook", hook]);
        }
        let ferry = start(&rack_stub(), &args).await;
        let root = rack_stub().canonicalize().unwrap().display().to_string();

        // Its first request starts the app; the process that served it is replaced after it.
        let pid = pid_of(&get_pid(&Client::new(), &ferry, &[]).await).to_string();
        wait_for_hook(&log, "after_initialize_supergroup", "", &root).await;
        wait_for_hook(&log, "attached_process", &pid, &root).await;
        wait_for_hook(&log, "detached_process", &pid, &root).await;
        assert!(
            !hook_lines(&log)
                .iter()
                .any(|(n, _, _)| n == "before_destroy_supergroup"),
            "{:?}",
            hook_lines(&log)
        );

        ferry.signal(Signal::SIGTERM).unwrap();
        let status = ferry.wait_exit(Duration::from_secs(30)).await.unwrap();
        assert!(status.success(), "{status}");
        wait_for_hook(&log, "before_destroy_supergroup", "", &root).await;
    })
    .await;
}
