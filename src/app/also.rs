//! Flags that move together: a rollout's flag and its `[[rollout.also]]` flags share one step
//! plan, so every write of the rollout becomes one write per flag (its own compare-and-set
//! against the value the operator saw), every way of writing (keys, automation, the guard)
//! goes through [`write_command`], and a flag out of step with the others blocks steering
//! forward. Pure.

use super::msg::Command;
use super::state::{AlsoState, RolloutState};
use crate::flags::write::group::FlagWrite;
use crate::flags::write::{WriteKind, WriteRequest};
use crate::model::FlagSnapshot;

/// The `reason` of an undo's writes (the audit log and the log say it).
pub const UNDO_REASON: &str = "undo of a partial write";

/// Whether a group of writes goes on past a failure: a move back to safety (a rollback, the
/// kill switch off) writes every flag; anything else stops at the first that does not land.
#[must_use]
pub fn keep_going(kind: WriteKind) -> bool {
    matches!(kind, WriteKind::Rollback(_) | WriteKind::SetEnabled(false))
}

/// Every flag's write for `request` (made against the rollout's flag): the rollout's flag
/// first, then each also-flag with the same change against its own value as last read.
///
/// # Errors
/// An also-flag not read yet, for anything but a rollback (a rollback compares against a
/// placeholder and, meeting a conflict, tries again against fresh reads).
pub fn group_writes(r: &RolloutState, request: &WriteRequest) -> Result<Vec<FlagWrite>, String> {
    let mut out = vec![FlagWrite {
        flag: 0,
        name: r.def.name.clone(),
        request: request.clone(),
    }];
    for (k, a) in r.also.iter().enumerate() {
        let expected = match (&a.flag, request.kind) {
            (Some(f), _) => f.clone(),
            (None, WriteKind::Rollback(_)) => FlagSnapshot::new(0, false),
            (None, _) => return Err(format!("`{}` has not been read yet", a.name)),
        };
        out.push(FlagWrite {
            flag: k + 1,
            name: a.name.clone(),
            request: WriteRequest {
                expected,
                ..request.clone()
            },
        });
    }
    Ok(out)
}

/// The command that performs `request` on rollout `i`: one write, or one per flag when the
/// rollout has also-flags.
///
/// # Errors
/// As [`group_writes`].
pub fn write_command(r: &RolloutState, i: usize, request: WriteRequest) -> Result<Command, String> {
    if r.also.is_empty() {
        return Ok(Command::Write {
            rollout: i,
            request,
        });
    }
    Ok(Command::WriteGroup {
        rollout: i,
        keep_going: keep_going(request.kind),
        writes: group_writes(r, &request)?,
    })
}

/// An also-flag in words for the header: `cache-level 25%`, `… off`, `… unread`.
#[must_use]
pub fn describe(a: &AlsoState) -> String {
    match &a.flag {
        Some(f) if f.enabled => format!("{} {}%", a.name, f.percent),
        Some(f) => format!("{} {}% (off)", a.name, f.percent),
        None => format!("{} unread", a.name),
    }
}

/// Whether also-flag `a` is in step with the rollout's flag (read, same effective percentage).
#[must_use]
pub fn in_step(r: &RolloutState, a: &AlsoState) -> bool {
    match (&r.flag, &a.flag) {
        (Some(p), Some(f)) => p.effective_percent() == f.effective_percent(),
        _ => false,
    }
}

/// Why the flags are not in step, one line per also-flag out of step (for the blockers).
#[must_use]
pub fn out_of_step(r: &RolloutState) -> Vec<String> {
    let Some(p) = &r.flag else {
        return Vec::new();
    };
    r.also
        .iter()
        .filter(|a| !in_step(r, a))
        .map(|a| match &a.flag {
            Some(f) => format!(
                "`{}` is at {}%, the rollout's flag at {}%",
                a.name,
                f.effective_percent(),
                p.effective_percent()
            ),
            None => format!("`{}` has not been read", a.name),
        })
        .collect()
}

/// The writes that put back what landed of a partial group write: each flag that moved, from
/// the value that landed (`after`) back to its value before (`request.expected`).
#[must_use]
pub fn undo_writes(res: &crate::flags::write::group::GroupResult) -> Vec<FlagWrite> {
    res.landed()
        .filter_map(|d| {
            let before = &d.result.request.expected;
            let landed = d.result.after.clone()?;
            let kind = match d.result.request.kind {
                WriteKind::SetEnabled(_) => WriteKind::SetEnabled(before.enabled),
                WriteKind::SetPercent(_) | WriteKind::Rollback(_) => {
                    WriteKind::SetPercent(before.percent)
                }
            };
            Some(FlagWrite {
                flag: d.flag,
                name: d.name.clone(),
                request: WriteRequest {
                    expected: landed,
                    kind,
                    reason: UNDO_REASON.into(),
                    ..d.result.request.clone()
                },
            })
        })
        .collect()
}
