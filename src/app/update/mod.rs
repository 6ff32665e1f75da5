//! The pure update: `(state, msg) -> commands`. No I/O, no clock reads: time arrives in
//! messages. Every write starts as a pending intent in a confirm dialog; only `y` on that
//! dialog produces a `Command::Write`. One file per concern: [`feeds`] (polls, failures,
//! backfill), [`rules`] (observations and evaluation), [`keys`] (actions and dialogs),
//! [`writes`] (outcomes).

mod also;
mod feeds;
mod fleet;
mod keys;
mod rules;
mod writes;

pub use keys::automated;
pub use writes::describe_change;

use super::msg::{Command, Msg};
use super::state::{LogLevel, State};
use also::{on_also_read, on_group_write_done};
use feeds::{on_backfill, on_flag_events, on_flag_read, on_metrics, tick};
use keys::on_action;
use writes::on_write_done;

/// Back-off cap after failures (R1).
pub const BACKOFF_CAP_MS: i64 = 30_000;
/// Back-off base (R1).
pub const BACKOFF_BASE_MS: i64 = 1_000;

/// Applies one message; returns the effects to run.
pub fn update(state: &mut State, msg: Msg) -> Vec<Command> {
    let mut cmds = Vec::new();
    match msg {
        Msg::Started(now) => {
            tick(state, now, &mut cmds);
            cmds.extend((0..state.rollouts.len()).map(Command::Reconcile));
        }
        Msg::Tick(now) => tick(state, now, &mut cmds),
        Msg::Resize => state.dirty = true,
        Msg::Action(a) => {
            if state.show_keys {
                if state.keys_shown.len() == 6 {
                    state.keys_shown.pop_front();
                }
                state.keys_shown.push_back(a.key_label());
                state.dirty = true;
            }
            on_action(state, a, &mut cmds);
        }
        Msg::FlagRead {
            rollout,
            at_ms,
            result,
        } => on_flag_read(state, rollout, at_ms, result, &mut cmds),
        Msg::AlsoRead {
            rollout,
            at_ms,
            results,
        } => on_also_read(state, rollout, at_ms, results),
        Msg::GroupWriteDone {
            rollout,
            at_ms,
            result,
        } => on_group_write_done(state, rollout, at_ms, &result, &mut cmds),
        Msg::FlagEvents {
            rollout, result, ..
        } => on_flag_events(state, rollout, result),
        Msg::MetricsPolled {
            rollout,
            at_ms,
            result,
        } => on_metrics(state, rollout, at_ms, result),
        Msg::Backfilled { rollout, result } => on_backfill(state, rollout, result),
        Msg::WriteDone {
            rollout,
            at_ms,
            result,
        } => on_write_done(state, rollout, at_ms, &result, &mut cmds),
        Msg::Reconciled { rollout, notes } => {
            for n in notes {
                state.log(rollout, LogLevel::Warn, n);
            }
        }
        Msg::Discovered { at_ms, result } => {
            crate::app::discovery::on_discovered(state, at_ms, result);
        }
        Msg::Shutdown(reason) => {
            state.say(LogLevel::Warn, format!("shutting down: {reason}"));
            state.quit = true;
            cmds.push(Command::Quit);
        }
    }
    cmds
}
