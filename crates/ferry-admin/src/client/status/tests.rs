use super::*;
use crate::types::tests::server_state;

#[test]
fn header_server_and_requests() {
    assert_eq!(
        render_header("1.2.3", "2026-01-02 03:04:05 +0000", "abc", "Ferry 1.2.3"),
        "Version : 1.2.3\nDate    : 2026-01-02 03:04:05 +0000\nInstance: abc (Ferry 1.2.3)\n\n"
    );
    let state = server_state();
    let server = render_server(&state);
    assert!(server.starts_with("----------- Server -----------\nPID          : 4242\n"));
    assert!(server.contains("Listening on : http://127.0.0.1:3000\n"));
    let requests = render_requests(&state.requests);
    assert!(requests.contains(
        "  * GET /slow\n    App: /srv/root-app   State: in_app   PID: 100   Age: 1m 2s\n"
    ));
    assert!(render_requests(&[]).contains("(none)"));
}

// Issue 18, health:
#[test]
fn the_server_says_whether_it_is_serving_draining_or_stopping() {
    let mut state = server_state();
    assert!(render_server(&state).contains("\nState        : Serving\n"));
    state.info.draining = true;
    assert!(render_server(&state).contains("\nState        : Draining\n"));
    assert!(serving_state(&state.info)
        .1
        .is_some_and(|line| line.contains("ferry undrain")));
    state.info.stopping = true;
    assert!(render_server(&state).contains("\nState        : Stopping\n"));
}
