//! The TOML file as written, with spans for every value that is validated after parsing.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Poll interval for every backend, e.g. `"5s"` (default `"5s"`).
    pub refresh: Option<Spanned<String>>,
    /// Theme name or path (`default`, `light`, `high-contrast`, `monochrome`).
    pub theme: Option<String>,
    /// Disable every write.
    #[serde(default)]
    pub read_only: bool,
    /// Audit log file (default `$XDG_STATE_HOME/rollwatch/audit.jsonl`).
    pub audit_log: Option<String>,
    /// One or more `[[rollout]]` tables.
    #[serde(default)]
    pub rollout: Vec<Spanned<FileRollout>>,
}

/// One `[[rollout]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRollout {
    /// Display name, unique in the file.
    pub name: Spanned<String>,
    /// Environment shown in confirm dialogs (default: the flag's environment, else "default").
    pub environment: Option<String>,
    /// Step percentages, ascending, each 0..=100.
    pub steps: Spanned<Vec<Spanned<i64>>>,
    /// Bake time per step (`["1h", "5h"]`), optional; shorter than `steps` is fine.
    #[serde(default)]
    pub bake: Vec<Spanned<String>>,
    /// The flag backend (`kind = "unleash" | "http" | "memory"`).
    pub flag: Spanned<toml::Table>,
    /// The metrics source (`kind = "prometheus" | "json" | "simulator"`).
    pub metrics: Spanned<toml::Table>,
    /// `[[rollout.metric]]` entries.
    #[serde(default)]
    pub metric: Vec<Spanned<FileMetric>>,
    /// `[[rollout.rule]]` entries.
    #[serde(default)]
    pub rule: Vec<Spanned<FileRule>>,
    /// Start with auto-advance armed (the `a` key arms and disarms it).
    #[serde(default)]
    pub auto_advance: bool,
    /// Roll back automatically when a rule with action `rollback` fires (off by default).
    #[serde(default)]
    pub auto_rollback: bool,
    /// Requests the new path must serve at a step before it counts as baked (default: from
    /// the statistical test's tuning, the new path's share of the requests expected during the
    /// bake).
    pub min_new_requests: Option<u64>,
}

/// One `[[rollout.metric]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMetric {
    /// Identifier used by rules.
    pub id: Spanned<String>,
    /// Label on screen (default: the id).
    pub label: Option<String>,
    /// `ratio` (percent), `latency` (ms), `bytes`, `per_request`, `gauge`.
    pub kind: Spanned<String>,
    /// Quantile of a latency metric (default 0.95).
    pub quantile: Option<Spanned<f64>>,
    /// `lower` (default) or `higher` is better.
    pub better: Option<Spanned<String>>,
    /// Target for the new cohort (in the metric's unit, a unit suffix is allowed).
    pub target: Option<Spanned<toml::Value>>,
    /// Minimum saving in percent that the new path promises (savings metrics).
    pub savings_target: Option<Spanned<f64>>,
    /// Rates with counts: how much worse (percentage points) the new path may be before the
    /// statistical verdict calls it worse (default 0).
    pub tolerance: Option<f64>,
    /// Prometheus: the PromQL query, grouped by the cohort label.
    pub query: Option<String>,
    /// Prometheus / JSON: factor applied to every value (e.g. 100 for ratio → percent).
    pub scale: Option<Spanned<f64>>,
    /// JSON: pointer to the legacy value.
    pub legacy: Option<String>,
    /// JSON: pointer to the new value.
    pub new: Option<String>,
    /// JSON: what a bare number means (`percent`, `ratio`, `ms`, `seconds`, `bytes`, `count`;
    /// default from the metric's kind). A string's own suffix (`"183ms"`) wins.
    pub unit: Option<Spanned<String>>,
    /// JSON: pointer to divide the legacy value by (e.g. `/singleMode/calls`).
    pub legacy_per: Option<String>,
    /// JSON: pointer to divide the new value by.
    pub new_per: Option<String>,
    /// Prometheus, ratio metrics: PromQL for the events (errors) per cohort since the step
    /// began, with `$step` (`increase(...[$step])`).
    pub events_query: Option<Spanned<String>>,
    /// Prometheus, ratio metrics: PromQL for the trials (requests) since the step began.
    pub trials_query: Option<Spanned<String>>,
    /// Prometheus, latency metrics: PromQL for the histogram buckets by cohort and `le` since
    /// the step began, with `$step`.
    pub buckets_query: Option<Spanned<String>>,
    /// Prometheus, latency metrics: the `le` boundary above which a request counts as slow.
    pub slow_above: Option<Spanned<f64>>,
    /// JSON: the pointers are cumulative counters, differenced since the step began.
    pub cumulative: Option<Spanned<bool>>,
    /// JSON: pointer to the legacy cohort's cumulative calls counter (no calls, no data).
    pub legacy_calls: Option<String>,
    /// JSON: pointer to the new cohort's cumulative calls counter.
    pub new_calls: Option<String>,
    /// Simulator: which reading (`error_rate`, `p95`, `memory`, `queries`, `tokens`).
    pub sim: Option<Spanned<String>>,
}

/// One `[[rollout.rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRule {
    /// Name shown in the alerts panel.
    pub name: Spanned<String>,
    /// Id of the metric it watches.
    pub metric: Spanned<String>,
    /// The condition, e.g. `new > 0.5%`, `new > 1.5 * legacy`, `saving < 90`.
    pub when: Spanned<String>,
    /// How long it must hold before firing (default `0s`).
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    /// How long it keeps firing after it stops holding (default `0s`).
    pub keep_firing_for: Option<Spanned<String>>,
    /// `warning` (default) or `critical`.
    pub severity: Option<Spanned<String>>,
    /// `notify` (default), `hold`, `rollback` or `rollback:PERCENT`.
    pub action: Option<Spanned<String>>,
    /// Also require new to be significantly worse than legacy (ratio metrics with counts).
    #[serde(default)]
    pub significant: Option<Spanned<bool>>,
}
