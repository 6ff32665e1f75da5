//! Durations in config files: `30s`, `5m`, `1h30m`, `2d`, `250ms`.

use std::time::Duration;

/// Parses a duration such as `30s`, `5m`, `1h30m`, `2d` or `250ms`.
///
/// # Errors
/// A message saying what was expected.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("`{s}` is not a duration: expected e.g. 30s, 5m, 1h30m, 2d or 250ms");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total_ms: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms = match unit {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => return Err(bad()),
        };
        let v = n * ms;
        if !v.is_finite() || !(0.0..=3.2e13).contains(&v) {
            return Err(bad());
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            total_ms += v.round() as u128;
        }
    }
    let ms = u64::try_from(total_ms).map_err(|_| bad())?;
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_forms() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn refuses_the_rest() {
        for s in ["", "5", "m", "5 minutes", "-5s", "5x", "1e999s"] {
            assert!(parse(s).is_err(), "{s}");
        }
    }
}

/// The longest range selector (`[1m]`, `[5m:30s]`'s range) in a PromQL query, in ms: how far
/// back one value of the query reaches. `None` when the query has none (an instant reading).
#[must_use]
pub fn longest_range_ms(query: &str) -> Option<i64> {
    let mut best: Option<i64> = None;
    let mut rest = query;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inner = &after[..close];
        let range = inner.split(':').next().unwrap_or_default();
        if let Ok(d) = parse(range) {
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            best = Some(best.map_or(ms, |b| b.max(ms)));
        }
        rest = &after[close..];
    }
    best
}

#[cfg(test)]
mod range_tests {
    use super::longest_range_ms;

    #[test]
    fn the_longest_range_of_a_query_is_its_window() {
        assert_eq!(
            longest_range_ms("sum by (c)(rate(e[1m])) / sum by (c)(rate(r[5m]))"),
            Some(300_000)
        );
        assert_eq!(longest_range_ms("max_over_time(x[10m:30s])"), Some(600_000));
        assert_eq!(longest_range_ms("process_resident_memory_bytes"), None);
        assert_eq!(longest_range_ms("x{a=\"[\"}"), None);
    }
}
