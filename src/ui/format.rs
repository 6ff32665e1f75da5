//! Value, duration and glyph formatting shared by the panels.

use crate::model::Unit;

/// Glyphs for one character set.
#[derive(Debug, Clone, Copy)]
pub struct Glyphs {
    /// Sparkline levels, lowest first.
    pub spark: &'static [char],
    /// A gap in a sparkline.
    pub gap: char,
    /// Missing value.
    pub none: &'static str,
    /// Healthy.
    pub ok: &'static str,
    /// Firing / breach.
    pub fire: &'static str,
    /// Pending.
    pub pending: &'static str,
    /// Unknown.
    pub unknown: &'static str,
    /// Current step marker.
    pub here: &'static str,
    /// Arrow between old and new.
    pub arrow: &'static str,
    /// Gauge fill and empty.
    pub fill: char,
    /// Gauge empty.
    pub empty: char,
    /// Separator.
    pub sep: &'static str,
    /// Minus sign.
    pub minus: char,
}

/// Unicode glyphs.
pub const UNICODE: Glyphs = Glyphs {
    spark: &['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'],
    gap: ' ',
    none: "—",
    ok: "✔",
    fire: "✖",
    pending: "◔",
    unknown: "?",
    here: "▶",
    arrow: "→",
    fill: '█',
    empty: '░',
    sep: "│",
    minus: '−',
};

/// ASCII fallback.
pub const ASCII: Glyphs = Glyphs {
    spark: &['_', '.', '-', '~', '=', '+', '*', '#'],
    gap: ' ',
    none: "--",
    ok: "ok",
    fire: "!!",
    pending: "..",
    unknown: "?",
    here: ">",
    arrow: "->",
    fill: '#',
    empty: '.',
    sep: "|",
    minus: '-',
};

/// The glyphs for `ascii`.
#[must_use]
pub fn glyphs(ascii: bool) -> &'static Glyphs {
    if ascii { &ASCII } else { &UNICODE }
}

/// A value in its unit: `1.52%`, `377ms`, `1.20s`, `200MiB`, `9.0`. `None` is the dash.
#[must_use]
pub fn value(v: Option<f64>, unit: Unit, g: &Glyphs) -> String {
    let Some(v) = v else {
        return g.none.to_owned();
    };
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    match unit {
        Unit::Percent => {
            if v.abs() < 10.0 {
                format!("{v:.2}%")
            } else {
                format!("{v:.1}%")
            }
        }
        Unit::Millis => {
            if v.abs() >= 1000.0 {
                format!("{:.2}s", v / 1000.0)
            } else {
                format!("{v:.0}ms")
            }
        }
        Unit::Bytes => bytes(v),
        Unit::Count => {
            if v.abs() >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        }
    }
}

fn bytes(v: f64) -> String {
    const K: f64 = 1024.0;
    let a = v.abs();
    if a >= K * K * K {
        format!("{:.2}GiB", v / (K * K * K))
    } else if a >= K * K {
        format!("{:.0}MiB", v / (K * K))
    } else if a >= K {
        format!("{:.0}KiB", v / K)
    } else {
        format!("{v:.0}B")
    }
}

/// A signed difference in the unit: `+1.44pp`, `−148ms`.
#[must_use]
pub fn delta(d: f64, unit: Unit, g: &Glyphs) -> String {
    let sign = if d < 0.0 {
        g.minus.to_string()
    } else {
        "+".into()
    };
    let a = d.abs();
    let body = match unit {
        Unit::Percent => format!("{a:.2}pp"),
        _ => value(Some(a), unit, g),
    };
    format!("{sign}{body}")
}

/// A duration in ms as `45s`, `3m12s`, `2h05m`, `1d03h`.
#[must_use]
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A duration for values that tick for hours (time at a step, how long a rule has been in
/// its state): seconds only under ten minutes, so a long-running screen changes once a minute,
/// not every second (P3: few bytes when only ages tick).
#[must_use]
pub fn duration_coarse(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        600..3600 => format!("{}m", s / 60),
        _ => duration(ms),
    }
}

/// The age of data polled every `refresh_ms` while it is not stale: `≤2s` (at most two
/// intervals, the STALE boundary). Exact seconds would flicker with every poll and cost bytes
/// every second for no information; past two intervals the caller shows `STALE` and the exact age.
#[must_use]
pub fn age(refresh_ms: i64, g: &Glyphs) -> String {
    let le = if g.minus == '-' { "<=" } else { "≤" };
    format!("{le}{}", duration((refresh_ms * 2).max(1000)))
}

/// Text for the screen: in ASCII mode the few non-ASCII characters of rollwatch's own messages
/// become ASCII (`→` `->`, `−` `-`, `…` `...`, `—` `--`, `≤` `<=`, `×` `x`); anything else
/// non-ASCII (names from a backend) becomes `?`.
#[must_use]
pub fn asciify(text: &str, ascii: bool) -> std::borrow::Cow<'_, str> {
    if !ascii || text.is_ascii() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '→' => out.push_str("->"),
            '←' => out.push_str("<-"),
            '−' => out.push('-'),
            '…' => out.push_str("..."),
            '—' => out.push_str("--"),
            '≤' => out.push_str("<="),
            '×' => out.push('x'),
            c if c.is_ascii() => out.push(c),
            _ => out.push('?'),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Box borders for ASCII mode.
pub const ASCII_BORDER: ratatui::symbols::border::Set = ratatui::symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// A one-row sparkline over `points` on the scale `[lo, hi]`; gaps stay blank.
#[must_use]
pub fn sparkline(points: &[Option<f64>], lo: f64, hi: f64, g: &Glyphs) -> String {
    let levels = g.spark.len();
    points
        .iter()
        .map(|p| match p {
            Some(v) if v.is_finite() => {
                let span = hi - lo;
                let f = if span > 0.0 {
                    ((v - lo) / span).clamp(0.0, 1.0)
                } else {
                    0.5
                };
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let i = ((f * (levels - 1) as f64).round() as usize).min(levels - 1);
                g.spark[i]
            }
            _ => g.gap,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_their_units() {
        let g = &UNICODE;
        assert_eq!(value(Some(1.5234), Unit::Percent, g), "1.52%");
        assert_eq!(value(Some(377.2), Unit::Millis, g), "377ms");
        assert_eq!(value(Some(1391.0), Unit::Millis, g), "1.39s");
        assert_eq!(
            value(Some(200.0 * 1024.0 * 1024.0), Unit::Bytes, g),
            "200MiB"
        );
        assert_eq!(value(Some(9.04), Unit::Count, g), "9.0");
        assert_eq!(value(None, Unit::Count, g), "—");
        assert_eq!(value(None, Unit::Count, &ASCII), "--");
    }

    #[test]
    fn coarse_durations_and_ages() {
        assert_eq!(duration_coarse(192_000), "3m12s");
        assert_eq!(duration_coarse(725_000), "12m");
        assert_eq!(duration_coarse(7_500_000), "2h05m");
        assert_eq!(age(1000, &UNICODE), "≤2s");
        assert_eq!(age(5000, &ASCII), "<=10s");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(192_000), "3m12s");
        assert_eq!(duration(7_500_000), "2h05m");
        assert_eq!(duration(-5), "0s");
    }

    #[test]
    fn sparkline_shares_a_scale_and_keeps_gaps() {
        let g = &UNICODE;
        assert_eq!(
            sparkline(&[Some(0.0), None, Some(10.0)], 0.0, 10.0, g),
            "▁ █"
        );
        assert_eq!(sparkline(&[Some(5.0)], 0.0, 10.0, &ASCII), "=");
    }
}
