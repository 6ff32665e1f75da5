//! The Prometheus metrics source against a real Prometheus scraping `rollwatch simulate`
//! (values, a traffic shift through the flag API, backfill, one query per metric), and
//! against a fake for faults a real server will not produce on demand.

use crate::support::prom_engine;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::support::prom_fake::{Canned, Fake};
use crate::support::wait::eventually;
use prom_engine::{Prometheus, Sim, available_or_skip, start_sim};
use rollwatch::clock::ManualClock;
use rollwatch::metrics::prometheus::{PrometheusConfig, PrometheusQuery, PrometheusSource};
use rollwatch::metrics::{
    CohortValues, Counts, MetricsError, MetricsSource, Poll, PollCtx, QuantileBounds,
};
use rollwatch::model::Cohort;
use rollwatch::net::Auth;
use rollwatch::secret::Secret;
use rollwatch::sim::server::SimServerOptions;
use rollwatch::sim::{Profile, Scenario};

const MIB: f64 = 1024.0 * 1024.0;

fn config(url: &str) -> PrometheusConfig {
    PrometheusConfig {
        url: url.to_owned(),
        cohort_label: "cohort".into(),
        legacy: vec!["legacy".into()],
        new: vec!["new".into()],
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
    }
}

/// The metrics of the checkout rollout as an operator would write them.
fn queries() -> Vec<PrometheusQuery> {
    vec![
        PrometheusQuery::new(
            r#"sum by (cohort)(rate(http_requests_total{code=~"5.."}[1m])) / sum by (cohort)(rate(http_requests_total[1m]))"#,
            100.0,
        ),
        PrometheusQuery::new(
            "histogram_quantile(0.95, sum by (le, cohort)(rate(http_request_duration_seconds_bucket[1m])))",
            1000.0,
        ),
        PrometheusQuery::new("sum by (cohort)(process_resident_memory_bytes)", 1.0),
        PrometheusQuery::new(
            "sum by (cohort)(rate(db_queries_total[1m])) / sum by (cohort)(rate(http_requests_total[1m]))",
            1.0,
        ),
        // Request rate over a short window: shows a traffic shift within seconds.
        PrometheusQuery::new("sum by (cohort)(rate(http_requests_total[5s]))", 1.0),
    ]
}

fn both(v: &Result<CohortValues, MetricsError>) -> Result<(f64, f64), String> {
    match v {
        Ok(CohortValues {
            counts: None,
            bounds: None,
            legacy: Some(l),
            new: Some(n),
        }) => Ok((*l, *n)),
        other => Err(format!("{other:?}")),
    }
}

fn all_both(p: &Poll) -> Result<Vec<(f64, f64)>, String> {
    p.metrics.iter().map(both).collect()
}

fn assert_near(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: Prometheus via rollwatch says {got}, the simulator {want} (tolerance {tol})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn real_prometheus_values_shift_backfill_and_one_query_per_metric() {
    if !available_or_skip("real_prometheus_values_shift_backfill_and_one_query_per_metric") {
        return;
    }
    // A high request rate keeps the sampling noise of a 10-20 s scrape history small; the
    // warm-up puts the regression at its steady 3 % so both windows see the same process.
    let mut profile = Profile::checkout();
    profile.rps = 1000.0;
    let Sim {
        addr: sim_addr,
        handle: sim,
        stop: _stop,
    } = start_sim(SimServerOptions {
        scenario: Scenario::Regression,
        seed: 7,
        percent: 50,
        flag: "checkout".into(),
        profile,
        warmup_s: 300,
    })
    .await;
    let prom = Prometheus::start(sim_addr).await;
    let proxy = Fake::proxy(&prom.url).await;
    let source = PrometheusSource::new(
        &config(&proxy.url),
        queries(),
        Auth::None,
        Duration::from_secs(2),
    )
    .expect("source");

    // Enough scrapes for stable rates, and every metric answering for both cohorts.
    eventually(
        "10 scrapes of the simulator",
        Duration::from_secs(40),
        || async {
            match prom.value(r#"count_over_time(up{job="sim"}[1m])"#).await {
                Some(n) if n >= 10.0 => Ok(()),
                other => Err(format!("{other:?} scrapes\n{}", prom.log_tail())),
            }
        },
    )
    .await;
    let values = eventually(
        "every metric for both cohorts",
        Duration::from_secs(20),
        || async {
            let p = source
                .poll(PollCtx::default())
                .await
                .map_err(|e| e.to_string())?;
            all_both(&p)
        },
    )
    .await;

    // (a) The values match what the simulator itself reads, per cohort.
    let (l, n) = (sim.reading(Cohort::Legacy), sim.reading(Cohort::New));
    eprintln!("via Prometheus: {values:?}\nsimulator legacy: {l:?}\nsimulator new: {n:?}");
    let (err, p95, mem, qpr) = (values[0], values[1], values[2], values[3]);
    assert_near(
        "new error rate %",
        err.1,
        n.error_rate.expect("sim new errors"),
        1.0,
    );
    assert_near(
        "legacy error rate %",
        err.0,
        l.error_rate.expect("sim legacy errors"),
        0.3,
    );
    assert!(
        err.1 > 1.5 && err.0 < 0.5,
        "the regression shows on the new cohort only: {err:?}"
    );
    let (lp, np) = (l.p95_ms.expect("sim p95"), n.p95_ms.expect("sim p95"));
    assert_near("legacy p95 ms", p95.0, lp, lp * 0.1);
    assert_near("new p95 ms", p95.1, np, np * 0.1);
    assert_near(
        "legacy memory",
        mem.0,
        l.memory_bytes.expect("mem"),
        12.0 * MIB,
    );
    assert_near(
        "new memory",
        mem.1,
        n.memory_bytes.expect("mem"),
        12.0 * MIB,
    );
    let (lq, nq) = (
        l.queries_per_request.expect("qpr"),
        n.queries_per_request.expect("qpr"),
    );
    assert_near("legacy queries/request", qpr.0, lq, lq * 0.03);
    assert_near("new queries/request", qpr.1, nq, nq * 0.03);

    // (d) Query economy: one instant query per metric per poll, cohorts via `by`.
    let before = proxy.count();
    let p = source.poll(PollCtx::default()).await.expect("poll");
    assert_eq!(p.metrics.len(), 5);
    let seen = proxy.seen();
    let new_requests = &seen[before..];
    assert_eq!(
        new_requests.len(),
        5,
        "one request per metric: {new_requests:?}"
    );
    assert!(
        new_requests
            .iter()
            .all(|s| s.target.starts_with("/api/v1/query?"))
    );

    // (b) A PUT to the flag API shifts traffic in later polls.
    let share = |p: &Poll| both(&p.metrics[4]).map(|(l, n)| n / (l + n));
    let s0 = share(&p).expect("request rates");
    assert!((s0 - 0.5).abs() < 0.1, "new cohort's share at 50 %: {s0}");
    let flag = format!("http://{sim_addr}/api/flags/checkout");
    let r = reqwest::Client::new()
        .put(&flag)
        .header("If-Match", "\"1\"")
        .json(&serde_json::json!({"percent": 90}))
        .send()
        .await
        .expect("PUT flag");
    assert_eq!(r.status(), 200);
    assert_eq!(sim.percent(), 90);
    let s1 = eventually(
        "the new cohort's share to pass 80 %",
        Duration::from_secs(20),
        || async {
            let p = source
                .poll(PollCtx::default())
                .await
                .map_err(|e| e.to_string())?;
            match share(&p) {
                Ok(s) if s > 0.8 => Ok(s),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert!(s1 < 0.97, "legacy still serves about 10 %: {s1}");

    // (c) Backfill: one range query per metric, history for both cohorts.
    let before = proxy.count();
    let now = chrono::Utc::now().timestamp_millis();
    let history = source
        .backfill(now - 60_000, now, 1000)
        .await
        .expect("backfill");
    let seen = proxy.seen();
    let new_requests = &seen[before..];
    assert_eq!(
        new_requests.len(),
        5,
        "one range query per metric: {new_requests:?}"
    );
    assert!(
        new_requests
            .iter()
            .all(|s| s.target.starts_with("/api/v1/query_range?"))
    );
    assert_eq!(history.len(), 5);
    for (i, series) in history.iter().enumerate() {
        let full = series
            .iter()
            .filter(|(_, v)| v.legacy.is_some() && v.new.is_some())
            .count();
        assert!(
            full >= 5,
            "metric {i}: {full} points with both cohorts in {series:?}"
        );
        assert!(series.len() <= 61, "metric {i}: {} points", series.len());
        assert!(series.windows(2).all(|w| w[0].0 < w[1].0), "ascending");
        assert!(series.iter().all(|(t, _)| (now - 60_000..=now).contains(t)));
    }
}

fn vector(legacy: &str, new: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[
        {{"metric":{{"cohort":"legacy"}},"value":[1700000000.5,"{legacy}"]}},
        {{"metric":{{"cohort":"new"}},"value":[1700000000.5,"{new}"]}}]}}}}"#
    )
}

fn source(url: &str, n: usize, auth: Auth) -> PrometheusSource {
    let qs = (0..n)
        .map(|i| PrometheusQuery::new(format!("m{i}"), 1.0))
        .collect();
    let mut c = config(url);
    c.timeout_ms = Some(500);
    PrometheusSource::new(&c, qs, auth, Duration::from_secs(1)).expect("source")
}

/// The query parameter of a request target (`m0`, `m1`, ...).
fn query_of(target: &str) -> String {
    target
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("query="))
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn fake_faults_map_to_typed_errors_per_metric() {
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(9 * 1024 * 1024));
    let fake = Fake::reply(move |target| match query_of(target).as_str() {
        "m0" => Canned::ok(vector("NaN", "1e-07")),
        "m1" => Canned::ok(r#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["too many samples, answer partial"]}"#),
        "m2" => Canned::status(400, r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#),
        "m3" => Canned::status(503, "<html>upstream down</html>"),
        "m4" => Canned::ok(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"new"},"value":[1,{"x":1}]}]}}"#),
        "m5" => Canned { truncate: true, ..Canned::ok(vector("1", "2")) },
        "m6" => Canned::ok(huge.clone()),
        "m7" => Canned { delay: Duration::from_secs(3), ..Canned::ok(vector("1", "2")) },
        "m8" => Canned::ok(vector("+Inf", "4.5")),
        _ => Canned::ok("{\"status\":\"succ"),
    })
    .await;
    let token = "tok-SECRET-123";
    let src = source(&fake.url, 10, Auth::Bearer(Secret::new(token)));
    let p = src
        .poll(PollCtx::default())
        .await
        .expect("a poll with some answers succeeds");
    let m = &p.metrics;
    assert_eq!(
        m[0],
        Ok(CohortValues {
            counts: None,
            bounds: None,
            legacy: None,
            new: Some(1e-7)
        }),
        "NaN is no data"
    );
    assert_eq!(
        m[1],
        Ok(CohortValues::default()),
        "an empty vector is no data, not 0"
    );
    assert_eq!(
        p.warnings,
        vec!["too many samples, answer partial".to_owned()]
    );
    assert_eq!(
        m[2],
        Err(MetricsError::Query {
            kind: "bad_data".into(),
            message: "1:5: parse error".into()
        })
    );
    assert!(
        matches!(&m[3], Err(MetricsError::Http { status: 503, message }) if message.contains("upstream down")),
        "{:?}",
        m[3]
    );
    assert!(matches!(&m[4], Err(MetricsError::Parse(_))), "{:?}", m[4]);
    assert!(
        matches!(
            &m[5],
            Err(MetricsError::Transport(_) | MetricsError::Parse(_))
        ),
        "truncated: {:?}",
        m[5]
    );
    assert!(
        matches!(&m[6], Err(MetricsError::Parse(msg)) if msg.contains("larger than")),
        "{:?}",
        m[6]
    );
    assert_eq!(m[7], Err(MetricsError::Timeout(500)));
    assert_eq!(
        m[8],
        Ok(CohortValues {
            counts: None,
            bounds: None,
            legacy: Some(f64::INFINITY),
            new: Some(4.5)
        })
    );
    assert!(matches!(&m[9], Err(MetricsError::Parse(_))), "{:?}", m[9]);

    // One request per metric, each with the bearer token, which no message repeats.
    let seen = fake.seen();
    assert_eq!(seen.len(), 10);
    assert!(
        seen.iter()
            .all(|s| s.headers.contains(&format!("Bearer {token}")))
    );
    assert!(seen.iter().all(|s| s.target.contains("time=")));
    let text = format!("{p:?}");
    assert!(!text.contains(token), "token leaked: {text}");
}

#[tokio::test]
async fn an_unreachable_server_fails_the_whole_poll_and_backfill() {
    // A port that was free a moment ago: connection refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let src = source(&format!("http://{addr}"), 3, Auth::None);
    match src.poll(PollCtx::default()).await {
        Err(MetricsError::Transport(m)) => assert!(m.contains("refused"), "{m}"),
        other => panic!("expected connection refused, got {other:?}"),
    }
    assert!(matches!(
        src.backfill(0, 60_000, 1000).await,
        Err(MetricsError::Transport(_))
    ));

    let down = Fake::reply(|_| Canned::status(502, "bad gateway")).await;
    let src = source(&down.url, 2, Auth::None);
    assert!(matches!(
        src.poll(PollCtx::default()).await,
        Err(MetricsError::Http { status: 502, .. })
    ));
}

#[tokio::test]
async fn backfill_clamps_the_step_to_the_point_cap_and_merges_cohorts() {
    let fake = Fake::reply(|_| {
        Canned::ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"cohort":"legacy"},"values":[[100,"1"],[160,"2"]]},
            {"metric":{"cohort":"new"},"values":[[160,"3"],[220,"NaN"]]}]}}"#,
        )
    })
    .await;
    let src = source(&fake.url, 2, Auth::None);
    let day = 86_400_000;
    let h = src.backfill(0, day, 1000).await.expect("backfill");
    assert_eq!(h.len(), 2);
    assert_eq!(
        h[0],
        vec![
            (
                100_000,
                CohortValues {
                    counts: None,
                    bounds: None,
                    legacy: Some(1.0),
                    new: None
                }
            ),
            (
                160_000,
                CohortValues {
                    counts: None,
                    bounds: None,
                    legacy: Some(2.0),
                    new: Some(3.0)
                }
            ),
            (
                220_000,
                CohortValues {
                    counts: None,
                    bounds: None,
                    legacy: None,
                    new: None
                }
            ),
        ]
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "one range query per metric");
    let step: f64 = seen[0]
        .target
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("step="))
        .and_then(|s| s.parse().ok())
        .expect("step parameter");
    assert!(
        86_400.0 / step < 11_000.0,
        "step {step} s gives too many points"
    );
}

#[tokio::test]
async fn simulate_exposition_passes_promtool() {
    let Ok(out) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        assert!(
            std::env::var("ROLLWATCH_REQUIRE_ENGINES").as_deref() != Ok("1"),
            "promtool is not installed and ROLLWATCH_REQUIRE_ENGINES=1 requires it"
        );
        prom_engine::loud("SKIPPED: promtool not installed (simulate_exposition_passes_promtool)");
        return;
    };
    assert!(out.status.success());
    let Sim {
        handle: sim,
        stop: _stop,
        ..
    } = start_sim(SimServerOptions {
        warmup_s: 30,
        ..SimServerOptions::default()
    })
    .await;
    let text = sim.exposition();
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A service whose `/metrics` counts 100 requests a second for each cohort: legacy answers
/// 1 % of them with a 500, new never fails, so it has no 5xx series at all (the error-ratio
/// trap). `/flag` is its flag API, at 50 %.
async fn steady_service() -> SocketAddr {
    use axum::Router;
    use axum::routing::get;
    let start = std::time::Instant::now();
    let router = Router::new()
        .route(
            "/metrics",
            get(move || async move {
                let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                let n = ms / 10;
                format!(
                    "# TYPE http_requests_total counter\n\
                     http_requests_total{{cohort=\"legacy\",code=\"200\"}} {}\n\
                     http_requests_total{{cohort=\"legacy\",code=\"500\"}} {}\n\
                     http_requests_total{{cohort=\"new\",code=\"200\"}} {n}\n",
                    n - n / 100,
                    n / 100
                )
            }),
        )
        .route(
            "/flag",
            get(|| async { r#"{"percent": 50, "enabled": true}"# }),
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

const TRAP: &str = r#"sum by (cohort)(rate(http_requests_total{code=~"5.."}[10s])) / sum by (cohort)(rate(http_requests_total[10s]))"#;
const FIXED: &str = r#"(sum by (cohort)(rate(http_requests_total{code=~"5.."}[10s])) or sum by (cohort)(rate(http_requests_total[10s])) * 0) / sum by (cohort)(rate(http_requests_total[10s]))"#;

/// One rollout on `service`'s flag and `prom`, one error-ratio metric with `query`, one
/// `new > 0.5%` rule of `severity`.
fn status_config(
    service: SocketAddr,
    prom: &str,
    label: &str,
    new: &str,
    query: &str,
    severity: &str,
) -> String {
    format!(
        r#"refresh = "1s"

[[rollout]]
name = "steady"
environment = "test"
steps = [50, 100]

[rollout.flag]
kind = "http"
url = "http://{service}/flag"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
body_template = '{{"percent": {{{{percent}}}}, "enabled": {{{{enabled}}}}}}'

[rollout.metrics]
kind = "prometheus"
url = "{prom}"
cohort_label = "{label}"
legacy = ["legacy"]
new = ["{new}"]

[[rollout.metric]]
id = "error_rate"
label = "Error rate"
kind = "ratio"
query = '{query}'
scale = 100

[[rollout.rule]]
name = "new-error-rate"
metric = "error_rate"
when = "new > 0.5%"
for = "30s"
severity = "{severity}"
action = "rollback"
"#
    )
}

/// `rollwatch status --json` on `config`, as a user runs it: its exit code and document.
fn run_status(dir: &std::path::Path, config: &str) -> (i32, serde_json::Value) {
    let path = dir.join("rollwatch.toml");
    std::fs::write(&path, config).expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollwatch"))
        .args(["status", "--json", "--config"])
        .arg(&path)
        .env("XDG_STATE_HOME", dir)
        .env("HOME", dir)
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
async fn status_never_exits_0_when_a_rule_could_not_be_evaluated_and_says_what_was_missing() {
    if !available_or_skip("status_never_exits_0_when_a_rule_could_not_be_evaluated") {
        return;
    }
    let service = steady_service().await;
    let prom = Prometheus::start(service).await;
    eventually("both cohorts' rates", Duration::from_secs(30), || {
        let prom = &prom;
        async move {
            let legacy = prom
                .value(r#"sum(rate(http_requests_total{cohort="legacy",code="500"}[10s]))"#)
                .await;
            let new = prom
                .value(r#"sum(rate(http_requests_total{cohort="new"}[10s]))"#)
                .await;
            match (legacy, new) {
                (Some(l), Some(n)) if l > 0.0 && n > 0.0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let case = |label: &str, new: &str, query: &str, severity: &str| {
        let cfg = status_config(service, &prom.url, label, new, query, severity);
        let (code, json) = run_status(dir.path(), &cfg);
        let rule = json["rollouts"][0]["alerts"][0].clone();
        assert_eq!(rule["rule"], "new-error-rate", "{json}");
        (code, rule, json)
    };

    // The query written correctly: new's error ratio is 0, the rule is OK, exit 0.
    let (code, rule, json) = case("cohort", "new", FIXED, "critical");
    assert_eq!((code, &rule["state"]), (0, &"OK".into()), "{json}");
    assert_eq!(json["rollouts"][0]["metrics"][0]["new"], 0.0, "{json}");

    // (i) The new cohort missing from the error-ratio vector (it had no 5xx): a critical rule
    // that cannot be evaluated is exit 3, and its reason names the trap and the fix.
    let (code, rule, json) = case("cohort", "new", TRAP, "critical");
    assert_eq!((code, &rule["state"]), (3, &"UNKNOWN".into()), "{json}");
    assert_eq!(
        rule["reason"],
        "no data: the new cohort is absent from the ratio (no numerator series, e.g. no 5xx): `or … * 0` fixes it",
        "{json}"
    );
    // The same for a warning rule: exit 1, never 0.
    let (code, rule, json) = case("cohort", "new", TRAP, "warning");
    assert_eq!((code, &rule["state"]), (1, &"UNKNOWN".into()), "{json}");

    // (i) A cohort value the answer does not have.
    let (code, rule, json) = case("cohort", "v3", FIXED, "critical");
    assert_eq!((code, &rule["state"]), (3, &"UNKNOWN".into()), "{json}");
    assert_eq!(
        rule["reason"], "no data: the answer had cohort=legacy,new; new expects v3",
        "{json}"
    );

    // (ii) No query answers with the cohort label.
    let (code, rule, json) = case("version", "new", FIXED, "critical");
    assert_eq!((code, &rule["state"]), (3, &"UNKNOWN".into()), "{json}");
    assert_eq!(
        rule["reason"],
        "no data: no series carries the cohort label `version`; labels seen: cohort; group the query `by (version)`",
        "{json}"
    );
}

/// A request target's `query` parameter, percent-decoded (`+` is a space).
fn decoded_query(target: &str) -> String {
    let raw = query_of(target);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Counts since the step began come from the count queries with `$step` replaced by whole
/// seconds since the step start: one query each, in the same poll as the values; a cohort the
/// trials answer lacks has no counts; before the step start is known, or while the step is
/// younger than one poll interval, no count query is sent.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn count_queries_carry_the_step_and_fill_counts_per_cohort() {
    let t0: i64 = 1_764_554_400_000;
    let fake = Fake::reply(|target| {
        let q = decoded_query(target);
        let body = match q.as_str() {
            "errors" | "p95" => vector("1", "2"),
            "sum by (cohort)(increase(err[37s]))" => vector("12.4999", "3.5"),
            "sum by (cohort)(increase(req[37s]))" => vector("3998.6", "201.49"),
            // A second ratio whose trials answer lacks the new cohort.
            "sum by (cohort)(increase(req2[37s]))" => r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cohort":"legacy"},"value":[1,"900"]}]}}"#.to_owned(),
            "sum by (cohort, le)(increase(lat_bucket[37s]))" => r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"cohort":"legacy","le":"0.25"},"value":[1,"900"]},
                {"metric":{"cohort":"legacy","le":"0.5"},"value":[1,"960"]},
                {"metric":{"cohort":"legacy","le":"+Inf"},"value":[1,"1000"]},
                {"metric":{"cohort":"new","le":"0.25"},"value":[1,"150"]},
                {"metric":{"cohort":"new","le":"0.5"},"value":[1,"170"]},
                {"metric":{"cohort":"new","le":"+Inf"},"value":[1,"200"]}]}}"#.to_owned(),
            other => {
                return Canned::status(
                    400,
                    format!(r#"{{"status":"error","errorType":"bad_data","error":"unexpected query {other}"}}"#),
                );
            }
        };
        Canned::ok(body)
    })
    .await;
    let queries = vec![
        PrometheusQuery::new("errors", 100.0).with_counts(
            "sum by (cohort)(increase(err[$step]))",
            "sum by (cohort)(increase(req[$step]))",
        ),
        PrometheusQuery::new("errors", 100.0).with_counts(
            "sum by (cohort)(increase(err[$step]))",
            "sum by (cohort)(increase(req2[$step]))",
        ),
        PrometheusQuery::new("p95", 1000.0).with_buckets(
            "sum by (cohort, le)(increase(lat_bucket[$step]))",
            Some(0.25),
            Some(0.95),
        ),
    ];
    let clock = Arc::new(ManualClock::new(t0 + 37_900));
    let src = PrometheusSource::new(
        &config(&fake.url),
        queries,
        Auth::None,
        Duration::from_secs(2),
    )
    .expect("source")
    .with_clock(clock);

    // Before the flag was read: values only, one query per metric.
    let p = src.poll(PollCtx::default()).await.expect("poll");
    assert_eq!(fake.count(), 3, "no count query without a step start");
    assert!(
        p.metrics
            .iter()
            .all(|m| m.as_ref().is_ok_and(|v| v.counts.is_none()))
    );
    // A step younger than one poll interval: `$step` would reach into the previous split.
    let p = src
        .poll(PollCtx {
            step_start_ms: Some(t0 + 36_000),
        })
        .await
        .expect("poll");
    assert_eq!(
        fake.count(),
        6,
        "no count query in a step's first poll interval"
    );
    assert!(
        p.metrics
            .iter()
            .all(|m| m.as_ref().is_ok_and(|v| v.counts.is_none()))
    );

    let p = src
        .poll(PollCtx {
            step_start_ms: Some(t0),
        })
        .await
        .expect("poll");
    assert_eq!(
        fake.count(),
        6 + (3 + 2 + 2 + 1),
        "one query per metric and per count query"
    );
    let v = p.metrics[0].as_ref().expect("errors");
    assert_eq!((v.legacy, v.new), (Some(100.0), Some(200.0)));
    assert_eq!(
        v.counts,
        Some(Counts {
            legacy: (12, 3999),
            new: (4, 201)
        })
    );
    let v = p.metrics[1].as_ref().expect("errors without new trials");
    assert_eq!(
        (v.legacy, v.new, v.counts),
        (Some(100.0), Some(200.0), None)
    );
    let v = p.metrics[2].as_ref().expect("p95");
    assert_eq!(
        v.counts,
        Some(Counts {
            legacy: (100, 1000),
            new: (50, 200)
        })
    );
    assert_eq!(
        v.bounds,
        Some(QuantileBounds {
            legacy: Some((250.0, 500.0)),
            new: Some((500.0, f64::INFINITY))
        })
    );

    // A count query Prometheus refuses fails its metric, naming the key.
    let src = PrometheusSource::new(
        &config(&fake.url),
        vec![PrometheusQuery::new("errors", 100.0).with_counts("bad[$step]", "bad[$step]")],
        Auth::None,
        Duration::from_secs(2),
    )
    .expect("source")
    .with_clock(Arc::new(ManualClock::new(t0 + 37_900)));
    let p = src
        .poll(PollCtx {
            step_start_ms: Some(t0),
        })
        .await
        .expect("poll");
    let e = p.metrics[0]
        .as_ref()
        .expect_err("bad count query")
        .to_string();
    assert!(e.contains("events_query: unexpected query bad[37s]"), "{e}");
}

#[test]
fn a_count_query_without_the_step_placeholder_is_refused() {
    let refresh = Duration::from_secs(2);
    for (q, key) in [
        (
            PrometheusQuery::new("x", 1.0).with_counts("increase(e[5m])", "increase(t[$step])"),
            "events_query",
        ),
        (
            PrometheusQuery::new("x", 1.0).with_buckets("increase(b[1h])", Some(0.5), None),
            "buckets_query",
        ),
    ] {
        let e = PrometheusSource::new(&config("http://127.0.0.1:9"), vec![q], Auth::None, refresh)
            .expect_err("refused");
        assert!(
            e.to_string().contains(&format!("`{key}` has no `$step`")),
            "{e}"
        );
    }
}
