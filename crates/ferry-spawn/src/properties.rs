//! `response/properties.json` as the spawner reads it: [`ferry_protocol::properties`] validates
//! the document and chooses the socket; here, a unix socket must also belong to the app's user.

use std::os::unix::fs::MetadataExt;

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
}
