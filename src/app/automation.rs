//! The guarded step plan: auto-advance when a step has baked and everything is healthy, and
//! auto-rollback when a rule with action `rollback` fires. Both only ever produce the same
//! guarded, audited write commands an operator's keys produce; `p` pauses both, read-only
//! disables both. Pure: called from `update` on every tick.

use super::guard::forward_blockers;
use super::msg::Command;
use super::state::{LogLevel, State};
use super::verdicts;
use crate::alerts::{Action, AlertStatus};
use crate::flags::write::{WriteKind, WriteRequest};

/// Why the next step is not due yet, or `Ok(next percent)` when it is.
fn readiness(state: &State, i: usize) -> Result<u8, String> {
    let r = &state.rollouts[i];
    let now = state.now_ms;
    let flag = r.flag.as_ref().ok_or("flag not read")?;
    if !flag.enabled {
        return Err("flag is off".into());
    }
    let next = r.def.next_percent(flag.percent).ok_or("at the last step")?;
    let step = r
        .def
        .step_index(flag.percent)
        .ok_or("below the first step")?;
    r.def.steps[step].bake.ok_or("this step has no bake time")?;
    if let Some(words) = super::propose::bake_words(r) {
        return Err(words);
    }
    if let Some(b) = forward_blockers(r, now, state.stale_after_ms()).first() {
        return Err(b.to_string());
    }
    if r.metrics.iter().any(|m| {
        m.last_at_ms
            .is_none_or(|t| now - t > state.stale_after_ms())
    }) {
        return Err("metrics data stale".into());
    }
    if let Some((rule, a)) = r
        .def
        .rules
        .iter()
        .zip(&r.alerts)
        .find(|(_, a)| a.status.rank() >= AlertStatus::Unknown.rank())
    {
        return Err(format!("rule `{}` is {}", rule.name, a.status.label()));
    }
    if let Some(why) = verdicts::any_worse(r) {
        return Err(why);
    }
    if let (Some(n), Some(min)) = (verdicts::new_requests(r), verdicts::min_new_requests(r))
        && n < min
    {
        return Err(format!("{n}/{min} requests on the new path at this step"));
    }
    Ok(next)
}

/// Runs the automation of rollout `i` at the state's time.
pub(super) fn automate(state: &mut State, i: usize, cmds: &mut Vec<Command>) {
    let readiness = readiness(state, i);
    let held = readiness.as_ref().err().cloned();
    let ready = readiness.ok();
    let r = &mut state.rollouts[i];
    if r.ready != ready || r.held_by != held {
        r.ready = ready;
        r.held_by = held;
        state.dirty = true;
    }
    let r = &state.rollouts[i];
    // A guard holding the lease steers this rollout: one automation writes, never two.
    if state.automation_paused
        || state.read_only
        || r.write_in_flight
        || state.steered_by(i).is_some()
    {
        return;
    }
    let Some(flag) = r.flag.clone() else { return };

    // Auto-rollback: once per firing episode of a rollback rule.
    if r.def.automation.auto_rollback {
        let firing = r
            .def
            .rules
            .iter()
            .zip(&r.alerts)
            .enumerate()
            .find_map(|(j, (rule, a))| match rule.action {
                Action::Rollback { to } if a.status == AlertStatus::Firing && flag.percent > to => {
                    Some((j, a.since_ms, to, rule.name.clone()))
                }
                _ => None,
            });
        if let Some((j, since, to, name)) = firing
            && r.auto_rolled_back != Some((j, since))
        {
            let request = WriteRequest {
                rollout: r.def.name.clone(),
                environment: r.def.environment.clone(),
                expected: flag,
                kind: WriteKind::Rollback(to),
                reason: format!("auto-rollback: rule {name}"),
            };
            let cmd = super::also::write_command(r, i, request);
            let r = &mut state.rollouts[i];
            r.auto_rolled_back = Some((j, since));
            match cmd {
                Ok(cmd) => {
                    r.write_in_flight = true;
                    state.log(
                        i,
                        LogLevel::Error,
                        format!("AUTO-ROLLBACK to {to}%: rule {name} is firing; writing…"),
                    );
                    cmds.push(cmd);
                }
                Err(e) => state.log(
                    i,
                    LogLevel::Error,
                    format!("AUTO-ROLLBACK not written: {e}"),
                ),
            }
            return;
        }
    }

    // Auto-advance: armed, and the next step is due (never while a partial group write
    // stands or a flag is out of step: both are blockers). Auto-rollback above still acts.
    if let (true, Some(next)) = (r.armed, ready) {
        let request = WriteRequest {
            rollout: r.def.name.clone(),
            environment: r.def.environment.clone(),
            expected: flag.clone(),
            kind: WriteKind::SetPercent(next),
            reason: "auto-advance: baked on fresh data, all healthy".into(),
        };
        // Every also-flag is read and in step here (else a blocker holds the step).
        let Ok(cmd) = super::also::write_command(r, i, request) else {
            return;
        };
        state.rollouts[i].write_in_flight = true;
        state.log(
            i,
            LogLevel::Info,
            format!(
                "AUTO-ADVANCE {}% → {next}%: baked on fresh data, all healthy; writing…",
                flag.percent
            ),
        );
        cmds.push(cmd);
    }
}
