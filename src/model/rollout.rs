//! A rollout: a flag, a step plan, two cohorts and the metrics and rules that judge them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alerts::Rule;
use crate::model::MetricDef;

/// One step of the plan: a traffic percentage and how long it should bake before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Percentage of traffic on the new path, 0..=100.
    pub percent: u8,
    /// How long to stay at this step before moving on, if the plan says.
    #[serde(default, with = "opt_secs")]
    pub bake: Option<Duration>,
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|d| d.as_secs()).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// A rollout as configured: what the operator watches and steers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Display name (`checkout-batch-queries`).
    pub name: String,
    /// The environment the flag lives in, shown in every confirm dialog.
    pub environment: String,
    /// The step plan, ascending percentages.
    pub steps: Vec<Step>,
    /// The metrics compared between legacy and new.
    pub metrics: Vec<MetricDef>,
    /// Alert rules over those metrics.
    pub rules: Vec<Rule>,
    /// What rollwatch may do on its own.
    #[serde(default)]
    pub automation: Automation,
}

/// Automation of a rollout's step plan; everything off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Automation {
    /// Start armed: move to the next step when the bake time has passed, no rule is pending or
    /// firing, no data is stale and no verdict is *worse*.
    pub auto_advance: bool,
    /// Roll back (to the rule's percentage) when a rule with action `rollback` fires.
    pub auto_rollback: bool,
    /// Requests the new path must serve at a step before it counts as baked (READY,
    /// auto-advance); `None` takes the default from the statistical test's tuning.
    #[serde(default)]
    pub min_new_requests: Option<u64>,
}

impl Rollout {
    /// The index of the step the percentage sits at: the highest step whose percentage is
    /// at or below it. `None` below the first step (e.g. 0 % before the plan starts).
    #[must_use]
    pub fn step_index(&self, percent: u8) -> Option<usize> {
        self.steps.iter().rposition(|s| s.percent <= percent)
    }

    /// The next step's percentage above `percent`, if the plan has one.
    #[must_use]
    pub fn next_percent(&self, percent: u8) -> Option<u8> {
        self.steps.iter().map(|s| s.percent).find(|&p| p > percent)
    }

    /// The previous step's percentage below `percent`; 0 when below the first step.
    #[must_use]
    pub fn prev_percent(&self, percent: u8) -> Option<u8> {
        if percent == 0 {
            return None;
        }
        Some(
            self.steps
                .iter()
                .map(|s| s.percent)
                .filter(|&p| p < percent)
                .max()
                .unwrap_or(0),
        )
    }

    /// Index of a metric by id.
    #[must_use]
    pub fn metric_index(&self, id: &str) -> Option<usize> {
        self.metrics.iter().position(|m| m.id == id)
    }
}

/// What a flag backend last said about the flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagSnapshot {
    /// Percentage of traffic on the new path, 0..=100.
    pub percent: u8,
    /// Whether the flag (environment) is switched on at all. Off means 0 % effective.
    pub enabled: bool,
    /// An opaque version (ETag, revision) when the backend has one; used for compare-and-set.
    pub version: Option<String>,
    /// Backend-specific details shown but never modified (stickiness, constraints, ...).
    pub details: Vec<(String, String)>,
    /// The guard lease stored with the flag, lapsed or not, when the backend keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Box<super::Lease>>,
}

impl FlagSnapshot {
    /// A plain snapshot without version or details.
    #[must_use]
    pub fn new(percent: u8, enabled: bool) -> Self {
        Self {
            percent,
            enabled,
            version: None,
            details: Vec::new(),
            lease: None,
        }
    }

    /// The share of traffic that really takes the new path.
    #[must_use]
    pub fn effective_percent(&self) -> u8 {
        if self.enabled { self.percent } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Rollout {
        Rollout {
            name: "r".into(),
            environment: "production".into(),
            steps: [5, 25, 50, 75, 100]
                .iter()
                .map(|&p| Step {
                    percent: p,
                    bake: None,
                })
                .collect(),
            metrics: vec![],
            rules: vec![],
            automation: Automation::default(),
        }
    }

    #[test]
    fn next_and_previous_steps_follow_the_plan() {
        let r = plan();
        assert_eq!(r.next_percent(0), Some(5));
        assert_eq!(r.next_percent(5), Some(25));
        assert_eq!(r.next_percent(30), Some(50));
        assert_eq!(r.next_percent(100), None);
        assert_eq!(r.prev_percent(25), Some(5));
        assert_eq!(r.prev_percent(5), Some(0));
        assert_eq!(r.prev_percent(30), Some(25));
        assert_eq!(r.prev_percent(0), None);
    }

    #[test]
    fn step_index_marks_the_current_step() {
        let r = plan();
        assert_eq!(r.step_index(0), None);
        assert_eq!(r.step_index(5), Some(0));
        assert_eq!(r.step_index(30), Some(1));
        assert_eq!(r.step_index(100), Some(4));
    }

    #[test]
    fn disabled_flag_sends_no_traffic() {
        let mut s = FlagSnapshot::new(50, true);
        assert_eq!(s.effective_percent(), 50);
        s.enabled = false;
        assert_eq!(s.effective_percent(), 0);
    }
}
