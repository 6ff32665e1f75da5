//! What a metrics source reports for one metric: each cohort's value, and when known the
//! counts and the quantile's bucket since the step began. Domain types: the view, the
//! statistics and every source share them.

use serde::{Deserialize, Serialize};

/// One metric's values for the two cohorts. `None` is *no data* (empty answer, NaN), never 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CohortValues {
    /// The legacy path's value.
    pub legacy: Option<f64>,
    /// The new path's value.
    pub new: Option<f64>,
    /// When the source knows them: events and trials per cohort **since the current step
    /// began** (the split changed at the step, so counts restart), for the sequential tests.
    /// Ratio metrics: (errors, requests). Latency metrics with `slow_above`: (requests slower
    /// than that bucket boundary, all requests).
    pub counts: Option<Counts>,
    /// Latency metrics with histogram buckets: the bucket `(lower, upper]` that holds the
    /// metric's quantile per cohort since the step began, in the metric's display unit (the
    /// true quantile lies in it; `upper` is +∞ above the last finite boundary).
    #[serde(default)]
    pub bounds: Option<QuantileBounds>,
}

/// The bucket holding a latency quantile, per cohort; `None` for a cohort without
/// observations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QuantileBounds {
    /// Legacy `(lower, upper]`.
    pub legacy: Option<(f64, f64)>,
    /// New `(lower, upper]`.
    pub new: Option<(f64, f64)>,
}

/// Events and trials of both cohorts since the step began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Legacy (events, trials).
    pub legacy: (u64, u64),
    /// New (events, trials).
    pub new: (u64, u64),
}
