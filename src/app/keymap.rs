//! Default key bindings: key events to actions, and the table the help overlay shows. The
//! event loop maps every key here, before `update`, so `update` sees actions only (and the
//! mouse: a click becomes [`Action::Select`], the wheel [`Action::Down`]/[`Action::Up`]).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::{Deserialize, Serialize};

/// What a key (or a click) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Next step of the plan.
    Bump,
    /// Next step even past a firing hold rule.
    ForceBump,
    /// Previous step.
    StepBack,
    /// Roll back to 0 %.
    Rollback,
    /// Switch the flag (environment) off or on (`K`: never a bare navigation letter).
    KillSwitch,
    /// `u`: undo the flags that landed of a partial write (a dialog listing them new → old).
    Undo,
    /// Confirm the dialog: only an explicit `y`.
    Yes,
    /// Cancel the dialog.
    No,
    /// `Enter`: opens things; in a confirm dialog it never confirms.
    Enter,
    /// `j`, Down: move the selection down.
    Down,
    /// `k`, Up: move the selection up.
    Up,
    /// `g`, Home: to the top.
    Top,
    /// `G`, End: to the bottom.
    Bottom,
    /// Ctrl-L: redraw the whole screen (text another program wrote to the terminal goes).
    Redraw,
    /// `1`…`4`: the detail chart's time range (5 m, 1 h, 6 h, 24 h).
    Range(u8),
    /// A click on metric row `k` of the comparison table: selects it; a click on the row
    /// already selected opens its detail view (as `Enter`).
    Select(usize),
    /// A key with no binding: says so, with where to look.
    Unknown,
    /// Toggle help.
    Help,
    /// Next theme.
    Theme,
    /// `F`: the fleet table of every rollout, or back to the selected rollout's dashboard.
    Fleet,
    /// `/`: the fleet table's filter prompt.
    Filter,
    /// A character typed into the filter prompt (only while it is open: see [`filter_action`]).
    Type(char),
    /// Backspace in the filter prompt.
    Erase,
    /// `PgDn`: a page down the fleet table.
    PageDown,
    /// `PgUp`: a page up the fleet table.
    PageUp,
    /// A click on rollout `i`'s row of the fleet table: selects it; a click on the row already
    /// selected opens its dashboard (as `Enter`).
    SelectRollout(usize),
    /// Next rollout.
    NextRollout,
    /// Previous rollout.
    PrevRollout,
    /// Arm or disarm auto-advance of the selected rollout.
    Arm,
    /// Pause or resume all automation.
    Pause,
    /// Quit.
    Quit,
    /// Ctrl-C: quit from anywhere.
    Interrupt,
}

impl Action {
    /// The key that gives this action, for showing keys as they are pressed.
    #[must_use]
    pub fn key_label(self) -> &'static str {
        match self {
            Action::Bump => "+",
            Action::ForceBump => "!",
            Action::StepBack => "-",
            Action::Rollback => "r",
            Action::KillSwitch => "K",
            Action::Undo => "u",
            Action::Yes => "y",
            Action::No => "n/Esc",
            Action::Enter => "Enter",
            Action::Down => "j",
            Action::Up => "k",
            Action::Top => "g",
            Action::Bottom => "G",
            Action::Redraw => "Ctrl-L",
            Action::Range(_) => "1-4",
            Action::Select(_) => "click",
            Action::Unknown => "?key",
            Action::Help => "?",
            Action::Theme => "t",
            Action::Fleet => "F",
            Action::Filter => "/",
            Action::Type(_) => "type",
            Action::Erase => "BS",
            Action::PageDown => "PgDn",
            Action::PageUp => "PgUp",
            Action::SelectRollout(_) => "click row",
            Action::NextRollout => "Tab",
            Action::PrevRollout => "S-Tab",
            Action::Arm => "a",
            Action::Pause => "p",
            Action::Quit => "q",
            Action::Interrupt => "Ctrl-C",
        }
    }
}

/// The bindings, as shown in the help overlay: (keys, what they do).
pub const BINDINGS: &[(&str, &str)] = &[
    ("+  ]", "next step of the plan (confirm)"),
    ("!", "next step despite a firing hold rule (confirm)"),
    ("-  [", "previous step (confirm)"),
    ("r", "roll back to 0 % (confirm)"),
    ("K", "kill switch: flag off / on (confirm)"),
    (
        "u",
        "after a PARTIAL write: put back the flags that moved (confirm)",
    ),
    (
        "a",
        "arm / disarm auto-advance after the bake time (confirm)",
    ),
    ("p", "pause / resume all automation"),
    ("y", "confirm the dialog (only y writes; Enter never does)"),
    ("n  Esc", "cancel the dialog"),
    ("j k  arrows", "select a metric (never writes)"),
    (
        "click  wheel",
        "select a metric (again: open it) / move, scroll",
    ),
    (
        "Enter",
        "open the selected metric's detail chart (Esc returns)",
    ),
    ("1-4  [ ]", "detail: time range 5m, 1h, 6h, 24h"),
    ("g  G", "first / last metric"),
    ("Ctrl-L", "redraw the whole screen"),
    ("Tab  Shift-Tab", "next / previous rollout"),
    (
        "F",
        "fleet: the table of every rollout / back to the selected one",
    ),
    ("Esc", "from a rollout's dashboard: back to the fleet table"),
    (
        "/",
        "fleet: filter by name, environment, state (Enter keeps, Esc clears)",
    ),
    ("PgUp  PgDn", "fleet: a page up / down"),
    ("t", "next theme"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

/// Maps a key event to an action. Key releases are ignored. Only `y` confirms a write and
/// the kill switch sits on `K`: the keys people press by habit (`j`, `k`, arrows, `Enter`)
/// never change a flag.
#[must_use]
pub fn action(key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Alt-letters (or Esc and a letter read together) are nobody's binding.
    if key.modifiers.contains(KeyModifiers::ALT) {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') => Some(Action::Interrupt),
            KeyCode::Char('l') => Some(Action::Redraw),
            _ => Some(Action::Unknown),
        };
    }
    Some(match key.code {
        KeyCode::Char('+' | ']') => Action::Bump,
        KeyCode::Char('!') => Action::ForceBump,
        KeyCode::Char('-' | '[') => Action::StepBack,
        KeyCode::Char('r') => Action::Rollback,
        KeyCode::Char('K') => Action::KillSwitch,
        KeyCode::Char('u') => Action::Undo,
        KeyCode::Char('a') => Action::Arm,
        KeyCode::Char('p') => Action::Pause,
        KeyCode::Char('y') => Action::Yes,
        KeyCode::Enter => Action::Enter,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('n' | 'N') | KeyCode::Esc => Action::No,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('t') => Action::Theme,
        KeyCode::Tab => Action::NextRollout,
        KeyCode::BackTab => Action::PrevRollout,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        KeyCode::Char('F') => Action::Fleet,
        KeyCode::Char('/') => Action::Filter,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Char(c @ '1'..='4') => Action::Range(c as u8 - b'0'),
        // Modifier keys alone and media keys are nobody's typing.
        KeyCode::Modifier(_) | KeyCode::Media(_) | KeyCode::Null => return None,
        _ => Action::Unknown,
    })
}

/// Maps a key event while the fleet filter prompt is open: every printable character is
/// typed into the filter, never an action (typing `r` or `+` there cannot open a write);
/// Backspace erases, `Enter` keeps the filter, `Esc` clears it, Ctrl-C still quits.
#[must_use]
pub fn filter_action(key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return match key.code {
            KeyCode::Char('c') => Some(Action::Interrupt),
            KeyCode::Char('l') => Some(Action::Redraw),
            _ => None,
        };
    }
    if key.modifiers.contains(KeyModifiers::ALT) {
        return None;
    }
    match key.code {
        KeyCode::Char(c) if !c.is_control() => Some(Action::Type(c)),
        KeyCode::Backspace => Some(Action::Erase),
        KeyCode::Enter => Some(Action::Enter),
        KeyCode::Esc => Some(Action::No),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_the_filter_prompt_every_letter_is_typed_and_none_acts() {
        for c in ['+', '-', 'r', 'K', '!', 'a', 'y', 'q', 'j', '/', 'F', ' '] {
            let k = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
            assert_eq!(filter_action(&k), Some(Action::Type(c)), "{c}");
        }
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        assert_eq!(filter_action(&key(KeyCode::Backspace)), Some(Action::Erase));
        assert_eq!(filter_action(&key(KeyCode::Enter)), Some(Action::Enter));
        assert_eq!(filter_action(&key(KeyCode::Esc)), Some(Action::No));
        assert_eq!(filter_action(&key(KeyCode::Tab)), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(filter_action(&ctrl_c), Some(Action::Interrupt));
    }

    #[test]
    fn outside_the_prompt_f_slash_and_the_page_keys_are_bound() {
        let key = |code| action(&KeyEvent::new(code, KeyModifiers::NONE));
        assert_eq!(key(KeyCode::Char('F')), Some(Action::Fleet));
        assert_eq!(key(KeyCode::Char('/')), Some(Action::Filter));
        assert_eq!(key(KeyCode::PageDown), Some(Action::PageDown));
        assert_eq!(key(KeyCode::PageUp), Some(Action::PageUp));
    }
}
