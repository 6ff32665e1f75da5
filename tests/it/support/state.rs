//! The app without a terminal: keys as `update` receives them, the demo's checkout rollout
//! with its flag read, polls of its metrics, and a state drawn as text.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rollwatch::app::{Msg, RolloutState, State, update};
use rollwatch::metrics::{CohortValues, Poll};
use rollwatch::model::{FlagSnapshot, Rollout};
use rollwatch::ui::{self, theme};

/// A key as the event loop delivers it to `update`: mapped to its action at the edge.
pub fn press(k: KeyEvent) -> Msg {
    Msg::Action(rollwatch::app::keymap::action(&k).expect("a bound key"))
}

/// A character key without modifiers.
pub fn key(c: char) -> Msg {
    code(KeyCode::Char(c))
}

/// Any key without modifiers.
pub fn code(c: KeyCode) -> Msg {
    press(KeyEvent::new(c, KeyModifiers::NONE))
}

/// A state at `t0` holding `def` (its backends named `flag` and `metrics` in the header), the
/// flag read at `percent` and on; no metrics yet.
pub fn flag_read_at(def: Rollout, flag: &str, metrics: &str, t0: i64, percent: u8) -> State {
    let r = RolloutState::new(def, flag.into(), metrics.into(), t0);
    let mut s = State::new(vec![r], 1000, t0);
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: t0,
            result: Ok(FlagSnapshot::new(percent, true)),
        },
    );
    s
}

/// A poll answering `(legacy, new)` for each metric, in order.
pub fn poll(values: &[(f64, f64)]) -> Poll {
    Poll {
        metrics: values
            .iter()
            .map(|&(l, n)| {
                Ok(CohortValues {
                    counts: None,
                    bounds: None,
                    legacy: Some(l),
                    new: Some(n),
                })
            })
            .collect(),
        warnings: vec![],
    }
}

/// The demo's checkout metrics (error %, p95 ms, memory bytes, queries, tokens), all healthy
/// but the new path's error rate, which is `error_new`.
pub fn checkout_poll(error_new: f64) -> Poll {
    poll(&[
        (0.08, error_new),
        (380.0, 240.0),
        (2e8, 1.9e8),
        (200.0, 9.0),
        (1200.0, 840.0),
    ])
}

/// The screen of `s` at `w`×`h`, as text, in the state's theme.
pub fn render(s: &State, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let themes = theme::builtin();
    term.draw(|f| ui::draw(f, s, &themes[s.theme])).unwrap();
    term.backend().to_string()
}
