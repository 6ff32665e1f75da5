//! The fleet table: one row per rollout (the k9s way), FIRING and UNKNOWN ones first (order
//! and filter: `app::fleet`). Columns: name, environment, flag %, step and bake left,
//! lifecycle state, the worst rule with its value, requests on the new path. Narrow screens
//! drop the environment, then the requests, then the step; name, flag, state and the worst
//! rule always stay. Only the rows on screen are formatted, so 500 rollouts cost what 30 do.
//!
//! ```text
//!  Fleet  12 rollouts  1 FIRING  1 UNKNOWN                        filter: /chk   rows 1-30 of 40
//!    NAME            ENV         FLAG  STEP        STATE        WORST RULE                 NEW REQS
//!  ▶ checkout        production   25%  2/5 3m12s   BAKING       ✖ FIRING err-rate 1.52%       12.3k
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{Glyphs, asciify, duration_coarse, glyphs, value};
use super::header::status_style;
use super::theme::Theme;
use crate::alerts::AlertStatus;
use crate::app::fleet::{class, order, selected_row, window, worst_rule};
use crate::app::lifecycle::{Lifecycle, lifecycle};
use crate::app::verdicts::new_requests;
use crate::app::{RolloutState, State};

/// Rows above the table's rows (the title and the column names).
const HEAD: u16 = 2;
/// Rows below them (the status line and the key hints).
const FOOT: u16 = 2;

/// Rows of rollouts the table shows in `area`.
#[must_use]
pub fn page(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(HEAD + FOOT))
}

/// The columns shown at a width: which optional ones fit, and the widths of the flexible ones.
#[derive(Debug, Clone, Copy)]
struct Cols {
    name: usize,
    env: Option<usize>,
    step: bool,
    reqs: bool,
    worst: usize,
}

const FLAG_W: usize = 4;
const STEP_W: usize = 10;
const STATE_W: usize = 11;
const REQS_W: usize = 8;
const WORST_MIN: usize = 24;
/// Wider than this, the worst rule's column leaves the rest of the line empty.
const WORST_MAX: usize = 48;
const MARK_W: usize = 3;

fn widest(s: &State, f: impl Fn(&RolloutState) -> usize, lo: usize, hi: usize) -> usize {
    s.rollouts.iter().map(f).max().unwrap_or(0).clamp(lo, hi)
}

/// Fits the columns into `width`: the environment goes first, then the requests, then the
/// step; the name shrinks (to 12) before the worst rule does.
fn cols(s: &State, width: usize) -> Cols {
    let name = widest(s, |r| r.def.name.chars().count(), 4, 32);
    let env = widest(s, |r| r.def.environment.chars().count(), 3, 14);
    let mut c = Cols {
        name,
        env: Some(env),
        step: true,
        reqs: true,
        worst: WORST_MIN,
    };
    let used = |c: &Cols| {
        MARK_W
            + c.name
            + 1
            + c.env.map_or(0, |e| e + 1)
            + FLAG_W
            + 2
            + if c.step { STEP_W + 1 } else { 0 }
            + STATE_W
            + 1
            + if c.reqs { REQS_W + 1 } else { 0 }
    };
    for drop in 0..3 {
        if used(&c) + WORST_MIN <= width {
            break;
        }
        match drop {
            0 => c.env = None,
            1 => c.reqs = false,
            _ => c.step = false,
        }
    }
    let over = (used(&c) + WORST_MIN).saturating_sub(width);
    c.name = c.name.saturating_sub(over).max(12.min(c.name));
    c.worst = width.saturating_sub(used(&c)).clamp(1, WORST_MAX);
    c
}

/// `text` cut or padded to exactly `w` columns (a cut ends in `~`).
fn fit(text: &str, w: usize) -> String {
    let n = text.chars().count();
    if n <= w {
        format!("{text:<w$}")
    } else if w == 0 {
        String::new()
    } else {
        text.chars().take(w - 1).chain(['~']).collect()
    }
}

/// A count in few characters: `870`, `12.3k`, `4.1M`.
fn count(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // a display of thousands and millions
    let f = n as f64;
    match n {
        0..1000 => n.to_string(),
        1000..1_000_000 => format!("{:.1}k", f / 1e3),
        _ => format!("{:.1}M", f / 1e6),
    }
}

/// A failing or stale backend of `r`, in words (`metrics ERROR: HTTP 503`, `flag STALE 47s`).
fn backend_trouble(s: &State, r: &RolloutState) -> Option<String> {
    let stale_after = s.stale_after_ms();
    [("flag", &r.flag_feed), ("metrics", &r.metrics_feed)]
        .into_iter()
        .find_map(
            |(name, feed)| match (&feed.error, feed.stale_age(s.now_ms, stale_after)) {
                (Some(e), _) => Some(format!("{name} ERROR: {e}")),
                (None, Some(age)) => Some(format!("{name} STALE {}", duration_coarse(age))),
                (None, None) => None,
            },
        )
}

/// The worst rule's cell: its state in a symbol and a word, its name and its value; a failing
/// or stale backend instead, unless a rule is FIRING (a firing rule keeps firing on lost data).
fn worst_cell(
    s: &State,
    r: &RolloutState,
    g: &Glyphs,
) -> (String, AlertStatus, Option<crate::alerts::Severity>) {
    let worst = worst_rule(r);
    let firing = worst.is_some_and(|k| r.alerts[k].status == AlertStatus::Firing);
    if !firing && let Some(trouble) = backend_trouble(s, r) {
        let sev = Some(crate::alerts::Severity::Critical);
        return (format!("{} {trouble}", g.fire), AlertStatus::Unknown, sev);
    }
    let Some(k) = worst else {
        return (format!("{} OK", g.ok), AlertStatus::Inactive, None);
    };
    let (a, rule) = (&r.alerts[k], &r.def.rules[k]);
    let sym = match a.status {
        AlertStatus::Firing => g.fire,
        AlertStatus::Pending => g.pending,
        AlertStatus::Unknown => g.unknown,
        _ => g.ok,
    };
    if a.status.rank() == 0 {
        return (format!("{sym} {}", a.status.label()), a.status, None);
    }
    let unit = r
        .def
        .metrics
        .iter()
        .find(|m| m.id == rule.metric)
        .map(|m| m.kind.unit());
    let v = match (a.value, unit) {
        (Some(v), Some(u)) => format!(" {}", value(Some(v), u, g)),
        (Some(v), None) => format!(" {}", crate::app::guard::short(v)),
        (None, _) => String::new(),
    };
    let why = match (a.status, &a.reason) {
        (AlertStatus::Unknown, Some(why)) => format!(": {why}"),
        _ => String::new(),
    };
    let text = format!("{sym} {} {}{v}{why}", a.status.label(), rule.name);
    (text, a.status, Some(rule.severity))
}

/// One rollout's row.
fn row<'a>(s: &State, r: &RolloutState, selected: bool, c: Cols, t: &Theme) -> Line<'a> {
    let g = glyphs(s.ascii);
    let base = if selected { t.selected } else { t.text };
    let flag = r.flag.as_ref();
    let pct = flag.map_or_else(
        || "?".to_owned(),
        |f| {
            if f.enabled {
                format!("{}%", f.percent)
            } else {
                "off".to_owned()
            }
        },
    );
    let life = lifecycle(r, s.automation_paused);
    let (worst, st, sev) = worst_cell(s, r, g);
    let mark = if selected { g.here } else { " " };
    let mut spans = vec![
        Span::styled(format!(" {mark} "), base),
        Span::styled(fit(&asciify(&r.def.name, s.ascii), c.name) + " ", base),
    ];
    if let Some(w) = c.env {
        let env = fit(&asciify(&r.def.environment, s.ascii), w) + " ";
        spans.push(Span::styled(env, if selected { base } else { t.dim }));
    }
    spans.push(Span::styled(format!("{pct:>FLAG_W$}  "), base));
    if c.step {
        let step = flag
            .and_then(|f| r.def.step_index(f.percent))
            .map_or_else(String::new, |i| format!("{}/{}", i + 1, r.def.steps.len()));
        let left = match life {
            Lifecycle::Baking { left_ms } => duration_coarse(left_ms),
            _ => String::new(),
        };
        let cell = format!("{step} {left}");
        spans.push(Span::styled(fit(cell.trim_end(), STEP_W) + " ", base));
    }
    let life_style = if selected {
        base
    } else {
        status_style(st, sev, t)
    };
    spans.push(Span::styled(fit(life.name(), STATE_W) + " ", life_style));
    let worst_style = if selected {
        base
    } else {
        status_style(st, sev, t)
    };
    spans.push(Span::styled(
        fit(&asciify(&worst, s.ascii), c.worst),
        worst_style,
    ));
    if c.reqs {
        let reqs = new_requests(r).map_or_else(|| g.none.to_owned(), count);
        spans.push(Span::styled(format!(" {reqs:>REQS_W$}"), base));
    }
    Line::from(spans)
}

/// The title line: counts, the filter (or its prompt) and where the page is.
fn title<'a>(s: &State, shown: usize, top: usize, rows: usize, t: &Theme) -> Line<'a> {
    let (firing, unknown) = s.rollouts.iter().fold((0, 0), |(f, u), r| match class(r) {
        0 => (f + 1, u),
        1 => (f, u + 1),
        _ => (f, u),
    });
    let n = s.rollouts.len();
    let mut spans = vec![
        Span::styled(" Fleet ", t.title),
        Span::styled(
            format!(" {n} rollout{} ", if n == 1 { "" } else { "s" }),
            t.text,
        ),
    ];
    if firing > 0 {
        spans.push(Span::styled(format!(" {firing} FIRING "), t.breach));
    }
    if unknown > 0 {
        spans.push(Span::styled(format!(" {unknown} UNKNOWN "), t.unknown));
    }
    let f = &s.fleet;
    if f.typing {
        spans.push(Span::styled(
            format!("  filter: /{}_", asciify(&f.filter, s.ascii)),
            t.selected,
        ));
        spans.push(Span::styled("  Enter keeps, Esc clears", t.dim));
    } else if !f.filter.is_empty() {
        spans.push(Span::styled(
            format!("  filter: /{}", asciify(&f.filter, s.ascii)),
            t.warn,
        ));
        spans.push(Span::styled(format!("  {shown} match  Esc clears"), t.dim));
    }
    if shown > rows {
        let last = (top + rows).min(shown);
        spans.push(Span::styled(
            format!("  rows {}-{last} of {shown}", top + 1),
            t.dim,
        ));
    }
    Line::from(spans)
}

/// The column names.
fn heading<'a>(c: Cols, t: &Theme) -> Line<'a> {
    let mut h = format!("   {}", fit("NAME", c.name + 1));
    if let Some(w) = c.env {
        h += &fit("ENV", w + 1);
    }
    h += &fit(&format!("{:>FLAG_W$}", "FLAG"), FLAG_W + 2);
    if c.step {
        h += &fit("STEP", STEP_W + 1);
    }
    h += &fit("STATE", STATE_W + 1);
    h += &fit("WORST RULE", c.worst);
    if c.reqs {
        h += &fit(&format!(" {:>REQS_W$}", "NEW REQS"), REQS_W + 1);
    }
    Line::styled(h, t.dim)
}

/// The first row shown and the table order, as drawn into `area`.
fn layout(s: &State, area: Rect) -> (Vec<usize>, usize) {
    let o = order(s);
    let pos = selected_row(s, &o);
    let top = window(o.len(), pos, s.fleet.top, page(area));
    (o, top)
}

/// Draws the fleet table into `area` (its last two rows are left to the status line and the
/// key hints).
pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, t: &Theme) {
    let (o, top) = layout(s, area);
    let rows = page(area);
    let c = cols(s, usize::from(area.width));
    let mut lines = vec![title(s, o.len(), top, rows, t), heading(c, t)];
    for &i in o.iter().skip(top).take(rows) {
        lines.push(row(s, &s.rollouts[i], i == s.selected, c, t));
    }
    if o.is_empty() {
        lines.push(Line::styled(
            "   no rollout matches the filter (Esc clears it)",
            t.dim,
        ));
    }
    let body = Rect {
        height: area.height.saturating_sub(FOOT),
        ..area
    };
    f.render_widget(Paragraph::new(lines).style(Style::default()), body);
}

/// The rollout whose row is at screen row `y` of the table drawn into `area`.
#[must_use]
pub fn hit(s: &State, area: Rect, y: u16) -> Option<usize> {
    let first = area.y + HEAD;
    let k = usize::from(y.checked_sub(first)?);
    if k >= page(area) {
        return None;
    }
    let (o, top) = layout(s, area);
    o.get(top + k).copied()
}
