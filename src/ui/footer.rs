//! Footer: key hints and the status line.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::app::{LogLevel, Mode, State, View};

/// How long a status message stays in the footer (clock ms, at least 15 polls); the event
/// log keeps it.
pub const STATUS_TTL_MS: i64 = 15_000;

/// Draws the footer.
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let fleet = s.mode == Mode::Normal && s.view == View::Fleet;
    let hints = match s.mode {
        _ if fleet && s.fleet.typing => " type to filter  Backspace erase  Enter keep  Esc clear",
        _ if fleet && s.read_only => {
            " READ-ONLY  j/k select  Enter open  / filter  t theme  ? help  q quit"
        }
        _ if fleet => {
            " j/k select  Enter open  / filter  + next  - prev  r rollback  K kill  ? help  q quit"
        }
        Mode::Confirm(_) | Mode::ConfirmArm(_) => " y confirm  n/Esc cancel",
        Mode::ConfirmQuit => " y quit (automation stops)  n/Esc stay",
        Mode::Help => " j/k scroll  ?/Esc close help  q quit",
        Mode::Detail(_) => " Esc back  j/k metric  1-4 [ ] range 5m 1h 6h 24h  ? help  q quit",
        Mode::Normal if s.read_only => " READ-ONLY  Tab rollout  t theme  ? help  q quit",
        Mode::Normal => {
            " + next  - prev  r rollback  K kill  Enter detail  Tab rollout  ? help  q quit"
        }
    };
    // Narrow terminals get the short form: `? help` and `q quit` always fit.
    let hints = if hints.chars().count() > usize::from(area.width) {
        match s.mode {
            _ if fleet && s.fleet.typing => " type to filter  Enter keep  Esc clear",
            _ if fleet => " Enter open  / filter  + next  - prev  r back  ? help  q quit",
            Mode::Normal if !s.read_only => " + next  - prev  r back  K kill  ? help  q quit",
            Mode::Detail(_) => " Esc back  j/k  1-4 range  ? help  q quit",
            _ => hints,
        }
    } else {
        hints
    };
    draw_hints(f, area, hints, s, t);
    if s.show_keys && !s.keys_shown.is_empty() {
        // Screencasts: the keys as they were pressed, newest last, on the right.
        let keys: Vec<&str> = s.keys_shown.iter().copied().collect();
        let text = format!(" keys: {} ", keys.join(" "));
        let w = u16::try_from(text.chars().count())
            .unwrap_or(u16::MAX)
            .min(area.width);
        let right = Rect {
            x: area.x + area.width - w,
            width: w,
            ..area
        };
        f.render_widget(Paragraph::new(Line::styled(text, t.selected)), right);
    }
}

/// Draws a line of key hints over `area` (the replay draws its own keys here).
pub fn draw_hints(f: &mut Frame<'_>, area: Rect, hints: &str, s: &State, t: &Theme) {
    let hints = super::format::asciify(hints, s.ascii).into_owned();
    f.render_widget(ratatui::widgets::Clear, area);
    f.render_widget(Paragraph::new(Line::styled(hints, t.dim)), area);
}

/// Draws the status line: what just happened, on a line of its own (the event log keeps it).
pub fn draw_status(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let status = s
        .status
        .as_ref()
        .filter(|(_, _, at)| s.now_ms - at < STATUS_TTL_MS.max(s.refresh_ms * 15));
    if let Some((level, text, _)) = status {
        let style = match level {
            LogLevel::Info => t.text,
            LogLevel::Warn => t.warn,
            LogLevel::Error => t.critical,
        };
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(
                format!(" {}", super::format::asciify(text, s.ascii)),
                style,
            ))),
            area,
        );
    }
}
