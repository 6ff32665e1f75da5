//! `[fleet.flags]` of kind `unleash`: every feature of `project` with a gradual rollout (an
//! enabled `flexibleRollout` strategy) in `environment`, found with one request (checked
//! against Unleash 7.5.1): `POST /api/admin/features-batch/export` with the project and the
//! environment answers the project's features, and the strategies of that environment, which
//! the project's feature list (`/api/admin/projects/{p}/features`) does not hold. Archived
//! features are left out. Each discovered feature is steered like a `[rollout.flag]` of kind
//! `unleash` naming it (its only `flexibleRollout` strategy).

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FLEXIBLE_ROLLOUT, UnleashConfig, UnleashFlag, default_project, default_timeout_ms};
use crate::config::locate::{ConfigError, Table};
use crate::flags::FlagError;
use crate::flags::discover::DiscoverySpec;
use crate::flags::http::json;
use crate::flags::registry::{self, Flag};
use crate::net::{Auth, AuthKeys};
use crate::secret::Secret;

crate::net::endpoint_config! {
    /// Where a fleet's features are in Unleash.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct UnleashFleetConfig {
        /// Base URL of the Unleash server.
        pub url: String,
        /// The project whose features are discovered (default `default`).
        #[serde(default = "default_project")]
        pub project: String,
        /// The environment whose gradual rollouts are watched and steered.
        pub environment: String,
        /// Total deadline per request in milliseconds (at most 5000).
        #[serde(default = "default_timeout_ms")]
        pub timeout_ms: u64,
    }
}

/// Parses the table.
///
/// # Errors
/// The located error.
pub fn parse(t: &Table<'_>, kind: &str) -> Result<Arc<dyn DiscoverySpec>, ConfigError> {
    let c: UnleashFleetConfig = registry::table(t, kind)?;
    Ok(Arc::new(c))
}

impl UnleashFleetConfig {
    /// The `[rollout.flag]` of feature `name`.
    #[must_use]
    pub fn feature(&self, name: &str) -> UnleashConfig {
        UnleashConfig {
            url: self.url.clone(),
            project: self.project.clone(),
            feature: name.to_owned(),
            environment: self.environment.clone(),
            strategy_id: None,
            timeout_ms: self.timeout_ms,
            token_env: self.token_env.clone(),
            token_file: self.token_file.clone(),
            insecure_skip_verify: self.insecure_skip_verify,
            ca_file: self.ca_file.clone(),
            client_cert_file: self.client_cert_file.clone(),
            client_key_file: self.client_key_file.clone(),
        }
    }

    fn auth_keys(&self) -> AuthKeys<'_> {
        AuthKeys {
            token_required: true,
            ..AuthKeys::token(self.token_env.as_deref(), self.token_file.as_deref())
        }
    }

    async fn export(&self) -> Result<Vec<String>, FlagError> {
        let token = match self.auth_keys().resolve() {
            Ok(Auth::Bearer(t)) => t,
            Ok(_) => {
                return Err(FlagError::Misconfigured(
                    "set `token_env` or `token_file`".into(),
                ));
            }
            Err(e) => return Err(FlagError::Misconfigured(e.to_string())),
        };
        // The feature's own backend builds the URL and maps error statuses the same way.
        let probe = UnleashFlag::new(self.feature("-"), token)?;
        let url = probe.url(&["api", "admin", "features-batch", "export"]);
        let body = json!({"project": self.project, "environment": self.environment});
        let req = probe
            .endpoint
            .request(Method::POST, url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let ans = probe.send(req).await?;
        if !ans.status.is_success() {
            return Err(probe.status_error(&ans, false));
        }
        rollouts_in(&json(&ans, "Unleash export")?)
    }
}

/// The features of an export answer with an enabled `flexibleRollout` strategy, in the
/// answer's order, archived ones left out.
///
/// # Errors
/// [`FlagError::Protocol`] when the answer has no `features` list.
pub fn rollouts_in(doc: &Value) -> Result<Vec<String>, FlagError> {
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| FlagError::Protocol("Unleash export: no `features` list".into()))?;
    let gradual: HashSet<&str> = doc
        .get("featureStrategies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("name").and_then(Value::as_str) == Some(FLEXIBLE_ROLLOUT))
        .filter(|s| s.get("disabled") != Some(&Value::Bool(true)))
        .filter_map(|s| s.get("featureName").and_then(Value::as_str))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for f in features {
        let archived = f.get("archived") == Some(&Value::Bool(true))
            || f.get("archivedAt").is_some_and(|a| !a.is_null());
        if let Some(name) = f.get("name").and_then(Value::as_str)
            && !archived
            && gradual.contains(name)
            && !out.iter().any(|o| o == name)
        {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

impl DiscoverySpec for UnleashFleetConfig {
    fn environment(&self) -> Option<&str> {
        Some(&self.environment)
    }

    fn check(&self) -> Result<(), String> {
        self.auth_keys().check().map_err(|e| e.to_string())?;
        UnleashFlag::new(self.feature("-"), Secret::new("placeholder"))
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, FlagError>> {
        Box::pin(self.export())
    }

    fn flag(&self, name: &str) -> Flag {
        Flag {
            kind: "unleash",
            spec: Arc::new(self.feature(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::rollouts_in;

    #[test]
    fn only_live_features_with_an_enabled_gradual_rollout() {
        let doc = json!({
            "features": [
                {"name": "a"}, {"name": "b"}, {"name": "c", "archived": true}, {"name": "d"}
            ],
            "featureStrategies": [
                {"name": "flexibleRollout", "featureName": "a"},
                {"name": "default", "featureName": "b"},
                {"name": "flexibleRollout", "featureName": "c"},
                {"name": "flexibleRollout", "featureName": "d", "disabled": true}
            ]
        });
        assert_eq!(rollouts_in(&doc).unwrap(), ["a"]);
        assert!(rollouts_in(&json!({})).is_err());
    }
}
