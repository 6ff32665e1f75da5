//! The `when` expression of an alert rule:
//!
//! - `new > 0.5` / `legacy >= 2s` — a cohort against a threshold;
//! - `new > 1.5 * legacy` (or `1.5x legacy`) — new against a multiple of legacy;
//! - `new - legacy > 0.2` — the difference (percentage points for ratios);
//! - `saving < 90` — the saving `1 − new/legacy` in percent.
//!
//! Thresholds may carry a unit matching the metric (`0.5%`, `500ms`, `2s`, `400MiB`).

use crate::alerts::{Condition, Op};
use crate::model::{Cohort, Unit};

const FORMS: &str = "expected `new > 0.5`, `legacy >= 2s`, `new > 1.5 * legacy`, \
                     `new - legacy > 0.2` or `saving < 90`";

/// Parses a threshold with an optional unit into the metric's display unit.
///
/// # Errors
/// When it is not a number or its unit does not fit the metric.
pub fn threshold(s: &str, unit: Unit) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')
        })
        .unwrap_or(t.len());
    // `e` inside a unit (none here) would be ambiguous; units start with a letter other than e.
    let (num, suffix) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !n.is_finite() {
        return Err(format!("`{s}` is not a finite number"));
    }
    let suffix = suffix.trim();
    #[allow(clippy::match_same_arms)] // a unit table: one line per suffix, equal factors or not
    let factor = match (unit, suffix) {
        (_, "") => 1.0,
        (Unit::Percent, "%") => 1.0,
        (Unit::Millis, "ms") => 1.0,
        (Unit::Millis, "s") => 1000.0,
        (Unit::Millis, "m") => 60_000.0,
        (Unit::Bytes, "B") => 1.0,
        (Unit::Bytes, "KB") => 1e3,
        (Unit::Bytes, "MB") => 1e6,
        (Unit::Bytes, "GB") => 1e9,
        (Unit::Bytes, "KiB") => 1024.0,
        (Unit::Bytes, "MiB") => 1024.0 * 1024.0,
        (Unit::Bytes, "GiB") => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "unit `{suffix}` does not fit a metric measured in {}",
                match unit {
                    Unit::Percent => "percent (use %)",
                    Unit::Millis => "milliseconds (use ms, s or m)",
                    Unit::Bytes => "bytes (use B, KB, MB, GB, KiB, MiB, GiB)",
                    Unit::Count => "plain counts (no unit)",
                }
            ));
        }
    };
    Ok(n * factor)
}

/// Parses a `when` expression for a metric measured in `unit`.
///
/// # Errors
/// A message naming the expected forms.
pub fn parse(s: &str, unit: Unit) -> Result<(Cohort, Condition), String> {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let op = |t: &str| {
        Op::parse(t).ok_or_else(|| format!("`{t}` is not a comparison (>, >=, <, <=); {FORMS}"))
    };
    match toks.as_slice() {
        ["saving", o, v] => Ok((
            Cohort::New,
            Condition::Saving {
                op: op(o)?,
                value: threshold(v.trim_end_matches('%'), Unit::Count)?,
            },
        )),
        ["new", "-", "legacy", o, v] => Ok((
            Cohort::New,
            Condition::DeltaToLegacy {
                op: op(o)?,
                value: threshold(v, unit)?,
            },
        )),
        ["new", o, f, "*", "legacy"] => Ok((
            Cohort::New,
            Condition::RatioToLegacy {
                op: op(o)?,
                factor: threshold(f, Unit::Count)?,
            },
        )),
        ["new", o, f, "legacy"] if f.ends_with('x') => Ok((
            Cohort::New,
            Condition::RatioToLegacy {
                op: op(o)?,
                factor: threshold(f.trim_end_matches('x'), Unit::Count)?,
            },
        )),
        [c @ ("new" | "legacy"), o, v] => Ok((
            if *c == "new" {
                Cohort::New
            } else {
                Cohort::Legacy
            },
            Condition::Absolute {
                op: op(o)?,
                value: threshold(v, unit)?,
            },
        )),
        _ => Err(format!("cannot read `{s}`: {FORMS}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form() {
        assert_eq!(
            parse("new > 0.5%", Unit::Percent).unwrap(),
            (
                Cohort::New,
                Condition::Absolute {
                    op: Op::Gt,
                    value: 0.5
                }
            )
        );
        assert_eq!(
            parse("legacy >= 2s", Unit::Millis).unwrap(),
            (
                Cohort::Legacy,
                Condition::Absolute {
                    op: Op::Ge,
                    value: 2000.0
                }
            )
        );
        assert_eq!(
            parse("new > 1.5 * legacy", Unit::Millis).unwrap().1,
            Condition::RatioToLegacy {
                op: Op::Gt,
                factor: 1.5
            }
        );
        assert_eq!(
            parse("new > 1.5x legacy", Unit::Millis).unwrap().1,
            Condition::RatioToLegacy {
                op: Op::Gt,
                factor: 1.5
            }
        );
        assert_eq!(
            parse("new - legacy > 0.2", Unit::Percent).unwrap().1,
            Condition::DeltaToLegacy {
                op: Op::Gt,
                value: 0.2
            }
        );
        assert_eq!(
            parse("saving < 90%", Unit::Count).unwrap().1,
            Condition::Saving {
                op: Op::Lt,
                value: 90.0
            }
        );
        assert_eq!(
            parse("new > 400MiB", Unit::Bytes).unwrap().1,
            Condition::Absolute {
                op: Op::Gt,
                value: 400.0 * 1024.0 * 1024.0
            }
        );
    }

    #[test]
    fn clear_errors() {
        assert!(
            parse("new => 5", Unit::Count)
                .unwrap_err()
                .contains("not a comparison")
        );
        assert!(
            parse("errors > 5", Unit::Count)
                .unwrap_err()
                .contains("expected")
        );
        assert!(
            parse("new > 5ms", Unit::Percent)
                .unwrap_err()
                .contains("percent")
        );
        assert!(
            parse("new > abc", Unit::Count)
                .unwrap_err()
                .contains("not a number")
        );
    }
}
