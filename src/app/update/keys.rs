//! Actions from keys: dialogs (confirm, arm, quit), help, themes, rollout selection, the
//! automation switches. Only `y` on a dialog turns an intent into a command.

use super::fleet;
use super::writes::describe_change;
use crate::app::keymap::Action;
use crate::app::msg::Command;
use crate::app::state::{LogLevel, Mode, State, View};

fn quit(state: &mut State, cmds: &mut Vec<Command>) {
    state.quit = true;
    cmds.push(Command::Quit);
}

/// Names of the rollouts whose automation would stop with the process (armed auto-advance or
/// auto-rollback, not paused).
#[must_use]
pub fn automated(state: &State) -> Vec<String> {
    if state.automation_paused || state.read_only {
        return Vec::new();
    }
    state
        .rollouts
        .iter()
        .filter(|r| r.armed || r.def.automation.auto_rollback)
        .map(|r| r.def.name.clone())
        .collect()
}

pub(super) fn on_action(state: &mut State, a: Action, cmds: &mut Vec<Command>) {
    match state.mode.clone() {
        Mode::Help => match a {
            Action::Quit | Action::Interrupt => ask_quit(state, cmds),
            Action::Help | Action::No | Action::Enter => {
                state.mode = Mode::Normal;
                state.help_scroll = 0;
                state.dirty = true;
            }
            Action::Down => scroll_help(state, 1),
            Action::Up => scroll_help(state, -1),
            Action::PageDown => scroll_help(state, 10),
            Action::PageUp => scroll_help(state, -10),
            Action::Top => scroll_help(state, -1000),
            Action::Bottom => scroll_help(state, 1000),
            Action::Redraw => redraw(state),
            _ => {}
        },
        Mode::Detail(k) => on_detail_action(state, k, a, cmds),
        Mode::ConfirmQuit => match a {
            // A second Ctrl-C means it.
            Action::Yes | Action::Interrupt => quit(state, cmds),
            Action::No | Action::Quit => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "not quitting: automation keeps running");
            }
            _ => {}
        },
        Mode::ConfirmArm(i) => match a {
            Action::Yes => {
                state.mode = Mode::Normal;
                set_armed(state, i, true);
            }
            Action::No => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "cancelled: auto-advance stays disarmed");
            }
            Action::Enter => enter_never_confirms(state),
            Action::Interrupt => ask_quit(state, cmds),
            _ => {}
        },
        Mode::Confirm(p) => match a {
            Action::Yes => {
                state.mode = Mode::Normal;
                let r = &mut state.rollouts[p.rollout];
                r.write_in_flight = true;
                state.log(
                    p.rollout,
                    LogLevel::Info,
                    format!("confirmed: {}; writing…", describe_change(&p.request)),
                );
                cmds.push(if p.group.is_empty() {
                    Command::Write {
                        rollout: p.rollout,
                        request: p.request,
                    }
                } else {
                    Command::WriteGroup {
                        rollout: p.rollout,
                        writes: p.group,
                        keep_going: p.keep_going,
                    }
                });
            }
            Action::No => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "cancelled: nothing was written");
            }
            Action::Enter => enter_never_confirms(state),
            Action::Interrupt => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "cancelled: nothing was written");
                ask_quit(state, cmds);
            }
            _ => {}
        },
        Mode::Normal => {
            let fleet_took = state.view == View::Fleet
                && if state.fleet.typing {
                    fleet::on_typing(state, a)
                } else {
                    fleet::on_table(state, a)
                };
            if !fleet_took {
                on_normal_action(state, a, cmds);
            }
        }
    }
}

fn scroll_help(state: &mut State, by: i32) {
    let max = i32::try_from(crate::app::keymap::BINDINGS.len()).unwrap_or(0);
    let next = (i32::from(state.help_scroll) + by).clamp(0, max);
    state.help_scroll = u16::try_from(next).unwrap_or(0);
    state.dirty = true;
}

fn redraw(state: &mut State) {
    state.redraw_all = true;
    state.dirty = true;
}

/// Moves the metric selection of the shown rollout by `by` rows (clamped).
fn select_metric(state: &mut State, by: i64) {
    let n = state.current().def.metrics.len();
    if n == 0 {
        return;
    }
    let last = i64::try_from(n - 1).unwrap_or(0);
    let cur = i64::try_from(state.selected_metric).unwrap_or(0);
    state.selected_metric = usize::try_from((cur + by).clamp(0, last)).unwrap_or(0);
    state.dirty = true;
}

/// A click on metric row `k`: selects it, or opens it when it is selected already. A row the
/// shown rollout does not have (a click that raced a rollout switch) does nothing.
fn click_metric(state: &mut State, k: usize) {
    if k >= state.current().def.metrics.len() {
        return;
    }
    if state.selected_metric == k {
        state.mode = Mode::Detail(k);
    } else {
        state.selected_metric = k;
    }
    state.dirty = true;
}

fn set_range(state: &mut State, r: usize) {
    state.range = r.min(crate::app::state::RANGES.len() - 1);
    state.dirty = true;
}

/// Keys of the detail view: `Esc` returns, `j`/`k` change the metric, `1`…`4` and `[`/`]` the
/// range; write keys act as on the dashboard (dialogs first).
fn on_detail_action(state: &mut State, k: usize, a: Action, cmds: &mut Vec<Command>) {
    match a {
        Action::No | Action::Enter => {
            state.mode = Mode::Normal;
            state.selected_metric = k;
            state.dirty = true;
        }
        Action::Down
        | Action::Up
        | Action::Top
        | Action::Bottom
        | Action::PageDown
        | Action::PageUp => {
            state.selected_metric = k;
            match a {
                Action::Down => select_metric(state, 1),
                Action::Up => select_metric(state, -1),
                Action::Top | Action::PageUp => select_metric(state, -1_000_000),
                _ => select_metric(state, 1_000_000),
            }
            state.mode = Mode::Detail(state.selected_metric);
        }
        Action::Range(n) => set_range(state, usize::from(n.max(1)) - 1),
        // In the detail view `[` and `]` move through the ranges, not the plan.
        Action::StepBack => set_range(state, state.range.saturating_sub(1)),
        Action::Bump => set_range(state, state.range + 1),
        // The table is not on screen: a click there cannot have happened.
        Action::Select(_) => {}
        _ => on_normal_action(state, a, cmds),
    }
}

fn enter_never_confirms(state: &mut State) {
    state.say(
        LogLevel::Warn,
        "Enter does not confirm: press y to confirm, n or Esc to cancel",
    );
}

/// Quits, unless automation would silently stop with the process: then it asks first.
fn ask_quit(state: &mut State, cmds: &mut Vec<Command>) {
    if automated(state).is_empty() {
        quit(state, cmds);
    } else {
        state.mode = Mode::ConfirmQuit;
        state.dirty = true;
    }
}

fn set_armed(state: &mut State, i: usize, armed: bool) {
    let r = &mut state.rollouts[i];
    r.armed = armed;
    let name = r.def.name.clone();
    let text = if armed {
        format!(
            "{name}: auto-advance ARMED: the next step is written when the bake time is done and all is healthy"
        )
    } else {
        format!("{name}: auto-advance disarmed")
    };
    state.log(i, LogLevel::Warn, text.clone());
    state.say(LogLevel::Warn, text);
}

fn on_normal_action(state: &mut State, a: Action, cmds: &mut Vec<Command>) {
    match a {
        Action::Quit | Action::Interrupt => ask_quit(state, cmds),
        Action::Help => {
            state.mode = Mode::Help;
            state.dirty = true;
        }
        Action::Theme => {
            state.theme = (state.theme + 1) % state.themes.len().max(1);
            let name = state.themes.get(state.theme).cloned().unwrap_or_default();
            state.say(LogLevel::Info, format!("theme: {name}"));
        }
        Action::NextRollout | Action::PrevRollout => {
            let n = state.rollouts.len();
            state.selected = if a == Action::NextRollout {
                (state.selected + 1) % n
            } else {
                (state.selected + n - 1) % n
            };
            state.selected_metric = 0;
            state.dirty = true;
        }
        Action::Arm => {
            let i = state.selected;
            let r = &state.rollouts[i];
            if r.armed {
                set_armed(state, i, false);
            } else if let Some(l) = state.steered_by(i) {
                let text = format!(
                    "cannot arm {}: {} steers it (rollwatch guard, since {}); stop that guard to take automation back",
                    r.def.name,
                    l.holder,
                    crate::app::guard::hhmm(l.since_ms)
                );
                state.say(LogLevel::Warn, text);
            } else if state.read_only {
                state.say(
                    LogLevel::Warn,
                    "read-only: automation cannot write (--read-only)",
                );
            } else if !r.flag.as_ref().is_some_and(|f| f.enabled) {
                let why = if r.flag.is_none() {
                    "the flag has not been read yet"
                } else {
                    "the flag is off (kill switch)"
                };
                state.say(
                    LogLevel::Warn,
                    format!("cannot arm auto-advance of {}: {why}", r.def.name),
                );
            } else {
                state.mode = Mode::ConfirmArm(i);
                state.dirty = true;
            }
        }
        Action::Pause => {
            state.automation_paused = !state.automation_paused;
            let text = if state.automation_paused {
                "automation PAUSED: no auto-advance, no auto-rollback"
            } else {
                "automation resumed"
            };
            state.log(state.selected, LogLevel::Warn, text);
            state.say(LogLevel::Warn, text);
        }
        Action::Bump
        | Action::ForceBump
        | Action::StepBack
        | Action::Rollback
        | Action::KillSwitch => crate::app::propose::propose(state, a),
        Action::Undo => crate::app::propose::undo(state),
        Action::Down => select_metric(state, 1),
        Action::Up => select_metric(state, -1),
        Action::Top | Action::PageUp => select_metric(state, -1_000_000),
        Action::Bottom | Action::PageDown => select_metric(state, 1_000_000),
        Action::Fleet => fleet::show(state),
        // `Esc` on a rollout's dashboard returns to the table when there is one to return to.
        Action::No if state.rollouts.len() > 1 => fleet::show(state),
        Action::Filter => {
            fleet::show(state);
            state.fleet.typing = true;
        }
        Action::Enter => {
            if !state.current().def.metrics.is_empty() {
                state.mode = Mode::Detail(state.selected_metric);
                state.dirty = true;
            }
        }
        Action::Redraw => redraw(state),
        Action::Range(n) => set_range(state, usize::from(n.max(1)) - 1),
        Action::Select(k) => click_metric(state, k),
        Action::Unknown => state.say(LogLevel::Info, "unknown key — ? for help"),
        Action::Yes | Action::No | Action::SelectRollout(_) | Action::Type(_) | Action::Erase => {}
    }
}
