use regex::Regex;

use super::*;
use crate::pool::tests::sample;

#[test]
fn the_pool_text_has_passengers_layout() {
    let text = render_pool(&sample(), false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..7],
        [
            "----------- General information -----------",
            "Max pool size : 6",
            "App groups    : 2",
            "Processes     : 3",
            "Requests in top-level queue : 0",
            "",
            "----------- Application groups -----------",
        ]
    );
    assert_eq!(lines[7], "/srv/root-app:");
    assert_eq!(lines[8], "  App root: /srv/root-app");
    assert_eq!(lines[9], "  (spawning 1 new process...)");
    assert_eq!(lines[10], "  Requests in queue: 1");
    let first = Regex::new(
        r"^  \* PID: (\d+) +Sessions: (\d+) +Processed: (\d+) +Uptime: ((\d+[dhms] ?)+)$",
    )
    .expect("regex");
    let second =
        Regex::new(r"^    CPU: (\d+)% +Memory  : (\d+)M +Last used: ((\d+[dhms] ?)+) ago$")
            .expect("regex");
    // Exact columns, as Passenger's printf formats lay them out.
    assert_eq!(
        lines[11],
        "  * PID: 100     Sessions: 1       Processed: 17      Uptime: 2m 5s"
    );
    assert_eq!(
        lines[12],
        "    CPU: 2%      Memory  : 0M      Last used: 3s ago"
    );
    let caps = first.captures(lines[13]).expect("process line");
    assert_eq!(&caps[1], "101");
    assert!(second.is_match(lines[14]));
    assert_eq!(lines[15], "    Shutting down...");
    assert_eq!(lines[16], "");
    assert_eq!(lines[17], "/srv/user-app <&\"tag\">:");
    assert!(first.is_match(lines[21]));
    let caps = second.captures(lines[22]).expect("cpu line");
    assert_eq!(&caps[2], "14", "15000 KiB of private dirty memory is 14 MB");
    assert_eq!(lines[23], "    Out-of-band work...");
    assert!(!text.contains("Password"), "only with --verbose");
    assert!(text.ends_with("\n\n"));
}

#[test]
fn verbose_shows_urls_and_connect_passwords() {
    let text = render_pool(&sample(), true);
    assert!(text.contains("    URL     : http://127.0.0.1:40100\n    Password: secret-100\n"));
    let without = render_pool(&sample().without_secrets(), true);
    assert!(without.contains("    URL     : http://127.0.0.1:40100\n"));
    assert!(!without.contains("Password"));
}

#[test]
fn group_markers() {
    let mut pool = sample();
    pool.groups[0].rolling_restart_pending = 1;
    pool.groups[0].resisting_deployment_error = true;
    pool.groups[0].spawning = 2;
    pool.groups[0].life_state = GroupLife::ShuttingDown;
    pool.groups[0].processes[0].life_state = ProcessLife::Parked;
    let text = render_pool(&pool, false);
    for marker in [
        "  (shutting down...)\n",
        "  (restarting...)\n",
        "  (resisting a deployment error",
        "  (spawning 2 new processes...)\n",
        "    Parked (rolling restart)...\n",
    ] {
        assert!(text.contains(marker), "{marker:?} in\n{text}");
    }
}

#[test]
fn header_server_and_requests() {
    assert_eq!(
        render_header("1.2.3", "2026-01-02 03:04:05 +0000", "abc", "Ferry 1.2.3"),
        "Version : 1.2.3\nDate    : 2026-01-02 03:04:05 +0000\nInstance: abc (Ferry 1.2.3)\n\n"
    );
    let state = crate::api::tests::server_state();
    let server = render_server(&state);
    assert!(server.starts_with("----------- Server -----------\nPID          : 4242\n"));
    assert!(server.contains("Listening on : http://127.0.0.1:3000\n"));
    let requests = render_requests(&state.requests);
    assert!(requests.contains(
        "  * GET /slow\n    App: /srv/root-app   State: in_app   PID: 100   Age: 1m 2s\n"
    ));
    assert!(render_requests(&[]).contains("(none)"));
}
