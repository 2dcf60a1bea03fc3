//! Starting a process from its start command and walking its handshake: the part of spawning
//! that every route shares. A direct spawn (`SpawnDirectly`) and a preloader's own start
//! (`StartPreloader`) are this whole journey; a spawn through a preloader
//! (`SpawnThroughPreloader`) uses its preparation and its reading of the answer.
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
//!
//! Each journey expects its own [`Answer`] from a process that says it is up, so a worker's
//! answer can never reach the code that waits for a preloader's, or the other way round.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::args;
use crate::attempt::{Attempt, Failure};
use crate::category::Category;
use crate::error::SpawnError;
use crate::handle::{self, ProcessHandle};
use crate::handshake::{self, Outcome};
use crate::journey::{Journey, Step};
use crate::output::{self, OutputTail};
use crate::properties::{self, RequestSocket, Socket};
use crate::user::{self, Account};
use crate::workdir::{subprocess_steps, WorkDir};
use crate::{AppKind, Concurrency, Endpoint, Protocol, SpawnOptions, SpawnerConfig};

/// Longest time choosing the app's account may take (a user database on the network can be
/// slow; past this, something is wrong and the spawn fails instead of waiting).
const ACCOUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What every route needs to start processes: the settings, the supervisor tasks (so shutdown
/// can wait until every process is reaped) and the shutdown signal. Clones share them.
#[derive(Debug, Clone)]
pub(crate) struct Launcher {
    /// Settings shared by every spawn.
    pub(crate) config: Arc<SpawnerConfig>,
    /// Every supervisor task started, so shutdown can wait until all are reaped.
    pub(crate) supervisors: TaskTracker,
    /// Cancelled at shutdown: spawns in progress give up.
    pub(crate) cancel: CancellationToken,
}

/// What a journey expects from a process whose handshake succeeded.
pub(crate) trait Answer: Sized {
    /// The answer of a generic app that listens on `port` (given to it in `$PORT`).
    fn listening_on(port: u16) -> Result<Self, String>;

    /// The answer in the sockets `properties.json` reported, or what is wrong with them.
    fn from_sockets(sockets: &[Socket]) -> Result<Self, String>;
}

/// A preloader's answer: the unix socket it takes spawn commands on.
#[derive(Debug)]
pub(crate) struct PreloaderSocket(pub(crate) PathBuf);

/// A process that completed its handshake with answer `A`.
#[derive(Debug)]
pub(crate) struct Started<A> {
    pub(crate) answer: A,
    pub(crate) handle: ProcessHandle,
    pub(crate) journey: Journey,
}

// === impl Launcher ===

impl Launcher {
    /// A launcher with `config`, no process started yet.
    pub(crate) fn new(config: SpawnerConfig) -> Self {
        Launcher {
            config: Arc::new(config),
            supervisors: TaskTracker::new(),
            cancel: CancellationToken::new(),
        }
    }

    /// Starts a process from its start command and performs the handshake, expecting answer `A`:
    /// a worker's [`RequestSocket`] for a `SpawnDirectly` journey, a [`PreloaderSocket`] for a
    /// `StartPreloader` one.
    pub(crate) async fn start_process<A: Answer>(
        &self,
        attempt: &mut Attempt<'_>,
    ) -> Result<Started<A>, SpawnError> {
        let deadline = Instant::now() + attempt.options.start_timeout;
        let workdir = self.prepare(attempt).await?;
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
        let finish = workdir.finish();
        let outcome = handshake::wait(finish, port, &handle, deadline, &self.cancel).await;
        match accept(attempt, &workdir, outcome).await {
            Ok((answer, journey)) => Ok(Started {
                answer,
                journey,
                handle,
            }),
            Err(failure) => Err(attempt.failed(failure, &workdir, handle, tail).await),
        }
    }

    /// The Preparation step: choose the account and the port, create the work directory. The
    /// step is left in progress; the caller ends it.
    pub(crate) async fn prepare(&self, attempt: &mut Attempt<'_>) -> Result<WorkDir, SpawnError> {
        attempt.journey.begin(Step::Preparation);
        let options = attempt.options;
        let euid = nix::unistd::geteuid().as_raw();
        let account = resolve_account(options, euid).await.map_err(|e| {
            let summary = format!("Cannot determine a user to run the application as: {e}");
            attempt.fail(Step::Preparation, Category::OperatingSystem, summary)
        })?;
        if account.explicit_root {
            tracing::warn!(
                app = %options.app_group_name,
                "running the application as root: it was configured explicitly ({}) and \
                 --allow-root-apps allows it",
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
        let mut args = args::build(options, &self.config, &account, attempt.port).map_err(|e| {
            let summary = format!("Could not generate a connect password for the application: {e}");
            attempt.fail(Step::Preparation, Category::OperatingSystem, summary)
        })?;
        args::set_route(&mut args, attempt.journey.kind());
        if let Some(password) = args.get("connect_password").and_then(|v| v.as_str()) {
            attempt.connect_password = password.to_owned();
        }
        let app = (account.switch && account.uid != euid).then_some((account.uid, account.gid));
        WorkDir::create(&self.config.spawn_dir, &args, &attempt.journey, app).map_err(|e| {
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
}

// === impl Answer ===

impl Answer for RequestSocket {
    fn listening_on(port: u16) -> Result<Self, String> {
        Ok(RequestSocket {
            endpoint: Endpoint::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
            protocol: Protocol::Http,
            concurrency: Concurrency::Unlimited,
        })
    }

    fn from_sockets(sockets: &[Socket]) -> Result<Self, String> {
        properties::request_socket(sockets)
    }
}

impl Answer for PreloaderSocket {
    fn listening_on(port: u16) -> Result<Self, String> {
        Err(format!(
            "the preloader listened on port {port} instead of reporting a `preloader` socket"
        ))
    }

    fn from_sockets(sockets: &[Socket]) -> Result<Self, String> {
        properties::preloader_socket(sockets).map(PreloaderSocket)
    }
}

/// Turns the handshake's outcome into the answer the journey expects and the journey of a
/// process that is up (with the steps it recorded), or a failure.
///
/// Everything read from the work directory (`properties.json`, the step files, and the sockets
/// `properties.json` names) is read on the blocking pool, with a timeout: a file the app's user
/// turned into a link, a FIFO or a huge file, or a socket path on a file system that hangs, is
/// a failure that names it, never a wait.
pub(crate) async fn accept<A: Answer>(
    attempt: &Attempt<'_>,
    workdir: &WorkDir,
    outcome: Outcome,
) -> Result<(A, Journey), Failure> {
    let answer = match outcome {
        Outcome::PortReady => {
            A::listening_on(attempt.port.unwrap_or_default()).map_err(Failure::Properties)?
        }
        Outcome::Finished(true) => return accept_properties(attempt, workdir).await,
        Outcome::Finished(false) => return Err(Failure::ReportedError),
        Outcome::Exited(info) => return Err(Failure::Exited(info)),
        Outcome::FinishUnreadable(e) => return Err(Failure::FinishUnreadable(e)),
        Outcome::TimedOut => return Err(Failure::TimedOut),
        Outcome::Cancelled => return Err(Failure::Cancelled),
    };
    let steps = subprocess_steps(&attempt.journey);
    let (steps, problems) = workdir
        .read(move |r| r.steps(&steps))
        .await
        .map_err(Failure::Unreadable)?;
    refuse(problems)?;
    Ok((answer, attempt.succeeded(&steps)))
}

/// The answer in `properties.json`, whose unix sockets must belong to the app's user.
async fn accept_properties<A: Answer>(
    attempt: &Attempt<'_>,
    workdir: &WorkDir,
) -> Result<(A, Journey), Failure> {
    let owner = Some(attempt.app_uid());
    let steps = subprocess_steps(&attempt.journey);
    let ((sockets, steps), problems) = workdir
        .read(move |r| {
            let sockets = match r.properties() {
                Ok(Some(json)) => properties::parse(&json, owner).map_err(Failure::Properties),
                Ok(None) => Err(Failure::Properties("the file does not exist".into())),
                Err(e) => Err(Failure::Unreadable(e.to_string())),
            };
            (sockets, r.steps(&steps))
        })
        .await
        .map_err(Failure::Unreadable)?;
    let sockets = sockets?;
    refuse(problems)?;
    let answer = A::from_sockets(&sockets).map_err(Failure::Properties)?;
    Ok((answer, attempt.succeeded(&steps)))
}

/// The first file of the work directory that could not be read, as a failure.
fn refuse(problems: Vec<String>) -> Result<(), Failure> {
    match problems.into_iter().next() {
        Some(problem) => Err(Failure::Unreadable(problem)),
        None => Ok(()),
    }
}

/// The user-switching rules applied to `options` ([`user::resolve`]), on the blocking pool with
/// a timeout: they `lstat` the startup file, in a directory the app's owner controls (which may
/// be on a file system that does not answer), and read the user database (which may be remote).
async fn resolve_account(options: &SpawnOptions, euid: u32) -> Result<Account, String> {
    let rules = options.user_switching.clone();
    let path = options.owner_path().to_owned();
    let task = tokio::task::spawn_blocking(move || user::resolve(&rules, &path, euid));
    match tokio::time::timeout(ACCOUNT_TIMEOUT, task).await {
        Ok(Ok(account)) => account.map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(format!("the lookup failed: {e}")),
        Err(_) => Err(format!(
            "looking up the user and the owner of {} took longer than {} s",
            options.owner_path().display(),
            ACCOUNT_TIMEOUT.as_secs()
        )),
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
