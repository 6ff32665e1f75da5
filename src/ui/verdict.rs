//! The verdict line at the top of a rollout: its state and the one thing to do, in words and
//! colour. The most serious fact wins: a firing rollback rule, lost data, a firing hold rule,
//! a rule that cannot be evaluated, a pending rule; then the lifecycle (baking with the time
//! and requests left, ready, rolled back, complete).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{asciify, duration, duration_coarse, glyphs};
use super::theme::Theme;
use crate::alerts::{Action, AlertStatus, Severity};
use crate::app::lifecycle::{Lifecycle, lifecycle};
use crate::app::{RolloutState, State};

/// How loud a verdict is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Act now.
    Critical,
    /// Look.
    Warn,
    /// Nothing to do but wait.
    Info,
    /// Go ahead.
    Good,
}

/// The verdict of rollout `r` in words, with its level.
#[must_use]
#[allow(clippy::too_many_lines)] // a ranked list of cases, first match wins; kept in one place to read the order
pub fn verdict(s: &State, r: &RolloutState) -> (String, Level) {
    let g = glyphs(s.ascii);
    let dash = if s.ascii { "-" } else { "—" };
    let rules = || r.def.rules.iter().zip(&r.alerts);
    if let Some(p) = &r.partial {
        let undo = if p.undo.is_empty() {
            String::new()
        } else {
            ": undo [u]".into()
        };
        return (
            format!(
                "PARTIAL WRITE {dash} {}{undo}",
                asciify(&p.summary, s.ascii)
            ),
            Level::Critical,
        );
    }
    let worst_firing = rules()
        .filter(|(_, a)| a.status == AlertStatus::Firing)
        .max_by_key(|(rule, _)| {
            (
                matches!(rule.action, Action::Rollback { .. }),
                rule.severity,
            )
        });
    if let Some((rule, a)) = worst_firing
        && let Action::Rollback { to } = rule.action
    {
        let key = if to == 0 { "[r]" } else { "[-]" };
        let what = if to == 0 {
            "roll back recommended".to_owned()
        } else {
            format!("cut to {to}% recommended")
        };
        let lost = a
            .data_lost_since_ms
            .map(|l| format!(" (last known, data lost {})", duration(s.now_ms - l)))
            .unwrap_or_default();
        return (
            format!(
                "DEGRADED {dash} {} firing ({}){lost}: {what} {key}",
                rule.name,
                rule.severity.as_str()
            ),
            Level::Critical,
        );
    }
    let lost = [&r.flag_feed, &r.metrics_feed]
        .into_iter()
        .filter_map(|f| {
            f.error
                .as_ref()
                .map(|_| f.at_ms.map_or(0, |at| s.now_ms - at))
                .or_else(|| f.stale_age(s.now_ms, s.stale_after_ms()))
        })
        .max();
    if let Some(age) = lost {
        let since = if age > 0 {
            format!(" {}", duration(age))
        } else {
            String::new()
        };
        return (
            format!("DATA LOST{since}: steering blocked until the backends answer"),
            Level::Critical,
        );
    }
    if let Some((rule, _)) = worst_firing {
        let what = if rule.action.blocks_bump() {
            "next step held"
        } else {
            "look at it"
        };
        let level = if rule.severity == Severity::Critical {
            Level::Critical
        } else {
            Level::Warn
        };
        return (
            format!(
                "ATTENTION {dash} {} firing ({}): {what}",
                rule.name,
                rule.severity.as_str()
            ),
            level,
        );
    }
    if let Some((rule, a)) =
        rules().find(|(rule, a)| a.status == AlertStatus::Unknown && rule.action.blocks_bump())
    {
        let why = a.reason.as_deref().unwrap_or("no data");
        return (
            format!(
                "UNKNOWN {dash} {} cannot be evaluated ({}): steering blocked",
                rule.name,
                asciify(why, s.ascii)
            ),
            Level::Warn,
        );
    }
    if let Some((rule, a)) = rules()
        .filter(|(_, a)| a.status == AlertStatus::Pending)
        .max_by_key(|(rule, _)| rule.severity)
    {
        let left = a
            .pending_left_ms(rule, s.now_ms)
            .map(|l| format!(", fires in {}", duration(l)))
            .unwrap_or_default();
        return (
            format!(
                "WATCH {dash} {} pending ({}{left})",
                rule.name,
                rule.severity.as_str()
            ),
            Level::Warn,
        );
    }
    let requests = match (
        crate::app::verdicts::new_requests(r),
        crate::app::verdicts::min_new_requests(r),
    ) {
        (Some(n), Some(min)) => format!(", {}/{} requests", thousands(n), thousands(min)),
        _ => String::new(),
    };
    match lifecycle(r, s.automation_paused) {
        Lifecycle::Unread => ("waiting for the first flag read".into(), Level::Info),
        Lifecycle::Shadow => (
            "SHADOW: 0 %, the new path serves no users".into(),
            Level::Info,
        ),
        Lifecycle::Baking { left_ms } => (
            match crate::app::propose::bake_words(r) {
                Some(words) => {
                    let why = r
                        .bake
                        .rejected
                        .as_ref()
                        .map(|w| format!(" ({})", asciify(w, s.ascii)))
                        .unwrap_or_default();
                    format!("BAKING {dash} {words}{requests}{why}")
                }
                None => format!("BAKING {} left{requests}", duration_coarse(left_ms)),
            },
            Level::Info,
        ),
        Lifecycle::Ready { next } if r.armed => (
            format!("READY {} {next} %: auto-advance will write it", g.arrow),
            Level::Good,
        ),
        Lifecycle::Ready { next } => (format!("READY {} {next} % [+]", g.arrow), Level::Good),
        Lifecycle::Held => (
            format!(
                "HELD: {}",
                r.held_by.as_deref().unwrap_or("the next step is not due")
            ),
            Level::Warn,
        ),
        Lifecycle::Paused => ("PAUSED: automation paused [p]".into(), Level::Warn),
        Lifecycle::RolledBack { at_ms } => {
            let by = if r
                .own_writes
                .iter()
                .any(|w| (w.at_ms - at_ms).abs() < 60_000)
            {
                " by you"
            } else {
                ""
            };
            let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms)
                .map_or_else(String::new, |d| d.format(" %H:%M").to_string());
            (format!("ROLLED BACK{at}{by}"), Level::Warn)
        }
        Lifecycle::Off => ("OFF: the kill switch is off".into(), Level::Warn),
        Lifecycle::Complete => ("COMPLETE".into(), Level::Good),
    }
}

/// The short form of a verdict for narrow terminals: parenthesised details and the words
/// between the first dash and the action go (`DEGRADED new-error-rate: roll back [r]`).
fn short(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace(" — ", " ")
        .replace(" - ", " ")
        .replace(" firing :", ":")
        .replace(" firing:", ":")
        .replace(" recommended", "")
        .replace(" ;", ";")
        .replace(" ,", ",")
        .replace("  ", " ");
    out.trim().to_owned()
}

/// `41,200`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Draws the verdict line of the shown rollout. Who steers it (`GUARDED by …`, `ARMED`) is
/// kept whole: the verdict takes its short form to leave room for it.
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let r = s.current();
    let (text, level) = verdict(s, r);
    let tag = if let Some(l) = s.steered_by(s.selected) {
        format!(
            " GUARDED by {} since {}",
            l.holder,
            crate::app::guard::hhmm(l.since_ms)
        )
    } else if r.armed && !s.automation_paused {
        " ARMED".to_owned()
    } else {
        String::new()
    };
    // Narrow terminals get the short form: the state, the rule and the key, never cut.
    let room = usize::from(area.width).saturating_sub(tag.chars().count());
    let mut text = if text.chars().count() + 2 > room {
        short(&text)
    } else {
        text
    };
    // Still too long: drop trailing details (`, 35/250 requests`) one by one.
    while text.chars().count() + 2 > room {
        if let Some(cut) = text.rfind(", ") {
            text.truncate(cut);
        } else {
            // Then the end of the text: the state word comes first and stays.
            let keep = room.saturating_sub(3).max(8);
            text = text.chars().take(keep).collect::<String>() + "…";
            break;
        }
    }
    let style = match level {
        Level::Critical => t.breach,
        Level::Warn => t.warn,
        Level::Info => t.title,
        Level::Good => t.ok,
    };
    let mut spans = vec![Span::styled(format!(" {text} "), style)];
    if !tag.is_empty() {
        spans.push(Span::styled(tag, t.warn));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
