//! `--log-format json`: every line Ferry logs is one JSON object, app output included, with the
//! app's group and pid as fields of their own.

use std::time::Duration;

use ferry_test_support::{apps, bounded, client, require_program, trace_init, Ferry};

#[tokio::test]
async fn json_log_lines_are_objects_with_the_apps_fields() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(60), async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .args(["--log-format", "json"])
            .spawn()
            .await
            .expect("ferry starts");
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.text(), "hello");
        ferry
            .wait_for_log("node-test ready", Duration::from_secs(20))
            .await
            .unwrap();
        let log = ferry.log();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert!(!lines.is_empty());
        let output = lines
            .iter()
            .find(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("output: node-test ready"))
            })
            .expect("the app's output is logged");
        let root = std::fs::canonicalize(apps::node_test()).unwrap();
        assert_eq!(output["fields"]["app"], root.display().to_string());
        assert_eq!(output["level"], "INFO");
    })
    .await;
}
