//! The pure `update`: writes only after confirmation, blocked bumps, read-only, in-flight
//! writes, conflicts, honest data (stale → unknown), one poll in flight with back-off.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proptest::prelude::*;

use rollwatch::alerts::AlertStatus;
use rollwatch::app::{Command, Mode, Msg, RolloutState, State, update};
use rollwatch::flags::FlagError;
use rollwatch::flags::write::{WriteKind, WriteOutcome, WriteResult};
use rollwatch::metrics::{CohortValues, MetricsError, Poll};
use rollwatch::model::FlagSnapshot;
use rollwatch::sim::demo;

use crate::support::state::{checkout_poll, code, flag_read_at, key, press, render};

const T0: i64 = 1_700_000_000_000;

/// The demo's checkout rollout, flag read at `percent`, without metrics yet.
fn unpolled_at(percent: u8) -> State {
    flag_read_at(demo::checkout().0, "memory", "sim", T0, percent)
}

/// The demo's checkout rollout, flag read at `percent`, healthy metrics read: every rule OK.
fn state_at(percent: u8) -> State {
    let mut s = unpolled_at(percent);
    metrics_at(&mut s, T0, healthy());
    s
}

/// Healthy values for the checkout metrics: error %, p95 ms, memory bytes, queries, tokens.
fn healthy() -> Poll {
    checkout_poll(0.06)
}

fn metrics_at(s: &mut State, at: i64, p: Poll) {
    let _ = update(
        s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: at,
            result: Ok(p),
        },
    );
}

fn writes(cmds: &[Command]) -> usize {
    cmds.iter()
        .filter(|c| matches!(c, Command::Write { .. }))
        .count()
}

#[test]
fn bump_opens_a_confirm_dialog_and_only_yes_writes() {
    let mut s = state_at(25);
    assert_eq!(writes(&update(&mut s, key('+'))), 0);
    let Mode::Confirm(p) = &s.mode else {
        panic!("no dialog: {:?}", s.mode)
    };
    assert_eq!(p.request.kind, WriteKind::SetPercent(50));
    assert_eq!(
        p.request.expected.percent, 25,
        "compare-and-set against what was seen"
    );
    assert_eq!(p.request.environment, "production");
    let cmds = update(&mut s, key('y'));
    assert_eq!(writes(&cmds), 1);
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.rollouts[0].write_in_flight);
}

#[test]
fn escape_and_n_cancel_without_writing() {
    for cancel in [code(KeyCode::Esc), key('n')] {
        let mut s = state_at(25);
        let _ = update(&mut s, key('r'));
        assert!(matches!(s.mode, Mode::Confirm(_)));
        assert_eq!(writes(&update(&mut s, cancel)), 0);
        assert_eq!(s.mode, Mode::Normal);
        assert!(!s.rollouts[0].write_in_flight);
    }
}

#[test]
fn step_keys_follow_the_plan() {
    let mut s = state_at(25);
    let _ = update(&mut s, key('-'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    assert_eq!(p.request.kind, WriteKind::SetPercent(5));
    let _ = update(&mut s, code(KeyCode::Esc));
    let _ = update(&mut s, key(']'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    assert_eq!(p.request.kind, WriteKind::SetPercent(50));
    let _ = update(&mut s, code(KeyCode::Esc));
    let _ = update(&mut s, key('r'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    assert_eq!(p.request.kind, WriteKind::Rollback(0));
}

#[test]
fn at_the_last_step_bump_says_so() {
    let mut s = state_at(100);
    let _ = update(&mut s, key('+'));
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.status.as_ref().unwrap().1.contains("last step"));
}

#[test]
fn a_firing_hold_rule_blocks_bumping_and_names_the_rule() {
    let mut s = state_at(25);
    // Queries saving 200 → 40 = 80 % < 90 %: query-savings (hold, for 60 s) fires.
    let mut p = healthy();
    p.metrics[3] = Ok(CohortValues {
        counts: None,
        bounds: None,
        legacy: Some(200.0),
        new: Some(40.0),
    });
    for t in 0..=61 {
        let _ = update(&mut s, Msg::Tick(T0 + t * 1000));
        metrics_at(&mut s, T0 + t * 1000, p.clone());
    }
    let idx = s.rollouts[0]
        .def
        .rules
        .iter()
        .position(|r| r.name == "query-savings")
        .unwrap();
    assert_eq!(s.rollouts[0].alerts[idx].status, AlertStatus::Firing);
    let cmds = update(&mut s, key('+'));
    assert_eq!(writes(&cmds), 0);
    assert_eq!(s.mode, Mode::Normal);
    let msg = &s.status.as_ref().unwrap().1;
    assert!(msg.contains("query-savings"), "{msg}");
    // ! forces, with the warning in the dialog.
    let _ = update(&mut s, key('!'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    assert!(
        p.warnings.iter().any(|w| w.contains("query-savings")),
        "{:?}",
        p.warnings
    );
    // Stepping back or rolling back is never blocked.
    let _ = update(&mut s, code(KeyCode::Esc));
    let _ = update(&mut s, key('-'));
    assert!(matches!(s.mode, Mode::Confirm(_)));
}

#[test]
fn read_only_refuses_every_write_key() {
    let mut s = state_at(25);
    s.read_only = true;
    for k in ['+', ']', '-', '[', 'r', 'K', '!'] {
        let cmds = update(&mut s, key(k));
        assert_eq!(writes(&cmds), 0);
        assert_eq!(s.mode, Mode::Normal, "key {k}");
        assert!(s.status.as_ref().unwrap().1.contains("read-only"));
    }
}

#[test]
fn a_second_write_while_one_is_in_flight_is_refused_not_queued() {
    let mut s = state_at(25);
    let _ = update(&mut s, key('+'));
    let _ = update(&mut s, key('y'));
    let cmds = update(&mut s, key('r'));
    assert_eq!(writes(&cmds), 0);
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.status.as_ref().unwrap().1.contains("in flight"));
}

#[test]
fn a_conflict_shows_the_other_value_and_clears_in_flight() {
    let mut s = state_at(25);
    let _ = update(&mut s, key('+'));
    let Mode::Confirm(p) = s.mode.clone() else {
        panic!()
    };
    let _ = update(&mut s, key('y'));
    let theirs = FlagSnapshot::new(40, true);
    let _ = update(
        &mut s,
        Msg::WriteDone {
            rollout: 0,
            at_ms: T0 + 500,
            result: Box::new(WriteResult {
                request: p.request,
                outcome: WriteOutcome::Conflict,
                after: Some(theirs.clone()),
                attempts: 1,
                write_id: String::new(),
            }),
        },
    );
    let r = &s.rollouts[0];
    assert!(!r.write_in_flight);
    assert_eq!(
        r.flag.as_ref().unwrap().percent,
        40,
        "the fresh value is shown"
    );
    let last = s.events.back().unwrap();
    assert!(
        last.text.contains("conflict") && last.text.contains("40%"),
        "{}",
        last.text
    );
}

#[test]
fn an_unknown_outcome_is_said_loudly() {
    let mut s = state_at(25);
    let _ = update(&mut s, key('+'));
    let Mode::Confirm(p) = s.mode.clone() else {
        panic!()
    };
    let _ = update(&mut s, key('y'));
    let _ = update(
        &mut s,
        Msg::WriteDone {
            rollout: 0,
            at_ms: T0 + 500,
            result: Box::new(WriteResult {
                request: p.request,
                outcome: WriteOutcome::Unknown("timed out after 2000 ms".into()),
                after: Some(FlagSnapshot::new(50, true)),
                attempts: 1,
                write_id: String::new(),
            }),
        },
    );
    let last = &s.events.back().unwrap().text;
    assert!(
        last.contains("UNKNOWN OUTCOME") && last.contains("not retried"),
        "{last}"
    );
}

#[test]
fn a_metrics_failure_makes_alerts_unknown_and_keeps_the_last_values() {
    let mut s = state_at(25);
    metrics_at(&mut s, T0, healthy());
    let _ = update(&mut s, Msg::Tick(T0 + 500));
    let split = rollwatch::app::verdicts::SPLIT_RULE;
    assert!(
        s.rollouts[0]
            .alerts
            .iter()
            .zip(&s.rollouts[0].def.rules)
            .filter(|(_, r)| r.name != split)
            .all(|(a, _)| a.status == AlertStatus::Inactive)
    );
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: T0 + 1000,
            result: Err(MetricsError::Transport("connection refused".into())),
        },
    );
    let r = &s.rollouts[0];
    assert!(
        r.alerts
            .iter()
            .zip(&r.def.rules)
            .filter(|(_, r)| r.name != split)
            .all(|(a, _)| a.status == AlertStatus::Unknown)
    );
    assert!(
        r.alerts[0]
            .reason
            .as_ref()
            .unwrap()
            .contains("connection refused")
    );
    assert_eq!(r.metrics[0].last.new, Some(0.06), "last good value kept");
    assert_eq!(
        r.metrics[0].history[1].last().unwrap().value,
        None,
        "a gap, not zero"
    );
}

#[test]
fn data_older_than_two_intervals_is_stale_and_unknown() {
    let mut s = state_at(25);
    metrics_at(&mut s, T0, healthy());
    let _ = update(&mut s, Msg::Tick(T0 + 1500));
    assert_eq!(s.rollouts[0].alerts[0].status, AlertStatus::Inactive);
    // Mark the poll as in flight so the tick does not start another; then let time pass.
    s.rollouts[0].metrics_feed.poll.in_flight = true;
    let _ = update(&mut s, Msg::Tick(T0 + 2500));
    assert_eq!(s.rollouts[0].alerts[0].status, AlertStatus::Unknown);
    assert!(
        s.rollouts[0].alerts[0]
            .reason
            .as_ref()
            .unwrap()
            .starts_with("stale")
    );
}

#[test]
fn one_poll_in_flight_per_backend_and_backoff_after_failure() {
    let (def, _) = demo::checkout();
    let mut s = State::new(
        vec![RolloutState::new(def, "m".into(), "s".into(), T0)],
        1000,
        T0,
    );
    let c1 = update(&mut s, Msg::Tick(T0));
    assert_eq!(
        c1.iter()
            .filter(|c| matches!(c, Command::ReadFlag(0)))
            .count(),
        1
    );
    let c2 = update(&mut s, Msg::Tick(T0 + 5000));
    assert!(
        !c2.iter().any(|c| matches!(c, Command::ReadFlag(0))),
        "still in flight"
    );
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0 + 5000,
            result: Err(FlagError::Transport("refused".into())),
        },
    );
    let next = s.rollouts[0].flag_feed.poll.next_at_ms;
    assert!(
        next > T0 + 5000 && next <= T0 + 5000 + 2000,
        "1 s base, doubled, jittered: {next}"
    );
    for f in 2..12 {
        let at = s.rollouts[0].flag_feed.poll.next_at_ms;
        let _ = update(&mut s, Msg::Tick(at));
        let _ = update(
            &mut s,
            Msg::FlagRead {
                rollout: 0,
                at_ms: at,
                result: Err(FlagError::Transport("refused".into())),
            },
        );
        let delay = s.rollouts[0].flag_feed.poll.next_at_ms - at;
        assert!(
            delay <= 30_000,
            "capped at 30 s after {f} failures: {delay}"
        );
    }
    assert!(s.rollouts[0].flag_feed.error.is_some());
    // Only one log line for a repeated identical failure.
    let n = s
        .events
        .iter()
        .filter(|e| e.text.contains("flag read failed"))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn quit_and_ctrl_c_quit_from_anywhere() {
    let mut s = state_at(25);
    let _ = update(&mut s, key('?'));
    assert_eq!(s.mode, Mode::Help);
    let cmds = update(&mut s, key('q'));
    assert!(cmds.contains(&Command::Quit) && s.quit);
    let mut s = state_at(25);
    let _ = update(&mut s, key('+'));
    let cmds = update(
        &mut s,
        press(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(cmds.contains(&Command::Quit));
    assert_eq!(writes(&cmds), 0);
}

fn any_key() -> impl Strategy<Value = Msg> {
    prop_oneof![
        prop::sample::select(vec![
            '+', ']', '-', '[', 'r', 'k', 'K', 'j', '!', 'y', 'n', '?', 't', 'x', 'Y', 'N', 'a',
            'q'
        ])
        .prop_map(key),
        Just(code(KeyCode::Enter)),
        Just(code(KeyCode::Esc)),
        Just(code(KeyCode::Tab)),
        Just(code(KeyCode::Up)),
        Just(code(KeyCode::Down)),
    ]
}

proptest! {
    /// Whatever keys are pressed, a write command only ever comes from `y` pressed while the
    /// confirm dialog was open: `Enter`, `j`, `k` and the arrows never write.
    #[test]
    fn no_write_without_confirmation(keys in prop::collection::vec(any_key(), 0..40)) {
        let mut s = state_at(25);
        for k in keys {
            let confirming = matches!(s.mode, Mode::Confirm(_));
            let is_yes = matches!(&k, Msg::Action(rollwatch::app::keymap::Action::Yes));
            let cmds = update(&mut s, k);
            if writes(&cmds) > 0 {
                prop_assert!(confirming && is_yes);
                // Let the write finish so later keys can propose again.
                s.rollouts[0].write_in_flight = false;
            }
        }
    }
}

#[test]
fn at_most_one_change_history_read_in_flight() {
    let mut s = state_at(25);
    // The first read asked for the history already; two more changes ask nothing new.
    assert!(s.rollouts[0].events_in_flight);
    for (t, p) in [(1000, 30), (2000, 40)] {
        let cmds = update(
            &mut s,
            Msg::FlagRead {
                rollout: 0,
                at_ms: T0 + t,
                result: Ok(FlagSnapshot::new(p, true)),
            },
        );
        assert!(!cmds.iter().any(|c| matches!(c, Command::ReadFlagEvents(_))));
    }
    let _ = update(
        &mut s,
        Msg::FlagEvents {
            rollout: 0,
            at_ms: T0 + 2500,
            result: Ok(vec![]),
        },
    );
    let cmds = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0 + 3000,
            result: Ok(FlagSnapshot::new(50, true)),
        },
    );
    assert!(cmds.iter().any(|c| matches!(c, Command::ReadFlagEvents(0))));
}

#[test]
fn the_header_says_error_when_every_metric_failed() {
    let mut s = state_at(25);
    metrics_at(&mut s, T0, healthy());
    let failing = Poll {
        metrics: (0..5)
            .map(|_| {
                Err(MetricsError::Query {
                    kind: "bad_data".into(),
                    message: "parse error".into(),
                })
            })
            .collect(),
        warnings: vec![],
    };
    metrics_at(&mut s, T0 + 1000, failing);
    let _ = update(&mut s, Msg::Tick(T0 + 1200));
    let screen = render(&s, 120, 40);
    let header = screen
        .lines()
        .find(|l| l.starts_with("\" flag ") && l.contains("metrics"))
        .unwrap();
    assert!(
        header.contains("ERROR: every metric failed: query error (bad_data)"),
        "{header}"
    );
}

fn shift(c: char) -> Msg {
    press(KeyEvent::new(KeyCode::Char(c), KeyModifiers::SHIFT))
}

fn rule_index(s: &State, name: &str) -> usize {
    s.rollouts[0]
        .def
        .rules
        .iter()
        .position(|r| r.name == name)
        .unwrap()
}

/// Error rate 2 % on the new path: `new-error-rate` (critical, rollback) breaches.
fn breaching() -> Poll {
    let mut p = healthy();
    p.metrics[0] = Ok(CohortValues {
        counts: None,
        bounds: None,
        legacy: Some(0.08),
        new: Some(2.0),
    });
    p
}

/// Drives the state to a FIRING `new-error-rate`, polling every second.
fn firing_state() -> (State, i64) {
    let mut s = state_at(25);
    let mut t = T0;
    while s.rollouts[0].alerts[rule_index(&s, "new-error-rate")].status != AlertStatus::Firing {
        t += 1000;
        assert!(t - T0 < 10 * 60_000, "never fired");
        let _ = update(&mut s, Msg::Tick(t));
        metrics_at(&mut s, t, breaching());
    }
    (s, t)
}

#[test]
fn habit_keys_j_k_enter_never_open_a_dialog_or_write() {
    let mut s = state_at(25);
    for k in [
        key('j'),
        key('k'),
        code(KeyCode::Enter),
        code(KeyCode::Up),
        code(KeyCode::Down),
    ] {
        assert_eq!(writes(&update(&mut s, k)), 0);
        assert!(
            !matches!(
                s.mode,
                Mode::Confirm(_) | Mode::ConfirmArm(_) | Mode::ConfirmQuit
            ),
            "a habit key opened {:?}",
            s.mode
        );
    }
    assert!(s.rollouts[0].flag.as_ref().unwrap().enabled);
}

#[test]
fn the_kill_switch_is_on_capital_k_and_enter_never_confirms_it() {
    let mut s = state_at(25);
    let _ = update(&mut s, shift('K'));
    let Mode::Confirm(p) = &s.mode else {
        panic!("K opens the kill switch dialog: {:?}", s.mode)
    };
    assert_eq!(p.request.kind, WriteKind::SetEnabled(false));
    assert!(
        p.effect
            .contains("switch the new path OFF for everyone in production"),
        "{}",
        p.effect
    );
    // Enter, j, k inside the dialog: nothing written, the dialog stays.
    for k in [code(KeyCode::Enter), key('j'), key('k')] {
        assert_eq!(writes(&update(&mut s, k)), 0);
        assert!(matches!(s.mode, Mode::Confirm(_)));
    }
    assert!(s.status.as_ref().unwrap().1.contains("press y"));
    assert_eq!(writes(&update(&mut s, key('y'))), 1);
}

#[test]
fn the_dialog_says_what_happens_to_users_and_warns_about_the_bake_time() {
    let mut s = state_at(25);
    let _ = update(&mut s, Msg::Tick(T0 + 30_000));
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0 + 30_000,
            result: Ok(FlagSnapshot::new(25, true)),
        },
    );
    metrics_at(&mut s, T0 + 30_000, healthy());
    let _ = update(&mut s, key('+'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    assert!(
        p.effect
            .contains("send 50 % of traffic to the new path in production"),
        "{}",
        p.effect
    );
    // The 25 % step bakes 300 s on fresh data; 30 s have passed, and the only poll's rate
    // window (1 m) still holds traffic from before the step.
    let bake = p
        .warnings
        .iter()
        .find(|w| w.contains("not baked"))
        .expect("bake warning");
    assert!(
        bake.contains("baked 0s of 5m00s on fresh data (the rate window still covers"),
        "{bake}"
    );
}

#[test]
fn the_dialog_names_pending_rules_and_stale_backends() {
    let mut s = state_at(25);
    // One breaching poll: new-error-rate (for 30 s) is PENDING.
    let _ = update(&mut s, Msg::Tick(T0 + 1000));
    metrics_at(&mut s, T0 + 1000, breaching());
    let _ = update(&mut s, key('r'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    let w = p
        .warnings
        .iter()
        .find(|w| w.contains("new-error-rate"))
        .expect("rule named");
    assert!(w.contains("PENDING") && w.contains("critical") && w.contains("rollback"));
    assert!(w.contains("value 2"), "{w}");
    let _ = update(&mut s, key('n'));
    // Ten seconds without metrics: stale, named with its age.
    let _ = update(&mut s, Msg::Tick(T0 + 12_000));
    let _ = update(&mut s, key('-'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("metrics data STALE 11s")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn a_firing_rule_stays_firing_when_the_backend_fails_and_keeps_blocking() {
    let (mut s, t) = firing_state();
    let j = rule_index(&s, "new-error-rate");
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: t + 1000,
            result: Err(MetricsError::Transport("connection refused".into())),
        },
    );
    let _ = update(&mut s, Msg::Tick(t + 45_000));
    let a = &s.rollouts[0].alerts[j];
    assert_eq!(a.status, AlertStatus::Firing, "{a:?}");
    assert!(a.data_lost_since_ms.is_some_and(|l| l <= t + 1000));
    assert!(a.reason.as_deref().unwrap().contains("connection refused"));
    assert_eq!(s.rollouts[0].worst().0, AlertStatus::Firing);
    // + stays blocked by it, named.
    assert_eq!(writes(&update(&mut s, key('+'))), 0);
    assert_eq!(s.mode, Mode::Normal);
    let msg = &s.status.as_ref().unwrap().1;
    assert!(
        msg.contains("new-error-rate") && msg.contains("FIRING"),
        "{msg}"
    );
    // Data back, still breaching: FIRING at once, no second `for`.
    metrics_at(&mut s, t + 46_000, breaching());
    assert_eq!(s.rollouts[0].alerts[j].status, AlertStatus::Firing);
    assert_eq!(s.rollouts[0].alerts[j].data_lost_since_ms, None);
}

#[test]
fn an_unknown_hold_rule_or_a_failing_backend_blocks_bump_and_force_warns() {
    let mut s = unpolled_at(25);
    // No metrics yet: every rule UNKNOWN.
    let _ = update(&mut s, key('+'));
    assert_eq!(s.mode, Mode::Normal);
    let msg = s.status.as_ref().unwrap().1.clone();
    assert!(
        msg.contains("UNKNOWN") && msg.contains("! to force"),
        "{msg}"
    );
    let _ = update(&mut s, key('!'));
    let Mode::Confirm(p) = &s.mode else { panic!() };
    assert!(p.warnings.iter().any(|w| w.contains("UNKNOWN")));
    let _ = update(&mut s, key('n'));
    // A failing flag backend blocks too.
    let mut s = state_at(25);
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0 + 500,
            result: Err(FlagError::Transport("connection refused".into())),
        },
    );
    let _ = update(&mut s, key('+'));
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.status.as_ref().unwrap().1.contains("flag data ERROR"));
}

#[test]
fn arming_is_confirmed_and_refused_while_the_flag_is_off() {
    let mut s = state_at(25);
    let _ = update(&mut s, key('a'));
    assert_eq!(s.mode, Mode::ConfirmArm(0));
    assert!(!s.rollouts[0].armed, "not armed before y");
    let _ = update(&mut s, code(KeyCode::Enter));
    assert!(!s.rollouts[0].armed, "Enter does not arm");
    let _ = update(&mut s, key('y'));
    assert!(s.rollouts[0].armed);
    // Disarming needs no dialog.
    let _ = update(&mut s, key('a'));
    assert!(!s.rollouts[0].armed);
    // Off: refused with the reason.
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0 + 500,
            result: Ok(FlagSnapshot::new(25, false)),
        },
    );
    let _ = update(&mut s, key('a'));
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.status.as_ref().unwrap().1.contains("flag is off"));
}

#[test]
fn quitting_while_armed_asks_first() {
    let mut s = state_at(25);
    s.rollouts[0].armed = true;
    let cmds = update(&mut s, key('q'));
    assert!(!cmds.contains(&Command::Quit));
    assert_eq!(s.mode, Mode::ConfirmQuit);
    let _ = update(&mut s, key('n'));
    assert!(!s.quit);
    let _ = update(&mut s, key('q'));
    assert!(update(&mut s, key('y')).contains(&Command::Quit));
    // Not armed: q quits at once.
    let mut s = state_at(25);
    assert!(update(&mut s, key('q')).contains(&Command::Quit));
}

#[test]
fn after_a_rollback_rules_on_the_new_path_are_idle_and_the_rollout_is_rolled_back() {
    use rollwatch::app::lifecycle::{Lifecycle, lifecycle};
    let (mut s, t) = firing_state();
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: t + 1000,
            result: Ok(FlagSnapshot::new(0, true)),
        },
    );
    // The rate window still holds the old traffic: values straddle the change.
    metrics_at(&mut s, t + 2000, breaching());
    assert!(s.rollouts[0].straddles(0));
    let _ = update(&mut s, Msg::Tick(t + 2000));
    let j = rule_index(&s, "new-error-rate");
    assert_eq!(s.rollouts[0].alerts[j].status, AlertStatus::Idle);
    assert!(
        s.rollouts[0]
            .alerts
            .iter()
            .all(|a| a.status != AlertStatus::Unknown),
        "no UNKNOWN after a rollback"
    );
    assert_eq!(
        lifecycle(&s.rollouts[0], false),
        Lifecycle::RolledBack { at_ms: t + 1000 }
    );
    // A minute later the window no longer straddles.
    metrics_at(&mut s, t + 62_000, breaching());
    assert!(!s.rollouts[0].straddles(0));
}

#[test]
fn at_100_percent_after_the_bake_the_rollout_is_complete() {
    use rollwatch::app::lifecycle::{Lifecycle, lifecycle};
    let mut s = state_at(100);
    let _ = update(&mut s, Msg::Tick(T0 + 1000));
    assert_eq!(lifecycle(&s.rollouts[0], false), Lifecycle::Complete);
    assert!(
        s.rollouts[0]
            .alerts
            .iter()
            .all(|a| a.status != AlertStatus::Unknown),
        "rules on legacy at 100 % are idle, not unknown"
    );
    let s = state_at(0);
    assert_eq!(lifecycle(&s.rollouts[0], false), Lifecycle::Shadow);
}

#[test]
fn navigation_selects_opens_and_returns_and_never_writes() {
    let mut s = state_at(25);
    assert_eq!(s.selected_metric, 0);
    for k in [key('j'), code(KeyCode::Down), key('j')] {
        assert_eq!(writes(&update(&mut s, k)), 0);
    }
    assert_eq!(s.selected_metric, 3);
    let _ = update(&mut s, key('G'));
    assert_eq!(s.selected_metric, 4, "G: the last metric");
    let _ = update(&mut s, key('g'));
    assert_eq!(s.selected_metric, 0, "g: the first");
    let _ = update(&mut s, key('k'));
    assert_eq!(s.selected_metric, 0, "clamped at the top");
    // Enter opens the selected metric; in the detail view [ ] change the range, not the plan.
    let _ = update(&mut s, key('j'));
    let _ = update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.mode, Mode::Detail(1));
    let _ = update(&mut s, key(']'));
    assert_eq!(s.range, 1);
    assert_eq!(s.mode, Mode::Detail(1), "] did not propose a step");
    let _ = update(&mut s, key('4'));
    assert_eq!(s.range, 3);
    let _ = update(&mut s, key('['));
    assert_eq!(s.range, 2);
    let _ = update(&mut s, key('j'));
    assert_eq!(s.mode, Mode::Detail(2));
    let _ = update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.mode, Mode::Normal);
    assert_eq!(s.selected_metric, 2);
    // Ctrl-L asks for a full repaint; an unknown key says where help is.
    let _ = update(
        &mut s,
        press(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL)),
    );
    assert!(s.redraw_all);
    let _ = update(&mut s, key('x'));
    assert_eq!(s.status.as_ref().unwrap().1, "unknown key — ? for help");
}

/// A fresh process (`status`) dates the step from the audited write that began it, as long as
/// the flag still shows that write's percentage; otherwise from its own first read.
#[test]
fn the_first_read_dates_the_step_from_the_audited_write() {
    use rollwatch::model::FlagSnapshot;
    let def = rollwatch::sim::demo::checkout().0;
    let mut r = rollwatch::app::state::RolloutState::new(def.clone(), "f".into(), "m".into(), 0);
    r.audited_step = Some((40_000, 25));
    r.see_flag(&FlagSnapshot::new(25, true), 100_000);
    assert_eq!(r.step_since_ms, Some(40_000));
    let mut r = rollwatch::app::state::RolloutState::new(def, "f".into(), "m".into(), 0);
    r.audited_step = Some((40_000, 25));
    r.see_flag(&FlagSnapshot::new(50, true), 100_000);
    assert_eq!(
        r.step_since_ms,
        Some(100_000),
        "changed since the audited write"
    );
}

#[test]
fn a_rule_starting_to_fire_queues_one_notification_and_can_be_turned_off() {
    let (s, _) = firing_state();
    assert_eq!(s.notifications.len(), 1, "{:?}", s.notifications);
    assert!(s.notifications[0].contains("new-error-rate") && s.notifications[0].contains("FIRING"));
    let mut quiet = state_at(25);
    quiet.notify_enabled = false;
    let mut t = T0;
    while quiet.rollouts[0].alerts[rule_index(&quiet, "new-error-rate")].status
        != AlertStatus::Firing
    {
        t += 1000;
        let _ = update(&mut quiet, Msg::Tick(t));
        metrics_at(&mut quiet, t, breaching());
    }
    assert!(quiet.notifications.is_empty());
}

/// A click on a metric row (mapped at the edge to `Action::Select`) selects it, a second click
/// on the selected row opens it; a click never writes, and does nothing under a dialog.
#[test]
fn a_click_selects_a_metric_and_a_second_click_opens_it() {
    use rollwatch::app::keymap::Action;
    let click = |k| Msg::Action(Action::Select(k));
    let mut s = state_at(25);
    assert_eq!(writes(&update(&mut s, click(2))), 0);
    assert_eq!((s.selected_metric, &s.mode), (2, &Mode::Normal));
    let _ = update(&mut s, click(2));
    assert_eq!(s.mode, Mode::Detail(2), "the second click opens it");
    let _ = update(&mut s, click(4));
    assert_eq!(
        s.mode,
        Mode::Detail(2),
        "no table to click in the detail view"
    );
    let _ = update(&mut s, code(KeyCode::Esc));
    let _ = update(&mut s, click(99));
    assert_eq!(
        (s.selected_metric, &s.mode),
        (2, &Mode::Normal),
        "no such row"
    );
    let _ = update(&mut s, key('r'));
    assert!(matches!(s.mode, Mode::Confirm(_)));
    assert_eq!(writes(&update(&mut s, click(3))), 0);
    assert!(
        matches!(s.mode, Mode::Confirm(_)),
        "a click never answers a dialog"
    );
    assert_eq!(s.selected_metric, 2);
}

/// `ui::hit` finds the metric under a screen position as the dashboard lays it out: the rows
/// of the comparison table (and, on narrow screens, the trend rows below it); nothing
/// elsewhere, under an overlay or in the detail view.
#[test]
fn the_hit_test_finds_metric_rows_where_they_are_drawn() {
    use ratatui::layout::Rect;
    use rollwatch::ui::{self, Target};
    let mut s = state_at(25);
    let n = s.current().def.metrics.len();
    for (w, h) in [(120, 40), (80, 24), (200, 60), (60, 18)] {
        let area = Rect::new(0, 0, w, h);
        let screen: Vec<String> = render(&s, w, h)
            .lines()
            .map(|l| l.trim_matches('"').to_owned())
            .collect();
        let head = screen
            .iter()
            .position(|l| l.starts_with(" Metric "))
            .unwrap();
        let mut found = vec![0; n];
        for (y, line) in screen.iter().enumerate() {
            let y16 = u16::try_from(y).unwrap();
            match ui::hit(&s, area, 3, y16) {
                Some(Target::Metric(k)) => {
                    let label = &s.current().def.metrics[k].label;
                    assert!(
                        line.starts_with(&format!(" {label} ")) && y > head,
                        "{w}x{h} row {y} is not metric {k} ({label}): {line}"
                    );
                    assert_eq!(ui::hit(&s, area, w - 1, y16), Some(Target::Metric(k)));
                    found[k] += 1;
                }
                Some(Target::Rollout(i)) => {
                    panic!("{w}x{h} row {y}: a fleet row ({i}) on a dashboard")
                }
                None => assert!(
                    y <= head
                        || !s.current().def.metrics.iter().any(|m| {
                            line.starts_with(&format!(" {} ", m.label)) && y <= head + 2 * n
                        }),
                    "{w}x{h} row {y} holds a metric but is not hit: {line}"
                ),
            }
        }
        assert!(
            found.iter().all(|c| *c >= 1),
            "{w}x{h}: every metric row: {found:?}"
        );
        assert_eq!(ui::hit(&s, area, w, u16::try_from(head + 1).unwrap()), None);
    }
    let area = Rect::new(0, 0, 120, 40);
    let row = |s: &State| (0..40).find(|&y| ui::hit(s, area, 3, y).is_some()).unwrap();
    let first = row(&s);
    let _ = update(&mut s, key('?'));
    assert_eq!(ui::hit(&s, area, 3, first), None, "under the help overlay");
    let _ = update(&mut s, key('?'));
    let _ = update(&mut s, code(KeyCode::Enter));
    assert_eq!(ui::hit(&s, area, 3, first), None, "in the detail view");
}

/// `demo --show-keys` (screencasts): the keys appear as pressed, the newest last, at most six.
#[test]
fn shown_keys_follow_the_presses() {
    let mut s = state_at(25);
    let _ = update(&mut s, key('j'));
    assert!(s.keys_shown.is_empty(), "off by default");
    s.show_keys = true;
    for k in ['j', 'j', 'r', 'n', '?', '?', 'k'] {
        let _ = update(&mut s, key(k));
    }
    let shown: Vec<&str> = s.keys_shown.iter().copied().collect();
    assert_eq!(shown, vec!["j", "r", "n/Esc", "?", "?", "k"]);
}
