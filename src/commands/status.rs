//! `status`: one poll of every rollout, judged and printed as a table or as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::exit;
use crate::alerts::{AlertStatus, Severity};
use crate::app::driver::Driver;
use crate::app::run::Setup;
use crate::app::state::State;
use crate::model::MetricDef;

/// Status of one rule, for `status --json`.
#[derive(Debug, Serialize)]
pub struct AlertOut {
    /// Rule name.
    pub rule: String,
    /// Metric id.
    pub metric: String,
    /// `warning` or `critical`.
    pub severity: &'static str,
    /// `notify`, `hold`, `rollback`, `cut to N%`.
    pub action: String,
    /// `OK`, `PENDING`, `FIRING`, `RESOLVED`, `UNKNOWN`, or `BREACHING`: the condition holds
    /// now but the source keeps no history, so its `for` cannot be established; it counts as
    /// firing for the exit code.
    pub state: &'static str,
    /// Since when, RFC 3339.
    pub since: String,
    /// Last left-hand value.
    pub value: Option<f64>,
    /// Why unknown (what was missing), or why `BREACHING`.
    pub reason: Option<String>,
}

/// One metric, for `status --json`.
#[derive(Debug, Serialize)]
pub struct MetricOut {
    /// Id.
    pub id: String,
    /// Label.
    pub label: String,
    /// `percent`, `millis`, `bytes` or `count`.
    pub unit: crate::model::Unit,
    /// Legacy value; null = no data.
    pub legacy: Option<f64>,
    /// New value; null = no data.
    pub new: Option<f64>,
    /// `(1 − new/legacy) × 100` for savings metrics.
    pub saving: Option<f64>,
    /// Events and trials per cohort since the step began (ratio metrics: errors and
    /// requests; latency metrics with `slow_above`: slow and all requests); null when the
    /// source does not know them.
    pub counts: Option<CountsOut>,
    /// Latency metrics with buckets: the bucket `[lower, upper]` (the metric's unit, upper
    /// null for +∞) that holds the quantile, per cohort; null when unknown.
    pub bounds: Option<BoundsOut>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Rates with counts since the step began: the always-valid verdict (`worse`, `not_worse`,
    /// `inconclusive`), the interval on `new − legacy` (fractions) and the tolerance.
    pub verdict: Option<crate::stats::Guardrail>,
}

/// Events and trials of one cohort, for `status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CohortCounts {
    /// Events (errors, slow requests).
    pub events: u64,
    /// Trials (requests).
    pub trials: u64,
}

/// Counts of both cohorts since the step began, for `status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountsOut {
    /// Legacy.
    pub legacy: CohortCounts,
    /// New.
    pub new: CohortCounts,
}

impl From<crate::metrics::Counts> for CountsOut {
    fn from(c: crate::metrics::Counts) -> Self {
        let side = |(events, trials)| CohortCounts { events, trials };
        Self {
            legacy: side(c.legacy),
            new: side(c.new),
        }
    }
}

/// The bucket holding a latency quantile per cohort, for `status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundsOut {
    /// Legacy `[lower, upper]`; null when the cohort had no requests.
    pub legacy: Option<[Option<f64>; 2]>,
    /// New `[lower, upper]`.
    pub new: Option<[Option<f64>; 2]>,
}

impl From<crate::metrics::QuantileBounds> for BoundsOut {
    fn from(b: crate::metrics::QuantileBounds) -> Self {
        let side =
            |x: Option<(f64, f64)>| x.map(|(lo, hi)| [lo, hi].map(|v| v.is_finite().then_some(v)));
        Self {
            legacy: side(b.legacy),
            new: side(b.new),
        }
    }
}

/// One rollout, for `status --json`.
#[derive(Debug, Serialize)]
pub struct RolloutOut {
    /// Name.
    pub name: String,
    /// Environment.
    pub environment: String,
    /// Flag backend description (never a token).
    pub flag_backend: String,
    /// Percentage; null when unreadable.
    pub percent: Option<u8>,
    /// Enabled; null when unreadable.
    pub enabled: Option<bool>,
    /// Lifecycle state: `SHADOW`, `BAKING`, `READY`, `HELD`, `PAUSED`, `ROLLED BACK`, `OFF`,
    /// `COMPLETE` (or `UNREAD` when the flag could not be read).
    pub lifecycle: &'static str,
    /// Flag read error.
    pub flag_error: Option<String>,
    /// Metrics source description.
    pub metrics_source: String,
    /// Metrics source error.
    pub metrics_error: Option<String>,
    /// Metrics.
    pub metrics: Vec<MetricOut>,
    /// Rules.
    pub alerts: Vec<AlertOut>,
}

/// The whole `status --json` document.
#[derive(Debug, Serialize)]
pub struct StatusOut {
    /// When, RFC 3339.
    pub time: String,
    /// The exit code this status produces.
    pub exit_code: i32,
    /// Every rollout.
    pub rollouts: Vec<RolloutOut>,
}

pub(super) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map_or_else(String::new, |d| d.to_rfc3339())
}

/// The reason of a `BREACHING` rule.
pub const FOR_NOT_OBSERVABLE: &str = "for not observable: the source keeps no history";

/// How one rule counts for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Verdict {
    Fine,
    Unknown,
    Fires,
}

/// What `status` reports for one rule: its state label, reason and verdict. A rule whose
/// condition holds at the only sample there is (the source keeps no history, so the backfill
/// brought nothing) cannot have its `for` established: it is `BREACHING` and counts as
/// firing, since the dashboard, watching over time, would show it firing.
pub(super) fn judge(
    r: &crate::app::state::RolloutState,
    rule: &crate::alerts::Rule,
    a: &crate::alerts::AlertState,
) -> (&'static str, Option<String>, Verdict) {
    let m = r
        .def
        .metric_index(&rule.metric)
        .and_then(|k| r.metrics.get(k));
    match a.status {
        AlertStatus::Firing => (a.status.label(), a.reason.clone(), Verdict::Fires),
        AlertStatus::Pending => {
            let no_history =
                m.is_none_or(|m| m.history.iter().all(|h| h.len() <= 1)) && !rule.for_.is_zero();
            if no_history {
                ("BREACHING", Some(FOR_NOT_OBSERVABLE.into()), Verdict::Fires)
            } else {
                (a.status.label(), a.reason.clone(), Verdict::Fine)
            }
        }
        AlertStatus::Unknown => {
            let reason = a.reason.clone().or_else(|| m.and_then(|m| m.error.clone()));
            (
                a.status.label(),
                Some(reason.unwrap_or_else(|| "no data".into())),
                Verdict::Unknown,
            )
        }
        _ => (a.status.label(), a.reason.clone(), Verdict::Fine),
    }
}

/// Collects the status document from a driven state.
///
/// The exit code is the worst of: a critical rule firing or breaching (2); a backend that
/// could not be read or a critical rule UNKNOWN (3); a warning rule firing, breaching or
/// UNKNOWN (1); otherwise 0.
#[must_use]
pub fn collect(s: &State) -> StatusOut {
    let mut unreadable = false;
    let mut critical = Verdict::Fine;
    let mut warning = Verdict::Fine;
    let rollouts = s
        .rollouts
        .iter()
        .map(|r| {
            unreadable |=
                r.flag_feed.error.is_some() || r.metrics_feed.error.is_some() || r.flag.is_none();
            let alerts = r
                .def
                .rules
                .iter()
                .zip(&r.alerts)
                .map(|(rule, a)| {
                    let (state, reason, verdict) = judge(r, rule, a);
                    let worst = match rule.severity {
                        Severity::Critical => &mut critical,
                        Severity::Warning => &mut warning,
                    };
                    *worst = (*worst).max(verdict);
                    AlertOut {
                        rule: rule.name.clone(),
                        metric: rule.metric.clone(),
                        severity: rule.severity.as_str(),
                        action: rule.action.label(),
                        state,
                        since: rfc3339(a.since_ms),
                        value: a.value,
                        reason,
                    }
                })
                .collect();
            let metrics = r
                .def
                .metrics
                .iter()
                .zip(&r.metrics)
                .enumerate()
                .map(|(k, (d, m))| MetricOut {
                    id: d.id.clone(),
                    label: d.label.clone(),
                    unit: d.kind.unit(),
                    legacy: m.last.legacy,
                    new: m.last.new,
                    saving: d
                        .savings_target
                        .and_then(|_| MetricDef::saving(m.last.legacy, m.last.new)),
                    counts: m.last.counts.map(CountsOut::from),
                    bounds: m.last.bounds.map(BoundsOut::from),
                    error: m.error.clone(),
                    verdict: crate::app::verdicts::metric_guardrail(r, k),
                })
                .collect();
            RolloutOut {
                name: r.def.name.clone(),
                environment: r.def.environment.clone(),
                flag_backend: r.flag_backend.clone(),
                lifecycle: crate::app::lifecycle::lifecycle(r, false).name(),
                percent: r.flag.as_ref().map(|f| f.percent),
                enabled: r.flag.as_ref().map(|f| f.enabled),
                flag_error: r.flag_feed.error.clone(),
                metrics_source: r.metrics_source.clone(),
                metrics_error: r.metrics_feed.error.clone(),
                metrics,
                alerts,
            }
        })
        .collect();
    let code = if critical == Verdict::Fires {
        exit::CRITICAL
    } else if unreadable || critical == Verdict::Unknown {
        exit::UNREADABLE
    } else if warning != Verdict::Fine {
        exit::WARNING
    } else {
        exit::OK
    };
    StatusOut {
        time: rfc3339(s.now_ms),
        exit_code: code,
        rollouts,
    }
}

/// The status as a plain table.
#[must_use]
pub fn table(st: &StatusOut) -> String {
    let mut out = String::new();
    let g = crate::ui::format::glyphs(true);
    for r in &st.rollouts {
        let flag = match (r.percent, r.enabled, &r.flag_error) {
            (_, _, Some(e)) => format!("flag ERROR: {e}"),
            (Some(p), Some(true), _) => format!("flag {p}%"),
            (Some(p), Some(false), _) => format!("flag {p}% (OFF)"),
            _ => "flag unknown".into(),
        };
        let _ = writeln!(
            out,
            "{} [{}] {} {flag} via {}",
            r.name, r.environment, r.lifecycle, r.flag_backend
        );
        if let Some(e) = &r.metrics_error {
            let _ = writeln!(out, "  metrics ERROR: {e}");
        }
        let _ = writeln!(
            out,
            "  {:<16} {:>10} {:>10}  note",
            "metric", "legacy", "new"
        );
        for m in &r.metrics {
            let note = m
                .error
                .clone()
                .or_else(|| m.saving.map(|s| format!("saving {s:.1}%")))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<16} {:>10} {:>10}  {note}",
                m.label,
                crate::ui::format::value(m.legacy, m.unit, g),
                crate::ui::format::value(m.new, m.unit, g),
            );
        }
        for a in &r.alerts {
            let reason = a
                .reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<9} {:<8} {:<9} {}{reason}",
                a.state, a.severity, a.action, a.rule
            );
        }
    }
    let _ = writeln!(out, "exit {}", st.exit_code);
    out
}

/// One poll of every rollout: backfill (which replays the rules over history, so `for`
/// clocks are honest), then a live poll. Automation is paused: a headless look (`status`,
/// the guard of `set`) never starts an auto-rollback or auto-advance of its own.
pub async fn poll_once(setup: &Setup) -> State {
    let mut d = Driver::new(setup);
    d.state.automation_paused = true;
    d.tick().await;
    d.tick().await;
    d.state
}
