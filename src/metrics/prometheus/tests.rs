//! Unit tests of the Prometheus source: answers by cohort, no data, the numerator trap,
//! malformed answers, matrices, steps and the config.

use super::*;
use serde_json::json;

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn with<T>(f: impl FnOnce(&Mapping<'_>) -> T) -> T {
    let (l, n) = (strs(&["v1", "v1.1"]), strs(&["v2"]));
    f(&Mapping {
        label: "version",
        legacy: &l,
        new: &n,
    })
}

fn vector(result: &Value) -> Value {
    json!({"resultType": "vector", "result": result})
}

#[test]
fn vector_maps_label_values_to_cohorts_and_scales() {
    let d = vector(&json!([
        {"metric": {"version": "v2"}, "value": [1.7e9, "0.025"]},
        {"metric": {"version": "v1.1"}, "value": [1.7e9, "1e-07"]},
        {"metric": {"version": "canary"}, "value": [1.7e9, "9"]},
    ]));
    let v = with(|m| parse_vector(&d, m, 100.0)).unwrap();
    assert_eq!(v.new, Some(2.5));
    assert!((v.legacy.unwrap() - 1e-5).abs() < 1e-15);
}

#[test]
fn empty_nan_and_missing_cohort_are_no_data_not_zero() {
    let v = with(|m| parse_vector(&vector(&json!([])), m, 1.0)).unwrap();
    assert_eq!(v, CohortValues::default());
    let d = vector(&json!([{"metric": {"version": "v1"}, "value": [1, "NaN"]}]));
    let v = with(|m| parse_vector(&d, m, 1.0)).unwrap();
    assert_eq!(
        v,
        CohortValues {
            counts: None,
            bounds: None,
            legacy: None,
            new: None
        }
    );
}

#[test]
fn infinities_are_values() {
    let d = vector(&json!([
        {"metric": {"version": "v1"}, "value": [1, "+Inf"]},
        {"metric": {"version": "v2"}, "value": [1, "-Inf"]},
    ]));
    let v = with(|m| parse_vector(&d, m, 1000.0)).unwrap();
    assert_eq!(v.legacy, Some(f64::INFINITY));
    assert_eq!(v.new, Some(f64::NEG_INFINITY));
}

#[test]
fn an_ungrouped_query_is_an_error() {
    let d = vector(&json!([{"metric": {}, "value": [1, "3"]}]));
    let e = with(|m| parse_vector(&d, m, 1.0)).unwrap_err();
    assert!(e.to_string().contains("by (version)"), "{e}");
    // Other cohort values (a canary) next to ours are fine.
    let d = vector(&json!([
        {"metric": {"version": "v3"}, "value": [1, "3"]},
        {"metric": {"version": "v1"}, "value": [1, "1"]},
        {"metric": {"version": "v2"}, "value": [1, "2"]},
    ]));
    let v = with(|m| parse_vector(&d, m, 1.0)).unwrap();
    assert_eq!((v.legacy, v.new), (Some(1.0), Some(2.0)));
}

/// The `data` of an exact API answer, through the same envelope check as a poll.
fn answer(body: &str) -> Value {
    decode(200, body.as_bytes(), &Auth::None).unwrap().0
}

fn mapped<T>(legacy: &[&str], new: &[&str], f: impl FnOnce(&Mapping<'_>) -> T) -> T {
    let (l, n) = (strs(legacy), strs(new));
    f(&Mapping {
        label: "version",
        legacy: &l,
        new: &n,
    })
}

#[test]
fn a_cohort_value_the_answer_lacks_says_what_the_answer_had() {
    let d = answer(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400.123,"0.0125"]},{"metric":{"version":"v2"},"value":[1764554400.123,"0.0173"]}]}}"#,
    );
    let e = mapped(&["v1"], &["v3"], |m| parse_vector(&d, m, 100.0)).unwrap_err();
    assert_eq!(
        e,
        MetricsError::NoData("the answer had version=v1,v2; new expects v3".into())
    );
    assert_eq!(
        e.to_string(),
        "no data: the answer had version=v1,v2; new expects v3"
    );
    // Both cohorts named wrongly: both are listed; long lists and values are cut short.
    let many: Vec<Value> = (0..9)
        .map(|i| json!({"metric": {"version": format!("build-{i}-{}", "x".repeat(40))}, "value": [1, "1"]}))
        .collect();
    let d = vector(&Value::Array(many));
    let e = mapped(&["a", "b"], &["c"], |m| parse_vector(&d, m, 1.0)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.ends_with("legacy expects a|b, new expects c"),
        "{text}"
    );
    assert!(
        text.chars().count() <= 120 && !text.contains('\n'),
        "{text}"
    );
    // The range query says the same.
    let d = answer(
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"version":"v1"},"values":[[1764554400,"1"]]},{"metric":{"version":"v2"},"values":[[1764554400,"2"]]}]}}"#,
    );
    let e = mapped(&["v1"], &["v3"], |m| parse_matrix(&d, m, 1.0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no data: the answer had version=v1,v2; new expects v3"
    );
    // At 0 % the new cohort has never served a request: its series do not exist yet.
    let d = answer(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400,"0.01"]}]}}"#,
    );
    let v = mapped(&["v1"], &["v2"], |m| parse_vector(&d, m, 1.0)).unwrap();
    assert_eq!((v.legacy, v.new), (Some(0.01), None));
}

#[test]
fn no_series_with_the_cohort_label_lists_the_labels_seen() {
    let d = answer(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"sim","instance":"127.0.0.1:9464"},"value":[1764554400,"0.5"]},{"metric":{"job":"sim","instance":"127.0.0.1:9465"},"value":[1764554400,"0.7"]}]}}"#,
    );
    let e = mapped(&["v1"], &["v2"], |m| parse_vector(&d, m, 1.0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no data: no series carries the cohort label `version`; labels seen: instance, job; group the query `by (version)`"
    );
    // `sum(...)` without `by`: one series with no labels at all.
    let d = answer(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764554400,"0.5"]}]}}"#,
    );
    let e = mapped(&["v1"], &["v2"], |m| parse_vector(&d, m, 1.0)).unwrap_err();
    assert!(e.to_string().contains("labels seen: none"), "{e}");
}

#[test]
fn the_denominator_of_a_plain_ratio() {
    let q = r#"sum by (cohort)(rate(http_requests_total{code=~"5.."}[1m])) / sum by (cohort)(rate(http_requests_total[1m]))"#;
    assert_eq!(
        ratio_denominator(q),
        Some("sum by (cohort)(rate(http_requests_total[1m]))")
    );
    // A `/` inside a string, brackets or a comment does not count.
    assert_eq!(
        ratio_denominator(r#"sum by (c)(x{path="/a/b"}) / sum by (c)(y) # per req/s"#),
        Some("sum by (c)(y) # per req/s")
    );
    for q in [
        "sum by (cohort)(rate(x[1m]))",
        "(a / b)",
        "a / b / c",
        "a / on(cohort) b",
        "a / ignoring(code) b",
        "a / bool b",
        "a /",
        r#"histogram_quantile(0.95, sum by (le, cohort)(rate(h_bucket{p="/x"}[1m])))"#,
    ] {
        assert_eq!(ratio_denominator(q), None, "{q}");
    }
}

#[test]
fn a_ratio_missing_a_cohort_that_has_traffic_names_the_numerator_trap() {
    // The error ratio's answer: only legacy had a 5xx, so only legacy is in it.
    let ratio = answer(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400,"0.01"]}]}}"#,
    );
    let (_, present) = mapped(&["v1"], &["v2"], |m| read_vector(&ratio, m, 1.0)).unwrap();
    assert_eq!(present, [true, false]);
    // Its denominator: both cohorts have requests.
    let den = answer(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400,"99.5"]},{"metric":{"version":"v2"},"value":[1764554400,"100"]}]}}"#,
    );
    let (traffic, _) = mapped(&["v1"], &["v2"], |m| read_vector(&den, m, 1.0)).unwrap();
    assert_eq!(
        numerator_gap(present, &traffic)
            .map(|e| e.to_string())
            .as_deref(),
        Some(
            "no data: the new cohort is absent from the ratio (no numerator series, e.g. no 5xx): `or … * 0` fixes it"
        )
    );
    // No traffic for new (its rate is 0, or it has no series): no data, no blame.
    for den in [
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1,"99"]},{"metric":{"version":"v2"},"value":[1,"0"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1,"99"]}]}}"#,
    ] {
        let (traffic, _) = mapped(&["v1"], &["v2"], |m| read_vector(&answer(den), m, 1.0)).unwrap();
        assert_eq!(numerator_gap(present, &traffic), None, "{den}");
    }
    // No errors anywhere: the ratio's answer is empty though both cohorts have traffic.
    let (traffic, _) = mapped(&["v1"], &["v2"], |m| read_vector(&den, m, 1.0)).unwrap();
    let e = numerator_gap([false, false], &traffic).unwrap();
    assert!(e.to_string().contains("both cohorts are absent"), "{e}");
}

#[test]
fn two_series_for_one_cohort_is_an_error() {
    let d = vector(&json!([
        {"metric": {"version": "v1"}, "value": [1, "3"]},
        {"metric": {"version": "v1.1"}, "value": [1, "4"]},
    ]));
    let e = with(|m| parse_vector(&d, m, 1.0)).unwrap_err();
    assert!(e.to_string().contains("aggregate"), "{e}");
}

#[test]
fn malformed_results_are_errors_not_panics() {
    for d in [
        json!({"resultType": "scalar", "result": [1, "3"]}),
        json!({"resultType": "vector", "result": {}}),
        json!({"resultType": "vector", "result": [{"metric": {"version": "v1"}}]}),
        json!({"resultType": "vector", "result": [{"metric": {"version": "v1"}, "value": [1, "x"]}]}),
        json!({"resultType": "vector", "result": [{"metric": {"version": "v1"}, "value": [1, true]}]}),
        json!({}),
    ] {
        assert!(
            matches!(
                with(|m| parse_vector(&d, m, 1.0)),
                Err(MetricsError::Parse(_))
            ),
            "{d}"
        );
    }
    // Labels of the wrong type count as unlabelled, not as a crash.
    let d = vector(&json!([{"metric": {"version": 2}, "value": [1, "3"]}, 7]));
    assert!(with(|m| parse_vector(&d, m, 1.0)).is_err());
}

#[test]
fn decode_maps_errors() {
    let auth = Auth::Bearer(crate::secret::Secret::new("tok123"));
    let body = br#"{"status":"error","errorType":"bad_data","error":"parse error at tok123"}"#;
    assert_eq!(
        decode(400, body, &auth).unwrap_err(),
        MetricsError::Query {
            kind: "bad_data".into(),
            message: "parse error at ***".into()
        }
    );
    assert_eq!(
        decode(502, b"<html>Bad gateway</html>", &auth).unwrap_err(),
        MetricsError::Http {
            status: 502,
            message: "<html>Bad gateway</html>".into()
        }
    );
    assert!(matches!(
        decode(200, b"{\"status\":\"succ", &auth),
        Err(MetricsError::Parse(_))
    ));
    assert!(matches!(
        decode(200, b"[1,2]", &auth),
        Err(MetricsError::Parse(_))
    ));
    assert!(matches!(
        decode(200, br#"{"status":"success"}"#, &auth),
        Err(MetricsError::Parse(_))
    ));
    let (d, w) = decode(
        200,
        br#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w1"]}"#,
        &auth,
    )
    .unwrap();
    assert_eq!(w, vec!["w1".to_owned()]);
    assert_eq!(d["resultType"], "vector");
}

#[test]
fn matrix_merges_cohorts_by_timestamp() {
    let d = json!({"resultType": "matrix", "result": [
        {"metric": {"version": "v1"}, "values": [[10, "1"], [11.5, "2"]]},
        {"metric": {"version": "v2"}, "values": [[11.5, "NaN"], [13, "4"]]},
    ]});
    let s = with(|m| parse_matrix(&d, m, 2.0)).unwrap();
    assert_eq!(
        s,
        vec![
            (
                10_000,
                CohortValues {
                    counts: None,
                    bounds: None,
                    legacy: Some(2.0),
                    new: None
                }
            ),
            (
                11_500,
                CohortValues {
                    counts: None,
                    bounds: None,
                    legacy: Some(4.0),
                    new: None
                }
            ),
            (
                13_000,
                CohortValues {
                    counts: None,
                    bounds: None,
                    legacy: None,
                    new: Some(8.0)
                }
            ),
        ]
    );
    let bad = json!({"resultType": "matrix", "result": [{"metric": {"version": "v1"}, "values": [["x", "1"]]}]});
    assert!(with(|m| parse_matrix(&bad, m, 1.0)).is_err());
}

#[test]
fn step_is_clamped_to_the_point_cap() {
    assert_eq!(clamp_step(0, 60_000, 15_000), 15_000);
    let day = 86_400_000;
    let s = clamp_step(0, day, 1000);
    assert!(day / s < MAX_POINTS, "{s}");
    assert_eq!(clamp_step(0, 0, 0), 1);
}

proptest::proptest! {
    #[test]
    fn any_body_is_an_answer_or_an_error_never_a_panic(
        status in 100u16..600,
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
    ) {
        if let Ok((data, _)) = decode(status, &body, &Auth::None) {
            let _ = with(|m| parse_vector(&data, m, 1.0));
            let _ = with(|m| parse_matrix(&data, m, 1.0));
        }
    }

    #[test]
    fn json_shaped_garbage_never_panics(
        kind in "(vector|matrix|scalar|x)",
        label in "(v1|v2|v1\\.1|)",
        ts in "(1|1\\.5|-1|1e300|\"x\"|null|\\[\\])",
        val in "(\"1\"|\"NaN\"|\"\\+Inf\"|\"-Inf\"|\"1e-07\"|1|null|\\{\\}|\"\")",
    ) {
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"{kind}","result":[
            {{"metric":{{"version":"{label}"}},"value":[{ts},{val}],"values":[[{ts},{val}]]}}]}}}}"#
        );
        let (data, _) = decode(200, body.as_bytes(), &Auth::None).unwrap();
        let _ = with(|m| parse_vector(&data, m, 1.0));
        let _ = with(|m| parse_matrix(&data, m, 1.0));
    }
}

#[test]
fn times_are_seconds_with_millis() {
    assert_eq!(secs(1_700_000_000_123), "1700000000.123");
    assert_eq!(secs(5), "0.005");
    assert_eq!(secs(-1500), "-1.500");
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_fields() {
    let c: PrometheusConfig =
        toml::from_str("url = \"http://127.0.0.1:9090\"\nlegacy = [\"v1\"]\nnew = [\"v2\"]")
            .unwrap();
    assert_eq!(c.cohort_label, "cohort");
    assert!(!c.insecure_skip_verify);
    assert_eq!(c.auth_keys().resolve().unwrap(), Auth::None);
    assert!(
        toml::from_str::<PrometheusConfig>("url = \"x\"\nlegacy = []\nnew = []\ntoken = \"t\"")
            .is_err()
    );
    let q: PrometheusQuery = toml::from_str("query = \"up\"").unwrap();
    assert_eq!(q.scale, 1.0);
}

#[test]
fn constructor_validates() {
    let c = |url: &str, legacy: &[&str], new: &[&str]| PrometheusConfig {
        url: url.into(),
        cohort_label: "cohort".into(),
        legacy: strs(legacy),
        new: strs(new),
        token_env: None,
        token_file: None,
        user: None,
        password_env: None,
        password_file: None,
        insecure_skip_verify: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
        timeout_ms: None,
    };
    let q = || vec![PrometheusQuery::new("up", 1.0)];
    let refresh = Duration::from_secs(1);
    let ok = PrometheusSource::new(
        &c("http://127.0.0.1:9090/", &["a"], &["b"]),
        q(),
        Auth::None,
        refresh,
    )
    .unwrap();
    assert_eq!(ok.describe(), "prometheus http://127.0.0.1:9090");
    assert_eq!(ok.timeout(), refresh);
    for (cfg, queries) in [
        (c("ftp://x", &["a"], &["b"]), q()),
        (c("http://u:p@x", &["a"], &["b"]), q()),
        (c("http://x", &[], &["b"]), q()),
        (c("http://x", &["a"], &["a"]), q()),
        (
            c("http://x", &["a"], &["b"]),
            vec![PrometheusQuery::new("up", f64::NAN)],
        ),
        (
            c("http://x", &["a"], &["b"]),
            vec![PrometheusQuery::new(" ", 1.0)],
        ),
    ] {
        assert!(PrometheusSource::new(&cfg, queries, Auth::None, refresh).is_err());
    }
}
