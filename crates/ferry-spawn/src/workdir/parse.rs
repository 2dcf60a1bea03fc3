//! What the files a subprocess writes into its work directory mean: pure functions from their
//! text (as [`read`](super::read) found it) to values, with no I/O, so that unit tests and the
//! `work_dir_response` fuzz target can drive them with any input.
//!
//! Everything here comes from the app's owner and is hostile: a category that is not one,
//! a time of `NaN`, `inf` or `1e300`, text of any bytes. Unknown categories are internal errors
//! (as in Passenger); a state that is not a state skips its step; a time that is not a finite
//! number of seconds within [`MAX_SECONDS`] is taken as not written, so that no duration computed
//! from it can overflow.

use crate::category::Category;
use crate::error::{Description, EnvDump};
use crate::journey::{self, StepState};

/// The largest time, in seconds, taken from a step file (about 3,000 years): larger ones, and
/// negative or non-finite ones, are ignored.
pub(crate) const MAX_SECONDS: f64 = 1e11;

/// The files of one step's directory, `response/steps/<step>/`, as text.
#[derive(Debug, Default, Clone)]
pub(crate) struct StepFiles {
    pub(crate) state: Option<String>,
    pub(crate) begin_time: Option<String>,
    pub(crate) begin_time_monotonic: Option<String>,
    pub(crate) end_time: Option<String>,
    pub(crate) end_time_monotonic: Option<String>,
}

/// What a subprocess said about one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StepReport {
    pub(crate) state: StepState,
    /// On the monotonic clock.
    pub(crate) begin: Option<f64>,
    /// On the monotonic clock.
    pub(crate) end: Option<f64>,
}

/// The files of `response/error/`, as text.
#[derive(Debug, Default, Clone)]
pub(crate) struct ErrorFiles {
    pub(crate) category: Option<String>,
    pub(crate) summary: Option<String>,
    pub(crate) problem_description_html: Option<String>,
    pub(crate) problem_description_txt: Option<String>,
    pub(crate) solution_description_html: Option<String>,
    pub(crate) solution_description_txt: Option<String>,
    pub(crate) advanced_problem_details: Option<String>,
}

/// What a failed subprocess wrote into `response/error/`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SubprocessError {
    pub(crate) category: Option<Category>,
    pub(crate) summary: Option<String>,
    pub(crate) problem: Option<Description>,
    pub(crate) solution: Option<Description>,
    pub(crate) advanced: Option<String>,
}

/// The files of `envdump/`, as text; annotations by name.
#[derive(Debug, Default, Clone)]
pub(crate) struct EnvDumpFiles {
    pub(crate) pid: Option<String>,
    pub(crate) envvars: Option<String>,
    pub(crate) user_info: Option<String>,
    pub(crate) ulimits: Option<String>,
    pub(crate) annotations: Vec<(String, String)>,
}

// === impl StepFiles ===

impl StepFiles {
    /// What the files say, or `None` when the state is missing or not a state. A time is taken
    /// from `<base>_monotonic`, else from the wall-clock `<base>` converted to the monotonic
    /// clock.
    pub(crate) fn parse(&self) -> Option<StepReport> {
        let state = StepState::from_name(self.state.as_deref()?)?;
        let time = |monotonic: &Option<String>, wall: &Option<String>| {
            seconds(monotonic.as_deref()).or_else(|| {
                seconds(wall.as_deref())
                    .map(journey::wall_to_monotonic)
                    .filter(|t| in_range(*t))
            })
        };
        Some(StepReport {
            state,
            begin: time(&self.begin_time_monotonic, &self.begin_time),
            end: time(&self.end_time_monotonic, &self.end_time),
        })
    }
}

// === impl ErrorFiles ===

impl ErrorFiles {
    /// What the files say; blank files count as absent.
    pub(crate) fn parse(&self) -> SubprocessError {
        let description = |html: &Option<String>, txt: &Option<String>| {
            non_blank(html)
                .map(Description::Html)
                .or_else(|| non_blank(txt).map(Description::Text))
        };
        SubprocessError {
            category: non_blank(&self.category).map(|c| Category::from_name(&c)),
            summary: non_blank(&self.summary).map(|s| s.trim().to_owned()),
            problem: description(
                &self.problem_description_html,
                &self.problem_description_txt,
            ),
            solution: description(
                &self.solution_description_html,
                &self.solution_description_txt,
            ),
            advanced: non_blank(&self.advanced_problem_details),
        }
    }
}

// === impl EnvDumpFiles ===

impl EnvDumpFiles {
    /// What the files say; `None` when they say nothing.
    pub(crate) fn parse(&self) -> Option<EnvDump> {
        let mut annotations = self.annotations.clone();
        annotations.sort();
        let dump = EnvDump {
            pid: self.pid.as_deref().and_then(|p| p.trim().parse().ok()),
            envvars: self.envvars.clone(),
            user_info: self.user_info.clone(),
            ulimits: self.ulimits.clone(),
            annotations,
        };
        (dump != EnvDump::default()).then_some(dump)
    }
}

// === helpers ===

/// A number of seconds, if the text is one within range.
fn seconds(text: Option<&str>) -> Option<f64> {
    text?.trim().parse::<f64>().ok().filter(|t| in_range(*t))
}

fn in_range(t: f64) -> bool {
    t.is_finite() && (0.0..=MAX_SECONDS).contains(&t)
}

fn non_blank(text: &Option<String>) -> Option<String> {
    text.clone().filter(|s| !s.trim().is_empty())
}

/// The fuzz target's body: parses `input` split into the files of a response, and panics if an
/// invariant breaks (every time finite and in range, a summary trimmed and not empty, the
/// annotations sorted, no panic).
pub(crate) fn check_invariants(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut parts = text.split('\u{1f}').map(|s| Some(s.to_owned()));
    let mut next = || parts.next().flatten();
    let step = StepFiles {
        state: next(),
        begin_time: next(),
        begin_time_monotonic: next(),
        end_time: next(),
        end_time_monotonic: next(),
    };
    if let Some(report) = step.parse() {
        for t in [report.begin, report.end].into_iter().flatten() {
            assert!(in_range(t), "time {t} out of range");
        }
    }
    let error = ErrorFiles {
        category: next(),
        summary: next(),
        problem_description_html: next(),
        problem_description_txt: next(),
        solution_description_html: next(),
        solution_description_txt: next(),
        advanced_problem_details: next(),
    }
    .parse();
    if let Some(summary) = &error.summary {
        assert!(!summary.is_empty() && summary.trim() == summary);
    }
    let mut dump = EnvDumpFiles {
        pid: next(),
        envvars: next(),
        user_info: next(),
        ulimits: next(),
        annotations: Vec::new(),
    };
    dump.annotations = std::iter::from_fn(|| Some((next()?, next()?))).collect();
    let dump = dump.parse();
    if let Some(dump) = dump {
        assert!(dump.annotations.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: &str, begin: &str, end: &str) -> Option<StepReport> {
        StepFiles {
            state: Some(state.into()),
            begin_time_monotonic: Some(begin.into()),
            end_time_monotonic: Some(end.into()),
            ..StepFiles::default()
        }
        .parse()
    }

    #[test]
    fn a_step_needs_a_state_and_keeps_only_sane_times() {
        let ok = step("STEP_PERFORMED\n", "1.5", " 2.5 ").unwrap();
        assert_eq!(ok.state, StepState::Performed);
        assert_eq!((ok.begin, ok.end), (Some(1.5), Some(2.5)));
        assert!(step("STEP_SLEEPING", "1", "2").is_none());
        for bad in ["NaN", "inf", "-1", "1e300", "x"] {
            let r = step("STEP_ERRORED", bad, bad).unwrap();
            assert_eq!((r.begin, r.end), (None, None), "{bad}");
        }
    }

    #[test]
    fn a_wall_clock_time_is_converted_when_no_monotonic_one_is_given() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let files = StepFiles {
            state: Some("STEP_IN_PROGRESS".into()),
            begin_time: Some(format!("{now}")),
            ..StepFiles::default()
        };
        let report = files.parse().unwrap();
        let begin = report.begin.expect("converted");
        assert!((begin - journey::monotonic_now()).abs() < 60.0, "{begin}");
    }

    #[test]
    fn error_files_prefer_html_and_skip_blank_ones() {
        let files = ErrorFiles {
            category: Some("IO_ERROR\n".into()),
            summary: Some("  it broke \n".into()),
            problem_description_html: Some("  ".into()),
            problem_description_txt: Some("the problem".into()),
            solution_description_html: Some("<b>x</b>".into()),
            solution_description_txt: Some("x".into()),
            advanced_problem_details: None,
        };
        let error = files.parse();
        assert_eq!(error.category, Some(Category::Io));
        assert_eq!(error.summary.as_deref(), Some("it broke"));
        assert_eq!(error.problem, Some(Description::Text("the problem".into())));
        assert_eq!(error.solution, Some(Description::Html("<b>x</b>".into())));
        let unknown = ErrorFiles {
            category: Some("WHATEVER".into()),
            ..ErrorFiles::default()
        };
        assert_eq!(unknown.parse().category, Some(Category::Internal));
    }

    #[test]
    fn an_empty_envdump_is_none_and_annotations_are_sorted() {
        assert_eq!(EnvDumpFiles::default().parse(), None);
        let files = EnvDumpFiles {
            pid: Some("12\n".into()),
            annotations: vec![("b".into(), "2".into()), ("a".into(), "1".into())],
            ..EnvDumpFiles::default()
        };
        let dump = files.parse().unwrap();
        assert_eq!(dump.pid, Some(12));
        assert_eq!(dump.annotations[0].0, "a");
    }

    #[test]
    fn the_fuzz_body_holds_on_odd_inputs() {
        for input in [
            &b""[..],
            b"STEP_PERFORMED\x1f1e308\x1fNaN\x1f-0\x1finf",
            b"\x1f\x1f\x1f\x1f\x1fTIMEOUT_ERROR\x1f \x1f\xff\xfe",
            b"a\x1fb\x1fc\x1fd\x1fe\x1ff\x1fg\x1fh\x1fi\x1fj\x1fk\x1fl\x1fm\x1fn\x1fo\x1fp\x1fq\x1fr",
        ] {
            check_invariants(input);
        }
    }
}
