//! A response's bytes waiting for a client slower than the app: in memory up to
//! [`MEMORY_LIMIT`], past it in an unlinked temp file (Passenger's `FileBufferedChannel`), read
//! back in the order they came.
//!
//! ```text
//!  push ──> front (memory) ─────────────────────────────────────────────> pop
//!      └──> tail (memory) ──(a batch at a time)──> file ──(a chunk at a time)──┘
//! ```
//!
//! Invariants: the bytes waiting are `front`, then the file's unread part, then `tail`, in that
//! order. New bytes go to `front` only while the file and `tail` are empty, else to `tail`;
//! `tail` goes to the file in one write once memory (`front` and `tail`) holds
//! [`MEMORY_LIMIT`], so memory never holds more than that and a fast client makes the writes
//! large. Once the file has been read back whole it is emptied, and `tail` is popped from
//! memory directly: a client that catches up stops costing disk work.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// Bytes of one response kept in memory before the rest goes to the file: Passenger's
/// `file_buffered_channel_threshold` (128 KiB).
pub(crate) const MEMORY_LIMIT: usize = 128 * 1024;

/// Bytes of one response buffered (memory and file) past which the app is no longer read, so
/// that it waits for the client: Passenger's `response_buffer_high_watermark` (128 MiB). Bounds
/// the disk one response can take.
pub(crate) const HIGH_WATERMARK: u64 = 128 * 1024 * 1024;

/// Most bytes read back from the file at a time. A piece read back waits in the client's
/// channel ([`super::CHANNEL`] of them) or in its connection's write, outside the buffer's
/// bound: small enough that a slow client's response holds little more than [`MEMORY_LIMIT`]
/// in all, large enough that a fast one costs few trips to the blocking pool.
const READ_CHUNK: usize = 64 * 1024;

/// A response's buffered bytes, in order.
#[derive(Debug)]
pub(super) struct Buffer {
    /// Before the file's unread bytes.
    front: Pieces,
    file: Option<Spill>,
    /// After the file's unread bytes, waiting to be written to it.
    tail: Pieces,
    dir: Arc<Path>,
    /// No file could be made: everything stays in memory, and [`Buffer::limit`] is
    /// [`MEMORY_LIMIT`], so the app waits for the client as it would without buffering.
    memory_only: bool,
}

/// Pieces in memory, and how many bytes they hold.
#[derive(Debug, Default)]
struct Pieces {
    queue: VecDeque<Bytes>,
    len: usize,
}

/// The temp file: bytes `read..written` are waiting.
#[derive(Debug)]
struct Spill {
    file: Arc<File>,
    written: u64,
    read: u64,
}

// === impl Buffer ===

impl Buffer {
    /// An empty buffer whose file, when one is needed, goes in `dir`.
    pub(super) fn new(dir: Arc<Path>) -> Buffer {
        Buffer {
            front: Pieces::default(),
            file: None,
            tail: Pieces::default(),
            dir,
            memory_only: false,
        }
    }

    /// How many bytes are waiting, in memory and in the file.
    pub(super) fn len(&self) -> u64 {
        (self.front.len + self.tail.len) as u64 + self.on_disk()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many waiting bytes stop the app from being read.
    pub(super) fn limit(&self) -> u64 {
        if self.memory_only {
            MEMORY_LIMIT as u64
        } else {
            HIGH_WATERMARK
        }
    }

    /// Adds `data` after everything waiting. Fails only when the file cannot be written (the
    /// bytes can then no longer go out in order).
    pub(super) async fn push(&mut self, data: Bytes) -> io::Result<()> {
        let in_memory = self.front.len + self.tail.len + data.len();
        if self.on_disk() == 0
            && self.tail.len == 0
            && (self.memory_only || in_memory <= MEMORY_LIMIT)
        {
            self.front.push(data);
            return Ok(());
        }
        self.tail.push(data);
        if self.memory_only || in_memory < MEMORY_LIMIT {
            return Ok(());
        }
        self.flush_tail().await
    }

    /// The next waiting bytes, the oldest first; `None` when nothing waits.
    pub(super) async fn pop(&mut self) -> io::Result<Option<Bytes>> {
        if let Some(data) = self.front.pop() {
            return Ok(Some(data));
        }
        match &mut self.file {
            Some(spill) if spill.unread() > 0 => spill.read(READ_CHUNK).await.map(Some),
            _ => Ok(self.tail.pop()),
        }
    }

    fn on_disk(&self) -> u64 {
        self.file.as_ref().map_or(0, Spill::unread)
    }

    /// Writes `tail` to the end of the file in one write (making the file first). Without a
    /// file, `tail` stays in memory for good and the app is read no further than
    /// [`MEMORY_LIMIT`].
    async fn flush_tail(&mut self) -> io::Result<()> {
        let spill = match &mut self.file {
            Some(spill) => spill,
            None => match Spill::create(&self.dir).await {
                Ok(spill) => self.file.insert(spill),
                Err(error) => {
                    warn_no_file(&self.dir, &error);
                    self.memory_only = true;
                    return Ok(());
                }
            },
        };
        spill.write(self.tail.take()).await
    }
}

// === impl Pieces ===

impl Pieces {
    fn push(&mut self, data: Bytes) {
        self.len += data.len();
        self.queue.push_back(data);
    }

    fn pop(&mut self) -> Option<Bytes> {
        let data = self.queue.pop_front()?;
        self.len -= data.len();
        Some(data)
    }

    /// All the pieces as one, leaving none.
    fn take(&mut self) -> Bytes {
        let all = match self.queue.len() {
            1 => self.queue.pop_front().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(self.len);
                self.queue.drain(..).for_each(|p| all.extend_from_slice(&p));
                all.freeze()
            }
        };
        self.len = 0;
        all
    }
}

// === impl Spill ===

impl Spill {
    /// An unlinked file in `dir` ([`crate::proxy::temp_file::unlinked_in`]).
    async fn create(dir: &Arc<Path>) -> io::Result<Spill> {
        let dir = Arc::clone(dir);
        let file = blocking(move || crate::proxy::temp_file::unlinked_in(&dir)).await?;
        Ok(Spill {
            file: Arc::new(file),
            written: 0,
            read: 0,
        })
    }

    fn unread(&self) -> u64 {
        self.written - self.read
    }

    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        let (file, at, len) = (Arc::clone(&self.file), self.written, data.len());
        blocking(move || file.write_all_at(&data, at)).await?;
        self.written += len as u64;
        Ok(())
    }

    /// Up to `max` waiting bytes. Once everything written has been read back the file is
    /// emptied (its disk space freed) and written again from its start.
    async fn read(&mut self, max: usize) -> io::Result<Bytes> {
        let len = self.unread().min(max as u64) as usize;
        let (file, at) = (Arc::clone(&self.file), self.read);
        let drained = at + len as u64 == self.written;
        let data = blocking(move || {
            let mut data = vec![0; len];
            file.read_exact_at(&mut data, at)?;
            if drained {
                file.set_len(0)?;
            }
            Ok(data)
        })
        .await?;
        if drained {
            (self.read, self.written) = (0, 0);
        } else {
            self.read += len as u64;
        }
        Ok(Bytes::from(data))
    }
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

/// Logs, once per run, that responses cannot be buffered on disk.
fn warn_no_file(dir: &Path, error: &io::Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            dir = %dir.display(),
            %error,
            "cannot make a temp file to buffer a response; responses a client is slow to take \
             keep their process until it has (logged once)"
        );
    }
}

#[cfg(test)]
mod tests;
