//! A strict parser of the Prometheus text exposition format, for tests: what `/metrics`
//! answers must be something Prometheus would take.

use std::collections::{BTreeMap, HashMap};

/// One parsed sample line.
#[derive(Debug)]
pub struct Sample {
    /// The sample's name (`ferry_x_bucket` for a histogram's bucket).
    pub name: String,
    /// Its labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Parses the text exposition format line by line, failing on anything malformed: every sample
/// belongs to a family whose `# TYPE` came first (once), names and labels are well-formed,
/// values are numbers, and each histogram's buckets are cumulative and end with `+Inf` equal to
/// `_count`.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
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
            comment_line(rest, n, &name_re, &mut types, &samples);
        } else {
            samples.push(sample_line(line, n, &name_re, &types));
        }
    }
    check_histograms(&samples, &types);
    samples
}

/// A `# HELP` or `# TYPE` line (`rest` after the `# `), line `n`. A `TYPE` is recorded in
/// `types`, once per family and before its samples.
fn comment_line(
    rest: &str,
    n: usize,
    name_re: &regex::Regex,
    types: &mut HashMap<String, String>,
    samples: &[Sample],
) {
    let mut parts = rest.splitn(3, ' ');
    let kind = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    assert!(name_re.is_match(name), "line {n}: metric name {name:?}");
    if kind != "TYPE" {
        assert_eq!(kind, "HELP", "line {n}: unknown comment");
        return;
    }
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
        !samples.iter().any(|s| family(&s.name, types) == name),
        "line {n}: TYPE after samples"
    );
}

/// A sample line, line `n`, of a family whose `TYPE` is in `types`.
fn sample_line(
    line: &str,
    n: usize,
    name_re: &regex::Regex,
    types: &HashMap<String, String>,
) -> Sample {
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
    let fam = family(name, types);
    assert!(types.contains_key(&fam), "line {n}: {name} has no TYPE");
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
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

/// The value of the first sample called `name` that carries every label in `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
