//! Nginx's units, read as nginx reads them: sizes (`1024`, `64k`, `10m`, `1g`) and times (`60`,
//! `60s`, `1m30s`, `500ms`). The directive table checks values with them, the planner and
//! `ferry start` turn values into numbers with them, so a value means the same everywhere.

use std::time::Duration;

/// A size in bytes: digits with an optional `k`, `m` or `g` suffix in either case (nginx's
/// `ngx_parse_size`). `None` when it is not one, or overflows.
pub fn size(value: &str) -> Option<u64> {
    let (digits, unit) = match value.as_bytes().last()? {
        b'k' | b'K' => (&value[..value.len() - 1], 1 << 10),
        b'm' | b'M' => (&value[..value.len() - 1], 1 << 20),
        b'g' | b'G' => (&value[..value.len() - 1], 1 << 30),
        _ => (value, 1),
    };
    digits_of(digits)?.checked_mul(unit)
}

/// A time (nginx's `ngx_parse_time`): numbers each followed by a unit, largest unit first
/// (`1h30m`), where a number without a unit is seconds and must come last. Units: `ms`, `s`,
/// `m` (minutes), `h`, `d`, `w`, `M` (30 days), `y` (365 days). `None` when it is not one.
pub fn time(value: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 8] = [
        ("y", 365 * 86_400_000),
        ("M", 30 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    let mut rest = value;
    let mut total_ms: u64 = 0;
    // The rank of the last unit seen: each must be smaller than the one before.
    let mut last_rank = u64::MAX;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits_end = rest
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        let number = digits_of(&rest[..digits_end])?;
        rest = &rest[digits_end..];
        let (unit_len, ms) = match UNITS.iter().find(|(unit, _)| rest.starts_with(unit)) {
            Some((unit, ms)) => (unit.len(), *ms),
            // A bare number is seconds, and only at the end.
            None if rest.is_empty() => (0, 1_000),
            None => return None,
        };
        if ms >= last_rank {
            return None;
        }
        last_rank = ms;
        total_ms = total_ms.checked_add(number.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_millis(total_ms))
}

/// Plain decimal digits, as nginx reads numbers: no sign, no spaces.
fn digits_of(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_nginx_suffixes() {
        assert_eq!(size("1024"), Some(1024));
        assert_eq!(size("16k"), Some(16 * 1024));
        assert_eq!(size("10M"), Some(10 << 20));
        assert_eq!(size("1g"), Some(1 << 30));
        assert_eq!(size("0"), Some(0));
        for bad in ["", "k", "10mb", "-1", "1.5m", " 1", "99999999999999999999g"] {
            assert_eq!(size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_size_defaults_parse() {
        use crate::defaults as d;
        assert_eq!(size(d::CLIENT_MAX_BODY_SIZE), Some(1 << 20));
        assert_eq!(size(d::START_CLIENT_MAX_BODY_SIZE), Some(1 << 30));
        assert_eq!(size(d::CLIENT_BODY_BUFFER_SIZE), Some(16 << 10));
    }

    #[test]
    fn times_take_nginx_units() {
        let secs = Duration::from_secs;
        assert_eq!(time("60"), Some(secs(60)));
        assert_eq!(time("60s"), Some(secs(60)));
        assert_eq!(time("1m"), Some(secs(60)));
        assert_eq!(time("1m30s"), Some(secs(90)));
        assert_eq!(time("1h5"), Some(secs(3605)));
        assert_eq!(time("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(time("1d"), Some(secs(86_400)));
        assert_eq!(time("0"), Some(Duration::ZERO));
        for bad in ["", "s", "1x", "30s1m", "1m1m", "1.5s", "-1", "5 s", "1s2"] {
            assert_eq!(time(bad), None, "{bad:?}");
        }
    }
}
