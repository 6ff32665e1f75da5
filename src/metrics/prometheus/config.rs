//! The `[metrics]` table of a Prometheus source and its queries.

use std::path::PathBuf;

use serde::Deserialize;

use super::counts;
use crate::net::AuthKeys;

/// Prometheus caps a range query at this many points per series.
pub const MAX_POINTS: i64 = 11_000;

pub(super) fn default_cohort_label() -> String {
    "cohort".into()
}

crate::net::endpoint_config! {
    /// Where the Prometheus server is and how its series map to the two cohorts.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PrometheusConfig {
        /// Base URL of the Prometheus HTTP API, e.g. `http://127.0.0.1:9090` (without `/api/v1`).
        pub url: String,
        /// The label whose value tells the cohort, e.g. `version` or `cohort` (the default).
        /// Every query must group by it: `sum by (cohort)(...)`.
        #[serde(default = "default_cohort_label")]
        pub cohort_label: String,
        /// Label values that mean the legacy path, e.g. `["v1"]`.
        pub legacy: Vec<String>,
        /// Label values that mean the new path, e.g. `["v2"]`.
        pub new: Vec<String>,
        /// User name for HTTP basic authentication (with `password_env` or `password_file`).
        #[serde(default)]
        pub user: Option<String>,
        /// Environment variable holding the basic-authentication password.
        #[serde(default)]
        pub password_env: Option<String>,
        /// File whose first line is the basic-authentication password.
        #[serde(default)]
        pub password_file: Option<PathBuf>,
        /// Total deadline of one request in milliseconds; default min(refresh interval, 5000),
        /// at most 5000. Connecting has at most 2 s of it.
        #[serde(default)]
        pub timeout_ms: Option<u64>,
    }
}

impl PrometheusConfig {
    /// The credential keys (bearer token or basic authentication).
    #[must_use]
    pub fn auth_keys(&self) -> AuthKeys<'_> {
        AuthKeys {
            token_env: self.token_env.as_deref(),
            token_file: self.token_file.as_deref(),
            user: self.user.as_deref(),
            password_env: self.password_env.as_deref(),
            password_file: self.password_file.as_deref(),
            token_required: false,
        }
    }
}

pub(super) fn default_scale() -> f64 {
    1.0
}

/// One metric's query.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusQuery {
    /// PromQL grouped by the cohort label, e.g.
    /// `histogram_quantile(0.95, sum by (le, cohort)(rate(http_request_duration_seconds_bucket[1m])))`.
    pub query: String,
    /// Factor from the query's unit to the metric's display unit: 100 turns a ratio into
    /// percent, 1000 turns seconds into milliseconds. Default 1.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Ratio metrics: the events (errors) per cohort since the step began, with `$step`, e.g.
    /// `sum by (cohort)(increase(http_requests_total{code=~"5.."}[$step]))`.
    #[serde(default)]
    pub events_query: Option<String>,
    /// Ratio metrics: the trials (requests) per cohort since the step began, with `$step`.
    #[serde(default)]
    pub trials_query: Option<String>,
    /// Latency metrics: the cumulative histogram buckets per cohort and `le` since the step
    /// began, with `$step`, e.g.
    /// `sum by (cohort, le)(increase(http_request_duration_seconds_bucket[$step]))`.
    #[serde(default)]
    pub buckets_query: Option<String>,
    /// Latency metrics: the `le` boundary (in the histogram's unit) above which a request is
    /// slow; counts are (slow requests, all requests).
    #[serde(default)]
    pub slow_above: Option<f64>,
    /// Latency metrics: the quantile whose bucket is reported (0.95).
    #[serde(default)]
    pub quantile: Option<f64>,
}

impl PrometheusQuery {
    /// A query with a scale.
    #[must_use]
    pub fn new(query: impl Into<String>, scale: f64) -> Self {
        Self {
            query: query.into(),
            scale,
            events_query: None,
            trials_query: None,
            buckets_query: None,
            slow_above: None,
            quantile: None,
        }
    }

    /// With the events and trials queries of a ratio metric.
    #[must_use]
    pub fn with_counts(mut self, events: impl Into<String>, trials: impl Into<String>) -> Self {
        self.events_query = Some(events.into());
        self.trials_query = Some(trials.into());
        self
    }

    /// With the buckets query of a latency metric, its slow threshold and its quantile.
    #[must_use]
    pub fn with_buckets(
        mut self,
        buckets: impl Into<String>,
        slow_above: Option<f64>,
        quantile: Option<f64>,
    ) -> Self {
        self.buckets_query = Some(buckets.into());
        self.slow_above = slow_above;
        self.quantile = quantile;
        self
    }

    /// What is wrong with the count queries, if anything: each needs `$step`, events and
    /// trials go together, `slow_above` needs buckets and is a finite positive number.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn check_counts(&self) -> Result<(), String> {
        for (key, q) in [
            ("events_query", &self.events_query),
            ("trials_query", &self.trials_query),
            ("buckets_query", &self.buckets_query),
        ] {
            if let Some(q) = q
                && !q.contains(counts::STEP)
            {
                return Err(format!(
                    "`{key}` has no `$step`: rollwatch puts the time since the step began there, e.g. increase(x[$step])"
                ));
            }
        }
        if self.events_query.is_some() != self.trials_query.is_some() {
            return Err("`events_query` and `trials_query` go together: give both".into());
        }
        match self.slow_above {
            Some(_) if self.buckets_query.is_none() => {
                Err("`slow_above` needs `buckets_query` (the histogram it is a boundary of)".into())
            }
            Some(t) if !(t.is_finite() && t > 0.0) => Err(format!(
                "`slow_above` = {t}: expected a positive bucket boundary (le)"
            )),
            _ => Ok(()),
        }
    }
}
