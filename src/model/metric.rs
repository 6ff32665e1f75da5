//! Metric definitions: what is measured, in which unit, and which direction is better.

use serde::{Deserialize, Serialize};

/// The two cohorts a rollout compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cohort {
    /// The old code path (flag off for this request).
    Legacy,
    /// The new code path (flag on for this request).
    New,
}

impl Cohort {
    /// Both cohorts, legacy first.
    pub const BOTH: [Cohort; 2] = [Cohort::Legacy, Cohort::New];

    /// Lower-case name as used in config and on screen.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Cohort::Legacy => "legacy",
            Cohort::New => "new",
        }
    }
}

/// What kind of quantity a metric is. Values are stored in the display unit of the kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A ratio shown in percent (error rate, success rate, cache hit rate).
    Ratio,
    /// A latency in milliseconds at a quantile (0.95 for p95).
    Latency {
        /// The quantile, 0 < q < 1.
        quantile: f64,
    },
    /// A size in bytes (memory).
    Bytes,
    /// A count per request or per call (database queries, LLM tokens).
    PerRequest,
    /// Anything else, shown as a plain number.
    Gauge,
}

/// The unit a value is displayed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Percent, `0.5` is shown as `0.50%`.
    Percent,
    /// Milliseconds.
    Millis,
    /// Bytes, shown with binary prefixes.
    Bytes,
    /// A dimensionless count.
    Count,
}

impl MetricKind {
    /// The unit values of this kind are stored and shown in.
    #[must_use]
    pub fn unit(self) -> Unit {
        match self {
            MetricKind::Ratio => Unit::Percent,
            MetricKind::Latency { .. } => Unit::Millis,
            MetricKind::Bytes => Unit::Bytes,
            MetricKind::PerRequest | MetricKind::Gauge => Unit::Count,
        }
    }
}

/// Which direction of change is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller is better (errors, latency, memory, queries).
    LowerIsBetter,
    /// Larger is better (success rate, throughput, cache hits).
    HigherIsBetter,
}

/// One metric of a rollout, measured for both cohorts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDef {
    /// Stable identifier used by alert rules (`error_rate`).
    pub id: String,
    /// Human label (`Error rate`).
    pub label: String,
    /// What is measured.
    pub kind: MetricKind,
    /// Which way is better.
    pub direction: Direction,
    /// For savings metrics (queries, tokens): the minimum saving `1 − new/legacy`, in percent,
    /// that the new path promises. The comparison row then shows the saving against it.
    pub savings_target: Option<f64>,
    /// A plain target for the new cohort's value (e.g. p95 ≤ 500 ms), shown in the target column.
    pub target: Option<f64>,
    /// How far back one value reaches (the range of `rate(...[1m])`), in ms, when known: a
    /// flag change inside that window makes the value a mix of two traffic splits.
    #[serde(default)]
    pub window_ms: Option<i64>,
    /// For rates with counts: how much worse the new path may be before the statistical
    /// verdict calls it worse, in the metric's unit (percentage points for a ratio).
    #[serde(default)]
    pub tolerance: Option<f64>,
}

impl MetricDef {
    /// A metric with no targets, lower is better.
    #[must_use]
    pub fn new(id: &str, label: &str, kind: MetricKind) -> Self {
        Self {
            id: id.to_owned(),
            label: label.to_owned(),
            kind,
            direction: Direction::LowerIsBetter,
            savings_target: None,
            target: None,
            window_ms: None,
            tolerance: None,
        }
    }

    /// The saving of the new path against legacy, in percent: `(1 − new/legacy) × 100`.
    /// `None` when either value is missing or legacy is zero (no meaningful ratio).
    #[must_use]
    pub fn saving(legacy: Option<f64>, new: Option<f64>) -> Option<f64> {
        match (legacy, new) {
            (Some(l), Some(n)) if l.is_finite() && n.is_finite() && l > 0.0 => {
                Some((1.0 - n / l) * 100.0)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_matches_the_batch_query_rollout() {
        // 200 queries per load down to 3 is a 98.5 % saving.
        let s = MetricDef::saving(Some(200.0), Some(3.0)).unwrap();
        assert!((s - 98.5).abs() < 1e-9, "{s}");
    }

    #[test]
    fn saving_is_unknown_without_both_values_or_with_zero_legacy() {
        assert_eq!(MetricDef::saving(None, Some(3.0)), None);
        assert_eq!(MetricDef::saving(Some(200.0), None), None);
        assert_eq!(MetricDef::saving(Some(0.0), Some(3.0)), None);
        assert_eq!(MetricDef::saving(Some(f64::NAN), Some(3.0)), None);
    }

    #[test]
    fn negative_saving_when_new_costs_more() {
        let s = MetricDef::saving(Some(100.0), Some(120.0)).unwrap();
        assert!((s + 20.0).abs() < 1e-9);
    }
}
