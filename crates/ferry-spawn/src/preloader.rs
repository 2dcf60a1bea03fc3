//! Smart spawning: one preloader per app, and workers forked from it (seed 004, "Preloaders",
//! "When starting a preloader", "When spawning a process through a preloader", "The preloader
//! protocol").
//!
//! ```text
//!   Ferry                                  preloader                   worker
//!   (START_PRELOADER: a direct spawn whose args say `preloader: true`; the loader loads the app
//!    and reports a `preloader` socket instead of a request socket)
//!
//!   Preparation  work dir + FIFOs
//!                `stdin`, `stdout_and_err`
//!   ConnectToPreloader ─────────────────>  accept
//!   SendCommandToPreloader  {"command":"spawn","work_dir":WD}\n
//!                                          PreloaderPreparation
//!                                          PreloaderForkSubprocess ──> fork
//!   ReadResponseFromPreloader  <────────── PreloaderSendResponse       SubprocessPrepareAfter-
//!   ParseResponseFromPreloader             {"result":"ok","pid":N}       ForkingFromPreloader:
//!   ProcessResponseFromPreloader           PreloaderFinish               own process group,
//!     pidfd_open(N), check its parent                                    stdio ← FIFOs, close the
//!   HandshakePerform  `finish` in WD  <──────────────────────────────── preloader's descriptors,
//!   Finish                                                               reseed, fire events
//!                                                                      SubprocessListen: socket,
//!                                                                        properties.json, finish
//! ```
//!
//! The worker is the preloader's child, not Ferry's: Ferry watches it through a pidfd
//! ([`crate::pidfd`]), and the preloader reaps it. Its stdin is a FIFO Ferry holds open (closing
//! it asks the worker to stop, and a Ferry that dies closes it too); its output is a FIFO Ferry
//! reads, exactly like a direct spawn's output pipe.
//!
//! **Lifecycle.** One preloader per app (keyed by the app group's name). A spawn starts it when
//! there is none, when the previous one exited (it crashed; it is restarted), or when the app was
//! restarted since it started (`SpawnOptions::restart_generation`). A preloader that seems to
//! have crashed during a spawn is replaced and the spawn retried once. An idle timer stops a
//! preloader unused for `max_preloader_idle_time`; stopping it (closing its stdin) leaves its
//! workers running.
//!
//! **Re-forking** (`refork_after`). The pool drains a warmed worker and hands it over
//! ([`Preloaders::promote`]): asked over its request socket ([`crate::promote`]), it becomes a
//! preloader in place, and replaces the app's preloader in its slot (the old one is stopped; its
//! workers keep running). It is a *template*: its `template_generation` counts the promotions
//! since the cold preloader started (which is generation 0). Later workers are forked from it and
//! are its children, so the parent check below holds for them as for a preloader's. Ferry does
//! not supervise the template as a child (it is the old preloader's child, or init's once that
//! one exited): its handle is the one the pool had for the worker. A restart still starts a cold
//! preloader, which resets the template generation. `max_preloader_idle_time` does not apply to
//! a template: stopping it would throw away a warmth only traffic rebuilds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ferry_protocol::preloader::{answer_line, parse_answer, spawn_command, MAX_ANSWER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::net::UnixStream;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::attempt::Attempt;
use crate::category::Category;
use crate::error::SpawnError;
use crate::handle::{self, ExitInfo, ProcessHandle, StopMode};
use crate::handshake;
use crate::journey::{Actor, JourneyType, Step, StepState};
use crate::launch::{self, Launcher, PreloaderSocket};
use crate::output::{self, OutputTail};
use crate::pidfd;
use crate::properties::RequestSocket;
use crate::workdir::WorkDir;
use crate::{promote, Promoted, Promotion, SpawnOptions, Spawned};

/// How long a stopped preloader gets to exit after its stdin closed, before SIGKILL.
const PRELOADER_GRACE: Duration = Duration::from_secs(5);

/// A running preloader, as `ferry status` and `memory-stats` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreloaderInfo {
    /// The preloader's pid.
    pub pid: u32,
    /// The app it preloads.
    pub app_root: PathBuf,
    /// The app group's name.
    pub app_group_name: String,
    /// How long since it last forked a worker (or started).
    pub idle: Duration,
    /// How many workers it forked.
    pub workers_spawned: u64,
    /// The app's restart generation it was started for.
    pub generation: u64,
    /// 0 for a cold preloader (started from the app's code); n for the n-th worker promoted to
    /// template since then (re-forking).
    pub template_generation: u64,
}

/// Every app's preloader, and the smart route that uses them.
#[derive(Debug)]
pub(crate) struct Preloaders {
    launcher: Launcher,
    apps: Mutex<HashMap<String, Arc<Slot>>>,
}

/// One app's place for its preloader.
#[derive(Debug, Default)]
struct Slot {
    /// Held while a spawn picks (or starts) the preloader and while the idle timer decides to stop
    /// it, so that a preloader is never stopped under a spawn that just chose it, and only one
    /// preloader starts at a time.
    gate: tokio::sync::Mutex<()>,
    current: Mutex<Option<Arc<Preloader>>>,
}

/// A preloader process that completed its handshake.
#[derive(Debug)]
struct Preloader {
    pid: u32,
    app_root: PathBuf,
    app_group_name: String,
    socket: PathBuf,
    generation: u64,
    /// 0: a cold preloader; n: the n-th worker promoted to template (see the module doc).
    template_generation: u64,
    handle: ProcessHandle,
    usage: Mutex<Usage>,
}

#[derive(Debug)]
struct Usage {
    last_used: Instant,
    /// Spawns talking to it now.
    busy: usize,
    spawned: u64,
}

/// A spawn's claim on a preloader: while it lives, the idle timer leaves the preloader alone.
struct Lease(Arc<Preloader>);

/// Why a spawn through a preloader failed.
enum ForkError {
    /// The preloader did not answer as a live preloader would (refused the connection, closed it
    /// without an answer): it has probably crashed. Worth one retry with a new preloader.
    PreloaderGone(SpawnError),
    /// Anything else.
    Failed(SpawnError),
}

/// The worker's end of the FIFOs, held by Ferry.
struct WorkerPipes {
    /// `stdin`, opened read-write so that opening never blocks; closing it is the worker's EOF.
    stdin: pipe::Sender,
    /// `stdout_and_err`, read like a direct spawn's output pipe.
    output: pipe::Receiver,
    /// A writer on `stdout_and_err` held until the handshake ends: until the worker opened its
    /// end, the FIFO would otherwise read as end-of-file.
    keep_open: pipe::Sender,
}

// === impl Preloaders: the smart route ===

impl Preloaders {
    /// No preloader yet; each starts through `launcher`.
    pub(crate) fn new(launcher: Launcher) -> Self {
        Preloaders {
            launcher,
            apps: Mutex::default(),
        }
    }

    /// Spawns a worker through the app's preloader (started, or replaced once when it seems to
    /// have crashed, as needed). Failures are the caller's to report.
    pub(crate) async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let slot = self.slot(&options.app_group_name);
        let mut retried = false;
        loop {
            let lease = self.lease(&slot, options).await?;
            match self.fork_worker(&lease.0, options).await {
                Ok(spawned) => {
                    lease.0.usage().spawned += 1;
                    return Ok(spawned);
                }
                Err(ForkError::PreloaderGone(error)) if !retried => {
                    tracing::warn!(
                        app = %options.app_group_name,
                        pid = lease.0.pid,
                        "the preloader seems to have crashed ({}); starting a new one",
                        error.summary()
                    );
                    retried = true;
                    let gone = Arc::clone(&lease.0);
                    drop(lease);
                    self.discard(&slot, &gone, StopMode::Kill).await;
                }
                Err(ForkError::PreloaderGone(mut error)) => {
                    error.set_summary(format!(
                        "An application preloader crashed: {}",
                        error.summary()
                    ));
                    return Err(error);
                }
                Err(ForkError::Failed(error)) => return Err(error),
            }
        }
    }

    /// The app's preloader, started if there is none (or only one that exited, or one of an older
    /// generation), claimed for one spawn.
    async fn lease(&self, slot: &Arc<Slot>, options: &SpawnOptions) -> Result<Lease, SpawnError> {
        let _gate = slot.gate.lock().await;
        let current = slot.current().clone();
        let preloader = match current {
            Some(p) if !p.handle.has_exited() && p.generation >= options.restart_generation => p,
            old => {
                if let Some(old) = old {
                    if old.handle.has_exited() {
                        tracing::warn!(app = %options.app_group_name, pid = old.pid, "the preloader exited; starting a new one");
                    } else {
                        tracing::info!(app = %options.app_group_name, pid = old.pid, "the app was restarted; replacing its preloader");
                    }
                    old.handle.stop(StopMode::Graceful(PRELOADER_GRACE));
                    *slot.current() = None;
                }
                let preloader = Arc::new(self.start_preloader(options).await?);
                *slot.current() = Some(Arc::clone(&preloader));
                self.watch_idle(
                    Arc::clone(slot),
                    &preloader,
                    options.max_preloader_idle_time,
                );
                preloader
            }
        };
        {
            let mut usage = preloader.usage();
            usage.busy += 1;
            usage.last_used = Instant::now();
        }
        Ok(Lease(preloader))
    }

    /// Makes `worker` the app's template (re-forking): asks it to become a preloader, then puts
    /// it in the app's slot in place of the current preloader, which is stopped. Holds the slot's
    /// gate throughout, so spawns asked for meanwhile wait and fork from the template. Refused
    /// when the app has no preloader of `options`' restart generation (it was restarted, or its
    /// preloader exited): the worker's code is then not the one to fork from.
    pub(crate) async fn promote(
        &self,
        options: &SpawnOptions,
        worker: Promotion,
    ) -> Result<Promoted, String> {
        let slot = self.slot(&options.app_group_name);
        let _gate = slot.gate.lock().await;
        let current = slot.current().clone();
        let Some(old) = current
            .filter(|p| !p.handle.has_exited() && p.generation == options.restart_generation)
        else {
            return Err("the app has no preloader of its current generation".into());
        };
        let pid = worker.handle.pid();
        let socket = promote::ask(
            &worker.endpoint,
            &worker.connect_password,
            worker.peer_uid,
            options.start_timeout,
        )
        .await
        .map_err(|why| format!("the worker (pid {pid}) could not become the template: {why}"))?;
        let template = Arc::new(Preloader {
            pid,
            app_root: options.app_root.clone(),
            app_group_name: options.app_group_name.clone(),
            socket,
            generation: options.restart_generation,
            template_generation: old.template_generation + 1,
            handle: worker.handle,
            usage: Mutex::new(Usage {
                last_used: Instant::now(),
                busy: 0,
                spawned: 0,
            }),
        });
        *slot.current() = Some(Arc::clone(&template));
        old.handle.stop(StopMode::Graceful(PRELOADER_GRACE));
        // Never stopped for idleness: a cold preloader could replace it, but not its warmth,
        // which only traffic rebuilds (and re-forking happens once per restart generation).
        self.watch_idle(Arc::clone(&slot), &template, Duration::ZERO);
        tracing::info!(
            app = %options.app_group_name,
            pid,
            previous = old.pid,
            template_generation = template.template_generation,
            socket = %template.socket.display(),
            "a warmed worker is the app's template now; later workers fork from it"
        );
        Ok(Promoted {
            pid,
            template_generation: template.template_generation,
        })
    }

    /// The START_PRELOADER journey: a direct spawn of the loader in preloader mode.
    async fn start_preloader(&self, options: &SpawnOptions) -> Result<Preloader, SpawnError> {
        let mut attempt = Attempt::new(options, JourneyType::StartPreloader);
        let started = self.launcher.start_process(&mut attempt).await;
        let started = started.map_err(|mut e| {
            e.set_summary(format!(
                "The application preloader could not start: {}",
                e.summary()
            ));
            e
        })?;
        let PreloaderSocket(socket) = started.answer;
        let pid = started.handle.pid();
        tracing::info!(app = %options.app_group_name, pid, socket = %socket.display(), "preloader is up");
        Ok(Preloader {
            pid,
            app_root: options.app_root.clone(),
            app_group_name: options.app_group_name.clone(),
            socket,
            generation: options.restart_generation,
            template_generation: 0,
            handle: started.handle,
            usage: Mutex::new(Usage {
                last_used: Instant::now(),
                busy: 0,
                spawned: 0,
            }),
        })
    }

    /// The SPAWN_THROUGH_PRELOADER journey.
    async fn fork_worker(
        &self,
        preloader: &Preloader,
        options: &SpawnOptions,
    ) -> Result<Spawned, ForkError> {
        let deadline = Instant::now() + options.start_timeout;
        let mut attempt = Attempt::new(options, JourneyType::SpawnThroughPreloader);
        let workdir = self
            .launcher
            .prepare(&mut attempt)
            .await
            .map_err(ForkError::Failed)?;
        // The FIFOs are opened while the directory is still Ferry's, then it is handed over.
        let pipes = WorkerPipes::open(&workdir)
            .and_then(|pipes| workdir.hand_over().map(|()| pipes))
            .map_err(|e| {
                let summary =
                    format!("Could not prepare the worker's work directory and its FIFOs: {e}");
                let category = Category::of_io_error(&e);
                ForkError::Failed(attempt.fail(Step::Preparation, category, summary))
            })?;
        attempt.journey.end(Step::Preparation);

        let pid = self
            .send_spawn_command(&mut attempt, preloader, &workdir, deadline)
            .await?;
        let (handle, tail, keep_open) = pipes.supervise(
            pid,
            preloader.pid,
            &options.app_group_name,
            &self.launcher.supervisors,
        );
        attempt.journey.end(Step::ProcessResponseFromPreloader);

        attempt.journey.begin(Step::HandshakePerform);
        let finish = workdir.finish();
        let cancel = &self.launcher.cancel;
        let outcome = handshake::wait(finish, None, &handle, deadline, cancel).await;
        drop(keep_open);
        match launch::accept::<RequestSocket>(&attempt, &workdir, outcome).await {
            Ok((socket, journey)) => {
                tracing::info!(pid, preloader = preloader.pid, endpoint = ?socket.endpoint, "app process is up (forked by the preloader)");
                Ok(Spawned {
                    endpoint: socket.endpoint,
                    protocol: socket.protocol,
                    concurrency: socket.concurrency,
                    peer_uid: Some(attempt.app_uid()),
                    connect_password: std::mem::take(&mut attempt.connect_password),
                    journey,
                    handle,
                })
            }
            Err(failure) => Err(ForkError::Failed(
                attempt.failed(failure, &workdir, handle, tail).await,
            )),
        }
    }

    /// Sends the spawn command and reads the answer: the worker's pid. Steps
    /// ConnectToPreloader .. ProcessResponseFromPreloader (the last one is left in progress).
    async fn send_spawn_command(
        &self,
        attempt: &mut Attempt<'_>,
        preloader: &Preloader,
        workdir: &WorkDir,
        deadline: Instant,
    ) -> Result<u32, ForkError> {
        let owner = attempt.app_uid();
        let talked = {
            let journey = &mut attempt.journey;
            let talk = talk(journey, &preloader.socket, workdir.path(), owner);
            tokio::select! {
                result = talk => Some(result),
                () = tokio::time::sleep_until(deadline) => None,
                () = self.launcher.cancel.cancelled() => None,
            }
        };
        let in_progress = attempt
            .journey
            .steps_of(Actor::Ferry)
            .find(|r| r.state == StepState::InProgress)
            .map_or(Step::ConnectToPreloader, |r| r.step);
        let talked = match talked {
            Some(talked) => talked,
            None if self.launcher.cancel.is_cancelled() => {
                let summary = "The spawn was aborted because Ferry is shutting down".to_owned();
                return Err(ForkError::Failed(attempt.fail(
                    in_progress,
                    Category::Internal,
                    summary,
                )));
            }
            None => {
                let summary = format!(
                    "A timeout occurred while spawning an application process: the preloader \
                     (pid {}) did not answer within {} s",
                    preloader.pid,
                    attempt.options.start_timeout.as_secs_f64()
                );
                workdir.read_steps(&mut attempt.journey).await;
                return Err(ForkError::Failed(attempt.fail(
                    in_progress,
                    Category::Timeout,
                    summary,
                )));
            }
        };
        workdir.read_steps(&mut attempt.journey).await;
        match talked {
            Ok(pid) => Ok(pid),
            Err(Talk::Gone(step, why)) => {
                let summary = format!(
                    "The preloader (pid {}) did not answer a spawn command: {why}",
                    preloader.pid
                );
                Err(ForkError::PreloaderGone(attempt.fail(
                    step,
                    Category::Io,
                    summary,
                )))
            }
            Err(Talk::Refused(step, why)) => Err(ForkError::Failed(attempt.fail(
                step,
                Category::Internal,
                why,
            ))),
        }
    }

    /// Starts the task that stops `preloader` once it has been idle for `idle` (never when `idle`
    /// is zero), and forgets it when it exits.
    fn watch_idle(&self, slot: Arc<Slot>, preloader: &Arc<Preloader>, idle: Duration) {
        let weak = Arc::downgrade(preloader);
        let exited = preloader.handle.exited();
        let cancel = self.launcher.cancel.clone();
        self.launcher.supervisors.spawn(async move {
            tokio::pin!(exited);
            loop {
                let wake = match weak.upgrade() {
                    Some(p) if !idle.is_zero() => Some(p.usage().last_used + idle),
                    Some(_) => None,
                    None => return,
                };
                tokio::select! {
                    () = sleep_until(wake) => {}
                    _ = &mut exited => {
                        if let Some(p) = weak.upgrade() {
                            let _gate = slot.gate.lock().await;
                            slot.forget(&p);
                        }
                        return;
                    }
                    () = cancel.cancelled() => return,
                }
                if stop_if_idle(&slot, &weak, idle).await {
                    return;
                }
            }
        });
    }
}

/// Stops the preloader if nobody used it for `idle`. Returns whether the watch is over.
async fn stop_if_idle(slot: &Slot, weak: &Weak<Preloader>, idle: Duration) -> bool {
    let Some(preloader) = weak.upgrade() else {
        return true;
    };
    let _gate = slot.gate.lock().await;
    let usage = preloader.usage();
    if usage.busy > 0 || usage.last_used.elapsed() < idle {
        return false;
    }
    drop(usage);
    if slot.forget(&preloader) {
        tracing::info!(
            app = %preloader.app_group_name,
            pid = preloader.pid,
            "the preloader was idle for {} s; stopping it",
            idle.as_secs_f64()
        );
        preloader.handle.stop(StopMode::Graceful(PRELOADER_GRACE));
    }
    true
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => std::future::pending().await,
    }
}

/// How talking to the preloader failed.
enum Talk {
    /// It is not there or not answering: it probably crashed.
    Gone(Step, String),
    /// It answered, with an error or with something that is not an answer.
    Refused(Step, String),
}

/// The conversation of seed 004's preloader protocol: connect, send one line, read one answer.
/// The socket must be served by the app's user (`owner`): its path was checked when the preloader
/// reported it, but the app may have replaced it since, and Ferry reads its answer as root.
async fn talk(
    journey: &mut crate::Journey,
    socket: &Path,
    work_dir: &Path,
    owner: u32,
) -> Result<u32, Talk> {
    journey.begin(Step::ConnectToPreloader);
    let connected = UnixStream::connect(socket).await.and_then(|stream| {
        let peer = stream.peer_cred()?.uid();
        if peer != owner {
            return Err(std::io::Error::other(format!(
                "it is served by uid {peer}, not by the app's user (uid {owner})"
            )));
        }
        Ok(stream)
    });
    let mut stream = connected.map_err(|e| {
        journey.fail(Step::ConnectToPreloader);
        let why = format!("cannot connect to its socket {}: {e}", socket.display());
        Talk::Gone(Step::ConnectToPreloader, why)
    })?;
    journey.end(Step::ConnectToPreloader);

    journey.begin(Step::SendCommandToPreloader);
    let command = spawn_command(work_dir);
    if let Err(e) = stream.write_all(command.as_bytes()).await {
        journey.fail(Step::SendCommandToPreloader);
        let why = format!("cannot send the command: {e}");
        return Err(Talk::Gone(Step::SendCommandToPreloader, why));
    }
    journey.end(Step::SendCommandToPreloader);

    journey.begin(Step::ReadResponseFromPreloader);
    let line = read_answer(&mut stream).await.map_err(|why| {
        journey.fail(Step::ReadResponseFromPreloader);
        Talk::Gone(Step::ReadResponseFromPreloader, why)
    })?;
    journey.end(Step::ReadResponseFromPreloader);

    journey.begin(Step::ParseResponseFromPreloader);
    let answer = parse_answer(&line).map_err(|why| {
        journey.fail(Step::ParseResponseFromPreloader);
        Talk::Refused(Step::ParseResponseFromPreloader, why)
    })?;
    journey.end(Step::ParseResponseFromPreloader);

    journey.begin(Step::ProcessResponseFromPreloader);
    answer.map_err(|message| {
        journey.fail(Step::ProcessResponseFromPreloader);
        let why = format!("The preloader could not spawn a worker process: {message}");
        Talk::Refused(Step::ProcessResponseFromPreloader, why)
    })
}

/// Reads the answer line: up to a newline or end-of-file, at most [`MAX_ANSWER`] bytes.
async fn read_answer(stream: &mut UnixStream) -> Result<String, String> {
    let mut bytes = Vec::new();
    let mut limited = stream.take(MAX_ANSWER);
    let mut buf = [0u8; 1024];
    loop {
        let n = limited
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read its answer: {e}"))?;
        bytes.extend_from_slice(&buf[..n]);
        if n == 0 || bytes.contains(&b'\n') {
            break;
        }
    }
    answer_line(&bytes)
}

// === impl WorkerPipes ===

impl WorkerPipes {
    fn open(workdir: &WorkDir) -> std::io::Result<WorkerPipes> {
        // Reader first: a non-blocking writer can only open a FIFO that has one.
        let output = pipe::OpenOptions::new().open_receiver(workdir.output_path())?;
        let keep_open = pipe::OpenOptions::new().open_sender(workdir.output_path())?;
        let stdin = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(workdir.stdin_path())?;
        Ok(WorkerPipes {
            stdin,
            output,
            keep_open,
        })
    }

    /// Starts supervising the worker `pid` that `preloader` forked. A worker that is already gone
    /// (or a pid that is not the preloader's child any more) gets a handle that has exited.
    fn supervise(
        self,
        pid: u32,
        preloader: u32,
        app: &str,
        supervisors: &TaskTracker,
    ) -> (ProcessHandle, OutputTail, pipe::Sender) {
        let tail = output::capture(self.output, pid, app);
        let worker = pidfd::Worker::open(pid)
            .ok()
            .filter(|_| ferry_sys::proc::parent_pid(pid) == Some(preloader));
        let handle = match worker {
            Some(worker) => handle::supervise_process(
                worker,
                pid,
                Some(Box::new(self.stdin)),
                false,
                supervisors,
            ),
            None => {
                tracing::debug!(
                    pid,
                    preloader,
                    "the worker exited before Ferry could watch it"
                );
                let (handle, stub) = ProcessHandle::stub(pid);
                stub.exit(ExitInfo::UNKNOWN);
                handle
            }
        };
        (handle, tail, self.keep_open)
    }
}

// === impl Preloaders ===

impl Preloaders {
    fn slot(&self, app: &str) -> Arc<Slot> {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(apps.entry(app.to_owned()).or_default())
    }

    /// Stops `preloader` and forgets it, unless another one already replaced it.
    async fn discard(&self, slot: &Slot, preloader: &Arc<Preloader>, mode: StopMode) {
        let _gate = slot.gate.lock().await;
        slot.forget(preloader);
        preloader.handle.stop(mode);
    }

    /// Every preloader running now.
    pub(crate) fn list(&self) -> Vec<PreloaderInfo> {
        let apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<PreloaderInfo> = apps
            .values()
            .filter_map(|slot| slot.current().clone())
            .filter(|p| !p.handle.has_exited())
            .map(|p| p.info())
            .collect();
        list.sort_by(|a, b| a.app_group_name.cmp(&b.app_group_name));
        list
    }

    /// Asks every preloader to stop (Ferry is shutting down).
    pub(crate) fn stop_all(&self) {
        let apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        for slot in apps.values() {
            if let Some(preloader) = slot.current().take() {
                preloader.handle.stop(StopMode::Graceful(PRELOADER_GRACE));
            }
        }
    }
}

// === impl Slot ===

impl Slot {
    fn current(&self) -> std::sync::MutexGuard<'_, Option<Arc<Preloader>>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets `preloader` if it is still the current one. Returns whether it was.
    fn forget(&self, preloader: &Arc<Preloader>) -> bool {
        let mut current = self.current();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, preloader)) {
            *current = None;
            return true;
        }
        false
    }
}

// === impl Preloader ===

impl Preloader {
    fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn info(&self) -> PreloaderInfo {
        let usage = self.usage();
        PreloaderInfo {
            pid: self.pid,
            app_root: self.app_root.clone(),
            app_group_name: self.app_group_name.clone(),
            idle: usage.last_used.elapsed(),
            workers_spawned: usage.spawned,
            generation: self.generation,
            template_generation: self.template_generation,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut usage = self.0.usage();
        usage.busy = usage.busy.saturating_sub(1);
        usage.last_used = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_answer_is_one_line_or_everything_until_eof() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"{\"result\":\"ok\",\"pid\":7}\nrest")
            .await
            .unwrap();
        assert_eq!(
            read_answer(&mut a).await.unwrap(),
            r#"{"result":"ok","pid":7}"#
        );
        let (mut a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"{\"result\":\"ok\",\"pid\":8}").await.unwrap();
        drop(b);
        assert_eq!(
            read_answer(&mut a).await.unwrap(),
            r#"{"result":"ok","pid":8}"#
        );
        let (mut a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert!(read_answer(&mut a)
            .await
            .unwrap_err()
            .contains("without answering"));
    }

    #[test]
    fn the_parent_of_this_process_is_known() {
        assert_eq!(
            ferry_sys::proc::parent_pid(std::process::id()),
            Some(nix::unistd::getppid().as_raw() as u32)
        );
    }
}
