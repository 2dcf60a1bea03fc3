//! Ferry's own log: stderr or a file (`--log-file`, reopened by `ferry reopen-logs` and
//! SIGUSR1 after rotation), text or JSON lines (`--log-format`), at a level the admin API can
//! change while Ferry runs (`ferry log-level`).
//!
//! Passenger's levels map onto tracing's: 0–1 error, 2 warn, 3 info (Passenger's "notice"),
//! 4–5 debug, 6–7 trace. `RUST_LOG`, when set, wins at startup.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use ferry_app::LogControl;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

/// The running logger.
pub(crate) struct Logging {
    level: AtomicU8,
    filter: reload::Handle<EnvFilter, Registry>,
    file: Option<Arc<LogFile>>,
}

/// The log file, reopenable.
struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

/// Where log lines go: the file, else stderr.
#[derive(Clone)]
struct Sink(Option<Arc<LogFile>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.0 {
            Some(log) => {
                let mut file = log.file.lock().unwrap_or_else(|e| e.into_inner());
                file.write_all(buf)?;
                Ok(buf.len())
            }
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &self.0 {
            Some(_) => Ok(()),
            None => io::stderr().flush(),
        }
    }
}

/// Sets up the global logger.
///
/// # Errors
///
/// The log file cannot be opened.
pub(crate) fn init(level: u8, file: Option<&Path>, json: bool) -> Result<Arc<Logging>, String> {
    let file = match file {
        Some(path) => Some(Arc::new(LogFile {
            path: path.to_owned(),
            file: Mutex::new(
                open(path)
                    .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?,
            ),
        })),
        None => None,
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directive(level)));
    let (filter, handle) = reload::Layer::new(filter);
    let sink = Sink(file.clone());
    let ansi = file.is_none() && io::stderr().is_terminal();
    let text = (!json).then(|| {
        let sink = sink.clone();
        fmt::layer()
            .with_writer(move || sink.clone())
            .with_target(false)
            .with_ansi(ansi)
    });
    let json_layer = json.then(|| {
        fmt::layer()
            .json()
            .with_writer(move || sink.clone())
            .with_target(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json_layer)
        .init();
    Ok(Arc::new(Logging {
        level: AtomicU8::new(level),
        filter: handle,
        file,
    }))
}

fn directive(level: u8) -> &'static str {
    match level {
        0 | 1 => "error",
        2 => "warn",
        3 => "info",
        4 | 5 => "debug",
        _ => "trace",
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogControl for Logging {
    fn level(&self) -> u8 {
        self.level.load(Ordering::Relaxed)
    }

    fn set_level(&self, level: u8) -> Result<(), String> {
        self.filter
            .reload(EnvFilter::new(directive(level)))
            .map_err(|e| format!("cannot change the log level: {e}"))?;
        self.level.store(level, Ordering::Relaxed);
        Ok(())
    }

    fn reopen(&self) -> Result<(), String> {
        let Some(log) = &self.file else {
            return Ok(());
        };
        let file = open(&log.path)
            .map_err(|e| format!("cannot reopen the log file {}: {e}", log.path.display()))?;
        *log.file.lock().unwrap_or_else(|e| e.into_inner()) = file;
        Ok(())
    }
}
