//! The journey a spawn walks: named steps with their states and times.
//!
//! Step names follow SpawningKit's `JourneyStep` so that a log line, an error page and a work
//! directory (`response/steps/<name>/`) all say the same thing. A journey has three actors: Ferry
//! itself (SpawningKit), a preloader (only when spawning through one) and the subprocess. Ferry
//! records its own steps as it goes; the subprocess's steps are read back from the work directory
//! ([`Journey::merge_subprocess_step`]) before a spawn returns.
//!
//! Times are seconds on the monotonic clock (`CLOCK_MONOTONIC`), the clock a subprocess is asked to
//! write; a subprocess that can only write wall-clock times has them converted on read.

use std::fmt;
use std::time::Duration;

/// Which of SpawningKit's three routes a journey follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JourneyType {
    /// A worker process started directly from its start command.
    SpawnDirectly,
    /// A preloader started from its start command.
    StartPreloader,
    /// A worker forked by a preloader.
    SpawnThroughPreloader,
}

/// Who performs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Ferry (SpawningKit).
    Ferry,
    /// The preloader.
    Preloader,
    /// The spawned subprocess (setupper, shell, wrapper, app).
    Subprocess,
}

/// One step of a spawn journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Ferry prepares the spawn: chooses the user and a port, creates the work directory.
    Preparation,
    /// Ferry forks and execs the subprocess.
    ForkSubprocess,
    /// Ferry connects to the preloader's command socket.
    ConnectToPreloader,
    /// Ferry sends the spawn command to the preloader.
    SendCommandToPreloader,
    /// Ferry reads the preloader's answer.
    ReadResponseFromPreloader,
    /// Ferry parses the preloader's answer.
    ParseResponseFromPreloader,
    /// Ferry acts on the preloader's answer.
    ProcessResponseFromPreloader,
    /// Ferry waits until the process is up (`finish` is written, or the port accepts).
    HandshakePerform,
    /// Ferry records the result and hands the process to the pool.
    Finish,
    /// In the preloader: preparing to fork.
    PreloaderPreparation,
    /// In the preloader: forking the worker.
    PreloaderForkSubprocess,
    /// In the preloader: answering Ferry.
    PreloaderSendResponse,
    /// In the preloader: done.
    PreloaderFinish,
    /// In the subprocess: between fork and the first exec.
    SubprocessBeforeFirstExec,
    /// In the subprocess: the environment setupper, before the OS shell.
    SubprocessSpawnEnvSetupperBeforeShell,
    /// In the subprocess: the user's login shell (when `load_shell_envvars` is on).
    SubprocessOsShell,
    /// In the subprocess: the environment setupper, after the OS shell.
    SubprocessSpawnEnvSetupperAfterShell,
    /// In the subprocess: executing the wrapper (loader).
    SubprocessExecWrapper,
    /// In the subprocess: the wrapper prepares.
    SubprocessWrapperPreparation,
    /// In the subprocess: the app is loaded or executed.
    SubprocessAppLoadOrExec,
    /// In a worker forked by a preloader: preparing after the fork.
    SubprocessPrepareAfterForkingFromPreloader,
    /// In the subprocess: the app starts listening.
    SubprocessListen,
    /// In the subprocess: done.
    SubprocessFinish,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// Not reached.
    NotStarted,
    /// Begun, not ended.
    InProgress,
    /// Completed.
    Performed,
    /// Failed; the journey stops here.
    Errored,
}

/// A journey through the steps of one spawn route.
#[derive(Debug, Clone)]
pub struct Journey {
    kind: JourneyType,
    steps: Vec<StepRecord>,
}

/// One step's record, as shown on error pages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    /// The step.
    pub step: Step,
    /// Its state.
    pub state: StepState,
    /// When it began, in monotonic seconds.
    pub begin: Option<f64>,
    /// When it ended, in monotonic seconds.
    pub end: Option<f64>,
}

// === impl Step ===

const ALL_STEPS: [Step; 23] = [
    Step::Preparation,
    Step::ForkSubprocess,
    Step::ConnectToPreloader,
    Step::SendCommandToPreloader,
    Step::ReadResponseFromPreloader,
    Step::ParseResponseFromPreloader,
    Step::ProcessResponseFromPreloader,
    Step::HandshakePerform,
    Step::Finish,
    Step::PreloaderPreparation,
    Step::PreloaderForkSubprocess,
    Step::PreloaderSendResponse,
    Step::PreloaderFinish,
    Step::SubprocessBeforeFirstExec,
    Step::SubprocessSpawnEnvSetupperBeforeShell,
    Step::SubprocessOsShell,
    Step::SubprocessSpawnEnvSetupperAfterShell,
    Step::SubprocessExecWrapper,
    Step::SubprocessWrapperPreparation,
    Step::SubprocessAppLoadOrExec,
    Step::SubprocessPrepareAfterForkingFromPreloader,
    Step::SubprocessListen,
    Step::SubprocessFinish,
];

impl Step {
    /// SpawningKit's name: `SPAWNING_KIT_PREPARATION`, `SUBPROCESS_LISTEN`, ...
    pub fn name(self) -> &'static str {
        match self {
            Step::Preparation => "SPAWNING_KIT_PREPARATION",
            Step::ForkSubprocess => "SPAWNING_KIT_FORK_SUBPROCESS",
            Step::ConnectToPreloader => "SPAWNING_KIT_CONNECT_TO_PRELOADER",
            Step::SendCommandToPreloader => "SPAWNING_KIT_SEND_COMMAND_TO_PRELOADER",
            Step::ReadResponseFromPreloader => "SPAWNING_KIT_READ_RESPONSE_FROM_PRELOADER",
            Step::ParseResponseFromPreloader => "SPAWNING_KIT_PARSE_RESPONSE_FROM_PRELOADER",
            Step::ProcessResponseFromPreloader => "SPAWNING_KIT_PROCESS_RESPONSE_FROM_PRELOADER",
            Step::HandshakePerform => "SPAWNING_KIT_HANDSHAKE_PERFORM",
            Step::Finish => "SPAWNING_KIT_FINISH",
            Step::PreloaderPreparation => "PRELOADER_PREPARATION",
            Step::PreloaderForkSubprocess => "PRELOADER_FORK_SUBPROCESS",
            Step::PreloaderSendResponse => "PRELOADER_SEND_RESPONSE",
            Step::PreloaderFinish => "PRELOADER_FINISH",
            Step::SubprocessBeforeFirstExec => "SUBPROCESS_BEFORE_FIRST_EXEC",
            Step::SubprocessSpawnEnvSetupperBeforeShell => {
                "SUBPROCESS_SPAWN_ENV_SETUPPER_BEFORE_SHELL"
            }
            Step::SubprocessOsShell => "SUBPROCESS_OS_SHELL",
            Step::SubprocessSpawnEnvSetupperAfterShell => {
                "SUBPROCESS_SPAWN_ENV_SETUPPER_AFTER_SHELL"
            }
            Step::SubprocessExecWrapper => "SUBPROCESS_EXEC_WRAPPER",
            Step::SubprocessWrapperPreparation => "SUBPROCESS_WRAPPER_PREPARATION",
            Step::SubprocessAppLoadOrExec => "SUBPROCESS_APP_LOAD_OR_EXEC",
            Step::SubprocessPrepareAfterForkingFromPreloader => {
                "SUBPROCESS_PREPARE_AFTER_FORKING_FROM_PRELOADER"
            }
            Step::SubprocessListen => "SUBPROCESS_LISTEN",
            Step::SubprocessFinish => "SUBPROCESS_FINISH",
        }
    }

    /// The name of the step's directory under `response/steps/`: the name in lower case.
    pub fn dir_name(self) -> String {
        self.name().to_ascii_lowercase()
    }

    /// The step called `name` (SpawningKit's name, any case).
    pub fn from_name(name: &str) -> Option<Step> {
        ALL_STEPS
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Who performs the step.
    pub fn actor(self) -> Actor {
        let name = self.name();
        if name.starts_with("SUBPROCESS_") {
            Actor::Subprocess
        } else if name.starts_with("PRELOADER_") {
            Actor::Preloader
        } else {
            Actor::Ferry
        }
    }

    /// What the step does, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Preparation => "preparing to spawn an application process",
            Step::ForkSubprocess => "creating (forking) the subprocess",
            Step::ConnectToPreloader => "connecting to the preloader",
            Step::SendCommandToPreloader => "sending a command to the preloader",
            Step::ReadResponseFromPreloader => "receiving the preloader's response",
            Step::ParseResponseFromPreloader => "parsing the preloader's response",
            Step::ProcessResponseFromPreloader => "processing the preloader's response",
            Step::HandshakePerform => "waiting for the application to report that it is up",
            Step::Finish => "finishing the spawn",
            Step::PreloaderPreparation => "the preloader preparing",
            Step::PreloaderForkSubprocess => "the preloader forking a worker",
            Step::PreloaderSendResponse => "the preloader answering",
            Step::PreloaderFinish => "the preloader finishing",
            Step::SubprocessBeforeFirstExec => "the subprocess starting",
            Step::SubprocessSpawnEnvSetupperBeforeShell => {
                "setting up the environment (user, limits, directory)"
            }
            Step::SubprocessOsShell => "loading the user's login shell",
            Step::SubprocessSpawnEnvSetupperAfterShell => {
                "restoring the environment after the login shell"
            }
            Step::SubprocessExecWrapper => "executing the language loader",
            Step::SubprocessWrapperPreparation => "the language loader preparing",
            Step::SubprocessAppLoadOrExec => "loading or executing the application",
            Step::SubprocessPrepareAfterForkingFromPreloader => {
                "preparing the worker after it was forked"
            }
            Step::SubprocessListen => "the application starting to listen",
            Step::SubprocessFinish => "the application finishing its start",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// === impl StepState ===

impl StepState {
    /// SpawningKit's name: `STEP_NOT_STARTED`, `STEP_IN_PROGRESS`, `STEP_PERFORMED`, `STEP_ERRORED`.
    pub fn name(self) -> &'static str {
        match self {
            StepState::NotStarted => "STEP_NOT_STARTED",
            StepState::InProgress => "STEP_IN_PROGRESS",
            StepState::Performed => "STEP_PERFORMED",
            StepState::Errored => "STEP_ERRORED",
        }
    }

    /// Parses a `state` file's content.
    pub fn from_name(name: &str) -> Option<StepState> {
        [
            StepState::NotStarted,
            StepState::InProgress,
            StepState::Performed,
            StepState::Errored,
        ]
        .into_iter()
        .find(|s| s.name() == name.trim())
    }
}

// === impl JourneyType ===

impl JourneyType {
    /// SpawningKit's name.
    pub fn name(self) -> &'static str {
        match self {
            JourneyType::SpawnDirectly => "SPAWN_DIRECTLY",
            JourneyType::StartPreloader => "START_PRELOADER",
            JourneyType::SpawnThroughPreloader => "SPAWN_THROUGH_PRELOADER",
        }
    }
}

// === impl Journey ===

impl Journey {
    /// The journey of a process spawned (or a preloader started) from its start command.
    /// `wrapper`: a language loader runs before the app; `os_shell`: the user's login shell runs.
    pub fn new(kind: JourneyType, wrapper: bool, os_shell: bool) -> Journey {
        use Step::*;
        let steps: Vec<Step> = match kind {
            JourneyType::SpawnDirectly | JourneyType::StartPreloader => {
                let mut steps = vec![
                    Preparation,
                    ForkSubprocess,
                    HandshakePerform,
                    Finish,
                    SubprocessBeforeFirstExec,
                    SubprocessSpawnEnvSetupperBeforeShell,
                ];
                if os_shell {
                    steps.push(SubprocessOsShell);
                }
                steps.push(SubprocessSpawnEnvSetupperAfterShell);
                if wrapper {
                    steps.extend([SubprocessExecWrapper, SubprocessWrapperPreparation]);
                }
                steps.extend([SubprocessAppLoadOrExec, SubprocessListen, SubprocessFinish]);
                steps
            }
            JourneyType::SpawnThroughPreloader => vec![
                Preparation,
                ConnectToPreloader,
                SendCommandToPreloader,
                ReadResponseFromPreloader,
                ParseResponseFromPreloader,
                ProcessResponseFromPreloader,
                HandshakePerform,
                Finish,
                PreloaderPreparation,
                PreloaderForkSubprocess,
                PreloaderSendResponse,
                PreloaderFinish,
                SubprocessPrepareAfterForkingFromPreloader,
                SubprocessListen,
                SubprocessFinish,
            ],
        };
        Journey {
            kind,
            steps: steps
                .into_iter()
                .map(|step| StepRecord {
                    step,
                    state: StepState::NotStarted,
                    begin: None,
                    end: None,
                })
                .collect(),
        }
    }

    /// The journey of a direct spawn of a generic app (no wrapper, no shell).
    pub fn spawn_directly() -> Journey {
        Journey::new(JourneyType::SpawnDirectly, false, false)
    }

    /// Which route this journey follows.
    pub fn kind(&self) -> JourneyType {
        self.kind
    }

    /// Every step of the route, in order, with its state and times.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// The steps of the route that `actor` performs.
    pub fn steps_of(&self, actor: Actor) -> impl Iterator<Item = &StepRecord> {
        self.steps.iter().filter(move |r| r.step.actor() == actor)
    }

    /// Whether the route includes `step`.
    pub fn has(&self, step: Step) -> bool {
        self.record(step).is_some()
    }

    /// Marks `step` as begun.
    pub fn begin(&mut self, step: Step) {
        if let Some(r) = self.record_mut(step) {
            r.state = StepState::InProgress;
            r.begin = Some(monotonic_now());
        }
    }

    /// Marks `step` as performed.
    pub fn end(&mut self, step: Step) {
        self.finish(step, StepState::Performed);
    }

    /// Marks `step` as failed.
    pub fn fail(&mut self, step: Step) {
        self.finish(step, StepState::Errored);
    }

    /// Records what a subprocess wrote about `step`. Ignored for steps not on this route.
    pub fn merge_subprocess_step(
        &mut self,
        step: Step,
        state: StepState,
        begin: Option<f64>,
        end: Option<f64>,
    ) {
        if let Some(r) = self.record_mut(step) {
            r.state = state;
            r.begin = begin.or(r.begin);
            r.end = end.or(r.end);
        }
    }

    /// Marks every subprocess step that is not yet performed as performed (the app is up, so
    /// whatever it did not report, it did).
    pub fn complete_subprocess_steps(&mut self) {
        let now = monotonic_now();
        for r in self.steps.iter_mut() {
            if r.step.actor() == Actor::Subprocess && r.state != StepState::Performed {
                r.state = StepState::Performed;
                r.begin.get_or_insert(now);
                r.end.get_or_insert(now);
            }
        }
    }

    /// The state of `step`.
    pub fn state(&self, step: Step) -> StepState {
        self.record(step).map_or(StepState::NotStarted, |r| r.state)
    }

    /// How long `step` took: until the next step of the same actor began if that is known, else
    /// until it ended.
    pub fn duration(&self, step: Step) -> Option<Duration> {
        let index = self.steps.iter().position(|r| r.step == step)?;
        let r = &self.steps[index];
        let begin = r.begin?;
        let next_begin = self.steps[index + 1..]
            .iter()
            .find(|n| n.step.actor() == r.step.actor())
            .and_then(|n| n.begin);
        let end = next_begin.or(r.end)?;
        Some(Duration::from_secs_f64((end - begin).max(0.0)))
    }

    /// The step that failed, if any: a subprocess's own verdict wins over Ferry's.
    pub fn failed_step(&self) -> Option<Step> {
        let errored = |actor| {
            self.steps
                .iter()
                .find(|r| r.state == StepState::Errored && r.step.actor() == actor)
                .map(|r| r.step)
        };
        errored(Actor::Subprocess)
            .or_else(|| errored(Actor::Preloader))
            .or_else(|| errored(Actor::Ferry))
    }

    /// When the subprocess failed without saying where: the first of its steps that began but
    /// did not end, else the first it never reached. That step is marked as failed.
    pub fn guess_failed_subprocess_step(&mut self) -> Option<Step> {
        if let Some(step) = self
            .steps_of(Actor::Subprocess)
            .find(|r| r.state == StepState::Errored)
        {
            return Some(step.step);
        }
        let guess = self
            .steps_of(Actor::Subprocess)
            .find(|r| r.state == StepState::InProgress)
            .or_else(|| {
                self.steps_of(Actor::Subprocess)
                    .find(|r| r.state == StepState::NotStarted)
            })
            .map(|r| r.step)?;
        self.fail(guess);
        Some(guess)
    }

    fn finish(&mut self, step: Step, state: StepState) {
        if let Some(r) = self.record_mut(step) {
            r.state = state;
            let now = monotonic_now();
            r.begin.get_or_insert(now);
            r.end = Some(now);
        }
    }

    fn record(&self, step: Step) -> Option<&StepRecord> {
        self.steps.iter().find(|r| r.step == step)
    }

    fn record_mut(&mut self, step: Step) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|r| r.step == step)
    }
}

/// Seconds on the monotonic clock, the clock journey times are kept in.
pub(crate) fn monotonic_now() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

/// Converts a wall-clock Unix time to the monotonic clock.
pub(crate) fn wall_to_monotonic(wall: f64) -> f64 {
    let now_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    monotonic_now() - (now_wall - wall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_move_through_their_states() {
        let mut j = Journey::spawn_directly();
        assert_eq!(j.state(Step::Preparation), StepState::NotStarted);
        j.begin(Step::Preparation);
        assert_eq!(j.state(Step::Preparation), StepState::InProgress);
        j.end(Step::Preparation);
        assert_eq!(j.state(Step::Preparation), StepState::Performed);
        assert!(j.duration(Step::Preparation).is_some());
        j.fail(Step::HandshakePerform);
        assert_eq!(j.failed_step(), Some(Step::HandshakePerform));
    }

    #[test]
    fn names_are_spawning_kit_names() {
        assert_eq!(
            Step::HandshakePerform.name(),
            "SPAWNING_KIT_HANDSHAKE_PERFORM"
        );
        assert_eq!(Step::SubprocessListen.to_string(), "SUBPROCESS_LISTEN");
        assert_eq!(Step::SubprocessListen.dir_name(), "subprocess_listen");
        assert_eq!(
            Step::from_name("subprocess_exec_wrapper"),
            Some(Step::SubprocessExecWrapper)
        );
        assert_eq!(
            StepState::from_name("STEP_ERRORED\n"),
            Some(StepState::Errored)
        );
    }

    #[test]
    fn routes_have_seed_004_steps() {
        let direct = Journey::new(JourneyType::SpawnDirectly, true, true);
        assert!(direct.has(Step::SubprocessOsShell));
        assert!(direct.has(Step::SubprocessExecWrapper));
        let generic = Journey::spawn_directly();
        assert!(!generic.has(Step::SubprocessOsShell));
        assert!(!generic.has(Step::SubprocessExecWrapper));
        let through = Journey::new(JourneyType::SpawnThroughPreloader, true, true);
        assert!(through.has(Step::PreloaderForkSubprocess));
        assert!(!through.has(Step::ForkSubprocess));
        assert_eq!(through.kind().name(), "SPAWN_THROUGH_PRELOADER");
    }

    #[test]
    fn a_subprocess_failure_wins_and_is_guessed_when_unsaid() {
        let mut j = Journey::spawn_directly();
        j.fail(Step::HandshakePerform);
        j.merge_subprocess_step(
            Step::SubprocessBeforeFirstExec,
            StepState::Performed,
            Some(1.0),
            Some(2.0),
        );
        j.merge_subprocess_step(
            Step::SubprocessSpawnEnvSetupperBeforeShell,
            StepState::InProgress,
            Some(2.0),
            None,
        );
        assert_eq!(j.failed_step(), Some(Step::HandshakePerform));
        assert_eq!(
            j.guess_failed_subprocess_step(),
            Some(Step::SubprocessSpawnEnvSetupperBeforeShell)
        );
        assert_eq!(
            j.failed_step(),
            Some(Step::SubprocessSpawnEnvSetupperBeforeShell)
        );
        assert_eq!(
            j.duration(Step::SubprocessBeforeFirstExec),
            Some(Duration::from_secs(1))
        );
    }
}
