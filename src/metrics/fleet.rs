//! Metrics for a fleet: rollouts discovered from one flag backend share one metrics template
//! and one source, which polls the whole fleet with one query per metric (grouped by the flag
//! label and the variant label) and hands each rollout its own flag's slice. The Elm loop is
//! unchanged: each rollout still polls its own [`MetricsSource`], which asks the shared one.
//!
//! A source kind that can poll a fleet (Prometheus) parses a `[fleet.metrics]` table into a
//! [`FleetSpec`]; [`Shared`] builds its [`FleetSource`] once, on the first member built.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::MetricsSource;
use super::registry::{BuildCtx, SourceSpec};
use crate::clock::Clock;
use crate::flags::registry::Flag;

/// A parsed `[fleet.metrics]` table with the template's metrics.
pub trait FleetSpec: Debug + Send + Sync {
    /// How far back the value of metric `metric` looks, in ms.
    fn window_ms(&self, _metric: usize) -> Option<i64> {
        None
    }

    /// `insecure_skip_verify` is set.
    fn insecure_tls(&self) -> bool {
        false
    }

    /// What building it would refuse, without secrets or network.
    ///
    /// # Errors
    /// The refusal, naming the key in backticks.
    fn check(&self, refresh: Duration) -> Result<(), String>;

    /// The shared source, with its secrets read.
    ///
    /// # Errors
    /// What is missing or unusable.
    fn build(
        &self,
        clock: &Arc<dyn Clock>,
        refresh: Duration,
    ) -> Result<Arc<dyn FleetSource>, String>;
}

/// The shared source of a fleet.
pub trait FleetSource: Send + Sync {
    /// The source of the rollout of flag `flag`: its polls are served from the fleet's.
    ///
    /// # Errors
    /// What is unusable in this flag's own queries (its count queries).
    fn member(self: Arc<Self>, flag: &str) -> Result<Arc<dyn MetricsSource>, String>;
}

/// A fleet's metrics spec and its source once built: every discovered rollout holds it.
#[derive(Debug)]
pub struct Shared {
    /// The source kind (`prometheus`).
    pub kind: &'static str,
    spec: Arc<dyn FleetSpec>,
    built: OnceLock<Result<Arc<dyn FleetSource>, String>>,
}

impl Debug for dyn FleetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetSource")
    }
}

impl Shared {
    /// Not built yet.
    #[must_use]
    pub fn new(kind: &'static str, spec: Arc<dyn FleetSpec>) -> Arc<Self> {
        Arc::new(Self {
            kind,
            spec,
            built: OnceLock::new(),
        })
    }

    /// The spec.
    #[must_use]
    pub fn spec(&self) -> &Arc<dyn FleetSpec> {
        &self.spec
    }

    fn source(&self, cx: &BuildCtx<'_>) -> Result<Arc<dyn FleetSource>, String> {
        self.built
            .get_or_init(|| self.spec.build(cx.clock, cx.refresh))
            .clone()
    }
}

/// The metrics spec of one discovered rollout: its flag in the fleet's shared source.
#[derive(Debug)]
pub struct Member {
    /// The fleet's shared source.
    pub shared: Arc<Shared>,
    /// The flag's name (the value of the flag label).
    pub flag: String,
}

impl SourceSpec for Member {
    fn window_ms(&self, metric: usize) -> Option<i64> {
        self.shared.spec.window_ms(metric)
    }

    fn insecure_tls(&self) -> bool {
        self.shared.spec.insecure_tls()
    }

    fn check(&self, _flag: &Flag, refresh: Duration) -> Result<(), String> {
        self.shared.spec.check(refresh)
    }

    fn build(&self, cx: &BuildCtx<'_>) -> Result<Arc<dyn MetricsSource>, String> {
        self.shared.source(cx)?.member(&self.flag)
    }
}

/// Replaces the template's placeholders: `$flag_label` and `$variant_label` by the label
/// names, and (in a member's own count queries) `$flag` by the flag's name.
#[must_use]
pub fn substitute(template: &str, flag_label: &str, variant_label: &str, flag: &str) -> String {
    template
        .replace("$flag_label", flag_label)
        .replace("$variant_label", variant_label)
        .replace("$flag", flag)
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn placeholders_are_replaced_longest_first() {
        assert_eq!(
            substitute(
                "sum by ($flag_label, $variant_label)(x{$flag_label=\"$flag\"})",
                "feature_flag_key",
                "feature_flag_result_variant",
                "flag-001"
            ),
            "sum by (feature_flag_key, feature_flag_result_variant)(x{feature_flag_key=\"flag-001\"})"
        );
    }
}
