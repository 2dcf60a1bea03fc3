//! The in-process server's log: a subscriber as `ferry start`'s (text lines, no target, Passenger's
//! levels, a level the admin API can change; `RUST_LOG` wins when set) writing to memory, where
//! [`Ferry::log`](super::Ferry::log) reads it and every write wakes
//! [`Ferry::wait_for_log`](super::Ferry::wait_for_log).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use ferry_app::LogControl;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use super::{lock, Shared};

/// Ferry's log, as `ferry log-level` and `ferry reopen-logs` see it.
pub(super) struct Log {
    level: AtomicU8,
    filter: reload::Handle<EnvFilter, Registry>,
}

/// Appends log lines to [`Shared::log`].
#[derive(Clone)]
struct LogWriter(Arc<Shared>);

/// A subscriber as `ferry start`'s (text lines, no target, a level the admin API can change;
/// `RUST_LOG` wins when set) writing to `shared`'s log.
pub(super) fn dispatch(level: u8, shared: &Arc<Shared>) -> (tracing::Dispatch, Arc<Log>) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directive(level)));
    let (filter, handle) = reload::Layer::new(filter);
    let writer = LogWriter(Arc::clone(shared));
    let subscriber = tracing_subscriber::registry().with(filter).with(
        fmt::layer()
            .with_writer(move || writer.clone())
            .with_target(false)
            .with_ansi(false),
    );
    let log = Arc::new(Log {
        level: AtomicU8::new(level),
        filter: handle,
    });
    (tracing::Dispatch::new(subscriber), log)
}

/// Passenger's log levels in tracing's terms, as `ferry start` maps them.
fn directive(level: u8) -> &'static str {
    match level {
        0 | 1 => "error",
        2 => "warn",
        3 => "info",
        4 | 5 => "debug",
        _ => "trace",
    }
}

// === impl Log ===

impl LogControl for Log {
    fn level(&self) -> u8 {
        self.level.load(Ordering::Relaxed)
    }

    fn set_level(&self, level: u8) -> std::result::Result<(), String> {
        self.filter
            .reload(EnvFilter::new(directive(level)))
            .map_err(|e| format!("cannot change the log level: {e}"))?;
        self.level.store(level, Ordering::Relaxed);
        Ok(())
    }

    fn reopen(&self) -> std::result::Result<(), String> {
        // The log is memory: nothing to reopen.
        Ok(())
    }
}

// === impl LogWriter ===

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0.log).push_str(&String::from_utf8_lossy(buf));
        self.0.events.send_modify(|n| *n += 1);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
