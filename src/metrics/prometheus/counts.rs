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
mod tests {
    use super::*;
    use crate::metrics::prometheus::decode;
    use crate::net::Auth as HttpAuth;

    fn answer(body: &str) -> Value {
        decode(200, body.as_bytes(), &HttpAuth::None)
            .expect("a success envelope")
            .0
    }

    fn with<T>(f: impl FnOnce(&Mapping<'_>) -> T) -> T {
        let (l, n) = (vec!["legacy".to_owned()], vec!["new".to_owned()]);
        f(&Mapping {
            label: "cohort",
            legacy: &l,
            new: &n,
        })
    }

    #[test]
    fn step_is_whole_seconds_since_the_step_and_at_least_one_poll() {
        let start = 1_764_554_400_000;
        assert_eq!(
            step_range(start + 37_900, start, 2000).as_deref(),
            Some("37s")
        );
        assert_eq!(step_range(start + 2000, start, 2000).as_deref(), Some("2s"));
        // Younger than one poll interval: a wider range would count the previous split.
        assert_eq!(step_range(start + 1999, start, 2000), None);
        assert_eq!(step_range(start + 900, start, 250), None, "at least 1 s");
        assert_eq!(step_range(start - 5000, start, 2000), None, "clock skew");
        let q = r#"sum by (cohort)(increase(http_requests_total{code=~"5.."}[$step]))"#;
        assert_eq!(
            substitute(q, "37s"),
            r#"sum by (cohort)(increase(http_requests_total{code=~"5.."}[37s]))"#
        );
    }

    #[test]
    fn ratio_counts_are_rounded_increases_per_cohort() {
        // increase() extrapolates: fractional answers, rounded to whole requests.
        let events = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1764554437.9,"12.4999"]},{"metric":{"cohort":"new"},"value":[1764554437.9,"3.5"]}]}}"#,
        );
        let trials = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"new"},"value":[1764554437.9,"201.49"]},{"metric":{"cohort":"legacy"},"value":[1764554437.9,"3998.6"]},{"metric":{"cohort":"canary"},"value":[1764554437.9,"50"]}]}}"#,
        );
        let c = with(|m| ratio_counts(&events, &trials, m)).unwrap();
        assert_eq!(
            c,
            Some(Counts {
                legacy: (12, 3999),
                new: (4, 201)
            })
        );
    }

    #[test]
    fn a_cohort_missing_from_the_trials_answer_has_no_counts_never_zero() {
        let events = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1,"5"]}]}}"#,
        );
        // At 0 % the new cohort's series do not exist yet.
        let trials = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1,"1000"]}]}}"#,
        );
        assert_eq!(with(|m| ratio_counts(&events, &trials, m)).unwrap(), None);
        // NaN trials are no data too.
        let nan = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1,"1000"]},{"metric":{"cohort":"new"},"value":[1,"NaN"]}]}}"#,
        );
        assert_eq!(with(|m| ratio_counts(&events, &nan, m)).unwrap(), None);
    }

    #[test]
    fn missing_events_are_zero_only_when_the_events_query_matched_something() {
        let trials = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1,"1000"]},{"metric":{"cohort":"new"},"value":[1,"50"]}]}}"#,
        );
        // The new cohort never failed: its 5xx series does not exist.
        let events = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1,"5"]}]}}"#,
        );
        assert_eq!(
            with(|m| ratio_counts(&events, &trials, m)).unwrap(),
            Some(Counts {
                legacy: (5, 1000),
                new: (0, 50)
            })
        );
        // Nothing at all: as likely a misspelt query as a spotless service.
        let empty = answer(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        assert_eq!(with(|m| ratio_counts(&empty, &trials, m)).unwrap(), None);
        // Extrapolated events above the trials are capped at them.
        let over = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1,"5"]},{"metric":{"cohort":"new"},"value":[1,"50.7"]}]}}"#,
        );
        assert_eq!(
            with(|m| ratio_counts(&over, &trials, m)).unwrap(),
            Some(Counts {
                legacy: (5, 1000),
                new: (50, 50)
            })
        );
    }

    #[test]
    fn an_ungrouped_count_query_names_its_key() {
        let ungrouped = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"5"]}]}}"#,
        );
        let trials = answer(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        let e = with(|m| ratio_counts(&ungrouped, &trials, m)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no data: events_query: no series carries the cohort label"),
            "{e}"
        );
    }

    /// A buckets answer: legacy 1000 requests (600 ≤ 0.1 s, 900 ≤ 0.25 s, 960 ≤ 0.5 s,
    /// 990 ≤ 1 s), new 200 (100, 150, 170, 190), as `increase()` extrapolates them.
    const BUCKETS: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"cohort":"legacy","le":"0.1"},"value":[1,"600.2"]},
        {"metric":{"cohort":"legacy","le":"0.25"},"value":[1,"899.6"]},
        {"metric":{"cohort":"legacy","le":"0.5"},"value":[1,"960.4"]},
        {"metric":{"cohort":"legacy","le":"1"},"value":[1,"990"]},
        {"metric":{"cohort":"legacy","le":"+Inf"},"value":[1,"1000.3"]},
        {"metric":{"cohort":"new","le":"+Inf"},"value":[1,"200.1"]},
        {"metric":{"cohort":"new","le":"1"},"value":[1,"190"]},
        {"metric":{"cohort":"new","le":"0.5"},"value":[1,"170.4"]},
        {"metric":{"cohort":"new","le":"0.25"},"value":[1,"150"]},
        {"metric":{"cohort":"new","le":"0.1"},"value":[1,"100"]}]}}"#;

    #[test]
    fn buckets_give_slow_counts_and_the_quantile_bucket_in_display_units() {
        let d = answer(BUCKETS);
        let (counts, bounds) =
            with(|m| bucket_counts(&d, m, Some(0.25), Some(0.95), 1000.0)).unwrap();
        assert_eq!(
            counts,
            Some(Counts {
                legacy: (100, 1000),
                new: (50, 200)
            })
        );
        // Legacy rank 950 of 1000 is in (0.25, 0.5]; new rank 190 of 200 in (0.5, 1].
        assert_eq!(
            bounds,
            Some(QuantileBounds {
                legacy: Some((250.0, 500.0)),
                new: Some((500.0, 1000.0))
            })
        );
        // Without slow_above: the bounds only.
        let (counts, bounds) = with(|m| bucket_counts(&d, m, None, Some(0.5), 1000.0)).unwrap();
        assert_eq!(counts, None);
        assert_eq!(bounds.and_then(|b| b.new), Some((0.0, 100.0)));
    }

    #[test]
    fn slow_above_that_is_not_a_boundary_names_the_boundaries() {
        let d = answer(BUCKETS);
        let e = with(|m| bucket_counts(&d, m, Some(0.3), Some(0.95), 1000.0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no data: slow_above = 0.3 is not a bucket boundary (le) of buckets_query's histogram; boundaries seen: 0.1, 0.25, 0.5, 1"
        );
    }

    #[test]
    fn buckets_of_a_missing_cohort_mean_no_counts_and_no_bounds_for_it() {
        let d = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"cohort":"legacy","le":"0.25"},"value":[1,"8"]},
            {"metric":{"cohort":"legacy","le":"+Inf"},"value":[1,"10"]}]}}"#,
        );
        let (counts, bounds) =
            with(|m| bucket_counts(&d, m, Some(0.25), Some(0.95), 1000.0)).unwrap();
        assert_eq!(counts, None);
        assert_eq!(
            bounds,
            Some(QuantileBounds {
                legacy: Some((250.0, f64::INFINITY)),
                new: None
            })
        );
        // Rounded neighbours that disagree are made cumulative, not refused.
        let d = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"cohort":"legacy","le":"0.25"},"value":[1,"10.4"]},
            {"metric":{"cohort":"legacy","le":"0.5"},"value":[1,"9.6"]},
            {"metric":{"cohort":"legacy","le":"+Inf"},"value":[1,"10.2"]},
            {"metric":{"cohort":"new","le":"0.25"},"value":[1,"0"]},
            {"metric":{"cohort":"new","le":"0.5"},"value":[1,"0"]},
            {"metric":{"cohort":"new","le":"+Inf"},"value":[1,"0"]}]}}"#,
        );
        let (counts, _) = with(|m| bucket_counts(&d, m, Some(0.25), None, 1.0)).unwrap();
        assert_eq!(
            counts,
            Some(Counts {
                legacy: (0, 10),
                new: (0, 0)
            })
        );
    }

    #[test]
    fn a_histogram_without_inf_or_le_is_refused_by_name() {
        let no_inf = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"new","le":"0.5"},"value":[1,"3"]}]}}"#,
        );
        let e = with(|m| bucket_counts(&no_inf, m, Some(0.5), None, 1.0)).unwrap_err();
        assert!(
            e.to_string()
                .contains("no le=\"+Inf\" bucket for the new cohort"),
            "{e}"
        );
        let no_le = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"new"},"value":[1,"3"]}]}}"#,
        );
        let e = with(|m| bucket_counts(&no_le, m, Some(0.5), None, 1.0)).unwrap_err();
        assert!(e.to_string().contains("by (cohort, le)"), "{e}");
    }
}
