//! The comparison panel: one row per metric with legacy, new, delta, target and status, and
//! sparklines of both cohorts on a shared scale (beside the table when wide, below when not).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{Glyphs, delta, glyphs, sparkline, value};
use super::header::status_style;
use super::theme::Theme;
use crate::alerts::{AlertStatus, Condition, Rule};
use crate::app::{RolloutState, State};
use crate::model::CohortValues;
use crate::model::{Cohort, Direction, MetricDef, Unit};
use crate::stats::{Guardrail, Safety};

const W_LABEL: usize = 13;
const W_VAL: usize = 8;
const W_DELTA: usize = 16;
const W_TARGET: usize = 13;
const W_STATUS: usize = 11;
/// The scale hint after each trend row.
const W_SCALE: usize = 9;
/// The 95 % interval column, wide layout only.
const W_CI: usize = 26;

/// The always-valid interval on `new − legacy` (rates with counts since the step began) beside
/// the tolerance it is judged against, or a note that the comparison is descriptive.
fn interval_text(m: &MetricDef, gr: Option<&Guardrail>, g: &Glyphs) -> String {
    let pp = |x: f64| {
        let v = x * 100.0;
        if v < 0.0 {
            format!("{}{:.2}", g.minus, v.abs())
        } else {
            format!("+{v:.2}")
        }
    };
    match (gr, m.kind) {
        (Some(gr), _) => match gr.interval {
            Some((lo, hi)) => format!("{}..{}pp vs {}", pp(lo), pp(hi), pp(gr.tolerance)),
            None => "no interval yet".into(),
        },
        (None, crate::model::MetricKind::Latency { .. }) => "descriptive".into(),
        _ => String::new(),
    }
}
/// Width of the table part.
pub const TABLE_W: usize = W_LABEL + 2 * W_VAL + W_DELTA + W_TARGET + W_STATUS + 6;

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.chars().take(w).collect()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

fn rpad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.chars().take(w).collect()
    } else {
        format!("{}{s}", " ".repeat(w - n))
    }
}

/// The target column: a savings target, a plain target, or the first rule's threshold.
fn target(m: &MetricDef, rules: &[&Rule], g: &Glyphs) -> String {
    if let Some(st) = m.savings_target {
        return format!(">={st:.0}% saved");
    }
    let unit = m.kind.unit();
    if let Some(tv) = m.target {
        let op = match m.direction {
            Direction::LowerIsBetter => "<=",
            Direction::HigherIsBetter => ">=",
        };
        return format!("{op}{}", value(Some(tv), unit, g));
    }
    rules
        .first()
        .map(|r| match r.condition {
            Condition::Absolute { op, value: v } => {
                format!("alert {}{}", op.symbol(), value(Some(v), unit, g))
            }
            c => format!("alert {c}"),
        })
        .unwrap_or_default()
}

/// The delta column: absolute and relative, or the saving for savings metrics.
fn delta_text(m: &MetricDef, v: &CohortValues, gr: Option<&Guardrail>, g: &Glyphs) -> String {
    let (l, n) = (v.legacy, v.new);
    if let Some(gr) = gr {
        // Rates with request counts: the difference and the always-valid verdict.
        let verdict = match gr.safety {
            Safety::Worse => "worse".to_owned(),
            Safety::NotWorse => "ok".to_owned(),
            Safety::Inconclusive { .. } => "n.s.".to_owned(),
        };
        return match (l, n) {
            (Some(l), Some(n)) => format!("{} {verdict}", delta(n - l, m.kind.unit(), g)),
            _ => verdict,
        };
    }
    if m.savings_target.is_some() {
        return MetricDef::saving(l, n)
            .map_or_else(|| g.none.to_owned(), |s| format!("saving {s:.1}%"));
    }
    match (l, n) {
        (Some(l), Some(n)) if l.is_finite() && n.is_finite() => {
            let unit = m.kind.unit();
            let abs = delta(n - l, unit, g);
            if l.abs() > f64::EPSILON && unit != Unit::Percent {
                let rel = (n - l) / l * 100.0;
                let sign = if rel < 0.0 {
                    g.minus.to_string()
                } else {
                    "+".into()
                };
                format!("{abs} {sign}{:.0}%", rel.abs())
            } else if l.abs() > f64::EPSILON {
                format!("{abs} x{:.1}", n / l)
            } else {
                abs
            }
        }
        _ => g.none.to_owned(),
    }
}

/// The worst status among the rules on metric `id`, with its severity.
fn metric_status(r: &RolloutState, id: &str) -> Option<(AlertStatus, crate::alerts::Severity)> {
    r.def
        .rules
        .iter()
        .zip(&r.alerts)
        .filter(|(rule, _)| rule.metric == id)
        .map(|(rule, a)| (a.status, rule.severity))
        .max_by_key(|(s, sev)| (s.rank(), *sev))
}

/// Draws the panel.
#[allow(clippy::too_many_lines)] // one table drawn row by row; the columns share widths and styles
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme, wide: bool) {
    let g = glyphs(s.ascii);
    let r = s.current();
    // The interval column only where the sparklines keep room (from 150 columns).
    let show_ci = wide && area.width >= 150;
    let ci_w = if show_ci { W_CI } else { 0 };
    let spark_w = if wide {
        (area.width as usize).saturating_sub(TABLE_W + ci_w + 2)
    } else {
        (area.width as usize).saturating_sub(W_LABEL + 1)
    };
    // Each trend ends with its scale (`≤3.1%`): 8 columns.
    let half = (spark_w.saturating_sub(8 + W_SCALE) / 2).max(1);
    let mut head = vec![Span::styled(
        format!(
            " {}{} {} {} {} {} ",
            pad("Metric", W_LABEL - 1),
            rpad("Legacy", W_VAL),
            rpad("New", W_VAL),
            pad(&format!(" {}", "Delta"), W_DELTA),
            pad("Target", W_TARGET),
            pad("Status", W_STATUS),
        ),
        t.title,
    )];
    if !wide {
        // Below the table: one trend row per metric; say here what L and N mean.
        head.push(Span::styled("L/N trends below", t.dim));
    }
    if show_ci {
        head.push(Span::styled(
            pad("new-legacy (always valid)", W_CI),
            t.title,
        ));
    }
    if wide {
        head.push(Span::styled(
            format!("{} {}", pad("legacy", half + 2), pad("new", half + 4)),
            t.title,
        ));
    }
    let mut lines = vec![Line::from(head)];
    let mut sparks = Vec::new();
    let mut spans_ms = 0_i64;
    for (k, m) in r.def.metrics.iter().enumerate() {
        let ms = &r.metrics[k];
        let gr = crate::app::verdicts::metric_guardrail(r, k);
        let unit = m.kind.unit();
        let stale = ms.is_stale(s.now_ms, s.stale_after_ms()) || r.metrics_feed.error.is_some();
        let (l, n) = (ms.last.legacy, ms.last.new);
        let val_style = |base: Style| if stale { t.unknown } else { base };
        let rules: Vec<&Rule> = r.def.rules.iter().filter(|x| x.metric == m.id).collect();
        let (status, st_style) = match (stale, metric_status(r, &m.id)) {
            // A firing rule stays firing on its last known value while the data is lost.
            (_, Some((AlertStatus::Firing, sev))) => (
                format!("{} FIRING", g.fire),
                status_style(AlertStatus::Firing, Some(sev), t),
            ),
            (true, _) if ms.last_at_ms.is_some() => (format!("{} STALE", g.unknown), t.warn),
            (true, _) => (format!("{} NO DATA", g.unknown), t.unknown),
            (false, Some((AlertStatus::Pending, sev))) => (
                format!("{} PENDING", g.pending),
                status_style(AlertStatus::Pending, Some(sev), t),
            ),
            (false, Some((AlertStatus::Unknown, _))) => {
                (format!("{} UNKNOWN", g.unknown), t.unknown)
            }
            (false, Some((AlertStatus::Idle, _))) => (format!("{} idle", g.none), t.dim),
            (false, _) if l.is_none() || n.is_none() => {
                (format!("{} no data", g.unknown), t.unknown)
            }
            (false, _) => (format!("{} ok", g.ok), t.ok),
        };
        let label_style = if k == s.selected_metric {
            t.selected
        } else if status.contains("FIRING") {
            st_style
        } else {
            t.text
        };
        // A value whose window reaches back past a flag change mixes two traffic splits:
        // marked `~`, and said in the status column when nothing worse is.
        let mixed = r.straddles(k);
        let shown = |v: Option<f64>| {
            let text = value(v, unit, g);
            if mixed && v.is_some() {
                format!("~{text}")
            } else {
                text
            }
        };
        let (status, st_style) = if mixed && !stale && st_style == t.ok {
            ("~ mixed split".to_owned(), t.warn)
        } else {
            (status, st_style)
        };
        let mut row = vec![
            Span::styled(format!(" {}", pad(&m.label, W_LABEL - 1)), label_style),
            Span::styled(format!("{} ", rpad(&shown(l), W_VAL)), val_style(t.legacy)),
            Span::styled(format!("{} ", rpad(&shown(n), W_VAL)), val_style(t.new)),
            Span::styled(
                format!(
                    " {} ",
                    pad(&delta_text(m, &ms.last, gr.as_ref(), g), W_DELTA - 1)
                ),
                val_style(t.text),
            ),
            Span::styled(format!("{} ", pad(&target(m, &rules, g), W_TARGET)), t.dim),
            Span::styled(pad(&status, W_STATUS), st_style),
        ];
        // Shared scale from zero: both cohorts against one axis that starts at 0, so the
        // same value draws the same bar at every size and a 20 % difference looks like one.
        let (lh, span) = ms.history(Cohort::Legacy).series_span(half);
        let nh = ms.history(Cohort::New).series(half);
        spans_ms = spans_ms.max(span);
        let all = lh
            .iter()
            .chain(&nh)
            .flatten()
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = all.fold((0.0_f64, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        let spark = vec![
            Span::styled("L ", t.dim),
            Span::styled(pad(&sparkline(&lh, lo, hi, g), half), t.legacy),
            Span::styled("  N ", t.dim),
            Span::styled(pad(&sparkline(&nh, lo, hi, g), half), t.new),
            Span::styled(
                pad(
                    &format!(
                        " {}{}",
                        if s.ascii { "<=" } else { "≤" },
                        value(Some(hi), unit, g)
                    ),
                    W_SCALE,
                ),
                t.dim,
            ),
        ];
        if show_ci {
            row.push(Span::styled(
                pad(&interval_text(m, gr.as_ref(), g), W_CI),
                val_style(t.dim),
            ));
        }
        if wide {
            row.push(Span::raw("  "));
            row.extend(spark);
        } else {
            let mut line = vec![Span::styled(
                format!(" {}", pad(&m.label, W_LABEL - 1)),
                t.dim,
            )];
            line.push(Span::raw(" "));
            line.extend(spark);
            sparks.push(Line::from(line));
        }
        lines.push(Line::from(row));
    }
    // The time the trends span, from the history tier they were drawn from.
    if let Some(head) = lines.first_mut() {
        head.spans.push(Span::styled(
            format!(
                " scale from 0, over {}",
                super::format::duration_coarse(spans_ms)
            ),
            t.dim,
        ));
    }
    if !wide {
        lines.extend(sparks);
    }
    f.render_widget(Paragraph::new(lines), area);
}
