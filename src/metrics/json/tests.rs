//! Unit tests of the JSON source: numbers, strings, ratios, absent cohorts and fields, wrong
//! types and units, the config.

use super::*;
use crate::metrics::CohortValues;
use serde_json::json;

fn metric(l: &str, n: &str, unit: ValueUnit) -> JsonMetric {
    JsonMetric::new(l, n, unit)
}

#[test]
fn reads_numbers_strings_ratios_and_no_data() {
    let doc = json!({
        "patchMode": {"calls": 200, "failures": 5, "avgLatency": "183ms", "rss": "1.5 GiB"},
        "singleMode": {"calls": 0, "failures": 0, "avgLatency": null, "rss": 1000}
    });
    let failures = JsonMetric {
        legacy_per: Some("/singleMode/calls".into()),
        new_per: Some("/patchMode/calls".into()),
        ..metric(
            "/singleMode/failures",
            "/patchMode/failures",
            ValueUnit::Ratio,
        )
    };
    let got = read_metrics(
        &doc,
        &[
            failures,
            metric(
                "/singleMode/avgLatency",
                "/patchMode/avgLatency",
                ValueUnit::Seconds,
            ),
            metric("/singleMode/rss", "/patchMode/rss", ValueUnit::Bytes),
            metric("/singleMode/gone", "/patchMode/calls", ValueUnit::Count),
            metric("/x", "/y", ValueUnit::Count),
        ],
    );
    assert_eq!(
        got[0],
        Ok(CohortValues {
            counts: None,
            bounds: None,
            legacy: None,
            new: Some(2.5)
        }),
        "0 calls is no data"
    );
    assert_eq!(
        got[1],
        Ok(CohortValues {
            counts: None,
            bounds: None,
            legacy: None,
            new: Some(183.0)
        })
    );
    assert_eq!(
        got[2],
        Ok(CohortValues {
            counts: None,
            bounds: None,
            legacy: Some(1000.0),
            new: Some(1.5 * 1024.0 * 1024.0 * 1024.0)
        })
    );
    // A field missing from a cohort object that is there is most likely a typo: the
    // error says what the object has instead.
    assert_eq!(
        got[3],
        Err(MetricsError::NoData(
            "/singleMode/gone: no `gone` in /singleMode (it has avgLatency, calls, failures, rss)"
                .into()
        ))
    );
    assert_eq!(
        got[4],
        Err(MetricsError::NoData(
            "neither /x nor /y is in the answer; /x: no `x` in the answer (it has patchMode, singleMode)"
                .into()
        ))
    );
}

#[test]
fn a_cohort_left_out_of_the_document_is_no_data_a_missing_field_says_what_is_there() {
    // The app leaves out a mode that has served nothing yet: no data, not an error.
    let doc = json!({"patchMode": {"calls": 200, "failures": 5}});
    let failures = JsonMetric {
        legacy_per: Some("/singleMode/calls".into()),
        new_per: Some("/patchMode/calls".into()),
        ..metric(
            "/singleMode/failures",
            "/patchMode/failures",
            ValueUnit::Ratio,
        )
    };
    assert_eq!(
        read_metrics(&doc, std::slice::from_ref(&failures))[0],
        Ok(CohortValues {
            counts: None,
            bounds: None,
            legacy: None,
            new: Some(2.5)
        })
    );
    // A divisor with a typo, next to its cohort's other fields.
    let typo = JsonMetric {
        new_per: Some("/patchMode/cals".into()),
        ..failures
    };
    let got = read_metrics(&doc, &[typo]);
    assert_eq!(
        got[0].as_ref().map_err(ToString::to_string),
        Err("no data: /patchMode/cals: no `cals` in /patchMode (it has calls, failures)".into())
    );
    // Many or long keys stay on one line.
    let mut wide = serde_json::Map::new();
    for i in 0..40 {
        wide.insert(format!("{i}-{}", "k".repeat(50)), json!(1));
    }
    let doc = json!({"a": wide, "b": {"v": 1}});
    let got = read_metrics(&doc, &[metric("/a/v", "/b/v", ValueUnit::Count)]);
    let text = got[0].as_ref().unwrap_err().to_string();
    assert!(text.chars().count() <= 120 && text.contains('…'), "{text}");
}

#[test]
fn wrong_types_and_units_are_per_metric_errors() {
    let doc = json!({"a": {"v": true, "w": "12 parsecs", "l": [1]}, "b": {"v": 1}});
    let got = read_metrics(
        &doc,
        &[
            metric("/a/v", "/b/v", ValueUnit::Count),
            metric("/a/w", "/b/v", ValueUnit::Millis),
            metric("/a/l", "/b/v", ValueUnit::Count),
        ],
    );
    for (i, r) in got.iter().enumerate() {
        assert!(matches!(r, Err(MetricsError::Parse(_))), "{i}: {r:?}");
    }
}

proptest::proptest! {
    #[test]
    fn any_document_gives_one_result_per_metric(doc in "[\\[\\]{}:,\"a-z0-9./% -]{0,60}") {
        if let Ok(v) = serde_json::from_str::<Value>(&doc) {
            let ms = [
                metric("/a", "/b", ValueUnit::Millis),
                JsonMetric { legacy_per: Some("/c".into()), ..metric("", "/a/0", ValueUnit::Ratio) },
            ];
            proptest::prop_assert_eq!(read_metrics(&v, &ms).len(), 2);
        }
    }
}

#[test]
fn config_rejects_unknown_fields_and_bad_pointers() {
    let c: JsonMetricsConfig = toml::from_str("url = \"http://127.0.0.1:1/stats\"").unwrap();
    assert_eq!(c.auth_keys().resolve().unwrap(), Auth::None);
    assert!(toml::from_str::<JsonMetricsConfig>("url = \"x\"\npassword = \"p\"").is_err());
    let m: JsonMetric = toml::from_str("legacy = \"/a\"\nnew = \"/b\"\nunit = \"ms\"").unwrap();
    assert_eq!(m.unit, ValueUnit::Millis);
    let bad = metric("a/b", "/b", ValueUnit::Count);
    let e = JsonSource::new(&c, vec![bad], Auth::None, Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("JSON pointer"), "{e}");
}
