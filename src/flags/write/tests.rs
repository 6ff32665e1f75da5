//! Unit tests of the guarded write: audit before and after, conflicts, rollback retries,
//! re-read verification, read-only.

use super::*;
use crate::flags::memory::MemoryFlag;

fn req(expected: FlagSnapshot, kind: WriteKind) -> WriteRequest {
    WriteRequest {
        rollout: "r".into(),
        environment: "production".into(),
        expected,
        kind,
        reason: "operator".into(),
    }
}

#[tokio::test]
async fn a_set_is_audited_before_and_after_and_re_read() {
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("a.jsonl"));
    let f = MemoryFlag::new("x", 5);
    let seen = f.snapshot();
    let r = guarded_write(&f, &audit, req(seen, WriteKind::SetPercent(25)), false).await;
    assert_eq!(r.outcome, WriteOutcome::Ok);
    assert_eq!(r.after.unwrap().percent, 25);
    let recs = audit.read_all();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].phase, "intent");
    assert_eq!(recs[1].outcome.as_deref(), Some("ok"));
    assert_eq!(recs[0].write_id, recs[1].write_id);
}

#[tokio::test]
async fn a_set_against_a_moved_value_is_a_conflict_and_writes_nothing() {
    let audit = AuditLog::disabled();
    let f = MemoryFlag::new("x", 5);
    let seen = f.snapshot();
    f.set_behind_the_back(40, 0, "alice");
    let r = guarded_write(&f, &audit, req(seen, WriteKind::SetPercent(25)), false).await;
    assert_eq!(r.outcome, WriteOutcome::Conflict);
    assert_eq!(r.after.unwrap().percent, 40);
    assert_eq!(f.snapshot().percent, 40);
    assert_eq!(r.attempts, 1, "a plain set never retries");
}

#[tokio::test]
async fn a_rollback_reaches_zero_even_when_the_value_moved() {
    let audit = AuditLog::disabled();
    let f = MemoryFlag::new("x", 50);
    let seen = f.snapshot();
    f.set_behind_the_back(75, 0, "alice");
    let r = guarded_write(&f, &audit, req(seen, WriteKind::Rollback(0)), false).await;
    assert_eq!(r.outcome, WriteOutcome::Ok);
    assert_eq!(f.snapshot().percent, 0);
    assert_eq!(r.attempts, 2);
}

/// A backend that answers every write with success and changes nothing (a body template
/// the server ignores, a proxy that drops the field); optionally its reads fail after the
/// first write.
struct Deaf {
    snap: FlagSnapshot,
    reads_fail_after_write: bool,
    wrote: std::sync::atomic::AtomicBool,
}

impl Deaf {
    fn new(percent: u8, reads_fail_after_write: bool) -> Self {
        Self {
            snap: FlagSnapshot {
                percent,
                enabled: true,
                version: None,
                details: Vec::new(),
                lease: None,
            },
            reads_fail_after_write,
            wrote: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl FlagBackend for Deaf {
    fn describe(&self) -> String {
        "deaf".into()
    }
    fn read(&self) -> futures::future::BoxFuture<'_, Result<FlagSnapshot, FlagError>> {
        let fail = self.reads_fail_after_write && self.wrote.load(Ordering::SeqCst);
        let s = self.snap.clone();
        Box::pin(async move {
            if fail {
                Err(FlagError::Timeout(2000))
            } else {
                Ok(s)
            }
        })
    }
    fn compare_and_set(
        &self,
        _: &FlagSnapshot,
        _: u8,
    ) -> futures::future::BoxFuture<'_, Result<(), FlagError>> {
        self.wrote.store(true, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
    fn set_enabled(
        &self,
        _: &FlagSnapshot,
        _: bool,
    ) -> futures::future::BoxFuture<'_, Result<(), FlagError>> {
        self.wrote.store(true, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn an_accepted_write_the_re_read_contradicts_is_not_applied_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("a.jsonl"));
    let f = Deaf::new(25, false);
    for (kind, asked, found) in [
        (WriteKind::SetEnabled(false), "off", "on"),
        (WriteKind::SetPercent(50), "50%", "25%"),
        (WriteKind::Rollback(0), "0%", "25%"),
    ] {
        let r = guarded_write(&f, &audit, req(f.snap.clone(), kind), false).await;
        assert_eq!(
            r.outcome,
            WriteOutcome::NotApplied {
                asked: asked.into(),
                found: found.into()
            },
            "{kind:?}"
        );
        assert_eq!(r.attempts, 1, "never retried");
        let last = audit.read_all().pop().unwrap();
        assert_eq!(last.outcome.as_deref(), Some("not_applied"));
        let detail = last.detail.unwrap();
        assert!(detail.contains(asked) && detail.contains(found), "{detail}");
    }
}

#[tokio::test]
async fn an_accepted_write_whose_re_read_fails_is_unknown_not_done() {
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("a.jsonl"));
    let f = Deaf::new(25, true);
    let r = guarded_write(
        &f,
        &audit,
        req(f.snap.clone(), WriteKind::SetPercent(50)),
        false,
    )
    .await;
    assert!(
        matches!(&r.outcome, WriteOutcome::Unknown(m) if m.contains("re-read failed")),
        "{:?}",
        r.outcome
    );
    assert_eq!(
        audit.read_all().pop().unwrap().outcome.as_deref(),
        Some("unknown")
    );
}

#[test]
fn verify_compares_only_what_was_asked_for() {
    let mut s = MemoryFlag::new("x", 50).snapshot();
    assert_eq!(verify(WriteKind::SetPercent(50), &s), None);
    s.enabled = false;
    assert_eq!(verify(WriteKind::SetPercent(50), &s), None);
    assert_eq!(verify(WriteKind::SetEnabled(false), &s), None);
    assert!(verify(WriteKind::SetEnabled(true), &s).is_some());
    assert!(verify(WriteKind::Rollback(0), &s).is_some());
}

#[tokio::test]
async fn a_write_refused_before_writing_leaves_intent_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("a.jsonl"));
    let f = MemoryFlag::new("x", 5);
    let r = refused_before_writing(
        &audit,
        "memory",
        req(f.snapshot(), WriteKind::SetPercent(25)),
        unreadable_outcome(&FlagError::Unauthorized),
    );
    assert!(matches!(r.outcome, WriteOutcome::Refused(_)));
    let recs = audit.read_all();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].phase, "intent");
    assert_eq!(recs[1].write_id, recs[0].write_id);
    assert_eq!(recs[1].outcome.as_deref(), Some("refused"));
    assert!(recs[1].detail.as_deref().unwrap().contains("unauthorized"));
    assert_eq!(
        unreadable_outcome(&FlagError::Timeout(5)).label(),
        "error",
        "nothing was sent, so a failed read is never an unknown outcome"
    );
}

#[tokio::test]
async fn read_only_refuses_and_audits_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("a.jsonl"));
    let f = MemoryFlag::new("x", 5);
    let r = guarded_write(
        &f,
        &audit,
        req(f.snapshot(), WriteKind::SetPercent(25)),
        true,
    )
    .await;
    assert!(matches!(r.outcome, WriteOutcome::Refused(_)));
    assert_eq!(f.snapshot().percent, 5);
    assert_eq!(audit.read_all()[1].outcome.as_deref(), Some("refused"));
}
