//! Event log: flag changes, alert transitions and errors, newest first, merged with the flag
//! backend's own history (who changed what); changes that arrived while watching are marked,
//! this session's own writes as "this session" ([`crate::flags::own`]), others' as NEW.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{asciify, glyphs};
use super::theme::Theme;
use crate::app::{LogLevel, State};

fn hms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(|| "--:--:--".into(), |d| d.format("%H:%M:%S").to_string())
}

/// Draws the panel.
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let g = glyphs(s.ascii);
    let r = s.current();
    let mut rows: Vec<(i64, Line<'_>)> = Vec::new();
    for e in s.events.iter().rev().take(area.height as usize) {
        let style = match e.level {
            LogLevel::Info => t.text,
            LogLevel::Warn => t.warn,
            LogLevel::Error => t.critical,
        };
        rows.push((
            e.at_ms,
            Line::from(vec![
                Span::styled(format!(" {} ", hms(e.at_ms)), t.dim),
                Span::styled(format!("{} ", asciify(&e.rollout, s.ascii)), t.dim),
                Span::styled(asciify(&e.text, s.ascii).into_owned(), style),
            ]),
        ));
    }
    let own = crate::flags::own::match_own(&r.backend_events, &r.own_writes);
    for (e, own) in r
        .backend_events
        .iter()
        .zip(own)
        .rev()
        .take(area.height as usize)
    {
        let new = r.events_seen_ms.is_some_and(|seen| e.at_ms > seen);
        let change = match (e.before, e.after) {
            (Some(b), Some(a)) => format!("{b}% {} {a}%", g.arrow),
            (_, Some(a)) => format!("{} {a}%", g.arrow),
            _ => String::new(),
        };
        let mut spans = vec![
            Span::styled(format!(" {} ", hms(e.at_ms)), t.dim),
            Span::styled("backend ", t.dim),
            Span::styled(
                asciify(&format!("{} by {} {change}", e.kind, e.author), s.ascii).into_owned(),
                t.text,
            ),
        ];
        if own.is_some() {
            spans.push(Span::styled(" this session", t.dim));
        } else if new {
            spans.push(Span::styled(" NEW while watching", t.warn));
        }
        rows.push((e.at_ms, Line::from(spans)));
    }
    rows.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut lines = vec![Line::from(Span::styled(" Events (newest first)", t.title))];
    lines.extend(rows.into_iter().map(|(_, l)| l));
    f.render_widget(Paragraph::new(lines), area);
}
