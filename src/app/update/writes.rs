//! The end of a write: the re-read becomes the flag, the outcome is logged and said, and
//! writes this session made are remembered (so the change history can name them).

use super::feeds::{describe_flag, read_events};
use crate::app::msg::Command;
use crate::app::state::{LogLevel, State};
use crate::flags::write::{WriteKind, WriteOutcome, WriteRequest};

pub(super) fn on_write_done(
    state: &mut State,
    i: usize,
    at: i64,
    res: &crate::flags::write::WriteResult,
    cmds: &mut Vec<Command>,
) {
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.write_in_flight = false;
    landed_on_flag(state, i, at, res, cmds);
    let (level, text) = outcome_text(res);
    let name = state.rollouts[i].def.name.clone();
    if level == LogLevel::Error {
        state.notify(format!("{name}: {text}"));
    }
    state.log(i, level, text.clone());
    state.say(level, format!("{name}: {text}"));
}

/// The state after a write of rollout `i`'s own flag: the re-read becomes the flag, a landed
/// write is remembered (so the change history names it).
pub(super) fn landed_on_flag(
    state: &mut State,
    i: usize,
    at: i64,
    res: &crate::flags::write::WriteResult,
    cmds: &mut Vec<Command>,
) {
    let r = &mut state.rollouts[i];
    if let Some(own) = crate::flags::own::OwnWrite::landed(res, at) {
        crate::flags::own::remember(&mut r.own_writes, own);
    }
    if let Some(after) = &res.after {
        r.see_flag(after, at);
        r.flag_feed.error = None;
        read_events(state, i, cmds);
    }
}

/// A write's outcome in words for the log and the status line, with its level.
pub(super) fn outcome_text(res: &crate::flags::write::WriteResult) -> (LogLevel, String) {
    let what = describe_change(&res.request);
    let now_value = res
        .after
        .as_ref()
        .map_or_else(|| "unreadable".to_owned(), describe_flag);
    match &res.outcome {
        WriteOutcome::Ok => (
            LogLevel::Info,
            format!("done: {what} (re-read: {now_value})"),
        ),
        WriteOutcome::Conflict => (
            LogLevel::Warn,
            format!(
                "conflict: the flag moved to {now_value} since you saw it; nothing written ({what})"
            ),
        ),
        WriteOutcome::Refused(m) => (LogLevel::Error, format!("refused: {what}: {m}")),
        WriteOutcome::Error(m) => (LogLevel::Error, format!("failed: {what}: {m}")),
        WriteOutcome::Unknown(m) => (
            LogLevel::Error,
            format!("UNKNOWN OUTCOME: {what}: {m}; re-read shows {now_value}; not retried"),
        ),
        WriteOutcome::NotApplied { asked, found } => (
            LogLevel::Error,
            format!(
                "NOT APPLIED: {what}: the backend accepted it but the re-read shows {found}, \
                 not {asked}; not retried"
            ),
        ),
    }
}

/// `old → new` in words for the log (the log line names the rollout).
#[must_use]
pub fn describe_change(req: &WriteRequest) -> String {
    let old = req.expected.percent;
    match req.kind {
        WriteKind::SetPercent(p) => format!("set {old}% → {p}%"),
        WriteKind::Rollback(p) => format!("rollback {old}% → {p}%"),
        WriteKind::SetEnabled(on) => format!(
            "kill switch {} → {}",
            if req.expected.enabled { "on" } else { "off" },
            if on { "on" } else { "off" }
        ),
    }
}
