//! The detail view of one metric (`Enter` on a selected row, `Esc` returns): exact current
//! values with their age, the statistical interval, the rules on the metric with their state,
//! and the flag changes in the chosen range. The chart over that range is drawn by
//! [`super::chart`].

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{duration, glyphs, value};
use super::header::status_style;
use super::theme::Theme;
use crate::alerts::AlertStatus;
use crate::app::State;
use crate::app::state::RANGES;

/// Draws the detail view of metric `k` of the shown rollout into `area`.
#[allow(clippy::too_many_lines)] // one view laid out top to bottom; its parts share the layout
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, k: usize, t: &Theme) {
    let g = glyphs(s.ascii);
    let r = s.current();
    let (Some(m), Some(ms)) = (r.def.metrics.get(k), r.metrics.get(k)) else {
        return;
    };
    let unit = m.kind.unit();
    let (range_ms, range_name) = RANGES[s.range.min(RANGES.len() - 1)];
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {} ", m.label), t.title),
        Span::styled(format!("{} {} ", g.sep, r.def.name), t.text),
        Span::styled(
            format!("{} range {range_name} (1-4, [ ]) {} Esc back", g.sep, g.sep),
            t.dim,
        ),
    ])];
    let age = ms.last_at_ms.map_or_else(
        || "no data yet".to_owned(),
        |at| format!("{} ago", duration(s.now_ms - at)),
    );
    lines.push(Line::from(vec![
        Span::styled(" legacy ", t.dim),
        Span::styled(value(ms.last.legacy, unit, g), t.legacy),
        Span::styled("   new ", t.dim),
        Span::styled(value(ms.last.new, unit, g), t.new),
        Span::styled(format!("   read {age}"), t.dim),
    ]));
    // A quantile from histogram buckets is only known to lie in its bucket: say which.
    if let Some(b) = ms.last.bounds {
        let q = match m.kind {
            crate::model::MetricKind::Latency { quantile } => format!("p{:.0}", quantile * 100.0),
            _ => "the quantile".into(),
        };
        let show = |x: Option<(f64, f64)>| {
            x.map_or_else(
                || g.none.to_owned(),
                |(lo, hi)| {
                    let hi = if hi.is_finite() {
                        value(Some(hi), unit, g)
                    } else {
                        "+Inf".into()
                    };
                    format!("({}, {hi}]", value(Some(lo), unit, g))
                },
            )
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {q} from buckets lies in: legacy "), t.dim),
            Span::styled(show(b.legacy), t.legacy),
            Span::styled("   new ", t.dim),
            Span::styled(show(b.new), t.new),
        ]));
    }
    let mut timeline_lines: Vec<Line<'_>> = Vec::new();
    if let Some(gr) = crate::app::verdicts::metric_guardrail(r, k) {
        let interval = gr.interval.map_or_else(
            || "no interval yet".to_owned(),
            |(lo, hi)| format!("{:+.3} .. {:+.3} pp", lo * 100.0, hi * 100.0),
        );
        let counts = ms.last.counts.map_or_else(String::new, |c| {
            format!(
                "  (new {}/{}, legacy {}/{} since the step began)",
                c.new.0, c.new.1, c.legacy.0, c.legacy.1
            )
        });
        lines.push(Line::from(vec![
            Span::styled(" new − legacy, always-valid 95 %: ", t.dim),
            Span::styled(interval, t.text),
            Span::styled(format!("  → {}", gr.safety.label()), t.title),
            Span::styled(counts, t.dim),
        ]));
    }
    let strip_w = usize::from(area.width.saturating_sub(14)).max(1);
    for (j, (rule, a)) in r.def.rules.iter().zip(&r.alerts).enumerate() {
        if rule.metric != m.id {
            continue;
        }
        // The rule's state over the range, one column per slice: its timeline.
        if let Some(tl) = r.timelines.get(j) {
            let mut spans = vec![Span::styled("   timeline  ", t.dim)];
            for st in tl.strip(s.now_ms - range_ms, s.now_ms, strip_w) {
                let (c, style) = match st {
                    Some(AlertStatus::Firing) => (
                        g.fire,
                        status_style(AlertStatus::Firing, Some(rule.severity), t),
                    ),
                    Some(AlertStatus::Pending) => (g.pending, t.warn),
                    Some(AlertStatus::Unknown) => ("?", t.unknown),
                    Some(_) => (if s.ascii { "." } else { "·" }, t.ok),
                    None => (" ", t.dim),
                };
                spans.push(Span::styled(
                    c.chars().next().unwrap_or(' ').to_string(),
                    style,
                ));
            }
            timeline_lines.push(Line::from(spans));
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {:<8} ", a.status.label()),
                status_style(a.status, Some(rule.severity), t),
            ),
            Span::styled(
                format!(
                    "{}: {} ({}, {}) since {} ",
                    rule.name,
                    rule.condition,
                    rule.severity.as_str(),
                    rule.action.label(),
                    duration(s.now_ms - a.since_ms)
                ),
                t.text,
            ),
        ]));
    }
    lines.extend(timeline_lines);
    let from = s.now_ms - range_ms;
    let changes: Vec<String> = r
        .backend_events
        .iter()
        .filter(|e| e.at_ms >= from)
        .map(|e| {
            let to = e.after.map_or_else(|| e.kind.clone(), |p| format!("{p}%"));
            format!("{} ago → {to}", duration(s.now_ms - e.at_ms))
        })
        .collect();
    lines.push(Line::styled(
        if changes.is_empty() {
            format!(" flag changes in the last {range_name}: none seen")
        } else {
            format!(
                " flag changes in the last {range_name}: {}",
                changes.join(", ")
            )
        },
        t.dim,
    ));
    let text_h = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let [top, chart] =
        Layout::vertical([Constraint::Length(text_h), Constraint::Min(0)]).areas(area);
    f.render_widget(Paragraph::new(lines), top);
    super::chart::draw(f, chart, s, r, k, range_ms, t);
}
