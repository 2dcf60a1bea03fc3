//! The journey a spawn walks: named steps with their states and times.
//!
//! Step names follow SpawningKit's `JourneyStep` so that a log line, an error page and a work
//! directory (`response/steps/<name>/`) all say the same thing.

use std::fmt;
use std::time::{Duration, Instant};

/// One step of a spawn journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Ferry prepares the spawn: chooses a port, builds the environment.
    Preparation,
    /// Ferry forks and execs the subprocess.
    ForkSubprocess,
    /// Ferry waits until the process is up (the port accepts, or `finish` is written).
    HandshakePerform,
    /// Ferry records the result and hands the process to the pool.
    Finish,
    /// In the subprocess: the app is loaded or executed.
    SubprocessAppLoadOrExec,
    /// In the subprocess: the app starts listening.
    SubprocessListen,
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
    steps: Vec<StepRecord>,
}

#[derive(Debug, Clone)]
struct StepRecord {
    step: Step,
    state: StepState,
    begin: Option<Instant>,
    end: Option<Instant>,
}

// === impl Step ===

impl Step {
    /// SpawningKit's name: `SPAWNING_KIT_PREPARATION`, `SUBPROCESS_LISTEN`, ...
    pub fn name(self) -> &'static str {
        match self {
            Step::Preparation => "SPAWNING_KIT_PREPARATION",
            Step::ForkSubprocess => "SPAWNING_KIT_FORK_SUBPROCESS",
            Step::HandshakePerform => "SPAWNING_KIT_HANDSHAKE_PERFORM",
            Step::Finish => "SPAWNING_KIT_FINISH",
            Step::SubprocessAppLoadOrExec => "SUBPROCESS_APP_LOAD_OR_EXEC",
            Step::SubprocessListen => "SUBPROCESS_LISTEN",
        }
    }

    /// What the step does, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Preparation => "preparing to spawn an application process",
            Step::ForkSubprocess => "creating (forking) the subprocess",
            Step::HandshakePerform => "waiting for the application to start listening",
            Step::Finish => "finishing the spawn",
            Step::SubprocessAppLoadOrExec => "loading or executing the application",
            Step::SubprocessListen => "the application starting to listen",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// === impl Journey ===

impl Journey {
    /// The journey of a direct spawn of a generic app.
    pub fn spawn_directly() -> Journey {
        let steps = [
            Step::Preparation,
            Step::ForkSubprocess,
            Step::HandshakePerform,
            Step::Finish,
            Step::SubprocessAppLoadOrExec,
            Step::SubprocessListen,
        ];
        Journey {
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

    /// Marks `step` as begun.
    pub fn begin(&mut self, step: Step) {
        if let Some(r) = self.record_mut(step) {
            r.state = StepState::InProgress;
            r.begin = Some(Instant::now());
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

    /// The state of `step`.
    pub fn state(&self, step: Step) -> StepState {
        self.record(step).map_or(StepState::NotStarted, |r| r.state)
    }

    /// How long `step` took, if it began and ended.
    pub fn duration(&self, step: Step) -> Option<Duration> {
        let r = self.record(step)?;
        Some(r.end?.saturating_duration_since(r.begin?))
    }

    /// The step that failed, if any.
    pub fn failed_step(&self) -> Option<Step> {
        self.steps
            .iter()
            .find(|r| r.state == StepState::Errored)
            .map(|r| r.step)
    }

    fn finish(&mut self, step: Step, state: StepState) {
        if let Some(r) = self.record_mut(step) {
            r.state = state;
            let now = Instant::now();
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
    }
}
