//! Alert rules and their evaluator.
//!
//! A rule compares one cohort's value of a metric against a threshold, against the legacy
//! value (`new > 1.5 × legacy`, `new − legacy > 0.2`), or compares the saving of the new path.
//! The evaluator follows Prometheus: inactive → pending (the `for` clock) → firing → resolved,
//! with `keep_firing_for`. NaN compares false. Missing data and backend failures make a rule
//! *unknown*: they never fire it and never count as resolved-by-health.

pub mod eval;
pub mod rule;

pub use eval::{AlertState, AlertStatus, Observation, evaluate_series, observe, step};
pub use rule::{Action, Condition, Op, Rule, Severity};
