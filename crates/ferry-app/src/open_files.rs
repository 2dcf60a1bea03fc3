//! Ferry's open-files limit (issue 16, connection side): raised at start from the soft limit to
//! the hard one, and shared between client connections and everything else.
//!
//! Client connections get at most [`max_connections`]: `--max-connections` or
//! `worker_connections` when given, else half the limit; never so many that fewer than
//! [`defaults::FD_RESERVE`] descriptors are left to app sockets, spawns and buffer files.
//! App processes inherit the raised soft limit unless `--app-file-descriptor-ulimit` sets theirs.

use ferry_config::defaults;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, logging both; the soft limit in force.
pub(crate) fn raise() -> u64 {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-files limit (RLIMIT_NOFILE)");
            return 1024;
        }
    };
    if soft >= hard {
        tracing::info!(limit = soft, "open-files limit (RLIMIT_NOFILE)");
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            tracing::info!(
                from = soft,
                to = hard,
                "raised the open-files limit (RLIMIT_NOFILE) to its hard limit"
            );
            hard
        }
        Err(error) => {
            tracing::warn!(
                %error,
                soft,
                hard,
                "cannot raise the open-files limit (RLIMIT_NOFILE) to its hard limit"
            );
            soft
        }
    }
}

/// The cap on client connections for an open-files limit of `limit`, given the configured one
/// (`None`: half the limit). A configured cap that would leave fewer than
/// [`defaults::FD_RESERVE`] descriptors is lowered, with a warning.
pub(crate) fn max_connections(limit: u64, configured: Option<u64>) -> usize {
    let most = limit.saturating_sub(defaults::FD_RESERVE).max(1);
    let max = match configured {
        None => defaults::max_connections(limit).clamp(1, most),
        Some(n) if n > most => {
            tracing::warn!(
                configured = n,
                used = most,
                open_files = limit,
                "--max-connections / worker_connections leaves too few file descriptors for app \
                 sockets, spawns and buffer files; lowered"
            );
            most
        }
        Some(n) => n.max(1),
    };
    tracing::info!(max, "client connections at most");
    usize::try_from(max).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve() {
        assert_eq!(max_connections(1024, None), 512);
        assert_eq!(max_connections(256, None), 128);
        assert_eq!(
            max_connections(100, None),
            36,
            "at least the reserve is left"
        );
        assert_eq!(max_connections(1024, Some(100)), 100);
        assert_eq!(max_connections(1024, Some(5000)), 960);
        assert_eq!(max_connections(10, None), 1);
    }
}
