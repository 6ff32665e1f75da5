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

pub mod alerts;
pub mod chart;
pub mod compare;
pub mod detail;
pub mod events;
pub mod footer;
pub mod format;
pub mod header;
pub mod overlay;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::app::{Mode, State};
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
        let [body, ftr] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
        detail::draw(f, body, s, k, t);
        footer::draw(f, ftr, s, t);
        return;
    }
    let r = s.current();
    let wide = area.width >= WIDE;
    let n_metrics = u16::try_from(r.def.metrics.len()).unwrap_or(u16::MAX);
    let n_rules = u16::try_from(r.def.rules.len()).unwrap_or(u16::MAX);
    let overview = u16::from(s.rollouts.len() > 1);
    let compare_h = 1 + n_metrics + if wide { 0 } else { n_metrics };
    // Alerts get their rows but leave the event log its title and at least one line.
    let fixed = 3 + overview + compare_h + 1;
    let room = area.height.saturating_sub(fixed);
    let alerts_h = (1 + n_rules.max(1)).min(room.saturating_sub(2).max(2));
    let [hdr, ovw, cmp, alr, evt, ftr] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(overview),
        Constraint::Length(compare_h),
        Constraint::Length(alerts_h),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, hdr, s, t);
    if overview > 0 {
        header::draw_overview(f, ovw, s, t);
    }
    compare::draw(f, cmp, s, t, wide);
    alerts::draw(f, alr, s, t);
    events::draw(f, evt, s, t);
    footer::draw(f, ftr, s, t);
    match &s.mode {
        Mode::Normal => {}
        Mode::Help => overlay::help(f, area, s, t),
        Mode::Confirm(p) => overlay::confirm(f, area, s, p, t),
        Mode::ConfirmArm(i) => overlay::confirm_arm(f, area, s, *i, t),
        Mode::ConfirmQuit => overlay::confirm_quit(f, area, s, t),
        Mode::Detail(_) => {}
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
