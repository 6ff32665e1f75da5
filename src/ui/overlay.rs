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
use crate::model::WriteKind;

/// The help overlay.
pub fn help(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let theme = s.themes.get(s.theme).cloned().unwrap_or_default();
    let last = format!(
        " theme: {theme}{}",
        if s.read_only { "   READ-ONLY" } else { "" }
    );
    keys(f, area, s, t, " Keys — ? or Esc closes ", BINDINGS, last);
}

/// The replay's help overlay: its own `bindings` (a replay writes nothing, so none of the
/// dashboard's keys act there).
pub fn replay_help(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme, bindings: &[(&str, &str)]) {
    let last = " a replay writes nothing: recorded keys play as pressed";
    keys(
        f,
        area,
        s,
        t,
        " Replay keys — ? or Esc closes ",
        bindings,
        last.into(),
    );
}

/// A box listing `bindings` (keys, what they do) and a `last` line under them: as wide as its
/// longest line (up to the screen), as tall as fits; what does not fit scrolls with `j`/`k`
/// and the title says so. Never clipped.
fn keys(
    f: &mut Frame<'_>,
    area: Rect,
    s: &State,
    t: &Theme,
    title: &str,
    bindings: &[(&str, &str)],
    last: String,
) {
    let mut lines: Vec<Line<'_>> = bindings
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {:<16}", asciify(k, s.ascii)), t.title),
                Span::styled(asciify(what, s.ascii).into_owned(), t.dialog),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(last, t.dim));
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let w = u16::try_from(widest + 2)
        .unwrap_or(u16::MAX)
        .min(area.width);
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1))
        .sum();
    let rows = u16::try_from(rows).unwrap_or(u16::MAX);
    let h = rows.saturating_add(2).min(area.height);
    let visible = h.saturating_sub(2);
    let scroll = s.help_scroll.min(rows.saturating_sub(visible));
    let title = if rows > visible {
        format!(
            " Keys {}-{} of {rows}: j/k scroll, ? or Esc closes ",
            scroll + 1,
            (scroll + visible).min(rows)
        )
    } else {
        title.to_owned()
    };
    let rect = centered(area, w, h);
    let mut block = Block::default().borders(Borders::ALL);
    if s.ascii {
        block = block.border_set(ASCII_BORDER);
    }
    let block = block
        .border_style(t.border)
        .title(Span::styled(asciify(&title, s.ascii).into_owned(), t.title))
        .style(t.dialog);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        rect,
    );
}

/// A bordered dialog of `lines`, wrapped at `w` columns and as tall as its wrapped lines.
fn dialog(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme, title: &str, lines: Vec<Line<'_>>) {
    let w = 78u16.min(area.width);
    let inner = usize::from(w.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let h = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2);
    let rect = centered(area, w, h);
    let mut block = Block::default().borders(Borders::ALL);
    if s.ascii {
        block = block.border_set(ASCII_BORDER);
    }
    let block = block
        .border_style(t.warn)
        .title(Span::styled(asciify(title, s.ascii).into_owned(), t.warn))
        .style(t.dialog);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// The keys of every confirm dialog: only `y` confirms.
fn confirm_keys<'a>(t: &Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(" [y] confirm ", t.selected),
        Span::raw("   "),
        Span::styled(" [n/Esc] cancel ", t.dialog),
        Span::styled("   Enter does not confirm", t.dim),
    ])
}

fn field<'a>(
    name: &'static str,
    value: String,
    style: ratatui::style::Style,
    t: &Theme,
) -> Line<'a> {
    Line::from(vec![Span::styled(name, t.dim), Span::styled(value, style)])
}

/// The confirm dialog: rollout, environment, old → new, what it means for users, and every
/// warning with its facts.
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
        field(" Rollout:     ", req.rollout.clone(), t.title, t),
        field(" Environment: ", req.environment.clone(), t.title, t),
        field(" Backend:     ", r.flag_backend.clone(), t.dialog, t),
        Line::from(vec![
            Span::styled(" Change:      ", t.dim),
            Span::styled(format!("{what} "), t.warn),
            Span::styled(change, t.title),
        ]),
        field(
            " For users:   ",
            asciify(&p.effect, s.ascii).into_owned(),
            t.title,
            t,
        ),
    ];
    for (k, w) in p.group.iter().enumerate() {
        let label = if k == 0 {
            " Flags:       "
        } else {
            "              "
        };
        lines.push(field(
            label,
            format!(
                "{} {} {} {}",
                w.name,
                flag_value(&w.request.expected, w.request.kind, false),
                g.arrow,
                flag_value(&w.request.expected, w.request.kind, true)
            ),
            t.title,
            t,
        ));
    }
    if !req.expected.details.is_empty() {
        let kept: Vec<String> = req
            .expected
            .details
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        lines.push(field(
            " Unchanged:   ",
            asciify(&kept.join(" · "), s.ascii).into_owned(),
            t.dialog,
            t,
        ));
    }
    for w in &p.warnings {
        lines.push(Line::styled(
            format!(" ! {}", asciify(w, s.ascii)),
            t.critical,
        ));
    }
    lines.push(Line::styled(
        format!(
            " Compare-and-set against {}% as shown: refused if it moved.",
            req.expected.percent
        ),
        t.dim,
    ));
    lines.push(Line::raw(""));
    lines.push(confirm_keys(t));
    dialog(f, area, s, t, " Confirm flag change ", lines);
}

/// A flag's value before (`new` false) or after a write of `kind`: `25%`, `on`.
fn flag_value(before: &crate::model::FlagSnapshot, kind: WriteKind, new: bool) -> String {
    match kind {
        WriteKind::SetPercent(n) | WriteKind::Rollback(n) if new => format!("{n}%"),
        WriteKind::SetEnabled(on) if new => (if on { "on" } else { "off" }).into(),
        WriteKind::SetEnabled(_) => (if before.enabled { "on" } else { "off" }).into(),
        _ => format!("{}%", before.percent),
    }
}

/// The dialog that arms auto-advance: it is a write-to-be, so it is confirmed like one.
pub fn confirm_arm(f: &mut Frame<'_>, area: Rect, s: &State, i: usize, t: &Theme) {
    let g = glyphs(s.ascii);
    let r = &s.rollouts[i];
    let now = r.flag.as_ref().map_or(0, |f| f.percent);
    let next = r
        .def
        .next_percent(now)
        .map_or_else(|| "no further step".to_owned(), |n| format!("{n}%"));
    let lines = vec![
        field(" Rollout:     ", r.def.name.clone(), t.title, t),
        field(" Environment: ", r.def.environment.clone(), t.title, t),
        field(
            " Arms:        ",
            format!(
                "auto-advance {now}% {} {next} and every later step",
                g.arrow
            ),
            t.title,
            t,
        ),
        Line::styled(
            " rollwatch will write each next step WITHOUT ASKING once its bake time is over",
            t.warn,
        ),
        Line::styled(
            " and every rule is OK on fresh data. Automation stops when rollwatch exits.",
            t.warn,
        ),
        Line::raw(""),
        confirm_keys(t),
    ];
    dialog(f, area, s, t, " Arm auto-advance ", lines);
}

/// The dialog when quitting would stop armed automation.
pub fn confirm_quit(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let names: Vec<&str> = s
        .rollouts
        .iter()
        .filter(|r| r.armed || r.def.automation.auto_rollback)
        .map(|r| r.def.name.as_str())
        .collect();
    let lines = vec![
        Line::styled(
            format!(" Automation is armed for: {}", names.join(", ")),
            t.warn,
        ),
        Line::styled(
            " It runs inside this process: quitting STOPS auto-advance and auto-rollback.",
            t.critical,
        ),
        Line::raw(""),
        Line::from(vec![
            Span::styled(" [y] quit anyway ", t.selected),
            Span::raw("   "),
            Span::styled(" [n/Esc] stay ", t.dialog),
        ]),
    ];
    dialog(f, area, s, t, " Quit? ", lines);
}
