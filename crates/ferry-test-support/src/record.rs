//! The `rack-stub` fixture's `/consume` endpoint and the file it writes down what it saw in:
//! tests of request bodies and client aborts send it a head, then a body in pieces, and read the
//! record to learn what reached the app.

use std::path::Path;
use std::time::Duration;

/// `POST /consume` writing down in `record`, with these extra head lines and no body yet.
pub fn consume_head(record: &Path, headers: &str) -> String {
    format!(
        "POST /consume?record={} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n",
        record.display()
    )
}

/// The lines of `record` (none while it does not exist).
pub fn record_lines(record: &Path) -> Vec<String> {
    std::fs::read_to_string(record)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The lines of `record` once one starts with `prefix`, waiting at most `timeout`.
pub async fn wait_record(record: &Path, prefix: &str, timeout: Duration) -> Vec<String> {
    crate::poll_until(timeout, || {
        let lines = record_lines(record);
        lines.iter().any(|l| l.starts_with(prefix)).then_some(lines)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no {prefix:?} in {}: {:?}",
            record.display(),
            record_lines(record)
        )
    })
}
