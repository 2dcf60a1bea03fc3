//! Smart spawning with real Ruby and Python processes: the preloader route of `DirectSpawner`,
//! driven directly (no pool, no front end), against the heavy stub apps of
//! `ferry-test-support/apps/heavy-{ruby,python}` (their load sleeps, then builds a large
//! read-only structure).
//!
//! This executable has its own `main` (`harness = false`): spawns run it as their environment
//! setupper (`<this exe> spawn-env-setupper WD --before`), the role the `ferry` binary plays in
//! production. Without arguments it runs every test, one after another; arguments that do not
//! start with `-` select tests by substring. A test whose interpreter is missing is skipped, and
//! says so; under CI it fails instead (`ferry_test_support::require`).

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use ferry_spawn::{
    AppKind, DirectSpawner, Endpoint, JourneyType, Promotion, SpawnMethod, SpawnOptions, Spawned,
    Spawner, SpawnerConfig, Step, StopMode,
};
use ferry_test_support::require::require;
use ferry_test_support::Requirement;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

type Test = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every test, by name.
const TESTS: &[(&str, Test)] = &[
    ("ruby_workers_are_forked_by_the_preloader", || {
        Box::pin(workers_are_forked_by_the_preloader(Lang::Ruby))
    }),
    ("python_workers_are_forked_by_the_preloader", || {
        Box::pin(workers_are_forked_by_the_preloader(Lang::Python))
    }),
    ("ruby_an_idle_preloader_is_stopped_and_replaced", || {
        Box::pin(an_idle_preloader_is_stopped_and_replaced(Lang::Ruby))
    }),
    ("python_an_idle_preloader_is_stopped_and_replaced", || {
        Box::pin(an_idle_preloader_is_stopped_and_replaced(Lang::Python))
    }),
    ("ruby_a_crashed_preloader_is_restarted", || {
        Box::pin(a_crashed_preloader_is_restarted(Lang::Ruby))
    }),
    ("python_a_crashed_preloader_is_restarted", || {
        Box::pin(a_crashed_preloader_is_restarted(Lang::Python))
    }),
    ("ruby_a_syntax_error_fails_the_preloader_step", || {
        Box::pin(a_load_error_fails_the_preloader_journey(Lang::Ruby))
    }),
    ("python_a_syntax_error_fails_the_preloader_step", || {
        Box::pin(a_load_error_fails_the_preloader_journey(Lang::Python))
    }),
    ("ruby_a_restart_replaces_the_preloader", || {
        Box::pin(a_restart_replaces_the_preloader(Lang::Ruby))
    }),
    (
        "ruby_a_failed_smart_spawn_falls_back_to_direct_when_asked",
        || Box::pin(a_failed_smart_spawn_falls_back_to_direct_when_asked()),
    ),
    ("ruby_direct_spawning_still_works", || {
        Box::pin(direct_spawning_still_works(Lang::Ruby))
    }),
    ("python_direct_spawning_still_works", || {
        Box::pin(direct_spawning_still_works(Lang::Python))
    }),
    // Issue 22, refork:
    ("ruby_a_promoted_worker_becomes_the_template", || {
        Box::pin(a_promoted_worker_becomes_the_template(Lang::Ruby))
    }),
    ("python_a_promoted_worker_becomes_the_template", || {
        Box::pin(a_promoted_worker_becomes_the_template(Lang::Python))
    }),
];

/// Longest any one test may take.
const LIMIT: Duration = Duration::from_secs(90);

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "spawn-env-setupper") {
        std::process::exit(ferry_spawn::setupper::run(&argv[2..]));
    }
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .init();
    }
    let filters: Vec<String> = argv[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in TESTS {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        // Threads named after the test, which names it in a skip or failure message.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name(*name)
            .enable_all()
            .build()
            .expect("runtime");
        let started = std::time::Instant::now();
        let outcome = runtime.block_on(async {
            let run = tokio::spawn(tokio::time::timeout(LIMIT, test()));
            match run.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(format!("did not finish within {LIMIT:?}")),
                Err(e) => Err(format!("panicked: {e}")),
            }
        });
        runtime.shutdown_timeout(Duration::from_secs(5));
        match outcome {
            Ok(()) => println!("test {name} ... ok ({:.1?})", started.elapsed()),
            Err(why) => {
                println!("test {name} ... FAILED: {why}");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// === fixtures ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Ruby,
    Python,
}

impl Lang {
    fn interpreter(self) -> &'static str {
        match self {
            Lang::Ruby => "ruby",
            Lang::Python => "python3",
        }
    }

    fn fixture(self) -> PathBuf {
        let name = match self {
            Lang::Ruby => "heavy-ruby",
            Lang::Python => "heavy-python",
        };
        repo().join("crates/ferry-test-support/apps").join(name)
    }

    fn startup_file(self) -> &'static str {
        match self {
            Lang::Ruby => "config.ru",
            Lang::Python => "passenger_wsgi.py",
        }
    }

    /// Whether the interpreter runs; tests skip (and say so) when it does not, and fail under CI.
    fn available(self) -> bool {
        require(&[Requirement::Program(self.interpreter())])
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn spawner() -> DirectSpawner {
    let exe = std::env::current_exe().expect("current exe");
    DirectSpawner::new(SpawnerConfig::new(vec![
        exe.into(),
        "spawn-env-setupper".into(),
    ]))
}

/// Smart-spawning options for the `lang` app in `root`, run as the current user.
fn options(lang: Lang, root: &Path) -> SpawnOptions {
    let (loader, app_type, title) = match lang {
        Lang::Ruby => ("ruby/rack-loader.rb", "ruby", "Ferry RubyApp"),
        Lang::Python => ("python/wsgi-loader.py", "python", "Ferry PythonApp"),
    };
    let loader = repo().join("loaders").join(loader);
    let command = format!("{} {}", lang.interpreter(), loader.display());
    let mut options = SpawnOptions::generic(root, command);
    options.app_type = app_type.into();
    options.kind = AppKind::SpawningKit { wrapper: true };
    options.startup_file = Some(root.join(lang.startup_file()));
    options.process_title = Some(title.into());
    options.start_timeout = Duration::from_secs(30);
    options.spawn_method = SpawnMethod::Smart;
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .expect("current user");
    options.user_switching.user = Some(user);
    // The current user may be root, which an app may be only when allowed.
    options.user_switching.allow_root = true;
    // One request per connection, so a test client can read a response until end-of-file.
    options
        .extra_args
        .push(("keepalive".into(), serde_json::Value::Bool(false)));
    options
}

/// Sends `GET path` in the `session` protocol and returns the body.
async fn get(spawned: &Spawned, path: &str) -> String {
    let Endpoint::Unix(socket) = &spawned.endpoint else {
        panic!(
            "a loader listens on a unix socket, not {:?}",
            spawned.endpoint
        )
    };
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .expect("connect to the worker");
    let pairs = [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", path),
        ("PATH_INFO", path),
        ("SCRIPT_NAME", ""),
        ("QUERY_STRING", ""),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "0"),
        (
            "PASSENGER_CONNECT_PASSWORD",
            spawned.connect_password.as_str(),
        ),
    ];
    let mut payload = Vec::new();
    for (key, value) in pairs {
        payload.extend_from_slice(key.as_bytes());
        payload.push(0);
        payload.extend_from_slice(value.as_bytes());
        payload.push(0);
    }
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    stream.write_all(&frame).await.expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read the response");
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    assert!(head.contains(" 200 "), "unexpected response: {text}");
    body.to_owned()
}

/// The parent pid of `pid`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s[s.rfind(')')? + 2..].chars().next()? != 'Z'))
        .unwrap_or(false)
}

/// Polls `cond` until it holds or `limit` passes.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop(spawned: Spawned) {
    spawned
        .handle
        .stop(StopMode::Graceful(Duration::from_secs(10)));
    spawned.handle.wait().await;
}

fn preloader_pid(spawner: &DirectSpawner) -> u32 {
    let list = spawner.preloaders();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].pid
}

/// A copy of the heavy app whose load takes no time, for tests that do not measure.
fn quick_app(lang: Lang) -> (tempfile::TempDir, SpawnOptions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = lang.fixture().join(lang.startup_file());
    std::fs::copy(src, dir.path().join(lang.startup_file())).expect("copy the app");
    let mut options = options(lang, dir.path());
    options.env.push(("HEAVY_LOAD_SECONDS".into(), "0".into()));
    options.env.push(("HEAVY_ENTRIES".into(), "1000".into()));
    (dir, options)
}

// === tests ===

async fn workers_are_forked_by_the_preloader(lang: Lang) {
    if !lang.available() {
        return;
    }
    let spawner = spawner();
    let options = options(lang, &lang.fixture());

    let first = spawner.spawn(&options).await.expect("first spawn");
    assert_eq!(first.journey.kind(), JourneyType::SpawnThroughPreloader);
    let preloader = preloader_pid(&spawner);
    assert_eq!(parent_of(first.handle.pid()), Some(preloader));
    let title = std::fs::read_to_string(format!("/proc/{preloader}/cmdline")).unwrap_or_default()
        + &std::fs::read_to_string(format!("/proc/{preloader}/comm")).unwrap_or_default();
    assert!(title.contains("Ferry AppPre"), "preloader title: {title:?}");

    // Another full load takes over a second; a fork from the loaded preloader, far less.
    let started = Instant::now();
    let second = spawner.spawn(&options).await.expect("second spawn");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the second spawn took {took:?}"
    );
    assert_eq!(parent_of(second.handle.pid()), Some(preloader));
    assert_ne!(first.handle.pid(), second.handle.pid());
    assert_eq!(spawner.preloaders()[0].workers_spawned, 2);

    assert_eq!(get(&first, "/forked").await, "true");
    assert_eq!(get(&second, "/forked").await, "true");
    assert_eq!(get(&second, "/size").await, "200000");
    let (a, b) = (get(&first, "/random").await, get(&second, "/random").await);
    assert_ne!(a, b, "two workers drew the same random number");

    let journey = &second.journey;
    for step in [
        Step::ConnectToPreloader,
        Step::PreloaderForkSubprocess,
        Step::SubprocessPrepareAfterForkingFromPreloader,
        Step::SubprocessListen,
    ] {
        assert_eq!(
            journey.state(step),
            ferry_spawn::StepState::Performed,
            "{step}"
        );
    }

    let worker = first.handle.pid();
    stop(first).await;
    // The preloader reaps its children: no zombie is left behind.
    assert!(
        eventually(Duration::from_secs(10), || !alive(worker)
            && parent_of(worker) != Some(preloader))
        .await,
        "worker {worker} was not reaped"
    );
    stop(second).await;
    spawner.shutdown().await;
    assert!(!alive(preloader), "the preloader outlived shutdown");
}

async fn an_idle_preloader_is_stopped_and_replaced(lang: Lang) {
    if !lang.available() {
        return;
    }
    let (_dir, mut options) = quick_app(lang);
    options.max_preloader_idle_time = Duration::from_millis(500);
    let spawner = spawner();
    let worker = spawner.spawn(&options).await.expect("spawn");
    let first = preloader_pid(&spawner);
    assert!(
        eventually(Duration::from_secs(10), || spawner.preloaders().is_empty()).await,
        "the idle preloader was not stopped"
    );
    assert!(
        eventually(Duration::from_secs(10), || !alive(first)).await,
        "the idle preloader did not exit"
    );
    // Its worker lives on.
    assert_eq!(get(&worker, "/forked").await, "true");

    let later = spawner.spawn(&options).await.expect("spawn after idle");
    let second = preloader_pid(&spawner);
    assert_ne!(first, second);
    assert_eq!(parent_of(later.handle.pid()), Some(second));
    stop(worker).await;
    stop(later).await;
    spawner.shutdown().await;
}

async fn a_crashed_preloader_is_restarted(lang: Lang) {
    if !lang.available() {
        return;
    }
    let (_dir, options) = quick_app(lang);
    let spawner = spawner();
    let worker = spawner.spawn(&options).await.expect("spawn");
    let first = preloader_pid(&spawner);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the preloader");
    let again = spawner
        .spawn(&options)
        .await
        .expect("spawn after the crash");
    let second = preloader_pid(&spawner);
    assert_ne!(first, second);
    assert_eq!(parent_of(again.handle.pid()), Some(second));
    assert_eq!(get(&worker, "/forked").await, "true");
    stop(worker).await;
    stop(again).await;
    spawner.shutdown().await;
}

async fn a_load_error_fails_the_preloader_journey(lang: Lang) {
    if !lang.available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = match lang {
        Lang::Ruby => "run lambda { |env| [200, {}, [\"x\"]]\n",
        Lang::Python => "def application(environ, start_response)\n    return []\n",
    };
    std::fs::write(dir.path().join(lang.startup_file()), broken).expect("write the app");
    let spawner = spawner();
    let error = spawner
        .spawn(&options(lang, dir.path()))
        .await
        .expect_err("a syntax error cannot load");
    assert_eq!(error.journey().kind(), JourneyType::StartPreloader);
    assert_eq!(error.step(), Step::SubprocessAppLoadOrExec);
    assert!(
        error.summary().contains("preloader"),
        "summary: {}",
        error.summary()
    );
    assert!(
        error.output().to_lowercase().contains("syntax"),
        "output: {}",
        error.output()
    );
    assert!(spawner.preloaders().is_empty());
    spawner.shutdown().await;
}

async fn a_restart_replaces_the_preloader(lang: Lang) {
    if !lang.available() {
        return;
    }
    let (_dir, mut options) = quick_app(lang);
    let spawner = spawner();
    let old = spawner.spawn(&options).await.expect("spawn");
    let first = preloader_pid(&spawner);
    options.restart_generation = 1;
    let new = spawner
        .spawn(&options)
        .await
        .expect("spawn after a restart");
    let second = preloader_pid(&spawner);
    assert_ne!(first, second);
    assert_eq!(spawner.preloaders()[0].generation, 1);
    assert_eq!(parent_of(new.handle.pid()), Some(second));
    assert!(
        eventually(Duration::from_secs(10), || !alive(first)).await,
        "the old preloader did not exit"
    );
    stop(old).await;
    stop(new).await;
    spawner.shutdown().await;
}

async fn a_failed_smart_spawn_falls_back_to_direct_when_asked() {
    let lang = Lang::Ruby;
    if !lang.available() {
        return;
    }
    // An app that refuses to be preloaded (it can tell from the spawn arguments).
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("config.ru"),
        "raise 'I will not be preloaded' if File.exist?(File.join(ENV['PASSENGER_SPAWN_WORK_DIR'], 'args', 'preloader'))\n\
         run lambda { |env| [200, {}, ['direct']] }\n",
    )
    .expect("write the app");
    let mut options = options(lang, dir.path());
    let spawner = spawner();
    let error = spawner.spawn(&options).await.expect_err("no fallback");
    assert_eq!(error.journey().kind(), JourneyType::StartPreloader);

    options.smart_fallback_to_direct = true;
    let spawned = spawner.spawn(&options).await.expect("fell back");
    assert_eq!(spawned.journey.kind(), JourneyType::SpawnDirectly);
    assert_eq!(get(&spawned, "/").await, "direct");
    stop(spawned).await;
    spawner.shutdown().await;
}

async fn direct_spawning_still_works(lang: Lang) {
    if !lang.available() {
        return;
    }
    let (_dir, mut options) = quick_app(lang);
    options.spawn_method = SpawnMethod::Direct;
    let spawner = spawner();
    let spawned = spawner.spawn(&options).await.expect("spawn");
    assert_eq!(spawned.journey.kind(), JourneyType::SpawnDirectly);
    assert!(spawner.preloaders().is_empty());
    let expected = match lang {
        Lang::Ruby => "false",
        // No fork happened: the app's os.register_at_fork hook never ran.
        Lang::Python => "false",
    };
    assert_eq!(get(&spawned, "/forked").await, expected);
    stop(spawned).await;
    spawner.shutdown().await;
}

// Issue 22, refork:
/// A worker handed to `promote` becomes the app's preloader (a template, generation 1): the
/// cold preloader exits, later workers are the template's children and inherit its state, and
/// shutting the spawner down stops the template.
async fn a_promoted_worker_becomes_the_template(lang: Lang) {
    if !lang.available() {
        return;
    }
    let fixture = match lang {
        Lang::Ruby => "refork-rack",
        Lang::Python => "refork-wsgi",
    };
    let root = repo().join("crates/ferry-test-support/apps").join(fixture);
    let mut options = options(lang, &root);
    options.env.push(("LAZY_ENTRIES".into(), "1000".into()));
    let spawner = spawner();
    let worker = spawner.spawn(&options).await.expect("spawn");
    let cold = preloader_pid(&spawner);
    assert_eq!(get(&worker, "/lazy").await, "1000");
    let pid = worker.handle.pid();
    let promotion = Promotion {
        endpoint: worker.endpoint,
        connect_password: worker.connect_password,
        peer_uid: worker.peer_uid,
        handle: worker.handle,
    };
    let promoted = spawner.promote(&options, promotion).await.expect("promote");
    assert_eq!((promoted.pid, promoted.template_generation), (pid, 1));
    let info = &spawner.preloaders()[0];
    assert_eq!(
        (info.pid, info.template_generation, info.generation),
        (pid, 1, 0)
    );
    assert!(
        eventually(Duration::from_secs(10), || !alive(cold)).await,
        "the cold preloader did not exit"
    );
    let child = spawner
        .spawn(&options)
        .await
        .expect("spawn from the template");
    assert_eq!(parent_of(child.handle.pid()), Some(pid));
    assert_eq!(get(&child, "/promoted").await, pid.to_string());
    assert_eq!(spawner.preloaders()[0].workers_spawned, 1);
    stop(child).await;
    spawner.shutdown().await;
    assert!(!alive(pid), "the template outlived shutdown");
}
