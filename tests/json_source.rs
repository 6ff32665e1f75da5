//! The JSON metrics source against a small app-like endpoint (patch mode vs single mode):
//! values with units, no data, and the ways such an endpoint fails.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use rollwatch::metrics::http::HttpAuth;
use rollwatch::metrics::json::{JsonMetric, JsonMetricsConfig, JsonSource};
use rollwatch::metrics::units::ValueUnit;
use rollwatch::metrics::{CohortValues, MetricsError, MetricsSource};
use rollwatch::secret::Secret;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const TOKEN: &str = "json-token-42";

const STATS: &str = r#"{
  "patchMode":  {"calls": 400, "failures": 10, "avgLatency": "183ms", "tokensPerCall": 1900,
                 "rss": "1.2 GiB", "errorRate": "2.50%"},
  "singleMode": {"calls": 1000, "failures": 10, "avgLatency": "1.2s", "tokensPerCall": "3.0k",
                 "rss": "350MB", "errorRate": 0.01}
}"#;

async fn app() -> SocketAddr {
    let router = Router::new()
        .route("/stats", get(|| async { STATS }))
        .route(
            "/idle",
            get(|| async {
                r#"{"patchMode": {"calls": 0, "failures": 0, "avgLatency": null, "tokensPerCall": "NaN",
                    "rss": "1 GiB", "errorRate": null}}"#
            }),
        )
        .route("/malformed", get(|| async { r#"{"patchMode": {"calls": 4"# }))
        .route(
            "/wrong-types",
            get(|| async {
                r#"{"patchMode": {"calls": "many", "failures": [1], "avgLatency": true,
                    "tokensPerCall": {"n": 1}, "rss": "12 parsecs", "errorRate": "2.5ms"},
                    "singleMode": {}}"#
            }),
        )
        .route(
            "/boom",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "internal error: db down") }),
        )
        .route("/huge", get(|| async { "x".repeat(9 * 1024 * 1024) }))
        .route(
            "/private",
            get(|headers: HeaderMap| async move {
                let ok = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    == Some(&format!("Bearer {TOKEN}"));
                if ok {
                    (StatusCode::OK, STATS).into_response()
                } else {
                    (StatusCode::UNAUTHORIZED, "token required").into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

fn m(field: &str, unit: ValueUnit, per: Option<&str>) -> JsonMetric {
    JsonMetric {
        legacy: format!("/singleMode/{field}"),
        new: format!("/patchMode/{field}"),
        unit,
        legacy_per: per.map(|p| format!("/singleMode/{p}")),
        new_per: per.map(|p| format!("/patchMode/{p}")),
    }
}

/// Error rate from counters, latency, tokens per call, memory, error rate as printed.
fn metrics() -> Vec<JsonMetric> {
    vec![
        m("failures", ValueUnit::Ratio, Some("calls")),
        m("avgLatency", ValueUnit::Seconds, None),
        m("tokensPerCall", ValueUnit::Count, None),
        m("rss", ValueUnit::Bytes, None),
        m("errorRate", ValueUnit::Ratio, None),
    ]
}

fn source(addr: SocketAddr, path: &str, auth: HttpAuth) -> JsonSource {
    let cfg = JsonMetricsConfig {
        url: format!("http://{addr}{path}"),
        token_env: None,
        token_file: None,
        insecure_skip_verify: false,
        timeout_ms: Some(2000),
    };
    JsonSource::new(&cfg, metrics(), auth, Duration::from_secs(1)).expect("source")
}

fn close(v: &Result<CohortValues, MetricsError>, legacy: Option<f64>, new: Option<f64>) -> bool {
    let near = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        (a, b) => a == b,
    };
    matches!(v, Ok(c) if near(c.legacy, legacy) && near(c.new, new))
}

#[tokio::test]
async fn reads_a_patch_mode_single_mode_document_into_display_units() {
    let addr = app().await;
    let p = source(addr, "/stats", HttpAuth::None)
        .poll()
        .await
        .expect("poll");
    let v = &p.metrics;
    assert!(
        close(&v[0], Some(1.0), Some(2.5)),
        "failures per call in %: {:?}",
        v[0]
    );
    assert!(
        close(&v[1], Some(1200.0), Some(183.0)),
        "latency in ms: {:?}",
        v[1]
    );
    assert!(
        close(&v[2], Some(3000.0), Some(1900.0)),
        "tokens per call: {:?}",
        v[2]
    );
    assert!(
        close(&v[3], Some(350e6), Some(1.2 * GIB)),
        "memory in bytes: {:?}",
        v[3]
    );
    assert!(
        close(&v[4], Some(1.0), Some(2.5)),
        "error rate in %: {:?}",
        v[4]
    );
}

#[tokio::test]
async fn missing_null_nan_and_zero_divisors_are_no_data() {
    let addr = app().await;
    let p = source(addr, "/idle", HttpAuth::None)
        .poll()
        .await
        .expect("poll");
    for (i, v) in p.metrics.iter().enumerate() {
        let want_new = (i == 3).then_some(GIB);
        assert!(close(v, None, want_new), "metric {i}: {v:?}");
    }
}

#[tokio::test]
async fn bad_answers_are_clear_errors() {
    let addr = app().await;
    let e = source(addr, "/malformed", HttpAuth::None)
        .poll()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MetricsError::Parse(m) if m.contains("not JSON")),
        "{e}"
    );

    let e = source(addr, "/boom", HttpAuth::None)
        .poll()
        .await
        .unwrap_err();
    assert_eq!(
        e,
        MetricsError::Http {
            status: 500,
            message: "internal error: db down".into()
        }
    );

    let e = source(addr, "/huge", HttpAuth::None)
        .poll()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MetricsError::Parse(m) if m.contains("larger than")),
        "{e}"
    );

    // Wrong types fail per metric and name the pointer; the poll itself succeeds.
    let p = source(addr, "/wrong-types", HttpAuth::None)
        .poll()
        .await
        .expect("poll");
    for (i, v) in p.metrics.iter().enumerate() {
        assert!(
            matches!(v, Err(MetricsError::Parse(m)) if m.contains("/patchMode/")),
            "metric {i}: {v:?}"
        );
    }

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let e = source(dead, "/stats", HttpAuth::None)
        .poll()
        .await
        .unwrap_err();
    assert!(matches!(e, MetricsError::Transport(_)), "{e}");
}

#[tokio::test]
async fn sends_the_bearer_token_and_never_shows_it() {
    let addr = app().await;
    let e = source(addr, "/private", HttpAuth::None)
        .poll()
        .await
        .unwrap_err();
    assert!(matches!(e, MetricsError::Http { status: 401, .. }), "{e}");
    let src = source(addr, "/private", HttpAuth::Bearer(Secret::new(TOKEN)));
    assert!(!format!("{src:?}").contains(TOKEN));
    let p = src.poll().await.expect("poll with token");
    assert!(close(&p.metrics[1], Some(1200.0), Some(183.0)));
    let empty = src.backfill(0, 60_000, 1000).await.expect("backfill");
    assert_eq!(empty.len(), 5);
    assert!(
        empty.iter().all(Vec::is_empty),
        "no history in a JSON document"
    );
}
