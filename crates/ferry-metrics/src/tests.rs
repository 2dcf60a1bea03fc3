use std::sync::Arc;
use std::time::Duration;

use ferry_spawn::{SpawnError, SpawnOptions, SpawnService, Spawned, Spawner};
use ferry_test_support::prometheus::{parse_exposition, value};

use super::*;

#[test]
fn counters_and_histograms_move_with_traffic() {
    let metrics = Metrics::new(["/srv/a", "/srv/\"odd\"\\app\n"]);
    let a = metrics.app("/srv/a");
    let odd = metrics.app("/srv/\"odd\"\\app\n");
    assert_ne!(a, AppId::NONE);
    assert_eq!(metrics.app("/srv/unknown"), AppId::NONE);
    metrics.record_response(a, 200, Duration::from_millis(3));
    metrics.record_response(a, 204, Duration::from_millis(30));
    metrics.record_response(a, 503, Duration::from_secs(20));
    metrics.record_response(odd, 999, Duration::ZERO);
    metrics.record_response(AppId::NONE, 404, Duration::from_micros(10));
    metrics.record_queue_wait(a, Duration::from_millis(2));
    metrics.record_spawn(a, Duration::from_millis(700), true);
    metrics.record_spawn(a, Duration::from_secs(2), false);

    let text = metrics.render();
    let samples = parse_exposition(&text);
    let requests = |app, code| {
        value(
            &samples,
            "ferry_http_requests_total",
            &[("app", app), ("code", code)],
        )
    };
    assert_eq!(requests("/srv/a", "2xx"), Some(2.0));
    assert_eq!(requests("/srv/a", "5xx"), Some(1.0));
    assert_eq!(requests("/srv/a", "4xx"), Some(0.0));
    assert_eq!(requests("/srv/\"odd\"\\app\n", "other"), Some(1.0));
    assert_eq!(requests("", "4xx"), Some(1.0));
    let bucket = |le| {
        value(
            &samples,
            "ferry_http_request_duration_seconds_bucket",
            &[("app", "/srv/a"), ("le", le)],
        )
    };
    assert_eq!(bucket("0.001"), Some(0.0));
    assert_eq!(bucket("0.005"), Some(1.0));
    assert_eq!(bucket("0.05"), Some(2.0));
    assert_eq!(bucket("10"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(3.0));
    let sum = value(
        &samples,
        "ferry_http_request_duration_seconds_sum",
        &[("app", "/srv/a")],
    )
    .expect("sum");
    assert!((sum - 20.033).abs() < 1e-9, "{sum}");
    assert_eq!(
        value(
            &samples,
            "ferry_queue_wait_seconds_count",
            &[("app", "/srv/a")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "ferry_spawn_duration_seconds_bucket",
            &[("app", "/srv/a"), ("le", "1")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "ferry_spawn_failures_total", &[("app", "/srv/a")]),
        Some(1.0)
    );
    // Spawns are per app: the no-app series has none.
    assert_eq!(
        value(&samples, "ferry_spawn_failures_total", &[("app", "")]),
        None
    );
}

#[test]
fn disabled_metrics_record_and_render_nothing() {
    let metrics = Metrics::disabled();
    assert!(!metrics.is_enabled());
    let app = metrics.app("/srv/a");
    metrics.record_response(app, 200, Duration::from_millis(1));
    metrics.record_queue_wait(app, Duration::from_millis(1));
    metrics.record_spawn(app, Duration::from_millis(1), false);
    assert_eq!(metrics.render(), "");
}

#[tokio::test]
async fn the_metered_spawner_times_spawns() {
    use ferry_spawn::{Category, Journey, Step};

    struct Failing;
    impl Spawner for Failing {
        async fn spawn(&self, _: &SpawnOptions) -> Result<Spawned, SpawnError> {
            Err(SpawnError::new(
                Category::Internal,
                Step::HandshakePerform,
                "no".into(),
                Journey::spawn_directly(),
            ))
        }
        async fn shutdown(&self) {}
    }
    let metrics = Arc::new(Metrics::new(["/apps/x"]));
    let spawner = MeteredSpawner::new(Arc::new(Failing), Arc::clone(&metrics));
    let options = SpawnOptions::generic("/apps/x", "true");
    assert_eq!(options.app_group_name, "/apps/x");
    assert!(spawner.spawn(options).await.is_err());
    spawner.shutdown().await;
    let samples = parse_exposition(&metrics.render());
    assert_eq!(
        value(
            &samples,
            "ferry_spawn_failures_total",
            &[("app", "/apps/x")]
        ),
        Some(1.0)
    );
}
