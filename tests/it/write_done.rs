//! What the dashboard does with a finished write (`Msg::WriteDone`): a write the re-read
//! contradicts is said in red as NOT APPLIED with both values; a landed write is remembered
//! so the backend's record of it shows as "this session", not NEW.

use rollwatch::app::{LogLevel, Msg, State, update};
use rollwatch::flags::FlagEvent;
use rollwatch::flags::write::{WriteKind, WriteOutcome, WriteRequest, WriteResult};
use rollwatch::model::FlagSnapshot;
use rollwatch::sim::demo;

use crate::support::state::{flag_read_at, render};

const T0: i64 = 1_767_268_800_000;

fn state_at(percent: u8) -> State {
    flag_read_at(demo::checkout().0, "unleash", "prometheus", T0, percent)
}

fn done(s: &mut State, kind: WriteKind, outcome: WriteOutcome, after: FlagSnapshot, at: i64) {
    let _ = update(
        s,
        Msg::WriteDone {
            rollout: 0,
            at_ms: at,
            result: Box::new(WriteResult {
                request: WriteRequest {
                    rollout: "checkout".into(),
                    environment: "production".into(),
                    expected: FlagSnapshot::new(25, true),
                    kind,
                    reason: "operator".into(),
                },
                outcome,
                after: Some(after),
                attempts: 1,
                write_id: "w-1".into(),
            }),
        },
    );
}

#[test]
fn a_kill_switch_the_re_read_contradicts_is_not_applied_in_red() {
    let mut s = state_at(25);
    done(
        &mut s,
        WriteKind::SetEnabled(false),
        WriteOutcome::NotApplied {
            asked: "off".into(),
            found: "on".into(),
        },
        FlagSnapshot::new(25, true),
        T0 + 500,
    );
    let last = s.events.back().unwrap();
    assert_eq!(last.level, LogLevel::Error, "red");
    assert!(
        last.text.contains("NOT APPLIED") && last.text.contains("on") && last.text.contains("off"),
        "{}",
        last.text
    );
    assert!(!last.text.contains("done"), "{}", last.text);
    assert!(s.rollouts[0].own_writes.is_empty(), "nothing landed");
}

fn events_pane(s: &State) -> String {
    // Wide and not too tall: the event log gets the rows (charts start at 40 rows).
    render(s, 150, 36)
}

#[test]
fn the_backends_record_of_our_write_is_this_session_and_a_strangers_is_new() {
    let mut s = state_at(25);
    let ev = |at_ms, before, after, author: &str| FlagEvent {
        at_ms,
        author: author.into(),
        kind: "feature-strategy-update".into(),
        before: Some(before),
        after: Some(after),
    };
    // The history as first read: nothing new yet.
    let _ = update(
        &mut s,
        Msg::FlagEvents {
            rollout: 0,
            at_ms: T0,
            result: Ok(vec![ev(T0 - 60_000, 5, 25, "alice")]),
        },
    );
    done(
        &mut s,
        WriteKind::SetPercent(50),
        WriteOutcome::Ok,
        FlagSnapshot::new(50, true),
        T0 + 10_000,
    );
    assert_eq!(s.rollouts[0].own_writes.len(), 1);
    let _ = update(
        &mut s,
        Msg::FlagEvents {
            rollout: 0,
            at_ms: T0 + 30_000,
            result: Ok(vec![
                ev(T0 - 60_000, 5, 25, "alice"),
                ev(T0 + 9_800, 25, 50, "admin"),
                ev(T0 + 25_000, 50, 75, "bob"),
            ]),
        },
    );
    let screen = events_pane(&s);
    let row = |who: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!("by {who}")))
            .unwrap_or_else(|| panic!("no row by {who}:\n{screen}"))
            .to_owned()
    };
    assert!(row("admin").contains("this session"), "{screen}");
    assert!(!row("admin").contains("NEW"), "{screen}");
    assert!(row("bob").contains("NEW while watching"), "{screen}");
    assert!(!row("alice").contains("NEW") && !row("alice").contains("this session"));
}
