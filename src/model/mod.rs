//! The domain: rollouts, their step plans and cohorts, metric definitions and the bounded,
//! tiered history each metric keeps per cohort. Nothing here does I/O or reads a clock.

pub mod history;
pub mod lease;
pub mod metric;
pub mod rollout;
pub mod values;
pub mod write;

pub use history::{History, Sample};
pub use lease::Lease;
pub use metric::{Cohort, Direction, MetricDef, MetricKind, Unit};
pub use rollout::{Automation, FlagSnapshot, Rollout, Step};
pub use values::{CohortValues, Counts, QuantileBounds};
pub use write::WriteKind;
