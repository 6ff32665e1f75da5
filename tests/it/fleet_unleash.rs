//! A fleet discovered from a real Unleash (started by `.ci/start-unleash.sh`): twelve features
//! with a gradual rollout (and constraints) in the non-default `production` environment are
//! found; a feature without a gradual rollout there, one whose gradual rollout is in another
//! environment and an archived one are not. Each discovered rollout reads its own feature.
//! Without `ROLLWATCH_UNLEASH_URL`/`_TOKEN` the test says SKIPPED loudly, or fails when
//! `ROLLWATCH_REQUIRE_ENGINES=1`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use rollwatch::clock::{Clock, SystemClock};
use serde_json::{Value, json};

pub(crate) const ENV: &str = "production";

pub(crate) fn engine() -> Option<(String, String)> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(url), Some(token)) = (get("ROLLWATCH_UNLEASH_URL"), get("ROLLWATCH_UNLEASH_TOKEN"))
    {
        return Some((url.trim_end_matches('/').to_owned(), token));
    }
    assert!(
        std::env::var("ROLLWATCH_REQUIRE_ENGINES").as_deref() != Ok("1"),
        "ROLLWATCH_REQUIRE_ENGINES=1 but ROLLWATCH_UNLEASH_URL/_TOKEN are not set"
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"SKIPPED: Unleash not running (run scripts/test-all)\n",
    );
    None
}

pub(crate) struct Admin {
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) http: reqwest::Client,
}

impl Admin {
    pub(crate) async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .header("Authorization", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub(crate) async fn feature(&self, name: &str, env: &str, strategy: Value) {
        let p = "/api/admin/projects/default/features";
        self.ok(
            Method::POST,
            p,
            Some(json!({"name": name, "type": "release"})),
        )
        .await;
        self.ok(
            Method::POST,
            &format!("{p}/{name}/environments/{env}/strategies"),
            Some(strategy),
        )
        .await;
    }

    /// Archives and deletes a feature (best effort: the test's verdict is already made).
    pub(crate) async fn remove(&self, name: &str) {
        for (m, p) in [
            (
                Method::DELETE,
                format!("/api/admin/projects/default/features/{name}"),
            ),
            (Method::DELETE, format!("/api/admin/archive/{name}")),
        ] {
            let _ = self
                .http
                .request(m, format!("{}{p}", self.url))
                .header("Authorization", &self.token)
                .send()
                .await;
        }
    }
}

pub(crate) fn gradual(percent: u8) -> Value {
    json!({
        "name": "flexibleRollout",
        "parameters": {"rollout": percent.to_string(), "stickiness": "default", "groupId": "fleet"},
        "constraints": [{"contextName": "appName", "operator": "IN", "values": ["checkout"]}]
    })
}

pub(crate) fn config(url: &str) -> String {
    format!(
        r#"refresh = "5s"
[[fleet]]
name = "unleash-{ENV}"
steps = [5, 25, 50, 100]

[fleet.flags]
kind = "unleash"
url = "{url}"
project = "default"
environment = "{ENV}"
token_env = "ROLLWATCH_UNLEASH_TOKEN"

[fleet.metrics]
kind = "prometheus"
url = "http://127.0.0.1:1"

[[fleet.metric]]
id = "errors"
kind = "ratio"
query = 'sum by ($flag_label, $variant_label)(rate(errors_total[1m]))'
"#
    )
}

#[tokio::test]
async fn twelve_gradual_rollouts_in_production_are_discovered_and_read() {
    let Some((url, token)) = engine() else {
        return;
    };
    let admin = Admin {
        url: url.clone(),
        token,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    };
    let tag = format!(
        "rw-fleet-{}-{}",
        std::process::id(),
        SystemClock.now_ms() % 1_000_000
    );
    let wanted: Vec<String> = (0..12).map(|i| format!("{tag}-{i:02}")).collect();
    for (i, name) in wanted.iter().enumerate() {
        admin
            .feature(name, ENV, gradual(u8::try_from(i * 5).unwrap()))
            .await;
    }
    let plain = format!("{tag}-plain");
    admin
        .feature(
            &plain,
            ENV,
            json!({"name": "default", "parameters": {}, "constraints": []}),
        )
        .await;
    let elsewhere = format!("{tag}-dev-only");
    admin.feature(&elsewhere, "development", gradual(10)).await;
    let archived = format!("{tag}-archived");
    admin.feature(&archived, ENV, gradual(10)).await;
    admin
        .ok(
            Method::DELETE,
            &format!("/api/admin/projects/default/features/{archived}"),
            None,
        )
        .await;

    let mut cfg = rollwatch::config::parse(Path::new("u.toml"), &config(&url)).unwrap();
    let notes = rollwatch::backends::discover(&mut cfg).await;
    let names: Vec<String> = cfg
        .rollouts
        .iter()
        .map(|r| r.rollout.name.clone())
        .collect();
    let ours: Vec<&String> = names.iter().filter(|n| n.starts_with(&tag)).collect();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let wired = rollwatch::backends::wire(&cfg, &clock);
    let mut reads = Vec::new();
    if let Ok(wired) = &wired {
        for (r, b) in wired.iter().filter(|(r, _)| r.name.starts_with(&tag)) {
            reads.push((r.clone(), b.flag.read().await));
        }
    }
    for n in wanted.iter().chain([&plain, &elsewhere, &archived]) {
        admin.remove(n).await;
    }

    notes.unwrap();
    let mut sorted = ours.clone();
    sorted.sort();
    assert_eq!(sorted, wanted.iter().collect::<Vec<_>>(), "{names:?}");
    assert_eq!(reads.len(), 12);
    for (rollout, read) in reads {
        let snap = read.unwrap();
        let i: usize = rollout.name[tag.len() + 1..].parse().unwrap();
        assert_eq!(usize::from(snap.percent), i * 5, "{}", rollout.name);
        assert_eq!(rollout.environment, ENV);
        assert_eq!(rollout.steps.len(), 4);
        let constraints = snap
            .details
            .iter()
            .find(|(k, _)| k == "constraints")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(constraints.contains("checkout"), "{:?}", snap.details);
    }
}
