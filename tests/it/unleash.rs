//! The Unleash backend against a real Unleash (started by `.ci/start-unleash.sh`, which
//! `scripts/test-all` runs). Each test makes its own uniquely named feature in the `default`
//! project's `development` environment. Without `ROLLWATCH_UNLEASH_URL`/`_TOKEN` the tests say
//! SKIPPED loudly, or fail when `ROLLWATCH_REQUIRE_ENGINES=1`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rollwatch::audit::AuditLog;
use rollwatch::flags::unleash::{UnleashConfig, UnleashFlag};
use rollwatch::flags::write::{WriteKind, WriteOutcome, WriteRequest, guarded_write};
use rollwatch::flags::{FlagBackend, FlagError};
use rollwatch::model::FlagSnapshot;
use rollwatch::secret::Secret;
use serde_json::{Value, json};

use crate::support::wait;

const ENV: &str = "development";

struct Engine {
    url: String,
    token: String,
}

/// The running Unleash, or `None` (SKIPPED) when none runs and none is required.
fn engine() -> Option<Engine> {
    // Straight to stderr: libtest captures eprintln! of passing tests.
    static LOUD: std::sync::Once = std::sync::Once::new();
    let url = std::env::var("ROLLWATCH_UNLEASH_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let token = std::env::var("ROLLWATCH_UNLEASH_TOKEN")
        .ok()
        .filter(|v| !v.is_empty());
    if let (Some(url), Some(token)) = (url, token) {
        Some(Engine { url, token })
    } else {
        assert!(
            std::env::var("ROLLWATCH_REQUIRE_ENGINES").as_deref() != Ok("1"),
            "ROLLWATCH_REQUIRE_ENGINES=1 but ROLLWATCH_UNLEASH_URL/ROLLWATCH_UNLEASH_TOKEN \
             are not set: start Unleash with `eval \"$(bash .ci/start-unleash.sh)\"` or run \
             scripts/test-all"
        );
        LOUD.call_once(|| {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"SKIPPED: Unleash not running (run scripts/test-all)\n",
            );
        });
        None
    }
}

/// A feature name no other test (or earlier run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "rw-{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Unleash's admin API used directly: the "other person" and the test's own setup.
struct Admin {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    fn new(e: &Engine) -> Self {
        Self {
            url: e.url.trim_end_matches('/').to_owned(),
            token: e.token.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Authorization", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, body).await;
        assert!((200..300).contains(&s), "{method} {path}: HTTP {s} {v}");
        v
    }

    /// Creates a feature with `strategies` in development and switches it on; their ids.
    async fn feature(&self, name: &str, strategies: &[Value]) -> Vec<String> {
        self.ok(
            Method::POST,
            "/api/admin/projects/default/features",
            Some(json!({"name": name, "type": "release"})),
        )
        .await;
        let mut ids = Vec::new();
        for s in strategies {
            let v = self
                .ok(Method::POST, &Self::strategies_path(name), Some(s.clone()))
                .await;
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
        self.ok(
            Method::POST,
            &format!("/api/admin/projects/default/features/{name}/environments/{ENV}/on"),
            None,
        )
        .await;
        ids
    }

    fn strategies_path(name: &str) -> String {
        format!("/api/admin/projects/default/features/{name}/environments/{ENV}/strategies")
    }

    async fn strategy(&self, name: &str, id: &str) -> Value {
        self.ok(
            Method::GET,
            &format!("{}/{id}", Self::strategies_path(name)),
            None,
        )
        .await
    }

    /// Another person sets the rollout (a plain JSON Patch, no test).
    async fn set_rollout(&self, name: &str, id: &str, percent: u8) {
        self.ok(
            Method::PATCH,
            &format!("{}/{id}", Self::strategies_path(name)),
            Some(json!([{"op": "replace", "path": "/parameters/rollout",
                         "value": percent.to_string()}])),
        )
        .await;
    }

    async fn env_enabled(&self, name: &str) -> bool {
        let f = self
            .ok(
                Method::GET,
                &format!("/api/admin/projects/default/features/{name}"),
                None,
            )
            .await;
        f["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == ENV)
            .unwrap()["enabled"]
            .as_bool()
            .unwrap()
    }
}

/// A gradual rollout with a constraint, a stickiness and a groupId that must survive writes.
fn rollout_strategy(percent: u8, group: &str) -> Value {
    json!({
        "name": "flexibleRollout",
        "parameters": {"rollout": percent.to_string(), "stickiness": "userId", "groupId": group},
        "constraints": [{"contextName": "appName", "operator": "IN",
                         "values": ["checkout", "cart"]}]
    })
}

fn config(url: &str, feature: &str) -> UnleashConfig {
    UnleashConfig {
        url: url.to_owned(),
        project: "default".into(),
        feature: feature.to_owned(),
        environment: ENV.into(),
        strategy_id: None,
        token_env: None,
        token_file: None,
        timeout_ms: 5000,
        insecure_skip_verify: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
    }
}

fn backend(e: &Engine, feature: &str) -> UnleashFlag {
    UnleashFlag::new(config(&e.url, feature), Secret::new(e.token.clone())).unwrap()
}

/// Everything but the rollout is what it was: constraints, stickiness, groupId, the rest.
fn assert_untouched(before: &Value, after: &Value) {
    let mut a = before.clone();
    let mut b = after.clone();
    a["parameters"]["rollout"] = Value::Null;
    b["parameters"]["rollout"] = Value::Null;
    assert_eq!(a, b, "the strategy changed beyond its rollout");
    assert_eq!(
        after["constraints"][0]["values"],
        json!(["checkout", "cart"])
    );
}

fn request(expected: FlagSnapshot, kind: WriteKind) -> WriteRequest {
    WriteRequest {
        rollout: "checkout".into(),
        environment: ENV.into(),
        expected,
        kind,
        reason: "operator".into(),
    }
}

#[tokio::test]
async fn reads_a_flexible_rollout_with_its_details() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);
    let name = unique("read");
    admin
        .feature(&name, &[rollout_strategy(25, "grp-read")])
        .await;
    let (proxy_url, racer) = start_racer(&e).await;
    let f = UnleashFlag::new(config(&proxy_url, &name), Secret::new(e.token.clone())).unwrap();

    let s = f.read().await.unwrap();
    assert_eq!((s.percent, s.enabled), (25, true));
    let d: std::collections::HashMap<_, _> = s.details.iter().cloned().collect();
    assert_eq!(d["stickiness"], "userId");
    assert_eq!(d["groupId"], "grp-read");
    assert_eq!(d["constraints"], "appName IN [checkout, cart]");
    assert_eq!(f.describe(), format!("unleash default/{name}@{ENV}"));

    // A second poll is answered 304 and gives the same snapshot; a change is seen at once.
    assert_eq!(f.read().await.unwrap(), s);
    assert_eq!(*racer.statuses.lock().unwrap(), vec![200, 304]);
    let id = admin.feature_strategy_id(&name).await;
    admin.set_rollout(&name, &id, 30).await;
    let moved = f.read().await.unwrap();
    assert_eq!(moved.percent, 30);
    assert_ne!(moved.version, s.version);
}

impl Admin {
    async fn feature_strategy_id(&self, name: &str) -> String {
        let v = self
            .ok(Method::GET, &Self::strategies_path(name), None)
            .await;
        v[0]["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn bump_and_roll_back_through_the_guarded_write_path() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);
    let name = unique("bump");
    let ids = admin
        .feature(&name, &[rollout_strategy(5, "grp-bump")])
        .await;
    let original = admin.strategy(&name, &ids[0]).await;
    let f = backend(&e, &name);
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));

    let seen = f.read().await.unwrap();
    let up = guarded_write(&f, &audit, request(seen, WriteKind::SetPercent(25)), false).await;
    assert_eq!(up.outcome, WriteOutcome::Ok);
    assert_eq!(up.after.as_ref().unwrap().percent, 25);
    let now = admin.strategy(&name, &ids[0]).await;
    assert_eq!(now["parameters"]["rollout"], "25");
    assert_untouched(&original, &now);

    let back = guarded_write(
        &f,
        &audit,
        request(up.after.unwrap(), WriteKind::Rollback(0)),
        false,
    )
    .await;
    assert_eq!(back.outcome, WriteOutcome::Ok);
    assert_eq!(back.attempts, 1);
    let now = admin.strategy(&name, &ids[0]).await;
    assert_eq!(now["parameters"]["rollout"], "0");
    assert_untouched(&original, &now);

    let recs = audit.read_all();
    let summary: Vec<_> = recs
        .iter()
        .map(|r| {
            (
                r.phase.as_str(),
                r.action.as_str(),
                r.expected_percent,
                r.new_value,
                r.outcome.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("intent", "set", 5, 25, None),
            ("outcome", "set", 5, 25, Some("ok")),
            ("intent", "rollback", 25, 0, None),
            ("outcome", "rollback", 25, 0, Some("ok")),
        ]
    );
    assert!(
        recs.iter()
            .all(|r| r.backend == format!("unleash default/{name}@{ENV}"))
    );
    let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(!text.contains(&e.token), "the token reached the audit log");
}

#[tokio::test]
async fn a_change_behind_our_back_is_a_conflict_and_the_other_value_stays() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);
    let name = unique("conflict");
    let ids = admin.feature(&name, &[rollout_strategy(25, "grp-c")]).await;
    let original = admin.strategy(&name, &ids[0]).await;
    let f = backend(&e, &name);

    let seen = f.read().await.unwrap();
    admin.set_rollout(&name, &ids[0], 40).await;
    let r = guarded_write(
        &f,
        &AuditLog::disabled(),
        request(seen, WriteKind::SetPercent(50)),
        false,
    )
    .await;
    assert_eq!(r.outcome, WriteOutcome::Conflict);
    assert_eq!(r.after.unwrap().percent, 40, "the fresh value is shown");
    let now = admin.strategy(&name, &ids[0]).await;
    assert_eq!(now["parameters"]["rollout"], "40");
    assert_untouched(&original, &now);
}

/// A loopback proxy in front of Unleash that, when the strategy PATCH arrives, first lets the
/// other person change the rollout: the change lands between rollwatch's re-read and its write,
/// so only Unleash's JSON Patch `test` can catch it.
struct Racer {
    target: String,
    admin: Admin,
    http: reqwest::Client,
    /// (feature, strategy id, percent) the other person sets before the next PATCH.
    before_patch: Mutex<Option<(String, String, u8)>>,
    /// Status codes Unleash answered through the proxy, in order.
    statuses: Mutex<Vec<u16>>,
}

async fn forward(
    State(p): State<Arc<Racer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::PATCH {
        let race = p.before_patch.lock().unwrap().take();
        if let Some((feature, id, percent)) = race {
            p.admin.set_rollout(&feature, &id, percent).await;
        }
    }
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut req = p
        .http
        .request(method, format!("{}{path}", p.target))
        .body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(resp) => {
            p.statuses.lock().unwrap().push(resp.status().as_u16());
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let etag = resp.headers().get("etag").cloned();
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut out = (status, bytes).into_response();
            if let Some(t) = etag {
                out.headers_mut().insert("etag", t);
            }
            out
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

async fn start_racer(e: &Engine) -> (String, Arc<Racer>) {
    let racer = Arc::new(Racer {
        target: e.url.trim_end_matches('/').to_owned(),
        admin: Admin::new(e),
        http: reqwest::Client::new(),
        before_patch: Mutex::new(None),
        statuses: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(racer.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), racer)
}

#[tokio::test]
async fn a_change_between_the_re_read_and_the_patch_is_caught_by_unleash() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);
    let name = unique("race");
    let ids = admin
        .feature(&name, &[rollout_strategy(25, "grp-race")])
        .await;
    let original = admin.strategy(&name, &ids[0]).await;
    let (proxy_url, racer) = start_racer(&e).await;
    let f = UnleashFlag::new(config(&proxy_url, &name), Secret::new(e.token.clone())).unwrap();

    let seen = f.read().await.unwrap();
    *racer.before_patch.lock().unwrap() = Some((name.clone(), ids[0].clone(), 40));
    let err = f.compare_and_set(&seen, 50).await.unwrap_err();
    assert!(
        racer.before_patch.lock().unwrap().is_none(),
        "the race did run"
    );
    match err {
        FlagError::Conflict { current } => assert_eq!(current.unwrap().percent, 40),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let now = admin.strategy(&name, &ids[0]).await;
    assert_eq!(
        now["parameters"]["rollout"], "40",
        "the other person's value stays"
    );
    assert_untouched(&original, &now);
}

#[tokio::test]
async fn the_kill_switch_turns_off_and_refuses_when_the_flag_moved() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);
    let name = unique("kill");
    let ids = admin.feature(&name, &[rollout_strategy(25, "grp-k")]).await;
    let f = backend(&e, &name);

    let seen = f.read().await.unwrap();
    admin.set_rollout(&name, &ids[0], 30).await;
    assert!(matches!(
        f.set_enabled(&seen, false).await,
        Err(FlagError::Conflict { current: Some(c) }) if c.percent == 30
    ));
    assert!(admin.env_enabled(&name).await, "nothing was switched");

    let seen = f.read().await.unwrap();
    let r = guarded_write(
        &f,
        &AuditLog::disabled(),
        request(seen, WriteKind::SetEnabled(false)),
        false,
    )
    .await;
    assert_eq!(r.outcome, WriteOutcome::Ok);
    assert!(!r.after.unwrap().enabled);
    assert!(!admin.env_enabled(&name).await);
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_never_echoed() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);
    let name = unique("token");
    admin.feature(&name, &[rollout_strategy(25, "grp-t")]).await;
    let bad = "*:*.not-the-right-token-4711";
    let f = UnleashFlag::new(config(&e.url, &name), Secret::new(bad)).unwrap();
    let err = f.read().await.unwrap_err();
    assert_eq!(err, FlagError::Unauthorized);
    assert!(err.to_string().contains("401"));
    let seen = FlagSnapshot::new(25, true);
    let err = f.compare_and_set(&seen, 50).await.unwrap_err();
    assert_eq!(err, FlagError::Unauthorized);
    assert!(!format!("{err} {err:?} {f:?}").contains("not-the-right-token"));
}

#[tokio::test]
async fn a_missing_feature_or_environment_is_not_found_by_name() {
    let Some(e) = engine() else { return };
    let missing = unique("missing");
    let err = backend(&e, &missing).read().await.unwrap_err();
    assert!(
        matches!(&err, FlagError::NotFound(m) if m.contains(&missing) && m.contains("default")),
        "{err:?}"
    );

    let admin = Admin::new(&e);
    let name = unique("noenv");
    admin.feature(&name, &[rollout_strategy(25, "grp-n")]).await;
    let mut c = config(&e.url, &name);
    c.environment = "staging-nope".into();
    let err = UnleashFlag::new(c, Secret::new(e.token.clone()))
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FlagError::NotFound(m) if m.contains("staging-nope") && m.contains(ENV)),
        "{err:?}"
    );
}

#[tokio::test]
async fn events_come_from_unleash_with_before_and_after() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);
    let name = unique("events");
    admin.feature(&name, &[rollout_strategy(5, "grp-e")]).await;
    let f = backend(&e, &name);
    let seen = f.read().await.unwrap();
    f.compare_and_set(&seen, 25).await.unwrap();

    let found = wait::until_async(
        "a strategy update event",
        Duration::from_secs(15),
        Duration::from_millis(100),
        || async {
            let events = f.events().await.unwrap();
            events
                .iter()
                .find(|ev| ev.kind == "feature-strategy-update" && ev.after == Some(25))
                .cloned()
                .ok_or_else(|| format!("{events:?}"))
        },
    )
    .await;
    assert_eq!(found.before, Some(5));
    assert_eq!(
        found.author, "rollwatch-tests",
        "the token's name in Unleash"
    );
    assert!(found.at_ms > 1_700_000_000_000);
}

#[tokio::test]
async fn zero_or_several_rollout_strategies_are_misconfigured_and_listed() {
    let Some(e) = engine() else { return };
    let admin = Admin::new(&e);

    let none = unique("none");
    let ids = admin
        .feature(&none, &[json!({"name": "default", "parameters": {}})])
        .await;
    let err = backend(&e, &none).read().await.unwrap_err();
    assert!(
        matches!(&err, FlagError::Misconfigured(m) if m.contains(&format!("default id={}", ids[0]))),
        "{err:?}"
    );

    let two = unique("two");
    let ids = admin
        .feature(
            &two,
            &[rollout_strategy(10, "g1"), rollout_strategy(20, "g2")],
        )
        .await;
    let err = backend(&e, &two).read().await.unwrap_err();
    let FlagError::Misconfigured(m) = &err else {
        panic!("expected Misconfigured, got {err:?}")
    };
    assert!(m.contains(&format!("id={} rollout=10", ids[0])), "{m}");
    assert!(m.contains(&format!("id={} rollout=20", ids[1])), "{m}");

    // Naming one strategy resolves it, and writes touch only that one.
    let mut c = config(&e.url, &two);
    c.strategy_id = Some(ids[1].clone());
    let f = UnleashFlag::new(c, Secret::new(e.token.clone())).unwrap();
    let seen = f.read().await.unwrap();
    assert_eq!(seen.percent, 20);
    f.compare_and_set(&seen, 30).await.unwrap();
    assert_eq!(
        admin.strategy(&two, &ids[1]).await["parameters"]["rollout"],
        "30"
    );
    assert_eq!(
        admin.strategy(&two, &ids[0]).await["parameters"]["rollout"],
        "10"
    );
}

use crate::support::tmux;

/// End to end as an operator: `rollwatch watch` on an Unleash config in tmux, `+` `y`, and
/// the new percentage read back from Unleash's own API; the constraints survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_in_tmux_bumps_the_real_flag() {
    let Some(e) = engine() else { return };
    if !tmux::available() {
        return;
    }
    let admin = Admin::new(&e);
    let name = unique("e2e");
    let ids = admin.feature(&name, &[rollout_strategy(5, &name)]).await;
    let before = admin.strategy(&name, &ids[0]).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("unleash.toml");
    // The example config, pointed at this Unleash and this test's feature.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/unleash.toml"
    ))
    .unwrap();
    // Metrics from a port nobody listens on: this test is about the flag, and a Prometheus
    // that happens to run on 9090 must not influence it (a firing rule would block `+`).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = example
        .replace("http://127.0.0.1:9090", &format!("http://{closed}"))
        .replace("http://127.0.0.1:4242", &e.url)
        .replace(
            "feature = \"new-checkout\"",
            &format!("feature = \"{name}\""),
        )
        .replace(
            "token_env = \"UNLEASH_TOKEN\"",
            "token_env = \"RW_E2E_UNLEASH_TOKEN\"",
        );
    assert_ne!(text, example);
    std::fs::write(&cfg, text).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "LANG=C.UTF-8 RW_E2E_UNLEASH_TOKEN='{}' {} watch --config {} --audit-log {}; echo EXITED:$?; sleep 600",
        e.token,
        env!("CARGO_BIN_EXE_rollwatch"),
        cfg.display(),
        audit.display()
    );
    let wait = Duration::from_secs(20);
    let t = tokio::task::spawn_blocking(move || {
        let t = tmux::Tmux::start("unleash", 120, 40, &cmd);
        let flag = |s: &str| {
            s.lines()
                .find(|l| l.contains("│ steps "))
                .unwrap_or_default()
                .to_owned()
        };
        t.wait_for("the flag at 5%", wait, |s| flag(s).contains("  5% "));
        // Metrics are unreachable: `+` is blocked, naming why; `!` forces with the warning.
        t.keys(&["+"]);
        let s = t.wait_for("the blocked message", wait, |s| {
            s.contains("next step blocked")
        });
        assert!(!s.contains("Confirm flag change"), "{s}");
        t.keys(&["!"]);
        let s = t.wait_for("the confirm dialog", wait, |s| {
            s.contains("Confirm flag change")
        });
        assert!(s.contains("5% → 25%") && s.contains("development"), "{s}");
        assert!(s.contains("FORCING"), "the dialog warns:\n{s}");
        // What will not change is shown: the strategy's constraints and stickiness.
        assert!(
            s.contains("Unchanged:") && s.contains("appName") && s.contains("userId"),
            "{s}"
        );
        t.keys(&["y"]);
        let s = t.wait_for("the flag at 25%", wait, |s| flag(s).contains(" 25% "));
        assert!(s.contains("done: set 5% → 25%"), "{s}");
        t
    })
    .await
    .unwrap();
    let after = admin.strategy(&name, &ids[0]).await;
    assert_eq!(
        after["parameters"]["rollout"], "25",
        "Unleash holds the new value"
    );
    assert_untouched(&before, &after);
    let screen = t.screen();
    assert!(
        !screen.contains(&e.token),
        "the token never reaches the screen"
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(!log.contains(&e.token), "nor the audit log");
    assert_eq!(log.lines().count(), 2, "intent and outcome:\n{log}");
    tokio::task::spawn_blocking(move || {
        t.keys(&["q"]);
        t.wait_for("exit", Duration::from_secs(10), |s| s.contains("EXITED:0"));
    })
    .await
    .unwrap();
}

use crate::support::fault_server;

/// The events pane's row of a backend event: the line naming the change `from% → to%`.
fn event_row(screen: &str, from: u8, to: u8) -> Option<String> {
    let change = format!("{from}% → {to}%");
    screen
        .lines()
        .find(|l| l.contains("feature-strategy-update") && l.contains(&change))
        .map(str::to_owned)
}

/// rollwatch's own write, as Unleash records it in its change history, is recognised in the
/// events pane as "this session" (matched by value and time), while another person's change
/// made meanwhile is marked NEW. The binary is the tmux pane's own process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn own_writes_show_as_this_session_and_others_as_new() {
    let Some(e) = engine() else { return };
    if !tmux::available() {
        return;
    }
    let admin = Admin::new(&e);
    let name = unique("own");
    let ids = admin.feature(&name, &[rollout_strategy(5, &name)]).await;
    // Healthy metrics, so nothing stands in the way of `+`.
    let prom = fault_server::FaultServer::start(5).await;
    prom.set_values(0.001, 0.001);

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("unleash.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"refresh = "1s"

[[rollout]]
name = "own-writes"
steps = [5, 25, 50]

[rollout.flag]
kind = "unleash"
url = "{url}"
feature = "{name}"
environment = "{ENV}"
token_env = "RW_E2E_UNLEASH_TOKEN"

[rollout.metrics]
kind = "prometheus"
url = "{prom}"
legacy = ["legacy"]
new = ["new"]

[[rollout.metric]]
id = "error_rate"
label = "Error rate"
kind = "ratio"
query = 'sum by (cohort)(rate(errors_total[1m]))'
scale = 100

[[rollout.rule]]
name = "new-error-rate"
metric = "error_rate"
when = "new > 5%"
severity = "critical"
action = "rollback"
"#,
            url = e.url,
            prom = prom.url,
        ),
    )
    .unwrap();
    let cmd = format!(
        "exec env LANG=C.UTF-8 RW_E2E_UNLEASH_TOKEN='{}' XDG_STATE_HOME={} {} watch --config {} --audit-log {}",
        e.token,
        dir.path().display(),
        env!("CARGO_BIN_EXE_rollwatch"),
        cfg.display(),
        dir.path().join("audit.jsonl").display()
    );
    let wait = Duration::from_secs(20);
    let t = tokio::task::spawn_blocking(move || {
        let t = tmux::Tmux::start("own-writes", 150, 50, &cmd);
        let flag = |s: &str| {
            s.lines()
                .find(|l| l.contains("│ steps "))
                .unwrap_or_default()
                .to_owned()
        };
        // The flag read and every rule evaluated: before that `+` is rightly blocked by rules
        // that cannot be evaluated yet.
        t.wait_for("the flag at 5% and the rules evaluated", wait, |s| {
            let verdict = s.lines().next().unwrap_or_default();
            flag(s).contains("  5% ")
                && !verdict.contains("UNKNOWN")
                && !verdict.contains("waiting")
                && !verdict.contains("DATA LOST")
        });
        t.keys(&["+"]);
        t.wait_for("the confirm dialog", wait, |s| s.contains("5% → 25%"));
        t.keys(&["y"]);
        t.wait_for("the write done", wait, |s| s.contains("done: set 5% → 25%"));
        let s = t.wait_for("Unleash's event of our write", wait, |s| {
            event_row(s, 5, 25).is_some()
        });
        let row = event_row(&s, 5, 25).unwrap();
        assert!(
            row.contains("this session") && !row.contains("NEW"),
            "our own write is not a stranger's: {row}\n{s}"
        );
        t
    })
    .await
    .unwrap();

    // Another person moves it: that one is NEW, ours stays "this session".
    admin.set_rollout(&name, &ids[0], 30).await;
    let t = tokio::task::spawn_blocking(move || {
        let s = t.wait_for("the stranger's event", wait, |s| {
            event_row(s, 25, 30).is_some()
        });
        let theirs = event_row(&s, 25, 30).unwrap();
        assert!(
            theirs.contains("NEW while watching") && !theirs.contains("this session"),
            "{theirs}\n{s}"
        );
        let ours = event_row(&s, 5, 25).unwrap();
        assert!(ours.contains("this session"), "{ours}\n{s}");
        t
    })
    .await
    .unwrap();
    drop(t);
}
