//! The admin API client the `ferry` admin commands use: one HTTP/1.1 request over an instance's
//! unix socket, with the password read from the instance directory, or none when the caller
//! cannot read the password file (then the server goes by peer credentials; see
//! `server`).
//!
//! [`status`] renders `ferry status` from what the client fetches.

pub mod status;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use ferry_sys::fs::Reason;

use crate::registry::{open_trusted, Instance, FULL_PASSWORD_FILE, READ_ONLY_PASSWORD_FILE};
use crate::types::{BASE64, FULL_USER, READ_ONLY_USER};

/// How long a whole request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest password file read (Ferry's passwords are 24 characters).
pub const MAX_PASSWORD: u64 = 1024;

/// Which password a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Reading (`ferry status`, `list-instances`).
    ReadOnly,
    /// Changing (`restart-app`, `detach-process`, `reopen-logs`, `log-level`).
    Full,
}

/// What the client sends to prove who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic with this user name and password.
    Password {
        /// `admin` or `ro_admin`.
        user: &'static str,
        /// The password.
        password: String,
    },
    /// Nothing: the server goes by the caller's uid.
    PeerOnly,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password({user}, <hidden>)"),
            Credentials::PeerOnly => f.write_str("PeerOnly"),
        }
    }
}

impl Credentials {
    /// The credentials for `level` from `instance`'s password file; [`Credentials::PeerOnly`]
    /// when the caller may not read it (another user's Ferry).
    ///
    /// The instance directory must belong to root or to the caller ([`open_trusted`]), and the
    /// file is read without following a link or waiting on a FIFO, as a regular file of the
    /// directory's owner of at most [`MAX_PASSWORD`] bytes: a planted directory or a password
    /// file that is a link is an error, and its target is never read or sent.
    pub fn for_instance(instance: &Instance, level: Level) -> io::Result<Credentials> {
        let (file, user) = match level {
            Level::ReadOnly => (READ_ONLY_PASSWORD_FILE, READ_ONLY_USER),
            Level::Full => (FULL_PASSWORD_FILE, FULL_USER),
        };
        let euid = nix::unistd::geteuid().as_raw();
        let dir = open_trusted(&instance.path, euid)?.ok_or_else(|| {
            io::Error::other(format!(
                "{} belongs to another user than root or you",
                instance.path.display()
            ))
        })?;
        match dir.read_string(file, MAX_PASSWORD) {
            Ok(Some(password)) => Ok(Credentials::Password {
                user,
                password: password.trim().to_owned(),
            }),
            Ok(None) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} has no {file}", instance.path.display()),
            )),
            Err(e) if is_permission_denied(e.reason()) => Ok(Credentials::PeerOnly),
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

/// Whether a file could not be read only for lack of permission (another user's password).
fn is_permission_denied(reason: &Reason) -> bool {
    matches!(reason, Reason::Io(e) if e.kind() == io::ErrorKind::PermissionDenied)
}

/// A client of one instance's admin API.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    credentials: Credentials,
    timeout: Duration,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be connected to.
    #[error("could not connect to {path}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed.
    #[error("the admin API request failed")]
    Http(#[source] hyper::Error),
    /// The request could not be built (a bad path).
    #[error("invalid admin API request: {0}")]
    Request(String),
    /// No answer in time.
    #[error("the admin API did not answer within {0:?}")]
    Timeout(Duration),
}

impl Reply {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }

    /// The `error` field of a JSON error body, or the status's reason.
    pub fn error_message(&self) -> String {
        self.json::<serde_json::Value>()
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| self.status.to_string())
    }
}

impl Client {
    /// A client of the API at `socket`.
    pub fn new(socket: impl Into<PathBuf>, credentials: Credentials) -> Client {
        Client {
            socket: socket.into(),
            credentials,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A client of `instance` with the password for `level` (see
    /// [`Credentials::for_instance`]).
    pub fn for_instance(instance: &Instance, level: Level) -> io::Result<Client> {
        Ok(Client::new(
            instance.admin_socket(),
            Credentials::for_instance(instance, level)?,
        ))
    }

    /// Sets how long a whole request may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.request(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, ClientError> {
        self.request(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, ClientError> {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// One request on a connection of its own.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ClientError> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, body))
            .await
            .unwrap_or(Err(ClientError::Timeout(self.timeout)))
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    path: self.socket.clone(),
                    source,
                })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::Http)?;
        // The connection is driven on its own task and ends when the exchange is over.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        if let Credentials::Password { user, password } = &self.credentials {
            let token = BASE64.encode(format!("{user}:{password}").as_bytes());
            request = request.header(header::AUTHORIZATION, format!("Basic {token}"));
        }
        let bytes = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(value).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(bytes))
            .map_err(|e| ClientError::Request(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(ClientError::Http)?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(ClientError::Http)?.to_bytes();
        driver.abort();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::registry::{list_instances, InstanceDir, InstanceOptions, RegistryEnv};

    fn instance(registry: &Path) -> (InstanceDir, Instance) {
        let options = InstanceOptions {
            registry_dir: Some(registry.to_owned()),
            ..InstanceOptions::default()
        };
        let env = RegistryEnv::from_process();
        let dir = InstanceDir::create(&options, &env).expect("create");
        let found = list_instances(registry).expect("list").instances.remove(0);
        (dir, found)
    }

    #[test]
    fn the_password_is_read_from_the_instance_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, found) = instance(tmp.path());
        let credentials = Credentials::for_instance(&found, Level::Full).unwrap();
        let expected = Credentials::Password {
            user: FULL_USER,
            password: dir.full_password().to_owned(),
        };
        assert_eq!(credentials, expected);
    }

    #[test]
    fn a_password_file_that_is_a_link_is_never_read() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, "SECRET-8841").unwrap();
        let (dir, found) = instance(tmp.path());
        let file = dir.path().join(READ_ONLY_PASSWORD_FILE);
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&secret, &file).unwrap();
        let err = Credentials::for_instance(&found, Level::ReadOnly).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("is a symbolic link"), "{text}");
        assert!(!text.contains("SECRET-8841"), "{text}");
    }

    #[test]
    fn another_users_instance_directory_is_not_trusted() {
        if !ferry_test_support::require::require(&[ferry_test_support::Requirement::Root]) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (dir, found) = instance(tmp.path());
        std::os::unix::fs::chown(dir.path(), Some(1), None).unwrap();
        let err = Credentials::for_instance(&found, Level::Full).unwrap_err();
        assert!(err.to_string().contains("belongs to another user"), "{err}");
    }
}
