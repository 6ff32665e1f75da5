//! The one guarded write path every backend's writes go through: audit intent, compare-and-set
//! against what the operator saw, audit outcome, re-read. Never a blind retry: only a rollback
//! whose compare-and-set met a *conflict* (nothing written) tries again, at most three fresh
//! times, each against a fresh read. An unknown outcome (timeout, broken connection) is
//! reported, audited and followed by a re-read, never repeated.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{FlagBackend, FlagError};
use crate::audit::{AuditLog, AuditRecord, host_name, os_user};
use crate::model::FlagSnapshot;
pub use crate::model::WriteKind;

/// A confirmed write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRequest {
    /// Rollout name.
    pub rollout: String,
    /// Environment shown in the confirm dialog.
    pub environment: String,
    /// The flag as the operator saw it when confirming.
    pub expected: FlagSnapshot,
    /// What to do.
    pub kind: WriteKind,
    /// Why (`operator`, a rule name, `script`).
    pub reason: String,
}

/// How a write ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOutcome {
    /// It landed; the re-read shows the flag after it.
    Ok,
    /// The value moved; nothing was written.
    Conflict,
    /// The backend or rollwatch refused (read-only, 401, 403, misconfigured).
    Refused(String),
    /// It failed before anything could land (HTTP error answer).
    Error(String),
    /// No answer: it may or may not have landed. The re-read tells what holds now.
    Unknown(String),
    /// The backend accepted the write, but the re-read shows something other than what was
    /// asked for (a body template that cannot carry the value, a proxy that drops it, a
    /// concurrent writer). Not done, not retried.
    NotApplied {
        /// What was asked for (`50%`, `off`).
        asked: String,
        /// What the re-read shows (`25%`, `on`).
        found: String,
    },
}

impl WriteOutcome {
    /// Audit label.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            WriteOutcome::Ok => "ok",
            WriteOutcome::Conflict => "conflict",
            WriteOutcome::Refused(_) => "refused",
            WriteOutcome::Error(_) => "error",
            WriteOutcome::Unknown(_) => "unknown",
            WriteOutcome::NotApplied { .. } => "not_applied",
        }
    }
}

/// What `kind` asks for, in words (`50%`, `on`, `off`).
#[must_use]
pub fn asked(kind: WriteKind) -> String {
    match kind {
        WriteKind::SetPercent(_) | WriteKind::Rollback(_) => format!("{}%", kind.value()),
        WriteKind::SetEnabled(on) => on_off(on).into(),
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Checks an accepted write against the re-read: `None` when the flag shows what was asked
/// for, else the [`WriteOutcome::NotApplied`] naming both values. Only the asked-for field
/// is compared (the percentage for set and rollback, the switch for the kill switch).
#[must_use]
pub fn verify(kind: WriteKind, after: &FlagSnapshot) -> Option<WriteOutcome> {
    let (applied, found) = match kind {
        WriteKind::SetPercent(_) | WriteKind::Rollback(_) => {
            (after.percent == kind.value(), format!("{}%", after.percent))
        }
        WriteKind::SetEnabled(on) => (after.enabled == on, on_off(after.enabled).into()),
    };
    (!applied).then(|| WriteOutcome::NotApplied {
        asked: asked(kind),
        found,
    })
}

/// The result of a guarded write: its outcome and the flag as re-read afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteResult {
    /// The request.
    pub request: WriteRequest,
    /// How it ended.
    pub outcome: WriteOutcome,
    /// The flag re-read after the write (or the conflict's current value), when readable.
    pub after: Option<FlagSnapshot>,
    /// Attempts made (rollback may take up to 4: the first and three fresh ones).
    pub attempts: u32,
    /// The audit log's write id of the last attempt (pairs its intent and outcome records).
    #[serde(default)]
    pub write_id: String,
}

/// Fresh attempts a rollback makes after a conflict.
pub const ROLLBACK_FRESH_ATTEMPTS: u32 = 3;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh id (the audit clock's time, the process, a sequence number): a write's or a
/// group's.
#[must_use]
pub fn fresh_id(audit: &AuditLog) -> String {
    write_id(audit)
}

/// A write id: the audit clock's time, the process and a sequence number.
fn write_id(audit: &AuditLog) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let at =
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(audit.now_ms()).unwrap_or_default();
    format!(
        "{}-{}-{n}",
        at.format("%Y%m%dT%H%M%S%.3f"),
        std::process::id()
    )
}

/// What a write's audit records say about its place in a group: the `[[rollout.also]]` flag
/// it writes (none for the rollout's own flag) and the group's shared id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tag {
    /// The also-flag's name.
    pub flag: Option<String>,
    /// The group id.
    pub group: Option<String>,
}

fn record(
    audit: &AuditLog,
    req: &WriteRequest,
    (backend, tag): (&str, &Tag),
    expected: &FlagSnapshot,
    id: &str,
    outcome: Option<(&WriteOutcome, Option<String>)>,
) -> AuditRecord {
    let phase = if outcome.is_some() {
        "outcome"
    } else {
        "intent"
    };
    let (label, detail) = match outcome {
        Some((o, d)) => (Some(o.label().to_owned()), d),
        None => (None, None),
    };
    AuditRecord {
        time: audit.now_rfc3339(),
        write_id: id.to_owned(),
        phase: phase.into(),
        user: os_user(),
        host: host_name(),
        rollout: req.rollout.clone(),
        environment: req.environment.clone(),
        backend: backend.to_owned(),
        action: req.kind.action().into(),
        expected_percent: expected.percent,
        expected_enabled: expected.enabled,
        new_value: req.kind.value(),
        reason: req.reason.clone(),
        outcome: label,
        detail,
        flag: tag.flag.clone(),
        group: tag.group.clone(),
    }
}

fn describe(f: &FlagSnapshot) -> String {
    if f.enabled {
        format!("{}%", f.percent)
    } else {
        format!("{}% (off)", f.percent)
    }
}

fn classify(e: &FlagError) -> WriteOutcome {
    match e {
        FlagError::Conflict { .. } => WriteOutcome::Conflict,
        FlagError::Unauthorized
        | FlagError::Forbidden(_)
        | FlagError::ReadOnly
        | FlagError::Misconfigured(_)
        | FlagError::NotFound(_) => WriteOutcome::Refused(e.to_string()),
        FlagError::Timeout(_) | FlagError::Transport(_) => WriteOutcome::Unknown(e.to_string()),
        FlagError::Protocol(_) => WriteOutcome::Error(e.to_string()),
    }
}

/// Audits a write that ends before any request reaches the backend: a guard refused it (a
/// firing rule, a failing backend) or the flag could not be read to know what to compare
/// against. Writes the usual intent and an outcome record (`refused` or `error`, the reason in
/// the detail) and returns the result to report. `outcome` should be
/// [`WriteOutcome::Refused`] or [`WriteOutcome::Error`]: nothing was sent.
///
/// When the flag could not be read, `request.expected` is a placeholder (0 %, off) and the
/// detail says the flag was unread.
#[must_use]
pub fn refused_before_writing(
    audit: &AuditLog,
    backend: &str,
    request: WriteRequest,
    outcome: WriteOutcome,
) -> WriteResult {
    let id = write_id(audit);
    let detail = match &outcome {
        WriteOutcome::Refused(m) | WriteOutcome::Error(m) | WriteOutcome::Unknown(m) => {
            Some(format!("not attempted: {m}"))
        }
        _ => None,
    };
    // Best effort: nothing is written either way, so a failing audit log cannot hide a write.
    let tag = Tag::default();
    let _ = audit.append(&record(
        audit,
        &request,
        (backend, &tag),
        &request.expected,
        &id,
        None,
    ));
    let _ = audit.append(&record(
        audit,
        &request,
        (backend, &tag),
        &request.expected,
        &id,
        Some((&outcome, detail)),
    ));
    WriteResult {
        request,
        outcome,
        after: None,
        attempts: 0,
        write_id: id,
    }
}

/// How a failed *read before writing* ends the write: nothing was sent, so never unknown.
/// A refused read (401, 403, not found, misconfigured) is `refused`, anything else `error`.
#[must_use]
pub fn unreadable_outcome(e: &FlagError) -> WriteOutcome {
    let m = format!("cannot read the flag: {e}");
    match classify(e) {
        WriteOutcome::Refused(_) => WriteOutcome::Refused(m),
        _ => WriteOutcome::Error(m),
    }
}

/// The audit record's detail for an attempt's outcome and the flag read back after it.
fn outcome_detail(outcome: &WriteOutcome, after: Option<&FlagSnapshot>) -> Option<String> {
    match (outcome, after) {
        (WriteOutcome::Ok, Some(a)) => Some(format!("re-read: {}", describe(a))),
        (WriteOutcome::NotApplied { asked, found }, _) => {
            Some(format!("asked {asked}, the re-read shows {found}"))
        }
        (WriteOutcome::Conflict, Some(a)) => Some(format!("current value {}%", a.percent)),
        (WriteOutcome::Unknown(m), a) => Some(format!(
            "{m}; re-read: {}",
            a.map_or("unreadable".into(), |a| format!("{}%", a.percent))
        )),
        (WriteOutcome::Refused(m) | WriteOutcome::Error(m), _) => Some(m.clone()),
        _ => None,
    }
}

/// Performs a confirmed write through the guarded path. `read_only` refuses before any request
/// (and is audited as refused, so an attempted write under `--read-only` leaves a trace).
pub async fn guarded_write(
    backend: &dyn FlagBackend,
    audit: &AuditLog,
    request: WriteRequest,
    read_only: bool,
) -> WriteResult {
    guarded_write_tagged(backend, audit, request, read_only, &Tag::default()).await
}

/// [`guarded_write`] with its audit records tagged (a flag of a group).
pub async fn guarded_write_tagged(
    backend: &dyn FlagBackend,
    audit: &AuditLog,
    request: WriteRequest,
    read_only: bool,
    tag: &Tag,
) -> WriteResult {
    let desc = backend.describe();
    let mut expected = request.expected.clone();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let id = write_id(audit);
        let audit_err = audit
            .append_off_thread(record(audit, &request, (&desc, tag), &expected, &id, None))
            .await
            .err();
        let res = if read_only {
            Err(FlagError::ReadOnly)
        } else if let Some(e) = audit_err {
            // No write without its intent on disk.
            Err(FlagError::Misconfigured(format!(
                "{e}; write not attempted"
            )))
        } else {
            match request.kind {
                WriteKind::SetPercent(p) | WriteKind::Rollback(p) => {
                    backend.compare_and_set(&expected, p.min(100)).await
                }
                WriteKind::SetEnabled(on) => backend.set_enabled(&expected, on).await,
            }
        };
        let mut outcome = match &res {
            Ok(()) => WriteOutcome::Ok,
            Err(e) => classify(e),
        };
        // Re-read after every attempt that reached the backend: the truth after the write.
        let reread = if matches!(outcome, WriteOutcome::Refused(_)) && read_only {
            None
        } else {
            Some(backend.read().await)
        };
        let after = match (&res, &reread) {
            (_, Some(Ok(s))) => Some(s.clone()),
            (Err(FlagError::Conflict { current }), Some(Err(_))) => current.clone(),
            _ => None,
        };
        // "Done" only when the re-read shows what was asked for.
        if outcome == WriteOutcome::Ok {
            outcome = match &reread {
                Some(Ok(a)) => verify(request.kind, a).unwrap_or(WriteOutcome::Ok),
                Some(Err(e)) => WriteOutcome::Unknown(format!(
                    "the backend accepted the write but the re-read failed ({e}); \
                     whether it applied is unknown"
                )),
                None => WriteOutcome::Ok,
            };
        }
        let detail = outcome_detail(&outcome, after.as_ref());
        // The outcome record is best effort: the intent is already on disk.
        let _ = audit
            .append_off_thread(record(
                audit,
                &request,
                (&desc, tag),
                &expected,
                &id,
                Some((&outcome, detail)),
            ))
            .await;

        let retry = matches!(request.kind, WriteKind::Rollback(_))
            && outcome == WriteOutcome::Conflict
            && attempts <= ROLLBACK_FRESH_ATTEMPTS;
        match (&after, retry) {
            (Some(fresh), true) if fresh.percent != request.kind.value() => {
                expected = fresh.clone();
            }
            (Some(fresh), true) => {
                // Someone else already rolled it back to the target: nothing to write.
                let _ = fresh;
                return WriteResult {
                    request,
                    outcome: WriteOutcome::Ok,
                    after,
                    attempts,
                    write_id: id,
                };
            }
            _ => {
                return WriteResult {
                    request,
                    outcome,
                    after,
                    attempts,
                    write_id: id,
                };
            }
        }
    }
}

pub mod group;

#[cfg(test)]
mod tests;
