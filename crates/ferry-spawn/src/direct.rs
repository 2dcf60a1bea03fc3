//! The direct spawner: start a process from its start command, without a preloader.
//!
//! Generic route (seed 004):
//!
//! ```text
//!   Ferry                                   subprocess
//!   Preparation      choose a free port
//!   ForkSubprocess   /bin/sh -c "exec CMD"  ---> AppLoadOrExec (PORT=<port>)
//!   HandshakePerform connect to 127.0.0.1:PORT   Listen
//!                    until it accepts,
//!                    the process exits, or the start timeout passes (SIGKILL the group)
//!   Finish           hand the process to the pool
//! ```

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Category, SpawnError};
use crate::handle::{self, ProcessHandle, StopMode};
use crate::journey::{Journey, Step};
use crate::output::{self, OutputTail};
use crate::{sys, Concurrency, Endpoint, SpawnOptions, Spawned, Spawner};

/// How long to wait for the rest of a failed app's output after it exited.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);
/// First and longest pause between two connection attempts while waiting for the app to listen.
const PING_FIRST: Duration = Duration::from_millis(5);
const PING_MAX: Duration = Duration::from_millis(100);

/// Starts app processes directly from their start command.
///
/// Clones share their state: shutting one down shuts down all.
#[derive(Debug, Clone, Default)]
pub struct DirectSpawner {
    /// Every supervisor task this spawner started, so shutdown can wait until all are reaped.
    supervisors: TaskTracker,
    /// Cancelled at shutdown: spawns in progress give up.
    cancel: CancellationToken,
}

impl DirectSpawner {
    /// A new direct spawner.
    pub fn new() -> Self {
        DirectSpawner::default()
    }
}

impl Spawner for DirectSpawner {
    async fn shutdown(&self) {
        self.cancel.cancel();
        self.supervisors.close();
        self.supervisors.wait().await;
    }

    async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let deadline = Instant::now() + options.start_timeout;
        let mut journey = Journey::spawn_directly();

        journey.begin(Step::Preparation);
        let port = match free_port() {
            Ok(port) => port,
            Err(e) => {
                journey.fail(Step::Preparation);
                let summary = format!("could not find a free port for the application: {e}");
                return Err(SpawnError::new(
                    Category::OperatingSystem,
                    Step::Preparation,
                    summary,
                    journey,
                ));
            }
        };
        let mut cmd = command(options, port);
        journey.end(Step::Preparation);

        journey.begin(Step::ForkSubprocess);
        let (handle, tail) = match start(&mut cmd, &self.supervisors) {
            Ok(started) => started,
            Err(e) => {
                journey.fail(Step::ForkSubprocess);
                let summary = format!("could not start `{}`: {e}", options.start_command);
                return Err(SpawnError::new(
                    Category::OperatingSystem,
                    Step::ForkSubprocess,
                    summary,
                    journey,
                ));
            }
        };
        drop(cmd); // closes our copy of the output pipe's write end
        journey.end(Step::ForkSubprocess);
        journey.begin(Step::SubprocessAppLoadOrExec);
        journey.begin(Step::HandshakePerform);

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let waited = tokio::select! {
            waited = wait_until_listening(addr, &handle, deadline) => waited,
            () = self.cancel.cancelled() => Err(Failure::Cancelled),
        };
        match waited {
            Ok(()) => {
                journey.end(Step::SubprocessAppLoadOrExec);
                journey.end(Step::SubprocessListen);
                journey.end(Step::HandshakePerform);
                journey.begin(Step::Finish);
                journey.end(Step::Finish);
                tracing::info!(pid = handle.pid(), %addr, "app process is up");
                Ok(Spawned {
                    endpoint: Endpoint::Tcp(addr),
                    concurrency: Concurrency::Unlimited,
                    handle,
                    journey,
                })
            }
            Err(failure) => Err(failed(failure, options, port, handle, tail, journey).await),
        }
    }
}

/// Why waiting for the app failed.
enum Failure {
    Exited(handle::ExitInfo),
    TimedOut,
    Cancelled,
}

/// Asks the OS for a free loopback port.
///
/// The listener is closed before the app binds the port; another program could take it in between,
/// but the kernel hands out ephemeral ports in rotation, so a quick reuse is unlikely, and the app
/// then fails to listen and the spawn reports it.
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn command(options: &SpawnOptions, port: u16) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(shell_script(&options.start_command))
        .current_dir(&options.app_root)
        .env("PORT", port.to_string())
        .env("PWD", &options.app_root)
        .env("IN_PASSENGER", "1")
        .env("PYTHONUNBUFFERED", "1");
    for var in [
        "PASSENGER_APP_ENV",
        "RAILS_ENV",
        "RACK_ENV",
        "WSGI_ENV",
        "NODE_ENV",
    ] {
        cmd.env(var, &options.environment);
    }
    cmd.envs(options.env.iter().map(|(k, v)| (k, v)));
    // Its own process group, so stopping it reaches everything it starts.
    cmd.process_group(0);
    sys::die_with_parent(&mut cmd);
    cmd
}

/// The script `/bin/sh -c` runs. A simple command is prefixed with `exec`, as Passenger does, so the
/// app itself is the process Ferry supervises (its pid is the one `ferry status` shows). A compound
/// command (`cd x && node app.js`, `a; b`) runs as written: `exec` would apply to its first part
/// only; the shell then stays the group leader and stopping the group still reaches the app.
fn shell_script(command: &str) -> String {
    let trimmed = command.trim_start();
    if trimmed.starts_with("exec ") || is_compound(trimmed) {
        command.to_owned()
    } else {
        format!("exec {command}")
    }
}

/// Whether `command` has shell control operators outside quotes.
fn is_compound(command: &str) -> bool {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in command.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            ';' | '&' | '|' | '\n' | '(' | ')' if !single && !double => return true,
            _ => {}
        }
    }
    false
}

/// Forks and execs the command, with stdin a pipe (its lifetime pipe) and stdout and stderr one
/// shared pipe whose lines are captured.
fn start(cmd: &mut Command, tracker: &TaskTracker) -> std::io::Result<(ProcessHandle, OutputTail)> {
    let (reader, writer) = std::io::pipe()?;
    cmd.stdin(Stdio::piped())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let mut child = cmd.spawn()?;
    let stdin = child.stdin.take();
    let pid = child.id().unwrap_or_default();
    let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into())?;
    let tail = output::capture(pipe, pid);
    let handle = handle::supervise(child, stdin, tracker)
        .ok_or_else(|| std::io::Error::other("the process vanished right after it started"))?;
    Ok((handle, tail))
}

/// Connects to `addr` until it accepts, the process exits, or the deadline passes.
async fn wait_until_listening(
    addr: SocketAddr,
    handle: &ProcessHandle,
    deadline: Instant,
) -> Result<(), Failure> {
    let exited = handle.exited();
    tokio::pin!(exited);
    let mut pause = PING_FIRST;
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::select! {
            info = &mut exited => return Err(Failure::Exited(info)),
            () = tokio::time::sleep_until(deadline) => return Err(Failure::TimedOut),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(PING_MAX);
    }
}

/// Turns a failed wait into a spawn error, making sure the process is gone and its output read.
async fn failed(
    failure: Failure,
    options: &SpawnOptions,
    port: u16,
    handle: ProcessHandle,
    tail: OutputTail,
    mut journey: Journey,
) -> SpawnError {
    journey.fail(Step::HandshakePerform);
    let error = match failure {
        Failure::Exited(info) => {
            journey.fail(Step::SubprocessAppLoadOrExec);
            let summary = format!(
                "The application process exited prematurely: `{}` {info} before it listened \
                 on port {port} (given to it in $PORT)",
                options.start_command
            );
            SpawnError::new(Category::Internal, Step::HandshakePerform, summary, journey)
        }
        Failure::TimedOut => {
            journey.fail(Step::SubprocessListen);
            handle.stop(StopMode::Kill);
            let detail =
                format!("the application did not listen on port {port} (given to it in $PORT)");
            SpawnError::timeout(
                Step::HandshakePerform,
                options.start_timeout,
                &detail,
                journey,
            )
        }
        Failure::Cancelled => {
            handle.stop(StopMode::Kill);
            let summary = "the spawn was aborted because Ferry is shutting down".to_owned();
            SpawnError::new(Category::Internal, Step::HandshakePerform, summary, journey)
        }
    };
    handle.wait().await;
    tail.wait_closed(OUTPUT_DRAIN).await;
    error.with_output(tail.text())
}

#[cfg(test)]
mod tests;
