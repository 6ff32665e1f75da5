//! The guarded step plan, pure: auto-advance only when armed, baked and healthy; auto-rollback
//! once per firing episode; `p` pauses both; read-only disables both. Every automatic change
//! is the same write command the keys produce, with the reason in the request.

use rollwatch::app::{Command, Msg, State, update};
use rollwatch::flags::write::WriteKind;
use rollwatch::model::FlagSnapshot;
use rollwatch::sim::demo;

use crate::support::state::{checkout_poll, flag_read_at, key};

const T0: i64 = 1_700_000_000_000;

/// The checkout rollout at 25 % (bake 300 s), `auto_rollback` as given.
fn state(auto_rollback: bool) -> State {
    let (mut def, _) = demo::checkout();
    def.automation.auto_rollback = auto_rollback;
    flag_read_at(def, "memory", "sim", T0, 25)
}

/// Advances second by second with fresh metrics and flag reads; returns every write command.
fn run(s: &mut State, from_s: i64, to_s: i64, error_new: f64) -> Vec<(WriteKind, String)> {
    let mut writes = Vec::new();
    for t in from_s..=to_s {
        let at = T0 + t * 1000;
        let _ = update(
            s,
            Msg::MetricsPolled {
                rollout: 0,
                at_ms: at,
                result: Ok(checkout_poll(error_new)),
            },
        );
        let pct = s.rollouts[0].flag.as_ref().unwrap().percent;
        let _ = update(
            s,
            Msg::FlagRead {
                rollout: 0,
                at_ms: at,
                result: Ok(FlagSnapshot::new(pct, true)),
            },
        );
        for c in update(s, Msg::Tick(at)) {
            if let Command::Write { request, .. } = c {
                writes.push((request.kind, request.reason.clone()));
            }
        }
    }
    writes
}

#[test]
fn not_armed_shows_ready_but_never_writes() {
    let mut s = state(false);
    assert!(run(&mut s, 0, 310, 0.06).is_empty());
    assert_eq!(
        s.rollouts[0].ready,
        Some(50),
        "READY → 50% after the 5 min bake"
    );
}

#[test]
fn armed_advances_once_the_bake_time_is_done() {
    let mut s = state(false);
    let _ = update(&mut s, key('a'));
    let _ = update(&mut s, key('y'));
    assert!(s.rollouts[0].armed);
    let before = run(&mut s, 0, 298, 0.06);
    assert!(before.is_empty(), "not before the bake time: {before:?}");
    let w = run(&mut s, 299, 302, 0.06);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, WriteKind::SetPercent(50));
    assert!(w[0].1.starts_with("auto-advance"));
}

#[test]
fn armed_waits_while_a_rule_is_pending_or_firing() {
    let mut s = state(false);
    let _ = update(&mut s, key('a'));
    let _ = update(&mut s, key('y'));
    // Error rate 0.7 % > 0.5 %: new-error-rate pending, then firing; no advance.
    assert!(run(&mut s, 0, 400, 0.7).is_empty());
    assert_eq!(s.rollouts[0].ready, None);
}

#[test]
fn auto_rollback_acts_once_per_firing_episode() {
    let mut s = state(true);
    let w = run(&mut s, 0, 60, 0.9);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, WriteKind::Rollback(0));
    assert_eq!(w[0].1, "auto-rollback: rule new-error-rate");
    // The write's result never arrives here (still in flight); when a refused rollback ends
    // the flight, the same firing episode does not trigger another write.
    s.rollouts[0].write_in_flight = false;
    assert!(run(&mut s, 61, 90, 0.9).is_empty());
}

#[test]
fn pause_and_read_only_stop_all_automation() {
    let mut s = state(true);
    let _ = update(&mut s, key('a'));
    let _ = update(&mut s, key('y'));
    let _ = update(&mut s, key('p'));
    assert!(s.automation_paused);
    assert!(run(&mut s, 0, 400, 0.9).is_empty());
    let _ = update(&mut s, key('p'));
    assert_eq!(
        run(&mut s, 401, 402, 0.9).len(),
        1,
        "resumed: the firing rule rolls back"
    );

    let mut s = state(true);
    s.read_only = true;
    let _ = update(&mut s, key('a'));
    let _ = update(&mut s, key('y'));
    assert!(run(&mut s, 0, 400, 0.9).is_empty());
}
