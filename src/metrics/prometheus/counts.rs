//! Counts since the step began, from Prometheus: a ratio metric's `events_query` and
//! `trials_query`, a latency metric's `buckets_query` (with `slow_above` and its quantile).
//!
//! Each is PromQL grouped by the cohort label (the buckets query by the cohort label and `le`)
//! containing `$step`, which is replaced by the time since the step began in whole seconds,
//! once that is at least one poll interval (before, the count queries wait), e.g.
//! `sum by (cohort)(increase(http_requests_total{code=~"5.."}[$step]))`.
//!
//! `increase()` extrapolates to the edges of its range, so its answers are fractional: each is
//! rounded to the nearest whole request. Events are capped at the trials of their cohort, and
//! bucket counts, rounded one by one, are made non-decreasing in `le` (neighbouring buckets
//! are extrapolated separately and can disagree by a fraction). A cohort missing from the
//! trials (or buckets) answer has no counts: the metric's counts are `None`, never 0. A cohort
//! missing from the events answer has 0 events only when the events answer has a series for
//! the other cohort (proof that the query matches the counter); when it has none at all, the
//! counts are `None`, since a misspelt query would otherwise read as "no errors". Write the
//! events query with `or … * 0` to make "no errors yet" explicit.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Mapping, read_vector, result_of, sample_value};
use crate::metrics::{Counts, MetricsError, QuantileBounds};
use crate::model::Cohort;

/// The placeholder replaced by the time since the step began.
pub const STEP: &str = "$step";

/// The `$step` range: the whole seconds since the step began, as PromQL writes a duration
/// (`37s`). `None` while the step is younger than one poll interval (or 1 s): a range widened
/// to that length would reach back into the previous step's split, and a shorter one holds too
/// few scrapes for `increase()`; the count queries wait.
#[must_use]
pub fn step_range(now_ms: i64, step_start_ms: i64, refresh_ms: i64) -> Option<String> {
    let since = now_ms.saturating_sub(step_start_ms);
    (since >= refresh_ms.max(1000)).then(|| format!("{}s", since / 1000))
}

/// `query` with every `$step` replaced by `range`.
#[must_use]
pub fn substitute(query: &str, range: &str) -> String {
    query.replace(STEP, range)
}

/// An error about one of a metric's count queries: its message names the config key.
pub(super) fn about(key: &str, e: MetricsError) -> MetricsError {
    match e {
        MetricsError::Query { kind, message } => MetricsError::Query {
            kind,
            message: format!("{key}: {message}"),
        },
        MetricsError::Http { status, message } => MetricsError::Http {
            status,
            message: format!("{key}: {message}"),
        },
        MetricsError::Parse(m) => MetricsError::Parse(format!("{key}: {m}")),
        MetricsError::NoData(m) => MetricsError::NoData(format!("{key}: {m}")),
        e @ (MetricsError::Timeout(_) | MetricsError::Transport(_)) => e,
    }
}

/// A count from `increase()`: rounded to a whole number; `None` for NaN or a negative or
/// infinite value (not a count).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole(x: f64) -> Option<u64> {
    (x.is_finite() && x > -0.5).then(|| x.round().max(0.0) as u64)
}

/// Events and trials per cohort from the `data` of the events and trials queries.
///
/// # Errors
/// When an answer is malformed or not grouped by the cohort label (the message names the key).
pub fn ratio_counts(
    events: &Value,
    trials: &Value,
    m: &Mapping<'_>,
) -> Result<Option<Counts>, MetricsError> {
    let (ev, ev_present) = read_vector(events, m, 1.0).map_err(|e| about("events_query", e))?;
    let (tr, _) = read_vector(trials, m, 1.0).map_err(|e| about("trials_query", e))?;
    let matched = ev_present.contains(&true);
    let cohort = |events: Option<f64>, present: bool, trials: Option<f64>| {
        let n = whole(trials?)?;
        let k = if present {
            whole(events?)?
        } else if matched {
            0
        } else {
            return None;
        };
        Some((k.min(n), n))
    };
    let legacy = cohort(ev.legacy, ev_present[0], tr.legacy);
    let new = cohort(ev.new, ev_present[1], tr.new);
    Ok(legacy.zip(new).map(|(legacy, new)| Counts { legacy, new }))
}

/// Cumulative bucket counts `[(le, count)]` per cohort (legacy, new), ascending in `le`, from
/// a buckets answer; a cohort without series has none.
fn read_buckets(data: &Value, m: &Mapping<'_>) -> Result<[Vec<(f64, u64)>; 2], MetricsError> {
    let mut out: [Vec<(f64, u64)>; 2] = [Vec::new(), Vec::new()];
    for s in result_of(data, "vector")? {
        let metric = s.get("metric");
        let Ok((hit, _)) = m.cohort(metric) else {
            return Err(MetricsError::NoData(format!(
                "a series without the cohort label `{}`: group the query `by ({}, le)`",
                m.label, m.label
            )));
        };
        let Some(c) = hit else { continue };
        let le = metric
            .and_then(|x| x.get("le"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                MetricsError::NoData(format!(
                    "a series without the `le` label: group the query `by ({}, le)`",
                    m.label
                ))
            })?;
        let le: f64 = le
            .parse()
            .ok()
            .filter(|x: &f64| !x.is_nan())
            .ok_or_else(|| MetricsError::Parse(format!("`le` = {le:?} is not a number")))?;
        let x = sample_value(
            s.get("value")
                .and_then(Value::as_array)
                .and_then(|p| p.get(1)),
        )?;
        let Some(n) = whole(x) else { continue };
        let slot = &mut out[usize::from(c == Cohort::New)];
        #[allow(clippy::float_cmp)] // one series per `le` label: equal text parses equal
        if slot.iter().any(|(b, _)| *b == le) {
            return Err(MetricsError::Parse(format!(
                "several series for the {} cohort at le={le}: aggregate them in the query",
                c.as_str()
            )));
        }
        slot.push((le, n));
    }
    for b in &mut out {
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        // Rounded one by one, extrapolated neighbours can disagree: keep them cumulative.
        let mut run = 0;
        for x in b.iter_mut() {
            run = run.max(x.1);
            x.1 = run;
        }
    }
    Ok(out)
}

/// A boundary as Prometheus writes it (`0.25`, `+Inf`).
fn le_text(le: f64) -> String {
    if le == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{le}")
    }
}

/// From a buckets answer: `(slow, all)` per cohort for `slow_above` (when set and both cohorts
/// have buckets) and the bucket holding `quantile` per cohort (when set), scaled by `scale`.
///
/// # Errors
/// When the answer is malformed, lacks the `+Inf` bucket of a cohort, or `slow_above` is not one
/// of its `le` boundaries (the message lists those it has).
pub fn bucket_counts(
    data: &Value,
    m: &Mapping<'_>,
    slow_above: Option<f64>,
    quantile: Option<f64>,
    scale: f64,
) -> Result<(Option<Counts>, Option<QuantileBounds>), MetricsError> {
    let per = read_buckets(data, m).map_err(|e| about("buckets_query", e))?;
    let mut totals = [None, None];
    for (i, b) in per.iter().enumerate() {
        match b.last() {
            None => {}
            Some(&(le, n)) if le == f64::INFINITY => totals[i] = Some(n),
            Some(_) => {
                let who = if i == 0 { "legacy" } else { "new" };
                return Err(MetricsError::NoData(format!(
                    "buckets_query: no le=\"+Inf\" bucket for the {who} cohort, so its total is unknown"
                )));
            }
        }
    }
    let counts = match slow_above {
        None => None,
        Some(t) => {
            let mut share = [None, None];
            for (i, b) in per.iter().enumerate() {
                let Some(total) = totals[i] else { continue };
                share[i] = Some(crate::stats::slow_share(b, total, t).map_err(|e| match e {
                    crate::stats::BucketError::NotABoundary(_) => {
                        let seen: BTreeSet<String> = per
                            .iter()
                            .flatten()
                            .filter(|(le, _)| le.is_finite())
                            .map(|(le, _)| le_text(*le))
                            .collect();
                        let mut seen: Vec<(f64, String)> = seen
                            .into_iter()
                            .map(|s| (s.parse().unwrap_or(f64::INFINITY), s))
                            .collect();
                        seen.sort_by(|a, b| a.0.total_cmp(&b.0));
                        let list: Vec<String> = seen.into_iter().map(|(_, s)| s).collect();
                        MetricsError::NoData(format!(
                            "slow_above = {t} is not a bucket boundary (le) of buckets_query's histogram; boundaries seen: {}",
                            list.join(", ")
                        ))
                    }
                    e => MetricsError::Parse(format!("buckets_query: {e}")),
                })?);
            }
            share[0]
                .zip(share[1])
                .map(|(legacy, new)| Counts { legacy, new })
        }
    };
    let bounds = quantile.and_then(|q| {
        let at = |i: usize| {
            let (lo, hi) = crate::stats::quantile_bucket(q, &per[i], totals[i]?)?;
            Some((lo * scale, hi * scale))
        };
        let b = QuantileBounds {
            legacy: at(0),
            new: at(1),
        };
        (b.legacy.is_some() || b.new.is_some()).then_some(b)
    });
    Ok((counts, bounds))
}

#[cfg(test)]
mod tests;
