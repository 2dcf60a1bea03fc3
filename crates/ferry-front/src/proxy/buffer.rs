//! Request bodies read whole before a process is chosen (`passenger_request_buffering on`, the
//! default), so that a slow, broken or abandoned upload never holds an app process: only a
//! complete, well-formed body under its limit checks one out.
//!
//! ```text
//!  read_whole ── each read within client_body_timeout (408), under client_max_body_size (413),
//!    │           a bad chunk or a cut body: 400 (nothing reaches an app)
//!    ├─ up to client_body_buffer_size ──── in memory
//!    └─ beyond ─────────────────────────── whole to an unlinked temp file in the temp dir,
//!                                          written in WRITE_BATCH pieces on the blocking pool
//!  Buffered::body ── a fresh body for each try (a retry on another process replays it), with
//!                    its length announced: Content-Length / CONTENT_LENGTH
//! ```
//!
//! Memory per upload is bounded by `client_body_buffer_size` plus one write batch, whatever the
//! body's size: bodies beyond the buffer live in the page cache and on disk. What comes from the
//! connection is copied into Ferry's own buffers rather than kept: a piece of hyper's read buffer
//! kept alive would pin the whole buffer (up to hyper's `max_buf_size`) for as long as the body
//! waits for a process. The temp file has no name once made (`O_TMPFILE`, else created and
//! unlinked at once): nothing is left behind, even after a crash.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{header, request, HeaderValue};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::task::JoinHandle;

use crate::body::{Body, BoxError};
use crate::error::Error;
use crate::session::RequestBody;

use super::body::BodyError;
use crate::site::BodySettings;

/// Bytes gathered before a write to the temp file: few system calls and blocking-pool trips,
/// little memory per upload.
const WRITE_BATCH: usize = 32 * 1024;
/// Bytes read back from the temp file at a time while the body goes to the app.
const READ_CHUNK: usize = 64 * 1024;

/// Temp-file opens and writes in progress at once, over every upload: enough to keep a disk
/// busy, few enough that a thousand uploads do not each hold a blocking-pool thread (each one
/// costs its stack and its share of the allocator's arenas).
static SPILL_WRITERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);

/// A complete request body, in memory or in its temp file.
#[derive(Debug, Clone)]
pub(super) enum Buffered {
    /// At most `client_body_buffer_size` bytes.
    Memory(Bytes),
    /// The whole body, from offset 0.
    File { file: Arc<File>, len: u64 },
}

/// Reads `body` whole under the site's settings and the request's `limit`, and announces its
/// length in `parts` and `kind` (`Transfer-Encoding` removed, `Content-Length` set).
pub(super) async fn read_whole(
    parts: &mut request::Parts,
    body: Incoming,
    kind: &mut RequestBody,
    limit: Option<u64>,
    settings: &BodySettings,
) -> Result<Buffered, Error> {
    let announced = match *kind {
        RequestBody::Length(n) => Some(n),
        _ => None,
    };
    let buffered = gather(body, announced, limit, settings)
        .await
        .map_err(BodyError::into_error)?;
    let len = buffered.len();
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    *kind = if len == 0 {
        RequestBody::None
    } else {
        RequestBody::Length(len)
    };
    Ok(buffered)
}

/// The body's bytes: in memory while they fit the buffer (and a body announced longer goes
/// straight to its file), then all of them in a temp file.
async fn gather<B>(
    mut body: B,
    announced: Option<u64>,
    limit: Option<u64>,
    settings: &BodySettings,
) -> Result<Buffered, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    BodyError: From<B::Error>,
{
    let mut memory = BytesMut::new();
    let mut spill = match announced {
        Some(n) if n > settings.buffer_size => Some(Spill::open(&settings.temp_dir).await?),
        _ => None,
    };
    let mut total: u64 = 0;
    while let Some(data) = next_data(&mut body, settings).await? {
        total += data.len() as u64;
        if let Some(limit) = limit.filter(|&limit| total > limit) {
            return Err(BodyError::TooLarge { limit });
        }
        match spill.as_mut() {
            Some(spill) => spill.push(&data).await?,
            None if total <= settings.buffer_size => {
                if memory.capacity() == 0 {
                    // The whole body when its length is known, else one buffer's worth.
                    let expected = announced.unwrap_or(settings.buffer_size);
                    memory.reserve(expected.min(settings.buffer_size) as usize);
                }
                memory.extend_from_slice(&data);
            }
            None => {
                let mut opened = Spill::open(&settings.temp_dir).await?;
                opened.push(&std::mem::take(&mut memory)).await?;
                opened.push(&data).await?;
                spill = Some(opened);
            }
        }
    }
    match spill {
        Some(spill) => spill.finish().await,
        None => Ok(Buffered::Memory(memory.freeze())),
    }
}

/// The next piece of data, within the timeout: `None` at the body's end (trailers are not
/// forwarded).
async fn next_data<B>(body: &mut B, settings: &BodySettings) -> Result<Option<Bytes>, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    BodyError: From<B::Error>,
{
    loop {
        let frame = match settings.timeout {
            None => body.frame().await,
            Some(limit) => tokio::time::timeout(limit, body.frame())
                .await
                .map_err(|_| BodyError::Timeout { limit })?,
        };
        match frame {
            None => return Ok(None),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => return Ok(Some(data)),
                _ => continue,
            },
        }
    }
}

/// A body on its way to its temp file: copied into a batch of [`WRITE_BATCH`] bytes, each full
/// batch written on the blocking pool (the runtime's threads never wait for the disk).
struct Spill {
    file: Arc<File>,
    batch: BytesMut,
    written: u64,
}

impl Spill {
    /// A new unlinked temp file in `dir` ([`super::temp_file::unlinked_in`]).
    async fn open(dir: &Arc<Path>) -> Result<Spill, BodyError> {
        let dir = Arc::clone(dir);
        let file = blocking(move || super::temp_file::unlinked_in(&dir)).await?;
        Ok(Spill {
            file: Arc::new(file),
            batch: BytesMut::new(),
            written: 0,
        })
    }

    async fn push(&mut self, mut data: &[u8]) -> Result<(), BodyError> {
        while !data.is_empty() {
            if self.batch.capacity() == 0 {
                self.batch.reserve(WRITE_BATCH);
            }
            let take = (WRITE_BATCH - self.batch.len()).min(data.len());
            self.batch.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.batch.len() >= WRITE_BATCH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BodyError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = self.batch.split().freeze();
        let file = Arc::clone(&self.file);
        self.written += batch.len() as u64;
        blocking(move || (&*file).write_all(&batch)).await
    }

    async fn finish(mut self) -> Result<Buffered, BodyError> {
        self.flush().await?;
        Ok(Buffered::File {
            file: self.file,
            len: self.written,
        })
    }
}

/// `work` on the blocking pool, at most [`SPILL_WRITERS`] at once.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, BodyError> {
    // The semaphore is never closed, so a permit always comes.
    let _permit = SPILL_WRITERS.acquire().await;
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(BodyError::Spill),
        Err(e) => Err(BodyError::Spill(std::io::Error::other(e))),
    }
}

// === impl Buffered ===

impl Buffered {
    /// The body's length.
    pub(super) fn len(&self) -> u64 {
        match self {
            Buffered::Memory(bytes) => bytes.len() as u64,
            Buffered::File { len, .. } => *len,
        }
    }

    /// The body to send, from its start: each try sends a fresh one.
    pub(super) fn body(&self) -> Body {
        match self {
            Buffered::Memory(bytes) => crate::body::full(bytes.clone()),
            Buffered::File { file, len } => FileBody {
                file: Arc::clone(file),
                offset: 0,
                len: *len,
                reading: None,
            }
            .boxed(),
        }
    }
}

/// A body read back from its temp file, [`READ_CHUNK`] at a time on the blocking pool.
struct FileBody {
    file: Arc<File>,
    offset: u64,
    len: u64,
    reading: Option<JoinHandle<std::io::Result<Bytes>>>,
}

impl FileBody {
    /// Reads the next chunk at `offset` (`pread`: each body has its own position).
    fn read_next(&self) -> JoinHandle<std::io::Result<Bytes>> {
        let file = Arc::clone(&self.file);
        let offset = self.offset;
        let want = (self.len - offset).min(READ_CHUNK as u64) as usize;
        // Allocated here, on the runtime's thread, rather than in the blocking pool's.
        let mut buf = BytesMut::zeroed(want);
        tokio::task::spawn_blocking(move || {
            let n = file.read_at(&mut buf, offset)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.truncate(n);
            Ok(buf.freeze())
        })
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.offset >= self.len {
            return Poll::Ready(None);
        }
        if self.reading.is_none() {
            self.reading = Some(self.read_next());
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let read = ready!(Pin::new(reading).poll(cx));
        self.reading = None;
        let data = match read {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => return Poll::Ready(Some(Err(BodyError::Spill(e).into()))),
            Err(e) => {
                let e = std::io::Error::other(e);
                return Poll::Ready(Some(Err(BodyError::Spill(e).into())));
            }
        };
        self.offset += data.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset >= self.len
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len - self.offset)
    }
}

#[cfg(test)]
mod tests;
