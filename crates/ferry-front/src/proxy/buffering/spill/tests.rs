//! The buffer alone, driven step by step: memory, the file and the tail in every order.

use std::collections::VecDeque;

use super::*;

/// A buffer in a fresh temp dir (kept alive by the returned guard).
fn buffer() -> (tempfile::TempDir, Buffer) {
    let dir = tempfile::tempdir().unwrap();
    let buffer = Buffer::new(dir.path().into());
    (dir, buffer)
}

/// `n` bytes numbered from `from`, so that a byte out of place shows.
fn numbered(from: usize, n: usize) -> Bytes {
    (from..from + n).map(|i| (i % 251) as u8).collect()
}

fn in_memory(buffer: &Buffer) -> usize {
    buffer.front.len + buffer.tail.len
}

/// Pushes `n` bytes, checking the memory bound afterwards; `sent` counts the bytes pushed.
async fn push(buffer: &mut Buffer, sent: &mut usize, expected: &mut VecDeque<u8>, n: usize) {
    let data = numbered(*sent, n);
    expected.extend(data.iter());
    *sent += n;
    buffer.push(data).await.unwrap();
    assert!(
        in_memory(buffer) <= MEMORY_LIMIT,
        "{} bytes in memory",
        in_memory(buffer)
    );
    assert_eq!(buffer.len(), expected.len() as u64);
}

/// Pops once and checks the bytes are the oldest waiting.
async fn pop(buffer: &mut Buffer, expected: &mut VecDeque<u8>) -> Option<usize> {
    let data = buffer.pop().await.unwrap()?;
    assert!(!data.is_empty(), "an empty piece");
    let want: Vec<u8> = expected.drain(..data.len()).collect();
    assert!(data[..] == want[..], "bytes out of order");
    assert_eq!(buffer.len(), expected.len() as u64);
    Some(data.len())
}

#[tokio::test]
async fn a_small_response_never_makes_a_file() {
    let (_dir, mut buffer) = buffer();
    let (mut sent, mut expected) = (0, VecDeque::new());
    for _ in 0..8 {
        push(&mut buffer, &mut sent, &mut expected, MEMORY_LIMIT / 8).await;
    }
    assert!(buffer.file.is_none(), "exactly the limit stays in memory");
    while pop(&mut buffer, &mut expected).await.is_some() {}
    assert!(buffer.is_empty());
}

#[tokio::test]
async fn past_memory_the_bytes_go_to_the_file_in_batches_and_come_back_in_order() {
    let (_dir, mut buffer) = buffer();
    let (mut sent, mut expected) = (0, VecDeque::new());
    let piece = 4 * 1024;
    for _ in 0..(4 * MEMORY_LIMIT / piece) {
        push(&mut buffer, &mut sent, &mut expected, piece).await;
    }
    assert_eq!(
        buffer.front.len, MEMORY_LIMIT,
        "memory holds the first bytes"
    );
    let written = 3 * MEMORY_LIMIT as u64;
    assert_eq!(buffer.file.as_ref().expect("a file").written, written);
    // The client takes four pieces from memory: the app's next pieces wait in the tail until
    // memory is full again, then go to the file in one write.
    for _ in 0..4 {
        assert_eq!(pop(&mut buffer, &mut expected).await, Some(piece));
    }
    for batched in 1..4 {
        push(&mut buffer, &mut sent, &mut expected, piece).await;
        assert_eq!(buffer.tail.len, batched * piece);
        assert_eq!(buffer.file.as_ref().unwrap().written, written);
    }
    push(&mut buffer, &mut sent, &mut expected, piece).await;
    assert_eq!(buffer.tail.len, 0);
    let written = written + 4 * piece as u64;
    assert_eq!(buffer.file.as_ref().unwrap().written, written);
    while pop(&mut buffer, &mut expected).await.is_some() {}
    assert!(buffer.is_empty());
    assert_eq!(
        buffer.file.as_ref().unwrap().written,
        0,
        "the file is emptied"
    );
}

#[tokio::test]
async fn a_client_that_takes_bytes_as_they_come_gets_them_in_order_whatever_the_interleaving() {
    let (_dir, mut buffer) = buffer();
    let (mut sent, mut expected) = (0, VecDeque::new());
    // Bursts of pushes and pops of changing sizes, so that memory, the file and the tail each
    // empty and fill again in every combination.
    for round in 0..200usize {
        for _ in 0..(round % 7) {
            let n = 1 + (round * 7919) % (48 * 1024);
            push(&mut buffer, &mut sent, &mut expected, n).await;
        }
        for _ in 0..(round % 5) {
            pop(&mut buffer, &mut expected).await;
        }
    }
    assert!(buffer.file.is_some(), "the test reached the file");
    while pop(&mut buffer, &mut expected).await.is_some() {}
    assert!(expected.is_empty());
    assert!(buffer.is_empty());
}

#[tokio::test]
async fn once_the_file_is_read_back_the_tail_comes_from_memory() {
    let (_dir, mut buffer) = buffer();
    let (mut sent, mut expected) = (0, VecDeque::new());
    push(&mut buffer, &mut sent, &mut expected, MEMORY_LIMIT).await;
    push(&mut buffer, &mut sent, &mut expected, 1000).await;
    assert_eq!(buffer.file.as_ref().unwrap().written, 1000);
    // The client takes memory's bytes, and the app adds a little meanwhile: it waits in the
    // tail, behind the file.
    assert_eq!(pop(&mut buffer, &mut expected).await, Some(MEMORY_LIMIT));
    push(&mut buffer, &mut sent, &mut expected, 10).await;
    assert_eq!(buffer.tail.len, 10);
    assert_eq!(
        pop(&mut buffer, &mut expected).await,
        Some(1000),
        "the file"
    );
    assert_eq!(buffer.on_disk(), 0);
    assert_eq!(pop(&mut buffer, &mut expected).await, Some(10), "the tail");
    assert_eq!(buffer.file.as_ref().unwrap().written, 0, "never written");
    // Caught up: new bytes go to memory again.
    push(&mut buffer, &mut sent, &mut expected, 10).await;
    assert_eq!(buffer.front.len, 10);
    assert_eq!(pop(&mut buffer, &mut expected).await, Some(10));
}

#[tokio::test]
async fn without_a_file_everything_stays_in_memory_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Buffer::new(unusable(&dir).into());
    let mut expected = VecDeque::new();
    let pieces = [
        (0, MEMORY_LIMIT),
        (MEMORY_LIMIT, 1000),
        (MEMORY_LIMIT + 1000, 1000),
    ];
    for (from, n) in pieces {
        let data = numbered(from, n);
        expected.extend(data.iter());
        buffer.push(data).await.unwrap();
    }
    assert!(buffer.file.is_none());
    assert_eq!(buffer.limit(), MEMORY_LIMIT as u64);
    assert_eq!(buffer.len(), (MEMORY_LIMIT + 2000) as u64);
    while pop(&mut buffer, &mut expected).await.is_some() {}
    assert!(expected.is_empty());
}

/// A directory no temp file can be made in (nor the directory itself): a path under a regular
/// file.
fn unusable(dir: &tempfile::TempDir) -> std::path::PathBuf {
    std::fs::write(dir.path().join("a-file"), b"").unwrap();
    dir.path().join("a-file/sub")
}
