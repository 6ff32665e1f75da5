//! The event loop: owns the terminal, the state and the channel. Draws only when the state is
//! dirty, after draining every queued message, each frame inside synchronized output and sent
//! with a single `write()`. Quits on `q`, Ctrl-C, SIGTERM, SIGHUP, SIGINT and when the terminal
//! goes away, restoring the terminal on every path.
//!
//! How the loop learns that the terminal went away (an SSH drop, `tmux kill-session`: the pty's
//! master side is closed and the kernel hangs the terminal up):
//! - as the terminal's session leader (`exec rollwatch`), by SIGHUP from the kernel;
//! - otherwise (started by a shell that ignores SIGHUP, under `nohup`), on the next tick: a
//!   hung-up terminal refuses every request, so it no longer reads as a terminal
//!   ([`terminal_gone`]). crossterm's input stream cannot tell: it reads end-of-file in a loop
//!   and never reports it;
//! - or when writing a frame fails.
//!
//! Each is a [`Msg::Shutdown`] that goes through `update` like any message, so the log file
//! and the recording say why the session ended; nothing waits and nothing is printed to the
//! gone terminal (see also [`install_hooks`]).

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{cursor, execute, queue, terminal};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use super::effects::{Backends, Effects};
use super::msg::Msg;
use super::state::{RolloutState, State};
use super::update::update;
use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::model::Rollout;
use crate::record::Recorder;
use crate::ui::{self, Theme};

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
    s.themes = setup.themes.iter().map(|t| t.name.clone()).collect();
    s.ascii = setup.ascii;
    s
}

static TERMINAL_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Shortest time between two frames (about 30 fps at most).
pub const FRAME_GAP: Duration = Duration::from_millis(33);

/// Leaves the alternate screen, shows the cursor, restores cooked mode. Safe to call twice and
/// when the terminal is gone (errors are ignored: there is nobody to tell).
pub fn restore_terminal() {
    if TERMINAL_ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = execute!(
            out,
            EndSynchronizedUpdate,
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
        let _ = out.flush();
    }
}

/// Installs color-eyre's error report and a panic hook that restores the terminal, then writes
/// color-eyre's panic report to stderr. That write may fail (after an SSH drop stderr is a
/// hung-up terminal) and is allowed to: a panic hook that panics on a failed write (as
/// `eprintln!` does) turns the panic into an abort.
///
/// # Errors
/// When color-eyre's hooks were installed already.
pub fn install_hooks() -> color_eyre::Result<()> {
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default().try_into_hooks()?;
    eyre_hook.install()?;
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        let _ = writeln!(io::stderr(), "{}", panic_hook.panic_report(info));
    }));
    Ok(())
}

/// Whether the terminal on stdout, a terminal when the session started (`was_tty`), has gone
/// away. A hung-up terminal answers every request (here the one `isatty` makes) with an error,
/// so one cheap system call per tick notices an SSH drop that no signal announced.
#[must_use]
pub fn terminal_gone(was_tty: bool) -> bool {
    was_tty && !io::stdout().is_terminal()
}

/// Collects a frame so it reaches the terminal in one `write()`. ratatui flushes inside
/// `draw`; here that flush does nothing, and [`FrameSink::commit`] sends the whole frame.
#[derive(Clone, Default)]
pub struct FrameWriter(Arc<Mutex<Vec<u8>>>);

impl FrameWriter {
    fn buf(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the collected bytes with one `write_all` and one flush.
    ///
    /// # Errors
    /// When the terminal is gone.
    pub fn commit(&self, out: &mut impl Write) -> io::Result<()> {
        let mut buf = self.buf();
        if buf.is_empty() {
            return Ok(());
        }
        let r = out.write_all(&buf).and_then(|()| out.flush());
        buf.clear();
        r
    }
}

/// What ratatui writes for a frame in which no cell changed.
const NOOP_FRAME: &[u8] = b"\x1b[39m\x1b[49m\x1b[59m\x1b[0m\x1b[?25l";

impl FrameWriter {
    fn len(&self) -> usize {
        self.buf().len()
    }

    /// Whether the bytes written since `start` are exactly `bytes`.
    fn tail_from(&self, start: usize, bytes: &[u8]) -> bool {
        self.buf().get(start..).is_some_and(|t| t == bytes)
    }

    fn clear(&self) {
        self.buf().clear();
    }
}

impl Write for FrameWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Renders one frame: synchronized-output begin, the diff, end, then a single write.
///
/// # Errors
/// When the terminal is gone.
pub fn draw_frame<W: Write>(
    term: &mut Terminal<CrosstermBackend<FrameWriter>>,
    sink: &FrameWriter,
    out: &mut W,
    s: &State,
    t: &Theme,
) -> io::Result<()> {
    queue!(term.backend_mut(), BeginSynchronizedUpdate)?;
    let start = sink.len();
    if s.redraw_all {
        // Ctrl-L: forget what the screen is believed to hold and repaint every cell, so text
        // another program wrote to the terminal (`wall`, a stray `echo`) disappears.
        term.clear()?;
    }
    term.draw(|f| ui::draw(f, s, t))?;
    // A frame whose diff is empty still gets ratatui's style reset and cursor hide: send
    // nothing at all for it (0 bytes when nothing visible changed).
    if sink.tail_from(start, NOOP_FRAME) {
        sink.clear();
        return Ok(());
    }
    queue!(term.backend_mut(), EndSynchronizedUpdate)?;
    sink.commit(out)
}

/// Takes the terminal: raw mode, alternate screen, hidden cursor. [`restore_terminal`] (also
/// run by the panic hook) gives it back.
///
/// # Errors
/// When the terminal cannot be set up.
pub fn take_terminal() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    TERMINAL_ACTIVE.store(true, Ordering::SeqCst);
    execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)
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
pub async fn run_recorded(
    setup: Setup,
    mut rec: Option<&mut Recorder>,
) -> color_eyre::Result<Option<String>> {
    let clock = setup.clock.clone();
    let mut state = initial_state(&setup, clock.now_ms());
    if let Some(r) = rec.as_deref_mut() {
        r.begin(&state);
    }
    let (tx, mut rx) = mpsc::channel::<Msg>(256);
    let backends = setup.rollouts.iter().map(|(_, b)| b.clone()).collect();
    let effects = Effects::new(
        setup.rollouts.iter().map(|(r, _)| r.name.clone()).collect(),
        backends,
        tx,
        clock.clone(),
        setup.audit.clone(),
        setup.read_only,
        setup.deadline,
    );

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;

    let _guard = Guard;
    let was_tty = io::stdout().is_terminal();
    take_terminal()?;
    let sink = FrameWriter::default();
    let mut out = io::stdout();
    let mut term = Terminal::new(CrosstermBackend::new(sink.clone()))?;
    term.clear()?;
    sink.commit(&mut out)?;

    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(setup.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop_reason = None;
    let mut log = LogFile {
        path: setup.log_file.clone(),
        written: 0,
    };
    #[cfg(debug_assertions)]
    let panic_key = std::env::var("ROLLWATCH_DEBUG_PANIC_KEY")
        .ok()
        .and_then(|k| k.chars().next());

    // First tick right away: polls start, and the first frame shows "no data yet".
    let first = Msg::Tick(clock.now_ms());
    if let Some(r) = rec.as_deref_mut() {
        r.record(clock.now_ms(), &first);
        r.flush();
    }
    for c in update(&mut state, first) {
        effects.run(c);
    }
    for i in 0..setup.rollouts.len() {
        effects.run(super::msg::Command::Reconcile(i));
    }
    let mut last_draw: Option<Instant> = None;
    loop {
        // Quitting draws nothing more: the terminal is restored (or gone) right after.
        if state.quit {
            break;
        }
        // At most one frame per FRAME_GAP: a burst of changes becomes one frame.
        let due = last_draw.is_none_or(|t| t.elapsed() >= FRAME_GAP);
        let mut failed = None;
        if state.dirty && due {
            let theme = &setup.themes[state.theme.min(setup.themes.len() - 1)];
            match draw_frame(&mut term, &sink, &mut out, &state, theme) {
                Ok(()) => last_draw = Some(Instant::now()),
                Err(e) => failed = Some(Msg::Shutdown(format!("terminal output failed: {e}"))),
            }
            state.dirty = false;
            state.redraw_all = false;
        }
        let redraw_at = (state.dirty)
            .then(|| last_draw.map(|t| tokio::time::Instant::from_std(t + FRAME_GAP)))
            .flatten();
        let msg = if let Some(m) = failed {
            m
        } else {
            tokio::select! {
            () = tokio::time::sleep_until(redraw_at.unwrap_or_else(tokio::time::Instant::now)), if redraw_at.is_some() => continue,
            _ = tick.tick() => if terminal_gone(was_tty) {
                Msg::Shutdown("terminal hung up".into())
            } else {
                Msg::Tick(clock.now_ms())
            },
            ev = input.next() => match ev {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Resize(..))) => Msg::Resize,
                Some(Ok(_)) => continue,
                Some(Err(e)) => Msg::Shutdown(format!("terminal input failed: {e}")),
                None => Msg::Shutdown("terminal closed".into()),
            },
            Some(m) = rx.recv() => m,
            _ = sigterm.recv() => Msg::Shutdown("SIGTERM".into()),
            _ = sighup.recv() => Msg::Shutdown("SIGHUP: terminal hung up".into()),
            _ = sigint.recv() => Msg::Shutdown("SIGINT".into()),
            }
        };
        if let Msg::Shutdown(r) = &msg {
            stop_reason = Some(r.clone());
        }
        // Debug builds only: a key that panics, so tests can prove the terminal is restored
        // before the report is printed.
        #[cfg(debug_assertions)]
        if let (Some(k), Msg::Key(e)) = (panic_key, &msg)
            && e.code == crossterm::event::KeyCode::Char(k)
        {
            panic!("ROLLWATCH_DEBUG_PANIC_KEY pressed");
        }
        let mut queue = vec![msg];
        // Coalesce: everything already queued goes into the same frame.
        while let Ok(m) = rx.try_recv() {
            queue.push(m);
        }
        for m in queue {
            if let Some(r) = rec.as_deref_mut() {
                r.record(clock.now_ms(), &m);
            }
            for c in update(&mut state, m) {
                effects.run(c);
            }
        }
        if let Some(r) = rec.as_deref_mut() {
            r.flush();
        }
        log.follow(&state);
    }
    drop(term);
    restore_terminal();
    log.stopped(clock.now_ms(), stop_reason.as_deref());
    Ok(stop_reason)
}
