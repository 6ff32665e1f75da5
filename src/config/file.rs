//! The TOML file as written, with spans for every value that is validated after parsing. The
//! adapters' tables (`[rollout.flag]`, `[rollout.metrics]` and the source's keys of each
//! `[[rollout.metric]]`) are parsed by the adapters themselves.

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
    /// Ring the bell and send a desktop notification when a rule starts firing or a write
    /// fails (default true).
    pub notify: Option<bool>,
    /// Audit log file (default `$XDG_STATE_HOME/rollwatch/audit.jsonl`).
    pub audit_log: Option<String>,
    /// One or more `[[rollout]]` tables.
    #[serde(default)]
    pub rollout: Vec<Spanned<FileRollout>>,
    /// `[[fleet]]` tables: rollouts discovered from a flag backend, one per flag.
    #[serde(default)]
    pub fleet: Vec<Spanned<FileFleet>>,
}

/// One `[[fleet]]`: a flag backend's selection (`[fleet.flags]`, the adapter's discovery
/// keys) and the template every discovered flag's rollout is made from: the keys of a
/// `[[rollout]]` without `name` and `flag`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFleet {
    /// The fleet's name in messages (default `fleet`).
    pub name: Option<Spanned<String>>,
    /// Environment shown in confirm dialogs (default: the backend's environment).
    pub environment: Option<String>,
    /// Step percentages of every discovered rollout.
    pub steps: Spanned<Vec<Spanned<i64>>>,
    /// Bake time per step.
    #[serde(default)]
    pub bake: Vec<Spanned<String>>,
    /// Where the flags are found (`kind` and the adapter's discovery keys).
    pub flags: Spanned<toml::Table>,
    /// The shared metrics source (`kind` and the adapter's keys).
    pub metrics: Spanned<toml::Table>,
    /// The template's metrics.
    #[serde(default)]
    pub metric: Vec<Spanned<toml::Table>>,
    /// The template's rules.
    #[serde(default)]
    pub rule: Vec<Spanned<FileRule>>,
    /// Start with auto-advance armed on every discovered rollout.
    #[serde(default)]
    pub auto_advance: bool,
    /// Roll back automatically when a rule with action `rollback` fires.
    #[serde(default)]
    pub auto_rollback: bool,
    /// Requests the new path must serve at a step before it counts as baked.
    pub min_new_requests: Option<u64>,
}

impl FileFleet {
    /// The template as a `[[rollout]]` (named after the fleet, its `flag` the `[fleet.flags]`
    /// table), so the rollout checks apply to it unchanged.
    #[must_use]
    pub fn template(self, span: std::ops::Range<usize>) -> FileRollout {
        FileRollout {
            name: self
                .name
                .unwrap_or_else(|| Spanned::new(span, "fleet".to_owned())),
            environment: self.environment,
            steps: self.steps,
            bake: self.bake,
            flag: self.flags,
            also: Vec::new(),
            metrics: self.metrics,
            metric: self.metric,
            rule: self.rule,
            auto_advance: self.auto_advance,
            auto_rollback: self.auto_rollback,
            min_new_requests: self.min_new_requests,
        }
    }
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
    /// The flag backend (`kind` and the adapter's keys; the adapter parses the table).
    pub flag: Spanned<toml::Table>,
    /// `[[rollout.also]]`: flags that move with `flag` through the same step plan (each a flag
    /// backend table with an optional `name`).
    #[serde(default)]
    pub also: Vec<Spanned<toml::Table>>,
    /// The metrics source (`kind` and the adapter's keys; the adapter parses the table).
    pub metrics: Spanned<toml::Table>,
    /// `[[rollout.metric]]` entries (their generic keys are [`FileMetric`], the rest belong to
    /// the metrics source).
    #[serde(default)]
    pub metric: Vec<Spanned<toml::Table>>,
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

/// The generic keys of one `[[rollout.metric]]`: what every source's metric has. The other
/// keys of the table are the metrics source's own ([`crate::metrics::registry`]).
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
