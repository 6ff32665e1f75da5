//! The JSON metrics source against a small app-like endpoint (patch mode vs single mode):
//! values with units, no data, and the ways such an endpoint fails.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use rollwatch::metrics::json::{JsonMetric, JsonMetricsConfig, JsonSource};
use rollwatch::metrics::units::ValueUnit;
use rollwatch::metrics::{CohortValues, MetricsError, MetricsSource, PollCtx};
use rollwatch::net::Auth;
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
        // Patch mode failing 8 % of its calls, and its flag at 25 %.
        .route(
            "/breach",
            get(|| async {
                r#"{"patchMode": {"calls": 400, "failures": 32, "avgLatency": "183ms"},
                    "singleMode": {"calls": 1000, "failures": 10, "avgLatency": "190ms"}}"#
            }),
        )
        .route(
            "/flag",
            get(|| async { r#"{"percent": 25, "enabled": true}"# }),
        )
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
        legacy_per: per.map(|p| format!("/singleMode/{p}")),
        new_per: per.map(|p| format!("/patchMode/{p}")),
        ..JsonMetric::new(
            format!("/singleMode/{field}"),
            format!("/patchMode/{field}"),
            unit,
        )
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

fn source(addr: SocketAddr, path: &str, auth: Auth) -> JsonSource {
    let cfg = JsonMetricsConfig {
        url: format!("http://{addr}{path}"),
        token_env: None,
        token_file: None,
        insecure_skip_verify: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
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
    let p = source(addr, "/stats", Auth::None)
        .poll(PollCtx::default())
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
    let p = source(addr, "/idle", Auth::None)
        .poll(PollCtx::default())
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
    let e = source(addr, "/malformed", Auth::None)
        .poll(PollCtx::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MetricsError::Parse(m) if m.contains("not JSON")),
        "{e}"
    );

    let e = source(addr, "/boom", Auth::None)
        .poll(PollCtx::default())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        MetricsError::Http {
            status: 500,
            message: "internal error: db down".into()
        }
    );

    let e = source(addr, "/huge", Auth::None)
        .poll(PollCtx::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MetricsError::Parse(m) if m.contains("larger than")),
        "{e}"
    );

    // Wrong types fail per metric and name the pointer; the poll itself succeeds.
    let p = source(addr, "/wrong-types", Auth::None)
        .poll(PollCtx::default())
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
    let e = source(dead, "/stats", Auth::None)
        .poll(PollCtx::default())
        .await
        .unwrap_err();
    assert!(matches!(e, MetricsError::Transport(_)), "{e}");
}

#[tokio::test]
async fn sends_the_bearer_token_and_never_shows_it() {
    let addr = app().await;
    let e = source(addr, "/private", Auth::None)
        .poll(PollCtx::default())
        .await
        .unwrap_err();
    assert!(matches!(e, MetricsError::Http { status: 401, .. }), "{e}");
    let src = source(addr, "/private", Auth::Bearer(Secret::new(TOKEN)));
    assert!(!format!("{src:?}").contains(TOKEN));
    let p = src.poll(PollCtx::default()).await.expect("poll with token");
    assert!(close(&p.metrics[1], Some(1200.0), Some(183.0)));
    let empty = src.backfill(0, 60_000, 1000).await.expect("backfill");
    assert_eq!(empty.len(), 5);
    assert!(
        empty.iter().all(Vec::is_empty),
        "no history in a JSON document"
    );
}

/// `rollwatch status --json` on a JSON source (no history) whose patch mode fails 8 % of its
/// calls, with one `new > 5%` rule of `severity` held for a minute.
fn status_on_breach(addr: SocketAddr, severity: &str) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = format!(
        r#"refresh = "1s"

[[rollout]]
name = "llm-patch-mode"
environment = "test"
steps = [25, 50, 100]

[rollout.flag]
kind = "http"
url = "http://{addr}/flag"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
body_template = '{{"percent": {{{{percent}}}}, "enabled": {{{{enabled}}}}}}'

[rollout.metrics]
kind = "json"
url = "http://{addr}/breach"

[[rollout.metric]]
id = "errors"
label = "Error rate"
kind = "ratio"
legacy = "/singleMode/failures"
legacy_per = "/singleMode/calls"
new = "/patchMode/failures"
new_per = "/patchMode/calls"
unit = "ratio"

[[rollout.metric]]
id = "latency"
label = "Avg latency"
kind = "latency"
quantile = 0.5
legacy = "/singleMode/avgLatency"
new = "/patchMode/avgLatency"

[[rollout.rule]]
name = "patch-errors"
metric = "errors"
when = "new > 5%"
for = "1m"
severity = "{severity}"
action = "rollback"

[[rollout.rule]]
name = "patch-latency"
metric = "latency"
when = "new > 1.5 * legacy"
for = "1m"
severity = "critical"
action = "notify"
"#
    );
    let path = dir.path().join("rollwatch.toml");
    std::fs::write(&path, cfg).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollwatch"))
        .args(["status", "--json", "--config"])
        .arg(&path)
        .env("XDG_STATE_HOME", dir.path())
        .env("HOME", dir.path())
        .output()
        .expect("rollwatch runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_on_a_source_without_history_counts_a_breach_as_firing() {
    let addr = app().await;
    // A critical rule breaching now: its minute cannot be seen without history, so it is
    // BREACHING and counts as firing (exit 2), not PENDING and exit 0.
    let (code, json) = tokio::task::spawn_blocking(move || status_on_breach(addr, "critical"))
        .await
        .expect("status");
    let rules = &json["rollouts"][0]["alerts"];
    assert_eq!(rules[0]["rule"], "patch-errors", "{json}");
    assert_eq!(rules[0]["state"], "BREACHING", "{json}");
    assert_eq!(
        rules[0]["reason"], "for not observable: the source keeps no history",
        "{json}"
    );
    assert_eq!(rules[1]["state"], "OK", "{json}");
    assert_eq!(code, 2, "{json}");
    // A warning rule breaching there is exit 1.
    let (code, json) = tokio::task::spawn_blocking(move || status_on_breach(addr, "warning"))
        .await
        .expect("status");
    assert_eq!(
        json["rollouts"][0]["alerts"][0]["state"], "BREACHING",
        "{json}"
    );
    assert_eq!(code, 1, "{json}");
}

/// An app whose document the test rewrites between polls (counters since the app started).
async fn counter_app(doc: std::sync::Arc<std::sync::Mutex<String>>) -> SocketAddr {
    let router = Router::new().route(
        "/stats",
        get(move || {
            let doc = doc.clone();
            async move { doc.lock().expect("doc").clone() }
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

/// The seed app's document: per mode, cumulative `total_calls`, `failed_calls`,
/// `token_usage_total`, and an average latency that reads 0 for a mode that served nothing.
fn seed_doc(single: (u64, u64, u64, u64), patch: (u64, u64, u64, u64)) -> String {
    let mode = |(calls, failed, tokens, avg): (u64, u64, u64, u64)| {
        format!(
            r#"{{"total_calls": {calls}, "failed_calls": {failed}, "token_usage_total": {tokens}, "avg_latency_ms": {avg}}}"#
        )
    };
    format!(
        r#"{{"singleMode": {}, "patchMode": {}}}"#,
        mode(single),
        mode(patch)
    )
}

/// The seed app's rollout as the README's config reference writes it.
fn seed_metrics() -> Vec<JsonMetric> {
    let both = |f: &str| (format!("/singleMode/{f}"), format!("/patchMode/{f}"));
    let (lc, nc) = both("total_calls");
    let (lf, nf) = both("failed_calls");
    let (lt, nt) = both("token_usage_total");
    let (la, na) = both("avg_latency_ms");
    vec![
        JsonMetric {
            legacy_per: Some(lc.clone()),
            new_per: Some(nc.clone()),
            cumulative: true,
            counts: true,
            ..JsonMetric::new(lf, nf, ValueUnit::Ratio)
        },
        JsonMetric {
            legacy_calls: Some(lc.clone()),
            new_calls: Some(nc.clone()),
            ..JsonMetric::new(la, na, ValueUnit::Millis)
        },
        JsonMetric {
            legacy_per: Some(lc),
            new_per: Some(nc),
            cumulative: true,
            ..JsonMetric::new(lt, nt, ValueUnit::Count)
        },
    ]
}

/// Cumulative counters are differenced since the step began: a mode with no calls in the
/// step is no data (not 0 ms, not a 100 % token saving), a counter that goes down is a reset
/// (counting continues from its new value), and a new step starts the counts again.
#[tokio::test]
async fn counters_are_differenced_since_the_step_with_resets_and_no_calls_as_no_data() {
    let doc = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let set = |single, patch| *doc.lock().expect("doc") = seed_doc(single, patch);
    let addr = counter_app(doc.clone()).await;
    let cfg = JsonMetricsConfig {
        url: format!("http://{addr}/stats"),
        token_env: None,
        token_file: None,
        insecure_skip_verify: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
        timeout_ms: Some(2000),
    };
    let src =
        JsonSource::new(&cfg, seed_metrics(), Auth::None, Duration::from_secs(1)).expect("source");
    let step1 = PollCtx {
        step_start_ms: Some(1_000),
    };
    let poll = |ctx: PollCtx| {
        let src = &src;
        async move { src.poll(ctx).await.expect("poll").metrics }
    };
    let counts = |v: &Result<CohortValues, MetricsError>| {
        v.as_ref()
            .expect("metric")
            .counts
            .map(|c| (c.legacy, c.new))
    };

    // 0 % rollout: single mode has served 1000 calls since the app started, patch mode none.
    set((1000, 10, 3_000_000, 99), (0, 0, 0, 0));
    let p = poll(step1).await;
    assert!(close(&p[0], None, None), "nothing counted yet: {:?}", p[0]);
    assert_eq!(counts(&p[0]), Some(((0, 0), (0, 0))));

    set((1100, 12, 3_300_000, 98), (0, 0, 0, 0));
    let p = poll(step1).await;
    assert!(close(&p[0], Some(2.0), None), "2 of 100 calls: {:?}", p[0]);
    assert_eq!(counts(&p[0]), Some(((2, 100), (0, 0))));
    assert!(
        close(&p[1], Some(98.0), None),
        "no calls, no 0 ms: {:?}",
        p[1]
    );
    assert!(
        close(&p[2], Some(3000.0), None),
        "no 100 % saving: {:?}",
        p[2]
    );

    // The app restarted: its counters start again from 0 and go on counting.
    set((50, 1, 150_000, 97), (10, 0, 20_000, 120));
    let p = poll(step1).await;
    assert!(
        close(&p[0], Some(2.0), Some(0.0)),
        "3 of 150, 0 of 10: {:?}",
        p[0]
    );
    assert_eq!(counts(&p[0]), Some(((3, 150), (0, 10))));
    assert!(close(&p[1], Some(97.0), Some(120.0)), "{:?}", p[1]);
    assert!(close(&p[2], Some(3000.0), Some(2000.0)), "{:?}", p[2]);

    // The next step: counts restart from what the counters read at its first poll.
    let step2 = PollCtx {
        step_start_ms: Some(90_000),
    };
    let p = poll(step2).await;
    assert_eq!(counts(&p[0]), Some(((0, 0), (0, 0))));
    assert!(close(&p[2], None, None), "{:?}", p[2]);
    set((250, 5, 750_000, 96), (60, 3, 120_000, 110));
    let p = poll(step2).await;
    assert_eq!(counts(&p[0]), Some(((4, 200), (3, 50))));
    assert!(close(&p[0], Some(2.0), Some(6.0)), "{:?}", p[0]);
    assert!(close(&p[2], Some(3000.0), Some(2000.0)), "{:?}", p[2]);
}
