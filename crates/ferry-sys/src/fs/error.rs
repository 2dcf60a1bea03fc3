//! Why a [`Root`](super::Root) lookup failed.

use std::io;
use std::path::PathBuf;

use rustix::io::Errno;

use super::kind::FileKind;

/// Why a lookup under a [`Root`](super::Root) found nothing to serve.
///
/// Paths in the variants are the path as walked (after any link followed), for logs; they are
/// not for the client.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing by that name: `ENOENT`, `ENOTDIR` (a file where a directory was needed, or a
    /// link whose content ends in `/` leading to a file), `ENAMETOOLONG`, or a link with empty
    /// content. Carries no path, so that a miss costs no allocation.
    #[error("not found")]
    NotFound,
    /// A symbolic link the policy does not follow.
    #[error("{} {refusal}", path.display())]
    Refused {
        /// The link (or, for [`Refusal::Changed`], the object).
        path: PathBuf,
        /// Which rule refused it.
        refusal: Refusal,
    },
    /// The object is neither a regular file nor a directory (a FIFO, socket or device).
    #[error("{} is {kind}, not a regular file or a directory", path.display())]
    NotServable {
        /// The object.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// `EACCES` or `EPERM` on some component.
    #[error("{}: permission denied", path.display())]
    PermissionDenied {
        /// The component that could not be opened.
        path: PathBuf,
    },
    /// Any other failure of a system call.
    #[error("{}: {source}", path.display())]
    Io {
        /// The component being opened.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// The caller passed a name that is not a plain file name (empty, `.`, `..`, containing `/`
    /// or NUL), or a document root that is not absolute: a programmer's error.
    #[error("{0:?} is not a plain file name or an absolute document root")]
    InvalidPath(String),
}

/// Which `disable_symlinks` rule refused a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `on`: the component is a symbolic link.
    #[error("is a symbolic link (disable_symlinks on)")]
    Symlink,
    /// `if_not_owner`: the link's owner is not the owner of what it resolves to.
    #[error(
        "is a symbolic link owned by uid {link} to an object owned by uid {target} \
         (disable_symlinks if_not_owner)"
    )]
    Owner {
        /// The link's owner.
        link: u32,
        /// The owner of the object the link resolves to.
        target: u32,
    },
    /// More than 40 links in one lookup (`ELOOP`).
    #[error("is one symbolic link too many (more than 40 in one lookup)")]
    TooManyLinks,
    /// The object reached through a link was replaced between the look at it and its open.
    #[error("changed while it was being opened")]
    Changed,
}

// === impl OpenError ===

impl OpenError {
    /// What a failed system call on `path` means for the lookup.
    pub(super) fn from_errno(errno: Errno, path: impl FnOnce() -> PathBuf) -> OpenError {
        match errno {
            Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => OpenError::NotFound,
            Errno::ACCESS | Errno::PERM => OpenError::PermissionDenied { path: path() },
            Errno::LOOP => OpenError::Refused {
                path: path(),
                refusal: Refusal::TooManyLinks,
            },
            _ => OpenError::Io {
                path: path(),
                source: errno.into(),
            },
        }
    }

    /// A failure of a `std` call (`statx` through `File::metadata`).
    pub(super) fn from_io(error: io::Error, path: PathBuf) -> OpenError {
        match error.raw_os_error() {
            Some(code) => OpenError::from_errno(Errno::from_raw_os_error(code), || path),
            None => OpenError::Io {
                path,
                source: error,
            },
        }
    }

    /// Whether the caller should answer 404 (or try its next candidate) rather than refuse.
    pub fn is_not_found(&self) -> bool {
        matches!(self, OpenError::NotFound)
    }
}
