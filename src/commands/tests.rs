//! Unit tests of the headless commands: `status` exit codes for rules that cannot be
//! evaluated or breach without history.

use super::*;
use crate::app::state::State;
use crate::app::{Msg, RolloutState, update};
use crate::metrics::{CohortValues, MetricsError, Poll};
use crate::model::FlagSnapshot;

const T0: i64 = 1_700_000_000_000;

type Values = Vec<Result<CohortValues, MetricsError>>;

fn v(legacy: f64, new: f64) -> CohortValues {
    CohortValues {
        legacy: Some(legacy),
        new: Some(new),
        counts: None,
        bounds: None,
    }
}

/// The demo checkout's metrics, healthy: error %, p95 ms, memory, queries, tokens.
fn healthy() -> Vec<CohortValues> {
    vec![
        v(0.08, 0.06),
        v(380.0, 240.0),
        v(2e8, 1.9e8),
        v(200.0, 9.0),
        v(1200.0, 840.0),
    ]
}

fn ok(values: Vec<CohortValues>) -> Values {
    values.into_iter().map(Ok).collect()
}

/// The demo checkout rollout (critical `new-error-rate` `error_rate` > 0.5 % for 30 s and
/// `memory`; warnings `p95-vs-legacy`, `query-savings`) at 25 %, as `status` drives it:
/// a backfill (`history` values every second over the last two minutes, or nothing: a
/// source that keeps no history), then one poll answering `now`.
fn status(history: Option<Vec<CohortValues>>, now: Values) -> StatusOut {
    let (def, _) = crate::sim::demo::checkout();
    let start = T0 - 120_000;
    let r = RolloutState::new(def, "memory".into(), "test".into(), start);
    let mut s = State::new(vec![r], 1000, start);
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0,
            result: Ok(FlagSnapshot::new(25, true)),
        },
    );
    let series = history.map_or_else(
        || vec![Vec::new(); 5],
        |h| {
            h.iter()
                .map(|x| (start..T0).step_by(1000).map(|t| (t, *x)).collect())
                .collect()
        },
    );
    let _ = update(
        &mut s,
        Msg::Backfilled {
            rollout: 0,
            result: Ok(series),
        },
    );
    let _ = update(&mut s, Msg::Tick(T0));
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: T0,
            result: Ok(Poll {
                metrics: now,
                warnings: Vec::new(),
            }),
        },
    );
    collect(&s)
}

fn rule<'a>(st: &'a StatusOut, name: &str) -> &'a AlertOut {
    st.rollouts[0]
        .alerts
        .iter()
        .find(|a| a.rule == name)
        .expect("rule in the status")
}

#[test]
fn a_critical_rule_that_cannot_be_evaluated_is_3_never_0() {
    // Every rule evaluated and quiet: 0.
    let st = status(Some(healthy()), ok(healthy()));
    assert!(
        st.rollouts[0]
            .alerts
            .iter()
            .filter(|a| a.rule != crate::app::verdicts::SPLIT_RULE)
            .all(|a| a.state == "OK"),
        "{st:?}"
    );
    assert_eq!(st.exit_code, exit::OK);
    // The new cohort is missing from the error-ratio answer: plain no data.
    let mut now = healthy();
    now[0].new = None;
    let st = status(Some(healthy()), ok(now));
    let r = rule(&st, "new-error-rate");
    assert_eq!(
        (r.state, r.reason.as_deref()),
        ("UNKNOWN", Some("no value for the new cohort"))
    );
    assert_eq!(st.exit_code, exit::UNREADABLE);
    // The source says what was missing: that is the rule's reason.
    let mut now = ok(healthy());
    now[0] = Err(MetricsError::NoData(
        "the answer had version=v1,v2; new expects v3".into(),
    ));
    let st = status(Some(healthy()), now);
    let r = rule(&st, "new-error-rate");
    assert_eq!(r.state, "UNKNOWN");
    assert_eq!(
        r.reason.as_deref(),
        Some("no data: the answer had version=v1,v2; new expects v3")
    );
    assert_eq!(
        st.rollouts[0].metrics[0].error.as_deref(),
        r.reason.as_deref()
    );
    assert_eq!(st.exit_code, exit::UNREADABLE);
    assert!(table(&st).contains("UNKNOWN   critical rollback  new-error-rate (no data: the answer had version=v1,v2; new expects v3)"), "{}", table(&st));
    // Unless a critical rule fires: that is 2.
    let mut bad = healthy();
    bad[0] = v(0.08, 3.0);
    let mut now = bad.clone();
    now[2].new = None; // memory: critical, unknown
    let st = status(Some(bad), ok(now));
    assert_eq!(rule(&st, "new-error-rate").state, "FIRING");
    assert_eq!(rule(&st, "memory").state, "UNKNOWN");
    assert_eq!(st.exit_code, exit::CRITICAL);
}

#[test]
fn every_query_without_the_cohort_label_is_3() {
    let err = || {
        Err(MetricsError::NoData(
            "no series carries the cohort label `version`; labels seen: instance, job".into(),
        ))
    };
    let st = status(Some(healthy()), (0..5).map(|_| err()).collect());
    assert!(
        st.rollouts[0]
            .alerts
            .iter()
            .filter(|a| a.rule != crate::app::verdicts::SPLIT_RULE)
            .all(|a| a.state == "UNKNOWN"),
        "{st:?}"
    );
    assert_eq!(st.exit_code, exit::UNREADABLE);
}

#[test]
fn a_warning_rule_that_cannot_be_evaluated_is_1() {
    let mut now = healthy();
    now[1].new = None; // p95
    let st = status(Some(healthy()), ok(now));
    assert_eq!(rule(&st, "p95-vs-legacy").state, "UNKNOWN");
    assert_eq!(rule(&st, "new-error-rate").state, "OK");
    assert_eq!(st.exit_code, exit::WARNING);
}

#[test]
fn a_breach_on_a_source_without_history_counts_as_firing() {
    let mut now = healthy();
    now[0] = v(0.08, 3.0);
    // With history, a breach that just started is pending: its `for` is running.
    let st = status(Some(healthy()), ok(now.clone()));
    assert_eq!(rule(&st, "new-error-rate").state, "PENDING");
    assert_eq!(st.exit_code, exit::OK);
    // Without history its `for` cannot be established.
    let st = status(None, ok(now));
    let r = rule(&st, "new-error-rate");
    assert_eq!(
        (r.state, r.reason.as_deref()),
        ("BREACHING", Some(FOR_NOT_OBSERVABLE))
    );
    assert_eq!(st.exit_code, exit::CRITICAL);
    assert!(
        table(&st).contains(
            "BREACHING critical rollback  new-error-rate (for not observable: the source keeps no history)"
        ),
        "{}",
        table(&st)
    );
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["rollouts"][0]["alerts"][0]["state"], "BREACHING");
    // A warning rule breaching there is a warning.
    let mut now = healthy();
    now[1] = v(380.0, 900.0);
    let st = status(None, ok(now));
    assert_eq!(rule(&st, "p95-vs-legacy").state, "BREACHING");
    assert_eq!(st.exit_code, exit::WARNING);
}
