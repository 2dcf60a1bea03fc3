//! Spawn overhead: the time from "start this app" to "its port accepts" for a trivial generic app,
//! through Ferry's [`DirectSpawner`] and through a bare `/bin/sh -c "exec APP"` (`bench/spawn.sh`).
//!
//! The variants run in turn, rotating which goes first, after a few uncounted warm-up rounds:
//!
//! - `bare`: fork/exec `/bin/sh -c "exec APP"` with `$PORT` set, then poll the port with the same
//!   policy as Ferry's handshake (connect; on failure sleep 2 ms, doubling up to 50 ms);
//! - `ferry`: `DirectSpawner::spawn` of `SpawnOptions::generic(tmpdir, APP)`, as the current user,
//!   with the default spawn dir (the system temp dir, as `ferry start` uses);
//! - `ferry --spawn-dir DIR` (only when `--spawn-dir` is given): the same with the work directories
//!   in DIR, e.g. a tmpfs, to show what the work directory's file system costs;
//! - `bare-tight`: like `bare` but polling every 0.5 ms, to show how much of a difference is
//!   polling granularity rather than work.
//!
//! It prints median, p90, min and mean per variant, how much Ferry adds, and where Ferry's time goes
//! (its journey's steps, and phases between monotonic timestamps of Ferry and the setupper).
//!
//! Usage: `spawn_overhead --ferry target/release/ferry --app target/release/examples/tiny_listener
//! [--runs 50] [--warmup 3] [--spawn-dir /dev/shm]`

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_spawn::{DirectSpawner, Journey, SpawnOptions, Spawner, SpawnerConfig, Step, StopMode};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Ferry's handshake polling policy (`crates/ferry-spawn/src/handshake.rs`).
const PING_FAST: Duration = Duration::from_millis(1);
const PING_FAST_FOR: Duration = Duration::from_millis(100);
const PING_MAX: Duration = Duration::from_millis(50);
/// The fixed pause of the `bare-tight` variant.
const TIGHT_PAUSE: Duration = Duration::from_micros(500);
/// Longest a single start may take before the benchmark gives up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Where `tiny_listener` writes the monotonic time at which it started listening.
const STAMP_VAR: &str = "TINY_LISTENER_STAMP";

/// The command line.
struct Args {
    ferry: PathBuf,
    app: String,
    runs: usize,
    warmup: usize,
    spawn_dir: Option<PathBuf>,
}

/// One way of starting the app.
enum Variant {
    /// A bare exec, polled like Ferry (`tight: false`) or every 0.5 ms.
    Bare { tight: bool },
    /// Through Ferry's direct spawner.
    Ferry(DirectSpawner),
}

/// A variant and what it measured.
struct Series {
    name: String,
    variant: Variant,
    /// Milliseconds from start to ready, one per counted run.
    times: Vec<f64>,
    /// Milliseconds from start until the app was listening (its own timestamp), per counted run.
    listened: Vec<f64>,
    /// Ferry only: each counted spawn's journey.
    runs: Vec<FerryRun>,
}

/// One start of a variant.
struct Measured {
    /// From start to ready.
    elapsed: Duration,
    /// The monotonic time of the start.
    called: f64,
    /// The monotonic time at which the app was listening, by its own account.
    listened: Option<f64>,
    /// Ferry only: the spawn's journey.
    run: Option<FerryRun>,
}

/// One Ferry spawn's journey, between the monotonic times (`CLOCK_MONOTONIC` seconds, the
/// journey's clock) at which the benchmark called `spawn` and `spawn` returned.
struct FerryRun {
    called: f64,
    journey: Journey,
    returned: f64,
}

// === main ===

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("spawn_overhead: {e}");
            eprintln!(
                "usage: spawn_overhead --ferry PATH --app PATH [--runs N (50)] [--warmup N (3)] \
                 [--spawn-dir DIR]"
            );
            return ExitCode::from(64);
        }
    };
    let root = match tempfile::tempdir() {
        Ok(root) => root,
        Err(e) => {
            eprintln!("spawn_overhead: cannot create a temp dir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut series = variants(&args);
    let stamp = root.path().join("listening");
    let options = spawn_options(root.path(), &args.app, &stamp);
    let result = run(&args, &options, &stamp, &mut series).await;
    for s in &series {
        if let Variant::Ferry(spawner) = &s.variant {
            spawner.shutdown().await;
        }
    }
    match result {
        Ok(()) => {
            report(&args, &series);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spawn_overhead: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut ferry, mut app, mut runs, mut warmup, mut spawn_dir) = (None, None, 50, 3, None);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--ferry" => ferry = Some(PathBuf::from(value()?)),
            "--app" => app = Some(PathBuf::from(value()?)),
            "--runs" => runs = number(&flag, &value()?)?,
            "--warmup" => warmup = number(&flag, &value()?)?,
            "--spawn-dir" => spawn_dir = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    // Absolute: Ferry runs the setupper from `/` and the app from its root.
    let absolute = |path: PathBuf| {
        std::fs::canonicalize(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    Ok(Args {
        ferry: absolute(ferry.ok_or("--ferry is required")?)?,
        app: absolute(app.ok_or("--app is required")?)?
            .to_string_lossy()
            .into_owned(),
        runs,
        warmup,
        spawn_dir: spawn_dir.map(absolute).transpose()?,
    })
}

fn number(flag: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} wants a number, not {value:?}"))
}

/// The variants, in the order of the table.
fn variants(args: &Args) -> Vec<Series> {
    let series = |name: String, variant| Series {
        name,
        variant,
        times: Vec::new(),
        listened: Vec::new(),
        runs: Vec::new(),
    };
    let mut all = vec![
        series(
            "bare exec, Ferry's polling".into(),
            Variant::Bare { tight: false },
        ),
        series(
            "Ferry DirectSpawner".into(),
            Variant::Ferry(spawner(&args.ferry, None)),
        ),
    ];
    if let Some(dir) = &args.spawn_dir {
        all.push(series(
            format!("Ferry, spawn dir {}", dir.display()),
            Variant::Ferry(spawner(&args.ferry, Some(dir))),
        ));
    }
    all.push(series(
        "bare exec, 0.5 ms polling".into(),
        Variant::Bare { tight: true },
    ));
    all
}

fn spawner(ferry: &Path, spawn_dir: Option<&Path>) -> DirectSpawner {
    let mut config = SpawnerConfig::new(vec![ferry.into(), "spawn-env-setupper".into()]);
    if let Some(dir) = spawn_dir {
        config.spawn_dir = dir.into();
    }
    DirectSpawner::new(config)
}

fn spawn_options(root: &Path, app: &str, stamp: &Path) -> SpawnOptions {
    let mut options = SpawnOptions::generic(root, app);
    options.start_timeout = START_TIMEOUT;
    options.user_switching.user = Some(current_user());
    // The current user may be root, which an app may be only when allowed.
    options.user_switching.allow_root = true;
    let stamp = stamp.to_string_lossy().into_owned();
    options.env.push((STAMP_VAR.into(), stamp));
    options
}

/// Warm-up rounds, then counted rounds; each round runs every variant once, rotating the order.
async fn run(
    args: &Args,
    options: &SpawnOptions,
    stamp: &Path,
    series: &mut [Series],
) -> Result<(), String> {
    let n = series.len();
    for round in 0..args.warmup + args.runs {
        let counted = round >= args.warmup;
        for i in 0..n {
            let s = &mut series[(round + i) % n];
            let _ = std::fs::remove_file(stamp);
            let measured = match &s.variant {
                Variant::Bare { tight } => bare(&args.app, *tight, stamp).await?,
                Variant::Ferry(spawner) => ferry(spawner, options, stamp).await?,
            };
            if counted {
                s.times.push(measured.elapsed.as_secs_f64() * 1e3);
                let listened = measured.listened.map(|t| (t - measured.called) * 1e3);
                s.listened.extend(listened);
                s.runs.extend(measured.run);
            }
        }
    }
    Ok(())
}

/// When the app said it was listening, in monotonic seconds. It writes that right after it
/// listens, so it may not have yet when the port first accepts: waits for it, briefly.
async fn listened_at(stamp: &Path) -> Option<f64> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(stamp).unwrap_or_default();
        if let Ok(time) = text.trim().parse() {
            return Some(time);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

// === Ferry ===

/// One spawn through Ferry: how long it took and its journey; then stops and reaps the app.
async fn ferry(
    spawner: &DirectSpawner,
    options: &SpawnOptions,
    stamp: &Path,
) -> Result<Measured, String> {
    let called = monotonic_now();
    let t0 = Instant::now();
    let spawned = spawner
        .spawn(options)
        .await
        .map_err(|e| format!("Ferry could not spawn the app: {e}"))?;
    let elapsed = t0.elapsed();
    let returned = monotonic_now();
    let listened = listened_at(stamp).await;
    spawned.handle.stop(StopMode::Kill);
    spawned.handle.wait().await;
    let run = FerryRun {
        called,
        journey: spawned.journey,
        returned,
    };
    Ok(Measured {
        elapsed,
        called,
        listened,
        run: Some(run),
    })
}

// === bare exec ===

/// One bare start: fork/exec `/bin/sh -c "exec APP"`, poll until the port accepts, kill, reap.
async fn bare(app: &str, tight: bool, stamp: &Path) -> Result<Measured, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let called = monotonic_now();
    let t0 = Instant::now();
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec {app}"))
        .env("PORT", port.to_string())
        .env(STAMP_VAR, stamp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    // Held until the app is killed, like Ferry's lifetime pipe (`Child::wait` would close it).
    let _stdin = child.stdin.take();
    let ready = wait_ready(&mut child, addr, tight).await;
    let elapsed = t0.elapsed();
    let listened = match ready {
        Ok(()) => listened_at(stamp).await,
        Err(_) => None,
    };
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.wait().await;
    ready.map(|()| Measured {
        elapsed,
        called,
        listened,
        run: None,
    })
}

/// Waits until `addr` accepts, the child exits, or the start timeout passes.
async fn wait_ready(child: &mut Child, addr: SocketAddr, tight: bool) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let poll = async {
        if tight {
            let stop = stop.clone();
            let _ = tokio::task::spawn_blocking(move || poll_tight(addr, &stop)).await;
        } else {
            poll_like_ferry(addr).await;
        }
    };
    let result = tokio::select! {
        () = poll => Ok(()),
        status = child.wait() => Err(format!("the app exited before it listened: {status:?}")),
        () = tokio::time::sleep(START_TIMEOUT) => Err(format!("the app did not listen on {addr}")),
    };
    stop.store(true, Ordering::Relaxed);
    result
}

/// Ferry's handshake polling, verbatim.
async fn poll_like_ferry(addr: SocketAddr) {
    let started = Instant::now();
    let mut pause = PING_FAST;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(pause).await;
        if started.elapsed() > PING_FAST_FOR {
            pause = (pause * 2).min(PING_MAX);
        }
    }
}

/// Polls every 0.5 ms on a blocking thread (tokio's timer ticks in whole milliseconds).
fn poll_tight(addr: SocketAddr, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(TIGHT_PAUSE);
    }
}

/// A free loopback port, chosen the way Ferry chooses one.
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

// === report ===

fn report(args: &Args, series: &[Series]) {
    println!(
        "spawn overhead: {} runs per variant after {} warm-up rounds; app: {}",
        args.runs, args.warmup, args.app
    );
    println!();
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8}",
        "variant (ms)", "median", "p90", "min", "mean"
    );
    for s in series {
        let st = Stats::of(&s.times);
        println!(
            "{:<40} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            s.name, st.median, st.p90, st.min, st.mean
        );
    }
    report_listened(series);
    let median = |i: usize| Stats::of(&series[i].times).median;
    let (bare, ferry, tight) = (median(0), median(1), median(series.len() - 1));
    println!();
    println!(
        "Ferry adds {:.2} ms (median) over bare exec with the same polling (ratio {:.2}x)",
        ferry - bare,
        ferry / bare
    );
    println!(
        "Ferry adds {:.2} ms (median) over bare exec with 0.5 ms polling (ratio {:.2}x)",
        ferry - tight,
        ferry / tight
    );
    if args.spawn_dir.is_some() {
        let alt = median(2);
        println!(
            "{} adds {:.2} ms (median) over bare exec with the same polling (ratio {:.2}x)",
            series[2].name,
            alt - bare,
            alt / bare
        );
    }
    for s in series.iter().filter(|s| !s.runs.is_empty()) {
        report_journeys(&s.name, &s.runs);
    }
}

/// When the app itself was listening, and how long it took to notice.
fn report_listened(series: &[Series]) {
    if series.iter().any(|s| s.listened.len() != s.times.len()) {
        println!("(the app did not report when it listened: no {STAMP_VAR} support?)");
        return;
    }
    println!();
    println!(
        "{:<40} {:>17} {:>17}",
        "", "app listening at", "noticed after"
    );
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8}",
        "(ms)", "median", "mean", "median", "mean"
    );
    for s in series {
        let listened = Stats::of(&s.listened);
        let lag: Vec<f64> = s
            .times
            .iter()
            .zip(&s.listened)
            .map(|(t, l)| t - l)
            .collect();
        let lag = Stats::of(&lag);
        println!(
            "{:<40} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            s.name, listened.median, listened.mean, lag.median, lag.mean
        );
    }
    let median = |i: usize| Stats::of(&series[i].listened).median;
    println!(
        "(\"app listening at\": its own timestamp, from the start; \"noticed after\": ready minus \
         that. Ferry's app listens {:.2} ms later than the bare one, median.)",
        median(1) - median(0)
    );
}

/// Where Ferry's time goes: the mean of each journey step, and of the phases between them.
fn report_journeys(name: &str, runs: &[FerryRun]) {
    let Some(first) = runs.first() else { return };
    println!();
    println!("{name}: mean per journey step (journey.duration(step)), ms:");
    for record in first.journey.steps() {
        let step = record.step;
        let durations: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.journey.duration(step))
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        if !durations.is_empty() {
            println!("  {:<60} {:>8.3}", step.name(), mean(&durations));
        }
    }
    println!("{name}: mean per phase (monotonic timestamps of Ferry and the setupper), ms:");
    for (phase, from, to) in PHASES {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| Some((to.at(r)? - from.at(r)?) * 1e3))
            .collect();
        if !values.is_empty() {
            println!("  {phase:<60} {:>8.3}", mean(&values));
        }
    }
}

/// A point in one Ferry spawn.
#[derive(Clone, Copy)]
enum Mark {
    /// The benchmark called `spawn`.
    Called,
    /// `spawn` returned.
    Returned,
    Begin(Step),
    End(Step),
}

const PHASES: [(&str, Mark, Mark); 6] = [
    (
        "spawn() called -> Preparation done (user, port, work dir)",
        Mark::Called,
        Mark::End(Step::Preparation),
    ),
    (
        "Preparation done -> fork of the setupper returned",
        Mark::End(Step::Preparation),
        Mark::End(Step::ForkSubprocess),
    ),
    (
        "fork -> setupper's first step (exec, ferry startup)",
        Mark::Begin(Step::ForkSubprocess),
        Mark::Begin(Step::SubprocessBeforeFirstExec),
    ),
    (
        "setupper's first step -> exec of /bin/sh (setupper work)",
        Mark::Begin(Step::SubprocessBeforeFirstExec),
        Mark::Begin(Step::SubprocessAppLoadOrExec),
    ),
    (
        "exec of /bin/sh -> handshake done (sh, app, polling)",
        Mark::Begin(Step::SubprocessAppLoadOrExec),
        Mark::End(Step::HandshakePerform),
    ),
    (
        "handshake done -> spawn() returned (work dir removal)",
        Mark::End(Step::HandshakePerform),
        Mark::Returned,
    ),
];

impl Mark {
    /// The monotonic time of this mark in one run, if recorded.
    fn at(self, run: &FerryRun) -> Option<f64> {
        let record = |step| run.journey.steps().iter().find(|r| r.step == step);
        match self {
            Mark::Called => Some(run.called),
            Mark::Returned => Some(run.returned),
            Mark::Begin(step) => record(step)?.begin,
            Mark::End(step) => record(step)?.end,
        }
    }
}

/// Summary statistics in milliseconds.
struct Stats {
    median: f64,
    p90: f64,
    min: f64,
    mean: f64,
}

impl Stats {
    /// Statistics of `values`, which must not be empty.
    fn of(values: &[f64]) -> Stats {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        // Nearest rank.
        let p90 = sorted[(n * 9).div_ceil(10).saturating_sub(1)];
        Stats {
            median,
            p90,
            min: sorted[0],
            mean: mean(values),
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The journey's clock: `CLOCK_MONOTONIC`, in seconds.
fn monotonic_now() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name)
}
