//! Reading a work directory back: every file through [`UntrustedDir`] (no link followed, regular
//! files only, on the directory's file system, owned by the expected user, capped in size). The
//! calls are synchronous; [`WorkDir::read`](super::WorkDir::read) runs them on the blocking pool
//! with a timeout.
//!
//! A file that breaks a rule is not read: the reader keeps a problem naming it ("response/error/
//! summary is a symbolic link; Ferry does not follow links an app writes") and goes on, so that
//! the report of a failed spawn still shows what could be read, and says what could not.

use std::path::Path;

use ferry_sys::fs::{FileKind, UntrustedDir, UntrustedError};

use super::parse::{EnvDumpFiles, ErrorFiles, StepFiles};
use crate::journey::Step;

/// Longest `properties.json` read back.
pub(crate) const MAX_PROPERTIES: u64 = 32 * 1024;
/// Longest step file read back.
const MAX_STEP_FILE: u64 = 32;
/// Longest error category read back.
const MAX_CATEGORY: u64 = 32;
/// Longest error message read back.
const MAX_ERROR_MESSAGE: u64 = 128 * 1024;
/// Longest envdump file read back.
const MAX_ENVDUMP: u64 = 128 * 1024;
/// Most annotations read back.
const MAX_ANNOTATIONS: usize = 64;

/// Reads the files of one work directory, collecting the problems it meets.
#[derive(Debug)]
pub(crate) struct Reader {
    dir: UntrustedDir,
    problems: Vec<String>,
}

// === impl Reader ===

impl Reader {
    /// A reader of `dir`, opened with the owner its files must have.
    pub(crate) fn new(dir: UntrustedDir) -> Reader {
        Reader {
            dir,
            problems: Vec::new(),
        }
    }

    /// `response/properties.json`, if it exists; a refused file is the caller's error.
    pub(crate) fn properties(&self) -> Result<Option<String>, UntrustedError> {
        self.dir
            .read_string("response/properties.json", MAX_PROPERTIES)
    }

    /// The files of each of `steps`' directories.
    pub(crate) fn steps(&mut self, steps: &[Step]) -> Vec<(Step, StepFiles)> {
        let mut out = Vec::with_capacity(steps.len());
        for &step in steps {
            let dir = Path::new("response/steps").join(step.dir_name());
            let mut read = |name: &str| self.text(&dir.join(name), MAX_STEP_FILE);
            let files = StepFiles {
                state: read("state"),
                begin_time: read("begin_time"),
                begin_time_monotonic: read("begin_time_monotonic"),
                end_time: read("end_time"),
                end_time_monotonic: read("end_time_monotonic"),
            };
            out.push((step, files));
        }
        out
    }

    /// The files of `response/error/`.
    pub(crate) fn error(&mut self) -> ErrorFiles {
        let dir = Path::new("response/error");
        let mut read = |name: &str, cap| self.text(&dir.join(name), cap);
        ErrorFiles {
            category: read("category", MAX_CATEGORY),
            summary: read("summary", MAX_ERROR_MESSAGE),
            problem_description_html: read("problem_description.html", MAX_ERROR_MESSAGE),
            problem_description_txt: read("problem_description.txt", MAX_ERROR_MESSAGE),
            solution_description_html: read("solution_description.html", MAX_ERROR_MESSAGE),
            solution_description_txt: read("solution_description.txt", MAX_ERROR_MESSAGE),
            advanced_problem_details: read("advanced_problem_details", MAX_ERROR_MESSAGE),
        }
    }

    /// The files of `envdump/`, and every regular file of `envdump/annotations/`.
    pub(crate) fn envdump(&mut self) -> EnvDumpFiles {
        let dir = Path::new("envdump");
        let mut files = EnvDumpFiles {
            pid: self.text(&dir.join("pid"), MAX_ENVDUMP),
            envvars: self.text(&dir.join("envvars"), MAX_ENVDUMP),
            user_info: self.text(&dir.join("user_info"), MAX_ENVDUMP),
            ulimits: self.text(&dir.join("ulimits"), MAX_ENVDUMP),
            annotations: Vec::new(),
        };
        let annotations = dir.join("annotations");
        let entries = match self.dir.list(&annotations, MAX_ANNOTATIONS) {
            Ok(entries) => entries.unwrap_or_default(),
            Err(e) => {
                self.problems.push(e.to_string());
                Vec::new()
            }
        };
        for entry in entries {
            let path = annotations.join(&entry.name);
            if entry.kind == FileKind::Directory {
                continue;
            }
            if let Some(value) = self.text(&path, MAX_ENVDUMP) {
                let name = entry.name.to_string_lossy().into_owned();
                files.annotations.push((name, value));
            }
        }
        files
    }

    /// The problems met so far, each naming its file.
    pub(crate) fn into_problems(self) -> Vec<String> {
        self.problems
    }

    /// The text of the file at `rel`; `None` if it does not exist or was refused (a problem).
    fn text(&mut self, rel: &Path, cap: u64) -> Option<String> {
        match self.dir.read_string(rel, cap) {
            Ok(text) => text,
            Err(e) => {
                self.problems.push(e.to_string());
                None
            }
        }
    }
}
