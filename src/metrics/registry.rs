//! The metrics-source kinds: one line per kind in [`KINDS`], naming the adapter's parser. Each
//! adapter deserialises and checks its own `[rollout.metrics]` table and the keys it reads in
//! every `[[rollout.metric]]` (its serde structs with `deny_unknown_fields`, its checks) into
//! a [`SourceSpec`], which builds the source. Adding a source is its file and one line here.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::MetricsSource;
use crate::clock::Clock;
use crate::config::locate::{ConfigError, Table, fields_of};
use crate::flags::registry::{BuiltFlag, Flag};
use crate::model::MetricKind;

/// A parsed metrics table with its metrics' keys: what `check-config` checks and `watch`
/// builds.
pub trait SourceSpec: Debug + Send + Sync + Any {
    /// How far back the value of metric `metric` looks (a query's longest range), in ms.
    fn window_ms(&self, _metric: usize) -> Option<i64> {
        None
    }

    /// `insecure_skip_verify` is set.
    fn insecure_tls(&self) -> bool {
        false
    }

    /// What `watch` would refuse, found without secrets or network (the adapter built with
    /// no credentials), given the rollout's flag and poll interval.
    ///
    /// # Errors
    /// The refusal, naming the key in backticks.
    fn check(&self, flag: &Flag, refresh: Duration) -> Result<(), String>;

    /// The source, with its secrets read.
    ///
    /// # Errors
    /// What is missing or unusable.
    fn build(&self, cx: &BuildCtx<'_>) -> Result<Arc<dyn MetricsSource>, String>;
}

/// What building a source may use.
pub struct BuildCtx<'a> {
    /// The rollout's flag, built.
    pub flag: &'a BuiltFlag,
    /// The clock.
    pub clock: &'a Arc<dyn Clock>,
    /// The poll interval.
    pub refresh: Duration,
    /// The rollout's position in the config (seeds differ per rollout).
    pub index: usize,
}

/// A rollout's metrics source: its kind and its parsed tables.
#[derive(Debug, Clone)]
pub struct Source {
    /// The kind (`prometheus`, `json`, `simulator`).
    pub kind: &'static str,
    /// The adapter's spec.
    pub spec: Arc<dyn SourceSpec>,
}

impl Source {
    /// The adapter's spec as its own type.
    #[must_use]
    pub fn get<T: SourceSpec>(&self) -> Option<&T> {
        (self.spec.as_ref() as &dyn Any).downcast_ref()
    }
}

/// One `[[rollout.metric]]` as its source sees it: the generic keys already checked.
pub struct MetricTable<'a> {
    /// The metric's `id` (errors about the metric point at it).
    pub id: &'a Spanned<String>,
    /// Its kind.
    pub kind: MetricKind,
    /// The keys that are not generic: the source's own.
    pub keys: Table<'a>,
    /// The generic keys (listed when a key is unknown).
    pub generic: &'static [&'static str],
}

/// Parses a `[rollout.metrics]` table without its `kind`, with the rollout's metrics.
pub type Parse =
    for<'a> fn(&Table<'a>, &[MetricTable<'a>]) -> Result<Arc<dyn SourceSpec>, ConfigError>;

/// Parses a `[fleet.metrics]` table without its `kind`, with the template's metrics.
pub type ParseFleet = for<'a> fn(
    &Table<'a>,
    &[MetricTable<'a>],
) -> Result<Arc<dyn super::fleet::FleetSpec>, ConfigError>;

/// One metrics-source kind.
pub struct Kind {
    /// The `kind` value.
    pub name: &'static str,
    /// Its parser.
    pub parse: Parse,
    /// The keys it reads in a `[[rollout.metric]]` (`fields_of::<ItsMetricKeys>`).
    pub metric_keys: fn() -> &'static [&'static str],
    /// Its parser of a fleet's table, when it can poll a fleet with one query per metric.
    pub fleet: Option<ParseFleet>,
}

/// Every metrics-source kind, in the order error messages list them.
pub const KINDS: &[Kind] = &[
    super::prometheus::KIND, // Prometheus and its HTTP API (VictoriaMetrics, Thanos, Mimir)
    super::json::KIND,       // an app's own JSON document
    super::sim::KIND,        // the in-process simulator (the demo, trials)
];

/// Parses a metrics table of kind `kind` (one of [`KINDS`]); `table` is without its `kind`.
///
/// # Errors
/// The adapter's error, located; `None` for a kind not in [`KINDS`].
#[must_use]
pub fn parse<'a>(
    kind: &str,
    table: &Table<'a>,
    metrics: &[MetricTable<'a>],
) -> Option<Result<Source, ConfigError>> {
    let k = KINDS.iter().find(|k| k.name == kind)?;
    Some((k.parse)(table, metrics).map(|spec| Source { kind: k.name, spec }))
}

/// Parses a `[fleet.metrics]` table of kind `kind`; `None` for a kind not in [`KINDS`] or
/// one that cannot poll a fleet.
///
/// # Errors
/// The adapter's error, located.
#[must_use]
pub fn parse_fleet<'a>(
    kind: &str,
    table: &Table<'a>,
    metrics: &[MetricTable<'a>],
) -> Option<Result<Arc<super::fleet::Shared>, ConfigError>> {
    let k = KINDS.iter().find(|k| k.name == kind)?;
    let parse = k.fleet?;
    Some(parse(table, metrics).map(|spec| super::fleet::Shared::new(k.name, spec)))
}

/// Deserialises an adapter's table into its config struct, errors as `metrics (kind): ...`.
///
/// # Errors
/// The located serde error.
pub fn table<'a, T: Deserialize<'a>>(t: &Table<'a>, kind: &str) -> Result<T, ConfigError> {
    t.parse_as(&format!("metrics ({kind})"))
}

/// Deserialises the keys source `kind` reads in one metric into `T`. A key `T` does not
/// accept is an error at the key: naming the sources that read it, or listing every key this
/// metric accepts.
///
/// # Errors
/// The located error.
pub fn metric_keys<'a, T: Deserialize<'a>>(
    m: &MetricTable<'a>,
    kind: &str,
) -> Result<T, ConfigError> {
    let own = fields_of::<T>();
    let lx = m.keys.locator();
    if let Some((key, span)) = m.keys.keys().find(|(k, _)| !own.contains(k)) {
        let readers: Vec<&str> = KINDS
            .iter()
            .filter(|k| k.name != kind && (k.metric_keys)().contains(&key))
            .map(|k| k.name)
            .collect();
        let message = if readers.is_empty() {
            let all: Vec<String> = m
                .generic
                .iter()
                .chain(own)
                .map(|f| format!("`{f}`"))
                .collect();
            format!("unknown field `{key}`, expected one of {}", all.join(", "))
        } else {
            format!(
                "{key}: only a {} source reads it (this rollout's metrics source is {kind})",
                readers.join(" or ")
            )
        };
        return Err(lx.err(span, message));
    }
    m.keys.parse().map_err(|e| {
        lx.err(
            e.span().unwrap_or_else(|| m.keys.span()),
            e.message().trim().to_owned(),
        )
    })
}
