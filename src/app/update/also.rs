//! The flags that move together: the also-flags' reads, and the end of a group write — every
//! flag's re-read kept, the outcome said in one line, and a group that moved some flags but
//! not all shown as PARTIAL (an error, audited per flag by the write path, automation stopped)
//! with the undo of the flags that landed offered on `u`.

use std::fmt::Write as _;

use super::feeds::describe_flag;
use super::writes::{describe_change, landed_on_flag, outcome_text};
use crate::app::msg::Command;
use crate::app::state::{LogLevel, Partial, State};
use crate::flags::FlagError;
use crate::flags::write::WriteOutcome;
use crate::flags::write::group::{FlagWriteResult, GroupResult};
use crate::model::FlagSnapshot;

use crate::app::also::UNDO_REASON;

pub(super) fn on_also_read(
    state: &mut State,
    i: usize,
    at: i64,
    results: Vec<Result<FlagSnapshot, FlagError>>,
) {
    let refresh = state.refresh_ms;
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.also_in_flight = false;
    state.dirty = true;
    let mut news = Vec::new();
    for (a, res) in r.also.iter_mut().zip(results) {
        match res {
            Ok(snap) => {
                if let Some(e) = a.feed.succeeded(at, refresh) {
                    news.push((
                        LogLevel::Info,
                        format!("`{}` answers again (was: {e})", a.name),
                    ));
                }
                a.flag = Some(snap);
            }
            Err(e) => {
                let why = e.to_string();
                if a.feed.failed(at, why.clone(), refresh) {
                    news.push((
                        LogLevel::Error,
                        format!("`{}` cannot be read: {why}", a.name),
                    ));
                }
            }
        }
    }
    for (level, text) in news {
        state.log(i, level, text);
    }
}

/// A flag's outcome in a few words: `cache-level conflict (now 40%)`.
fn failure(d: &FlagWriteResult) -> String {
    let now = d
        .result
        .after
        .as_ref()
        .map_or_else(|| "unreadable".to_owned(), describe_flag);
    match &d.result.outcome {
        WriteOutcome::Ok => format!("{} ok", d.name),
        WriteOutcome::Conflict => format!("{} conflict (it moved to {now})", d.name),
        WriteOutcome::Refused(m) => format!("{} refused ({m})", d.name),
        WriteOutcome::Error(m) => format!("{} failed ({m})", d.name),
        WriteOutcome::Unknown(m) => format!("{} UNKNOWN ({m}; re-read {now})", d.name),
        WriteOutcome::NotApplied { asked, found } => {
            format!("{} not applied (asked {asked}, shows {found})", d.name)
        }
    }
}

/// The group's outcome in one line: `landed a, b; c conflict (…); not attempted: d`.
fn summary(res: &GroupResult) -> String {
    let landed: Vec<&str> = res.landed().map(|d| d.name.as_str()).collect();
    let mut out = if landed.is_empty() {
        "nothing landed".to_owned()
    } else {
        format!("landed {}", landed.join(", "))
    };
    for d in res
        .done
        .iter()
        .filter(|d| d.result.outcome != WriteOutcome::Ok)
    {
        let _ = write!(out, "; {}", failure(d));
    }
    if !res.skipped.is_empty() {
        let names: Vec<&str> = res.skipped.iter().map(|w| w.name.as_str()).collect();
        let _ = write!(out, "; not attempted: {}", names.join(", "));
    }
    out
}

pub(super) fn on_group_write_done(
    state: &mut State,
    i: usize,
    at: i64,
    res: &GroupResult,
    cmds: &mut Vec<Command>,
) {
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.write_in_flight = false;
    for d in &res.done {
        if d.flag == 0 {
            landed_on_flag(state, i, at, &d.result, cmds);
        } else if let (Some(a), Some(after)) =
            (state.rollouts[i].also.get_mut(d.flag - 1), &d.result.after)
        {
            a.flag = Some(after.clone());
            a.feed.at_ms = Some(at);
            a.feed.error = None;
        }
    }
    let undo = res
        .done
        .first()
        .is_some_and(|d| d.result.request.reason == UNDO_REASON);
    let n = res.landed().count();
    let (level, text) = match (res.all_ok(), n) {
        (true, _) => {
            state.rollouts[i].partial = None;
            let what = res
                .done
                .first()
                .map(|d| describe_change(&d.result.request))
                .unwrap_or_default();
            let verb = if undo { "undone" } else { "done" };
            (
                LogLevel::Info,
                format!("{verb}: {what} on {} ({})", flags(n), summary(res)),
            )
        }
        (false, 0) if !res.keep_going && res.done.len() == 1 => {
            // The first flag did not move: nothing to undo, said as a single write is.
            outcome_text(&res.done[0].result)
        }
        (false, _) => {
            let text = format!("PARTIAL: {}", summary(res));
            let r = &mut state.rollouts[i];
            r.partial = Some(partial(r.partial.take(), res, undo, n));
            (LogLevel::Error, text)
        }
    };
    let name = state.rollouts[i].def.name.clone();
    if level == LogLevel::Error {
        state.notify(format!("{name}: {text}"));
    }
    state.log(i, level, text.clone());
    state.say(level, format!("{name}: {text}"));
}

/// What stands after a group that did not move every flag: the first failure and how many
/// flags moved, and what `u` would put back. An undo that was itself partial keeps the
/// writes it did not manage (the flags it put back are off the list).
fn partial(before: Option<Partial>, res: &GroupResult, undo: bool, landed: usize) -> Partial {
    let first = res
        .done
        .iter()
        .find(|d| d.result.outcome != WriteOutcome::Ok)
        .map_or_else(|| "not every flag written".to_owned(), failure);
    if undo {
        let mut undo_left = before.map(|p| p.undo).unwrap_or_default();
        undo_left.retain(|w| !res.landed().any(|d| d.flag == w.flag));
        return Partial {
            summary: format!("undo incomplete: {first}; {} put back", flags(landed)),
            undo: undo_left,
        };
    }
    let undo = if res.keep_going {
        Vec::new()
    } else {
        crate::app::also::undo_writes(res)
    };
    Partial {
        summary: format!("{first}; {} moved", flags(landed)),
        undo,
    }
}

/// `1 flag`, `2 flags`.
fn flags(n: usize) -> String {
    if n == 1 {
        "1 flag".into()
    } else {
        format!("{n} flags")
    }
}
