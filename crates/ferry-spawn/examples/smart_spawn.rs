//! Smart vs direct spawning of the heavy stub apps (`bench/smart-spawn.sh`): spawn latency and
//! private dirty memory per worker.
//!
//! For each language and spawn method, a fresh spawner starts `--workers` workers of
//! `ferry-test-support/apps/heavy-<lang>` one after another (its load sleeps 1 s and builds a large
//! read-only structure), then each worker answers one request, then its `Private_Dirty` (from
//! `/proc/PID/smaps_rollup`, the measure Ferry's memory limits use) is read. The first smart spawn
//! also starts the preloader, so it is reported apart from the later ones.
//!
//! Usage: `smart_spawn --ferry target/release/ferry [--workers 4] [--langs ruby,python]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ferry_spawn::{
    AppKind, DirectSpawner, Endpoint, SpawnMethod, SpawnOptions, Spawned, Spawner, SpawnerConfig,
    StopMode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One measured configuration.
struct Row {
    lang: &'static str,
    method: SpawnMethod,
    /// Seconds each spawn took, in order.
    spawns: Vec<f64>,
    /// Private dirty KiB of each worker.
    dirty: Vec<u64>,
    /// The preloader's private dirty KiB (smart only).
    preloader_dirty: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut ferry = None;
    let mut workers = 4usize;
    let mut langs = vec!["ruby", "python"];
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match (arg.as_str(), argv.next()) {
            ("--ferry", Some(v)) => ferry = Some(PathBuf::from(v)),
            ("--workers", Some(v)) => workers = v.parse().unwrap_or(4).max(2),
            ("--langs", Some(v)) => {
                langs = ["ruby", "python"]
                    .into_iter()
                    .filter(|l| v.split(',').any(|x| x == *l))
                    .collect();
            }
            _ => {
                eprintln!("usage: smart_spawn --ferry PATH [--workers N] [--langs ruby,python]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(ferry) = ferry else {
        eprintln!("smart_spawn: --ferry is required");
        return ExitCode::from(2);
    };
    let mut rows = Vec::new();
    for lang in langs {
        for method in [SpawnMethod::Direct, SpawnMethod::Smart] {
            match measure(&ferry, lang, method, workers).await {
                Ok(row) => rows.push(row),
                Err(e) => {
                    eprintln!("smart_spawn: {lang} {method}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    report(&rows, workers);
    ExitCode::SUCCESS
}

async fn measure(
    ferry: &Path,
    lang: &'static str,
    method: SpawnMethod,
    workers: usize,
) -> Result<Row, String> {
    let spawner = DirectSpawner::new(SpawnerConfig::new(vec![
        ferry.into(),
        "spawn-env-setupper".into(),
    ]));
    let options = options(lang, method);
    let mut spawned = Vec::new();
    let mut spawns = Vec::new();
    for _ in 0..workers {
        let started = Instant::now();
        let process = spawner
            .spawn(&options)
            .await
            .map_err(|e| format!("spawn failed: {}", e.summary()))?;
        spawns.push(started.elapsed().as_secs_f64());
        spawned.push(process);
    }
    let mut dirty = Vec::new();
    for process in &spawned {
        get(process, "/size").await?;
        dirty.push(private_dirty_kib(process.handle.pid()).unwrap_or(0));
    }
    let preloader_dirty = spawner
        .preloaders()
        .first()
        .and_then(|p| private_dirty_kib(p.pid));
    for process in spawned {
        process
            .handle
            .stop(StopMode::Graceful(Duration::from_secs(10)));
        process.handle.wait().await;
    }
    spawner.shutdown().await;
    Ok(Row {
        lang,
        method,
        spawns,
        dirty,
        preloader_dirty,
    })
}

fn options(lang: &str, method: SpawnMethod) -> SpawnOptions {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (loader, interpreter, startup, app) = match lang {
        "ruby" => ("ruby/rack-loader.rb", "ruby", "config.ru", "heavy-ruby"),
        _ => (
            "python/wsgi-loader.py",
            "python3",
            "passenger_wsgi.py",
            "heavy-python",
        ),
    };
    let root = repo.join("crates/ferry-test-support/apps").join(app);
    let command = format!(
        "{interpreter} {}",
        repo.join("loaders").join(loader).display()
    );
    let mut options = SpawnOptions::generic(&root, command);
    options.app_type = if lang == "ruby" { "ruby" } else { "python" }.into();
    options.kind = AppKind::SpawningKit { wrapper: true };
    options.startup_file = Some(root.join(startup));
    options.start_timeout = Duration::from_secs(60);
    options.spawn_method = method;
    options.user_switching.user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name);
    // The current user may be root, which an app may be only when allowed.
    options.user_switching.allow_root = true;
    options
        .extra_args
        .push(("keepalive".into(), serde_json::Value::Bool(false)));
    options
}

/// One `GET` in the `session` protocol.
async fn get(spawned: &Spawned, path: &str) -> Result<String, String> {
    let Endpoint::Unix(socket) = &spawned.endpoint else {
        return Err("not a unix socket".into());
    };
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let mut payload = Vec::new();
    for (k, v) in [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", path),
        ("PATH_INFO", path),
        ("SCRIPT_NAME", ""),
        ("QUERY_STRING", ""),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        (
            "PASSENGER_CONNECT_PASSWORD",
            spawned.connect_password.as_str(),
        ),
    ] {
        payload.extend_from_slice(k.as_bytes());
        payload.push(0);
        payload.extend_from_slice(v.as_bytes());
        payload.push(0);
    }
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    stream.write_all(&frame).await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn private_dirty_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("Private_Dirty:")?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn mean_u64(values: &[u64]) -> f64 {
    values.iter().sum::<u64>() as f64 / values.len().max(1) as f64
}

fn report(rows: &[Row], workers: usize) {
    println!("Heavy stub apps (load sleeps 1 s, then builds a large read-only structure); {workers} workers each, spawned one after another.");
    println!();
    println!(
        "{:<7} {:<7} {:>12} {:>22} {:>26} {:>16}",
        "app",
        "method",
        "first spawn",
        "later spawns (median)",
        "private dirty/worker (mean)",
        "preloader dirty"
    );
    for row in rows {
        let later = median(&row.spawns[1..]);
        println!(
            "{:<7} {:<7} {:>10.3} s {:>20.3} s {:>23.1} MiB {:>12}",
            row.lang,
            row.method.name(),
            row.spawns[0],
            later,
            mean_u64(&row.dirty) / 1024.0,
            row.preloader_dirty
                .map_or("-".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
        );
    }
    println!();
    for lang in ["ruby", "python"] {
        let find = |m| rows.iter().find(|r| r.lang == lang && r.method == m);
        let (Some(direct), Some(smart)) = (find(SpawnMethod::Direct), find(SpawnMethod::Smart))
        else {
            continue;
        };
        let speedup = median(&direct.spawns[1..]) / median(&smart.spawns[1..]).max(1e-9);
        let memory = 100.0 * mean_u64(&smart.dirty) / mean_u64(&direct.dirty).max(1.0);
        println!(
            "{lang}: a spawn through the preloader is {speedup:.0}x faster than a direct spawn \
             (target >= 10x); a forked worker's private dirty memory is {memory:.0}% of a \
             directly spawned one's (target <= 40%)"
        );
    }
}
