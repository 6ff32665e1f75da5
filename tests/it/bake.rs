//! A step is baked only by evidence (issue 15): polls slower than the bake, answers that
//! arrive late, and rate windows that still hold the previous step's traffic do not count
//! towards the bake, so automation never steps on before the rules had fresh data to fire on.
//! Driven through `update` with the polls asked by ticks and answered later, as the effects
//! do; the guard and the TUI run this same automation.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use rollwatch::app::{Command, Msg, RolloutState, State, update};
use rollwatch::flags::write::WriteKind;
use rollwatch::metrics::{CohortValues, Poll};
use rollwatch::model::FlagSnapshot;
use rollwatch::sim::demo;

const T0: i64 = 1_700_000_000_000;

fn key(c: char) -> Msg {
    let k = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    Msg::Action(rollwatch::app::keymap::action(&k).expect("a bound key"))
}

fn poll(error_new: f64) -> Poll {
    let v = |l: f64, n: f64| {
        Ok(CohortValues {
            legacy: Some(l),
            new: Some(n),
            counts: None,
            bounds: None,
        })
    };
    Poll {
        metrics: vec![
            v(0.08, error_new),
            v(380.0, 240.0),
            v(2e8, 1.9e8),
            v(200.0, 9.0),
            v(1200.0, 840.0),
        ],
        warnings: vec![],
    }
}

/// The demo's checkout rollout (25 % step baking 5 min, 1 m rate windows, error rule `for 30s`
/// with auto-rollback), armed, polled every `refresh_ms`, the flag at 25 % from `T0`.
fn armed(refresh_ms: i64) -> State {
    let (mut def, _) = demo::checkout();
    def.automation.auto_rollback = true;
    let r = RolloutState::new(def, "memory".into(), "sim".into(), T0);
    let mut s = State::new(vec![r], refresh_ms, T0);
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0,
            result: Ok(FlagSnapshot::new(25, true)),
        },
    );
    // No backfill in these runs: live polling from the start.
    s.rollouts[0].backfilled = true;
    let _ = update(&mut s, key('a'));
    let _ = update(&mut s, key('y'));
    assert!(s.rollouts[0].armed);
    s
}

/// Runs the loop second by second up to `until_s`: every tick may start a poll (as `update`
/// decides), whose answer arrives `lag_ms` later with the error rate `error_at(t)` of the time
/// it was asked. Returns the writes, with the second they were issued.
fn drive(
    s: &mut State,
    until_s: i64,
    lag_ms: i64,
    error_at: impl Fn(i64) -> f64,
) -> Vec<(i64, WriteKind)> {
    let mut writes = Vec::new();
    let mut pending: Vec<(i64, f64)> = Vec::new(); // (answer time, error rate)
    for t in 0..=until_s {
        let now = T0 + t * 1000;
        let due: Vec<_> = pending
            .iter()
            .copied()
            .filter(|(at, _)| *at <= now)
            .collect();
        pending.retain(|(at, _)| *at > now);
        for (at, err) in due {
            let _ = update(
                s,
                Msg::MetricsPolled {
                    rollout: 0,
                    at_ms: at,
                    result: Ok(poll(err)),
                },
            );
        }
        for c in update(s, Msg::Tick(now)) {
            match c {
                Command::PollMetrics(..) => pending.push((now + lag_ms, error_at(t))),
                Command::ReadFlag(_) => {
                    let pct = s.rollouts[0].flag.as_ref().unwrap().percent;
                    let _ = update(
                        s,
                        Msg::FlagRead {
                            rollout: 0,
                            at_ms: now,
                            result: Ok(FlagSnapshot::new(pct, true)),
                        },
                    );
                }
                Command::Write { request, .. } => writes.push((t, request.kind)),
                _ => {}
            }
        }
    }
    writes
}

#[test]
fn polls_slower_than_the_bake_do_not_bake_it_and_the_regression_rolls_back_first() {
    // One poll per 200 s (a 5 min bake would pass on the clock between two polls); the new
    // path regresses from t = 500 s.
    let mut s = armed(200_000);
    let w = drive(&mut s, 2_000, 100, |t| if t >= 500 { 0.9 } else { 0.06 });
    assert_eq!(
        w.first().map(|(_, k)| *k),
        Some(WriteKind::Rollback(0)),
        "the first write is the rollback, never a step forward on a clock-only bake: {w:?}"
    );
    assert!(
        !w.iter().any(|(_, k)| matches!(k, WriteKind::SetPercent(_))),
        "{w:?}"
    );
}

#[test]
fn sparse_healthy_polls_advance_only_once_their_windows_cover_the_bake() {
    // Healthy, one poll per 200 s with 1 m windows: each poll vouches for one minute, so the
    // 5 minute bake needs five polls after the step began (t = 200 … 1000 s).
    let mut s = armed(200_000);
    let w = drive(&mut s, 1_100, 100, |_| 0.06);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].1, WriteKind::SetPercent(50));
    assert!(
        (1_000..=1_010).contains(&w[0].0),
        "advanced at {} s, not when the clock alone passed 300 s",
        w[0].0
    );
}

#[test]
fn answers_that_arrive_too_late_never_bake_a_step() {
    // Polls every 2 s, but every answer takes 5 s (the staleness limit is 4 s): the values
    // are already old when they arrive; the step never bakes and the verdict says why.
    let mut s = armed(2_000);
    let w = drive(&mut s, 900, 5_000, |_| 0.06);
    assert!(w.is_empty(), "no step on late data: {w:?}");
    let r = &s.rollouts[0];
    assert_eq!(r.bake.observations, 0);
    let held = r.held_by.clone().unwrap();
    assert!(held.starts_with("baked 0s of 5m"), "{held}");
    let why = r.bake.rejected.clone().unwrap();
    assert!(why.contains("took 5s, too late to count"), "{why}");
}

#[test]
fn a_prompt_backend_bakes_on_time_and_the_window_after_a_step_starts_afresh() {
    let mut s = armed(2_000);
    let w = drive(&mut s, 310, 200, |_| 0.06);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].1, WriteKind::SetPercent(50));
    assert!((298..=304).contains(&w[0].0), "at {} s", w[0].0);
    // The flag moves to 50 %: the evidence starts again, and the first minute (the rate
    // window still holding 25 % traffic) does not count.
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0 + 311_000,
            result: Ok(FlagSnapshot::new(50, true)),
        },
    );
    assert_eq!(s.rollouts[0].bake.observations, 0);
    let _ = update(&mut s, Msg::Tick(T0 + 340_000));
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: T0 + 340_100,
            result: Ok(poll(0.06)),
        },
    );
    let r = &s.rollouts[0];
    assert_eq!(
        r.bake.observations, 0,
        "a window reaching into the 25 % step"
    );
    assert!(
        r.bake
            .rejected
            .as_deref()
            .unwrap()
            .contains("previous step")
    );
}

#[test]
fn history_the_source_kept_since_the_step_began_counts_after_a_restart() {
    // A session starting 10 min into the step (dated by the audit log) backfills the last
    // 6 minutes at 2 s resolution: that history is evidence, so the step is not baked again
    // from zero. History from before the step's window does not count.
    let (def, _) = demo::checkout();
    let mut r = RolloutState::new(def, "memory".into(), "sim".into(), T0);
    r.audited_step = Some((T0 - 600_000, 25));
    let mut s = State::new(vec![r], 2_000, T0);
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0,
            result: Ok(FlagSnapshot::new(25, true)),
        },
    );
    assert_eq!(s.rollouts[0].step_since_ms, Some(T0 - 600_000));
    let point = |t: i64| {
        (
            t,
            CohortValues {
                legacy: Some(0.08),
                new: Some(0.06),
                counts: None,
                bounds: None,
            },
        )
    };
    let history: Vec<(i64, CohortValues)> =
        (0..180).map(|n| point(T0 - 360_000 + n * 2_000)).collect();
    let _ = update(
        &mut s,
        Msg::Backfilled {
            rollout: 0,
            result: Ok(vec![history; 5]),
        },
    );
    let r = &s.rollouts[0];
    assert!(r.bake.covered_ms >= 300_000, "{:?}", r.bake);
    assert_eq!(rollwatch::app::propose::bake_left_ms(r), None);
}

#[test]
fn at_80_columns_the_verdict_keeps_who_steers_whole_and_drops_details_first() {
    // A guard holds the lease and the step is baking with its request count: at 80 columns
    // the verdict line keeps `GUARDED by … since …` whole.
    let mut s = armed(2_000);
    drive(&mut s, 120, 100, |_| 0.06);
    let mut snap = s.rollouts[0].flag.clone().unwrap();
    snap.lease = Some(Box::new(rollwatch::model::Lease {
        holder: "guard@bastion-eu-1".into(),
        token: "other".into(),
        since_ms: T0 - 60_000,
        expires_ms: T0 + 6_000_000,
    }));
    s.rollouts[0].flag = Some(snap);
    let screen = crate::support::state::render(&s, 80, 24);
    let line = screen.lines().next().unwrap().trim_matches('"');
    assert!(line.starts_with(" BAKING"), "{line}");
    assert!(
        line.trim_end()
            .ends_with("GUARDED by guard@bastion-eu-1 since 22:12"),
        "{line}"
    );
    // With nothing left to drop, the text is cut, never the tag.
    s.rollouts[0].alerts[0].status = rollwatch::alerts::AlertStatus::Unknown;
    s.rollouts[0].alerts[0].reason = Some("no series for the new cohort".into());
    let screen = crate::support::state::render(&s, 80, 24);
    let line = screen.lines().next().unwrap().trim_matches('"');
    assert!(line.starts_with(" UNKNOWN"), "{line}");
    assert!(
        line.trim_end()
            .ends_with("GUARDED by guard@bastion-eu-1 since 22:12"),
        "{line}"
    );
}

/// The error-rate poll with counts since the step began: `new_share` of `total` requests on the
/// new path.
fn poll_with_counts(total: u64, new_share: f64) -> Poll {
    let mut p = poll(0.06);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let new = (total as f64 * new_share) as u64;
    if let Ok(v) = &mut p.metrics[0] {
        v.counts = Some(rollwatch::model::Counts {
            legacy: ((total - new) / 1000, total - new),
            new: (new / 1000, new),
        });
    }
    p
}

#[test]
fn a_poll_asked_before_a_step_does_not_judge_the_new_split_with_the_old_counts() {
    use rollwatch::alerts::AlertStatus;
    let mut s = armed(2_000);
    drive(&mut s, 30, 100, |_| 0.06);
    let split = s.rollouts[0]
        .def
        .rules
        .iter()
        .position(|r| r.name == rollwatch::app::verdicts::SPLIT_RULE)
        .unwrap();
    // A poll is asked at 25 %; the flag moves to 50 % while it is under way; its counts (a
    // quarter of the requests on the new path) are the 25 % step's.
    // (The last tick's poll answers first.)
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: T0 + 30_100,
            result: Ok(poll(0.06)),
        },
    );
    let t = T0 + 40_000;
    let cmds = update(&mut s, Msg::Tick(t));
    assert!(cmds.iter().any(|c| matches!(c, Command::PollMetrics(..))));
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: t + 100,
            result: Ok(FlagSnapshot::new(50, true)),
        },
    );
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: t + 300,
            result: Ok(poll_with_counts(400_000, 0.25)),
        },
    );
    let _ = update(&mut s, Msg::Tick(t + 400));
    assert_ne!(
        s.rollouts[0].alerts[split].status,
        AlertStatus::Firing,
        "{:?}",
        s.rollouts[0].alerts[split]
    );
    // The same counts from a poll asked at 50 % are a real mismatch, and fire.
    let t = t + 2_500;
    let _ = update(&mut s, Msg::Tick(t));
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: t + 100,
            result: Ok(poll_with_counts(400_000, 0.25)),
        },
    );
    let _ = update(&mut s, Msg::Tick(t + 200));
    assert_eq!(s.rollouts[0].alerts[split].status, AlertStatus::Firing);
}
