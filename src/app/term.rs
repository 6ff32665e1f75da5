//! The terminal edge shared by `watch`, `demo` and `replay`: taking the terminal (raw mode,
//! alternate screen, hidden cursor, mouse reports) and giving it back on every exit path, the
//! frame writer (one `write()` a frame, inside synchronized output, nothing for a frame in
//! which no cell changed), and one input source for keys, the mouse, resizes, signals and the
//! terminal going away.
//!
//! How a session learns that the terminal went away (an SSH drop, `tmux kill-session`: the
//! pty's master side is closed and the kernel hangs the terminal up):
//! - as the terminal's session leader (`exec rollwatch`), by SIGHUP from the kernel;
//! - otherwise (started by a shell that ignores SIGHUP, under `nohup`), within [`LIVENESS`]:
//!   a hung-up terminal refuses every request, so it no longer reads as a terminal
//!   ([`terminal_gone`]). crossterm's input stream cannot tell: it reads end-of-file in a loop
//!   and never reports it;
//! - or when writing a frame fails.
//!
//! Each ends the session with a reason; nothing waits and nothing is printed to the gone
//! terminal (see also [`install_hooks`]).

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEvent, MouseEvent};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{cursor, execute, queue, terminal};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Frame, Terminal};
use tokio::signal::unix::{Signal, SignalKind, signal};

static TERMINAL_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Shortest time between two frames (about 30 fps at most).
pub const FRAME_GAP: Duration = Duration::from_millis(33);

/// How often the input source checks that the terminal is still there.
pub const LIVENESS: Duration = Duration::from_millis(250);

/// Mouse reports on: button presses, releases and the wheel (mode 1000) in SGR coordinates
/// (mode 1006, no 223-column limit). Not motion (modes 1002/1003, which crossterm's
/// `EnableMouseCapture` also asks for): a report for every cell the pointer crosses would
/// wake the loop and cross an SSH link for nothing.
const MOUSE_ON: &[u8] = b"\x1b[?1000h\x1b[?1006h";
/// Mouse reports off, in the reverse order.
const MOUSE_OFF: &[u8] = b"\x1b[?1006l\x1b[?1000l";

/// Takes the terminal: raw mode, alternate screen, hidden cursor, mouse reports.
/// [`restore_terminal`] (also run by the panic hook) gives it back.
///
/// # Errors
/// When the terminal cannot be set up.
pub fn take_terminal() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    TERMINAL_ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    execute!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
    out.write_all(MOUSE_ON)?;
    out.flush()
}

/// Turns the mouse reports off, leaves the alternate screen, shows the cursor, restores cooked
/// mode. Safe to call twice and when the terminal is gone (errors are ignored: there is nobody
/// to tell).
pub fn restore_terminal() {
    if TERMINAL_ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = out.write_all(MOUSE_OFF);
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
/// so one cheap system call notices an SSH drop that no signal announced.
#[must_use]
pub fn terminal_gone(was_tty: bool) -> bool {
    was_tty && !io::stdout().is_terminal()
}

/// Collects a frame so it reaches the terminal in one `write()`. ratatui flushes inside
/// `draw`; here that flush does nothing, and [`FrameWriter::commit`] sends the whole frame.
#[derive(Clone, Default)]
pub struct FrameWriter(Arc<Mutex<Vec<u8>>>);

/// What ratatui writes for a frame in which no cell changed.
const NOOP_FRAME: &[u8] = b"\x1b[39m\x1b[49m\x1b[59m\x1b[0m\x1b[?25l";

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

/// Renders one frame into `term`, whose backend writes to `sink`, and sends it to `out`:
/// synchronized-output begin, the diff, end, then a single write. `repaint` (Ctrl-L) forgets
/// what the screen is believed to hold and repaints every cell, so text another program wrote
/// to the terminal (`wall`, a stray `echo`) disappears. A frame in which no cell changed sends
/// nothing at all. Returns the area drawn.
///
/// # Errors
/// When the terminal is gone.
pub fn draw_frame<W: Write>(
    term: &mut Terminal<CrosstermBackend<FrameWriter>>,
    sink: &FrameWriter,
    out: &mut W,
    repaint: bool,
    render: impl FnOnce(&mut Frame<'_>),
) -> io::Result<Rect> {
    queue!(term.backend_mut(), BeginSynchronizedUpdate)?;
    let start = sink.len();
    if repaint {
        // Not `Terminal::clear`: it asks the terminal for the cursor position (a DSR query
        // whose answer our own input reader takes), which fails after two seconds and ended
        // the session. `resize` to the same size clears the screen and forgets the previous
        // frame without asking the terminal anything.
        let size = term.size()?;
        term.resize(Rect::new(0, 0, size.width, size.height))?;
    }
    let area = term.draw(render)?.area;
    // A frame whose diff is empty still gets ratatui's style reset and cursor hide: send
    // nothing at all for it (0 bytes when nothing visible changed).
    if sink.tail_from(start, NOOP_FRAME) {
        sink.clear();
        return Ok(area);
    }
    queue!(term.backend_mut(), EndSynchronizedUpdate)?;
    sink.commit(out)?;
    Ok(area)
}

/// The terminal while a session holds it: taken on [`Screen::open`], given back when dropped
/// (and by the panic hook).
pub struct Screen {
    term: Terminal<CrosstermBackend<FrameWriter>>,
    sink: FrameWriter,
    out: io::Stdout,
    area: Rect,
}

impl Screen {
    /// Takes the terminal and clears it.
    ///
    /// # Errors
    /// When the terminal cannot be set up.
    pub fn open() -> io::Result<Self> {
        let opened = take_terminal().and_then(|()| {
            let sink = FrameWriter::default();
            Ok(Self {
                term: Terminal::new(CrosstermBackend::new(sink.clone()))?,
                sink,
                out: io::stdout(),
                area: Rect::default(),
            })
        });
        // Half taken (raw mode on, the alternate screen refused): give it back at once.
        let mut s = opened.inspect_err(|_| restore_terminal())?;
        // From here on, dropping the screen (this early error included) restores it.
        s.term.clear()?;
        s.sink.commit(&mut s.out)?;
        Ok(s)
    }

    /// Draws one frame (see [`draw_frame`]).
    ///
    /// # Errors
    /// When the terminal is gone.
    pub fn draw(&mut self, repaint: bool, render: impl FnOnce(&mut Frame<'_>)) -> io::Result<()> {
        self.area = draw_frame(&mut self.term, &self.sink, &mut self.out, repaint, render)?;
        Ok(())
    }

    /// Sends `bytes` that are not a frame (the bell and desktop-notification escapes) in one
    /// write.
    ///
    /// # Errors
    /// When the terminal is gone.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.out.write_all(bytes)?;
        self.out.flush()
    }

    /// The area of the last frame drawn: what a mouse position refers to.
    #[must_use]
    pub fn area(&self) -> Rect {
        self.area
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// What the terminal side reports.
#[derive(Debug, Clone)]
pub enum Edge {
    /// A key was pressed (or repeated, or released).
    Key(KeyEvent),
    /// A mouse button or the wheel.
    Mouse(MouseEvent),
    /// The terminal was resized.
    Resize,
    /// The session must end: a signal, the terminal gone, input failed.
    Stop(String),
}

/// Keys, mouse, resizes, SIGTERM/SIGHUP/SIGINT and the terminal's liveness, as one stream.
pub struct Input {
    events: EventStream,
    sigterm: Signal,
    sighup: Signal,
    sigint: Signal,
    liveness: tokio::time::Interval,
    was_tty: bool,
}

impl Input {
    /// Listens for signals from now on (create it before taking the terminal).
    ///
    /// # Errors
    /// When a signal handler cannot be installed.
    pub fn new() -> io::Result<Self> {
        let mut liveness = tokio::time::interval(LIVENESS);
        liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Ok(Self {
            events: EventStream::new(),
            sigterm: signal(SignalKind::terminate())?,
            sighup: signal(SignalKind::hangup())?,
            sigint: signal(SignalKind::interrupt())?,
            liveness,
            was_tty: io::stdout().is_terminal(),
        })
    }

    /// The next thing that happened at the edge. Cancel-safe: usable as a `select!` branch.
    pub async fn next(&mut self) -> Edge {
        loop {
            tokio::select! {
                _ = self.liveness.tick() => if terminal_gone(self.was_tty) {
                    return Edge::Stop("terminal hung up".into());
                },
                ev = self.events.next() => match ev {
                    Some(Ok(Event::Key(k))) => return Edge::Key(k),
                    Some(Ok(Event::Mouse(m))) => return Edge::Mouse(m),
                    Some(Ok(Event::Resize(..))) => return Edge::Resize,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Edge::Stop(format!("terminal input failed: {e}")),
                    None => return Edge::Stop("terminal closed".into()),
                },
                _ = self.sigterm.recv() => return Edge::Stop("SIGTERM".into()),
                _ = self.sighup.recv() => return Edge::Stop("SIGHUP: terminal hung up".into()),
                _ = self.sigint.recv() => return Edge::Stop("SIGINT".into()),
            }
        }
    }
}
