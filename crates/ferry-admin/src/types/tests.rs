//! Fixtures of the shared types, for the server's and the client's tests.

use base64::Engine as _;

use super::*;

/// A `/server.json` with one request in progress.
pub(crate) fn server_state() -> ServerState {
    ServerState {
        info: info(),
        requests: vec![RequestInfo {
            app: "/srv/root-app".into(),
            method: "GET".into(),
            path: "/slow".into(),
            state: "in_app".into(),
            pid: Some(100),
            age_secs: 62.5,
        }],
    }
}

pub(crate) fn info() -> ServerInfo {
    ServerInfo {
        pid: 4242,
        program_name: "ferry".into(),
        program_version: "1.2.3".into(),
        api_version: API_VERSION.into(),
        instance_name: "testinst".into(),
        started_at: 1_700_000_000,
        listeners: vec!["http://127.0.0.1:3000".into()],
        log_level: 3,
        metrics_enabled: true,
        // Issue 18, health:
        draining: false,
        stopping: false,
        // Issue 19, TLS:
        certificates: Vec::new(),
    }
}

#[test]
fn server_state_round_trips_through_json() {
    let state = server_state();
    let json = serde_json::to_string(&state).expect("serialize");
    let back: ServerState = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, state);
}

#[test]
fn basic_credentials_base64_round_trips_and_known_values() {
    for (plain, coded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("admin:s3cr3t", "YWRtaW46czNjcjN0"),
    ] {
        assert_eq!(BASE64.encode(plain.as_bytes()), coded);
        assert_eq!(BASE64.decode(coded).ok().as_deref(), Some(plain.as_bytes()));
    }
    assert!(BASE64.decode("Zg=").is_err());
    assert!(BASE64.decode("Z=g=").is_err());
    assert!(BASE64.decode("Zg==Zg==").is_err());
    assert!(BASE64.decode("!!!!").is_err());
}
