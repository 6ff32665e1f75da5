//! A write key becomes a pending change in a confirm dialog, never a write: the dialog says in
//! words what happens to users and warns, naming the facts, about everything that argues
//! against it (bake time left, stale or failing backends, rules that are not OK). Only `y` on
//! that dialog produces the write.

use super::guard::{Blocker, forward_blockers, short};
use super::keymap::Action;
use super::state::{LogLevel, Mode, PendingWrite, RolloutState, State};
use crate::alerts::AlertStatus;
use crate::flags::write::{WriteKind, WriteRequest};
use crate::model::FlagSnapshot;
use std::fmt::Write as _;

/// What a change means for users, in words.
#[must_use]
pub fn effect(kind: WriteKind, flag: &FlagSnapshot, environment: &str) -> String {
    match kind {
        WriteKind::SetPercent(p) if p > flag.percent => format!(
            "send {p} % of traffic to the new path in {environment} (now {} %)",
            flag.percent
        ),
        WriteKind::SetPercent(p) => format!(
            "send only {p} % of traffic to the new path in {environment} (now {} %); the others go back to legacy",
            flag.percent
        ),
        WriteKind::Rollback(0) => format!(
            "ROLL BACK: everyone in {environment} goes back to the legacy path (0 % on the new path)"
        ),
        WriteKind::Rollback(p) => format!(
            "ROLL BACK to {p} %: only {p} % of traffic in {environment} stays on the new path"
        ),
        WriteKind::SetEnabled(false) => {
            format!("switch the new path OFF for everyone in {environment}")
        }
        WriteKind::SetEnabled(true) => format!(
            "switch the flag ON in {environment}: {} % of traffic goes to the new path",
            flag.percent
        ),
    }
}

/// Bake time of the current step still to be covered by fresh observations (see
/// [`super::bake`]), when the step has a bake time that is not covered yet.
#[must_use]
pub fn bake_left_ms(r: &RolloutState) -> Option<i64> {
    let (_, bake) = bake_progress(r)?;
    r.bake.left_ms(bake)
}

/// The evidence of the current step in words, while it is not baked: `baked 3m of 5m on
/// fresh data`, and the observations still missing once the time is covered. Why the last
/// poll did not count is in `r.bake.rejected`.
#[must_use]
pub fn bake_words(r: &RolloutState) -> Option<String> {
    bake_left_ms(r)?;
    let (covered, bake) = bake_progress(r)?;
    let d = crate::ui::format::duration;
    let mut out = format!("baked {} of {} on fresh data", d(covered), d(bake));
    let n = r.bake.observations;
    if covered >= bake && n < super::bake::MIN_OBSERVATIONS {
        let _ = write!(
            out,
            ", {n} of {} observations",
            super::bake::MIN_OBSERVATIONS
        );
    }
    Some(out)
}

/// `(covered, bake)` of the current step in ms, when it has a bake time.
#[must_use]
pub fn bake_progress(r: &RolloutState) -> Option<(i64, i64)> {
    let flag = r.flag.as_ref()?;
    let step = r.def.step_index(flag.percent)?;
    let bake = r.def.steps.get(step)?.bake?;
    r.step_since_ms?;
    let bake_ms = i64::try_from(bake.as_millis()).unwrap_or(i64::MAX);
    Some((r.bake.covered_ms.min(bake_ms), bake_ms))
}

/// The warnings of a dialog: the blockers, then rules that are pending (or firing/unknown
/// without blocking), then the bake time for forward moves.
fn warnings(s: &State, r: &RolloutState, forward: bool) -> Vec<String> {
    let mut out: Vec<String> = forward_blockers(r, s.now_ms, s.stale_after_ms())
        .iter()
        .map(ToString::to_string)
        .collect();
    for (rule, a) in r.def.rules.iter().zip(&r.alerts) {
        let listed = rule.action.blocks_bump()
            && matches!(a.status, AlertStatus::Firing | AlertStatus::Unknown);
        if listed {
            continue;
        }
        let what = match a.status {
            AlertStatus::Pending | AlertStatus::Firing => a.status.label(),
            AlertStatus::Unknown => "UNKNOWN",
            _ => continue,
        };
        let value = a.value.map(|v| format!(", value {}", short(v)));
        out.push(format!(
            "rule `{}` is {what} ({}, {}{})",
            rule.name,
            rule.severity.as_str(),
            rule.action.label(),
            value.unwrap_or_default()
        ));
    }
    if forward && let Some(words) = bake_words(r) {
        let pct = r.flag.as_ref().map_or(0, |f| f.percent);
        let why = r
            .bake
            .rejected
            .as_ref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        out.push(format!("the {pct} % step is not baked: {words}{why}"));
    }
    out
}

/// Turns a write key into a confirm dialog (or a message saying why not).
pub fn propose(state: &mut State, a: Action) {
    let i = state.selected;
    if refused(state, i) {
        return;
    }
    let r = &state.rollouts[i];
    let Some(flag) = r.flag.clone() else {
        state.say(
            LogLevel::Warn,
            "the flag has not been read yet: nothing to change",
        );
        return;
    };
    let kind = match a {
        Action::Bump | Action::ForceBump => {
            let Some(next) = r.def.next_percent(flag.percent) else {
                let text = format!("already at the last step ({}%)", flag.percent);
                state.say(LogLevel::Info, text);
                return;
            };
            let blockers = forward_blockers(r, state.now_ms, state.stale_after_ms());
            if a == Action::Bump
                && let Some(b) = blockers.first()
            {
                let text = blocked_text(b, blockers.len());
                state.say(LogLevel::Warn, text);
                return;
            }
            WriteKind::SetPercent(next)
        }
        Action::StepBack => {
            let Some(prev) = r.def.prev_percent(flag.percent) else {
                state.say(LogLevel::Info, "already at 0%");
                return;
            };
            WriteKind::SetPercent(prev)
        }
        Action::Rollback => {
            if flag.percent == 0 {
                state.say(LogLevel::Info, "already at 0%");
                return;
            }
            WriteKind::Rollback(0)
        }
        _ => {
            if !r.kill_switch {
                let text = format!(
                    "{}: the flag backend cannot switch the flag on or off (no kill switch)",
                    r.def.name
                );
                state.say(LogLevel::Warn, text);
                return;
            }
            WriteKind::SetEnabled(!flag.enabled)
        }
    };
    let forward = match kind {
        WriteKind::SetPercent(p) => p > flag.percent,
        WriteKind::SetEnabled(on) => on,
        WriteKind::Rollback(_) => false,
    };
    let mut warnings = warnings(state, r, forward);
    if a == Action::ForceBump && !warnings.is_empty() {
        warnings.insert(0, "FORCING the next step past:".into());
    }
    if let Some(l) = state.steered_by(i) {
        warnings.insert(0, crate::app::guard::steering_warning(l));
    }
    let request = WriteRequest {
        rollout: r.def.name.clone(),
        environment: r.def.environment.clone(),
        expected: flag.clone(),
        kind,
        reason: "operator".into(),
    };
    let group = match group_of(r, &request) {
        Ok(g) => g,
        Err(e) => {
            state.say(LogLevel::Warn, e);
            return;
        }
    };
    state.mode = Mode::Confirm(PendingWrite {
        rollout: i,
        effect: effect(kind, &flag, &r.def.environment),
        request,
        warnings,
        group,
        keep_going: super::also::keep_going(kind),
    });
    state.dirty = true;
}

/// Whether no write may be proposed now (read-only, a write in flight), said on the status
/// line.
fn refused(state: &mut State, i: usize) -> bool {
    let r = &state.rollouts[i];
    let why = if state.read_only {
        "read-only: writes are disabled (--read-only)".to_owned()
    } else if r.write_in_flight {
        format!(
            "a write to {} is in flight: wait for its result",
            r.def.name
        )
    } else {
        return false;
    };
    state.say(LogLevel::Warn, why);
    true
}

/// Every flag's write when the rollout has also-flags (empty otherwise).
fn group_of(
    r: &RolloutState,
    request: &WriteRequest,
) -> Result<Vec<crate::flags::write::group::FlagWrite>, String> {
    if r.also.is_empty() {
        return Ok(Vec::new());
    }
    super::also::group_writes(r, request)
        .map_err(|e| format!("cannot move the flags together: {e}"))
}

/// `u`: a dialog that puts back the flags a partial group write moved (each new → old, a
/// compare-and-set against the value that landed); never writes by itself.
pub fn undo(state: &mut State) {
    let i = state.selected;
    if refused(state, i) {
        return;
    }
    let r = &state.rollouts[i];
    let Some(p) = &r.partial else {
        state.say(LogLevel::Info, "nothing to undo: no partial write");
        return;
    };
    let Some(first) = p.undo.first() else {
        let text = format!("nothing to undo ({}); r rolls every flag back", p.summary);
        state.say(LogLevel::Warn, text);
        return;
    };
    let mut warnings = Vec::new();
    for w in &p.undo {
        let now = if w.flag == 0 {
            r.flag.as_ref()
        } else {
            r.also.get(w.flag - 1).and_then(|a| a.flag.as_ref())
        };
        if let Some(now) = now.filter(|n| n.percent != w.request.expected.percent) {
            warnings.push(format!(
                "`{}` now reads {}%, not the {}% that landed: its undo will meet a conflict",
                w.name, now.percent, w.request.expected.percent
            ));
        }
    }
    let names: Vec<&str> = p.undo.iter().map(|w| w.name.as_str()).collect();
    state.mode = Mode::Confirm(PendingWrite {
        rollout: i,
        request: first.request.clone(),
        effect: format!(
            "UNDO the partial write: put back {} in {} to where they were",
            names.join(", "),
            r.def.environment
        ),
        warnings,
        group: p.undo.clone(),
        keep_going: true,
    });
    state.dirty = true;
}

/// The status line when `+` is blocked: the first reason, how many more, and the way out.
fn blocked_text(b: &Blocker, n: usize) -> String {
    let more = if n > 1 {
        format!(" (+{} more)", n - 1)
    } else {
        String::new()
    };
    format!("next step blocked: {b}{more}; press ! to force (confirm)")
}
