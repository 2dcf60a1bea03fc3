//! Problems found in a configuration, each with the file and line it comes from: what
//! `ferry config check` prints and what `ferry start --config` refuses to start with.
//!
//! The types live apart from the Nginx reader so that a [`Deployment`](crate::deployment::Deployment)
//! can carry its warnings without the deployment importing the reader that builds it.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where something was written: a file (as the user named it or as `include` found it) and a
/// 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The file.
    pub file: Arc<PathBuf>,
    /// The line, from 1.
    pub line: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One problem found in a configuration: where, and what. Displays as `FILE:LINE: message`
/// (`FILE: message` for a file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is. Line 0 stands for the whole file.
    pub span: Span,
    /// What is wrong and what would be right.
    pub message: String,
}

/// Why a configuration was refused: every error, and the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The errors, at least one.
    pub errors: Vec<Problem>,
    /// The warnings.
    pub warnings: Vec<Problem>,
}

// === impl Problem ===

impl Problem {
    /// `FILE:LINE`, or `FILE` for the whole file.
    pub fn location(&self) -> String {
        if self.span.line == 0 {
            self.span.file.display().to_string()
        } else {
            self.span.to_string()
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)
    }
}

// === impl Rejected ===

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl StdError for Rejected {}
