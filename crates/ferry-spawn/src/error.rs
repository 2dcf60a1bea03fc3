//! Spawn errors: SpawningKit's error report.
//!
//! A [`SpawnError`] carries what seed 004 ("Error reporting") lists: a category, a one-line
//! summary, problem and solution descriptions (supplied by the subprocess through
//! `response/error/`, or generated from the category and the failed step), advanced details, the
//! app's output, environment dumps, the journey and a unique error id. The summary is for the log;
//! everything else is for the error page ([`crate::page`]).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::category::Category;
use crate::descriptions;
use crate::html::escape;
use crate::journey::{Journey, Step};

/// A description written either as plain text or as HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Description {
    /// Plain text: escaped when shown on a page.
    Text(String),
    /// HTML, shown as it is.
    Html(String),
}

/// What a process reported about its environment (`envdump/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvDump {
    /// The process's pid, when known.
    pub pid: Option<u32>,
    /// `NAME=value` lines.
    pub envvars: Option<String>,
    /// uid, gid and groups, like `id -a`.
    pub user_info: Option<String>,
    /// Resource limits, like `ulimit -a`.
    pub ulimits: Option<String>,
    /// Anything else the subprocess found relevant, by name.
    pub annotations: Vec<(String, String)>,
}

/// A spawn that failed, with everything needed to explain why.
#[derive(Debug, Clone)]
pub struct SpawnError {
    id: String,
    category: Category,
    step: Step,
    summary: String,
    problem: Option<Description>,
    solution: Option<Description>,
    advanced: Option<String>,
    output: String,
    journey: Journey,
    subprocess: Option<EnvDump>,
    config: Vec<(String, String)>,
}

// === impl SpawnError ===

impl SpawnError {
    /// A spawn error of `category` at `step`, with a fresh error id.
    pub fn new(category: Category, step: Step, summary: String, journey: Journey) -> Self {
        SpawnError {
            id: fresh_id(),
            category,
            step,
            summary,
            problem: None,
            solution: None,
            advanced: None,
            output: String::new(),
            journey,
            subprocess: None,
            config: Vec::new(),
        }
    }

    pub(crate) fn with_output(mut self, output: String) -> Self {
        self.output = output;
        self
    }

    pub(crate) fn with_problem(mut self, problem: Option<Description>) -> Self {
        self.problem = problem.or(self.problem);
        self
    }

    pub(crate) fn with_solution(mut self, solution: Option<Description>) -> Self {
        self.solution = solution.or(self.solution);
        self
    }

    pub(crate) fn with_advanced(mut self, advanced: Option<String>) -> Self {
        self.advanced = advanced.or(self.advanced);
        self
    }

    pub(crate) fn with_subprocess_env(mut self, dump: EnvDump) -> Self {
        self.subprocess = Some(dump);
        self
    }

    pub(crate) fn with_config(mut self, config: Vec<(String, String)>) -> Self {
        self.config = config;
        self
    }

    pub(crate) fn set_category(&mut self, category: Category) {
        self.category = category;
    }

    pub(crate) fn set_summary(&mut self, summary: String) {
        self.summary = summary;
    }

    pub(crate) fn set_step(&mut self, step: Step) {
        self.step = step;
    }

    /// The unique id of this error (8 hex digits), shown on terse error pages and in the log.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The error's category.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The step that failed.
    pub fn step(&self) -> Step {
        self.step
    }

    /// One line saying what went wrong (for the log).
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The problem description as HTML: the subprocess's own if it gave one, else generated from
    /// the category and the failed step (with the advanced details, if any).
    pub fn problem_html(&self) -> String {
        match &self.problem {
            Some(d) => d.to_html(),
            None => descriptions::problem_html(self.category, self.step, self.advanced_details()),
        }
    }

    /// The solution description as HTML: the subprocess's own if it gave one, else generated.
    pub fn solution_html(&self) -> String {
        match &self.solution {
            Some(d) => d.to_html(),
            None => descriptions::solution_html(
                self.category,
                self.step,
                self.config_value("user"),
                self.config_value("start_timeout"),
            ),
        }
    }

    /// Whether the subprocess supplied the problem description.
    pub fn has_supplied_problem(&self) -> bool {
        self.problem.is_some()
    }

    /// Details for debugging (a backtrace, an errno), if any.
    pub fn advanced_details(&self) -> Option<&str> {
        self.advanced.as_deref()
    }

    /// The end of what the app wrote to stdout and stderr before the failure.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// The journey up to the failure.
    pub fn journey(&self) -> &Journey {
        &self.journey
    }

    /// What the subprocess reported about its environment, if it got that far.
    pub fn subprocess_env(&self) -> Option<&EnvDump> {
        self.subprocess.as_ref()
    }

    /// The spawn's configuration (app root, type, user, start command, ...), as name/value pairs.
    pub fn config(&self) -> &[(String, String)] {
        &self.config
    }

    /// The value of configuration entry `name`.
    pub fn config_value(&self, name: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the spawn failed because it took too long.
    pub fn is_timeout(&self) -> bool {
        self.category == Category::Timeout
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (step {})", self.summary, self.step)
    }
}

impl std::error::Error for SpawnError {}

/// A fresh error id: eight hex digits from the kernel's CSPRNG.
///
/// An id only names a report (in the log, on the terse page, in the saved page's file name); it
/// guards nothing. So when the kernel gives no random bytes, the clock and a counter name the
/// report instead, rather than the report itself failing. Secrets never fall back like this.
fn fresh_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    ferry_sys::secret::hex(4).unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}", nanos ^ count.rotate_left(16))
    })
}

// === impl Description ===

impl Description {
    /// The description as HTML.
    pub fn to_html(&self) -> String {
        match self {
            Description::Html(html) => html.clone(),
            Description::Text(text) => format!("<p>{}</p>", escape(text).replace('\n', "<br>")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_eight_hex_digits_and_differ() {
        let a = SpawnError::new(
            Category::Internal,
            Step::Preparation,
            "x".into(),
            Journey::spawn_directly(),
        );
        let b = SpawnError::new(
            Category::Internal,
            Step::Preparation,
            "x".into(),
            Journey::spawn_directly(),
        );
        assert_eq!(a.id().len(), 8);
        assert!(a.id().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn supplied_descriptions_win_and_text_is_escaped() {
        let e = SpawnError::new(
            Category::Internal,
            Step::SubprocessAppLoadOrExec,
            "x".into(),
            Journey::spawn_directly(),
        )
        .with_problem(Some(Description::Text("a <b> c".into())))
        .with_solution(Some(Description::Html("<p>do this</p>".into())));
        assert_eq!(e.problem_html(), "<p>a &lt;b&gt; c</p>");
        assert_eq!(e.solution_html(), "<p>do this</p>");
    }

    #[test]
    fn generated_descriptions_name_the_step_and_include_advanced_details() {
        let e = SpawnError::new(
            Category::FileSystem,
            Step::SubprocessSpawnEnvSetupperBeforeShell,
            "cannot enter /srv/app".into(),
            Journey::spawn_directly(),
        )
        .with_advanced(Some("errno 13 <EACCES>".into()));
        let html = e.problem_html();
        assert!(html.contains("a file system error happened while setting up the environment"));
        assert!(html.contains("errno 13 &lt;EACCES&gt;"));
        assert!(e.solution_html().contains("can read the application"));
    }
}
