//! Overlays: the help listing every binding, and the confirm dialog of a pending write.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::centered;
use super::format::{ASCII_BORDER, asciify, glyphs};
use super::theme::Theme;
use crate::app::keymap::BINDINGS;
use crate::app::{PendingWrite, State};
use crate::flags::write::WriteKind;

/// The help overlay.
pub fn help(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let h = u16::try_from(BINDINGS.len()).unwrap_or(20) + 5;
    let rect = centered(area, 64, h);
    let mut lines: Vec<Line<'_>> = BINDINGS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), t.title),
                Span::styled((*what).to_string(), t.dialog),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    let theme = s.themes.get(s.theme).cloned().unwrap_or_default();
    lines.push(Line::styled(
        format!(
            " theme: {theme}{}",
            if s.read_only { "   READ-ONLY" } else { "" }
        ),
        t.dim,
    ));
    let mut block = Block::default().borders(Borders::ALL);
    if s.ascii {
        block = block.border_set(ASCII_BORDER);
    }
    let block = block
        .border_style(t.border)
        .title(Span::styled(
            asciify(" Keys — ? or Esc closes ", s.ascii),
            t.title,
        ))
        .style(t.dialog);
    f.render_widget(Clear, rect);
    f.render_widget(Paragraph::new(lines).block(block), rect);
}

/// The confirm dialog: rollout, environment, old → new, and what will happen.
pub fn confirm(f: &mut Frame<'_>, area: Rect, s: &State, p: &PendingWrite, t: &Theme) {
    let g = glyphs(s.ascii);
    let req = &p.request;
    let r = &s.rollouts[p.rollout];
    let (what, change) = match req.kind {
        WriteKind::SetPercent(n) => (
            "set rollout",
            format!("{}% {} {n}%", req.expected.percent, g.arrow),
        ),
        WriteKind::Rollback(n) => (
            "ROLL BACK",
            format!("{}% {} {n}%", req.expected.percent, g.arrow),
        ),
        WriteKind::SetEnabled(on) => (
            "KILL SWITCH",
            format!(
                "{} {} {}",
                if req.expected.enabled { "on" } else { "off" },
                g.arrow,
                if on { "on" } else { "off" }
            ),
        ),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(" Rollout:     ", t.dim),
            Span::styled(req.rollout.clone(), t.title),
        ]),
        Line::from(vec![
            Span::styled(" Environment: ", t.dim),
            Span::styled(req.environment.clone(), t.title),
        ]),
        Line::from(vec![
            Span::styled(" Backend:     ", t.dim),
            Span::styled(r.flag_backend.clone(), t.dialog),
        ]),
        Line::from(vec![
            Span::styled(" Change:      ", t.dim),
            Span::styled(format!("{what} "), t.warn),
            Span::styled(change, t.title),
        ]),
    ];
    if !req.expected.details.is_empty() {
        let kept: Vec<String> = req
            .expected
            .details
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        lines.push(Line::from(vec![
            Span::styled(" Unchanged:   ", t.dim),
            Span::styled(asciify(&kept.join(" · "), s.ascii).into_owned(), t.dialog),
        ]));
    }
    if let Some(w) = &p.warning {
        lines.push(Line::styled(format!(" ! {w}"), t.critical));
    }
    lines.push(Line::styled(
        format!(
            " Compare-and-set against {}% as shown: refused if it moved.",
            req.expected.percent
        ),
        t.dim,
    ));
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(" [y/Enter] confirm ", t.selected),
        Span::raw("   "),
        Span::styled(" [n/Esc] cancel ", t.dialog),
    ]));
    let w = 76u16;
    // Wrapped lines (the unchanged details can be long) need their rows too.
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(usize::from(w - 2)).max(1))
        .sum();
    let h = u16::try_from(rows).unwrap_or(10) + 2;
    let rect = centered(area, w, h);
    let mut block = Block::default().borders(Borders::ALL);
    if s.ascii {
        block = block.border_set(ASCII_BORDER);
    }
    let block = block
        .border_style(t.warn)
        .title(Span::styled(" Confirm flag change ", t.warn))
        .style(t.dialog);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}
