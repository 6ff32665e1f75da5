//! `rollwatch replay FILE`: plays a recording (see [`crate::record`]) back in the real view.
//!
//! The [`Player`] rebuilds the recorded session's initial state from the header and feeds the
//! recorded messages through the same pure `update`, each once the timeline reaches its clock
//! time. The commands `update` returns are dropped: a replay has no effects at all, so nothing
//! is polled and nothing can be written. Seeking forward applies the messages in between;
//! seeking back rebuilds from the start and re-applies up to the target (cheap: `update` is
//! fast and recordings are bounded).
//!
//! The screen is the real dashboard under a one-row replay bar:
//! `‖ REPLAY 1:23/10:00 ×4 PAUSED   recorded: demo --scenario regression   space pause …`.
mod check;
mod recording;

pub use recording::{Entry, Recording, ReplayError};

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Constraint, Layout};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::Paragraph;
use ratatui::{Frame, Terminal, backend::Backend};

use crate::app::term::{Edge, FRAME_GAP, Input, Screen};
use crate::app::{State, update};
use crate::ui::{self, Theme};

/// Seek step of `←`/`→` (clock ms).
pub const SEEK_MS: i64 = 10_000;
/// Slowest and fastest replay speeds.
pub const SPEED_RANGE: (f64, f64) = (1.0 / 16.0, 1024.0);
/// How long a notice stays in the replay bar (real time).
const NOTICE: Duration = Duration::from_secs(4);

/// The replay's keys (keys, what they do), as its help shows them. None of the dashboard's
/// keys act in a replay: the recorded ones play as they were pressed.
pub const BINDINGS: &[(&str, &str)] = &[
    ("space", "pause / play (at the end: from the start)"),
    ("→ l   ← h", "seek 10 s forward / back"),
    ("g Home  G End", "to the start / to the end"),
    ("+ ] =   - [", "twice / half as fast"),
    ("?", "this help"),
    ("q  Esc  Ctrl-C", "leave the replay"),
];

/// The replay's key hints, in the footer where the dashboard shows its own.
pub const HINTS: &str = " space pause  ←→ seek  g/G start/end  +/- speed  ? help  q quit";

/// What the event loop should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep playing.
    Continue,
    /// Leave the replay.
    Quit,
}

/// A recording being played: the timeline position and the state at it.
pub struct Player {
    rec: Recording,
    /// The recorded session's state at the current position.
    pub state: State,
    next: usize,
    pos_ms: f64,
    /// Clock ms per real ms.
    pub speed: f64,
    /// Paused (also once the end is reached).
    pub paused: bool,
    ascii: bool,
    notice: Option<(String, Duration)>,
    /// The replay's help is shown.
    pub help: bool,
}

impl Player {
    /// A player at the start of `rec`, playing at `speed` (the recording's own speed when
    /// `None`).
    #[must_use]
    pub fn new(rec: Recording, speed: Option<f64>, ascii: bool) -> Self {
        let speed = speed.unwrap_or(rec.header.clock_speed);
        let mut p = Self {
            state: rec.header.initial_state(ascii),
            pos_ms: 0.0,
            next: 0,
            speed: clamp_speed(speed),
            paused: false,
            ascii,
            notice: None,
            help: false,
            rec,
        };
        p.seek(p.rec.start_ms());
        p
    }

    /// The recording.
    #[must_use]
    pub fn recording(&self) -> &Recording {
        &self.rec
    }

    /// Current timeline position (clock ms).
    #[must_use]
    pub fn position_ms(&self) -> i64 {
        #[allow(clippy::cast_possible_truncation)]
        let p = self.pos_ms.floor() as i64;
        p
    }

    /// At the last message.
    #[must_use]
    pub fn at_end(&self) -> bool {
        self.next == self.rec.entries.len() && self.position_ms() >= self.rec.end_ms()
    }

    /// Moves the position to `ms` (clamped to the recording): forward by applying the
    /// messages in between, back by rebuilding from the start.
    pub fn seek(&mut self, ms: i64) {
        let target = ms.clamp(self.rec.start_ms(), self.rec.end_ms());
        if target < self.position_ms() {
            self.state = self.rec.header.initial_state(self.ascii);
            self.next = 0;
        }
        #[allow(clippy::cast_precision_loss)]
        {
            self.pos_ms = target as f64;
        }
        self.apply_due();
    }

    /// Lets `real` time pass at the current speed (nothing while paused). Stops at the end.
    pub fn advance(&mut self, real: Duration) {
        if let Some((_, left)) = &mut self.notice {
            *left = left.saturating_sub(real);
            if left.is_zero() {
                self.notice = None;
            }
        }
        if self.paused {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let end = self.rec.end_ms() as f64;
        self.pos_ms = (self.pos_ms + real.as_secs_f64() * 1000.0 * self.speed).min(end);
        self.apply_due();
        if self.at_end() {
            self.paused = true;
        }
    }

    fn apply_due(&mut self) {
        let pos = self.position_ms();
        while let Some(e) = self.rec.entries.get(self.next) {
            if e.t > pos {
                break;
            }
            // A replay performs nothing: the commands are dropped.
            let _ = update(&mut self.state, e.msg.clone());
            self.next += 1;
        }
    }

    /// Handles a key of the replay's own keymap.
    pub fn on_key(&mut self, k: &KeyEvent) -> Control {
        if k.kind == KeyEventKind::Release {
            return Control::Continue;
        }
        if k.modifiers.contains(KeyModifiers::CONTROL) {
            return if k.code == KeyCode::Char('c') {
                Control::Quit
            } else {
                Control::Continue
            };
        }
        match k.code {
            KeyCode::Char('?') => self.help = !self.help,
            KeyCode::Esc if self.help => self.help = false,
            KeyCode::Char('q') | KeyCode::Esc => return Control::Quit,
            KeyCode::Char(' ') => {
                if self.paused && self.at_end() {
                    self.seek(self.rec.start_ms());
                    self.paused = false;
                } else {
                    self.paused = !self.paused;
                }
            }
            KeyCode::Right | KeyCode::Char('l') => self.seek(self.position_ms() + SEEK_MS),
            KeyCode::Left | KeyCode::Char('h') => self.seek(self.position_ms() - SEEK_MS),
            KeyCode::Home | KeyCode::Char('g') => self.seek(self.rec.start_ms()),
            KeyCode::End | KeyCode::Char('G') => self.seek(self.rec.end_ms()),
            KeyCode::Char('+' | '=' | ']') => self.speed = clamp_speed(self.speed * 2.0),
            KeyCode::Char('-' | '[') => self.speed = clamp_speed(self.speed / 2.0),
            KeyCode::Char('r' | 'k' | 'K' | '!' | 'y' | 'Y') | KeyCode::Enter => {
                self.say("replay: writes are disabled");
            }
            _ => self.say("replay keys: space ←/→ h/l +/- g/G ? q"),
        }
        Control::Continue
    }

    fn say(&mut self, text: &str) {
        self.notice = Some((text.to_owned(), NOTICE));
    }

    /// The notice shown in the bar, if any.
    #[must_use]
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(|(t, _)| t.as_str())
    }

    /// `REPLAY 1:23/10:00 ×4 PAUSED`: position and length from the recording's start.
    #[must_use]
    pub fn marker(&self) -> String {
        let start = self.rec.start_ms();
        let mut s = format!(
            "REPLAY {}/{} {}{}",
            clock(self.position_ms() - start),
            clock(self.rec.end_ms() - start),
            if self.ascii { "x" } else { "×" },
            speed_text(self.speed)
        );
        if self.at_end() {
            s.push_str(" END");
        } else if self.paused {
            s.push_str(" PAUSED");
        }
        s
    }
}

fn clamp_speed(s: f64) -> f64 {
    if s.is_finite() && s > 0.0 {
        s.clamp(SPEED_RANGE.0, SPEED_RANGE.1)
    } else {
        1.0
    }
}

fn speed_text(s: f64) -> String {
    let t = format!("{s:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `m:ss`, or `h:mm:ss` from an hour.
fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Draws the replay bar on the first row and the real dashboard below it, with the replay's
/// own keys in the footer and in its help (`?`).
pub fn draw(f: &mut Frame<'_>, p: &Player, t: &Theme) {
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(f.area());
    ui::draw_in(f, rest, &p.state, t);
    if rest.width >= ui::MIN_W && rest.height >= ui::MIN_H {
        // The dashboard's last row holds its key hints: a replay's keys are other ones.
        let hints = ratatui::layout::Rect {
            y: rest.bottom() - 1,
            height: 1,
            ..rest
        };
        ui::footer::draw_hints(f, hints, HINTS, &p.state, t);
    }
    if p.help {
        ui::overlay::replay_help(f, rest, &p.state, t, BINDINGS);
    }
    let icon = match (p.paused, p.ascii) {
        (false, false) => "▶",
        (false, true) => ">",
        (true, false) => "‖",
        (true, true) => "||",
    };
    let right = match p.notice() {
        Some(n) => Span::styled(format!(" {n} "), t.warn),
        None => Span::styled(" ? keys ", t.dim),
    };
    let mut left = TextLine::from(Span::styled(format!(" {icon} {} ", p.marker()), t.selected));
    let what = Span::styled(format!("  recorded: {}", p.rec.header.command), t.dim);
    // What was recorded only when it fits beside the keys or the notice.
    if left.width() + what.width() + right.width() < usize::from(bar.width) {
        left.push_span(what);
    }
    let width = u16::try_from(left.width()).unwrap_or(u16::MAX);
    let [l, r] = Layout::horizontal([Constraint::Length(width), Constraint::Min(0)]).areas(bar);
    f.render_widget(Paragraph::new(left), l);
    f.render_widget(Paragraph::new(right).alignment(Alignment::Right), r);
}

/// The theme to draw with: the first one (the user's choice) until the recording switched
/// themes with `t`, then the recorded one by name when it is loaded here.
fn theme_for<'a>(s: &State, themes: &'a [Theme]) -> &'a Theme {
    let recorded = s.themes.get(s.theme).filter(|_| s.theme > 0);
    recorded
        .and_then(|name| themes.iter().find(|t| &t.name == name))
        .unwrap_or(&themes[0])
}

/// Renders the player once into any backend (tests, screenshots).
///
/// # Errors
/// When the backend fails.
pub fn render<B: Backend>(
    term: &mut Terminal<B>,
    p: &Player,
    themes: &[Theme],
) -> Result<(), B::Error> {
    term.draw(|f| draw(f, p, theme_for(&p.state, themes)))?;
    Ok(())
}

/// Plays `p` in the terminal until `q`. Returns why it stopped when not a plain quit.
///
/// # Errors
/// When the terminal cannot be set up.
pub async fn run(mut p: Player, themes: Vec<Theme>) -> color_eyre::Result<Option<String>> {
    if themes.is_empty() {
        return Err(color_eyre::eyre::eyre!("no theme loaded"));
    }
    let mut input = Input::new()?;
    let mut screen = Screen::open()?;
    let mut last = Instant::now();
    let mut shown: Option<(String, Option<String>, bool)> = None;
    let mut force = true;
    let stop = loop {
        let now = Instant::now();
        p.advance(now - last);
        last = now;
        let bar = (p.marker(), p.notice().map(str::to_owned), p.help);
        if force || p.state.dirty || shown.as_ref() != Some(&bar) {
            let theme = theme_for(&p.state, &themes);
            if let Err(e) = screen.draw(p.state.redraw_all, |f| draw(f, &p, theme)) {
                break Some(format!("terminal output failed: {e}"));
            }
            p.state.dirty = false;
            p.state.redraw_all = false;
            // The dashboard sits under the replay's bar (one row).
            let mut rest = screen.area();
            rest.height = rest.height.saturating_sub(1);
            p.state.fleet.page = ui::fleet::page(rest);
            shown = Some(bar);
            force = false;
        }
        let wait = if p.paused {
            Duration::from_millis(250)
        } else {
            FRAME_GAP
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            edge = input.next() => match edge {
                Edge::Key(k) => {
                    if p.on_key(&k) == Control::Quit {
                        break None;
                    }
                }
                Edge::Resize => force = true,
                // A replay acts on nothing a click could point at.
                Edge::Mouse(_) => {}
                Edge::Stop(why) => break Some(why),
            },
        }
    };
    drop(screen);
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_speed_read_like_a_player() {
        assert_eq!(clock(83_000), "1:23");
        assert_eq!(clock(600_000), "10:00");
        assert_eq!(clock(3_725_000), "1:02:05");
        assert_eq!(speed_text(4.0), "4");
        assert_eq!(speed_text(0.5), "0.5");
        assert_eq!(speed_text(0.125), "0.125");
        assert!((clamp_speed(1e9) - SPEED_RANGE.1).abs() < f64::EPSILON);
        assert!((clamp_speed(f64::NAN) - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn bad_files_say_which_line() {
        let err = |text: &str| Recording::parse(text).unwrap_err().to_string();
        assert_eq!(err(""), "line 1: empty recording: expected a header line");
        assert!(
            err("{\"x\":1}\n")
                .starts_with("line 1: not a rollwatch recording header: missing field"),
            "{}",
            err("{\"x\":1}\n")
        );
        let header = include_str!("../examples/recordings/regression.jsonl")
            .lines()
            .next()
            .unwrap();
        let t = 1_795_408_018_464_i64; // the header's started_ms
        let text = format!(
            "{header}\n{{\"t\":{t},\"msg\":{{\"type\":\"tick\",\"now_ms\":1}}}}\n\
             {{\"t\":{t},\"msg\":{{\"type\":\"reconciled\",\"rollout\":7,\"notes\":[]}}}}\n"
        );
        let err = Recording::parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("line 3: rollout 7 does not exist"), "{err}");
    }
}
