//! A spawn in progress ([`Attempt`]): the journey it walks, what it chose (account, port,
//! connect password), and, when it fails, the error report built from what the subprocess left
//! in its work directory. Every route (direct, through a preloader, a preloader's own start)
//! walks one.

use std::time::Duration;

use crate::category::Category;
use crate::error::SpawnError;
use crate::handle::{ExitInfo, ProcessHandle, StopMode};
use crate::journey::{Journey, JourneyType, Step};
use crate::output::OutputTail;
use crate::user::Account;
use crate::workdir::{self, StepFiles, SubprocessError, WorkDir};
use crate::{report, AppKind, SpawnOptions};

/// How long to wait for the rest of a failed app's output after it exited.
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);

/// A spawn in progress: what the failure path needs to build its report.
pub(crate) struct Attempt<'a> {
    pub(crate) options: &'a SpawnOptions,
    pub(crate) journey: Journey,
    pub(crate) account: Option<Account>,
    pub(crate) port: Option<u16>,
    pub(crate) connect_password: String,
}

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The process wrote something other than `1` to `finish`.
    ReportedError,
    Exited(ExitInfo),
    FinishUnreadable(std::io::Error),
    Properties(String),
    /// A file the process left in its work directory that Ferry refuses to read (a link, a
    /// FIFO, a device, a file too large, another user's), or a work directory that could not be
    /// read in time; the text names it.
    Unreadable(String),
    TimedOut,
    Cancelled,
}

/// What a failed process left in its work directory.
#[derive(Debug, Default)]
struct Leftovers {
    steps: Vec<(Step, StepFiles)>,
    error: SubprocessError,
    envdump: Option<crate::error::EnvDump>,
    /// The files Ferry refused to read, each naming itself.
    problems: Vec<String>,
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

    /// The uid the app's processes run as: the account's when switching, else Ferry's own.
    pub(crate) fn app_uid(&self) -> u32 {
        self.account
            .as_ref()
            .filter(|a| a.switch)
            .map_or_else(|| nix::unistd::geteuid().as_raw(), |a| a.uid)
    }

    /// The journey of a process that is up: what it recorded (`steps`, as read from its work
    /// directory), the rest of its steps performed, and Ferry's last steps.
    pub(crate) fn succeeded(&self, steps: &[(Step, StepFiles)]) -> Journey {
        let mut journey = self.journey.clone();
        workdir::merge_steps(&mut journey, steps);
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

        let mut left = read_leftovers(workdir, &self.journey).await;
        if let Failure::Unreadable(problem) = &failure {
            left.problems.insert(0, problem.clone());
        }
        workdir::merge_steps(&mut self.journey, &left.steps);
        self.journey.fail(Step::HandshakePerform);
        let supplied = left.error;
        let step = match failure {
            Failure::Properties(_) => {
                // The process said it was up; only its answer was wrong.
                self.journey.complete_subprocess_steps();
                Step::HandshakePerform
            }
            Failure::Cancelled | Failure::FinishUnreadable(_) | Failure::Unreadable(_) => {
                Step::HandshakePerform
            }
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
        let mut error = error
            .with_problem(supplied.problem)
            .with_solution(supplied.solution)
            .with_advanced(supplied.advanced.or(supplied.summary.clone()))
            .with_output(tail.text());
        if let Some(dump) = left.envdump {
            error = error.with_subprocess_env(dump);
        }
        refused(error, &left.problems)
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
            Failure::Unreadable(e) => (Category::FileSystem, unreadable(e)),
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

/// Reads what a failed process left in its work directory (on the blocking pool, with a
/// timeout); a directory that cannot be read at all is one problem.
async fn read_leftovers(workdir: &WorkDir, journey: &Journey) -> Leftovers {
    let steps = workdir::subprocess_steps(journey);
    let read = workdir
        .read(move |r| (r.steps(&steps), r.error(), r.envdump()))
        .await;
    match read {
        Ok(((steps, error, envdump), problems)) => Leftovers {
            steps,
            error: error.parse(),
            envdump: envdump.parse(),
            problems,
        },
        Err(problem) => Leftovers {
            problems: vec![problem],
            ..Leftovers::default()
        },
    }
}

/// The report of a process that left files Ferry refused to read: those files are what the
/// operator must know first (the summary, logged, names the first; the details, on the page,
/// list them all), then what the report said before.
fn refused(mut error: SpawnError, problems: &[String]) -> SpawnError {
    let Some(first) = problems.first() else {
        return error;
    };
    let mut details = problems.join("\n");
    details.push_str("\n\n");
    details.push_str(error.advanced_details().unwrap_or(error.summary()));
    error.set_category(Category::FileSystem);
    error.set_summary(unreadable(first));
    error.with_advanced(Some(details))
}

/// The summary for a file of the work directory that Ferry refused to read.
fn unreadable(problem: &str) -> String {
    format!(
        "The application left a file in its work directory that Ferry refuses to read: {problem}"
    )
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
