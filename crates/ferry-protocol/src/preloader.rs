//! The preloader protocol (loaders/PROTOCOL.md §6.2, seed 004, "The preloader protocol"): the
//! one JSON line Ferry sends a preloader to fork a worker, and the one line it answers.
//!
//! ```text
//!   Ferry → preloader   {"command":"spawn","work_dir":"/dev/shm/ferry.spawn.XXXXXXXX"}\n
//!   preloader → Ferry   {"result":"ok","pid":1234}\n
//!                    or {"result":"error","message":"..."}\n
//! ```
//!
//! Re-forking (PROTOCOL.md §6.4) reuses the answer's shape: a worker sent a `PROMOTE` frame
//! ([`crate::session::promote_frame`]) becomes the app's template and answers with the socket it
//! now serves this protocol on:
//!
//! ```text
//!   worker → Ferry      {"result":"ok","socket":"unix:/run/.../preloader.XXXX"}\n
//!                    or {"result":"error","message":"..."}\n
//! ```
//!
//! Connecting to the preloader's socket, writing the command and reading the answer (up to a
//! newline or end-of-file, at most [`MAX_ANSWER`] bytes) are the spawner's.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Longest preloader answer read (Passenger's limit).
pub const MAX_ANSWER: u64 = 10 * 1024;

/// The spawn command for a worker whose work directory is `work_dir`, newline included.
///
/// # Panics
///
/// If `work_dir` is not UTF-8 (Ferry names its work directories itself, under its spawn
/// directory, which `args.json` names in UTF-8 too).
pub fn spawn_command(work_dir: &Path) -> String {
    let mut command = serde_json::json!({"command": "spawn", "work_dir": work_dir}).to_string();
    command.push('\n');
    command
}

/// The answer line in what was read: up to the first newline. A blank answer is no answer.
pub fn answer_line(read: &[u8]) -> Result<String, String> {
    let line = read.split(|&b| b == b'\n').next().unwrap_or_default();
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err("it closed the connection without answering".into());
    }
    Ok(String::from_utf8_lossy(line).into_owned())
}

/// Parses `{"result":"ok","pid":N}` (→ `Ok(Ok(N))`) or `{"result":"error","message":M}`
/// (→ `Ok(Err(M))`); anything else is `Err`.
pub fn parse_answer(line: &str) -> Result<Result<u32, String>, String> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| format!("The preloader's answer is not valid JSON ({e}): {line}"))?;
    match value.get("result").and_then(Value::as_str) {
        Some("ok") => value
            .get("pid")
            .and_then(Value::as_u64)
            .and_then(|pid| u32::try_from(pid).ok())
            .filter(|&pid| pid > 1)
            .map(Ok)
            .ok_or_else(|| format!("The preloader's answer has no valid `pid`: {line}")),
        Some("error") => Ok(Err(value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .to_owned())),
        _ => Err(format!(
            "The preloader's answer has no `result` of `ok` or `error`: {line}"
        )),
    }
}

/// Parses a promoted worker's answer: `{"result":"ok","socket":"unix:PATH"}` (→ `Ok(Ok(PATH))`,
/// an absolute path) or `{"result":"error","message":M}` (→ `Ok(Err(M))`); anything else is
/// `Err`. Where the path may lie is the caller's to check.
pub fn parse_promote_answer(line: &str) -> Result<Result<PathBuf, String>, String> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| format!("The promoted worker's answer is not valid JSON ({e}): {line}"))?;
    match value.get("result").and_then(Value::as_str) {
        Some("ok") => value
            .get("socket")
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix("unix:"))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(Ok)
            .ok_or_else(|| {
                format!("The promoted worker's answer has no valid `socket` (unix:/PATH): {line}")
            }),
        Some("error") => Ok(Err(value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .to_owned())),
        _ => Err(format!(
            "The promoted worker's answer has no `result` of `ok` or `error`: {line}"
        )),
    }
}

/// Fuzzing entry: reads arbitrary bytes as an answer; whatever parses names a worker's pid above
/// 1 (never Ferry's own init), and every error says something.
pub(crate) fn check_invariants(read: &[u8]) {
    let line = match answer_line(read) {
        Ok(line) => line,
        Err(e) => return assert!(!e.is_empty()),
    };
    assert!(!line.contains('\n'));
    match parse_answer(&line) {
        Ok(Ok(pid)) => assert!(pid > 1),
        Ok(Err(_message)) => {}
        Err(e) => assert!(!e.is_empty()),
    }
    match parse_promote_answer(&line) {
        Ok(Ok(path)) => assert!(path.is_absolute()),
        Ok(Err(_message)) => {}
        Err(e) => assert!(!e.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        assert_eq!(parse_answer(r#"{"result":"ok","pid":1234}"#), Ok(Ok(1234)));
        assert_eq!(
            parse_answer(r#"{"result":"error","message":"no fork"}"#),
            Ok(Err("no fork".into()))
        );
        assert!(parse_answer(r#"{"result":"ok"}"#).is_err());
        assert!(parse_answer(r#"{"result":"ok","pid":1}"#).is_err());
        assert!(parse_answer(r#"{"pid":5}"#).is_err());
        assert!(parse_answer("not json").is_err());
    }

    #[test]
    fn promote_answers_are_parsed() {
        assert_eq!(
            parse_promote_answer(r#"{"result":"ok","socket":"unix:/run/a/preloader.1"}"#),
            Ok(Ok(PathBuf::from("/run/a/preloader.1")))
        );
        assert_eq!(
            parse_promote_answer(r#"{"result":"error","message":"threads"}"#),
            Ok(Err("threads".into()))
        );
        assert!(parse_promote_answer(r#"{"result":"ok","socket":"unix:rel"}"#).is_err());
        assert!(parse_promote_answer(r#"{"result":"ok","socket":"tcp://1.2.3.4:5"}"#).is_err());
        assert!(parse_promote_answer(r#"{"result":"ok"}"#).is_err());
        assert!(parse_promote_answer("[]").is_err());
    }

    #[test]
    fn the_command_is_one_json_line() {
        let command = spawn_command(Path::new("/dev/shm/ferry.spawn.abc"));
        assert_eq!(command.matches('\n').count(), 1);
        assert!(command.ends_with('\n'));
        let value: Value = serde_json::from_str(&command).unwrap();
        assert_eq!(value["command"], "spawn");
        assert_eq!(value["work_dir"], "/dev/shm/ferry.spawn.abc");
    }

    #[test]
    fn the_answer_is_the_first_line() {
        assert_eq!(answer_line(b"{\"a\":1}\nrest").unwrap(), "{\"a\":1}");
        assert_eq!(answer_line(b"{\"a\":1}").unwrap(), "{\"a\":1}");
        assert!(answer_line(b" \r\n{}")
            .unwrap_err()
            .contains("without answering"));
        assert!(answer_line(b"").is_err());
    }

    #[test]
    fn arbitrary_answers_never_panic() {
        // A deterministic sweep of mutations of valid answers (the fuzz target's body).
        let valid: [&[u8]; 2] = [
            br#"{"result":"ok","pid":1234}"#,
            b"{\"result\":\"error\",\"message\":\"no fork\"}\n",
        ];
        let mut state = 0x2545_f491_u32;
        for i in 0..20_000 {
            let mut answer = valid[i % 2].to_vec();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let at = state as usize % answer.len();
                answer[at] = (state >> 8) as u8;
            }
            check_invariants(&answer);
        }
    }
}
