use ferry_test_support::prometheus::{parse_exposition, value};

use super::*;
use crate::pool::tests::sample as sample_pool;

#[test]
fn pool_gauges_at_scrape_time() {
    let metrics = Metrics::new(["/srv/root-app"]);
    let pool = sample_pool();
    let samples = parse_exposition(&render(&metrics, &pool, &[]));
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
    assert_eq!(render(&Metrics::disabled(), &sample_pool(), &[]), "");
}

// Issue 19, TLS:
#[test]
fn certificates_expiry_is_a_gauge() {
    let metrics = Metrics::new(["/srv/root-app"]);
    let certificates = [crate::types::CertificateStatus {
        file: "/etc/ssl/site.pem".into(),
        origin: "ferry.conf:4".into(),
        subject: "CN=site.test".into(),
        not_after: 1_900_000_000,
    }];
    let samples = parse_exposition(&render(&metrics, &sample_pool(), &certificates));
    assert_eq!(
        value(
            &samples,
            "ferry_tls_certificate_expiry_timestamp_seconds",
            &[("file", "/etc/ssl/site.pem"), ("subject", "CN=site.test")]
        ),
        Some(1_900_000_000.0)
    );
}
