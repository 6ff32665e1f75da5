//! The headless commands (`check-config`, `status`, `set`, `rollback`) and the setup of the
//! dashboard from a config (`watch`). They use the same state, update, effects and guarded
//! write path as the dashboard; only the output differs.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::alerts::{AlertStatus, Severity};
use crate::app::driver::Driver;
use crate::app::run::Setup;
use crate::app::state::State;
use crate::app::{Command, Msg};
use crate::audit::AuditLog;
use crate::backends as wire;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::flags::write::{
    WriteKind, WriteOutcome, WriteRequest, WriteResult, refused_before_writing, unreadable_outcome,
};
use crate::model::MetricDef;
use crate::ui::theme::Theme;

/// Exit codes of `status`. A rule that could not be evaluated never leaves the code at 0:
/// `status` answers "fine" only when every rule was checked and none fires.
pub mod exit {
    /// Every rule was evaluated and nothing fires.
    pub const OK: i32 = 0;
    /// A warning rule fires or breaches, or could not be evaluated (UNKNOWN), and nothing
    /// worse holds.
    pub const WARNING: i32 = 1;
    /// A critical rule fires, or breaches on a source whose history cannot show its `for`.
    pub const CRITICAL: i32 = 2;
    /// A backend could not be read or a critical rule could not be evaluated (UNKNOWN, no
    /// data), and no critical rule fires.
    pub const UNREADABLE: i32 = 3;
    /// `set`/`rollback`: the flag moved; nothing was written.
    pub const CONFLICT: i32 = 4;
    /// `set`/`rollback`: refused (by the guard, the backend or an unreadable flag), failed,
    /// or accepted but not applied (the re-read shows something else).
    pub const REFUSED: i32 = 5;
    /// `set`/`rollback`: no answer; the outcome is unknown (re-read shown).
    pub const UNKNOWN: i32 = 6;
}

/// A setup for the config's rollouts on the wall clock.
///
/// # Errors
/// When a backend cannot be built (missing token variable, bad URL).
pub fn setup(
    cfg: &Config,
    themes: Vec<Theme>,
    ascii: bool,
    audit: AuditLog,
) -> Result<Setup, String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rollouts = wire::wire(cfg, &clock)?;
    let refresh_ms = i64::try_from(cfg.refresh.as_millis()).unwrap_or(i64::MAX);
    Ok(Setup {
        rollouts,
        clock,
        refresh_ms,
        tick: Duration::from_millis(250),
        read_only: cfg.read_only,
        notify: cfg.notify,
        themes,
        ascii,
        audit,
        deadline: wire::deadline(cfg.refresh),
        log_file: Some(crate::paths::state_dir().join("rollwatch.log")),
    })
}

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

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map_or_else(String::new, |d| d.to_rfc3339())
}

/// The reason of a `BREACHING` rule.
pub const FOR_NOT_OBSERVABLE: &str = "for not observable: the source keeps no history";

/// How one rule counts for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Fine,
    Unknown,
    Fires,
}

/// What `status` reports for one rule: its state label, reason and verdict. A rule whose
/// condition holds at the only sample there is (the source keeps no history, so the backfill
/// brought nothing) cannot have its `for` established: it is `BREACHING` and counts as
/// firing, since the dashboard, watching over time, would show it firing.
fn judge(
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
                lifecycle: crate::app::lifecycle::lifecycle(r, s.now_ms, false).name(),
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

/// Whether `set` to `percent` steers forward from `current` (more traffic to the new path);
/// an unknown current value counts as forward.
fn steers_forward(current: Option<&crate::model::FlagSnapshot>, percent: u8) -> bool {
    current.is_none_or(|f| percent > f.effective_percent())
}

/// The words for the blockers of a write, `; `-separated.
fn blockers_text(blockers: &[crate::app::guard::Blocker]) -> String {
    blockers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `set` and `rollback`: a guarded, audited write on one rollout.
///
/// `set` first polls every rollout (backfill and rules, as `status` does) and refuses to steer
/// forward while [`crate::app::guard::forward_blockers`] names anything (a firing or unknown
/// `hold`/`rollback` rule, a failing or stale backend), unless `force`; the audit record then
/// says what it was forced past. `rollback` is never blocked. Every ending is audited with an
/// intent and an outcome record, including a refusal by the guard and a flag that cannot be
/// read before writing (a wrong token): both exit [`exit::REFUSED`].
///
/// # Errors
/// When the rollout cannot be chosen or built.
pub async fn write(
    setup: &Setup,
    rollout: Option<&str>,
    kind: WriteKind,
    expect: Option<u8>,
    force: bool,
) -> Result<(String, i32), String> {
    let audit = setup.audit.clone().with_clock(setup.clock.clone());
    let idx = match rollout {
        Some(n) => setup
            .rollouts
            .iter()
            .position(|(r, _)| r.name == n)
            .ok_or_else(|| format!("no rollout named `{n}` in the config"))?,
        None if setup.rollouts.len() == 1 => 0,
        None => {
            let names: Vec<_> = setup
                .rollouts
                .iter()
                .map(|(r, _)| r.name.as_str())
                .collect();
            return Err(format!(
                "the config has several rollouts: choose one with --rollout ({})",
                names.join(", ")
            ));
        }
    };
    let r = &setup.rollouts[idx].0;
    let desc = setup.rollouts[idx].1.flag.describe();
    // The same effects as the dashboard's: the flag read and the guarded write are its
    // commands, with its deadline and its audit log.
    let d = Driver::new(setup);
    let mut reason = "script".to_owned();
    // Whether `request.expected` holds a value read from the flag (else a placeholder).
    let mut seen = false;
    let mut request = WriteRequest {
        rollout: r.name.clone(),
        environment: r.environment.clone(),
        expected: crate::model::FlagSnapshot {
            percent: 0,
            enabled: false,
            version: None,
            details: Vec::new(),
        },
        kind,
        reason: reason.clone(),
    };
    if let WriteKind::SetPercent(p) = kind {
        let st = poll_once(setup).await;
        let rs = &st.rollouts[idx];
        let blockers = if steers_forward(rs.flag.as_ref(), p) {
            crate::app::guard::forward_blockers(rs, st.now_ms, st.stale_after_ms())
        } else {
            Vec::new()
        };
        if let Some(f) = &rs.flag {
            request.expected = f.clone();
            seen = true;
        }
        if !blockers.is_empty() {
            let why = blockers_text(&blockers);
            if !force {
                request.reason = format!("script (blocked: {why})");
                let res = refused_before_writing(
                    &audit,
                    &desc,
                    request,
                    WriteOutcome::Refused(format!("{why}; --force to write anyway")),
                );
                return Ok(report(&r.name, &res, seen));
            }
            reason = format!("script (forced past: {why})");
        }
    }
    request.reason.clone_from(&reason);
    let read = match d.perform(Command::ReadFlag(idx)).await {
        Some(Msg::FlagRead { result, .. }) => result,
        other => return Err(format!("reading the flag answered {other:?}")),
    };
    let mut expected = match read {
        Ok(s) => s,
        Err(e) => {
            let res = refused_before_writing(&audit, &desc, request, unreadable_outcome(&e));
            return Ok(report(&r.name, &res, seen));
        }
    };
    if let Some(p) = expect {
        expected.percent = p;
    }
    request.expected = expected;
    let write = Command::Write {
        rollout: idx,
        request,
    };
    match d.perform(write).await {
        Some(Msg::WriteDone { result, .. }) => Ok(report(&r.name, &result, true)),
        other => Err(format!("the write answered {other:?}")),
    }
}

/// The exit code of a write's outcome.
#[must_use]
pub fn exit_code(outcome: &WriteOutcome) -> i32 {
    match outcome {
        WriteOutcome::Ok => exit::OK,
        WriteOutcome::Conflict => exit::CONFLICT,
        WriteOutcome::Refused(_) | WriteOutcome::Error(_) | WriteOutcome::NotApplied { .. } => {
            exit::REFUSED
        }
        WriteOutcome::Unknown(_) => exit::UNKNOWN,
    }
}

/// The line `set`/`rollback` print for a write's result, and its exit code. `seen`: the
/// request's expected value was read from the flag (else it is not shown).
fn report(name: &str, res: &WriteResult, seen: bool) -> (String, i32) {
    let what = if seen {
        crate::app::update::describe_change(&res.request)
    } else {
        format!(
            "{} → {}",
            res.request.kind.action(),
            crate::flags::write::asked(res.request.kind)
        )
    };
    let now = res
        .after
        .as_ref()
        .map_or_else(|| "unreadable".into(), |a| format!("{}%", a.percent));
    let msg = match &res.outcome {
        WriteOutcome::Ok => format!("{name}: {what}: ok (re-read: {now})"),
        WriteOutcome::Conflict => format!(
            "{name}: {what}: CONFLICT: the flag is at {now}, not {}%; nothing written",
            res.request.expected.percent
        ),
        WriteOutcome::Refused(m) | WriteOutcome::Error(m) => {
            format!("{name}: {what}: refused: {m}")
        }
        WriteOutcome::Unknown(m) => {
            format!("{name}: {what}: UNKNOWN OUTCOME: {m}; re-read shows {now}; not retried")
        }
        WriteOutcome::NotApplied { asked, found } => format!(
            "{name}: {what}: NOT APPLIED: the backend accepted it but the re-read shows \
             {found}, not {asked}; not retried"
        ),
    };
    (msg, exit_code(&res.outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Msg, RolloutState, update};
    use crate::metrics::{CohortValues, MetricsError, Poll};
    use crate::model::FlagSnapshot;

    const T0: i64 = 1_700_000_000_000;

    type Values = Vec<Result<CohortValues, MetricsError>>;

    fn v(legacy: f64, new: f64) -> CohortValues {
        CohortValues {
            legacy: Some(legacy),
            new: Some(new),
            counts: None,
            bounds: None,
        }
    }

    /// The demo checkout's metrics, healthy: error %, p95 ms, memory, queries, tokens.
    fn healthy() -> Vec<CohortValues> {
        vec![
            v(0.08, 0.06),
            v(380.0, 240.0),
            v(2e8, 1.9e8),
            v(200.0, 9.0),
            v(1200.0, 840.0),
        ]
    }

    fn ok(values: Vec<CohortValues>) -> Values {
        values.into_iter().map(Ok).collect()
    }

    /// The demo checkout rollout (critical `new-error-rate` `error_rate` > 0.5 % for 30 s and
    /// `memory`; warnings `p95-vs-legacy`, `query-savings`) at 25 %, as `status` drives it:
    /// a backfill (`history` values every second over the last two minutes, or nothing: a
    /// source that keeps no history), then one poll answering `now`.
    fn status(history: Option<Vec<CohortValues>>, now: Values) -> StatusOut {
        let (def, _) = crate::sim::demo::checkout();
        let start = T0 - 120_000;
        let r = RolloutState::new(def, "memory".into(), "test".into(), start);
        let mut s = State::new(vec![r], 1000, start);
        let _ = update(
            &mut s,
            Msg::FlagRead {
                rollout: 0,
                at_ms: T0,
                result: Ok(FlagSnapshot::new(25, true)),
            },
        );
        let series = history.map_or_else(
            || vec![Vec::new(); 5],
            |h| {
                h.iter()
                    .map(|x| (start..T0).step_by(1000).map(|t| (t, *x)).collect())
                    .collect()
            },
        );
        let _ = update(
            &mut s,
            Msg::Backfilled {
                rollout: 0,
                result: Ok(series),
            },
        );
        let _ = update(&mut s, Msg::Tick(T0));
        let _ = update(
            &mut s,
            Msg::MetricsPolled {
                rollout: 0,
                at_ms: T0,
                result: Ok(Poll {
                    metrics: now,
                    warnings: Vec::new(),
                }),
            },
        );
        collect(&s)
    }

    fn rule<'a>(st: &'a StatusOut, name: &str) -> &'a AlertOut {
        st.rollouts[0]
            .alerts
            .iter()
            .find(|a| a.rule == name)
            .expect("rule in the status")
    }

    #[test]
    fn a_critical_rule_that_cannot_be_evaluated_is_3_never_0() {
        // Every rule evaluated and quiet: 0.
        let st = status(Some(healthy()), ok(healthy()));
        assert!(
            st.rollouts[0]
                .alerts
                .iter()
                .filter(|a| a.rule != crate::app::verdicts::SPLIT_RULE)
                .all(|a| a.state == "OK"),
            "{st:?}"
        );
        assert_eq!(st.exit_code, exit::OK);
        // The new cohort is missing from the error-ratio answer: plain no data.
        let mut now = healthy();
        now[0].new = None;
        let st = status(Some(healthy()), ok(now));
        let r = rule(&st, "new-error-rate");
        assert_eq!(
            (r.state, r.reason.as_deref()),
            ("UNKNOWN", Some("no value for the new cohort"))
        );
        assert_eq!(st.exit_code, exit::UNREADABLE);
        // The source says what was missing: that is the rule's reason.
        let mut now = ok(healthy());
        now[0] = Err(MetricsError::NoData(
            "the answer had version=v1,v2; new expects v3".into(),
        ));
        let st = status(Some(healthy()), now);
        let r = rule(&st, "new-error-rate");
        assert_eq!(r.state, "UNKNOWN");
        assert_eq!(
            r.reason.as_deref(),
            Some("no data: the answer had version=v1,v2; new expects v3")
        );
        assert_eq!(
            st.rollouts[0].metrics[0].error.as_deref(),
            r.reason.as_deref()
        );
        assert_eq!(st.exit_code, exit::UNREADABLE);
        assert!(table(&st).contains("UNKNOWN   critical rollback  new-error-rate (no data: the answer had version=v1,v2; new expects v3)"), "{}", table(&st));
        // Unless a critical rule fires: that is 2.
        let mut bad = healthy();
        bad[0] = v(0.08, 3.0);
        let mut now = bad.clone();
        now[2].new = None; // memory: critical, unknown
        let st = status(Some(bad), ok(now));
        assert_eq!(rule(&st, "new-error-rate").state, "FIRING");
        assert_eq!(rule(&st, "memory").state, "UNKNOWN");
        assert_eq!(st.exit_code, exit::CRITICAL);
    }

    #[test]
    fn every_query_without_the_cohort_label_is_3() {
        let err = || {
            Err(MetricsError::NoData(
                "no series carries the cohort label `version`; labels seen: instance, job".into(),
            ))
        };
        let st = status(Some(healthy()), (0..5).map(|_| err()).collect());
        assert!(
            st.rollouts[0]
                .alerts
                .iter()
                .filter(|a| a.rule != crate::app::verdicts::SPLIT_RULE)
                .all(|a| a.state == "UNKNOWN"),
            "{st:?}"
        );
        assert_eq!(st.exit_code, exit::UNREADABLE);
    }

    #[test]
    fn a_warning_rule_that_cannot_be_evaluated_is_1() {
        let mut now = healthy();
        now[1].new = None; // p95
        let st = status(Some(healthy()), ok(now));
        assert_eq!(rule(&st, "p95-vs-legacy").state, "UNKNOWN");
        assert_eq!(rule(&st, "new-error-rate").state, "OK");
        assert_eq!(st.exit_code, exit::WARNING);
    }

    #[test]
    fn a_breach_on_a_source_without_history_counts_as_firing() {
        let mut now = healthy();
        now[0] = v(0.08, 3.0);
        // With history, a breach that just started is pending: its `for` is running.
        let st = status(Some(healthy()), ok(now.clone()));
        assert_eq!(rule(&st, "new-error-rate").state, "PENDING");
        assert_eq!(st.exit_code, exit::OK);
        // Without history its `for` cannot be established.
        let st = status(None, ok(now));
        let r = rule(&st, "new-error-rate");
        assert_eq!(
            (r.state, r.reason.as_deref()),
            ("BREACHING", Some(FOR_NOT_OBSERVABLE))
        );
        assert_eq!(st.exit_code, exit::CRITICAL);
        assert!(
            table(&st).contains(
                "BREACHING critical rollback  new-error-rate (for not observable: the source keeps no history)"
            ),
            "{}",
            table(&st)
        );
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["rollouts"][0]["alerts"][0]["state"], "BREACHING");
        // A warning rule breaching there is a warning.
        let mut now = healthy();
        now[1] = v(380.0, 900.0);
        let st = status(None, ok(now));
        assert_eq!(rule(&st, "p95-vs-legacy").state, "BREACHING");
        assert_eq!(st.exit_code, exit::WARNING);
    }
}
