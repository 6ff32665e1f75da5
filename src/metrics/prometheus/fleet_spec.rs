//! The `prometheus` kind's `[fleet.metrics]` table: where Prometheus is, the label carrying the
//! flag's name and the label carrying the variant (OpenTelemetry's feature-flag attributes as
//! Prometheus spells them by default), which variants are legacy and new; and the template's
//! metrics, whose queries group `by ($flag_label, $variant_label)`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::fleet::PrometheusFleet;
use super::spec::metric;
use super::{PrometheusConfig, PrometheusQuery, PrometheusSource};
use crate::clock::Clock;
use crate::config::duration::longest_range_ms;
use crate::config::locate::{ConfigError, Table};
use crate::metrics::fleet::{FleetSource, FleetSpec, substitute};
use crate::metrics::registry::{self, MetricTable};
use crate::net::{Auth, EndpointError};

/// OpenTelemetry's `feature_flag.key`, as Prometheus spells it.
pub const FLAG_LABEL: &str = "feature_flag_key";
/// OpenTelemetry's `feature_flag.result.variant`, as Prometheus spells it.
pub const VARIANT_LABEL: &str = "feature_flag_result_variant";

fn flag_label() -> String {
    FLAG_LABEL.into()
}
fn variant_label() -> String {
    VARIANT_LABEL.into()
}
fn legacy() -> Vec<String> {
    vec!["off".into(), "false".into()]
}
fn new() -> Vec<String> {
    vec!["on".into(), "true".into()]
}

crate::net::endpoint_config! {
    /// A fleet's Prometheus and its labels.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FleetPrometheusConfig {
        /// Base URL of the Prometheus HTTP API.
        pub url: String,
        /// The label carrying the flag's name (default `feature_flag_key`).
        #[serde(default = "flag_label")]
        pub flag_label: String,
        /// The label carrying the variant served (default `feature_flag_result_variant`).
        #[serde(default = "variant_label")]
        pub variant_label: String,
        /// Variants meaning legacy (default `["off", "false"]`).
        #[serde(default = "legacy")]
        pub legacy: Vec<String>,
        /// Variants meaning new (default `["on", "true"]`).
        #[serde(default = "new")]
        pub new: Vec<String>,
        /// User name for HTTP basic authentication.
        #[serde(default)]
        pub user: Option<String>,
        /// Environment variable holding the basic-authentication password.
        #[serde(default)]
        pub password_env: Option<String>,
        /// File whose first line is the basic-authentication password.
        #[serde(default)]
        pub password_file: Option<PathBuf>,
        /// Total deadline of one request in milliseconds (default min(refresh, 5000)).
        #[serde(default)]
        pub timeout_ms: Option<u64>,
    }
}

impl FleetPrometheusConfig {
    /// The same settings as a rollout's Prometheus table whose cohort label is the variant.
    #[must_use]
    pub fn as_rollout(&self) -> PrometheusConfig {
        PrometheusConfig {
            url: self.url.clone(),
            cohort_label: self.variant_label.clone(),
            legacy: self.legacy.clone(),
            new: self.new.clone(),
            user: self.user.clone(),
            password_env: self.password_env.clone(),
            password_file: self.password_file.clone(),
            timeout_ms: self.timeout_ms,
            token_env: self.token_env.clone(),
            token_file: self.token_file.clone(),
            insecure_skip_verify: self.insecure_skip_verify,
            ca_file: self.ca_file.clone(),
            client_cert_file: self.client_cert_file.clone(),
            client_key_file: self.client_key_file.clone(),
        }
    }
}

/// A parsed fleet table: the config and the template's queries, placeholders replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusFleetSpec {
    /// The `[fleet.metrics]` table.
    pub config: FleetPrometheusConfig,
    /// One query per metric (count queries keep `$flag`, replaced per rollout).
    pub queries: Vec<PrometheusQuery>,
}

/// Parses a `[fleet.metrics]` table of kind `prometheus` with the template's metrics.
///
/// # Errors
/// The located error.
pub fn parse(
    t: &Table<'_>,
    metrics: &[MetricTable<'_>],
) -> Result<Arc<dyn FleetSpec>, ConfigError> {
    let config: FleetPrometheusConfig = registry::table(t, "prometheus")?;
    let (fl, vl) = (&config.flag_label, &config.variant_label);
    let queries = metrics
        .iter()
        .map(|m| {
            let mut q = metric(t.locator(), m)?;
            q.query = substitute(&q.query, fl, vl, "$flag");
            if q.query.contains("$flag") {
                return Err(t.locator().at(
                    m.id,
                    format!(
                        "metric `{}`: a fleet's `query` answers every flag at once: group it by ($flag_label, $variant_label) instead of selecting one `$flag`",
                        m.id.get_ref()
                    ),
                ));
            }
            let keep = |x: &Option<String>| {
                x.as_deref()
                    .map(|x| substitute(x, fl, vl, "$flag"))
            };
            q.events_query = keep(&q.events_query);
            q.trials_query = keep(&q.trials_query);
            q.buckets_query = keep(&q.buckets_query);
            Ok(q)
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(Arc::new(PrometheusFleetSpec { config, queries }))
}

fn metrics(e: &EndpointError) -> String {
    format!("metrics: {e}")
}

impl PrometheusFleetSpec {
    fn source(&self, auth: Auth, refresh: Duration) -> Result<PrometheusSource, String> {
        if self.config.flag_label.trim().is_empty() {
            return Err("metrics: `flag_label` is empty".into());
        }
        if self.config.flag_label == self.config.variant_label {
            return Err("metrics: `flag_label` and `variant_label` must differ".into());
        }
        PrometheusSource::new(
            &self.config.as_rollout(),
            self.queries.clone(),
            auth,
            refresh,
        )
        .map_err(|e| metrics(&e))
    }
}

impl FleetSpec for PrometheusFleetSpec {
    fn window_ms(&self, metric: usize) -> Option<i64> {
        self.queries
            .get(metric)
            .and_then(|q| longest_range_ms(&q.query))
    }

    fn insecure_tls(&self) -> bool {
        self.config.insecure_skip_verify
    }

    fn check(&self, refresh: Duration) -> Result<(), String> {
        self.config
            .as_rollout()
            .auth_keys()
            .check()
            .map_err(|e| metrics(&e))?;
        self.source(Auth::None, refresh).map(drop)
    }

    fn build(
        &self,
        clock: &Arc<dyn Clock>,
        refresh: Duration,
    ) -> Result<Arc<dyn FleetSource>, String> {
        let cfg = self.config.as_rollout();
        let auth = cfg.auth_keys().resolve().map_err(|e| metrics(&e))?;
        let source = self.source(auth, refresh)?.with_clock(clock.clone());
        Ok(Arc::new(PrometheusFleet::new(
            source,
            cfg,
            self.config.flag_label.clone(),
        )))
    }
}
