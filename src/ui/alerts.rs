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
    for (rule, a) in r.def.rules.iter().zip(&r.alerts) {
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
    f.render_widget(Paragraph::new(lines), area);
}
