//! `ferry memory-stats` against a running Ferry (issue 7, item 5): Ferry's own process and its
//! app process appear in the Ferry section with their threads and private dirty memory.

use std::process::Command;
use std::time::Duration;

use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, client, procfs, require_program, trace_init, Ferry};

const LIMIT: Duration = Duration::from_secs(60);

fn memory_stats(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["memory-stats", "--format", format])
        .output()
        .expect("ferry memory-stats runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn shows_ferry_and_its_app_process() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let ferry = Ferry::new(
            env!("CARGO_BIN_EXE_ferry"),
            apps::fixtures_dir().join("wsgi-stub"),
        )
        .spawn()
        .await
        .expect("ferry starts");
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let app = ferry
            .descendants()
            .into_iter()
            .find(|&pid| procfs::cmdline(pid).is_some_and(|c| c.contains("wsgi-loader")))
            .expect("an app process");

        let json: serde_json::Value = serde_json::from_str(&memory_stats("json")).unwrap();
        let sections = json["sections"].as_array().unwrap();
        let ferry_section = sections
            .iter()
            .find(|s| s["name"] == "ferry")
            .expect("a Ferry section");
        assert_eq!(ferry_section["title"], "Ferry processes");
        for pid in [ferry.pid(), app] {
            let process = ferry_section["processes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["pid"] == pid)
                .unwrap_or_else(|| panic!("pid {pid} missing from {ferry_section:#}"));
            assert!(
                process["private_dirty_kib"].as_u64().unwrap() > 0,
                "{process}"
            );
            assert!(process["threads"].as_u64().unwrap() >= 1, "{process}");
            assert!(process["vm_size_kib"].as_u64().unwrap() > 0, "{process}");
        }
        assert!(json["version"].is_string() && json["date"].is_string());

        let text = memory_stats("text");
        assert!(text.starts_with("Version : ferry "), "{text}");
        assert!(text.contains("\nDate    : "), "{text}");
        let title = text
            .lines()
            .find(|l| l.contains(" Ferry processes "))
            .expect("the Ferry section's title");
        assert!(
            title.starts_with("---") && title.ends_with("---"),
            "{title}"
        );
        assert!(
            text.lines().any(|l| l.starts_with("PID  ")
                && l.split_whitespace()
                    .eq(["PID", "PPID", "Threads", "VMSize", "Private", "Name"])),
            "{text}"
        );
        assert!(text.contains(&format!("\n{} ", ferry.pid())), "{text}");
        assert!(text.contains("### Processes: "), "{text}");
        assert!(text.contains("### Total private dirty RSS: "), "{text}");
    })
    .await;
}
