//! Unit tests of the simulator server: exposition totals, cumulative buckets, PUT bodies and
//! `If-Match` forms.

use super::*;
use crate::sim::NB;

fn sim() -> Simulator {
    let mut s = Simulator::new(1, Scenario::Healthy, Profile::checkout(), 0, 0);
    s.advance(30_000, 25);
    s
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[test]
fn exposition_matches_the_totals() {
    let s = sim();
    let text = exposition(&s);
    for c in Cohort::BOTH {
        let t = s.totals(c);
        let l = format!("cohort=\"{}\"", c.as_str());
        #[allow(clippy::cast_precision_loss)]
        let (req, err) = (t.sum.requests as f64, t.sum.errors as f64);
        assert_eq!(
            sample(&text, &format!("http_requests_total{{{l},code=\"500\"}}")),
            err
        );
        assert_eq!(
            sample(&text, &format!("http_requests_total{{{l},code=\"200\"}}")),
            req - err
        );
        assert_eq!(
            sample(
                &text,
                &format!("http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}}")
            ),
            req
        );
        assert_eq!(
            sample(
                &text,
                &format!("http_request_duration_seconds_count{{{l}}}")
            ),
            req
        );
        assert_eq!(
            sample(&text, &format!("process_resident_memory_bytes{{{l}}}")),
            t.memory_bytes.round()
        );
    }
    assert!(text.contains("le=\"0.005\""), "buckets are in seconds");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
}

#[test]
fn buckets_are_cumulative() {
    let text = exposition(&sim());
    let counts: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("http_request_duration_seconds_bucket{cohort=\"new\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(counts.len(), NB);
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
}

#[test]
fn put_bodies_are_validated() {
    let put = |percent, enabled| put::Put {
        percent,
        enabled,
        lease: None,
    };
    assert_eq!(parse_put(br#"{"percent": 50}"#), Ok(put(Some(50), None)));
    assert_eq!(
        parse_put(br#"{"percent": 0, "enabled": false}"#),
        Ok(put(Some(0), Some(false)))
    );
    for bad in [
        &br#"{"percent": 101}"#[..],
        br#"{"percent": -1}"#,
        br#"{"percent": 2.5}"#,
        br#"{"percent": "50"}"#,
        br#"{"enabled": "yes"}"#,
        br#"{"rollout": 5}"#,
        br"{}",
        br"[50]",
        b"percent=50",
    ] {
        assert!(parse_put(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn if_match_forms() {
    let h = |v: &str| {
        let mut m = HeaderMap::new();
        m.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        m
    };
    assert_eq!(if_match_allows(&HeaderMap::new(), 3), Ok(true));
    assert_eq!(if_match_allows(&h("\"3\""), 3), Ok(true));
    assert_eq!(if_match_allows(&h("W/\"3\""), 3), Ok(true));
    assert_eq!(if_match_allows(&h("*"), 3), Ok(true));
    assert_eq!(if_match_allows(&h("\"2\", \"3\""), 3), Ok(true));
    assert_eq!(if_match_allows(&h("\"2\""), 3), Ok(false));
}
