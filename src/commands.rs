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
use crate::audit::AuditLog;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, wire};
use crate::flags::write::{
    WriteKind, WriteOutcome, WriteRequest, WriteResult, guarded_write, refused_before_writing,
    unreadable_outcome,
};
use crate::model::MetricDef;
use crate::ui::theme::Theme;

/// Exit codes of `status`.
pub mod exit {
    /// Nothing fires.
    pub const OK: i32 = 0;
    /// A warning rule fires.
    pub const WARNING: i32 = 1;
    /// A critical rule fires.
    pub const CRITICAL: i32 = 2;
    /// A backend could not be read (and no critical fires).
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
    /// `OK`, `PENDING`, `FIRING`, `RESOLVED`, `UNKNOWN`.
    pub state: &'static str,
    /// Since when, RFC 3339.
    pub since: String,
    /// Last left-hand value.
    pub value: Option<f64>,
    /// Why unknown.
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
    /// Why it could not be read.
    pub error: Option<String>,
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

/// Collects the status document from a driven state.
#[must_use]
pub fn collect(s: &State) -> StatusOut {
    let mut code = exit::OK;
    let mut unreadable = false;
    let mut warning = false;
    let rollouts = s
        .rollouts
        .iter()
        .map(|r| {
            unreadable |= r.flag_error.is_some() || r.metrics_error.is_some() || r.flag.is_none();
            let alerts = r
                .def
                .rules
                .iter()
                .zip(&r.alerts)
                .map(|(rule, a)| {
                    if a.status == AlertStatus::Firing {
                        match rule.severity {
                            Severity::Critical => code = exit::CRITICAL,
                            Severity::Warning => warning = true,
                        }
                    }
                    AlertOut {
                        rule: rule.name.clone(),
                        metric: rule.metric.clone(),
                        severity: rule.severity.as_str(),
                        action: rule.action.label(),
                        state: a.status.label(),
                        since: rfc3339(a.since_ms),
                        value: a.value,
                        reason: a.reason.clone(),
                    }
                })
                .collect();
            let metrics = r
                .def
                .metrics
                .iter()
                .zip(&r.metrics)
                .map(|(d, m)| MetricOut {
                    id: d.id.clone(),
                    label: d.label.clone(),
                    unit: d.kind.unit(),
                    legacy: m.last.legacy,
                    new: m.last.new,
                    saving: d
                        .savings_target
                        .and_then(|_| MetricDef::saving(m.last.legacy, m.last.new)),
                    error: m.error.clone(),
                })
                .collect();
            RolloutOut {
                name: r.def.name.clone(),
                environment: r.def.environment.clone(),
                flag_backend: r.flag_backend.clone(),
                percent: r.flag.as_ref().map(|f| f.percent),
                enabled: r.flag.as_ref().map(|f| f.enabled),
                flag_error: r.flag_error.clone(),
                metrics_source: r.metrics_source.clone(),
                metrics_error: r.metrics_error.clone(),
                metrics,
                alerts,
            }
        })
        .collect();
    if code != exit::CRITICAL {
        code = if unreadable {
            exit::UNREADABLE
        } else if warning {
            exit::WARNING
        } else {
            exit::OK
        };
    }
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
            "{} [{}] {flag} via {}",
            r.name, r.environment, r.flag_backend
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
    let (r, b) = &setup.rollouts[idx];
    let flag = crate::app::effects::FlagDeadline::new(b.flag.clone(), setup.deadline);
    let desc = crate::flags::FlagBackend::describe(&flag);
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
                    &setup.audit,
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
    let mut expected = match crate::flags::FlagBackend::read(&flag).await {
        Ok(s) => s,
        Err(e) => {
            let res = refused_before_writing(&setup.audit, &desc, request, unreadable_outcome(&e));
            return Ok(report(&r.name, &res, seen));
        }
    };
    if let Some(p) = expect {
        expected.percent = p;
    }
    request.expected = expected;
    let res = guarded_write(&flag, &setup.audit, request, setup.read_only).await;
    Ok(report(&r.name, &res, true))
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
