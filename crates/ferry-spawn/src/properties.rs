//! `response/properties.json` as the spawner reads it: [`ferry_protocol::properties`] validates
//! the document and chooses the socket; here, a unix socket must also belong to the app's user,
//! and be a socket itself, not a symbolic link to one: Ferry, as root, must not be sent to
//! another user's socket (a database's, Docker's) by a link the app made.
//!
//! The check `lstat`s a path the app chose, which may lead through a file system that does not
//! answer: the caller runs it on the blocking pool with a timeout
//! ([`WorkDir::read`](crate::workdir::WorkDir::read)).

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use ferry_protocol::properties;
pub(crate) use ferry_protocol::properties::{
    preloader_socket, request_socket, RequestSocket, Socket,
};

/// Parses and validates `properties.json`. `owner` is the app's uid: a unix socket must belong to
/// it.
pub(crate) fn parse(json: &str, owner: Option<u32>) -> Result<Vec<Socket>, String> {
    match owner {
        Some(uid) => properties::parse_checked(json, |path| check_owner(path, uid)),
        None => properties::parse(json),
    }
}

fn check_owner(path: &std::path::Path, uid: u32) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| format!("the socket {} cannot be used: {e}", path.display()))?;
    if !meta.file_type().is_socket() {
        let what = if meta.file_type().is_symlink() {
            "a symbolic link"
        } else {
            "not a unix socket"
        };
        return Err(format!(
            "the socket {} is {what}; Ferry connects only to a socket the app created itself",
            path.display()
        ));
    }
    if meta.uid() != uid {
        return Err(format!(
            "the socket {} belongs to uid {}, not to the app's uid {uid}",
            path.display(),
            meta.uid()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_socket_must_belong_to_the_app_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let json = format!(
            r#"{{"sockets":[{{"address":"unix:{}","protocol":"http","concurrency":0,"accept_http_requests":true}}]}}"#,
            path.display()
        );
        let me = nix::unistd::geteuid().as_raw();
        assert!(parse(&json, Some(me)).is_ok());
        let err = parse(&json, Some(me + 1)).unwrap_err();
        assert!(err.contains("not to the app's uid"), "{err}");
    }

    #[test]
    fn a_link_to_a_socket_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let json = format!(
            r#"{{"sockets":[{{"address":"unix:{}","protocol":"http","concurrency":0,"accept_http_requests":true}}]}}"#,
            link.display()
        );
        let me = nix::unistd::geteuid().as_raw();
        let err = parse(&json, Some(me)).unwrap_err();
        assert!(err.contains("is a symbolic link"), "{err}");
    }
}
