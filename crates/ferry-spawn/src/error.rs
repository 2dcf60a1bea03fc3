//! Spawn errors: which step failed, why, and what the app printed.

use std::fmt;
use std::time::Duration;

use crate::journey::{Journey, Step};

/// SpawningKit's error categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A bug or unexpected state in Ferry.
    Internal,
    /// A file or directory could not be used.
    FileSystem,
    /// A system call failed.
    OperatingSystem,
    /// Reading or writing a stream failed.
    Io,
    /// The spawn took longer than the start timeout.
    Timeout,
}

/// A spawn that failed.
///
/// Carries the journey (so the failed step is known), a one-line summary, and the tail of what
/// the app wrote to stdout/stderr, as Passenger's `SpawnException` does.
#[derive(Debug, Clone)]
pub struct SpawnError {
    category: Category,
    step: Step,
    summary: String,
    output: String,
    journey: Journey,
}

impl SpawnError {
    /// A spawn error of `category` at `step`.
    pub fn new(category: Category, step: Step, summary: String, journey: Journey) -> Self {
        SpawnError {
            category,
            step,
            summary,
            output: String::new(),
            journey,
        }
    }

    pub(crate) fn timeout(step: Step, after: Duration, detail: &str, journey: Journey) -> Self {
        let summary = format!(
            "A timeout occurred while spawning an application process: {detail} within {} s",
            after.as_secs_f64()
        );
        SpawnError::new(Category::Timeout, step, summary, journey)
    }

    pub(crate) fn with_output(mut self, output: String) -> Self {
        self.output = output;
        self
    }

    /// The error's category.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The step that failed.
    pub fn step(&self) -> Step {
        self.step
    }

    /// One line saying what went wrong.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The end of what the app wrote to stdout and stderr before the failure.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// The journey up to the failure.
    pub fn journey(&self) -> &Journey {
        &self.journey
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
