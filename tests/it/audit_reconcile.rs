//! A write intent without an outcome (the process died mid-write) is closed at the next start
//! with an `unknown` outcome and the flag as re-read then; nothing is written to the flag.

use rollwatch::app::effects::reconcile;
use rollwatch::audit::{AuditLog, AuditRecord};
use rollwatch::flags::memory::MemoryFlag;

fn intent(id: &str) -> AuditRecord {
    AuditRecord {
        time: "2026-11-23T03:00:00Z".into(),
        write_id: id.into(),
        phase: "intent".into(),
        user: "alice".into(),
        host: "bastion".into(),
        rollout: "checkout".into(),
        environment: "production".into(),
        backend: "memory".into(),
        action: "set".into(),
        expected_percent: 25,
        expected_enabled: true,
        new_value: 50,
        reason: "operator".into(),
        outcome: None,
        detail: None,
        flag: None,
        group: None,
    }
}

#[tokio::test]
async fn a_dangling_intent_is_closed_as_unknown_with_the_re_read_value() {
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    audit.append(&intent("w1")).unwrap();
    let mut other = intent("w2");
    other.rollout = "another".into();
    audit.append(&other).unwrap();
    let flag = MemoryFlag::new("checkout", 50);

    let notes = reconcile(&flag, &audit, "checkout").await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("now reads 50%"), "{}", notes[0]);
    assert!(audit.dangling_intents("checkout").is_empty());
    assert_eq!(
        audit.dangling_intents("another").len(),
        1,
        "other rollouts untouched"
    );
    let all = audit.read_all();
    let out = all.iter().find(|r| r.phase == "outcome").unwrap();
    assert_eq!(out.write_id, "w1");
    assert_eq!(out.outcome.as_deref(), Some("unknown"));
    assert!(out.detail.as_ref().unwrap().contains("re-read: 50%"));
    assert_eq!(
        flag.snapshot().percent,
        50,
        "reconciling never writes the flag"
    );

    // A second start finds nothing left to reconcile.
    assert!(reconcile(&flag, &audit, "checkout").await.is_empty());
}
