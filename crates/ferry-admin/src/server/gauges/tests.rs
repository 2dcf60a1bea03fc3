use ferry_test_support::prometheus::{parse_exposition, value};

use super::*;
use crate::pool::tests::sample as sample_pool;

#[test]
fn pool_gauges_at_scrape_time() {
    let metrics = Metrics::new(["/srv/root-app"]);
    let pool = sample_pool();
    let samples = parse_exposition(&render(&metrics, &pool));
    assert_eq!(value(&samples, "ferry_pool_max_processes", &[]), Some(6.0));
    assert_eq!(value(&samples, "ferry_pool_capacity_used", &[]), Some(4.0));
    let processes = |state| {
        value(
            &samples,
            "ferry_app_processes",
            &[("app", "/srv/root-app"), ("state", state)],
        )
    };
    assert_eq!(processes("alive"), Some(1.0));
    assert_eq!(processes("shutting_down"), Some(1.0));
    assert_eq!(processes("spawning"), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "ferry_process_private_dirty_bytes",
            &[("pid", "100")]
        ),
        Some(1000.0 * 1024.0)
    );
    assert_eq!(
        value(
            &samples,
            "ferry_app_queue_length",
            &[("app", "/srv/root-app")]
        ),
        Some(1.0)
    );
}

#[test]
fn disabled_metrics_show_no_pool_gauges() {
    assert_eq!(render(&Metrics::disabled(), &sample_pool()), "");
}
