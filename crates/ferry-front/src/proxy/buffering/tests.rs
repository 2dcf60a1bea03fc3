//! The relay between a fake app body and a client that reads when the test says.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use http_body_util::BodyExt;
use tokio::sync::mpsc::{Receiver, Sender};

use super::*;

type Piece = Result<Frame<Bytes>, BoxError>;

/// An app's response body fed by the test; it says when the relay dropped it (the session's
/// release) and how many bytes the relay took from it.
struct FakeApp {
    rx: Receiver<Piece>,
    state: Arc<AppState>,
}

#[derive(Default)]
struct AppState {
    dropped: AtomicBool,
    taken: AtomicUsize,
}

impl http_body::Body for FakeApp {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Piece>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            let len = frame.data_ref().map_or(0, Bytes::len);
            self.state.taken.fetch_add(len, Ordering::SeqCst);
        }
        polled
    }
}

impl Drop for FakeApp {
    fn drop(&mut self) {
        self.state.dropped.store(true, Ordering::SeqCst);
    }
}

/// A fake app (its sender, its state) relayed with `whole` into `dir`.
fn relayed(whole: bool, dir: &Path) -> (Sender<Piece>, Arc<AppState>, Body) {
    let (tx, rx) = mpsc::channel(1);
    let state = Arc::new(AppState::default());
    let app = FakeApp {
        rx,
        state: Arc::clone(&state),
    };
    let relay = Relay {
        whole,
        dir: dir.into(),
        stall: None,
    };
    (tx, state, super::relay(app, relay))
}

fn data(bytes: &[u8]) -> Piece {
    Ok(Frame::data(Bytes::copy_from_slice(bytes)))
}

/// The client's next piece of data, or `None` at the end; panics on an error.
async fn next(body: &mut Body) -> Option<Bytes> {
    let frame = body.frame().await?.expect("no error");
    Some(frame.into_data().expect("data"))
}

async fn read_all(body: &mut Body) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(piece) = next(body).await {
        all.extend_from_slice(&piece);
    }
    all
}

/// Waits (bounded) until `cond` holds, yielding to the relay's tasks meanwhile.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    waited
        .await
        .unwrap_or_else(|_| panic!("never happened: {what}"));
}

/// Lets every task that can run (the pump) run: these tests use a one-thread runtime.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

/// Temp files of this test's `dir` that the process holds open (unlinked ones show as
/// `DIR/#INODE (deleted)`).
fn open_files_in(dir: &Path) -> usize {
    let prefix = dir.display().to_string();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.display().to_string().starts_with(&prefix))
        .count()
}

/// `n` bytes of a pattern that shows reordering.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn a_body_whole_with_its_head_is_answered_from_memory_and_released_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel(2);
    tx.send(data(b"hello")).await.unwrap();
    drop(tx);
    let state = Arc::new(AppState::default());
    let app = FakeApp {
        rx,
        state: Arc::clone(&state),
    };
    let relay = Relay {
        whole: false,
        dir: dir.path().into(),
        stall: None,
    };
    let mut body = super::relay(app, relay);
    assert!(
        state.dropped.load(Ordering::SeqCst),
        "released before the client reads"
    );
    assert_eq!(
        body.size_hint().exact(),
        Some(5),
        "a Full body, not a relay"
    );
    assert_eq!(read_all(&mut body).await, b"hello");
}

#[tokio::test]
async fn pieces_reach_a_reading_client_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, state, mut body) = relayed(false, dir.path());
    for i in 0..5 {
        let piece = format!("event {i}\n");
        tx.send(data(piece.as_bytes())).await.unwrap();
        // The piece arrives before the app sends the next one.
        assert_eq!(next(&mut body).await.unwrap(), piece.as_bytes());
    }
    drop(tx);
    assert_eq!(next(&mut body).await, None);
    assert!(state.dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_slow_client_does_not_hold_the_app_and_gets_every_byte_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, state, mut body) = relayed(false, dir.path());
    let sent = pattern(3 * 1024 * 1024 + 17);
    for piece in sent.chunks(32 * 1024) {
        tx.send(data(piece)).await.unwrap();
    }
    drop(tx);
    // The client has read nothing, yet the app's body is done with: its session is released.
    eventually("the app's body is released", || {
        state.dropped.load(Ordering::SeqCst)
    })
    .await;
    assert_eq!(
        open_files_in(dir.path()),
        1,
        "the rest waits in an unlinked file"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no name");
    assert_eq!(read_all(&mut body).await, sent);
    eventually("the file is closed", || open_files_in(dir.path()) == 0).await;
}

#[tokio::test]
async fn the_buffer_fills_and_drains_repeatedly_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, _state, mut body) = relayed(false, dir.path());
    let sent = pattern(1024 * 1024);
    let writer = tokio::spawn({
        let sent = sent.clone();
        async move {
            for piece in sent.chunks(10_000) {
                tx.send(data(piece)).await.unwrap();
            }
        }
    });
    // Read in bursts, with pauses in which the app runs ahead into the file.
    let mut got = Vec::new();
    while let Some(piece) = next(&mut body).await {
        got.extend_from_slice(&piece);
        if got.len() % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    writer.await.unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes out of order");
}

#[tokio::test]
async fn with_buffer_response_nothing_goes_out_before_the_app_has_finished() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, state, mut body) = relayed(true, dir.path());
    tx.send(data(b"one ")).await.unwrap();
    tx.send(data(b"two ")).await.unwrap();
    settle().await;
    assert!(
        state.taken.load(Ordering::SeqCst) >= 4,
        "the app is read meanwhile"
    );
    let mut cx = Context::from_waker(Waker::noop());
    let early = Pin::new(&mut body).poll_frame(&mut cx);
    assert!(early.is_pending(), "a piece came before the end");
    tx.send(data(b"three")).await.unwrap();
    drop(tx);
    assert_eq!(read_all(&mut body).await, b"one two three");
    assert!(state.dropped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_client_that_goes_away_releases_the_app_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, state, mut body) = relayed(false, dir.path());
    tx.send(data(b"first")).await.unwrap();
    assert_eq!(next(&mut body).await.unwrap(), &b"first"[..]);
    drop(body);
    eventually("the app's body is dropped", || {
        state.dropped.load(Ordering::SeqCst)
    })
    .await;
    assert!(
        tx.send(data(b"more")).await.is_err(),
        "nobody reads the app"
    );
}

#[tokio::test]
async fn a_cut_body_reaches_the_client_as_the_bytes_that_came_then_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, _state, mut body) = relayed(false, dir.path());
    tx.send(data(b"partial")).await.unwrap();
    tx.send(Err("connection reset".into())).await.unwrap();
    assert_eq!(next(&mut body).await.unwrap(), &b"partial"[..]);
    let error = body.frame().await.expect("a frame").expect_err("an error");
    assert_eq!(error.to_string(), "connection reset");
}

#[tokio::test]
async fn trailers_follow_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, _state, mut body) = relayed(false, dir.path());
    tx.send(data(b"body")).await.unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    tx.send(Ok(Frame::trailers(trailers))).await.unwrap();
    assert_eq!(next(&mut body).await.unwrap(), &b"body"[..]);
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.trailers_ref().unwrap()["x-checksum"], "abc");
    assert!(body.frame().await.is_none());
}

#[tokio::test]
async fn without_a_usable_temp_dir_the_app_waits_for_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, state, mut body) = relayed(false, &unusable(&dir));
    let sent = pattern(1024 * 1024);
    let writer = tokio::spawn({
        let sent = sent.clone();
        async move {
            for piece in sent.chunks(16 * 1024) {
                tx.send(data(piece)).await.unwrap();
            }
        }
    });
    // Memory takes its share (the piece that found no file included), the client's channel
    // its pieces, then the app is no longer read.
    let share = MEMORY_LIMIT + 16 * 1024 + CHANNEL * 16 * 1024;
    eventually("memory fills", || {
        state.taken.load(Ordering::SeqCst) >= share
    })
    .await;
    settle().await;
    assert_eq!(state.taken.load(Ordering::SeqCst), share);
    assert!(!state.dropped.load(Ordering::SeqCst));
    assert_eq!(read_all(&mut body).await, sent);
    writer.await.unwrap();
}

#[tokio::test]
async fn a_buffered_response_too_big_to_hold_goes_out_once_the_buffer_is_full() {
    // Without a usable temp dir the buffer holds MEMORY_LIMIT bytes: past them the client gets
    // what there is, or the app (waiting on a full buffer) and the client would wait for ever.
    let dir = tempfile::tempdir().unwrap();
    let (tx, _state, mut body) = relayed(true, &unusable(&dir));
    let sent = pattern(4 * MEMORY_LIMIT);
    let writer = tokio::spawn({
        let sent = sent.clone();
        async move {
            for piece in sent.chunks(16 * 1024) {
                tx.send(data(piece)).await.unwrap();
            }
        }
    });
    assert_eq!(read_all(&mut body).await, sent);
    writer.await.unwrap();
}

/// A directory no temp file can be made in (nor the directory itself): a path under a regular
/// file.
fn unusable(dir: &tempfile::TempDir) -> std::path::PathBuf {
    std::fs::write(dir.path().join("a-file"), b"").unwrap();
    dir.path().join("a-file/sub")
}
