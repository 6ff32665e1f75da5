//! The live event loop of `watch` and `demo`: owns the state and the channel; the terminal
//! side (setup, signals, the frame writer, restoring it on every path) is [`super::term`],
//! shared with `replay`. Keys and mouse events become [`Action`]s here, at the edge, before
//! `update` sees them. Draws only when the state is dirty, after draining every queued
//! message. Quits on `q`, Ctrl-C, SIGTERM, SIGHUP, SIGINT and when the terminal goes away;
//! each of those is a [`Msg::Shutdown`] that goes through `update` like any message, so the
//! log file and the recording say why the session ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use tokio::sync::mpsc;

use super::effects::{Backends, Effects};
use super::keymap::{Action, action, filter_action};
use super::msg::Msg;
use super::session::{Frontend, LogFile, Session};
use super::state::{AlsoState, RolloutState, State};
use super::term::{Edge, FRAME_GAP, Input, Screen};
use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::model::Rollout;
use crate::record::Recorder;
use crate::ui::{self, Target, Theme};

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
            rs.kill_switch =
                b.flag.can_set_enabled() && b.also.iter().all(|a| a.flag.can_set_enabled());
            rs.also = b
                .also
                .iter()
                .map(|a| AlsoState::new(a.name.clone(), a.flag.describe()))
                .collect();
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
            Target::Rollout(i) => Some(Action::SelectRollout(i)),
        },
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::ScrollUp => Some(Action::Up),
        _ => None,
    }
}

/// The terminal as a [`Frontend`]: keys and the mouse become actions, frames are drawn at
/// most once per [`FRAME_GAP`] (a burst of changes becomes one frame).
struct Tui {
    screen: Screen,
    input: Input,
    themes: Vec<Theme>,
    last_draw: Option<Instant>,
    #[cfg(debug_assertions)]
    panic_key: Option<char>,
}

impl Frontend for Tui {
    fn present(&mut self, s: &mut State) -> Option<Msg> {
        // At most one frame per FRAME_GAP.
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= FRAME_GAP);
        if !(s.dirty && due) {
            return None;
        }
        self.last_draw = Some(Instant::now());
        let theme = &self.themes[s.theme.min(self.themes.len() - 1)];
        let rung = self.screen.send(&super::notify::sequences(&std::mem::take(
            &mut s.notifications,
        )));
        let drawn = rung.and_then(|()| self.screen.draw(s.redraw_all, |f| ui::draw(f, s, theme)));
        s.fleet.page = ui::fleet::page(self.screen.area());
        s.dirty = false;
        s.redraw_all = false;
        drawn
            .err()
            .map(|e| Msg::Shutdown(format!("terminal output failed: {e}")))
    }

    async fn next(&mut self, s: &State) -> Option<Msg> {
        let redraw_at = (s.dirty)
            .then(|| {
                self.last_draw
                    .map(|t| tokio::time::Instant::from_std(t + FRAME_GAP))
            })
            .flatten();
        tokio::select! {
            () = tokio::time::sleep_until(redraw_at.unwrap_or_else(tokio::time::Instant::now)), if redraw_at.is_some() => None,
            edge = self.input.next() => match edge {
                Edge::Key(k) => {
                    // Debug builds only: a key that panics, so tests can prove the terminal
                    // is restored before the report is printed.
                    #[cfg(debug_assertions)]
                    #[allow(clippy::manual_assert)] // a deliberate crash, not an invariant
                    if self.panic_key.is_some_and(|p| k.code == crossterm::event::KeyCode::Char(p)) {
                        panic!("ROLLWATCH_DEBUG_PANIC_KEY pressed");
                    }
                    // While the fleet filter prompt is open, keys type into it.
                    let mapped = if s.fleet.typing {
                        filter_action(&k)
                    } else {
                        action(&k)
                    };
                    mapped.map(Msg::Action)
                }
                Edge::Mouse(m) => mouse_action(s, self.screen.area(), &m).map(Msg::Action),
                Edge::Resize => Some(Msg::Resize),
                Edge::Stop(why) => Some(Msg::Shutdown(why)),
            },
        }
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
    run_recorded_on(setup, rec, true, None).await
}

/// [`run_recorded`], opening on the fleet table when `fleet` and there are several rollouts
/// (else on the first rollout's dashboard: the demo opens on its scenario's rollout), and
/// discovering the fleets' flags again every `every_ms` (clock ms) with `discovery`, when
/// given.
///
/// # Errors
/// When the terminal cannot be set up.
///
/// # Panics
/// Debug builds only: on the key named by `ROLLWATCH_DEBUG_PANIC_KEY` (tests of the restore).
pub async fn run_recorded_on(
    setup: Setup,
    mut rec: Option<&mut Recorder>,
    fleet: bool,
    discovery: Option<(super::discovery::Shared, i64)>,
) -> color_eyre::Result<Option<String>> {
    if setup.themes.is_empty() {
        return Err(color_eyre::eyre::eyre!("no theme loaded"));
    }
    let clock = setup.clock.clone();
    let mut state = initial_state(&setup, clock.now_ms());
    if fleet && state.rollouts.len() > 1 {
        super::fleet::open_at_start(&mut state);
    }
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
    let (tx, rx) = mpsc::channel::<Msg>(256);
    let input = Input::new()?;
    let screen = Screen::open()?;
    let mut session = Session {
        state,
        effects: match discovery {
            Some(d) => effects(&setup, tx).with_discovery(d),
            None => effects(&setup, tx),
        },
        rx,
        clock,
        rec,
        log: LogFile {
            path: setup.log_file.clone(),
            written: 0,
        },
    };
    let mut tui = Tui {
        screen,
        input,
        themes: setup.themes,
        last_draw: None,
        #[cfg(debug_assertions)]
        panic_key: std::env::var("ROLLWATCH_DEBUG_PANIC_KEY")
            .ok()
            .and_then(|k| k.chars().next()),
    };
    let stop_reason = session.drive(&mut tui, setup.tick).await;
    let automated = super::update::automated(&session.state);
    // Quitting draws nothing more: the terminal is restored (or gone) right away.
    drop(tui);
    // Automation ends with this process: never silently.
    if automated.is_empty() {
        return Ok(stop_reason);
    }
    let note = format!(
        "automation of {} stopped with this dashboard (`rollwatch guard` keeps it running without a terminal)",
        automated.join(", ")
    );
    session
        .log
        .stopped(session.clock.now_ms(), Some(note.as_str()));
    Ok(Some(match stop_reason {
        Some(r) => format!("{r}; {note}"),
        None => note,
    }))
}
