//! Values with units, as apps print them on their own dashboards (`"2.50%"`, `"183ms"`,
//! `"1.2s"`, `"1.2 GiB"`, `"350MB"`, `"1m30s"`), turned into rollwatch's display units
//! (percent, milliseconds, bytes, counts).
//!
//! The configured [`ValueUnit`] says what a bare number means (`0.025` with `ratio` is 2.5 %,
//! `1.2` with `seconds` is 1200 ms). A suffix in a string wins over it, as long as it measures
//! the same kind of quantity: `"183ms"` is accepted for a `seconds` metric, `"183MB"` is not.
//! Everything here is pure and never panics.

use serde::Deserialize;
use thiserror::Error;

use crate::model::Unit;

/// What a bare number of a metric means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueUnit {
    /// Already in percent (`2.5` is 2.5 %).
    Percent,
    /// A fraction (`0.025` is 2.5 %).
    Ratio,
    /// Milliseconds.
    #[serde(alias = "ms")]
    Millis,
    /// Seconds.
    #[serde(alias = "s")]
    Seconds,
    /// Bytes.
    Bytes,
    /// A plain count.
    Count,
}

impl ValueUnit {
    /// The display unit values of this kind are stored in.
    #[must_use]
    pub fn display(self) -> Unit {
        match self {
            ValueUnit::Percent | ValueUnit::Ratio => Unit::Percent,
            ValueUnit::Millis | ValueUnit::Seconds => Unit::Millis,
            ValueUnit::Bytes => Unit::Bytes,
            ValueUnit::Count => Unit::Count,
        }
    }

    /// Factor from a bare number to the display unit.
    #[must_use]
    pub fn factor(self) -> f64 {
        match self {
            ValueUnit::Ratio => 100.0,
            ValueUnit::Seconds => 1000.0,
            ValueUnit::Percent | ValueUnit::Millis | ValueUnit::Bytes | ValueUnit::Count => 1.0,
        }
    }
}

/// Why a value could not be read.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum UnitError {
    /// No number where one was expected.
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// A suffix that is not a unit of this metric's kind.
    #[error("unit `{suffix}` does not fit a {expected} metric")]
    WrongUnit {
        /// The suffix found.
        suffix: String,
        /// The kind of quantity the metric measures (`time`, `size`, ...).
        expected: &'static str,
    },
}

const MAX_SHOWN: usize = 40;

fn shown(s: &str) -> String {
    s.chars().take(MAX_SHOWN).collect()
}

/// Splits a leading decimal number (sign, digits, fraction, exponent) from the rest.
/// Returns `None` when the text does not start with a number.
fn split_number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        let f_start = i + 1;
        let mut j = f_start;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j > f_start || digits > 0 {
            digits += j - f_start;
            i = j;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let e_start = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j > e_start {
            i = j;
        }
    }
    // Every byte before `i` is ASCII, so `i` is a char boundary.
    let n: f64 = s.get(..i)?.parse().ok()?;
    Some((n, s.get(i..)?))
}

fn time_factor(suffix: &str) -> Option<f64> {
    Some(match suffix {
        "ns" => 1e-6,
        "us" | "µs" | "μs" => 1e-3,
        "ms" => 1.0,
        "s" | "sec" | "secs" => 1000.0,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hr" => 3_600_000.0,
        _ => return None,
    })
}

fn byte_factor(suffix: &str) -> Option<f64> {
    const K: f64 = 1024.0;
    Some(match suffix.to_ascii_lowercase().as_str() {
        "b" | "bytes" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => K,
        "mib" => K * K,
        "gib" => K * K * K,
        "tib" => K * K * K * K,
        _ => return None,
    })
}

fn count_factor(suffix: &str) -> Option<f64> {
    Some(match suffix {
        "k" | "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        _ => return None,
    })
}

/// Reads a JSON number given in `unit` into the display unit. NaN is *no data* (`None`).
#[must_use]
pub fn scale_number(v: f64, unit: ValueUnit) -> Option<f64> {
    (!v.is_nan()).then(|| v * unit.factor())
}

/// Reads a string value (`"2.50%"`, `"183ms"`, `"1.2 GiB"`, `"1m30s"`, `"42"`) into the display
/// unit of `unit`. `"NaN"`, `""` and `"-"` are *no data* (`Ok(None)`).
///
/// # Errors
/// When the text is not a number, or carries a unit of another kind of quantity.
pub fn parse_value(text: &str, unit: ValueUnit) -> Result<Option<f64>, UnitError> {
    let t = text.trim();
    if t.is_empty() || t == "-" || t.eq_ignore_ascii_case("nan") || t.eq_ignore_ascii_case("n/a") {
        return Ok(None);
    }
    if let Ok(v) = t.parse::<f64>() {
        return Ok(scale_number(v, unit));
    }
    let (n, rest) = split_number(t).ok_or_else(|| UnitError::NotANumber(shown(t)))?;
    let suffix = rest.trim();
    let wrong = |expected| UnitError::WrongUnit {
        suffix: shown(suffix),
        expected,
    };
    let value = match unit.display() {
        Unit::Percent => match suffix {
            "%" => n,
            _ => return Err(wrong("percentage")),
        },
        Unit::Bytes => n * byte_factor(suffix).ok_or_else(|| wrong("size"))?,
        Unit::Count => n * count_factor(suffix).ok_or_else(|| wrong("count"))?,
        Unit::Millis => {
            return parse_duration(n, rest)
                .map(Some)
                .map_err(|()| wrong("time"));
        }
    };
    Ok(Some(value))
}

/// A duration made of one or more `number unit` parts (`1.2s`, `1m30s`, `2h 5m`), in ms.
fn parse_duration(first: f64, rest: &str) -> Result<f64, ()> {
    let mut total = 0.0;
    let mut n = first;
    let mut rest = rest.trim_start();
    loop {
        let end = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '.')
            .unwrap_or(rest.len());
        let (suffix, after) = rest.split_at(end);
        total += n * time_factor(suffix).ok_or(())?;
        let after = after.trim_start();
        if after.is_empty() {
            return Ok(total);
        }
        // A further part must not be signed: `1m-30s` is not a duration.
        if after.starts_with(['+', '-']) {
            return Err(());
        }
        let (next, r) = split_number(after).ok_or(())?;
        n = next;
        rest = r.trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str, u: ValueUnit) -> Option<f64> {
        parse_value(s, u).unwrap()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
    }

    #[test]
    fn percentages() {
        assert!(close(p("2.50%", ValueUnit::Percent), 2.5));
        assert!(close(p("2.50 %", ValueUnit::Ratio), 2.5), "a suffix wins");
        assert!(close(p("0.025", ValueUnit::Ratio), 2.5));
        assert!(close(p("2.5", ValueUnit::Percent), 2.5));
        assert!(close(scale_number(0.5, ValueUnit::Ratio), 50.0));
    }

    #[test]
    fn durations() {
        assert!(close(p("183ms", ValueUnit::Millis), 183.0));
        assert!(close(p("1.2s", ValueUnit::Millis), 1200.0));
        assert!(close(p("1.2", ValueUnit::Seconds), 1200.0));
        assert!(
            close(p("183ms", ValueUnit::Seconds), 183.0),
            "a suffix wins"
        );
        assert!(close(p("1m30s", ValueUnit::Millis), 90_000.0));
        assert!(close(p("2h 5m", ValueUnit::Millis), 7_500_000.0));
        assert!(close(p("250µs", ValueUnit::Millis), 0.25));
        assert!(close(p("1.5e3 ms", ValueUnit::Millis), 1500.0));
    }

    #[test]
    fn sizes() {
        assert!(close(
            p("1.2 GiB", ValueUnit::Bytes),
            1.2 * 1024.0 * 1024.0 * 1024.0
        ));
        assert!(close(p("350MB", ValueUnit::Bytes), 350e6));
        assert!(close(p("512 KiB", ValueUnit::Bytes), 524_288.0));
        assert!(close(p("42", ValueUnit::Bytes), 42.0));
    }

    #[test]
    fn counts() {
        assert!(close(p("1.2k", ValueUnit::Count), 1200.0));
        assert!(close(p("3", ValueUnit::Count), 3.0));
        assert!(close(p("-4", ValueUnit::Count), -4.0));
        assert!(close(p("1e-07", ValueUnit::Count), 1e-7));
    }

    #[test]
    fn no_data_is_none_not_zero() {
        for s in ["", "  ", "NaN", "nan", "-", "n/a"] {
            assert_eq!(parse_value(s, ValueUnit::Millis), Ok(None), "{s:?}");
        }
        assert_eq!(scale_number(f64::NAN, ValueUnit::Ratio), None);
    }

    #[test]
    fn wrong_units_and_garbage_are_errors() {
        assert_eq!(
            parse_value("183MB", ValueUnit::Millis),
            Err(UnitError::WrongUnit {
                suffix: "MB".into(),
                expected: "time"
            })
        );
        assert!(matches!(
            parse_value("2.5ms", ValueUnit::Percent),
            Err(UnitError::WrongUnit { .. })
        ));
        assert!(matches!(
            parse_value("fast", ValueUnit::Millis),
            Err(UnitError::NotANumber(_))
        ));
        assert!(parse_value("1m-30s", ValueUnit::Millis).is_err());
        assert!(parse_value("1m30", ValueUnit::Millis).is_err());
        assert!(parse_value(".", ValueUnit::Count).is_err());
        assert!(parse_value("e5", ValueUnit::Count).is_err());
    }

    #[test]
    fn units_deserialize_from_config_names() {
        #[derive(Deserialize)]
        struct W {
            u: ValueUnit,
        }
        let w: W = toml::from_str("u = \"ms\"").unwrap();
        assert_eq!(w.u, ValueUnit::Millis);
        let w: W = toml::from_str("u = \"ratio\"").unwrap();
        assert_eq!(w.u, ValueUnit::Ratio);
        assert!(toml::from_str::<W>("u = \"furlongs\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            for u in [ValueUnit::Percent, ValueUnit::Ratio, ValueUnit::Millis,
                      ValueUnit::Seconds, ValueUnit::Bytes, ValueUnit::Count] {
                let _ = parse_value(&s, u);
            }
        }

        #[test]
        fn never_panics_on_unit_like_text(s in "[-+0-9.eE ]{0,8}(ms|s|m|h|%|GiB|MB|k|µs|)[0-9.ms ]{0,6}") {
            for u in [ValueUnit::Percent, ValueUnit::Millis, ValueUnit::Bytes, ValueUnit::Count] {
                let _ = parse_value(&s, u);
            }
        }

        #[test]
        fn millis_round_trip(v in 0.0f64..1e9) {
            let got = parse_value(&format!("{v}ms"), ValueUnit::Seconds).unwrap().unwrap();
            prop_assert!((got - v).abs() <= 1e-9 * v.max(1.0));
        }
    }
}
