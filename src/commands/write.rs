//! `set` and `rollback`: the same guard and guarded write path as the keys, with a report and an
//! exit code.

use super::{exit, poll_once};
use crate::app::driver::Driver;
use crate::app::run::Setup;
use crate::app::{Command, Msg};
use crate::flags::write::{
    WriteKind, WriteOutcome, WriteRequest, WriteResult, refused_before_writing, unreadable_outcome,
};

/// Whether `set` to `percent` steers forward from `current` (more traffic to the new path);
/// an unknown current value counts as forward.
pub(super) fn steers_forward(current: Option<&crate::model::FlagSnapshot>, percent: u8) -> bool {
    current.is_none_or(|f| percent > f.effective_percent())
}

/// The words for the blockers of a write, `; `-separated.
pub(super) fn blockers_text(blockers: &[crate::app::guard::Blocker]) -> String {
    blockers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `set` and `rollback`: a guarded, audited write on one rollout.
///
/// `set` first polls every rollout (backfill and rules, as `status` does) and refuses to steer
/// forward while [`crate::app::guard::forward_blockers`] names anything (a firing or unknown
/// `hold`/`rollback` rule, a failing or stale backend), unless `force`; the audit record then
/// says what it was forced past. `rollback` is never blocked. Every ending is audited with an
/// intent and an outcome record, including a refusal by the guard and a flag that cannot be
/// read before writing (a wrong token): both exit [`exit::REFUSED`].
///
/// # Errors
/// When the rollout cannot be chosen or built.
pub async fn write(
    setup: &Setup,
    rollout: Option<&str>,
    kind: WriteKind,
    expect: Option<u8>,
    force: bool,
) -> Result<(String, i32), String> {
    let audit = setup.audit.clone().with_clock(setup.clock.clone());
    let idx = match rollout {
        Some(n) => setup
            .rollouts
            .iter()
            .position(|(r, _)| r.name == n)
            .ok_or_else(|| format!("no rollout named `{n}` in the config"))?,
        None if setup.rollouts.len() == 1 => 0,
        None => {
            let names: Vec<_> = setup
                .rollouts
                .iter()
                .map(|(r, _)| r.name.as_str())
                .collect();
            return Err(format!(
                "the config has several rollouts: choose one with --rollout ({})",
                names.join(", ")
            ));
        }
    };
    let r = &setup.rollouts[idx].0;
    let desc = setup.rollouts[idx].1.flag.describe();
    // The same effects as the dashboard's: the flag read and the guarded write are its
    // commands, with its deadline and its audit log.
    let d = Driver::new(setup);
    let mut reason = "script".to_owned();
    // Whether `request.expected` holds a value read from the flag (else a placeholder).
    let mut seen = false;
    let mut request = WriteRequest {
        rollout: r.name.clone(),
        environment: r.environment.clone(),
        expected: crate::model::FlagSnapshot {
            percent: 0,
            enabled: false,
            version: None,
            details: Vec::new(),
            lease: None,
        },
        kind,
        reason: reason.clone(),
    };
    if let WriteKind::SetPercent(p) = kind {
        let st = poll_once(setup).await;
        let rs = &st.rollouts[idx];
        let blockers = if steers_forward(rs.flag.as_ref(), p) {
            crate::app::guard::forward_blockers(rs, st.now_ms, st.stale_after_ms())
        } else {
            Vec::new()
        };
        if let Some(f) = &rs.flag {
            request.expected = f.clone();
            seen = true;
        }
        if !blockers.is_empty() {
            let why = blockers_text(&blockers);
            if !force {
                request.reason = format!("script (blocked: {why})");
                let res = refused_before_writing(
                    &audit,
                    &desc,
                    request,
                    WriteOutcome::Refused(format!("{why}; --force to write anyway")),
                );
                return Ok(report(&r.name, &res, seen));
            }
            reason = format!("script (forced past: {why})");
        }
    }
    request.reason.clone_from(&reason);
    let read = match d.perform(Command::ReadFlag(idx)).await {
        Some(Msg::FlagRead { result, .. }) => result,
        other => return Err(format!("reading the flag answered {other:?}")),
    };
    let mut expected = match read {
        Ok(s) => s,
        Err(e) => {
            let res = refused_before_writing(&audit, &desc, request, unreadable_outcome(&e));
            return Ok(report(&r.name, &res, seen));
        }
    };
    if let Some(p) = expect {
        expected.percent = p;
    }
    request.expected = expected;
    let write = Command::Write {
        rollout: idx,
        request,
    };
    match d.perform(write).await {
        Some(Msg::WriteDone { result, .. }) => Ok(report(&r.name, &result, true)),
        other => Err(format!("the write answered {other:?}")),
    }
}

/// The exit code of a write's outcome.
#[must_use]
pub fn exit_code(outcome: &WriteOutcome) -> i32 {
    match outcome {
        WriteOutcome::Ok => exit::OK,
        WriteOutcome::Conflict => exit::CONFLICT,
        WriteOutcome::Refused(_) | WriteOutcome::Error(_) | WriteOutcome::NotApplied { .. } => {
            exit::REFUSED
        }
        WriteOutcome::Unknown(_) => exit::UNKNOWN,
    }
}

/// The line `set`/`rollback` print for a write's result, and its exit code. `seen`: the
/// request's expected value was read from the flag (else it is not shown).
pub(super) fn report(name: &str, res: &WriteResult, seen: bool) -> (String, i32) {
    let what = if seen {
        crate::app::update::describe_change(&res.request)
    } else {
        format!(
            "{} → {}",
            res.request.kind.action(),
            crate::flags::write::asked(res.request.kind)
        )
    };
    let now = res
        .after
        .as_ref()
        .map_or_else(|| "unreadable".into(), |a| format!("{}%", a.percent));
    let msg = match &res.outcome {
        WriteOutcome::Ok => format!("{name}: {what}: ok (re-read: {now})"),
        WriteOutcome::Conflict => format!(
            "{name}: {what}: CONFLICT: the flag is at {now}, not {}%; nothing written",
            res.request.expected.percent
        ),
        WriteOutcome::Refused(m) | WriteOutcome::Error(m) => {
            format!("{name}: {what}: refused: {m}")
        }
        WriteOutcome::Unknown(m) => {
            format!("{name}: {what}: UNKNOWN OUTCOME: {m}; re-read shows {now}; not retried")
        }
        WriteOutcome::NotApplied { asked, found } => format!(
            "{name}: {what}: NOT APPLIED: the backend accepted it but the re-read shows \
             {found}, not {asked}; not retried"
        ),
    };
    (msg, exit_code(&res.outcome))
}
