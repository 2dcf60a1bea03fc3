//! The direct spawner: start a process from its start command, without a preloader.
//!
//! ```text
//!   Ferry                                        subprocess
//!   Preparation       user, port, work dir
//!   ForkSubprocess    exec `ferry spawn-env-setupper WD --before` --> BeforeFirstExec
//!                                                    SpawnEnvSetupperBeforeShell (env, ulimits,
//!                                                      user, cwd)
//!                                                    OsShell (`bash -l`, when asked)
//!                                                    SpawnEnvSetupperAfterShell (env again, envdump)
//!   HandshakePerform  wait: `finish` FIFO,           [ExecWrapper, WrapperPreparation]
//!                     port (generic apps),           AppLoadOrExec
//!                     exit, timeout (SIGKILL)        Listen, Finish: properties.json + `1`
//!   Finish            read steps and properties,
//!                     remove the work dir
//! ```
//!
//! Ferry itself does nothing between fork and exec but what `Command` does (dup the pipes, set the
//! process group); everything else happens in the setupper, a fresh process.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Category, SpawnError};
use crate::handle::{self, ExitInfo, ProcessHandle, StopMode};
use crate::handshake::{self, Outcome};
use crate::journey::{Journey, JourneyType, Step};
use crate::output::{self, OutputTail};
use crate::user::{self, Account};
use crate::workdir::WorkDir;
use crate::{
    args, properties, report, AppKind, Concurrency, Endpoint, Protocol, SpawnOptions, Spawned,
    Spawner, SpawnerConfig,
};

/// How long to wait for the rest of a failed app's output after it exited.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// Starts app processes directly from their start command.
///
/// Clones share their state: shutting one down shuts down all.
#[derive(Debug, Clone)]
pub struct DirectSpawner {
    config: std::sync::Arc<SpawnerConfig>,
    /// Every supervisor task this spawner started, so shutdown can wait until all are reaped.
    supervisors: TaskTracker,
    /// Cancelled at shutdown: spawns in progress give up.
    cancel: CancellationToken,
}

/// A spawn in progress: what the failure path needs to build its report.
struct Attempt<'a> {
    options: &'a SpawnOptions,
    journey: Journey,
    account: Option<Account>,
    port: Option<u16>,
    connect_password: String,
}

impl DirectSpawner {
    /// A new direct spawner.
    pub fn new(config: SpawnerConfig) -> Self {
        DirectSpawner {
            config: std::sync::Arc::new(config),
            supervisors: TaskTracker::new(),
            cancel: CancellationToken::new(),
        }
    }

    /// The spawner's settings.
    pub fn config(&self) -> &SpawnerConfig {
        &self.config
    }

    async fn spawn_inner(&self, attempt: &mut Attempt<'_>) -> Result<Spawned, SpawnError> {
        let deadline = Instant::now() + attempt.options.start_timeout;
        let (workdir, mut cmd) = self.prepare(attempt)?;
        attempt.journey.begin(Step::ForkSubprocess);
        let generic = attempt.options.kind == AppKind::Generic;
        let (handle, tail) = match start(&mut cmd, generic, &self.supervisors) {
            Ok(started) => started,
            Err(e) => {
                let summary = format!(
                    "An operating system error occurred while creating (forking) subprocess: {e}"
                );
                return Err(attempt.fail(Step::ForkSubprocess, Category::of_io_error(&e), summary));
            }
        };
        drop(cmd); // closes our copy of the output pipe's write end
        attempt.journey.end(Step::ForkSubprocess);
        attempt.journey.begin(Step::HandshakePerform);
        let port = attempt
            .port
            .map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)));
        let finish = workdir.finish_path();
        let outcome = handshake::wait(&finish, port, &handle, deadline, &self.cancel).await;
        match self.accept(attempt, &workdir, outcome) {
            Ok((endpoint, protocol, concurrency)) => {
                let mut journey = attempt.journey.clone();
                workdir.read_steps(&mut journey);
                journey.complete_subprocess_steps();
                journey.end(Step::HandshakePerform);
                journey.begin(Step::Finish);
                journey.end(Step::Finish);
                tracing::info!(pid = handle.pid(), endpoint = ?endpoint, "app process is up");
                Ok(Spawned {
                    endpoint,
                    protocol,
                    concurrency,
                    connect_password: std::mem::take(&mut attempt.connect_password),
                    handle,
                    journey,
                })
            }
            Err(failure) => Err(attempt.failed(failure, &workdir, handle, tail).await),
        }
    }

    /// The Preparation step: choose the account and the port, create the work directory, build
    /// the command.
    fn prepare(&self, attempt: &mut Attempt<'_>) -> Result<(WorkDir, Command), SpawnError> {
        attempt.journey.begin(Step::Preparation);
        let options = attempt.options;
        let euid = nix::unistd::geteuid().as_raw();
        let account =
            user::resolve(&options.user_switching, options.owner_path(), euid).map_err(|e| {
                let summary = format!("Cannot determine a user to run the application as: {e}");
                attempt.fail(Step::Preparation, Category::OperatingSystem, summary)
            })?;
        if account.explicit_root {
            tracing::warn!(
                app = %options.app_group_name,
                "running the application as root because it was configured explicitly ({})",
                account.reason
            );
        }
        attempt.account = Some(account.clone());
        if options.kind == AppKind::Generic {
            attempt.port = Some(free_port().map_err(|e| {
                let summary = format!("Could not find a free port for the application: {e}");
                attempt.fail(Step::Preparation, Category::OperatingSystem, summary)
            })?);
        }
        let args = args::build(options, &self.config, &account, attempt.port);
        if let Some(password) = args.get("connect_password").and_then(|v| v.as_str()) {
            attempt.connect_password = password.to_owned();
        }
        let owner = (account.switch && account.uid != euid).then_some((account.uid, account.gid));
        let workdir = WorkDir::create(&self.config.spawn_dir, &args, &attempt.journey, owner)
            .map_err(|e| {
                let summary = format!(
                    "Could not create a work directory in {}: {e}",
                    self.config.spawn_dir.display()
                );
                attempt.fail(Step::Preparation, Category::of_io_error(&e), summary)
            })?;
        let cmd = self.command(&workdir);
        attempt.journey.end(Step::Preparation);
        Ok((workdir, cmd))
    }

    fn command(&self, workdir: &WorkDir) -> Command {
        let mut cmd = Command::new(&self.config.setupper[0]);
        cmd.args(&self.config.setupper[1..])
            .arg(workdir.path())
            .arg("--before")
            .current_dir("/")
            .env("PASSENGER_SPAWN_WORK_DIR", workdir.path())
            .env("SERVER_SOFTWARE", &self.config.server_software);
        // Its own process group, so stopping it reaches everything it starts. No `pre_exec`:
        // without one the standard library can use vfork/posix_spawn, which costs the same
        // whatever Ferry's size (the setupper arranges to die with Ferry itself).
        cmd.process_group(0);
        cmd
    }

    /// Turns the handshake's outcome into the request socket, or a failure.
    fn accept(
        &self,
        attempt: &Attempt<'_>,
        workdir: &WorkDir,
        outcome: Outcome,
    ) -> Result<(Endpoint, Protocol, Concurrency), Failure> {
        match outcome {
            Outcome::PortReady => {
                let port = attempt.port.unwrap_or_default();
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                Ok((Endpoint::Tcp(addr), Protocol::Http, Concurrency::Unlimited))
            }
            Outcome::Finished(true) => {
                let owner = attempt
                    .account
                    .as_ref()
                    .filter(|a| a.switch)
                    .map(|a| a.uid)
                    .or(Some(nix::unistd::geteuid().as_raw()));
                let json = workdir
                    .read_properties()
                    .map_err(|e| Failure::Properties(format!("it cannot be read: {e}")))?
                    .ok_or_else(|| Failure::Properties("the file does not exist".into()))?;
                let sockets = properties::parse(&json, owner).map_err(Failure::Properties)?;
                let chosen = properties::request_socket(&sockets).map_err(Failure::Properties)?;
                Ok((chosen.endpoint, chosen.protocol, chosen.concurrency))
            }
            Outcome::Finished(false) => Err(Failure::ReportedError),
            Outcome::Exited(info) => Err(Failure::Exited(info)),
            Outcome::FinishUnreadable(e) => Err(Failure::FinishUnreadable(e)),
            Outcome::TimedOut => Err(Failure::TimedOut),
            Outcome::Cancelled => Err(Failure::Cancelled),
        }
    }
}

impl Spawner for DirectSpawner {
    async fn shutdown(&self) {
        self.cancel.cancel();
        self.supervisors.close();
        self.supervisors.wait().await;
    }

    async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let wrapper = matches!(options.kind, AppKind::SpawningKit { wrapper: true });
        let mut attempt = Attempt {
            options,
            journey: Journey::new(
                JourneyType::SpawnDirectly,
                wrapper,
                options.load_shell_envvars,
            ),
            account: None,
            port: None,
            connect_password: String::new(),
        };
        let result = self.spawn_inner(&mut attempt).await;
        if let Err(error) = &result {
            report::spawn_failed(error, options, &self.config);
        }
        result
    }
}

/// Why a handshake failed.
#[derive(Debug)]
enum Failure {
    /// The process wrote something other than `1` to `finish`.
    ReportedError,
    Exited(ExitInfo),
    FinishUnreadable(std::io::Error),
    Properties(String),
    TimedOut,
    Cancelled,
}

// === impl Attempt ===

impl Attempt<'_> {
    /// A failure of one of Ferry's own steps, before there is a process.
    fn fail(&mut self, step: Step, category: Category, summary: String) -> SpawnError {
        self.journey.fail(step);
        // The page never shows the summary (seed 004): its specifics go into the details.
        let details = Some(summary.clone());
        SpawnError::new(category, step, summary, self.journey.clone())
            .with_advanced(details)
            .with_config(report::config_snapshot(self.options, self.account.as_ref()))
            .with_ferry_env(report::ferry_env())
    }

    /// Builds the report of a failed handshake, once the process is gone and its output read.
    async fn failed(
        &mut self,
        failure: Failure,
        workdir: &WorkDir,
        handle: ProcessHandle,
        tail: OutputTail,
    ) -> SpawnError {
        if !handle.has_exited() {
            handle.stop(StopMode::Kill);
        }
        handle.wait().await;
        tail.wait_closed(OUTPUT_DRAIN).await;

        workdir.read_steps(&mut self.journey);
        self.journey.fail(Step::HandshakePerform);
        let supplied = workdir.read_error();
        let step = match failure {
            Failure::Properties(_) => {
                // The process said it was up; only its answer was wrong.
                self.journey.complete_subprocess_steps();
                Step::HandshakePerform
            }
            Failure::Cancelled | Failure::FinishUnreadable(_) => Step::HandshakePerform,
            _ => self
                .journey
                .guess_failed_subprocess_step()
                .unwrap_or(Step::HandshakePerform),
        };
        let (category, summary) = self.describe(&failure, step);
        let mut error = self.fail(Step::HandshakePerform, category, summary);
        error.set_step(step);
        if let Some(category) = supplied.category {
            error.set_category(category);
        }
        if let Some(summary) = &supplied.summary {
            error.set_summary(summary.clone());
        }
        let error = error
            .with_problem(supplied.problem)
            .with_solution(supplied.solution)
            .with_advanced(supplied.advanced.or(supplied.summary.clone()))
            .with_output(tail.text());
        match workdir.read_envdump() {
            Some(dump) => error.with_subprocess_env(dump),
            None => error,
        }
    }

    fn describe(&self, failure: &Failure, step: Step) -> (Category, String) {
        let command = &self.options.start_command;
        match failure {
            Failure::ReportedError => (
                Category::Internal,
                "The application reported that it could not start (it wrote a failure to \
                 response/finish) but did not say why"
                    .to_owned(),
            ),
            Failure::Exited(info) => exited(command, *info, self.port, step),
            Failure::FinishUnreadable(e) => (
                Category::Io,
                format!("An I/O error occurred while reading the response/finish FIFO: {e}"),
            ),
            Failure::Properties(e) => (
                Category::Internal,
                format!(
                    "The application's response/properties.json is invalid: {e}. A \
                     SpawningKit-enabled process must report at least one socket that accepts \
                     HTTP requests"
                ),
            ),
            Failure::TimedOut => (
                Category::Timeout,
                match self.port {
                    Some(port) => format!(
                        "A timeout occurred while spawning an application process: the \
                         application did not listen on port {port} (given to it in $PORT) \
                         within {} s",
                        self.options.start_timeout.as_secs_f64()
                    ),
                    None => format!(
                        "A timeout occurred while spawning an application process: it did not \
                         report that it was up within {} s",
                        self.options.start_timeout.as_secs_f64()
                    ),
                },
            ),
            Failure::Cancelled => (
                Category::Internal,
                "The spawn was aborted because Ferry is shutting down".to_owned(),
            ),
        }
    }
}

/// The summary of a premature exit. Exit status 127 and 126 while executing the start command are
/// the shell's "command not found" and "not executable".
fn exited(command: &str, info: ExitInfo, port: Option<u16>, step: Step) -> (Category, String) {
    let before = match port {
        Some(port) => format!(" before it listened on port {port} (given to it in $PORT)"),
        None => " before it reported that it was up".to_owned(),
    };
    let exec_step = matches!(
        step,
        Step::SubprocessAppLoadOrExec | Step::SubprocessExecWrapper
    );
    match info.code.filter(|_| exec_step) {
        Some(127) => (
            Category::FileSystem,
            format!(
                "The application process exited prematurely: the start command `{command}` \
                 was not found (exit status 127)"
            ),
        ),
        Some(126) => (
            Category::FileSystem,
            format!(
                "The application process exited prematurely: the start command `{command}` \
                 could not be executed (exit status 126)"
            ),
        ),
        _ => (
            Category::Internal,
            format!("The application process exited prematurely: `{command}` {info}{before}"),
        ),
    }
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

/// Forks and execs the command, with stdin a pipe (its lifetime pipe) and stdout and stderr one
/// shared pipe whose lines are captured.
/// `generic`: the app does not know SpawningKit, so stopping it takes SIGTERM at once.
fn start(
    cmd: &mut Command,
    generic: bool,
    tracker: &TaskTracker,
) -> std::io::Result<(ProcessHandle, OutputTail)> {
    let (reader, writer) = std::io::pipe()?;
    cmd.stdin(Stdio::piped())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let mut child = cmd.spawn()?;
    let stdin = child.stdin.take();
    let pid = child.id().unwrap_or_default();
    let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into())?;
    let tail = output::capture(pipe, pid);
    let handle = handle::supervise(child, stdin, generic, tracker)
        .ok_or_else(|| std::io::Error::other("the process vanished right after it started"))?;
    Ok((handle, tail))
}
