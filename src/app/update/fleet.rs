//! Actions of the fleet table (the dashboard with no overlay, `View::Fleet`): moving the
//! selection through the table's order, the `/` filter prompt, opening a rollout. Write keys
//! act on the highlighted row's rollout through the same proposals and guards as on its
//! dashboard, and only while the table shows that row.

use crate::app::fleet::{order, selected_row, window};
use crate::app::keymap::Action;
use crate::app::state::{LogLevel, Mode, State, View};

/// Shows the fleet table (from any screen without a dialog).
pub(super) fn show(state: &mut State) {
    state.view = View::Fleet;
    state.mode = Mode::Normal;
    state.dirty = true;
}

/// Shows the selected rollout's dashboard.
fn open(state: &mut State) {
    state.view = View::Rollout;
    state.selected_metric = 0;
    state.dirty = true;
}

/// The rows one page moves (the table's rows at the last frame).
fn page(state: &State) -> i64 {
    i64::try_from(state.fleet.page.max(1)).unwrap_or(1)
}

/// Moves the selection `by` rows through the table's order (clamped); with nothing selected
/// on screen, any move selects the first row.
fn step(state: &mut State, by: i64) {
    let o = order(state);
    if o.is_empty() {
        return;
    }
    let last = i64::try_from(o.len() - 1).unwrap_or(0);
    let pos =
        selected_row(state, &o).map_or(0, |p| (i64::try_from(p).unwrap_or(0) + by).clamp(0, last));
    let pos = usize::try_from(pos).unwrap_or(0);
    state.selected = o[pos];
    follow(state, o.len(), pos);
}

/// Scrolls as little as keeps row `pos` of `len` on the page.
fn follow(state: &mut State, len: usize, pos: usize) {
    let rows = state.fleet.page.max(1);
    state.fleet.top = window(len, Some(pos), state.fleet.top, rows);
    state.dirty = true;
}

/// After the filter changed: the selection stays when the table still shows it, else it is
/// the first row; the table starts at the top.
fn refilter(state: &mut State) {
    state.fleet.top = 0;
    let o = order(state);
    if let Some(pos) = selected_row(state, &o) {
        follow(state, o.len(), pos);
    } else {
        if let Some(&first) = o.first() {
            state.selected = first;
        }
        state.dirty = true;
    }
}

/// Keys while the filter prompt is open: characters type, Backspace erases, `Enter` keeps the
/// filter, `Esc` clears it; nothing else acts (a letter typed here can never write).
pub(super) fn on_typing(state: &mut State, a: Action) -> bool {
    match a {
        Action::Type(c) => {
            state.fleet.filter.push(c);
            refilter(state);
        }
        Action::Erase => {
            state.fleet.filter.pop();
            refilter(state);
        }
        Action::Enter => {
            state.fleet.typing = false;
            state.dirty = true;
        }
        Action::No => {
            state.fleet.typing = false;
            state.fleet.filter.clear();
            refilter(state);
        }
        // Quitting and repainting stay reachable; the caller handles them.
        Action::Interrupt | Action::Redraw => return false,
        _ => {}
    }
    true
}

/// Keys of the fleet table with no overlay. Returns `false` for the keys that act as on a
/// dashboard (help, themes, pause, quit, …), which the caller then handles.
pub(super) fn on_table(state: &mut State, a: Action) -> bool {
    match a {
        Action::Down | Action::NextRollout => step(state, 1),
        Action::Up | Action::PrevRollout => step(state, -1),
        Action::PageDown => step(state, page(state)),
        Action::PageUp => step(state, -page(state)),
        Action::Top => step(state, -1_000_000),
        Action::Bottom => step(state, 1_000_000),
        Action::Enter | Action::Fleet => {
            let o = order(state);
            if selected_row(state, &o).is_some() {
                open(state);
            } else {
                state.say(
                    LogLevel::Info,
                    "no rollout selected: the filter matches none",
                );
            }
        }
        Action::SelectRollout(i) => click(state, i),
        Action::Filter => {
            state.fleet.typing = true;
            state.dirty = true;
        }
        Action::No if !state.fleet.filter.is_empty() => {
            state.fleet.filter.clear();
            refilter(state);
        }
        Action::Bump
        | Action::ForceBump
        | Action::StepBack
        | Action::Rollback
        | Action::KillSwitch
        | Action::Arm => {
            let o = order(state);
            if selected_row(state, &o).is_none() {
                state.say(
                    LogLevel::Warn,
                    "no rollout selected: the filter hides it; nothing was proposed",
                );
            } else {
                return false;
            }
        }
        // Nothing of one rollout's dashboard is on screen.
        Action::Select(_) | Action::Range(_) | Action::Type(_) | Action::Erase | Action::No => {}
        _ => return false,
    }
    true
}

/// A click on rollout `i`'s row: selects it, or opens it when it is selected already. A row
/// the table does not show (a click that raced a filter) does nothing.
fn click(state: &mut State, i: usize) {
    let o = order(state);
    let Some(pos) = o.iter().position(|&r| r == i) else {
        return;
    };
    if state.selected == i {
        open(state);
    } else {
        state.selected = i;
        follow(state, o.len(), pos);
    }
}
