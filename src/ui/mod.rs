//! The view: `draw(frame, &State, &Theme)`, built from small pure panels, one per file.
//!
//! Layout, side by side from 120 columns:
//!
//! ```text
//! ┌─────────────────────────────────────────────────────────────────────────────────────┐
//! │ header    name · environment · backends               READ-ONLY / WRITE IN FLIGHT │ 3
//! │           flag 25% [gauge] on   steps 5 ▶25 50 75 100   at step 3m12s / bake 5m    │
//! │           flag: backend 1s ago   metrics: source 1s ago (STALE / ERROR + reason)   │
//! │ overview  ▶ checkout 25% FIRING │ llm 10% OK │ chat 10% OK     (only with several)  │ 1
//! │ compare   Metric  Legacy  New  Δ  Target  Status  ║  legacy ▁▂▃▅  new ▁▂▅█         │ 1+metrics
//! │ alerts    ✖ FIRING 2m10s critical rollback rule: value op threshold                │ 1+rules
//! │ events    12:00:01 flag 25% → 50% ... (newest first)                              │ rest
//! │ footer    key hints                                         status message         │ 1
//! └─────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Below 120 columns the sparklines move under the table (one row per metric). Below 60×16 a
//! "too small" message replaces the dashboard. Overlays: help (`?`) and the confirm dialog.
//! With several rollouts a live session opens on the fleet table instead ([`fleet`]: one row
//! per rollout, the status line and the key hints under it; the same overlays over it).

pub mod alerts;
pub mod chart;
pub mod compare;
pub mod detail;
pub mod events;
pub mod fleet;
pub mod footer;
pub mod format;
pub mod header;
pub mod overlay;
pub mod theme;
pub mod verdict;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::app::{Mode, State, View};
pub use theme::Theme;

/// Width from which sparklines sit beside the table.
pub const WIDE: u16 = 120;
/// Smallest size the dashboard is drawn at.
pub const MIN_W: u16 = 60;
/// Smallest height the dashboard is drawn at.
pub const MIN_H: u16 = 16;

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, s: &State, t: &Theme) {
    draw_in(f, f.area(), s, t);
}

/// Draws the dashboard into `area` (the replay keeps a row above it for its own bar).
pub fn draw_in(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    if area.width < MIN_W || area.height < MIN_H {
        let msg = format!(
            "rollwatch: terminal too small ({}×{}); need {MIN_W}×{MIN_H}. q quits.",
            area.width, area.height
        );
        f.render_widget(
            Paragraph::new(Line::styled(msg, t.warn)).wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    if let Mode::Detail(k) = s.mode {
        let [vrd, body, status, ftr] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        verdict::draw(f, vrd, s, t);
        detail::draw(f, body, s, k, t);
        footer::draw_status(f, status, s, t);
        footer::draw(f, ftr, s, t);
        return;
    }
    if s.view == View::Fleet {
        let [_, status, ftr] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        fleet::draw(f, area, s, t);
        footer::draw_status(f, status, s, t);
        footer::draw(f, ftr, s, t);
        overlays(f, area, s, t);
        return;
    }
    let wide = area.width >= WIDE;
    let l = plan(s, area);
    let [vrd, hdr, ovw, cmp, alr, charts, evt, status, ftr] = rows(area, &l);
    verdict::draw(f, vrd, s, t);
    header::draw(f, hdr, s, t);
    if l.overview > 0 {
        header::draw_overview(f, ovw, s, t);
    }
    compare::draw(f, cmp, s, t, wide);
    alerts::draw(f, alr, s, t);
    if l.charts > 0 {
        draw_charts(f, charts, s, l.chart_cols, t);
    }
    if evt.height > 0 {
        events::draw(f, evt, s, t);
    }
    footer::draw_status(f, status, s, t);
    footer::draw(f, ftr, s, t);
    overlays(f, area, s, t);
}

/// The overlay of the mode, over either view: help, or a confirm dialog.
fn overlays(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    match &s.mode {
        Mode::Normal | Mode::Detail(_) => {}
        Mode::Help => overlay::help(f, area, s, t),
        Mode::Confirm(p) => overlay::confirm(f, area, s, p, t),
        Mode::ConfirmArm(i) => overlay::confirm_arm(f, area, s, *i, t),
        Mode::ConfirmQuit => overlay::confirm_quit(f, area, s, t),
    }
}

/// The rows each part of the dashboard gets: the verdict line, the header, the comparison
/// table, the FIRING/PENDING/UNKNOWN rules, the status line and the key hints always;
/// then, as room allows and in this order, the overview, the OK rules, the trend rows, the
/// charts (from about 40 rows) and the event log. Nothing important is ever cut for
/// something less important.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Overview line rows.
    pub overview: u16,
    /// Comparison rows (table, and trend rows below it when narrow).
    pub compare: u16,
    /// Sparklines shown (beside the table when wide, below it when narrow).
    pub sparks: bool,
    /// Alerts panel rows.
    pub alerts: u16,
    /// Chart area rows (0: no charts).
    pub charts: u16,
    /// Charts per row of the chart grid.
    pub chart_cols: u16,
}

/// Rows of one chart in the dashboard grid, at the least.
const CHART_MIN_H: u16 = 8;
/// Rows the event log keeps beside the charts.
const EVENTS_MIN_H: u16 = 4;

/// The layout plan of the dashboard for `area`.
#[must_use]
pub fn plan(s: &State, area: Rect) -> Plan {
    let r = s.current();
    let wide = area.width >= WIDE;
    let n_metrics = u16::try_from(r.def.metrics.len()).unwrap_or(u16::MAX);
    let n_rules = u16::try_from(r.def.rules.len()).unwrap_or(u16::MAX);
    let active = u16::try_from(
        r.alerts
            .iter()
            .filter(|a| a.status.rank() >= crate::alerts::AlertStatus::Unknown.rank())
            .count(),
    )
    .unwrap_or(u16::MAX);
    // verdict 1, header 3, table, alerts title + active rules, status 1, hints 1.
    let essential = 1 + 3 + (1 + n_metrics) + (1 + active.max(1)) + 2;
    let mut room = area.height.saturating_sub(essential);
    let take = |room: &mut u16, want: u16| {
        let got = want.min(*room);
        *room -= got;
        got
    };
    let overview = if s.rollouts.len() > 1 {
        take(&mut room, 1)
    } else {
        0
    };
    let quiet = take(&mut room, n_rules.saturating_sub(active.max(1)));
    let sparks = wide || (room >= n_metrics && take(&mut room, n_metrics) == n_metrics);
    let chart_cols = (area.width / 40).clamp(1, n_metrics.max(1));
    let grid_rows = n_metrics.div_ceil(chart_cols).max(1);
    // Charts need braille and box drawing: not in ASCII mode (the sparklines stay).
    let charts = if n_metrics > 0
        && !s.ascii
        && area.height >= 40
        && room >= grid_rows * CHART_MIN_H + EVENTS_MIN_H
    {
        let per = (room - EVENTS_MIN_H) / grid_rows;
        take(&mut room, per * grid_rows)
    } else {
        0
    };
    Plan {
        overview,
        compare: 1 + n_metrics + if !wide && sparks { n_metrics } else { 0 },
        sparks,
        alerts: 1 + active.max(1) + quiet,
        charts,
        chart_cols,
    }
}

/// The dashboard's rows for a plan: verdict, header, overview, comparison, alerts, charts,
/// events, status, key hints.
fn rows(area: Rect, l: &Plan) -> [Rect; 9] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(l.overview),
        Constraint::Length(l.compare),
        Constraint::Length(l.alerts),
        Constraint::Length(l.charts),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// What a screen position points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Metric `k` of the shown rollout: its row of the comparison table (or its trend row
    /// below the table on narrow screens).
    Metric(usize),
    /// Rollout `i`: its row of the fleet table.
    Rollout(usize),
}

/// What is under column `col`, row `row` of the dashboard drawn into `area` (as [`draw_in`]
/// lays it out), if it is something a click acts on. Only the plain dashboard and the fleet
/// table are clickable:
/// under an overlay, in the detail view and on a screen too small, nothing is.
#[must_use]
pub fn hit(s: &State, area: Rect, col: u16, row: u16) -> Option<Target> {
    let inside = ratatui::layout::Position { x: col, y: row };
    if s.mode != Mode::Normal || area.width < MIN_W || area.height < MIN_H || !area.contains(inside)
    {
        return None;
    }
    if s.view == View::Fleet {
        return fleet::hit(s, area, row).map(Target::Rollout);
    }
    let l = plan(s, area);
    let cmp = rows(area, &l)[3];
    if !cmp.contains(inside) {
        return None;
    }
    // The table's title row, then one row a metric, then (narrow) one trend row a metric.
    let n = s.current().def.metrics.len();
    let k = usize::from(row - cmp.y).checked_sub(1)?;
    match k.checked_sub(n) {
        None => Some(Target::Metric(k)),
        Some(trend) if trend < n && area.width < WIDE && l.sparks => Some(Target::Metric(trend)),
        Some(_) => None,
    }
}

/// Every metric's chart in a grid over the chosen range.
fn draw_charts(f: &mut Frame<'_>, area: Rect, s: &State, cols: u16, t: &Theme) {
    let r = s.current();
    let n = u16::try_from(r.def.metrics.len()).unwrap_or(u16::MAX);
    let rows = n.div_ceil(cols.max(1)).max(1);
    let (range_ms, _) = crate::app::state::RANGES[s.range.min(3)];
    let row_areas = Layout::vertical(vec![
        Constraint::Ratio(1, u32::from(rows));
        usize::from(rows)
    ])
    .split(area);
    for (k, _) in r.def.metrics.iter().enumerate() {
        let k16 = u16::try_from(k).unwrap_or(0);
        let row = usize::from(k16 / cols);
        let col = usize::from(k16 % cols);
        let Some(ra) = row_areas.get(row) else { break };
        let cells = Layout::horizontal(vec![
            Constraint::Ratio(1, u32::from(cols));
            usize::from(cols)
        ])
        .split(*ra);
        if let Some(cell) = cells.get(col) {
            chart::draw_compact(f, *cell, s, r, k, range_ms, t);
        }
    }
}

/// A rectangle of at most `w`×`h` centred in `area`.
#[must_use]
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
