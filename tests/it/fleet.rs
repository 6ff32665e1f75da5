//! Fleets against real engines: `rollwatch simulate --flags N` scraped by a real Prometheus,
//! discovered through the simulator's list endpoint and polled with one grouped query per
//! metric for the whole fleet (counted by a proxy in front of Prometheus); each rollout gets
//! its own flag's values. Also: an explicit `[[rollout]]` overrides a discovered one, and a
//! fleet's config errors are located.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::prom_engine::{Prometheus, available_or_skip};
use crate::support::wait::eventually;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use rollwatch::clock::{Clock, ManualClock};
use rollwatch::metrics::PollCtx;
use rollwatch::sim::fleet::fleet;
use rollwatch::sim::server::SimServer;

/// Requests per path that went through the proxy.
type Counts = Arc<Mutex<HashMap<String, usize>>>;

/// A proxy in front of Prometheus that counts the requests per path.
async fn counting_proxy(target: String) -> (String, Counts) {
    let counts: Counts = Arc::default();
    let state = (target, counts.clone(), reqwest::Client::new());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Arc::new(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), counts)
}

async fn forward(
    State(s): State<Arc<(String, Counts, reqwest::Client)>>,
    req: Request,
) -> Response {
    let (target, counts, client) = s.as_ref();
    let path = req.uri().path().to_owned();
    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let ans = client
        .get(format!("{target}{path}{query}"))
        .send()
        .await
        .unwrap();
    let status = ans.status().as_u16();
    let body = ans.bytes().await.unwrap();
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn count(c: &Counts, path: &str) -> usize {
    c.lock().unwrap().get(path).copied().unwrap_or(0)
}

/// A fleet config: the simulator's list endpoint, Prometheus at `prom`, three metrics.
fn fleet_config(sim: SocketAddr, prom: &str, extra: &str) -> String {
    format!(
        r#"refresh = "2s"
{extra}
[[fleet]]
steps = [1, 5, 10, 25, 50, 100]

[fleet.flags]
kind = "http"
list_url = "http://{sim}/api/flags"
url = "http://{sim}/api/flags/{{name}}"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
version_pointer = "/version"
body_template = '{{"percent": {{{{percent}}}}, "enabled": {{{{enabled}}}}}}'

[fleet.metrics]
kind = "prometheus"
url = "{prom}"

[[fleet.metric]]
id = "error_rate"
kind = "ratio"
query = 'sum by ($flag_label, $variant_label)(rate(http_requests_total{{code="500"}}[1m])) / sum by ($flag_label, $variant_label)(rate(http_requests_total[1m]))'
scale = 100

[[fleet.metric]]
id = "requests"
kind = "gauge"
query = 'sum by ($flag_label, $variant_label)(http_requests_total)'

[[fleet.metric]]
id = "memory"
kind = "bytes"
query = 'max by ($flag_label, $variant_label)(process_resident_memory_bytes)'
"#
    )
}

async fn start_fleet(n: usize) -> (SocketAddr, Prometheus, tokio::sync::oneshot::Sender<()>) {
    let clock: Arc<dyn Clock> = Arc::new(rollwatch::clock::SystemClock);
    let server = SimServer::bind_fleet("127.0.0.1:0".parse().unwrap(), fleet(n, 3), 120, clock)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = rx.await;
    }));
    let prom = Prometheus::start(addr).await;
    (addr, prom, stop)
}

/// The requests per flag and variant Prometheus holds at `t_ms`, asked directly.
async fn requests_at(prom: &Prometheus, t_ms: i64) -> HashMap<(String, String), f64> {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/query", prom.url))
        .query(&[
            (
                "query",
                "sum by (feature_flag_key, feature_flag_result_variant)(http_requests_total)",
            ),
            ("time", &format!("{:.3}", t_ms as f64 / 1000.0)),
        ])
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    r["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let m = &s["metric"];
            (
                (
                    m["feature_flag_key"].as_str().unwrap().to_owned(),
                    m["feature_flag_result_variant"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
                s["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_thirty_costs_one_query_per_metric_and_each_rollout_gets_its_flag() {
    const N: usize = 30;
    if !available_or_skip("a_fleet_of_thirty_costs_one_query_per_metric") {
        return;
    }
    let (sim, prom, _stop) = start_fleet(N).await;
    eventually("every flag scraped", Duration::from_secs(30), || async {
        let n = prom
            .value("count(count by (feature_flag_key)(http_requests_total))")
            .await;
        (n == Some(N as f64)).then_some(()).ok_or(format!("{n:?}"))
    })
    .await;
    let (proxy, counts) = counting_proxy(prom.url.clone()).await;
    let text = fleet_config(sim, &proxy, "");
    let mut cfg = rollwatch::config::parse(Path::new("fleet.toml"), &text).unwrap();
    rollwatch::backends::discover(&mut cfg).await.unwrap();
    let names: Vec<&str> = cfg
        .rollouts
        .iter()
        .map(|r| r.rollout.name.as_str())
        .collect();
    assert_eq!(names.len(), N, "{names:?}");
    assert_eq!(names[0], "flag-000");
    // Evaluate at a time every flag has data and Prometheus has scraped past (nothing older
    // can still arrive), so a direct query at the same time gives the same answer.
    let t = rollwatch::clock::SystemClock.now_ms();
    eventually("a scrape after t", Duration::from_secs(10), || async {
        let last = prom.value("min(timestamp(up))").await;
        last.filter(|s| *s * 1000.0 > t as f64 + 100.0)
            .map(drop)
            .ok_or(format!("{last:?}"))
    })
    .await;
    let clock = ManualClock::new(t);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let wired = rollwatch::backends::wire(&cfg, &shared).unwrap();

    let poll_all = || {
        join_all(
            wired
                .iter()
                .map(|(_, b)| b.metrics.poll(PollCtx::default())),
        )
    };
    let polls = poll_all().await;
    assert_eq!(
        count(&counts, "/api/v1/query"),
        3,
        "one instant query per metric for {N} rollouts"
    );
    let want = requests_at(&prom, t).await;
    for ((rollout, _), poll) in wired.iter().zip(&polls) {
        let poll = poll.as_ref().unwrap();
        let requests = poll.metrics[1].as_ref().unwrap();
        let flag = &rollout.name;
        let legacy = want[&(flag.clone(), "off".to_owned())];
        assert_eq!(requests.legacy, Some(legacy), "{flag}");
        assert_eq!(
            requests.new,
            want.get(&(flag.clone(), "on".to_owned())).copied(),
            "{flag}"
        );
        assert!(poll.metrics[2].as_ref().unwrap().new.is_some(), "{flag}");
    }
    let distinct: std::collections::HashSet<u64> = polls
        .iter()
        .map(|p| {
            p.as_ref().unwrap().metrics[1]
                .as_ref()
                .unwrap()
                .legacy
                .unwrap() as u64
        })
        .collect();
    assert!(
        distinct.len() > N / 2,
        "the flags' values differ: {distinct:?}"
    );

    // Within half a refresh the fleet's answer is served again; after it, one more round.
    clock.advance(500);
    poll_all().await;
    assert_eq!(count(&counts, "/api/v1/query"), 3);
    clock.advance(1_000);
    poll_all().await;
    assert_eq!(count(&counts, "/api/v1/query"), 6);

    // History: one range query per metric for the whole fleet.
    let fills = join_all(
        wired
            .iter()
            .map(|(_, b)| b.metrics.backfill(t - 60_000, t, 2_000)),
    )
    .await;
    assert_eq!(count(&counts, "/api/v1/query_range"), 3);
    for ((rollout, _), fill) in wired.iter().zip(&fills) {
        let series = &fill.as_ref().unwrap()[1];
        let last = series.last().unwrap();
        assert_eq!(last.0, t, "{}", rollout.name);
        assert_eq!(
            last.1.legacy,
            Some(want[&(rollout.name.clone(), "off".to_owned())]),
            "{}",
            rollout.name
        );
    }
}

#[tokio::test]
async fn an_explicit_rollout_overrides_the_discovered_one() {
    let clock: Arc<dyn Clock> = Arc::new(rollwatch::clock::SystemClock);
    let server = SimServer::bind_fleet("127.0.0.1:0".parse().unwrap(), fleet(5, 1), 0, clock)
        .await
        .unwrap();
    let sim = server.local_addr().unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    let explicit = format!(
        r#"
[[rollout]]
name = "flag-002"
steps = [50, 100]
[rollout.flag]
kind = "http"
url = "http://{sim}/api/flags/flag-002"
percent_pointer = "/percent"
body_template = '{{"percent": {{{{percent}}}}}}'
[rollout.metrics]
kind = "prometheus"
url = "http://127.0.0.1:1"
legacy = ["off"]
new = ["on"]
[[rollout.metric]]
id = "errors"
kind = "ratio"
query = "x"
"#
    );
    let text = fleet_config(sim, "http://127.0.0.1:1", &explicit);
    let mut cfg = rollwatch::config::parse(Path::new("fleet.toml"), &text).unwrap();
    assert_eq!(cfg.rollouts.len(), 1);
    let notes = rollwatch::backends::discover(&mut cfg).await.unwrap();
    assert_eq!(notes, ["fleet `fleet`: 5 flags found, 4 added"]);
    let names: Vec<&str> = cfg
        .rollouts
        .iter()
        .map(|r| r.rollout.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["flag-002", "flag-000", "flag-001", "flag-003", "flag-004"]
    );
    let steps: Vec<u8> = cfg.rollouts[0]
        .rollout
        .steps
        .iter()
        .map(|s| s.percent)
        .collect();
    assert_eq!(steps, [50, 100], "the written rollout, not the template");
    assert_eq!(cfg.rollouts[1].rollout.steps.len(), 6);
    assert_eq!(cfg.rollouts[1].rollout.metrics.len(), 3);
}

#[test]
fn fleet_config_errors_say_where() {
    let base = fleet_config("127.0.0.1:9".parse().unwrap(), "http://127.0.0.1:1", "");
    let cases = [
        (
            base.replace("kind = \"prometheus\"", "kind = \"json\""),
            "fleet metrics `kind` = \"json\": expected one of prometheus",
        ),
        (
            base.replace("/api/flags/{name}", "/api/flags/one"),
            "`url` has no {name}",
        ),
        (
            base.replace(
                "sum by ($flag_label, $variant_label)(http_requests_total)",
                "sum by ($variant_label)(http_requests_total{$flag_label=\"$flag\"})",
            ),
            "a fleet's `query` answers every flag at once",
        ),
        (
            base.replace("kind = \"http\"", "kind = \"memory\""),
            "flags `kind` = \"memory\": expected one of unleash, http",
        ),
    ];
    for (text, want) in cases {
        let e = rollwatch::config::parse(Path::new("f.toml"), &text).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains(want), "{shown}");
        assert!(shown.starts_with("f.toml:"), "{shown}");
        assert!(e.line > 1, "{shown}");
    }
}
