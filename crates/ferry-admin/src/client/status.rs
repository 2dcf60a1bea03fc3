//! `ferry status` (Passenger's `passenger-status`): the pool as text in Passenger's layout (seed
//! §10.2, §11.1.4), or JSON, or XML, and the server's own state.
//!
//! ```text
//! Version : 0.1.0
//! Date    : 2026-03-01 10:00:00 +0000
//! Instance: k3x9a2b1 (Ferry 0.1.0)
//!
//! ----------- General information -----------
//! ...
//! ```
//!
//! The header is [`render_header`]'s; the pool below it is [`PoolState::to_text`]'s (the layout
//! is described there), the same text the API serves at `/pool.txt`.

use std::fmt::Write;

use http::StatusCode;

use super::{Client, ClientError, Reply};
use crate::pool::{duration_words, PoolState};
use crate::registry::Instance;
use crate::types::{RequestInfo, ServerInfo, ServerState};

/// What to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Show {
    /// The pool (default).
    #[default]
    Pool,
    /// The server's own state.
    Server,
    /// Requests in progress.
    Requests,
    /// Backtraces of Ferry itself.
    Backtraces,
}

/// How to show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Text for people (default).
    #[default]
    Text,
    /// The API's JSON, pretty-printed.
    Json,
    /// Passenger-compatible XML (the pool only).
    Xml,
}

/// `ferry status` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `--show`.
    pub show: Show,
    /// `--format`.
    pub format: Format,
    /// `--verbose`: process URLs and connect passwords.
    pub verbose: bool,
    /// Print the Version/Date/Instance header (text only; `--no-header` turns it off).
    pub header: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            show: Show::Pool,
            format: Format::Text,
            verbose: false,
            header: true,
        }
    }
}

/// Why `ferry status` has nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No answer.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// 401: neither a readable password file nor peer credentials let us in.
    #[error("not allowed to query this Ferry instance ({0}); try again with sudo")]
    Unauthorized(String),
    /// 403.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// Another error status.
    #[error("the admin API answered {status}: {message}")]
    Api {
        /// The status.
        status: StatusCode,
        /// Its message.
        message: String,
    },
    /// An answer that could not be understood.
    #[error("could not understand the admin API's answer: {0}")]
    Decode(String),
    /// A combination that does not exist (`--show=server --format=xml`).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Asks `instance` (through `client`) for what `options` name and renders it.
pub async fn fetch_and_render(
    client: &Client,
    instance: &Instance,
    options: Options,
) -> Result<String, StatusError> {
    let secrets = if options.verbose { "?secrets=true" } else { "" };
    let header = |out: &mut String| {
        if options.header && options.format == Format::Text {
            out.push_str(&render_header(
                &instance.properties.version,
                &chrono::Local::now()
                    .format("%Y-%m-%d %H:%M:%S %z")
                    .to_string(),
                &instance.properties.name,
                &instance.properties.description,
            ));
        }
    };
    let mut out = String::new();
    match (options.show, options.format) {
        (Show::Pool, Format::Xml) => {
            out = ok(client.get(&format!("/pool.xml{secrets}")).await?)?.text();
        }
        (Show::Pool, format) => {
            let reply = ok(client.get(&format!("/pool.json{secrets}")).await?)?;
            let pool: PoolState = reply
                .json()
                .map_err(|e| StatusError::Decode(e.to_string()))?;
            if format == Format::Json {
                out = pretty(&pool);
            } else {
                header(&mut out);
                // Issue 18, health: a drained or stopping Ferry says so first.
                if let Some(line) = fetch_serving_state(client).await {
                    out.push_str(line);
                    out.push('\n');
                }
                if pool.groups.is_empty() {
                    out.push_str("Ferry is currently not serving any applications.\n");
                } else {
                    out.push_str(&pool.to_text(options.verbose));
                }
            }
        }
        (Show::Server | Show::Requests, Format::Xml) => {
            return Err(StatusError::Unsupported(
                "XML is available for the pool only (--show=pool)",
            ))
        }
        (show @ (Show::Server | Show::Requests), format) => {
            let reply = ok(client.get("/server.json").await?)?;
            let state: ServerState = reply
                .json()
                .map_err(|e| StatusError::Decode(e.to_string()))?;
            out = match (show, format) {
                (Show::Server, Format::Json) => pretty(&state),
                (_, Format::Json) => pretty(&state.requests),
                (Show::Server, _) => {
                    header(&mut out);
                    out + &render_server(&state)
                }
                _ => {
                    header(&mut out);
                    out + &render_requests(&state.requests)
                }
            };
        }
        (Show::Backtraces, Format::Text) => {
            out = ok(client.get("/backtraces.txt").await?)?.text();
        }
        (Show::Backtraces, _) => {
            return Err(StatusError::Unsupported("backtraces are text only"));
        }
    }
    Ok(out)
}

// Issue 18, health:
/// The line `ferry status` prints when Ferry is not simply serving (`None`: it is, or
/// `/info.json` could not be read).
async fn fetch_serving_state(client: &Client) -> Option<&'static str> {
    let info: ServerInfo = ok(client.get("/info.json").await.ok()?).ok()?.json().ok()?;
    serving_state(&info).1
}

/// `Serving`, `Draining` or `Stopping`, and the line saying what that means (`None` when
/// serving).
fn serving_state(info: &ServerInfo) -> (&'static str, Option<&'static str>) {
    if info.stopping {
        (
            "Stopping",
            Some("Ferry is stopping: the health path answers 503."),
        )
    } else if info.draining {
        (
            "Draining",
            Some(
                "Ferry is draining (ferry drain): the health path answers 503, requests are \
                 still served; `ferry undrain` puts it back.",
            ),
        )
    } else {
        ("Serving", None)
    }
}

fn ok(reply: Reply) -> Result<Reply, StatusError> {
    match reply.status {
        s if s.is_success() => Ok(reply),
        StatusCode::UNAUTHORIZED => Err(StatusError::Unauthorized(reply.error_message())),
        StatusCode::FORBIDDEN => Err(StatusError::Forbidden(reply.error_message())),
        status => Err(StatusError::Api {
            status,
            message: reply.error_message(),
        }),
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The `Version`/`Date`/`Instance` header and its blank line.
pub fn render_header(version: &str, date: &str, instance: &str, description: &str) -> String {
    let mut out = format!("Version : {version}\nDate    : {date}\nInstance: {instance}");
    if !description.is_empty() {
        let _ = write!(out, " ({description})");
    }
    out.push_str("\n\n");
    out
}

/// `--show=server` as text.
pub fn render_server(state: &ServerState) -> String {
    let info = &state.info;
    let started = chrono::DateTime::from_timestamp(i64::try_from(info.started_at).unwrap_or(0), 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S %z")
                .to_string()
        })
        .unwrap_or_default();
    let mut out = String::from("----------- Server -----------\n");
    let _ = writeln!(out, "PID          : {}", info.pid);
    let _ = writeln!(
        out,
        "Version      : {} {}",
        info.program_name, info.program_version
    );
    let _ = writeln!(out, "Instance     : {}", info.instance_name);
    let _ = writeln!(out, "Started      : {started}");
    let _ = writeln!(out, "Listening on : {}", info.listeners.join(", "));
    let _ = writeln!(out, "Log level    : {}", info.log_level);
    let _ = writeln!(
        out,
        "Metrics      : {}",
        if info.metrics_enabled { "on" } else { "off" }
    );
    let _ = writeln!(out, "Requests     : {} in progress", state.requests.len());
    // Issue 18, health:
    let _ = writeln!(out, "State        : {}", serving_state(info).0);
    // Issue 19, TLS:
    for cert in &info.certificates {
        let expires = chrono::DateTime::from_timestamp(cert.not_after, 0)
            .map_or_else(|| cert.not_after.to_string(), |t| t.to_rfc3339());
        let days = (cert.not_after - chrono::Utc::now().timestamp()) / 86_400;
        let _ = writeln!(
            out,
            "Certificate  : {} ({}) expires {expires} (in {days} days)",
            cert.file, cert.subject
        );
    }
    out
}

/// `--show=requests` as text.
pub fn render_requests(requests: &[RequestInfo]) -> String {
    let mut out = String::from("----------- Requests in progress -----------\n");
    if requests.is_empty() {
        out.push_str("(none)\n");
    }
    for r in requests {
        let pid = r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
        let _ = writeln!(
            out,
            "  * {} {}\n    App: {}   State: {}   PID: {}   Age: {}",
            r.method,
            r.path,
            if r.app.is_empty() { "-" } else { &r.app },
            r.state,
            pid,
            duration_words(r.age_secs as u64)
        );
    }
    out
}

#[cfg(test)]
mod tests;
