//! Rules: what each rule observes now (idle cohorts, lost data, what was missing), one
//! evaluation step per rule with its log line, and the replay over backfilled history.

use crate::alerts::{AlertStatus, Observation, Severity, observe, step};
use crate::app::state::{LogLevel, RolloutState, State};
use crate::app::verdicts;
use crate::metrics::CohortValues;
use crate::model::Cohort;
use crate::stats::{Safety, SplitStatus};

/// Replays every rule over the backfilled history, so a restart does not reset `for` clocks:
/// a rule that has been breaching for ten minutes shows as firing for ten minutes at once.
/// Only the resulting non-OK states are logged, not every historic transition.
pub(super) fn replay_alerts(
    state: &mut State,
    i: usize,
    series: &crate::metrics::Backfill,
    times: &[i64],
) {
    let r = &mut state.rollouts[i];
    let value_at = |k: usize, t: i64| {
        series.get(k).and_then(|s| {
            s.binary_search_by_key(&t, |(at, _)| *at)
                .ok()
                .map(|p| s[p].1)
        })
    };
    for (j, rule) in r.def.rules.iter().enumerate() {
        let Some(k) = r.def.metric_index(&rule.metric) else {
            continue;
        };
        let mut st = r.alerts[j].clone();
        for &t in times {
            let obs =
                value_at(k, t).map_or(Observation::NoData, |v| observe(rule, v.legacy, v.new));
            st = step(&st, rule, &obs, t);
        }
        r.alerts[j] = st;
    }
    let notes: Vec<String> = r
        .def
        .rules
        .iter()
        .zip(&r.alerts)
        .filter(|(_, a)| a.status.is_active())
        .map(|(rule, a)| format!("rule {}: {} (from history)", rule.name, a.status.label()))
        .collect();
    for n in notes {
        state.log(i, LogLevel::Warn, n);
    }
}

/// Why a rule about rollout `r` has nothing to judge: a cohort it reads intentionally gets no
/// traffic (the new path at 0 % or switched off, legacy at 100 %).
fn idle_reason(r: &RolloutState, rule: &crate::alerts::Rule) -> Option<String> {
    let flag = r.flag.as_ref()?;
    let pct = flag.effective_percent();
    if pct == 0 && rule.reads(Cohort::New) {
        Some(if flag.enabled {
            "the new path serves no traffic (0 %)".into()
        } else {
            "the new path serves no traffic (flag off)".into()
        })
    } else if pct >= 100 && rule.reads(Cohort::Legacy) {
        Some("legacy serves no traffic (100 %)".into())
    } else {
        None
    }
}

/// The built-in traffic-split rule: the new path's share of requests (percent) against the
/// flag; it holds on a mismatch. Without counts there is nothing to check: idle.
fn split_observation(r: &RolloutState) -> Observation {
    match verdicts::split(r) {
        Some(c) => match c.observed {
            Some(share) => Observation::Value {
                lhs: share * 100.0,
                holds: c.status == SplitStatus::Mismatch,
            },
            None => Observation::Idle("no requests yet at this step".into()),
        },
        None => Observation::Idle("no request counts to check the split".into()),
    }
}

/// What was missing when a rule's values were incomplete, in words.
fn missing(rule: &crate::alerts::Rule, legacy: Option<f64>, new: Option<f64>) -> String {
    let need_legacy = rule.reads(Cohort::Legacy) || rule.rhs(None).is_none();
    match (legacy, new) {
        (_, None) if rule.reads(Cohort::New) => "no value for the new cohort".into(),
        (None, _) if need_legacy => "no value for the legacy cohort".into(),
        (Some(0.0), Some(_)) => "saving undefined: legacy is 0".into(),
        _ => "no value".into(),
    }
}

/// The observation for rule `j` of rollout `i` at the state's time. Missing data is never
/// "no data" here: rollwatch's own path reports it as unknown, with what was missing, so a
/// firing rule stays firing (the evaluator keeps PromQL's meaning of an absent series for
/// the parity tests).
fn observation(state: &State, i: usize, j: usize) -> Observation {
    let r = &state.rollouts[i];
    let rule = &r.def.rules[j];
    if let Some(why) = idle_reason(r, rule) {
        return Observation::Idle(why);
    }
    if rule.name == verdicts::SPLIT_RULE && rule.metric.is_empty() {
        return split_observation(r);
    }
    let Some(k) = r.def.metric_index(&rule.metric) else {
        return Observation::Unknown(format!("no metric `{}`", rule.metric));
    };
    let m = &r.metrics[k];
    if let Some(e) = &r.metrics_feed.error {
        return Observation::Unknown(format!("metrics source failing: {e}"));
    }
    if let Some(e) = &m.error {
        return Observation::Unknown(e.clone());
    }
    match (
        m.last_at_ms,
        m.stale_age(state.now_ms, state.stale_after_ms()),
    ) {
        (None, _) => Observation::Unknown("no data yet".into()),
        (Some(_), Some(age)) => {
            Observation::Unknown(format!("stale: last data {}s old", age / 1000))
        }
        (Some(_), None) => {
            let CohortValues { legacy, new, .. } = m.last;
            let obs = match observe(rule, legacy, new) {
                Observation::NoData => Observation::Unknown(missing(rule, legacy, new)),
                o => o,
            };
            if !rule.significant {
                return obs;
            }
            // The threshold alone is not enough: the always-valid guardrail on the step's
            // counts must also call the new path worse.
            match (obs, verdicts::metric_guardrail(r, k)) {
                (Observation::Value { lhs, holds }, Some(g)) => Observation::Value {
                    lhs,
                    holds: holds && g.safety == Safety::Worse,
                },
                (Observation::Value { .. }, None) => {
                    Observation::Unknown("no request counts for the significance test".into())
                }
                (o, _) => o,
            }
        }
    }
}

pub(super) fn evaluate(state: &mut State, i: usize) {
    let now = state.now_ms;
    for j in 0..state.rollouts[i].def.rules.len() {
        let obs = observation(state, i, j);
        let r = &mut state.rollouts[i];
        let rule = &r.def.rules[j];
        let prev = &r.alerts[j];
        let next = step(prev, rule, &obs, now);
        if let Some(tl) = r.timelines.get_mut(j) {
            tl.push(now, next.status);
        }
        let prev = &r.alerts[j];
        if next.status != prev.status {
            let level = match (next.status, rule.severity) {
                (AlertStatus::Firing, Severity::Critical) => LogLevel::Error,
                (AlertStatus::Firing | AlertStatus::Pending | AlertStatus::Unknown, _) => {
                    LogLevel::Warn
                }
                _ => LogLevel::Info,
            };
            let text = format!(
                "rule {}: {} → {}{}",
                rule.name,
                prev.status.label(),
                next.status.label(),
                next.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            // The first evaluation of a rule from "no data yet" to OK is not news.
            // Nor is a rule going idle or waking up from idle to OK.
            let quiet = matches!(
                (prev.status, next.status),
                (
                    AlertStatus::Unknown | AlertStatus::Idle,
                    AlertStatus::Inactive | AlertStatus::Idle
                )
            );
            let fired = next.status == AlertStatus::Firing;
            r.alerts[j] = next;
            if fired {
                let name = format!("{}: {text}", r.def.name);
                state.notify(name);
            }
            if !quiet {
                state.log(i, level, text);
            }
            state.dirty = true;
        } else if next != *prev {
            r.alerts[j] = next;
        }
    }
}
