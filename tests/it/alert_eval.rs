//! Table tests of the pure alert evaluator: Prometheus' pending → firing → resolved with
//! `for`, `keep_firing_for`, gaps, stale markers and NaN, including the timelines promtool
//! 2.42 produced for the cases in the design notes (backends.md).

use std::time::Duration;

use rollwatch::alerts::{
    Action, AlertStatus, Condition, Observation, Op, Rule, Severity, evaluate_series, observe,
};
use rollwatch::model::Cohort;

const MIN: i64 = 60_000;

/// One point of a promtool-style series: a value, `_` (no sample) or `stale`.
#[derive(Clone, Copy)]
enum P {
    V(f64),
    Gap,
    Stale,
}

fn parse(s: &str) -> Vec<P> {
    s.split_whitespace()
        .map(|t| match t {
            "_" => P::Gap,
            "stale" => P::Stale,
            v => P::V(v.parse().unwrap()),
        })
        .collect()
}

/// Observations at each interval for a `x > th` rule, with Prometheus' 5-minute lookback:
/// a gap repeats the last sample within the lookback, a stale marker ends the series.
fn observations(rule: &Rule, series: &[P], interval: i64) -> Vec<(i64, Observation)> {
    let mut last: Option<(i64, f64)> = None;
    series
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = i64::try_from(i).unwrap() * interval;
            match p {
                P::V(v) => last = Some((t, *v)),
                P::Stale => last = None,
                P::Gap => {}
            }
            let v = last.filter(|(at, _)| t - at <= 5 * MIN).map(|(_, v)| v);
            (t, observe(rule, None, v))
        })
        .collect()
}

fn rule(th: f64, for_min: u64, keep_min: u64) -> Rule {
    Rule {
        name: "x".into(),
        metric: "x".into(),
        cohort: Cohort::New,
        condition: Condition::Absolute {
            op: Op::Gt,
            value: th,
        },
        for_: Duration::from_secs(for_min * 60),
        keep_firing_for: Duration::from_secs(keep_min * 60),
        severity: Severity::Critical,
        action: Action::Rollback { to: 0 },
        significant: false,
    }
}

/// The timeline as letters: `.` inactive/resolved/unknown (not an alert), `P` pending, `F` firing.
fn timeline(rule: &Rule, series: &str) -> String {
    let obs = observations(rule, &parse(series), MIN);
    evaluate_series(rule, &obs)
        .iter()
        .map(|s| match s.status {
            AlertStatus::Pending => 'P',
            AlertStatus::Firing => 'F',
            _ => '.',
        })
        .collect()
}

#[test]
fn promtool_case_stale_marker_resolves_then_pending_again() {
    // promtool: pending at 1–2 m, firing at 3 m, the stale marker at 5 m resolves it,
    // back at 6 m pending again, firing at 8 m.
    let r = rule(0.05, 2, 0);
    assert_eq!(
        timeline(&r, "0 0.1 0.1 0.1 0.1 stale 0.1 0.1 0.1 0 0 0 0"),
        ".PPFF.PPF...."
    );
}

#[test]
fn promtool_case_keep_firing_for_bridges_the_stale_marker() {
    // With keep_firing_for: 3m it stays firing through the stale marker; after the value
    // drops at 9 m it keeps firing for 3 m (since the first false evaluation), then resolves.
    let r = rule(0.05, 2, 3);
    assert_eq!(
        timeline(&r, "0 0.1 0.1 0.1 0.1 stale 0.1 0.1 0.1 0 0 0 0"),
        ".PPFFFFFFFFF."
    );
}

#[test]
fn promtool_case_gaps_inside_the_lookback_keep_the_for_clock_running() {
    let r = rule(0.05, 2, 0);
    assert_eq!(timeline(&r, "0 0.1 _ _ 0.1 0.1"), ".PPFFF");
}

#[test]
fn promtool_case_one_stale_marker_resets_pending() {
    let r = rule(0.05, 2, 0);
    assert_eq!(timeline(&r, "0 0.1 stale 0.1 0.1 0.1"), ".P.PPF");
}

#[test]
fn nan_never_fires() {
    let r = rule(0.05, 0, 0);
    assert_eq!(timeline(&r, "NaN NaN NaN"), "...");
    let mut lt = rule(0.05, 0, 0);
    lt.condition = Condition::Absolute {
        op: Op::Lt,
        value: 0.05,
    };
    assert_eq!(
        timeline(&lt, "NaN NaN"),
        "..",
        "NaN compares false both ways"
    );
}

#[test]
fn zero_for_fires_at_once_and_resolves_on_recovery() {
    let r = rule(0.05, 0, 0);
    let obs = observations(&r, &parse("0 0.1 0"), MIN);
    let states = evaluate_series(&r, &obs);
    let st: Vec<_> = states.iter().map(|s| s.status).collect();
    assert_eq!(
        st,
        vec![
            AlertStatus::Inactive,
            AlertStatus::Firing,
            AlertStatus::Resolved
        ]
    );
}

#[test]
fn gaps_past_the_lookback_are_no_data_and_make_the_rule_unknown() {
    let r = rule(0.05, 2, 0);
    // Seven missing minutes: from 6 m on, the last sample is older than 5 m.
    let obs = observations(&r, &parse("0.1 0.1 0.1 _ _ _ _ _ _ _"), MIN);
    let states = evaluate_series(&r, &obs);
    assert_eq!(states[2].status, AlertStatus::Firing);
    assert_eq!(
        states[7].status,
        AlertStatus::Firing,
        "5 m old sample still counts"
    );
    assert_eq!(
        states[8].status,
        AlertStatus::Unknown,
        "no data is unknown, not resolved"
    );
    assert_eq!(states[8].reason.as_deref(), Some("no data"));
}

#[test]
fn a_firing_rule_stays_firing_through_a_backend_failure_until_data_resolves_it() {
    let r = rule(0.05, 1, 0);
    let holds = Observation::Value {
        lhs: 0.1,
        holds: true,
    };
    let states = evaluate_series(
        &r,
        &[
            (0, holds.clone()),
            (MIN, holds.clone()),
            (2 * MIN, Observation::Unknown("connection refused".into())),
            (3 * MIN, Observation::Unknown("connection refused".into())),
            (4 * MIN, holds),
            (
                5 * MIN,
                Observation::Value {
                    lhs: 0.0,
                    holds: false,
                },
            ),
        ],
    );
    assert_eq!(states[1].status, AlertStatus::Firing);
    // Lost data: still FIRING on the last known value, marked as such, since the loss.
    assert_eq!(states[2].status, AlertStatus::Firing);
    assert_eq!(states[3].status, AlertStatus::Firing);
    assert_eq!(states[3].value, Some(0.1), "last known value kept");
    assert_eq!(states[3].data_lost_since_ms, Some(2 * MIN));
    assert_eq!(states[3].reason.as_deref(), Some("connection refused"));
    assert_eq!(states[3].since_ms, states[1].since_ms, "one firing episode");
    // Data back and still breaching: firing at once, no second `for`.
    assert_eq!(states[4].status, AlertStatus::Firing);
    assert_eq!(states[4].data_lost_since_ms, None);
    // Only data resolves it.
    assert_eq!(states[5].status, AlertStatus::Resolved);
}

#[test]
fn a_pending_rule_whose_data_is_lost_is_unknown_not_ok() {
    let r = rule(0.05, 5, 0);
    let states = evaluate_series(
        &r,
        &[
            (
                0,
                Observation::Value {
                    lhs: 0.1,
                    holds: true,
                },
            ),
            (MIN, Observation::Unknown("connection refused".into())),
        ],
    );
    assert_eq!(states[0].status, AlertStatus::Pending);
    assert_eq!(states[1].status, AlertStatus::Unknown);
    assert_eq!(states[1].reason.as_deref(), Some("connection refused"));
}

#[test]
fn a_rule_on_a_cohort_without_traffic_is_idle_and_a_firing_one_goes_idle_after_rollback() {
    let r = rule(0.05, 0, 0);
    let states = evaluate_series(
        &r,
        &[
            (
                0,
                Observation::Value {
                    lhs: 0.1,
                    holds: true,
                },
            ),
            (
                MIN,
                Observation::Idle("the new path serves no traffic (0 %)".into()),
            ),
        ],
    );
    assert_eq!(states[0].status, AlertStatus::Firing);
    assert_eq!(states[1].status, AlertStatus::Idle);
    assert!(!states[1].status.is_active());
}

#[test]
fn pending_shows_time_left_until_firing() {
    let r = rule(0.05, 5, 0);
    let states = evaluate_series(
        &r,
        &[
            (
                0,
                Observation::Value {
                    lhs: 0.1,
                    holds: true,
                },
            ),
            (
                2 * MIN,
                Observation::Value {
                    lhs: 0.1,
                    holds: true,
                },
            ),
        ],
    );
    assert_eq!(states[1].pending_left_ms(&r, 2 * MIN), Some(3 * MIN));
}

#[test]
fn relative_rules_compare_new_with_legacy() {
    let mut r = rule(0.0, 0, 0);
    r.condition = Condition::RatioToLegacy {
        op: Op::Gt,
        factor: 1.5,
    };
    assert!(matches!(
        observe(&r, Some(100.0), Some(151.0)),
        Observation::Value { holds: true, .. }
    ));
    assert!(matches!(
        observe(&r, Some(100.0), Some(149.0)),
        Observation::Value { holds: false, .. }
    ));
    assert_eq!(
        observe(&r, None, Some(151.0)),
        Observation::NoData,
        "needs both cohorts"
    );

    r.condition = Condition::DeltaToLegacy {
        op: Op::Gt,
        value: 0.2,
    };
    assert!(matches!(
        observe(&r, Some(0.1), Some(0.35)),
        Observation::Value { holds: true, .. }
    ));
    assert!(matches!(
        observe(&r, Some(0.1), Some(0.25)),
        Observation::Value { holds: false, .. }
    ));

    r.condition = Condition::Saving {
        op: Op::Lt,
        value: 90.0,
    };
    // 200 → 3 queries is a 98.5 % saving: no hold.
    assert!(matches!(
        observe(&r, Some(200.0), Some(3.0)),
        Observation::Value { holds: false, .. }
    ));
    // 200 → 30 is 85 %: hold.
    assert!(matches!(
        observe(&r, Some(200.0), Some(30.0)),
        Observation::Value { holds: true, .. }
    ));
    // No legacy traffic (0): the saving is undefined: no data (unknown), neither breach nor OK.
    assert_eq!(observe(&r, Some(0.0), Some(3.0)), Observation::NoData);
}

#[test]
fn absolute_rules_can_watch_the_legacy_cohort() {
    let mut r = rule(1.0, 0, 0);
    r.cohort = Cohort::Legacy;
    assert!(matches!(
        observe(&r, Some(2.0), Some(0.0)),
        Observation::Value { holds: true, .. }
    ));
    assert!(matches!(
        observe(&r, Some(0.5), Some(9.0)),
        Observation::Value { holds: false, .. }
    ));
}
