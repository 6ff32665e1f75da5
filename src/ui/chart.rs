//! A metric's chart: legacy and new as braille lines on one y-axis (from zero where the unit
//! has a zero), the rule thresholds as horizontal lines, the time axis labelled, and a vertical
//! marker at every flag change in the range (`25%` at a step, `rollback` in red), so cause
//! and effect sit on one picture.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType};

use super::format::{ASCII_BORDER, duration_coarse, glyphs, value};
use super::theme::Theme;
use crate::alerts::Condition;
use crate::app::{RolloutState, State};
use crate::model::Cohort;

/// Points `(seconds relative to now, value)` of one cohort since `from_ms`; gaps are skipped
/// (a braille line bridges them: the legend says where data is missing instead).
fn points(r: &RolloutState, k: usize, c: Cohort, from_ms: i64, now_ms: i64) -> Vec<(f64, f64)> {
    r.metrics[k]
        .history(c)
        .since(from_ms)
        .iter()
        .filter_map(|s| {
            #[allow(clippy::cast_precision_loss)]
            s.value
                .map(|v| ((s.at_ms - now_ms) as f64 / 1000.0, f64::from(v)))
        })
        .collect()
}

/// Draws metric `k`'s chart over the last `range_ms` into `area`, with its legend (the
/// detail view). Nothing below 6 rows.
pub fn draw(
    f: &mut Frame<'_>,
    area: Rect,
    s: &State,
    r: &RolloutState,
    k: usize,
    range_ms: i64,
    t: &Theme,
) {
    if s.ascii {
        ascii_trend(f, area, s, r, k, range_ms, t);
    } else {
        chart(f, area, s, r, k, range_ms, t, false);
    }
}

/// ASCII mode has no braille or box drawing: the range as one trend row per cohort on a
/// shared scale from zero, with the scale and span in words.
fn ascii_trend(
    f: &mut Frame<'_>,
    area: Rect,
    s: &State,
    r: &RolloutState,
    k: usize,
    range_ms: i64,
    t: &Theme,
) {
    let g = glyphs(true);
    let m = &r.def.metrics[k];
    let unit = m.kind.unit();
    let w = usize::from(area.width.saturating_sub(12)).max(1);
    let from = s.now_ms - range_ms;
    let series = |c: Cohort| -> Vec<Option<f64>> {
        let pts = r.metrics[k].history(c).since(from);
        let skip = pts.len().saturating_sub(w);
        pts.iter()
            .skip(skip)
            .map(|p| p.value.map(f64::from))
            .collect()
    };
    let (l, n) = (series(Cohort::Legacy), series(Cohort::New));
    let hi = l
        .iter()
        .chain(&n)
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let lines = vec![
        ratatui::text::Line::styled(
            format!(
                " {} over the last {}, scale 0 to {}",
                m.label,
                duration_coarse(range_ms),
                value(Some(hi), unit, g)
            ),
            t.title,
        ),
        ratatui::text::Line::from(vec![
            Span::styled(" legacy ", t.dim),
            Span::styled(super::format::sparkline(&l, 0.0, hi, g), t.legacy),
        ]),
        ratatui::text::Line::from(vec![
            Span::styled(" new    ", t.dim),
            Span::styled(super::format::sparkline(&n, 0.0, hi, g), t.new),
        ]),
    ];
    f.render_widget(ratatui::widgets::Paragraph::new(lines), area);
}

/// The same chart small, for the dashboard's grid: no legend box (the title names the lines
/// by colour), two y labels.
pub fn draw_compact(
    f: &mut Frame<'_>,
    area: Rect,
    s: &State,
    r: &RolloutState,
    k: usize,
    range_ms: i64,
    t: &Theme,
) {
    chart(f, area, s, r, k, range_ms, t, true);
}

#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
fn chart(
    f: &mut Frame<'_>,
    area: Rect,
    s: &State,
    r: &RolloutState,
    k: usize,
    range_ms: i64,
    t: &Theme,
    compact: bool,
) {
    if area.height < 6 || area.width < 30 {
        return;
    }
    let g = glyphs(s.ascii);
    let m = &r.def.metrics[k];
    let unit = m.kind.unit();
    let from = s.now_ms - range_ms;
    let legacy = points(r, k, Cohort::Legacy, from, s.now_ms);
    let new = points(r, k, Cohort::New, from, s.now_ms);
    #[allow(clippy::cast_precision_loss)]
    let x0 = -(range_ms as f64) / 1000.0;

    let thresholds: Vec<(String, f64)> = r
        .def
        .rules
        .iter()
        .filter(|rule| rule.metric == m.id)
        .filter_map(|rule| match rule.condition {
            Condition::Absolute { value, .. } => Some((rule.name.clone(), value)),
            _ => None,
        })
        .collect();
    let (mut lo, mut hi) = legacy
        .iter()
        .chain(&new)
        .map(|p| p.1)
        .chain(thresholds.iter().map(|t| t.1))
        .filter(|v| v.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi < lo {
        (lo, hi) = (0.0, 1.0);
    }
    // Zero-based: every unit here has a meaningful zero, so a 20 % difference looks like one.
    lo = lo.min(0.0);
    hi = if hi <= lo {
        lo + 1.0
    } else {
        hi + (hi - lo) * 0.08
    };

    let mut threshold_lines: Vec<Vec<(f64, f64)>> = thresholds
        .iter()
        .map(|(_, v)| vec![(x0, *v), (0.0, *v)])
        .collect();
    let mut thresholds = thresholds;
    // A rule relative to legacy (`new > 1.5 × legacy`) draws its moving threshold.
    for rule in r.def.rules.iter().filter(|rule| rule.metric == m.id) {
        if let Condition::RatioToLegacy { factor, .. } = rule.condition {
            threshold_lines.push(legacy.iter().map(|(x, y)| (*x, y * factor)).collect());
            thresholds.push((format!("{} ({factor}x legacy)", rule.name), f64::NAN));
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let changes: Vec<(f64, u8, u8)> = r
        .flag_changes
        .iter()
        .filter(|(at, _, _)| *at >= from)
        .map(|(at, a, b)| ((*at - s.now_ms) as f64 / 1000.0, *a, *b))
        .collect();
    let marker_lines: Vec<Vec<(f64, f64)>> = changes
        .iter()
        .map(|(x, _, _)| vec![(*x, lo), (*x, hi)])
        .collect();
    let change_names: Vec<String> = changes
        .iter()
        .map(|(_, a, b)| {
            if *b < *a && *b == 0 {
                "rollback".to_owned()
            } else {
                format!("{b}%")
            }
        })
        .collect();

    let mut datasets = Vec::new();
    for (i, line) in marker_lines.iter().enumerate() {
        let (_, a, b) = changes[i];
        let style = if b < a { t.critical } else { t.gauge };
        datasets.push(
            Dataset::default()
                .name(change_names[i].clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style)
                .data(line),
        );
    }
    for (i, line) in threshold_lines.iter().enumerate() {
        datasets.push(
            Dataset::default()
                .name(if thresholds[i].1.is_nan() {
                    thresholds[i].0.clone()
                } else {
                    format!(
                        "{} {}",
                        thresholds[i].0,
                        value(Some(thresholds[i].1), unit, g)
                    )
                })
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(t.warn)
                .data(line),
        );
    }
    let marker = if s.ascii {
        Marker::Dot
    } else {
        Marker::Braille
    };
    datasets.push(
        Dataset::default()
            .name("legacy")
            .marker(marker)
            .graph_type(GraphType::Line)
            .style(t.legacy)
            .data(&legacy),
    );
    datasets.push(
        Dataset::default()
            .name("new")
            .marker(marker)
            .graph_type(GraphType::Line)
            .style(t.new)
            .data(&new),
    );
    let span = duration_coarse(range_ms);
    let x_labels = vec![
        Span::styled(format!("-{span}"), t.dim),
        Span::styled(format!("-{}", duration_coarse(range_ms / 2)), t.dim),
        Span::styled("now", t.dim),
    ];
    let y_labels = if compact {
        vec![
            Span::styled(value(Some(lo), unit, g), t.dim),
            Span::styled(value(Some(hi), unit, g), t.dim),
        ]
    } else {
        vec![
            Span::styled(value(Some(lo), unit, g), t.dim),
            Span::styled(value(Some(f64::midpoint(lo, hi)), unit, g), t.dim),
            Span::styled(value(Some(hi), unit, g), t.dim),
        ]
    };
    let mut block = Block::default().borders(Borders::ALL);
    if s.ascii {
        block = block.border_set(ASCII_BORDER);
    }
    let title = if compact {
        ratatui::text::Line::from(vec![
            Span::styled(format!(" {} ", m.label), t.title),
            Span::styled("legacy ", t.legacy),
            Span::styled("new ", t.new),
            Span::styled(
                if thresholds.is_empty() {
                    ""
                } else {
                    "threshold "
                },
                t.warn,
            ),
            Span::styled(format!("{span} "), t.dim),
        ])
    } else {
        ratatui::text::Line::from(Span::styled(
            format!(" {} over the last {span} ", m.label),
            t.title,
        ))
    };
    let block = block.border_style(t.border).title(title);
    let chart = Chart::new(datasets)
        .block(block)
        .style(Style::default())
        .x_axis(Axis::default().bounds([x0, 0.0]).labels(x_labels))
        .y_axis(Axis::default().bounds([lo, hi]).labels(y_labels))
        // Top left: the newest data, on the right, is what the operator reads.
        .legend_position((!compact).then_some(ratatui::widgets::LegendPosition::TopLeft))
        .hidden_legend_constraints((
            ratatui::layout::Constraint::Ratio(1, 2),
            ratatui::layout::Constraint::Ratio(1, 2),
        ));
    f.render_widget(chart, area);
}
