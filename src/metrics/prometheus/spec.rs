//! The `prometheus` kind's config: its `[rollout.metrics]` table ([`PrometheusConfig`]) and
//! the keys it reads in each `[[rollout.metric]]` (`query`, `scale`, the count queries),
//! checked where they are written; then built into a [`PrometheusSource`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::counts::STEP;
use super::{PrometheusConfig, PrometheusQuery, PrometheusSource};
use crate::config::duration::longest_range_ms;
use crate::config::locate::{ConfigError, Locator, Table, fields_of};
use crate::flags::registry::Flag;
use crate::metrics::MetricsSource;
use crate::metrics::registry::{self, BuildCtx, Kind, MetricTable, SourceSpec};
use crate::model::MetricKind;
use crate::net::{Auth, EndpointError};

/// The registry line of `kind = "prometheus"`.
pub const KIND: Kind = Kind {
    name: "prometheus",
    parse,
    metric_keys: fields_of::<MetricKeys>,
    fleet: Some(super::fleet_spec::parse),
};

/// The keys a Prometheus source reads in a `[[rollout.metric]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricKeys {
    /// The PromQL query, grouped by the cohort label.
    query: Option<String>,
    /// Factor applied to every value (100 for ratio → percent, 1000 for s → ms).
    scale: Option<Spanned<f64>>,
    /// Ratio metrics: events (errors) per cohort since the step began, with `$step`.
    events_query: Option<Spanned<String>>,
    /// Ratio metrics: trials (requests) per cohort since the step began, with `$step`.
    trials_query: Option<Spanned<String>>,
    /// Latency metrics: histogram buckets by cohort and `le` since the step began.
    buckets_query: Option<Spanned<String>>,
    /// Latency metrics: the `le` boundary above which a request counts as slow.
    slow_above: Option<Spanned<f64>>,
}

/// A parsed Prometheus source: the table and one query per metric, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSpec {
    /// The `[rollout.metrics]` table.
    pub config: PrometheusConfig,
    /// One query per metric, with its count queries.
    pub queries: Vec<PrometheusQuery>,
}

fn parse(t: &Table<'_>, metrics: &[MetricTable<'_>]) -> Result<Arc<dyn SourceSpec>, ConfigError> {
    let config: PrometheusConfig = registry::table(t, "prometheus")?;
    let queries = metrics
        .iter()
        .map(|m| metric(t.locator(), m))
        .collect::<Result<_, _>>()?;
    Ok(Arc::new(PrometheusSpec { config, queries }))
}

pub(super) fn metric(
    lx: &Locator<'_>,
    m: &MetricTable<'_>,
) -> Result<PrometheusQuery, ConfigError> {
    let k: MetricKeys = registry::metric_keys(m, "prometheus")?;
    let id = m.id.get_ref();
    let scale = match &k.scale {
        Some(s) if !(s.get_ref().is_finite() && *s.get_ref() != 0.0) => {
            return Err(lx.at(s, "scale: expected a finite, non-zero number"));
        }
        s => s.as_ref().map_or(1.0, |s| *s.get_ref()),
    };
    check_counts(lx, &k, m)?;
    let Some(query) = k.query.filter(|q| !q.trim().is_empty()) else {
        return Err(lx.at(
            m.id,
            format!("metric `{id}`: a Prometheus source needs `query`"),
        ));
    };
    let mut q = PrometheusQuery::new(query, scale);
    q.events_query = k.events_query.map(Spanned::into_inner);
    q.trials_query = k.trials_query.map(Spanned::into_inner);
    q.buckets_query = k.buckets_query.map(Spanned::into_inner);
    q.slow_above = k.slow_above.map(Spanned::into_inner);
    if let MetricKind::Latency { quantile } = m.kind {
        q.quantile = Some(quantile);
    }
    Ok(q)
}

/// The count keys: each query has `$step`, events and trials go together on a ratio metric,
/// buckets and `slow_above` on a latency metric.
fn check_counts(lx: &Locator<'_>, k: &MetricKeys, m: &MetricTable<'_>) -> Result<(), ConfigError> {
    let queries = [
        ("events_query", &k.events_query),
        ("trials_query", &k.trials_query),
        ("buckets_query", &k.buckets_query),
    ];
    for (key, q) in queries {
        if let Some(q) = q
            && !q.get_ref().contains(STEP)
        {
            return Err(lx.at(
                q,
                format!(
                    "{key}: no `$step` in the query; rollwatch replaces it by the time since the step began, e.g. increase(http_requests_total[$step])"
                ),
            ));
        }
    }
    if let Some(q) = k.events_query.as_ref().or(k.trials_query.as_ref()) {
        if m.kind != MetricKind::Ratio {
            return Err(lx.at(
                q,
                "events_query and trials_query count errors and requests: they need kind = \"ratio\"",
            ));
        }
        if k.events_query.is_none() || k.trials_query.is_none() {
            return Err(lx.at(
                q,
                format!(
                    "metric `{}`: events_query and trials_query go together: give both",
                    m.id.get_ref()
                ),
            ));
        }
    }
    let latency = matches!(m.kind, MetricKind::Latency { .. });
    if let Some(q) = &k.buckets_query
        && !latency
    {
        return Err(lx.at(q, "buckets_query needs kind = \"latency\""));
    }
    let Some(t) = &k.slow_above else {
        return Ok(());
    };
    let v = *t.get_ref();
    if !latency {
        return Err(lx.at(
            t,
            "slow_above: only a latency metric on a Prometheus source (with buckets_query) has one",
        ));
    }
    if k.buckets_query.is_none() {
        return Err(lx.at(
            t,
            "slow_above needs buckets_query: the histogram whose `le` boundary it is",
        ));
    }
    if !(v.is_finite() && v > 0.0) {
        return Err(lx.at(
            t,
            format!(
                "slow_above = {v}: expected a positive `le` boundary of the histogram, in its unit (0.25 for 250 ms in seconds)"
            ),
        ));
    }
    Ok(())
}

fn metrics(e: &EndpointError) -> String {
    format!("metrics: {e}")
}

impl SourceSpec for PrometheusSpec {
    fn window_ms(&self, metric: usize) -> Option<i64> {
        self.queries
            .get(metric)
            .and_then(|q| longest_range_ms(&q.query))
    }

    fn insecure_tls(&self) -> bool {
        self.config.insecure_skip_verify
    }

    fn check(&self, _flag: &Flag, refresh: Duration) -> Result<(), String> {
        self.config.auth_keys().check().map_err(|e| metrics(&e))?;
        PrometheusSource::new(&self.config, self.queries.clone(), Auth::None, refresh)
            .map(drop)
            .map_err(|e| metrics(&e))
    }

    fn build(&self, cx: &BuildCtx<'_>) -> Result<Arc<dyn MetricsSource>, String> {
        let auth = self.config.auth_keys().resolve().map_err(|e| metrics(&e))?;
        let source = PrometheusSource::new(&self.config, self.queries.clone(), auth, cx.refresh)
            .map_err(|e| metrics(&e))?
            .with_clock(cx.clock.clone());
        Ok(Arc::new(source))
    }
}
