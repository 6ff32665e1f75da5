//! Rule definitions.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Cohort;

/// How bad a firing rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Look at it.
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What a firing rule asks of the operator (and of automation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Show it; nothing is blocked.
    Notify,
    /// Block bumping to the next step until it clears (or the operator forces).
    Hold,
    /// Roll back to the given percentage (0 for a full rollback). Also blocks bumping.
    Rollback {
        /// Target percentage of the rollback.
        to: u8,
    },
}

impl Action {
    /// Short label for the alerts panel.
    #[must_use]
    pub fn label(self) -> String {
        match self {
            Action::Notify => "notify".into(),
            Action::Hold => "hold".into(),
            Action::Rollback { to: 0 } => "rollback".into(),
            Action::Rollback { to } => format!("cut to {to}%"),
        }
    }

    /// Whether a firing rule with this action blocks moving to the next step.
    #[must_use]
    pub fn blocks_bump(self) -> bool {
        !matches!(self, Action::Notify)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Op {
    /// Applies the operator; NaN on either side compares false, as in PromQL.
    #[must_use]
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
        }
    }

    /// The operator's symbol.
    #[must_use]
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    /// Parses `>`, `>=`, `<`, `<=`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            ">" => Some(Op::Gt),
            ">=" => Some(Op::Ge),
            "<" => Some(Op::Lt),
            "<=" => Some(Op::Le),
            _ => None,
        }
    }
}

/// What a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// `cohort value OP threshold`, e.g. `new error rate > 0.5`.
    Absolute {
        /// Operator.
        op: Op,
        /// Threshold in the metric's unit.
        value: f64,
    },
    /// `new OP factor × legacy`, e.g. `new p95 > 1.5 × legacy`.
    RatioToLegacy {
        /// Operator.
        op: Op,
        /// Multiplier of the legacy value.
        factor: f64,
    },
    /// `new − legacy OP value`, e.g. error rate `+0.2` percentage points.
    DeltaToLegacy {
        /// Operator.
        op: Op,
        /// Difference in the metric's unit.
        value: f64,
    },
    /// `saving OP value` where saving is `(1 − new/legacy) × 100`, e.g. `saving < 90`.
    Saving {
        /// Operator.
        op: Op,
        /// Saving in percent.
        value: f64,
    },
}

/// One alert rule of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Name shown in the alerts panel and in messages (`new-error-rate`).
    pub name: String,
    /// Id of the metric it reads.
    pub metric: String,
    /// Which cohort's value is compared (absolute rules); relative rules always compare new.
    pub cohort: Cohort,
    /// The comparison.
    pub condition: Condition,
    /// How long the condition must hold before the rule fires.
    #[serde(rename = "for_ms", with = "millis")]
    pub for_: Duration,
    /// How long a firing rule stays firing after the condition stops holding.
    #[serde(rename = "keep_firing_for_ms", with = "millis")]
    pub keep_firing_for: Duration,
    /// Severity when firing.
    pub severity: Severity,
    /// What a firing rule asks for.
    pub action: Action,
    /// Also require the new cohort to be significantly worse than legacy (two-proportion
    /// test at 95 %); only for metrics whose source reports counts.
    pub significant: bool,
}

/// Durations as whole milliseconds (recordings).
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

impl Rule {
    /// A rule with no `for`, no `keep_firing_for`, on the new cohort, severity warning, notify.
    #[must_use]
    pub fn new(name: &str, metric: &str, condition: Condition) -> Self {
        Self {
            name: name.into(),
            metric: metric.into(),
            cohort: Cohort::New,
            condition,
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            severity: Severity::Warning,
            action: Action::Notify,
            significant: false,
        }
    }

    /// The left-hand value the condition compares, from the two cohorts' current values.
    /// `None` when a needed value is missing (no data).
    #[must_use]
    pub fn lhs(&self, legacy: Option<f64>, new: Option<f64>) -> Option<f64> {
        match self.condition {
            Condition::Absolute { .. } => match self.cohort {
                Cohort::Legacy => legacy,
                Cohort::New => new,
            },
            Condition::RatioToLegacy { .. } => new,
            Condition::DeltaToLegacy { .. } => Some(new? - legacy?),
            // No legacy traffic (0) leaves the saving undefined: that is no data, never a
            // breach (PromQL would compute -Inf and fire) and never healthy.
            Condition::Saving { .. } => {
                let (l, n) = (legacy?, new?);
                (l != 0.0).then(|| (1.0 - n / l) * 100.0)
            }
        }
    }

    /// Whether the rule reads cohort `c` (a rule about a cohort with no traffic is idle).
    #[must_use]
    pub fn reads(&self, c: Cohort) -> bool {
        match self.condition {
            Condition::Absolute { .. } => self.cohort == c,
            _ => true,
        }
    }

    /// The right-hand side, which for ratio rules depends on the legacy value.
    #[must_use]
    pub fn rhs(&self, legacy: Option<f64>) -> Option<f64> {
        match self.condition {
            Condition::Absolute { value, .. }
            | Condition::DeltaToLegacy { value, .. }
            | Condition::Saving { value, .. } => Some(value),
            Condition::RatioToLegacy { factor, .. } => Some(factor * legacy?),
        }
    }

    /// The operator of the condition.
    #[must_use]
    pub fn op(&self) -> Op {
        match self.condition {
            Condition::Absolute { op, .. }
            | Condition::RatioToLegacy { op, .. }
            | Condition::DeltaToLegacy { op, .. }
            | Condition::Saving { op, .. } => op,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Condition::Absolute { op, value } => write!(f, "{} {}", op.symbol(), trim(value)),
            Condition::RatioToLegacy { op, factor } => {
                write!(f, "{} {}× legacy", op.symbol(), trim(factor))
            }
            Condition::DeltaToLegacy { op, value } => {
                write!(f, "−legacy {} {}", op.symbol(), trim(value))
            }
            Condition::Saving { op, value } => write!(f, "saving {} {}%", op.symbol(), trim(value)),
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
