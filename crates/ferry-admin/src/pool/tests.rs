use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ferry_pool::{GroupSnapshot, ProcessSnapshot};
use ferry_spawn::{Concurrency, Endpoint, Protocol};

use super::*;

/// Fixed facts: every pid runs as `pid / 1000` (so pids 1000.. are uid 1, 0.. are root).
pub(crate) struct FakeProc;

impl ProcFacts for FakeProc {
    fn uid(&self, pid: u32) -> Option<u32> {
        Some(pid / 1000)
    }
    fn user_name(&self, uid: u32) -> Option<String> {
        Some(if uid == 0 {
            "root".into()
        } else {
            format!("user{uid}")
        })
    }
    fn cpu_percent(&self, pid: u32) -> Option<f64> {
        Some(f64::from(pid % 7))
    }
    fn private_dirty_kib(&self, pid: u32) -> Option<u64> {
        Some(u64::from(pid) * 10)
    }
    fn rss_kib(&self, pid: u32) -> Option<u64> {
        Some(u64::from(pid) * 20)
    }
}

fn process(pid: u32, sticky: u64) -> ProcessSnapshot {
    ProcessSnapshot {
        pid,
        sticky_id: sticky,
        generation: 0,
        sessions: 1,
        processed: 17,
        detached: false,
        parked: false,
        oob: false,
        private_dirty_kib: None,
        uptime: Duration::from_secs(125),
        idle_for: Duration::from_secs(3),
        endpoint: Endpoint::Tcp(([127, 0, 0, 1], 40_000 + pid as u16 % 1000).into()),
        protocol: Protocol::Http,
        concurrency: Concurrency::Limited(NonZeroUsize::MIN),
        connect_password: format!("secret-{pid}"),
    }
}

fn group(name: &str, processes: Vec<ProcessSnapshot>) -> GroupSnapshot {
    GroupSnapshot {
        name: name.into(),
        generation: 2,
        queued: 1,
        spawning: 1,
        resisting_deployment_error: false,
        rolling_restart_pending: 0,
        processes,
        app_root: PathBuf::from(name.split(' ').next().unwrap_or(name)),
        environment: "production".into(),
        app_type: "ruby".into(),
        max_queue: 100,
        shutting_down: false,
        spawning_for: Some(Duration::from_secs(2)),
    }
}

/// Two groups: `/srv/root-app` runs as root (pids 100, 101 — 101 shutting down), and
/// `/srv/user-app <tag>` as uid 1 (pid 1500, doing out-of-band work; a unix socket).
pub(crate) fn sample() -> PoolState {
    let mut detached = process(101, 2);
    detached.detached = true;
    detached.sessions = 0;
    let mut oob = process(1500, 3);
    oob.oob = true;
    oob.protocol = Protocol::Session;
    oob.endpoint = Endpoint::Unix("/run/ferry/apps.s/x".into());
    oob.concurrency = Concurrency::Unlimited;
    let groups = [
        group("/srv/root-app", vec![process(100, 1), detached]),
        group("/srv/user-app <&\"tag\">", vec![oob]),
    ];
    PoolState::from_snapshot(
        "1.2.3",
        6,
        &groups,
        &FakeProc,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

#[test]
fn from_snapshot_maps_every_field() {
    let pool = sample();
    assert_eq!(pool.version, "1.2.3");
    assert_eq!(pool.max_pool_size, 6);
    assert_eq!(pool.process_count, 3);
    // Alive 100, OOB 1500, and one spawn in each group; 101 is on its way out.
    assert_eq!(pool.capacity_used, 4);
    let root = &pool.groups[0];
    assert_eq!(root.uid, Some(0));
    assert_eq!(root.user.as_deref(), Some("root"));
    assert_eq!(root.app_root, "/srv/root-app");
    assert_eq!(root.spawning_for_secs, Some(2));
    assert_eq!(root.life_state, GroupLife::Alive);
    let p = &root.processes[0];
    assert_eq!(p.life_state, ProcessLife::Alive);
    assert_eq!(p.url, "http://127.0.0.1:40100");
    assert_eq!(p.concurrency, 1);
    assert_eq!(p.uptime_secs, 125);
    assert_eq!(p.spawned_at, 1_700_000_000.0 - 125.0);
    assert_eq!(p.last_used_at, 1_700_000_000.0 - 3.0);
    assert_eq!(p.private_dirty_kib, Some(1000));
    assert_eq!(p.connect_password.as_deref(), Some("secret-100"));
    assert_eq!(root.processes[1].life_state, ProcessLife::ShuttingDown);
    let user = &pool.groups[1];
    assert_eq!(user.uid, Some(1));
    assert_eq!(user.processes[0].life_state, ProcessLife::Oob);
    assert_eq!(user.processes[0].concurrency, 0);
    assert_eq!(user.processes[0].url, "unix:/run/ferry/apps.s/x");
    assert_eq!(user.processes[0].protocol, "session");
}

#[test]
fn secrets_and_uid_filters() {
    let pool = sample().without_secrets();
    assert!(pool
        .groups
        .iter()
        .flat_map(|g| &g.processes)
        .all(|p| p.connect_password.is_none()));
    let mine = sample().only_uid(1);
    assert_eq!(mine.groups.len(), 1);
    assert_eq!(mine.process_count, 1);
    assert!(sample().only_uid(7).groups.is_empty());
}

#[test]
fn finds_groups_by_name_or_app_root() {
    let pool = sample();
    assert_eq!(pool.find_groups("/srv/root-app")[0].name, "/srv/root-app");
    assert_eq!(pool.find_groups("/srv/user-app/").len(), 1);
    assert!(pool.find_groups("/srv").is_empty());
    assert_eq!(pool.group_of_pid(1500).map(|g| g.uid), Some(Some(1)));
    assert!(pool.group_of_pid(9).is_none());
}

#[test]
fn json_round_trips() {
    let pool = sample();
    let json = serde_json::to_string(&pool).expect("serialize");
    let back: PoolState = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, pool);
    let value: serde_json::Value = serde_json::from_str(&json).expect("value");
    assert_eq!(value["groups"][1]["processes"][0]["life_state"], "oob");
}

#[test]
fn xml_has_the_layout_passenger_tools_read() {
    let xml = sample().to_xml(false);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let info = doc.root_element();
    assert_eq!(info.tag_name().name(), "info");
    assert_eq!(info.attribute("version"), Some("3"));
    let text = |node: roxmltree::Node<'_, '_>, name: &str| -> String {
        node.children()
            .find(|c| c.has_tag_name(name))
            .and_then(|c| c.text())
            .unwrap_or_default()
            .to_owned()
    };
    // The numbers passenger_exporter reads at the top level.
    for (name, want) in [
        ("passenger_version", "1.2.3"),
        ("group_count", "2"),
        ("process_count", "3"),
        ("max", "6"),
        ("capacity_used", "4"),
        ("get_wait_list_size", "0"),
    ] {
        assert_eq!(text(info, name), want, "{name}");
    }
    let supergroups: Vec<_> = info
        .descendants()
        .filter(|n| n.has_tag_name("supergroup"))
        .collect();
    assert_eq!(supergroups.len(), 2);
    assert_eq!(text(supergroups[1], "name"), "/srv/user-app <&\"tag\">");
    assert_eq!(text(supergroups[0], "get_wait_list_size"), "1");
    let group = supergroups[0]
        .children()
        .find(|c| c.has_tag_name("group"))
        .expect("group");
    assert_eq!(group.attribute("default"), Some("true"));
    assert_eq!(text(group, "app_root"), "/srv/root-app");
    assert_eq!(text(group, "processes_being_spawned"), "1");
    assert_eq!(text(group, "uid"), "0");
    let processes: Vec<_> = group
        .descendants()
        .filter(|n| n.has_tag_name("process"))
        .collect();
    assert_eq!(processes.len(), 2);
    let p = processes[0];
    for name in [
        "pid",
        "sessions",
        "processed",
        "cpu",
        "real_memory",
        "spawn_start_time",
    ] {
        text(p, name)
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("{name} is a number"));
    }
    assert_eq!(text(p, "spawn_start_time"), "1699999875000000");
    assert_eq!(text(p, "uptime"), "2m 5s");
    assert_eq!(text(p, "last_used_desc"), "3s ago");
    assert_eq!(text(p, "enabled"), "ENABLED");
    assert_eq!(text(processes[1], "enabled"), "DETACHED");
    assert!(!xml.contains("secret-"), "no secrets unless asked");
    assert!(sample()
        .to_xml(true)
        .contains("<connect_password>secret-100<"));
}

#[test]
fn durations_in_words() {
    assert_eq!(duration_words(0), "0s");
    assert_eq!(duration_words(59), "59s");
    assert_eq!(duration_words(125), "2m 5s");
    assert_eq!(duration_words(3600), "1h 0m 0s");
    assert_eq!(duration_words(90_061), "1d 1h 1m 1s");
}

#[test]
fn live_facts_about_this_process() {
    let me = std::process::id();
    let facts = LiveProc;
    assert_eq!(facts.uid(me), Some(nix::unistd::geteuid().as_raw()));
    assert!(facts.rss_kib(me).is_some_and(|kib| kib > 0));
    assert!(facts.cpu_percent(me).is_some());
    assert_eq!(facts.uid(u32::MAX), None);
    assert_eq!(facts.user_name(0).as_deref(), Some("root"));
}

// === The text form ===

#[test]
fn the_pool_text_has_passengers_layout() {
    let text = sample().to_text(false);
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
    let first = regex::Regex::new(
        r"^  \* PID: (\d+) +Sessions: (\d+) +Processed: (\d+) +Uptime: ((\d+[dhms] ?)+)$",
    )
    .expect("regex");
    let second =
        regex::Regex::new(r"^    CPU: (\d+)% +Memory  : (\d+)M +Last used: ((\d+[dhms] ?)+) ago$")
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
    let text = sample().to_text(true);
    assert!(text.contains("    URL     : http://127.0.0.1:40100\n    Password: secret-100\n"));
    let without = sample().without_secrets().to_text(true);
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
    let text = pool.to_text(false);
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
