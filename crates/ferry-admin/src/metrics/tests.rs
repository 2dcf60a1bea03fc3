use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::*;
use crate::pool::tests::sample as sample_pool;

/// One parsed sample line.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// Parses the text exposition format line by line, failing on anything malformed: every sample
/// belongs to a family whose `# TYPE` came first (once), names and labels are well-formed,
/// values are numbers, and each histogram's buckets are cumulative and end with `+Inf` equal to
/// `_count`.
pub(crate) fn parse_exposition(text: &str) -> Vec<Sample> {
    let name_re = regex::Regex::new(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$").expect("regex");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "ends with a line feed"
    );
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            assert!(name_re.is_match(name), "line {n}: metric name {name:?}");
            if kind == "TYPE" {
                let t = parts.next().unwrap_or_default();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "line {n}: type {t:?}"
                );
                assert!(
                    types.insert(name.to_owned(), t.to_owned()).is_none(),
                    "line {n}: second TYPE for {name}"
                );
                assert!(
                    !samples
                        .iter()
                        .any(|s: &Sample| family(&s.name, &types) == name),
                    "line {n}: TYPE after samples"
                );
            } else {
                assert_eq!(kind, "HELP", "line {n}: unknown comment");
            }
            continue;
        }
        assert!(!line.is_empty(), "line {n}: empty line");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("line {n}: no value"),
        };
        assert!(name_re.is_match(name), "line {n}: metric name {name:?}");
        let (labels, value) = if let Some(rest) = rest.strip_prefix('{') {
            parse_labels(rest, n)
        } else {
            (BTreeMap::new(), rest)
        };
        let value = value
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("line {n}: a space before the value"));
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("line {n}: value {v:?}")),
        };
        let fam = family(name, &types);
        assert!(types.contains_key(&fam), "line {n}: {name} has no TYPE");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    check_histograms(&samples, &types);
    samples
}

fn parse_labels(text: &str, n: usize) -> (BTreeMap<String, String>, &str) {
    let label_re = regex::Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]*$").expect("regex");
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let eq = rest
            .find("=\"")
            .unwrap_or_else(|| panic!("line {n}: label"));
        let name = &rest[..eq];
        assert!(label_re.is_match(name), "line {n}: label name {name:?}");
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break eq + 2 + i + 1,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => panic!("line {n}: bad escape {other:?}"),
                },
                Some((_, '\n')) | None => panic!("line {n}: unterminated label value"),
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = &rest[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn family(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).is_some_and(|t| t == "histogram") {
                return base.to_owned();
            }
        }
    }
    name.to_owned()
}

fn check_histograms(samples: &[Sample], types: &HashMap<String, String>) {
    for (name, t) in types {
        if t != "histogram" {
            continue;
        }
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == format!("{name}_bucket"))
        {
            let mut labels = s.labels.clone();
            let le = labels.remove("le").expect("le label");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("le")
            };
            series
                .entry(format!("{labels:?}"))
                .or_default()
                .push((le, s.value));
        }
        for (labels, buckets) in series {
            for pair in buckets.windows(2) {
                assert!(pair[0].0 < pair[1].0, "{name}{labels}: bounds ascend");
                assert!(pair[0].1 <= pair[1].1, "{name}{labels}: cumulative");
            }
            let (last_le, last) = *buckets.last().expect("buckets");
            assert!(last_le.is_infinite(), "{name}{labels}: ends with +Inf");
            let count = samples
                .iter()
                .find(|s| {
                    s.name == format!("{name}_count") && { format!("{:?}", s.labels) == labels }
                })
                .expect("_count");
            assert_eq!(count.value, last, "{name}{labels}: +Inf equals _count");
        }
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

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

    let text = metrics.render(None);
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
fn pool_gauges_at_scrape_time() {
    let metrics = Metrics::new(["/srv/root-app"]);
    let pool = sample_pool();
    let samples = parse_exposition(&metrics.render(Some(&pool)));
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
fn disabled_metrics_record_and_render_nothing() {
    let metrics = Metrics::disabled();
    assert!(!metrics.is_enabled());
    let app = metrics.app("/srv/a");
    metrics.record_response(app, 200, Duration::from_millis(1));
    metrics.record_queue_wait(app, Duration::from_millis(1));
    metrics.record_spawn(app, Duration::from_millis(1), false);
    assert_eq!(metrics.render(Some(&sample_pool())), "");
}

#[test]
fn the_parser_rejects_what_prometheus_would() {
    for bad in [
        "x 1\n",                                     // no TYPE
        "# TYPE x counter\nx{a=\"b} 1\n",            // unterminated label
        "# TYPE x counter\nx one\n",                 // not a number
        "# TYPE x counter\n# TYPE x counter\nx 1\n", // TYPE twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
    ] {
        let result = std::panic::catch_unwind(|| parse_exposition(bad));
        assert!(result.is_err(), "accepted {bad:?}");
    }
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
    let spawner = MeteredSpawner::new(Failing, Arc::clone(&metrics));
    let options = SpawnOptions::generic("/apps/x", "true");
    assert_eq!(options.app_group_name, "/apps/x");
    assert!(spawner.spawn(&options).await.is_err());
    spawner.shutdown().await;
    let samples = parse_exposition(&metrics.render(None));
    assert_eq!(
        value(
            &samples,
            "ferry_spawn_failures_total",
            &[("app", "/apps/x")]
        ),
        Some(1.0)
    );
}
