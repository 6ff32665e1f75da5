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

pub mod discover;
mod lease;
mod parse;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderValue, IF_NONE_MATCH};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::json;
use super::registry::{self, BuiltFlag, FlagSpec, Kind};
use super::{FlagBackend, FlagError, FlagEvent};
use crate::model::{FlagSnapshot, Lease};
use crate::net::{Answer, Auth, AuthKeys, Endpoint, policy};
use crate::secret::Secret;
use parse::{parse_events, parse_feature};

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
    discover: Some(discover::parse),
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
    /// The strategy's `title` as Unleash holds it (null when none): where the lease lives.
    title: Value,
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
        self.patch_strategy(&fresh.strategy_id, &patch).await
    }

    /// Sends a JSON Patch whose first operation is a `test` to the strategy `strategy_id` of
    /// the configured environment. A failed `test` (Unleash answers `TEST_OPERATION_FAILED`:
    /// the value moved, nothing changed) is a conflict with the value read afresh.
    pub(crate) async fn patch_strategy(
        &self,
        strategy_id: &str,
        patch: &serde_json::Value,
    ) -> Result<(), FlagError> {
        let url = self.feature_url(&[
            "environments",
            &self.config.environment,
            "strategies",
            strategy_id,
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

    fn can_lease(&self) -> bool {
        true
    }

    fn swap_lease(
        &self,
        expected: Option<&Lease>,
        new: Option<&Lease>,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let (expected, new) = (expected.cloned(), new.cloned());
        Box::pin(async move { self.swap(expected.as_ref(), new.as_ref()).await })
    }
}
