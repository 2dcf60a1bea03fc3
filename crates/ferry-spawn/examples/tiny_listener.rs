//! The most trivial generic app, for measuring spawn overhead (`bench/spawn.sh`): it listens on
//! `127.0.0.1:$PORT` as soon as it starts, then accepts connections and drops them at once, until
//! it is killed or its stdin reaches end-of-file (Ferry's lifetime pipe closing).
//!
//! When `$TINY_LISTENER_STAMP` names a file, it writes the `CLOCK_MONOTONIC` time (seconds) at which
//! it started listening there, after listening, so the benchmark can tell the app's own startup from
//! the time it took to notice it.
//!
//! Usage: `PORT=5000 tiny_listener` (with stdin a pipe or a terminal: `< /dev/null` makes it exit
//! right after it starts listening).

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::process::ExitCode;

fn main() -> ExitCode {
    let port = match std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    {
        Some(port) => port,
        None => {
            eprintln!("tiny_listener: $PORT must be set to a port number");
            return ExitCode::from(64);
        }
    };
    let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("tiny_listener: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Only after listening, so that neither costs the startup anything.
    if let Some(path) = std::env::var_os("TINY_LISTENER_STAMP") {
        let _ = std::fs::write(path, format!("{:.6}", monotonic_now()));
    }
    std::thread::spawn(exit_when_stdin_closes);
    for stream in listener.incoming() {
        drop(stream);
    }
    ExitCode::SUCCESS
}

/// Exits the process once stdin reaches end-of-file or fails.
fn exit_when_stdin_closes() {
    let mut buf = [0u8; 256];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    std::process::exit(0);
}

/// The journey's clock: `CLOCK_MONOTONIC`, in seconds.
fn monotonic_now() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}
