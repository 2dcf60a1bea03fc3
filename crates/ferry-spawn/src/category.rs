//! SpawningKit's error categories (seed 004, "Error reporting"): what kind of thing failed, as
//! written in `response/error/category` and shown on the error page.

use std::fmt;

/// SpawningKit's error categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A bug or unexpected state in Ferry or the app.
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

// === impl Category ===

impl Category {
    /// SpawningKit's name, as written in `response/error/category`.
    pub fn name(self) -> &'static str {
        match self {
            Category::Internal => "INTERNAL_ERROR",
            Category::FileSystem => "FILE_SYSTEM_ERROR",
            Category::OperatingSystem => "OPERATING_SYSTEM_ERROR",
            Category::Io => "IO_ERROR",
            Category::Timeout => "TIMEOUT_ERROR",
        }
    }

    /// Parses a category name; unknown names are internal errors.
    pub fn from_name(name: &str) -> Category {
        [
            Category::FileSystem,
            Category::OperatingSystem,
            Category::Io,
            Category::Timeout,
        ]
        .into_iter()
        .find(|c| c.name() == name.trim())
        .unwrap_or(Category::Internal)
    }

    /// "An internal error", "A file system error", ...
    pub fn phrase(self) -> &'static str {
        match self {
            Category::Internal => "An internal error",
            Category::FileSystem => "A file system error",
            Category::OperatingSystem => "An operating system error",
            Category::Io => "An I/O error",
            Category::Timeout => "A timeout error",
        }
    }

    /// The category an I/O error belongs to.
    pub fn of_io_error(error: &std::io::Error) -> Category {
        use std::io::ErrorKind::*;
        match error.kind() {
            NotFound | PermissionDenied | AlreadyExists | InvalidFilename => Category::FileSystem,
            TimedOut => Category::Timeout,
            _ => Category::OperatingSystem,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_and_unknown_is_internal() {
        for c in [
            Category::Internal,
            Category::FileSystem,
            Category::OperatingSystem,
            Category::Io,
            Category::Timeout,
        ] {
            assert_eq!(Category::from_name(c.name()), c);
        }
        assert_eq!(Category::from_name("BOGUS"), Category::Internal);
    }
}
