//! The access log: one line per request, in Nginx's "combined" format followed by what Ferry
//! knows besides (time taken, the app and the process that served it):
//!
//! ```text
//! 127.0.0.1 - - [21/Nov/2026:22:40:01 +0000] "GET /x?y=1 HTTP/1.1" 200 12 "-" "curl/8.0" rt=0.003 app="/srv/app" pid=4242
//! ```
//!
//! The size is the response's `Content-Length` (`-` for a streamed body of unknown length),
//! and the time is until the response head was ready: the line is written then, not when the
//! body ends. `app` and `pid` are `-` for responses Ferry made alone (files, errors).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use http::{header, HeaderMap, Method, Version};

/// An open access log.
#[derive(Debug)]
pub struct AccessLog {
    path: PathBuf,
    file: Mutex<File>,
}

/// Which app process answered: put in a response's extensions by the proxy.
#[derive(Debug, Clone)]
pub(crate) struct ServedBy {
    pub(crate) app: std::sync::Arc<str>,
    pub(crate) pid: u32,
}

/// What the log says about a request, taken before the request is handed on.
pub(crate) struct Entry {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) method: Method,
    pub(crate) target: String,
    pub(crate) version: Version,
    pub(crate) referer: Option<String>,
    pub(crate) user_agent: Option<String>,
}

impl AccessLog {
    /// Opens (creating, appending to) the log at `path`.
    ///
    /// # Errors
    ///
    /// Why the file cannot be opened.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<AccessLog> {
        let path = path.into();
        let file = open(&path)?;
        Ok(AccessLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// Opens the file again, by its path (after the old one was rotated away).
    ///
    /// # Errors
    ///
    /// Why the file cannot be opened; the old one stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        let file = open(&self.path)?;
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = file;
        Ok(())
    }

    pub(crate) fn record(
        &self,
        entry: &Entry,
        status: u16,
        headers: &HeaderMap,
        served: Option<&ServedBy>,
        took: Duration,
    ) {
        let peer = entry
            .peer
            .map_or_else(|| "-".to_owned(), |p| p.ip().to_string());
        let size = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let version = match entry.version {
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let (app, pid) = match served {
            Some(s) => (format!("\"{}\"", escape(&s.app)), s.pid.to_string()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let line = format!(
            "{peer} - - [{time}] \"{method} {target} {version}\" {status} {size} \"{referer}\" \
             \"{agent}\" rt={took:.3} app={app} pid={pid}\n",
            time = chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S %z"),
            method = entry.method,
            target = escape(&entry.target),
            referer = escape(entry.referer.as_deref().unwrap_or("-")),
            agent = escape(entry.user_agent.as_deref().unwrap_or("-")),
            took = took.as_secs_f64(),
        );
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = file.write_all(line.as_bytes()) {
            tracing::warn!(%error, path = %self.path.display(), "cannot write the access log");
        }
    }
}

impl Entry {
    pub(crate) fn of<B>(request: &http::Request<B>, peer: Option<SocketAddr>) -> Entry {
        let text = |name| {
            request
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        Entry {
            peer,
            method: request.method().clone(),
            target: request
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
            version: request.version(),
            referer: text(header::REFERER),
            user_agent: text(header::USER_AGENT),
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `"` and `\` escaped, control characters as `\xHH`, as Nginx logs them.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_combined_format_plus_ferrys_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&path).unwrap();
        let request = http::Request::builder()
            .uri("/a?b=c")
            .header("user-agent", "t \"1\"")
            .body(())
            .unwrap();
        let entry = Entry::of(&request, Some("10.0.0.1:5000".parse().unwrap()));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "12".parse().unwrap());
        let served = ServedBy {
            app: "/srv/app".into(),
            pid: 42,
        };
        log.record(
            &entry,
            200,
            &headers,
            Some(&served),
            Duration::from_millis(3),
        );
        std::fs::rename(&path, dir.path().join("old.log")).unwrap();
        log.reopen().unwrap();
        log.record(&entry, 404, &HeaderMap::new(), None, Duration::ZERO);
        let old = std::fs::read_to_string(dir.path().join("old.log")).unwrap();
        let re = regex::Regex::new(
            r#"^10\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /a\?b=c HTTP/1\.1" 200 12 "-" "t \\"1\\"" rt=0\.003 app="/srv/app" pid=42\n$"#,
        )
        .unwrap();
        assert!(re.is_match(&old), "{old}");
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(
            new.contains(r#"" 404 - "-" "t \"1\"" rt=0.000 app=- pid=-"#),
            "{new}"
        );
    }
}
