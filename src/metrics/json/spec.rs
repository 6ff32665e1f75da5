//! The `json` kind's config: its `[rollout.metrics]` table ([`JsonMetricsConfig`]) and the
//! keys it reads in each `[[rollout.metric]]` (the pointers, `unit`, the counters), checked
//! where they are written; then built into a [`JsonSource`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{JsonMetric, JsonMetricsConfig, JsonSource, is_pointer};
use crate::config::locate::{ConfigError, Locator, Table, fields_of};
use crate::flags::registry::Flag;
use crate::metrics::MetricsSource;
use crate::metrics::registry::{self, BuildCtx, Kind, MetricTable, SourceSpec};
use crate::metrics::units::ValueUnit;
use crate::model::MetricKind;
use crate::net::{Auth, EndpointError};

/// The registry line of `kind = "json"`.
pub const KIND: Kind = Kind {
    name: "json",
    parse,
    metric_keys: fields_of::<MetricKeys>,
    fleet: None,
};

/// The keys a JSON source reads in a `[[rollout.metric]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricKeys {
    /// Pointer to the legacy value.
    legacy: Option<String>,
    /// Pointer to the new value.
    new: Option<String>,
    /// What a bare number means.
    unit: Option<Spanned<String>>,
    /// Pointer to divide the legacy value by.
    legacy_per: Option<String>,
    /// Pointer to divide the new value by.
    new_per: Option<String>,
    /// The pointers are cumulative counters.
    cumulative: Option<Spanned<bool>>,
    /// The legacy cohort's calls counter.
    legacy_calls: Option<String>,
    /// The new cohort's calls counter.
    new_calls: Option<String>,
}

/// A parsed JSON source: the table and where each metric is in the document, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSpec {
    /// The `[rollout.metrics]` table.
    pub config: JsonMetricsConfig,
    /// One entry per metric.
    pub metrics: Vec<JsonMetric>,
}

fn parse(t: &Table<'_>, metrics: &[MetricTable<'_>]) -> Result<Arc<dyn SourceSpec>, ConfigError> {
    let config: JsonMetricsConfig = registry::table(t, "json")?;
    let metrics = metrics
        .iter()
        .map(|m| metric(t.locator(), m))
        .collect::<Result<_, _>>()?;
    Ok(Arc::new(JsonSpec { config, metrics }))
}

fn metric(lx: &Locator<'_>, m: &MetricTable<'_>) -> Result<JsonMetric, ConfigError> {
    let k: MetricKeys = registry::metric_keys(m, "json")?;
    let id = m.id.get_ref();
    let cumulative = k.cumulative.as_ref().is_some_and(|c| *c.get_ref());
    if let Some(c) = &k.cumulative
        && cumulative
        && (k.legacy_per.is_none() || k.new_per.is_none())
    {
        return Err(lx.at(
            c,
            format!(
                "metric `{id}`: cumulative counters need `legacy_per` and `new_per` (the calls counters to divide by)"
            ),
        ));
    }
    let unit = match &k.unit {
        None => match m.kind {
            MetricKind::Ratio => ValueUnit::Percent,
            MetricKind::Latency { .. } => ValueUnit::Millis,
            MetricKind::Bytes => ValueUnit::Bytes,
            MetricKind::PerRequest | MetricKind::Gauge => ValueUnit::Count,
        },
        Some(u) => toml::Value::String(u.get_ref().clone())
            .try_into()
            .map_err(|_: toml::de::Error| {
                lx.at(
                    u,
                    format!(
                        "unit `{}`: expected percent, ratio, ms, seconds, bytes or count",
                        u.get_ref()
                    ),
                )
            })?,
    };
    let not_pointer = |name: &str, p: &str| {
        lx.at(
            m.id,
            format!("metric `{id}`: {name} = `{p}` is not a JSON pointer (it starts with /)"),
        )
    };
    for (name, p) in [("legacy", &k.legacy), ("new", &k.new)] {
        match p {
            Some(p) if is_pointer(p) => {}
            Some(p) => return Err(not_pointer(name, p)),
            None => {
                return Err(lx.at(
                    m.id,
                    format!("metric `{id}`: a JSON source needs `{name}` (a JSON pointer)"),
                ));
            }
        }
    }
    for (name, p) in [
        ("legacy_per", &k.legacy_per),
        ("new_per", &k.new_per),
        ("legacy_calls", &k.legacy_calls),
        ("new_calls", &k.new_calls),
    ] {
        if let Some(p) = p.as_deref().filter(|p| !is_pointer(p)) {
            return Err(not_pointer(name, p));
        }
    }
    Ok(JsonMetric {
        legacy: k.legacy.unwrap_or_default(),
        new: k.new.unwrap_or_default(),
        unit,
        legacy_per: k.legacy_per,
        new_per: k.new_per,
        cumulative,
        legacy_calls: k.legacy_calls,
        new_calls: k.new_calls,
        counts: m.kind == MetricKind::Ratio && cumulative,
    })
}

fn metrics(e: &EndpointError) -> String {
    format!("metrics: {e}")
}

impl SourceSpec for JsonSpec {
    fn insecure_tls(&self) -> bool {
        self.config.insecure_skip_verify
    }

    fn check(&self, _flag: &Flag, refresh: Duration) -> Result<(), String> {
        self.config.auth_keys().check().map_err(|e| metrics(&e))?;
        JsonSource::new(&self.config, self.metrics.clone(), Auth::None, refresh)
            .map(drop)
            .map_err(|e| metrics(&e))
    }

    fn build(&self, cx: &BuildCtx<'_>) -> Result<Arc<dyn MetricsSource>, String> {
        let auth = self.config.auth_keys().resolve().map_err(|e| metrics(&e))?;
        let source = JsonSource::new(&self.config, self.metrics.clone(), auth, cx.refresh)
            .map_err(|e| metrics(&e))?;
        Ok(Arc::new(source))
    }
}
