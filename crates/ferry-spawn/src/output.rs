//! App output capture.
//!
//! An app's stdout and stderr share one pipe (so their lines stay in order, as in Passenger). A
//! task reads it line by line, logs each line (`App <pid> output: <line>`), and keeps the last
//! [`TAIL_BYTES`] in an [`OutputTail`] for spawn error reports.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

/// How much of the app's most recent output a spawn error report keeps.
pub(crate) const TAIL_BYTES: usize = 16 * 1024;
/// Longest line logged as one; longer lines are split (Passenger's limit too).
const MAX_LINE: usize = 8 * 1024;

/// The most recent output of one process, shared with the task that reads it.
#[derive(Debug, Clone, Default)]
pub struct OutputTail {
    inner: Arc<Mutex<VecDeque<u8>>>,
    done: Option<watch::Receiver<bool>>,
}

impl OutputTail {
    /// The captured output, lossily decoded as UTF-8.
    pub fn text(&self) -> String {
        let buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = buf.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits (at most `limit`) until the pipe reached end-of-file, so the tail is complete.
    pub async fn wait_closed(&self, limit: std::time::Duration) {
        if let Some(rx) = &self.done {
            let mut rx = rx.clone();
            let _ = tokio::time::timeout(limit, rx.wait_for(|done| *done)).await;
        }
    }

    fn push(&self, line: &[u8]) {
        let mut buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        buf.extend(line);
        buf.push_back(b'\n');
        let excess = buf.len().saturating_sub(TAIL_BYTES);
        buf.drain(..excess);
    }
}

/// Starts the task that reads `pipe` until end-of-file, logging each line for `pid` of the app
/// group `app` (a field of the log line, beside Passenger's `App PID output:` text).
pub(crate) fn capture<R>(pipe: R, pid: u32, app: &str) -> OutputTail
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (done_tx, done_rx) = watch::channel(false);
    let tail = OutputTail {
        done: Some(done_rx),
        ..OutputTail::default()
    };
    let writer = tail.clone();
    let app = app.to_owned();
    tokio::spawn(async move {
        read_lines(pipe, |line| {
            let text = String::from_utf8_lossy(line);
            tracing::info!(target: "ferry::app", app, "App {pid} output: {text}");
            writer.push(line);
        })
        .await;
        let _ = done_tx.send(true);
    });
    tail
}

/// Calls `on_line` for each line of `pipe` (without its newline), splitting lines longer than
/// [`MAX_LINE`]. Memory stays bounded whatever the app writes.
pub(crate) async fn read_lines<R, F>(pipe: R, mut on_line: F)
where
    R: AsyncRead + Unpin,
    F: FnMut(&[u8]),
{
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        let room = MAX_LINE - line.len();
        let (used, complete) = match buf.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len().min(room), line.len() + buf.len() >= MAX_LINE),
        };
        line.extend_from_slice(&buf[..used]);
        reader.consume(used);
        if complete {
            emit(&mut line, &mut on_line);
        }
    }
    if !line.is_empty() {
        emit(&mut line, &mut on_line);
    }
}

fn emit<F: FnMut(&[u8])>(line: &mut Vec<u8>, on_line: &mut F) {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    on_line(text);
    line.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        read_lines(input, |l| out.push(l.to_vec())).await;
        out
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_the_unterminated_last_one() {
        let lines = lines_of(b"one\r\ntwo\nthree").await;
        assert_eq!(
            lines,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[tokio::test]
    async fn long_lines_are_split_at_the_limit() {
        let input = vec![b'x'; MAX_LINE * 2 + 10];
        let lines = lines_of(&input).await;
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[2].len(), 10);
    }

    #[test]
    fn tail_keeps_only_the_most_recent_bytes() {
        let tail = OutputTail::default();
        for i in 0..5000 {
            tail.push(format!("line {i}").as_bytes());
        }
        let text = tail.text();
        assert!(text.len() <= TAIL_BYTES);
        assert!(text.ends_with("line 4999\n"));
    }
}
