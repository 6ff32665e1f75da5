//! The one state the screen shows. Only `update` changes it.

mod also;
mod rollout;

pub use also::{AlsoState, Partial};
pub use rollout::{MetricState, RolloutState};

use std::collections::VecDeque;

use crate::flags::write::WriteRequest;
use crate::rng::Rng;

/// Flag changes kept for the chart markers.
pub const FLAG_CHANGES_CAP: usize = 100;

/// Events kept in the log.
pub const EVENT_CAP: usize = 200;

/// Scheduling of one backend's polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollSched {
    /// A request is under way: no second one starts.
    pub in_flight: bool,
    /// Earliest time of the next request (clock ms).
    pub next_at_ms: i64,
    /// Consecutive failures (for back-off).
    pub failures: u32,
    /// When the request under way (or the last one) was asked (clock ms): the time its
    /// answer describes.
    pub asked_ms: i64,
}

/// One backend's feed, the same for the flag and the metrics: when it last answered, why it
/// failed, and when to ask next. Staleness is decided here and nowhere else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feed {
    /// When the last good answer arrived (clock ms).
    pub at_ms: Option<i64>,
    /// Why the last request failed, while it keeps failing.
    pub error: Option<String>,
    /// The poll schedule.
    pub poll: PollSched,
}

impl Feed {
    /// How old the last good answer is at `now_ms` when that is older than
    /// `stale_after_ms` (`None` while fresh, and before any answer).
    #[must_use]
    pub fn stale_age(&self, now_ms: i64, stale_after_ms: i64) -> Option<i64> {
        self.at_ms
            .map(|t| now_ms - t)
            .filter(|age| *age > stale_after_ms)
    }

    /// Whether the data cannot be trusted as current: never read, stale or failing.
    #[must_use]
    pub fn is_stale(&self, now_ms: i64, stale_after_ms: i64) -> bool {
        self.error.is_some()
            || self.at_ms.is_none()
            || self.stale_age(now_ms, stale_after_ms).is_some()
    }

    /// A request is due at `now_ms` and none is under way: marks it under way.
    pub fn start_if_due(&mut self, now_ms: i64) -> bool {
        let due = !self.poll.in_flight && now_ms >= self.poll.next_at_ms;
        if due {
            self.poll.in_flight = true;
            self.poll.asked_ms = now_ms;
        }
        due
    }

    /// A good answer at `at`: next poll one interval later. Returns the error it recovered
    /// from, if any.
    pub fn succeeded(&mut self, at: i64, refresh_ms: i64) -> Option<String> {
        self.poll.in_flight = false;
        self.poll.failures = 0;
        self.poll.next_at_ms = at + refresh_ms;
        self.at_ms = Some(at);
        self.error.take()
    }

    /// A failure at `at`, retried after `delay_ms` (the caller's jittered back-off). Returns
    /// whether the reason is new (worth a log line).
    pub fn failed(&mut self, at: i64, reason: String, delay_ms: i64) -> bool {
        self.poll.in_flight = false;
        self.poll.failures += 1;
        self.poll.next_at_ms = at + delay_ms;
        let new = self.error.as_deref() != Some(reason.as_str());
        self.error = Some(reason);
        new
    }
}

/// What the screen is showing on top of the dashboard.
#[allow(clippy::large_enum_variant)] // one per state, cloned per key at most: boxing buys nothing
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// The dashboard.
    Normal,
    /// The help overlay.
    Help,
    /// A write waiting for `y` or `n`/`Esc` (`Enter` never confirms).
    Confirm(PendingWrite),
    /// Arming auto-advance of a rollout, waiting for `y` or `n`/`Esc`.
    ConfirmArm(usize),
    /// Quitting while automation is armed, waiting for `y` or `n`/`Esc`.
    ConfirmQuit,
    /// One metric full screen: its chart over the chosen range, values, interval, rules.
    Detail(usize),
}

/// Which screen the dashboard shows under its overlays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The table of every rollout (`F`; a live session with several rollouts opens on it).
    Fleet,
    /// One rollout's dashboard (`Enter` on a row of the table).
    Rollout,
}

/// The fleet table: its filter and scroll position. The table's order is computed, never
/// stored (`app::fleet::order`); the selection is [`State::selected`], a rollout index, so it
/// follows its rollout when the order changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetView {
    /// Substring filter on name, environment and state (`/`); empty shows every rollout.
    pub filter: String,
    /// The filter prompt is open: keys type into it, none acts.
    pub typing: bool,
    /// The first row shown (a position in the filtered order); the view keeps the selection
    /// visible whatever it says.
    pub top: usize,
    /// Rows of the table at the last frame (written by the frame writer, like `dirty`): how far
    /// `PgUp`/`PgDn` move and when the table scrolls. 0 before the first frame.
    pub page: usize,
}

/// The time ranges of the detail chart, in ms, with their names.
pub const RANGES: [(i64, &str); 4] = [
    (5 * 60_000, "5m"),
    (3_600_000, "1h"),
    (6 * 3_600_000, "6h"),
    (24 * 3_600_000, "24h"),
];

/// A write intent shown in the confirm dialog.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingWrite {
    /// Rollout index.
    pub rollout: usize,
    /// The request, with the flag as the operator saw it.
    pub request: WriteRequest,
    /// What the change means for users, in words.
    pub effect: String,
    /// Warnings shown in the dialog, each naming its facts (bake time left, stale or failing
    /// backends, pending/firing/unknown rules with value, severity and action).
    pub warnings: Vec<String>,
    /// When several flags move (the rollout has `[[rollout.also]]` flags, or an undo): every
    /// flag's write, listed old → new; `y` writes them in this order. Empty: `request` alone.
    pub group: Vec<crate::flags::write::group::FlagWrite>,
    /// The group writes every flag whatever the others did (rollback, kill switch off).
    pub keep_going: bool,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Normal.
    Info,
    /// Needs attention.
    Warn,
    /// Something failed.
    Error,
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// When (clock ms).
    pub at_ms: i64,
    /// Rollout name.
    pub rollout: String,
    /// Level.
    pub level: LogLevel,
    /// Text.
    pub text: String,
}

/// Everything the screen shows.
#[allow(clippy::struct_excessive_bools)] // independent switches of the screen, not a state machine
#[derive(Debug, Clone)]
pub struct State {
    /// Watched rollouts. Only ever appended to (fleets discovered while watching), so a
    /// rollout's index never changes.
    pub rollouts: Vec<RolloutState>,
    /// Discovery of the fleets' flags while watching, when the config has fleets.
    pub discovery: Option<crate::app::discovery::DiscoveryFeed>,
    /// The one shown in full, and the highlighted row of the fleet table.
    pub selected: usize,
    /// The fleet table or one rollout's dashboard.
    pub view: View,
    /// The fleet table's filter and scroll position.
    pub fleet: FleetView,
    /// Poll interval (clock ms).
    pub refresh_ms: i64,
    /// Writes disabled.
    pub read_only: bool,
    /// Overlay.
    pub mode: Mode,
    /// The latest status line (level, text, clock ms).
    pub status: Option<(LogLevel, String, i64)>,
    /// Event log, newest last.
    pub events: VecDeque<LogEvent>,
    /// Theme names available, and the selected one.
    pub themes: Vec<String>,
    /// Index into `themes`.
    pub theme: usize,
    /// ASCII-only glyphs.
    pub ascii: bool,
    /// The clock's last time.
    pub now_ms: i64,
    /// The loop should exit.
    pub quit: bool,
    /// Something visible changed since the last frame.
    pub dirty: bool,
    /// Jitter source for back-off (seeded: `update` stays pure and replayable).
    pub rng: Rng,
    /// Count of events ever logged (the log file writer follows it).
    pub logged: u64,
    /// All automation (auto-advance, auto-rollback) paused (key `p`).
    pub automation_paused: bool,
    /// The selected metric row of the shown rollout (`j`/`k`).
    pub selected_metric: usize,
    /// The detail chart's range, an index into [`RANGES`].
    pub range: usize,
    /// Lines the help overlay is scrolled by.
    pub help_scroll: u16,
    /// The next frame repaints every cell (Ctrl-L).
    pub redraw_all: bool,
    /// Ring the bell and send a desktop notification when a rule starts firing or a write
    /// fails (config `notify`, on by default).
    pub notify_enabled: bool,
    /// Notifications not yet sent to the terminal (the event loop takes them).
    pub notifications: Vec<String>,
    /// Show the keys as they are pressed (`demo --show-keys`).
    pub show_keys: bool,
    /// The last keys pressed, newest last (shown with `show_keys`).
    pub keys_shown: VecDeque<&'static str>,
    /// The token of the guard lease this process holds (`rollwatch guard`); a live lease with
    /// another token means another process steers that rollout.
    pub own_lease: Option<String>,
}

impl State {
    /// A state for `rollouts` at `now_ms`.
    #[must_use]
    pub fn new(rollouts: Vec<RolloutState>, refresh_ms: i64, now_ms: i64) -> Self {
        Self {
            rollouts,
            discovery: None,
            selected: 0,
            view: View::Rollout,
            fleet: FleetView::default(),
            refresh_ms: refresh_ms.max(100),
            read_only: false,
            mode: Mode::Normal,
            status: None,
            events: VecDeque::with_capacity(EVENT_CAP),
            themes: vec!["default".into()],
            theme: 0,
            ascii: false,
            now_ms,
            quit: false,
            dirty: true,
            rng: Rng::new(0x5eed),
            logged: 0,
            automation_paused: false,
            selected_metric: 0,
            range: 0,
            help_scroll: 0,
            redraw_all: false,
            notify_enabled: true,
            notifications: Vec::new(),
            show_keys: false,
            keys_shown: VecDeque::new(),
            own_lease: None,
        }
    }

    /// Data older than this is stale (2× the poll interval).
    #[must_use]
    pub fn stale_after_ms(&self) -> i64 {
        self.refresh_ms * 2
    }

    /// Appends to the event log (bounded).
    pub fn log(&mut self, rollout: usize, level: LogLevel, text: impl Into<String>) {
        if self.events.len() == EVENT_CAP {
            self.events.pop_front();
        }
        let rollout = self
            .rollouts
            .get(rollout)
            .map_or_else(String::new, |r| r.def.name.clone());
        self.events.push_back(LogEvent {
            at_ms: self.now_ms,
            rollout,
            level,
            text: text.into(),
        });
        self.logged += 1;
        self.dirty = true;
    }

    /// Queues a notification (bell and desktop notification) when they are enabled; at most
    /// a few wait at once, so a storm of rules becomes one bell.
    pub fn notify(&mut self, text: impl Into<String>) {
        if self.notify_enabled && self.notifications.len() < 4 {
            self.notifications.push(text.into());
        }
    }

    /// Sets the status line.
    pub fn say(&mut self, level: LogLevel, text: impl Into<String>) {
        self.status = Some((level, text.into(), self.now_ms));
        self.dirty = true;
    }

    /// The live guard lease of rollout `i` when another process holds it (a `rollwatch
    /// guard` steers it): this session's automation stands back and its write keys warn.
    #[must_use]
    pub fn steered_by(&self, i: usize) -> Option<&crate::model::Lease> {
        let own = self.own_lease.as_deref();
        self.rollouts
            .get(i)?
            .flag
            .as_ref()?
            .lease
            .as_deref()
            .filter(|l| l.live_at(self.now_ms) && Some(l.token.as_str()) != own)
    }

    /// The selected rollout.
    #[must_use]
    pub fn current(&self) -> &RolloutState {
        &self.rollouts[self.selected]
    }
}
