//! The live event loop of `watch` and `demo`: owns the state and the channel; the terminal
//! side (setup, signals, the frame writer, restoring it on every path) is [`super::term`],
//! shared with `replay`. Keys and mouse events become [`Action`]s here, at the edge, before
//! `update` sees them. Draws only when the state is dirty, after draining every queued
//! message. Quits on `q`, Ctrl-C, SIGTERM, SIGHUP, SIGINT and when the terminal goes away;
//! each of those is a [`Msg::Shutdown`] that goes through `update` like any message, so the
//! log file and the recording say why the session ended.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use tokio::sync::mpsc;

use super::effects::{Backends, Effects};
use super::keymap::{Action, action};
use super::msg::Msg;
use super::state::{RolloutState, State};
use super::term::{Edge, FRAME_GAP, Input, Screen};
use super::update::update;
use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::model::Rollout;
use crate::record::Recorder;
use crate::ui::{self, Target, Theme};

/// Appends the events logged since the last call to rollwatch's own log file (never to the
/// terminal it draws on). Best effort: a full disk must not stop the dashboard.
struct LogFile {
    path: Option<std::path::PathBuf>,
    written: u64,
}

impl LogFile {
    fn follow(&mut self, s: &State) {
        let new = usize::try_from(s.logged - self.written).unwrap_or(usize::MAX);
        self.written = s.logged;
        let Some(path) = &self.path else { return };
        if new == 0 {
            return;
        }
        let mut text = String::new();
        for e in s.events.iter().skip(s.events.len().saturating_sub(new)) {
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!(
                    "{} {:?} [{}] {}\n",
                    Self::time(e.at_ms),
                    e.level,
                    e.rollout,
                    e.text
                ),
            );
        }
        append(path, &text);
    }

    /// The last line: why the session ended. After an SSH drop this file is the only place
    /// left to say it.
    fn stopped(&self, at_ms: i64, reason: Option<&str>) {
        if let Some(path) = &self.path {
            let why = reason.unwrap_or("quit");
            append(
                path,
                &format!("{} Info [rollwatch] stopped: {why}\n", Self::time(at_ms)),
            );
        }
    }

    fn time(at_ms: i64) -> String {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms)
            .map_or_else(String::new, |d| d.to_rfc3339())
    }
}

/// Appends `text` to `path` (one `write` on a file opened for appending, so it reaches the
/// OS before the call returns), creating the folder when needed.
fn append(path: &std::path::Path, text: &str) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Everything the loop needs.
#[allow(clippy::struct_excessive_bools)] // independent options of a session, not a state machine
pub struct Setup {
    /// Rollouts with their backends.
    pub rollouts: Vec<(Rollout, Backends)>,
    /// The clock (scaled in the demo).
    pub clock: Arc<dyn Clock>,
    /// Poll interval in clock time.
    pub refresh_ms: i64,
    /// Real time between ticks.
    pub tick: Duration,
    /// Writes disabled.
    pub read_only: bool,
    /// Bell and desktop notifications (config `notify`).
    pub notify: bool,
    /// Show the keys as they are pressed (`demo --show-keys`).
    pub show_keys: bool,
    /// Themes, the first is used at start.
    pub themes: Vec<Theme>,
    /// ASCII glyphs.
    pub ascii: bool,
    /// Audit log.
    pub audit: AuditLog,
    /// Total deadline of each request (real time).
    pub deadline: Duration,
    /// rollwatch's own log file (events, errors); `None` disables it.
    pub log_file: Option<std::path::PathBuf>,
}

/// Builds the initial state for a setup (also used by tests and snapshot rendering).
#[must_use]
pub fn initial_state(setup: &Setup, now_ms: i64) -> State {
    let rollouts = setup
        .rollouts
        .iter()
        .map(|(r, b)| {
            let mut rs =
                RolloutState::new(r.clone(), b.flag.describe(), b.metrics.describe(), now_ms);
            rs.insecure_tls = b.insecure_tls;
            rs.kill_switch = b.flag.can_set_enabled();
            // Seen again on the first read only while the flag is still at 0 %.
            rs.rolled_back_at_ms = setup.audit.last_rollback_ms(&r.name);
            rs.audited_step = setup.audit.last_landed_step(&r.name);
            rs
        })
        .collect();
    let mut s = State::new(rollouts, setup.refresh_ms, now_ms);
    s.read_only = setup.read_only;
    s.notify_enabled = setup.notify;
    s.show_keys = setup.show_keys;
    s.themes = setup.themes.iter().map(|t| t.name.clone()).collect();
    s.ascii = setup.ascii;
    s
}

/// The effects of a setup, reporting on `tx`.
pub(crate) fn effects(setup: &Setup, tx: mpsc::Sender<Msg>) -> Effects {
    Effects::new(
        setup.rollouts.iter().map(|(r, _)| r.name.clone()).collect(),
        setup.rollouts.iter().map(|(_, b)| b.clone()).collect(),
        tx,
        setup.clock.clone(),
        setup.audit.clone(),
        setup.read_only,
        setup.deadline,
    )
}

/// What a mouse event asks for: a left click on a metric row selects it (see
/// [`Action::Select`]), the wheel moves the selection or scrolls the help. `area` is the
/// screen the pointer is on; `update` never sees a position.
#[must_use]
pub fn mouse_action(s: &State, area: Rect, m: &MouseEvent) -> Option<Action> {
    match m.kind {
        MouseEventKind::Down(MouseButton::Left) => match ui::hit(s, area, m.column, m.row)? {
            Target::Metric(k) => Some(Action::Select(k)),
        },
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::ScrollUp => Some(Action::Up),
        _ => None,
    }
}

/// A live session: every message goes through [`Session::apply`] (recorded, applied, its
/// commands started, the log file following), every frame through [`Session::draw`].
struct Session<'r> {
    state: State,
    effects: Effects,
    clock: Arc<dyn Clock>,
    rec: Option<&'r mut Recorder>,
    log: LogFile,
    themes: Vec<Theme>,
}

impl Session<'_> {
    /// Applies a batch of messages in order, then flushes the recording and the log file.
    fn apply(&mut self, batch: Vec<Msg>) {
        for m in batch {
            if let Some(r) = self.rec.as_deref_mut() {
                r.record(self.clock.now_ms(), &m);
            }
            for c in update(&mut self.state, m) {
                self.effects.run(c);
            }
        }
        if let Some(r) = self.rec.as_deref_mut() {
            r.flush();
        }
        self.log.follow(&self.state);
    }

    /// Draws the state when it changed; the message that ends the session when the terminal
    /// is gone.
    fn draw(&mut self, screen: &mut Screen) -> Option<Msg> {
        let s = &mut self.state;
        let theme = &self.themes[s.theme.min(self.themes.len() - 1)];
        let rung = screen.send(&super::notify::sequences(&std::mem::take(
            &mut s.notifications,
        )));
        let drawn = rung.and_then(|()| screen.draw(s.redraw_all, |f| ui::draw(f, s, theme)));
        s.dirty = false;
        s.redraw_all = false;
        drawn
            .err()
            .map(|e| Msg::Shutdown(format!("terminal output failed: {e}")))
    }
}

/// Runs the dashboard until quit. Returns the reason it stopped when not a plain quit.
///
/// # Errors
/// When the terminal cannot be set up.
pub async fn run(setup: Setup) -> color_eyre::Result<Option<String>> {
    run_recorded(setup, None).await
}

/// [`run`], appending every message that reaches `update` to a recording (`--record`).
///
/// # Errors
/// When the terminal cannot be set up.
///
/// # Panics
/// Debug builds only: on the key named by `ROLLWATCH_DEBUG_PANIC_KEY` (tests of the restore).
pub async fn run_recorded(
    setup: Setup,
    rec: Option<&mut Recorder>,
) -> color_eyre::Result<Option<String>> {
    run_discovering(setup, rec, None).await
}

/// [`run_recorded`], discovering the fleets' flags again every `every_ms` (clock ms) with
/// `discovery`, when given.
///
/// # Errors
/// When the terminal cannot be set up.
///
/// # Panics
/// Debug builds only: on the key named by `ROLLWATCH_DEBUG_PANIC_KEY` (tests of the restore).
pub async fn run_discovering(
    setup: Setup,
    mut rec: Option<&mut Recorder>,
    discovery: Option<(super::discovery::Shared, i64)>,
) -> color_eyre::Result<Option<String>> {
    if setup.themes.is_empty() {
        return Err(color_eyre::eyre::eyre!("no theme loaded"));
    }
    let clock = setup.clock.clone();
    let mut state = initial_state(&setup, clock.now_ms());
    let discovery = discovery.map(|(d, every_ms)| {
        state.discovery = Some(super::discovery::DiscoveryFeed {
            every_ms,
            next_at_ms: state.now_ms + every_ms,
            in_flight: false,
        });
        d
    });
    if let Some(r) = rec.as_deref_mut() {
        r.begin(&state);
    }
    let (tx, mut rx) = mpsc::channel::<Msg>(256);
    let mut input = Input::new()?;
    let mut screen = Screen::open()?;
    let mut session = Session {
        state,
        effects: match discovery {
            Some(d) => effects(&setup, tx).with_discovery(d),
            None => effects(&setup, tx),
        },
        clock: clock.clone(),
        rec,
        log: LogFile {
            path: setup.log_file.clone(),
            written: 0,
        },
        themes: setup.themes,
    };
    let mut tick = tokio::time::interval(setup.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The first tick is immediate and `Started` is that tick.
    tick.tick().await;
    let mut stop_reason = None;
    #[cfg(debug_assertions)]
    let panic_key = std::env::var("ROLLWATCH_DEBUG_PANIC_KEY")
        .ok()
        .and_then(|k| k.chars().next());

    // Polls start, dangling intents are reconciled, the first frame shows "no data yet".
    session.apply(vec![Msg::Started(clock.now_ms())]);
    let mut last_draw: Option<Instant> = None;
    loop {
        // Quitting draws nothing more: the terminal is restored (or gone) right after.
        if session.state.quit {
            break;
        }
        // At most one frame per FRAME_GAP: a burst of changes becomes one frame.
        let due = last_draw.is_none_or(|t| t.elapsed() >= FRAME_GAP);
        let mut failed = None;
        if session.state.dirty && due {
            failed = session.draw(&mut screen);
            last_draw = Some(Instant::now());
        }
        let redraw_at = (session.state.dirty)
            .then(|| last_draw.map(|t| tokio::time::Instant::from_std(t + FRAME_GAP)))
            .flatten();
        let msg = if let Some(m) = failed {
            m
        } else {
            tokio::select! {
            () = tokio::time::sleep_until(redraw_at.unwrap_or_else(tokio::time::Instant::now)), if redraw_at.is_some() => continue,
            _ = tick.tick() => Msg::Tick(clock.now_ms()),
            edge = input.next() => match edge {
                Edge::Key(k) => {
                    // Debug builds only: a key that panics, so tests can prove the terminal
                    // is restored before the report is printed.
                    #[cfg(debug_assertions)]
                    #[allow(clippy::manual_assert)] // a deliberate crash, not an invariant
                    if panic_key.is_some_and(|p| k.code == crossterm::event::KeyCode::Char(p)) {
                        panic!("ROLLWATCH_DEBUG_PANIC_KEY pressed");
                    }
                    match action(&k) {
                        Some(a) => Msg::Action(a),
                        None => continue,
                    }
                }
                Edge::Mouse(m) => match mouse_action(&session.state, screen.area(), &m) {
                    Some(a) => Msg::Action(a),
                    None => continue,
                },
                Edge::Resize => Msg::Resize,
                Edge::Stop(why) => Msg::Shutdown(why),
            },
            Some(m) = rx.recv() => m,
            }
        };
        if let Msg::Shutdown(r) = &msg {
            stop_reason = Some(r.clone());
        }
        let mut batch = vec![msg];
        // Coalesce: everything already queued goes into the same frame.
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        session.apply(batch);
    }
    drop(screen);
    session.log.stopped(clock.now_ms(), stop_reason.as_deref());
    Ok(stop_reason)
}
