//! Alerts panel: every rule with its state, how long, severity, action and the comparison.
//! Breaches are marked by colour *and* by a symbol and word, so monochrome still shows them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{Glyphs, duration, duration_coarse, glyphs, value};
use super::header::status_style;
use super::theme::Theme;
use crate::alerts::{AlertState, AlertStatus, Condition, Rule};
use crate::app::State;
use crate::model::{Cohort, Unit};

fn symbol(st: AlertStatus, g: &Glyphs) -> &'static str {
    match st {
        AlertStatus::Firing => g.fire,
        AlertStatus::Pending => g.pending,
        AlertStatus::Unknown => g.unknown,
        AlertStatus::Inactive | AlertStatus::Resolved => g.ok,
        AlertStatus::Idle => g.none,
    }
}

/// The rule in words with the current value: `new Error rate 1.52% > 0.50%`.
fn describe(rule: &Rule, a: &AlertState, label: &str, unit: Unit, g: &Glyphs) -> String {
    if rule.name == crate::app::verdicts::SPLIT_RULE && rule.metric.is_empty() {
        return "the new path's share of requests matches the flag".into();
    }
    let v = |x| value(Some(x), unit, g);
    let cur = a.value.map_or_else(
        || g.none.to_owned(),
        |x| match rule.condition {
            Condition::Saving { .. } => format!("{x:.1}%"),
            _ => v(x),
        },
    );
    let who = match (rule.condition, rule.cohort) {
        (Condition::Absolute { .. }, Cohort::Legacy) => "legacy",
        _ => "new",
    };
    match rule.condition {
        Condition::Absolute { op, value: th } => {
            format!("{who} {label} {cur} {} {}", op.symbol(), v(th))
        }
        Condition::RatioToLegacy { op, factor } => {
            format!("new {label} {cur} {} {factor}x legacy", op.symbol())
        }
        Condition::DeltaToLegacy { op, value: th } => {
            format!("new-legacy {label} {cur} {} {}", op.symbol(), v(th))
        }
        Condition::Saving { op, value: th } => {
            format!("{label} saving {cur} {} {th:.0}%", op.symbol())
        }
    }
}

/// Draws the panel.
#[allow(clippy::too_many_lines)] // one table drawn row by row; the columns share widths and styles
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let g = glyphs(s.ascii);
    let r = s.current();
    let firing = r
        .alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .count();
    let mut lines = vec![Line::from(vec![
        Span::styled(" Alerts ", t.title),
        if firing > 0 {
            Span::styled(format!(" {} {firing} FIRING ", g.fire), t.breach)
        } else {
            Span::styled(format!("{} rules", r.def.rules.len()), t.dim)
        },
    ])];
    if r.def.rules.is_empty() {
        lines.push(Line::styled("  no alert rules configured", t.dim));
    }
    // FIRING, PENDING, UNKNOWN first (by severity), then the quiet ones; what does not fit
    // is counted, and only quiet rules are ever left out (the layout gives every active
    // rule its row).
    let mut order: Vec<usize> = (0..r.def.rules.len().min(r.alerts.len())).collect();
    order.sort_by_key(|&j| {
        (
            std::cmp::Reverse(r.alerts[j].status.rank()),
            std::cmp::Reverse(r.def.rules[j].severity),
            j,
        )
    });
    let rows = usize::from(area.height.saturating_sub(1));
    let hidden = order.len().saturating_sub(rows);
    if hidden > 0 {
        order.truncate(rows.saturating_sub(1));
    }
    for &j in &order {
        let (rule, a) = (&r.def.rules[j], &r.alerts[j]);
        let st = a.status;
        let style = status_style(st, Some(rule.severity), t);
        let since = duration_coarse(s.now_ms - a.since_ms);
        let how_long = match a.pending_left_ms(rule, s.now_ms) {
            Some(left) => format!("{since}, fires in {}", duration(left)),
            None => since,
        };
        let (label, unit) = r
            .def
            .metric_index(&rule.metric)
            .map(|k| &r.def.metrics[k])
            .map_or((rule.metric.as_str(), Unit::Count), |m| {
                (m.label.as_str(), m.kind.unit())
            });
        let narrow = area.width < super::WIDE;
        let sev = match (narrow, rule.severity) {
            (true, crate::alerts::Severity::Critical) => "crit",
            (true, crate::alerts::Severity::Warning) => "warn",
            (false, s) => s.as_str(),
        };
        let mut spans = vec![
            Span::styled(format!(" {} {:<8}", symbol(st, g), st.label()), style),
            Span::styled(
                format!(" {how_long:<w$} ", w = if narrow { 6 } else { 18 }),
                t.dim,
            ),
            Span::styled(
                format!("{sev:<w$} ", w = if narrow { 4 } else { 8 }),
                t.text,
            ),
            Span::styled(
                format!(
                    "{:<w$} ",
                    rule.action.label(),
                    w = if narrow { 8 } else { 10 }
                ),
                t.text,
            ),
            Span::styled(
                format!("{}: ", rule.name),
                if st == AlertStatus::Firing {
                    style
                } else {
                    t.text
                },
            ),
            Span::styled(describe(rule, a, label, unit, g), t.dim),
        ];
        if rule.name == crate::app::verdicts::SPLIT_RULE
            && let Some(c) = crate::app::verdicts::split(r)
        {
            spans.push(Span::styled(
                format!("  ({})", super::format::asciify(&c.describe(), s.ascii)),
                if st == AlertStatus::Firing {
                    t.warn
                } else {
                    t.dim
                },
            ));
        } else if let Some(lost) = a.data_lost_since_ms {
            let reason = a.reason.as_deref().unwrap_or("no data");
            spans.push(Span::styled(
                format!(
                    "  (last known, data lost {} ago: {})",
                    duration(s.now_ms - lost),
                    super::format::asciify(reason, s.ascii)
                ),
                t.warn,
            ));
        } else if let Some(reason) = &a.reason {
            spans.push(Span::styled(
                format!("  ({})", super::format::asciify(reason, s.ascii)),
                t.unknown,
            ));
        }
        lines.push(Line::from(spans));
    }
    if hidden > 0 {
        lines.push(Line::styled(
            format!(
                "  +{} more rules, all quiet (OK, resolved or idle)",
                hidden + 1
            ),
            t.dim,
        ));
    }
    f.render_widget(Paragraph::new(lines), area);
}
