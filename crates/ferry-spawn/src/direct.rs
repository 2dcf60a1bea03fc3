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
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::category::Category;
use crate::error::SpawnError;
use crate::handle::{self, ExitInfo, ProcessHandle, StopMode};
use crate::handshake::{self, Outcome};
use crate::journey::{Journey, JourneyType, Step};
use crate::output::{self, OutputTail};
use crate::preloader::{PreloaderInfo, Preloaders};
use crate::properties::RequestSocket;
use crate::user::{self, Account};
use crate::workdir::WorkDir;
use crate::{
    args, properties, report, AppKind, Concurrency, Endpoint, Protocol, SpawnOptions, Spawned,
    Spawner, SpawnerConfig,
};

/// How long to wait for the rest of a failed app's output after it exited.
pub(crate) const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// Starts app processes: directly from their start command, or, for an app whose options ask for
/// smart spawning, by forking them from the app's preloader (see [`crate::preloader`]). The pool
/// knows one spawner type; the route is chosen per spawn from [`SpawnOptions::spawn_method`].
///
/// Clones share their state: shutting one down shuts down all.
#[derive(Debug, Clone)]
pub struct DirectSpawner {
    pub(crate) config: std::sync::Arc<SpawnerConfig>,
    /// Every supervisor task this spawner started, so shutdown can wait until all are reaped.
    pub(crate) supervisors: TaskTracker,
    /// Cancelled at shutdown: spawns in progress give up.
    pub(crate) cancel: CancellationToken,
    /// The running preloaders, one per app.
    pub(crate) preloaders: std::sync::Arc<Preloaders>,
}

/// A spawn in progress: what the failure path needs to build its report.
pub(crate) struct Attempt<'a> {
    pub(crate) options: &'a SpawnOptions,
    pub(crate) journey: Journey,
    pub(crate) account: Option<Account>,
    pub(crate) port: Option<u16>,
    pub(crate) connect_password: String,
}

/// What a process that completed its handshake reported.
#[derive(Debug)]
pub(crate) enum Up {
    /// A worker: where its requests go.
    Worker(RequestSocket),
    /// A preloader: the unix socket it takes commands on.
    Preloader(PathBuf),
}

/// A process that completed its handshake.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) up: Up,
    pub(crate) handle: ProcessHandle,
    pub(crate) journey: Journey,
}

impl DirectSpawner {
    /// A new spawner.
    pub fn new(config: SpawnerConfig) -> Self {
        DirectSpawner {
            config: std::sync::Arc::new(config),
            supervisors: TaskTracker::new(),
            cancel: CancellationToken::new(),
            preloaders: std::sync::Arc::default(),
        }
    }

    /// The spawner's settings.
    pub fn config(&self) -> &SpawnerConfig {
        &self.config
    }

    /// The preloaders running now (for `ferry status` and `memory-stats`).
    pub fn preloaders(&self) -> Vec<PreloaderInfo> {
        self.preloaders.list()
    }

    /// Spawns a worker without a preloader.
    pub(crate) async fn spawn_direct(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let mut attempt = Attempt::new(options, JourneyType::SpawnDirectly);
        let started = self.start_process(&mut attempt).await?;
        let Up::Worker(socket) = started.up else {
            unreachable!("a direct spawn accepts only a worker's answer")
        };
        tracing::info!(pid = started.handle.pid(), endpoint = ?socket.endpoint, "app process is up");
        Ok(Spawned {
            endpoint: socket.endpoint,
            protocol: socket.protocol,
            concurrency: socket.concurrency,
            connect_password: attempt.connect_password,
            handle: started.handle,
            journey: started.journey,
        })
    }

    /// Starts a process from its start command and performs the handshake: a worker for a
    /// `SpawnDirectly` journey, a preloader for a `StartPreloader` one.
    pub(crate) async fn start_process(
        &self,
        attempt: &mut Attempt<'_>,
    ) -> Result<Started, SpawnError> {
        let deadline = Instant::now() + attempt.options.start_timeout;
        let workdir = self.prepare(attempt)?;
        let mut cmd = self.command(&workdir);
        attempt.journey.end(Step::Preparation);
        attempt.journey.begin(Step::ForkSubprocess);
        let generic = attempt.options.kind == AppKind::Generic;
        let app = &attempt.options.app_group_name;
        let (handle, tail) = match start(&mut cmd, generic, app, &self.supervisors) {
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
            Ok(up) => Ok(Started {
                up,
                journey: attempt.succeeded(&workdir),
                handle,
            }),
            Err(failure) => Err(attempt.failed(failure, &workdir, handle, tail).await),
        }
    }

    /// The Preparation step: choose the account and the port, create the work directory. The
    /// step is left in progress; the caller ends it.
    pub(crate) fn prepare(&self, attempt: &mut Attempt<'_>) -> Result<WorkDir, SpawnError> {
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
        let mut args = args::build(options, &self.config, &account, attempt.port);
        args::set_route(&mut args, attempt.journey.kind());
        if let Some(password) = args.get("connect_password").and_then(|v| v.as_str()) {
            attempt.connect_password = password.to_owned();
        }
        let owner = (account.switch && account.uid != euid).then_some((account.uid, account.gid));
        WorkDir::create(&self.config.spawn_dir, &args, &attempt.journey, owner).map_err(|e| {
            let summary = format!(
                "Could not create a work directory in {}: {e}",
                self.config.spawn_dir.display()
            );
            attempt.fail(Step::Preparation, Category::of_io_error(&e), summary)
        })
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

    /// Turns the handshake's outcome into what the process reported, or a failure.
    pub(crate) fn accept(
        &self,
        attempt: &Attempt<'_>,
        workdir: &WorkDir,
        outcome: Outcome,
    ) -> Result<Up, Failure> {
        match outcome {
            Outcome::PortReady => {
                let port = attempt.port.unwrap_or_default();
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                Ok(Up::Worker(RequestSocket {
                    endpoint: Endpoint::Tcp(addr),
                    protocol: Protocol::Http,
                    concurrency: Concurrency::Unlimited,
                }))
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
                if attempt.journey.kind() == JourneyType::StartPreloader {
                    let path =
                        properties::preloader_socket(&sockets).map_err(Failure::Properties)?;
                    return Ok(Up::Preloader(path));
                }
                let chosen = properties::request_socket(&sockets).map_err(Failure::Properties)?;
                Ok(Up::Worker(chosen))
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
        self.preloaders.stop_all();
        self.supervisors.close();
        self.supervisors.wait().await;
    }

    async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        if options.uses_preloader() {
            return self.spawn_smart(options).await;
        }
        let result = self.spawn_direct(options).await;
        if let Err(error) = &result {
            report::spawn_failed(error, options, &self.config);
        }
        result
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The process wrote something other than `1` to `finish`.
    ReportedError,
    Exited(ExitInfo),
    FinishUnreadable(std::io::Error),
    Properties(String),
    TimedOut,
    Cancelled,
}

// === impl Attempt ===

impl<'a> Attempt<'a> {
    /// A new attempt to walk a `kind` journey with `options`.
    pub(crate) fn new(options: &'a SpawnOptions, kind: JourneyType) -> Self {
        let wrapper = matches!(options.kind, AppKind::SpawningKit { wrapper: true });
        Attempt {
            options,
            journey: Journey::new(kind, wrapper, options.load_shell_envvars),
            account: None,
            port: None,
            connect_password: String::new(),
        }
    }

    /// The journey of a process that is up: what it recorded, the rest of its steps performed,
    /// and Ferry's last steps.
    pub(crate) fn succeeded(&self, workdir: &WorkDir) -> Journey {
        let mut journey = self.journey.clone();
        workdir.read_steps(&mut journey);
        journey.complete_subprocess_steps();
        journey.end(Step::HandshakePerform);
        journey.begin(Step::Finish);
        journey.end(Step::Finish);
        journey
    }

    /// A failure of one of Ferry's own steps, before there is a process.
    pub(crate) fn fail(&mut self, step: Step, category: Category, summary: String) -> SpawnError {
        self.journey.fail(step);
        // The page never shows the summary (seed 004): its specifics go into the details.
        let details = Some(summary.clone());
        SpawnError::new(category, step, summary, self.journey.clone())
            .with_advanced(details)
            .with_config(report::config_snapshot(self.options, self.account.as_ref()))
            .with_ferry_env(report::ferry_env())
    }

    /// Builds the report of a failed handshake, once the process is gone and its output read.
    pub(crate) async fn failed(
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
            Failure::Properties(e) if self.journey.kind() == JourneyType::StartPreloader => (
                Category::Internal,
                format!(
                    "The preloader's response/properties.json is invalid: {e}. A preloader must \
                     report a unix socket that speaks the `preloader` protocol (is the start \
                     command a loader that supports smart spawning?)"
                ),
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
    app: &str,
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
    let tail = output::capture(pipe, pid, app);
    let handle = handle::supervise(child, stdin, generic, tracker)
        .ok_or_else(|| std::io::Error::other("the process vanished right after it started"))?;
    Ok((handle, tail))
}
