//! What the dashboard does with a finished write (`Msg::WriteDone`): a write the re-read
//! contradicts is said in red as NOT APPLIED with both values; a landed write is remembered
//! so the backend's record of it shows as "this session", not NEW.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rollwatch::app::{LogLevel, Msg, RolloutState, State, update};
use rollwatch::flags::FlagEvent;
use rollwatch::flags::write::{WriteKind, WriteOutcome, WriteRequest, WriteResult};
use rollwatch::model::FlagSnapshot;
use rollwatch::sim::demo;
use rollwatch::ui::{self, theme};

const T0: i64 = 1_767_268_800_000;

fn state_at(percent: u8) -> State {
    let (def, _) = demo::checkout();
    let r = RolloutState::new(def, "unleash".into(), "prometheus".into(), T0);
    let mut s = State::new(vec![r], 1000, T0);
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0,
            result: Ok(FlagSnapshot::new(percent, true)),
        },
    );
    s
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
    let mut term = Terminal::new(TestBackend::new(150, 36)).unwrap();
    let themes = theme::builtin();
    term.draw(|f| ui::draw(f, s, &themes[0])).unwrap();
    term.backend().to_string()
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
