//! Buffering request bodies: memory, then an unlinked temp file; limits and timeouts.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use http_body::Body as _;
use http_body_util::StreamBody;

use super::*;

type Piece = Result<Frame<Bytes>, Infallible>;

fn settings(dir: &Path, buffer_size: u64, timeout: Option<Duration>) -> BodySettings {
    BodySettings {
        buffering: true,
        buffer_size,
        timeout,
        temp_dir: Arc::from(dir),
    }
}

fn frames(pieces: Vec<Vec<u8>>) -> impl Iterator<Item = Piece> {
    pieces.into_iter().map(|p| Ok(Frame::data(Bytes::from(p))))
}

fn body_of(pieces: Vec<Vec<u8>>) -> StreamBody<stream::Iter<impl Iterator<Item = Piece>>> {
    StreamBody::new(stream::iter(frames(pieces)))
}

async fn bytes_of(body: Body) -> Vec<u8> {
    body.collect().await.unwrap().to_bytes().to_vec()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test]
async fn a_body_within_the_buffer_stays_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let body = body_of(vec![b"abc".to_vec(), b"def".to_vec()]);
    let got = gather(body, None, None, &settings(dir.path(), 16, None))
        .await
        .unwrap();
    assert!(matches!(&got, Buffered::Memory(b) if &b[..] == b"abcdef"));
    assert_eq!(entries(dir.path()), 0, "no temp file");
    let one = body_of(vec![b"x".to_vec()]);
    let got = gather(one, Some(1), None, &settings(dir.path(), 16, None))
        .await
        .unwrap();
    assert_eq!(bytes_of(got.body()).await, b"x");
}

#[tokio::test]
async fn a_longer_body_goes_whole_to_an_unlinked_file_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let pieces: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 10_000]).collect();
    let expected: Vec<u8> = pieces.concat();
    let got = gather(
        body_of(pieces),
        None,
        None,
        &settings(dir.path(), 16 * 1024, None),
    )
    .await
    .unwrap();
    assert!(matches!(&got, Buffered::File { len: 400_000, .. }));
    assert_eq!(entries(dir.path()), 0, "the temp file has no name");
    // Each try reads it from its start.
    assert_eq!(bytes_of(got.body()).await, expected);
    assert_eq!(bytes_of(got.body()).await, expected);
    assert_eq!(got.body().size_hint().exact(), Some(400_000));
}

#[tokio::test]
async fn a_body_announced_longer_than_the_buffer_goes_straight_to_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let got = gather(
        body_of(vec![vec![7; 100]]),
        Some(100),
        None,
        &settings(dir.path(), 10, None),
    )
    .await
    .unwrap();
    assert!(matches!(&got, Buffered::File { len: 100, .. }));
    assert_eq!(bytes_of(got.body()).await, vec![7; 100]);
}

#[tokio::test]
async fn a_missing_temp_dir_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("a").join("tmp");
    let got = gather(
        body_of(vec![vec![1; 64]]),
        None,
        None,
        &settings(&missing, 8, None),
    )
    .await
    .unwrap();
    assert_eq!(got.len(), 64);
    let mode = std::fs::metadata(&missing).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[tokio::test]
async fn a_body_over_its_limit_is_refused_before_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    for buffer in [1024, 8] {
        let body = body_of(vec![vec![0; 40], vec![0; 40], vec![0; 40]]);
        let got = gather(body, None, Some(50), &settings(dir.path(), buffer, None)).await;
        assert!(
            matches!(got, Err(BodyError::TooLarge { limit: 50 })),
            "{got:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_sending_times_out_between_two_reads() {
    let dir = tempfile::tempdir().unwrap();
    let first = stream::iter(frames(vec![b"abc".to_vec()]));
    let stalled = StreamBody::new(first.chain(stream::pending::<Piece>()));
    let limit = Duration::from_secs(3);
    let started = tokio::time::Instant::now();
    let got = gather(
        stalled,
        None,
        None,
        &settings(dir.path(), 1024, Some(limit)),
    )
    .await;
    assert!(
        matches!(got, Err(BodyError::Timeout { limit: l }) if l == limit),
        "{got:?}"
    );
    assert_eq!(started.elapsed(), limit, "counted from the last read");
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_client_does_not_time_out() {
    let dir = tempfile::tempdir().unwrap();
    // One byte every 2 s for 10 s: each wait is under the 3 s limit, the whole is not.
    let trickle = stream::iter(0..5u8).then(|i| async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![i])))
    });
    let got = gather(
        StreamBody::new(Box::pin(trickle)),
        None,
        None,
        &settings(dir.path(), 1024, Some(Duration::from_secs(3))),
    )
    .await
    .unwrap();
    assert_eq!(bytes_of(got.body()).await, [0, 1, 2, 3, 4]);
}
