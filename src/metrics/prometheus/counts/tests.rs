//! Unit tests of the count queries: steps, ratio counts, buckets and slow counts, missing
//! cohorts, refused histograms.

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
    let (counts, bounds) = with(|m| bucket_counts(&d, m, Some(0.25), Some(0.95), 1000.0)).unwrap();
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
    let (counts, bounds) = with(|m| bucket_counts(&d, m, Some(0.25), Some(0.95), 1000.0)).unwrap();
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
