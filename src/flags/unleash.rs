//! The Unleash flag backend (checked against Unleash 7.5.1): the rollout percentage is the
//! `rollout` parameter of one `flexibleRollout` strategy in one environment of one feature.
//!
//! - **Read**: `GET /api/admin/projects/{p}/features/{f}`, polled with `If-None-Match` (a 304
//!   returns the cached snapshot). Stickiness, groupId, constraints, segments and other
//!   strategies go to [`FlagSnapshot::details`]: shown, never written.
//! - **Version**: `s:` + a 64-bit FNV-1a hash of the environment's `enabled` flag and its whole
//!   strategy list as Unleash returns it. It changes when anything the operator's decision rests
//!   on changes (rollout, constraints, stickiness, an added strategy, the switch) and not when
//!   unrelated parts of the feature do (other environments, `lastSeenAt`), which the ETag of the
//!   whole document would. The ETag is used only for cheap polling.
//! - **"The value the operator saw"** is the whole snapshot: percent, enabled and version. A
//!   write first re-reads and refuses with a conflict when any of them moved, then sends a JSON
//!   Patch whose `test` operation makes Unleash refuse the write when the rollout moved in the
//!   meantime (HTTP 500 `TEST_OPERATION_FAILED`, mapped to a conflict). Only
//!   `/parameters/rollout` is ever replaced; the strategy is never PUT, because a PUT replaces
//!   the whole strategy and wipes its constraints. Unleash itself reads and updates the
//!   strategy in two steps, so a conflicting write landing inside its own request is beyond any
//!   client.
//! - **Kill switch**: `POST .../environments/{env}/on|off` has no compare-and-set in Unleash;
//!   rollwatch re-reads immediately before and refuses when the flag moved.
//! - **Events**: `GET /api/admin/search/events?feature=IS:<name>`, filtered to this
//!   environment; before/after from the events' `preData`/`data` rollout parameters.
//!
//! The token goes in `Authorization: <token>` (admin `*:*.…` and personal `user:…` tokens
//! alike), marked sensitive, and is redacted from every error text.

use std::fmt::Write as _;
use std::sync::Mutex;

use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderValue, IF_NONE_MATCH};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::json;
use super::registry::{self, BuiltFlag, FlagSpec, Kind};
use super::{FlagBackend, FlagError, FlagEvent};
use crate::model::FlagSnapshot;
use crate::net::{Answer, Auth, AuthKeys, Endpoint, policy};
use crate::secret::Secret;

/// How many events one `events()` call asks for.
pub const EVENT_LIMIT: usize = 50;

/// The strategy name of a gradual rollout.
pub const FLEXIBLE_ROLLOUT: &str = "flexibleRollout";

crate::net::endpoint_config! {
    /// Where a rollout lives in Unleash and how to reach it.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct UnleashConfig {
        /// Base URL of the Unleash server, e.g. `https://unleash.example.com` (a path prefix such
        /// as `/unleash` is kept).
        pub url: String,
        /// The Unleash project holding the feature.
        #[serde(default = "default_project")]
        pub project: String,
        /// The feature (flag) name.
        pub feature: String,
        /// The environment whose rollout is watched and steered, e.g. `production`.
        pub environment: String,
        /// The id of the `flexibleRollout` strategy to steer. Without it the environment must have
        /// exactly one `flexibleRollout` strategy.
        #[serde(default)]
        pub strategy_id: Option<String>,
        /// Total deadline per request in milliseconds (at most 5000; connect at most 2000).
        #[serde(default = "default_timeout_ms")]
        pub timeout_ms: u64,
    }
}

fn default_project() -> String {
    "default".into()
}

fn default_timeout_ms() -> u64 {
    policy::MAX_TIMEOUT_MS
}

impl UnleashConfig {
    /// The credential keys: a token is required (`Authorization: <token>`).
    #[must_use]
    pub fn auth_keys(&self) -> AuthKeys<'_> {
        AuthKeys {
            token_required: true,
            ..AuthKeys::token(self.token_env.as_deref(), self.token_file.as_deref())
        }
    }
}

/// The registry line of `kind = "unleash"`.
pub const KIND: Kind = Kind {
    name: "unleash",
    parse: registry::deserialize::<UnleashConfig>,
};

impl FlagSpec for UnleashConfig {
    fn environment(&self) -> Option<&str> {
        Some(&self.environment)
    }

    fn insecure_tls(&self) -> bool {
        self.insecure_skip_verify
    }

    fn check(&self) -> Result<(), String> {
        self.auth_keys().check().map_err(|e| e.to_string())?;
        UnleashFlag::new(self.clone(), Secret::new("placeholder"))
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn build(&self, _rollout: &str) -> Result<BuiltFlag, String> {
        let token = match self.auth_keys().resolve() {
            Ok(Auth::Bearer(t)) => t,
            Ok(_) => return Err("set `token_env` or `token_file`".into()),
            Err(e) => return Err(e.to_string()),
        };
        let f = UnleashFlag::new(self.clone(), token).map_err(|e| e.to_string())?;
        Ok(BuiltFlag::remote(f))
    }
}

/// The last good read, for `If-None-Match` polling.
#[derive(Debug, Clone)]
struct Cached {
    etag: String,
    read: Parsed,
}

/// A read of the feature: the snapshot and the id of the strategy it came from.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    snapshot: FlagSnapshot,
    strategy_id: String,
}

/// A flag in Unleash. Cheap to share (`Arc`) across tasks.
#[derive(Debug)]
pub struct UnleashFlag {
    config: UnleashConfig,
    base: Url,
    endpoint: Endpoint,
    cache: Mutex<Option<Cached>>,
}

impl UnleashFlag {
    /// A backend for `config` with the resolved `token`.
    ///
    /// # Errors
    /// `Misconfigured` when the URL is unusable, a name is empty or the token cannot be sent.
    pub fn new(config: UnleashConfig, token: Secret) -> Result<Self, FlagError> {
        let endpoint = config
            .endpoint_keys()
            .endpoint(Auth::Raw(token), policy::MAX_TIMEOUT)?;
        let mut base = endpoint.url.clone();
        base.set_query(None);
        base.set_fragment(None);
        for (name, v) in [
            ("project", &config.project),
            ("feature", &config.feature),
            ("environment", &config.environment),
        ] {
            if v.trim().is_empty() {
                return Err(FlagError::Misconfigured(format!("unleash {name} is empty")));
            }
        }
        Ok(Self {
            config,
            base,
            endpoint,
            cache: Mutex::new(None),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The base URL with `segments` appended (each one percent-encoded).
    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty();
            p.extend(segments);
        }
        u
    }

    fn feature_url(&self, rest: &[&str]) -> Url {
        let c = &self.config;
        let mut segs = vec![
            "api",
            "admin",
            "projects",
            c.project.as_str(),
            "features",
            c.feature.as_str(),
        ];
        segs.extend_from_slice(rest);
        self.url(&segs)
    }

    fn where_(&self) -> String {
        let c = &self.config;
        format!(
            "feature {:?} in project {:?}, environment {:?}",
            c.feature, c.project, c.environment
        )
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, FlagError> {
        Ok(self.endpoint.send(req).await?)
    }

    /// Unleash's own error message from an error answer, redacted and cut short.
    fn unleash_says(&self, ans: &Answer) -> String {
        let msg = serde_json::from_slice::<Value>(&ans.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned));
        match msg {
            Some(m) => self.endpoint.snippet(m.as_bytes()),
            None => self.endpoint.snippet(&ans.body),
        }
    }

    /// Maps an error status to a typed error. `write` chooses the 403 wording.
    fn status_error(&self, ans: &Answer, write: bool) -> FlagError {
        let says = self.unleash_says(ans);
        match ans.status {
            StatusCode::UNAUTHORIZED => FlagError::Unauthorized,
            StatusCode::FORBIDDEN if write => FlagError::Forbidden(format!(
                "Unleash refused the change to {}: change requests may be required for this \
                 environment, or the token lacks permission to change it (Unleash said: {says})",
                self.where_()
            )),
            StatusCode::FORBIDDEN => FlagError::Forbidden(format!(
                "the token may not read {} (Unleash said: {says})",
                self.where_()
            )),
            StatusCode::NOT_FOUND => FlagError::NotFound(format!(
                "{} at {} (Unleash said: {says})",
                self.where_(),
                self.base
            )),
            s => FlagError::Protocol(format!("Unleash answered HTTP {}: {says}", s.as_u16())),
        }
    }

    /// Reads the feature; `conditional` sends `If-None-Match` and serves a 304 from the cache.
    async fn fetch(&self, conditional: bool) -> Result<Parsed, FlagError> {
        let cached = if conditional {
            self.cache().clone()
        } else {
            None
        };
        let mut req = self.endpoint.request(Method::GET, self.feature_url(&[]));
        if let Some(c) = &cached
            && let Ok(v) = HeaderValue::from_str(&c.etag)
        {
            req = req.header(IF_NONE_MATCH, v);
        }
        let ans = self.send(req).await?;
        if ans.status == StatusCode::NOT_MODIFIED
            && let Some(c) = cached
        {
            return Ok(c.read);
        }
        if !ans.status.is_success() {
            return Err(self.status_error(&ans, false));
        }
        let doc = json(&ans, "Unleash feature")?;
        let read = parse_feature(&doc, &self.config)?;
        *self.cache() = ans.etag.map(|etag| Cached {
            etag,
            read: read.clone(),
        });
        Ok(read)
    }

    /// Re-reads and refuses with a conflict when the flag moved from `expected`.
    async fn fresh_matching(&self, expected: &FlagSnapshot) -> Result<Parsed, FlagError> {
        let fresh = self.fetch(false).await?;
        let s = &fresh.snapshot;
        if s.percent != expected.percent
            || s.enabled != expected.enabled
            || (expected.version.is_some() && s.version != expected.version)
        {
            return Err(FlagError::Conflict {
                current: Some(fresh.snapshot),
            });
        }
        Ok(fresh)
    }

    async fn cas(&self, expected: &FlagSnapshot, percent: u8) -> Result<(), FlagError> {
        let fresh = self.fresh_matching(expected).await?;
        let patch = json!([
            {"op": "test", "path": "/parameters/rollout", "value": expected.percent.to_string()},
            {"op": "replace", "path": "/parameters/rollout", "value": percent.min(100).to_string()},
        ]);
        let url = self.feature_url(&[
            "environments",
            &self.config.environment,
            "strategies",
            &fresh.strategy_id,
        ]);
        let req = self
            .endpoint
            .request(Method::PATCH, url)
            .header(CONTENT_TYPE, "application/json")
            .body(patch.to_string());
        let ans = self.send(req).await;
        *self.cache() = None;
        let ans = ans?;
        if ans.status.is_success() {
            return Ok(());
        }
        if String::from_utf8_lossy(&ans.body).contains("TEST_OPERATION_FAILED") {
            // Unleash's answer to a failed JSON Patch `test`: the rollout moved; nothing changed.
            return Err(FlagError::Conflict {
                current: self.fetch(false).await.ok().map(|p| p.snapshot),
            });
        }
        Err(self.status_error(&ans, true))
    }

    async fn switch(&self, expected: &FlagSnapshot, enabled: bool) -> Result<(), FlagError> {
        self.fresh_matching(expected).await?;
        let url = self.feature_url(&[
            "environments",
            &self.config.environment,
            if enabled { "on" } else { "off" },
        ]);
        let ans = self.send(self.endpoint.request(Method::POST, url)).await;
        *self.cache() = None;
        let ans = ans?;
        if ans.status.is_success() {
            Ok(())
        } else {
            Err(self.status_error(&ans, true))
        }
    }

    async fn fetch_events(&self) -> Result<Vec<FlagEvent>, FlagError> {
        let mut url = self.url(&["api", "admin", "search", "events"]);
        url.query_pairs_mut()
            .append_pair("feature", &format!("IS:{}", self.config.feature))
            .append_pair("limit", &EVENT_LIMIT.to_string());
        let ans = self.send(self.endpoint.request(Method::GET, url)).await?;
        if !ans.status.is_success() {
            return Err(self.status_error(&ans, false));
        }
        let doc = json(&ans, "Unleash events")?;
        let strategy = self.cache().as_ref().map(|c| c.read.strategy_id.clone());
        parse_events(&doc, &self.config.environment, strategy.as_deref())
    }
}

/// 64-bit FNV-1a: a stable hash (the standard library's may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A strategy's rollout parameter, as text, when present.
fn rollout_text(strategy: &Value) -> Option<String> {
    match strategy.pointer("/parameters/rollout")? {
        Value::String(s) => Some(s.clone()),
        v @ Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

/// A rollout parameter as a percentage: only the canonical strings "0".."100" (what rollwatch
/// writes and what the JSON Patch `test` compares against).
fn canonical_percent(text: &str) -> Option<u8> {
    text.parse::<u8>()
        .ok()
        .filter(|p| *p <= 100 && p.to_string() == text)
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(v) => v.to_string(),
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// One line per strategy, for messages: `flexibleRollout id=… rollout=25`.
fn describe_strategies(list: &[Value]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(|s| {
            let mut d = format!("{} id={}", text_of(s.get("name")), text_of(s.get("id")));
            if let Some(r) = rollout_text(s) {
                let _ = write!(d, " rollout={r}");
            }
            d
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `userId IN [a, b]; appName NOT_IN [x]`.
fn describe_constraints(v: Option<&Value>) -> String {
    let Some(Value::Array(list)) = v else {
        return "none".into();
    };
    if list.is_empty() {
        return "none".into();
    }
    let text = list
        .iter()
        .map(|c| {
            let values = match c.get("values") {
                Some(Value::Array(vs)) => vs
                    .iter()
                    .map(|v| text_of(Some(v)))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => text_of(c.get("value")),
            };
            let not = if c.get("inverted") == Some(&Value::Bool(true)) {
                "NOT "
            } else {
                ""
            };
            format!(
                "{} {not}{} [{values}]",
                text_of(c.get("contextName")),
                text_of(c.get("operator"))
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    cut(&text, 200)
}

/// The detail lines shown for the chosen strategy and the others beside it.
fn strategy_details(
    strategy: &Value,
    strategy_id: &str,
    strategies: &[Value],
) -> Vec<(String, String)> {
    let mut details = vec![
        (
            "strategy".to_owned(),
            format!("{FLEXIBLE_ROLLOUT} {strategy_id}"),
        ),
        (
            "stickiness".to_owned(),
            text_of(strategy.pointer("/parameters/stickiness")),
        ),
        (
            "groupId".to_owned(),
            cut(&text_of(strategy.pointer("/parameters/groupId")), 80),
        ),
        (
            "constraints".to_owned(),
            describe_constraints(strategy.get("constraints")),
        ),
    ];
    if let Some(Value::Array(seg)) = strategy.get("segments")
        && !seg.is_empty()
    {
        let ids: Vec<String> = seg.iter().map(|s| text_of(Some(s))).collect();
        details.push(("segments".into(), cut(&ids.join(", "), 80)));
    }
    if strategy.get("disabled") == Some(&Value::Bool(true)) {
        details.push(("strategy disabled".into(), "yes: it serves no one".into()));
    }
    let others: Vec<Value> = strategies
        .iter()
        .filter(|s| s.get("id").and_then(Value::as_str) != Some(strategy_id))
        .cloned()
        .collect();
    if !others.is_empty() {
        details.push((
            "other strategies".into(),
            cut(&describe_strategies(&others), 200),
        ));
    }
    details
}

/// Reads the snapshot out of a feature document (pure: unit-tested on odd bodies).
fn parse_feature(doc: &Value, cfg: &UnleashConfig) -> Result<Parsed, FlagError> {
    let envs = doc
        .get("environments")
        .and_then(Value::as_array)
        .ok_or_else(|| FlagError::Protocol("the feature has no environments list".into()))?;
    let env = envs
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(cfg.environment.as_str()))
        .ok_or_else(|| {
            let names: Vec<String> = envs.iter().map(|e| text_of(e.get("name"))).collect();
            FlagError::NotFound(format!(
                "environment {:?} of feature {:?} in project {:?} (it has: {})",
                cfg.environment,
                cfg.feature,
                cfg.project,
                cut(&names.join(", "), 200)
            ))
        })?;
    let enabled = env
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| FlagError::Protocol("the environment has no enabled flag".into()))?;
    let empty = Vec::new();
    let strategies = match env.get("strategies") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(FlagError::Protocol("strategies is not a list".into())),
    };
    let chosen: Vec<&Value> = match &cfg.strategy_id {
        Some(id) => strategies
            .iter()
            .filter(|s| s.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .collect(),
        None => strategies
            .iter()
            .filter(|s| s.get("name").and_then(Value::as_str) == Some(FLEXIBLE_ROLLOUT))
            .collect(),
    };
    let [strategy] = chosen.as_slice() else {
        let wanted = cfg.strategy_id.as_ref().map_or_else(
            || format!("exactly one {FLEXIBLE_ROLLOUT} strategy"),
            |id| format!("the strategy with id {id:?}"),
        );
        return Err(FlagError::Misconfigured(format!(
            "{} of feature {:?} (project {:?}) needs {wanted}; found: {}{}",
            cfg.environment,
            cfg.feature,
            cfg.project,
            cut(&describe_strategies(strategies), 400),
            if cfg.strategy_id.is_none() && chosen.len() > 1 {
                " (set strategy_id to pick one)"
            } else {
                ""
            }
        )));
    };
    let strategy_id = strategy
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| FlagError::Protocol("the strategy has no id".into()))?
        .to_owned();
    let raw = rollout_text(strategy).ok_or_else(|| {
        FlagError::Misconfigured(format!(
            "strategy {strategy_id} has no rollout parameter (is it a {FLEXIBLE_ROLLOUT}?)"
        ))
    })?;
    let percent = match strategy.pointer("/parameters/rollout") {
        Some(Value::String(s)) => canonical_percent(s),
        _ => None,
    }
    .ok_or_else(|| {
        FlagError::Misconfigured(format!(
            "strategy {strategy_id} has rollout {}, not a string \"0\"..\"100\"; fix it in Unleash",
            cut(&raw, 40)
        ))
    })?;

    let details = strategy_details(strategy, &strategy_id, strategies);
    let fingerprint = json!({"enabled": enabled, "strategies": strategies}).to_string();
    let version = format!("s:{:016x}", fnv1a(fingerprint.as_bytes()));
    Ok(Parsed {
        snapshot: FlagSnapshot {
            percent,
            enabled,
            version: Some(version),
            details,
        },
        strategy_id,
    })
}

/// The rollout of an event's strategy document, when it is ours (or ours is unknown).
fn event_rollout(data: Option<&Value>, strategy: Option<&str>) -> Option<u8> {
    let d = data?;
    if let (Some(ours), Some(id)) = (strategy, d.get("id").and_then(Value::as_str))
        && ours != id
    {
        return None;
    }
    match d.pointer("/parameters/rollout")? {
        Value::String(s) => s.parse::<u8>().ok().filter(|p| *p <= 100),
        _ => None,
    }
}

/// Maps Unleash's event search answer (`{events, total}`) to this environment's events.
fn parse_events(
    doc: &Value,
    environment: &str,
    strategy: Option<&str>,
) -> Result<Vec<FlagEvent>, FlagError> {
    let list = doc
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| FlagError::Protocol("the event search answer has no events list".into()))?;
    Ok(list
        .iter()
        .filter(|e| match e.get("environment").and_then(Value::as_str) {
            Some(env) => env == environment,
            None => true,
        })
        .filter_map(|e| {
            let at = e.get("createdAt").and_then(Value::as_str)?;
            let at_ms = chrono::DateTime::parse_from_rfc3339(at)
                .ok()?
                .timestamp_millis();
            Some(FlagEvent {
                at_ms,
                author: cut(&text_of(e.get("createdBy")), 80),
                kind: cut(&text_of(e.get("type")), 80),
                before: event_rollout(e.get("preData"), strategy),
                after: event_rollout(e.get("data"), strategy),
            })
        })
        .collect())
}

impl FlagBackend for UnleashFlag {
    fn describe(&self) -> String {
        let c = &self.config;
        format!("unleash {}/{}@{}", c.project, c.feature, c.environment)
    }

    fn read(&self) -> BoxFuture<'_, Result<FlagSnapshot, FlagError>> {
        Box::pin(async move { self.fetch(true).await.map(|p| p.snapshot) })
    }

    fn compare_and_set(
        &self,
        expected: &FlagSnapshot,
        percent: u8,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let expected = expected.clone();
        Box::pin(async move { self.cas(&expected, percent).await })
    }

    fn set_enabled(
        &self,
        expected: &FlagSnapshot,
        enabled: bool,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let expected = expected.clone();
        Box::pin(async move { self.switch(&expected, enabled).await })
    }

    fn events(&self) -> BoxFuture<'_, Result<Vec<FlagEvent>, FlagError>> {
        Box::pin(self.fetch_events())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> UnleashConfig {
        UnleashConfig {
            url: "http://127.0.0.1:4242".into(),
            project: "default".into(),
            feature: "f".into(),
            environment: "production".into(),
            strategy_id: None,
            token_env: None,
            token_file: None,
            timeout_ms: 1000,
            insecure_skip_verify: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }

    fn flexible(id: &str, rollout: &Value) -> Value {
        json!({"id": id, "name": "flexibleRollout",
               "parameters": {"rollout": rollout, "stickiness": "userId", "groupId": "g"},
               "constraints": [{"contextName": "region", "operator": "IN", "values": ["eu"]}]})
    }

    fn feature(strategies: &Value) -> Value {
        json!({"environments": [
            {"name": "development", "enabled": false, "strategies": []},
            {"name": "production", "enabled": true, "strategies": strategies}]})
    }

    #[test]
    fn reads_the_single_flexible_rollout_and_its_details() {
        let p = parse_feature(&feature(&json!([flexible("a", &json!("25"))])), &cfg()).unwrap();
        assert_eq!(p.snapshot.percent, 25);
        assert!(p.snapshot.enabled);
        assert_eq!(p.strategy_id, "a");
        let d: std::collections::HashMap<_, _> = p.snapshot.details.iter().cloned().collect();
        assert_eq!(d["stickiness"], "userId");
        assert_eq!(d["constraints"], "region IN [eu]");
    }

    #[test]
    fn the_version_follows_the_strategy_not_other_environments() {
        let a = parse_feature(&feature(&json!([flexible("a", &json!("25"))])), &cfg()).unwrap();
        let mut other = feature(&json!([flexible("a", &json!("25"))]));
        other["environments"][0]["enabled"] = json!(true);
        other["lastSeenAt"] = json!("2026-01-01T00:00:00Z");
        let b = parse_feature(&other, &cfg()).unwrap();
        assert_eq!(a.snapshot.version, b.snapshot.version);
        let mut s = flexible("a", &json!("25"));
        s["constraints"] = json!([]);
        let c = parse_feature(&feature(&json!([s])), &cfg()).unwrap();
        assert_ne!(a.snapshot.version, c.snapshot.version);
    }

    #[test]
    fn zero_or_several_rollouts_are_misconfigured_and_listed() {
        let none = parse_feature(&feature(&json!([{"id": "d", "name": "default"}])), &cfg());
        assert!(matches!(&none, Err(FlagError::Misconfigured(m)) if m.contains("default id=d")));
        let two = parse_feature(
            &feature(&json!([
                flexible("a", &json!("5")),
                flexible("b", &json!("7"))
            ])),
            &cfg(),
        );
        assert!(matches!(&two, Err(FlagError::Misconfigured(m))
            if m.contains("id=a rollout=5") && m.contains("id=b rollout=7") && m.contains("strategy_id")));
        let mut c = cfg();
        c.strategy_id = Some("b".into());
        let picked = parse_feature(
            &feature(&json!([
                flexible("a", &json!("5")),
                flexible("b", &json!("7"))
            ])),
            &c,
        )
        .unwrap();
        assert_eq!(picked.snapshot.percent, 7);
    }

    #[test]
    fn odd_rollouts_and_bodies_are_errors_not_panics() {
        for r in &[
            json!("150"),
            json!(25),
            json!("025"),
            json!(""),
            json!(null),
        ] {
            assert!(
                matches!(
                    parse_feature(&feature(&json!([flexible("a", r)])), &cfg()),
                    Err(FlagError::Misconfigured(_))
                ),
                "{r}"
            );
        }
        for doc in [
            json!(null),
            json!([]),
            json!({"environments": 3}),
            json!({"environments": [{"name": "production", "enabled": "yes"}]}),
        ] {
            assert!(
                matches!(parse_feature(&doc, &cfg()), Err(FlagError::Protocol(_))),
                "{doc}"
            );
        }
        assert!(matches!(
            parse_feature(&json!({"environments": []}), &cfg()),
            Err(FlagError::NotFound(m)) if m.contains("production")
        ));
    }

    #[test]
    fn events_keep_this_environment_and_read_before_and_after() {
        let doc = json!({"total": 3, "events": [
            {"type": "feature-strategy-update", "createdBy": "alice",
             "createdAt": "2026-01-01T00:00:01Z", "environment": "production",
             "preData": {"id": "a", "parameters": {"rollout": "5"}},
             "data": {"id": "a", "parameters": {"rollout": "25"}}},
            {"type": "feature-strategy-update", "createdBy": "bob",
             "createdAt": "2026-01-01T00:00:02Z", "environment": "development",
             "data": {"id": "z", "parameters": {"rollout": "99"}}},
            {"type": "feature-created", "createdBy": 7, "createdAt": "2026-01-01T00:00:00Z"},
            {"type": "broken", "createdAt": 12}]});
        let ev = parse_events(&doc, "production", Some("a")).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].author, "alice");
        assert_eq!((ev[0].before, ev[0].after), (Some(5), Some(25)));
        assert_eq!(ev[0].at_ms, 1_767_225_601_000);
        assert_eq!(ev[1].kind, "feature-created");
        assert!(parse_events(&json!({"total": 0}), "production", None).is_err());
    }

    #[test]
    fn urls_encode_names_and_keep_a_path_prefix() {
        let mut c = cfg();
        c.url = "https://example.test/unleash/".into();
        c.feature = "a b/c".into();
        let f = UnleashFlag::new(c, Secret::new("*:*.t")).unwrap();
        assert_eq!(
            f.feature_url(&[]).as_str(),
            "https://example.test/unleash/api/admin/projects/default/features/a%20b%2Fc"
        );
    }

    #[test]
    fn debug_output_hides_the_token() {
        let f = UnleashFlag::new(cfg(), Secret::new("*:*.verysecret")).unwrap();
        assert!(!format!("{f:?}").contains("verysecret"));
    }
}
