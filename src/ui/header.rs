//! Header: rollout, environment, backends, flag gauge, step plan with the current step, time
//! at this step against its bake time, data ages; and the overview line of all rollouts.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{age as age_text, duration, duration_coarse, glyphs};
use super::theme::Theme;
use crate::alerts::{AlertStatus, Severity};
use crate::app::State;
use crate::app::lifecycle::lifecycle;
use crate::app::state::Feed;

/// Age of a reading in words with its style: `3s ago`, `STALE 45s`, `ERROR: reason`.
#[must_use]
pub fn age<'a>(s: &State, feed: &Feed, error: Option<&str>, t: &Theme) -> Vec<Span<'a>> {
    let mut out = Vec::new();
    match (feed.at_ms, feed.stale_age(s.now_ms, s.stale_after_ms())) {
        (None, _) => out.push(Span::styled("no data yet", t.unknown)),
        (Some(_), Some(a)) => out.push(Span::styled(format!("STALE {}", duration(a)), t.warn)),
        (Some(_), None) => out.push(Span::styled(
            format!("{} ago", age_text(s.refresh_ms, glyphs(s.ascii))),
            t.dim,
        )),
    }
    if let Some(e) = error {
        out.push(Span::styled(format!(" ERROR: {e}"), t.critical));
    }
    out
}

/// Draws the three header lines.
#[allow(clippy::too_many_lines)] // three lines laid out left to right; their spans share the widths
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let g = glyphs(s.ascii);
    let r = s.current();
    let mut l1 = vec![
        Span::styled(format!(" {} ", r.def.name), t.title),
        Span::styled(format!("{} env {} ", g.sep, r.def.environment), t.text),
    ];
    if s.read_only {
        l1.push(Span::styled(" READ-ONLY ", t.warn));
    }
    if r.write_in_flight {
        l1.push(Span::styled(" WRITE IN FLIGHT ", t.warn));
    }
    if r.insecure_tls {
        l1.push(Span::styled(" INSECURE TLS ", t.critical));
    }
    if !r.also.is_empty() {
        l1.push(Span::styled(format!("{} also: ", g.sep), t.dim));
        for (k, a) in r.also.iter().enumerate() {
            let (mark, style) = if crate::app::also::in_step(r, a) {
                (g.ok, t.ok)
            } else {
                (g.fire, t.warn)
            };
            let comma = if k + 1 < r.also.len() { ", " } else { " " };
            l1.push(Span::styled(
                format!("{} {mark}{comma}", crate::app::also::describe(a)),
                style,
            ));
        }
    }
    if s.automation_paused && (r.armed || r.def.automation.auto_rollback) {
        l1.push(Span::styled(" AUTOMATION PAUSED ", t.warn));
    } else {
        if r.armed {
            l1.push(Span::styled(" ARMED ", t.warn));
        }
        if r.def.automation.auto_rollback {
            l1.push(Span::styled(" AUTO-ROLLBACK ", t.warn));
        }
    }

    let mut l2 = vec![Span::styled(" flag ", t.dim)];
    match &r.flag {
        Some(flag) => {
            let w = if area.width >= super::WIDE {
                20usize
            } else {
                10
            };
            let filled = usize::from(flag.effective_percent()) * w / 100;
            l2.push(Span::styled(format!("{:>3}% ", flag.percent), t.title));
            l2.push(Span::styled(
                std::iter::repeat_n(g.fill, filled).collect::<String>(),
                t.gauge,
            ));
            l2.push(Span::styled(
                std::iter::repeat_n(g.empty, w - filled).collect::<String>(),
                t.dim,
            ));
            l2.push(if flag.enabled {
                Span::styled(" on ", t.ok)
            } else {
                Span::styled(" OFF (kill switch) ", t.critical)
            });
        }
        None => l2.push(Span::styled("  ?% unknown ", t.unknown)),
    }
    l2.push(Span::styled(format!(" {} steps ", g.sep), t.dim));
    let current = r.flag.as_ref().and_then(|fl| r.def.step_index(fl.percent));
    for (i, st) in r.def.steps.iter().enumerate() {
        if Some(i) == current {
            l2.push(Span::styled(
                format!("{}{}", g.here, st.percent),
                t.selected,
            ));
            l2.push(Span::raw(" "));
        } else {
            l2.push(Span::styled(format!("{} ", st.percent), t.dim));
        }
    }
    if let (Some(since), Some(_)) = (r.step_since_ms, current) {
        let at = s.now_ms - since;
        l2.push(Span::styled(
            format!("{} at step {}", g.sep, duration_coarse(at)),
            t.text,
        ));
        if let Some((covered, bake_ms)) = crate::app::propose::bake_progress(r) {
            if crate::app::propose::bake_left_ms(r).is_none() {
                l2.push(Span::styled(
                    format!(" {} baked {} on fresh data", g.sep, duration(bake_ms)),
                    t.ok,
                ));
            } else {
                l2.push(Span::styled(
                    format!(
                        " {} baked {} of {}",
                        g.sep,
                        duration_coarse(covered),
                        duration(bake_ms)
                    ),
                    t.text,
                ));
            }
        }
    }

    // Backend health first, in words, so a narrow terminal cuts the descriptions, never the
    // state: ` flag ≤2s ago │ metrics STALE 47s │ memory · prometheus http://…`.
    let mut l3 = vec![Span::styled(" flag ", t.dim)];
    let (flag_state, flag_errors): (Vec<_>, Vec<_>) =
        age(s, &r.flag_feed, r.flag_feed.error.as_deref(), t)
            .into_iter()
            .partition(|sp| !sp.content.starts_with(" ERROR"));
    l3.extend(flag_state);
    if !flag_errors.is_empty() {
        l3.push(Span::styled(" ERROR", t.critical));
    }
    l3.push(Span::styled(format!("  {} metrics ", g.sep), t.dim));
    // The source answered, but if no metric could be read that is a failure too.
    let all_failed = (!r.metrics.is_empty() && r.metrics.iter().all(|m| m.error.is_some()))
        .then(|| r.metrics.iter().find_map(|m| m.error.clone()))
        .flatten()
        .map(|e| format!("every metric failed: {e}"));
    let newest_good = r.metrics.iter().filter_map(|m| m.last_at_ms).max();
    let metrics_err = r.metrics_feed.error.clone().or(all_failed);
    let shown = Feed {
        at_ms: if metrics_err.is_some() {
            newest_good
        } else {
            r.metrics_feed.at_ms
        },
        ..Feed::default()
    };
    let metrics_state = age(s, &shown, metrics_err.as_deref(), t);
    // Errors go after both descriptions: the words STALE/ERROR stay in the first columns.
    let (states, errors): (Vec<_>, Vec<_>) = metrics_state
        .into_iter()
        .partition(|sp| !sp.content.starts_with(" ERROR"));
    l3.extend(states);
    if !errors.is_empty() {
        l3.push(Span::styled(" ERROR", t.critical));
    }
    // The reasons, flag first, after the states.
    for e in flag_errors {
        l3.push(Span::styled(format!("  flag{}", e.content), t.critical));
    }
    for e in errors {
        l3.push(Span::styled(format!("  metrics{}", e.content), t.critical));
    }
    l3.push(Span::styled(
        format!(
            "  {} {} {} {}",
            g.sep, r.flag_backend, g.sep, r.metrics_source
        ),
        t.dim,
    ));
    // What the backend reports beside the percentage (stickiness, constraints, …): shown,
    // never modified.
    if let Some(fl) = r.flag.as_ref().filter(|f| !f.details.is_empty()) {
        let d: Vec<String> = fl
            .details
            .iter()
            .filter(|(k, _)| k != "strategy")
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        l3.push(Span::styled(
            format!(
                "  {} flag {}",
                g.sep,
                super::format::asciify(&d.join(", "), s.ascii)
            ),
            t.dim,
        ));
    }
    f.render_widget(
        Paragraph::new(vec![Line::from(l1), Line::from(l2), Line::from(l3)]),
        area,
    );
}

/// Style and label of an alert status.
#[must_use]
pub fn status_style(status: AlertStatus, sev: Option<Severity>, t: &Theme) -> Style {
    match (status, sev) {
        (AlertStatus::Firing, Some(Severity::Critical)) => t.breach,
        (AlertStatus::Firing | AlertStatus::Pending, _) => t.warn,
        (AlertStatus::Unknown, _) => t.unknown,
        (AlertStatus::Idle, _) => t.dim,
        _ => t.ok,
    }
}

/// Draws the one-line overview of every rollout with its worst alert state.
pub fn draw_overview(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let g = glyphs(s.ascii);
    let narrow = area.width < super::WIDE;
    let mut spans = vec![Span::styled(if narrow { "" } else { " rollouts " }, t.dim)];
    for (i, r) in s.rollouts.iter().enumerate() {
        let (st, sev) = r.worst();
        let pct = r.flag.as_ref().map_or_else(
            || "?%".to_owned(),
            |fl| format!("{}%", fl.effective_percent()),
        );
        let name_style = if i == s.selected { t.selected } else { t.text };
        let mark = if i == s.selected { g.here } else { " " };
        let name: String = if narrow && r.def.name.chars().count() > 14 {
            r.def.name.chars().take(13).chain(['~']).collect()
        } else {
            r.def.name.clone()
        };
        spans.push(Span::styled(format!("{mark}{name} {pct} "), name_style));
        if st.rank() >= AlertStatus::Unknown.rank() {
            spans.push(Span::styled(st.label(), status_style(st, sev, t)));
        } else {
            let l = lifecycle(r, s.automation_paused);
            spans.push(Span::styled(l.name(), status_style(st, sev, t)));
        }
        spans.push(Span::styled(format!(" {} ", g.sep), t.border));
    }
    if !narrow {
        spans.push(Span::styled("Tab switches", t.dim));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
