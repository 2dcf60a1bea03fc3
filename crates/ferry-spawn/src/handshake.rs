//! Waiting until the app is up (seed 004, "Mechanism for waiting until the application is up").
//!
//! Two mechanisms run at once and the first to succeed wins: the `response/finish` FIFO (a
//! SpawningKit-enabled process writes `1`, or `0` on failure), and, for generic apps, connecting to
//! the port Ferry gave the app. The process exiting, the start timeout passing, or Ferry shutting
//! down end the wait too.

use std::fs::File;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::handle::{ExitInfo, ProcessHandle};

/// Pause between two connection attempts while waiting for a port: short at first (most apps
/// listen within tens of milliseconds), then backing off to the longest pause.
const PING_FAST: Duration = Duration::from_millis(1);
const PING_FAST_FOR: Duration = Duration::from_millis(100);
const PING_MAX: Duration = Duration::from_millis(50);

/// How the wait ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The process wrote to `finish`: `true` for `1` (up), `false` for anything else.
    Finished(bool),
    /// The generic app's port accepts connections.
    PortReady,
    /// The process exited first.
    Exited(ExitInfo),
    /// The finish FIFO could not be read.
    FinishUnreadable(std::io::Error),
    /// The start timeout passed.
    TimedOut,
    /// Ferry is shutting down.
    Cancelled,
}

/// Waits for the first of: a byte in `finish` (the FIFO as Ferry opened it when it created the
/// work directory, before the app's user could reach it: never opened again by its name, which
/// that user may have replaced since), `port` accepting, the process exiting, `deadline`,
/// `cancel`.
pub(crate) async fn wait(
    finish: std::io::Result<File>,
    port: Option<SocketAddr>,
    handle: &ProcessHandle,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Outcome {
    let exited = handle.exited();
    tokio::select! {
        outcome = read_finish(finish) => outcome,
        () = ping(port) => Outcome::PortReady,
        info = exited => Outcome::Exited(info),
        () = tokio::time::sleep_until(deadline) => Outcome::TimedOut,
        () = cancel.cancelled() => Outcome::Cancelled,
    }
}

/// Reads the first byte written to the finish FIFO.
///
/// The FIFO is open for reading *and* writing: then reading never sees end-of-file when a writer
/// closes without writing; the process's exit ends the wait instead.
async fn read_finish(finish: std::io::Result<File>) -> Outcome {
    let pipe = finish.and_then(tokio::net::unix::pipe::Receiver::from_file);
    let mut pipe = match pipe {
        Ok(pipe) => pipe,
        Err(e) => return Outcome::FinishUnreadable(e),
    };
    let mut byte = [0u8; 1];
    match pipe.read(&mut byte).await {
        Ok(1) => Outcome::Finished(byte[0] == b'1'),
        Ok(_) => std::future::pending().await,
        Err(e) => Outcome::FinishUnreadable(e),
    }
}

/// Connects to `port` until it accepts; never returns without a port.
async fn ping(port: Option<SocketAddr>) {
    let Some(addr) = port else {
        return std::future::pending().await;
    };
    let started = Instant::now();
    let mut pause = PING_FAST;
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(pause).await;
        if started.elapsed() > PING_FAST_FOR {
            pause = (pause * 2).min(PING_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    /// The FIFO at `path`, opened as the work directory opens `finish`.
    fn open(path: &std::path::Path) -> std::io::Result<File> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)
    }

    #[tokio::test]
    async fn a_byte_in_the_fifo_ends_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("finish");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let (handle, _stub) = ProcessHandle::stub(1);
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
                f.write_all(b"0").unwrap();
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let outcome = wait(
            open(&fifo),
            None,
            &handle,
            deadline,
            &CancellationToken::new(),
        )
        .await;
        writer.join().unwrap();
        assert!(matches!(outcome, Outcome::Finished(false)), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_listening_port_ends_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("finish");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (handle, _stub) = ProcessHandle::stub(1);
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = listener.local_addr().ok();
        let outcome = wait(
            open(&fifo),
            addr,
            &handle,
            deadline,
            &CancellationToken::new(),
        )
        .await;
        assert!(matches!(outcome, Outcome::PortReady), "{outcome:?}");
    }

    #[tokio::test]
    async fn exit_and_timeout_end_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("finish");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let (handle, stub) = ProcessHandle::stub(1);
        stub.exit(ExitInfo {
            code: Some(1),
            signal: None,
        });
        let far = Instant::now() + Duration::from_secs(10);
        let cancel = CancellationToken::new();
        let outcome = wait(open(&fifo), None, &handle, far, &cancel).await;
        assert!(matches!(outcome, Outcome::Exited(_)), "{outcome:?}");

        let (handle, _stub) = ProcessHandle::stub(2);
        let outcome = wait(open(&fifo), None, &handle, Instant::now(), &cancel).await;
        assert!(matches!(outcome, Outcome::TimedOut), "{outcome:?}");
    }
}
