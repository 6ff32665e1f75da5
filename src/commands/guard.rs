//! `rollwatch guard`: the rollout's automation without a terminal, for a systemd unit or a CI
//! job. Picks the rollout, arms it (auto-advance and auto-rollback), takes the lease in the flag
//! backend, runs [`crate::app::headless`] and releases the lease. Exit codes: 0 COMPLETE, 10
//! ROLLED BACK, 11 stopped by an operator, 12 gave up on lost data, 2 bad config or a lease held
//! by another guard (the message names it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::app::guard::hhmm;
use crate::app::headless::{self, Events, GuardOptions, Held};
use crate::audit::{AuditLog, host_name};
use crate::clock::{Clock, ScaledClock, SystemClock};
use crate::config::Config;
use crate::flags::{FlagBackend, FlagError};
use crate::model::Lease;

/// What `guard` was asked for, its arguments parsed.
pub struct GuardPlan {
    /// The rollout (required when the config has several).
    pub rollout: Option<String>,
    /// Stop once this step has baked.
    pub until: Option<u8>,
    /// Give up after this long without fresh data.
    pub give_up_after: Duration,
    /// Event lines go to this file (appended) instead of stdout.
    pub events: Option<PathBuf>,
    /// How long the lease holds without renewal.
    pub lease_ttl: Duration,
    /// The lease holder's name (default `guard@HOST`).
    pub holder: Option<String>,
    /// A scaled clock (demos and tests, in-process flags only).
    pub speed: Option<f64>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Keeps the one rollout the guard steers, armed, its plan ending at `until`.
fn select(cfg: &mut Config, plan: &GuardPlan) -> Result<(), String> {
    let names: Vec<String> = cfg
        .rollouts
        .iter()
        .map(|r| r.rollout.name.clone())
        .collect();
    let keep = match (&plan.rollout, names.len()) {
        (Some(n), _) => names.iter().position(|x| x == n).ok_or_else(|| {
            format!(
                "no rollout named `{n}` in the config; it has: {}",
                names.join(", ")
            )
        })?,
        (None, 1) => 0,
        (None, _) => {
            return Err(format!(
                "the config has several rollouts; choose one with --rollout: {}",
                names.join(", ")
            ));
        }
    };
    let mut rc = cfg.rollouts.swap_remove(keep);
    cfg.rollouts = Vec::new();
    let r = &mut rc.rollout;
    if let Some(u) = plan.until {
        if !r.steps.iter().any(|s| s.percent == u) {
            let steps: Vec<String> = r.steps.iter().map(|s| s.percent.to_string()).collect();
            return Err(format!(
                "--until {u}: not a step of rollout `{}` (steps: {})",
                r.name,
                steps.join(", ")
            ));
        }
        r.steps.retain(|s| s.percent <= u);
    }
    r.automation.auto_advance = true;
    r.automation.auto_rollback = true;
    if cfg.read_only {
        return Err(
            "read-only: a guard must be able to write (--read-only or `read_only` in the config)"
                .into(),
        );
    }
    if plan.speed.is_some() && !rc.flag.spec.in_process() {
        return Err("--speed works only with an in-process flag (`kind = \"memory\"`)".into());
    }
    cfg.rollouts.push(rc);
    Ok(())
}

/// Takes the lease for `mine`, or says who holds it.
async fn take(flag: &dyn FlagBackend, mine: &Lease, now_ms: i64) -> Result<(), String> {
    let held = |l: &Lease| {
        format!(
            "already guarded by {} since {} (lease until {}); stop that guard first",
            l.holder,
            hhmm(l.since_ms),
            hhmm(l.expires_ms)
        )
    };
    let snap = flag
        .read()
        .await
        .map_err(|e| format!("cannot read the flag to take the lease: {e}"))?;
    let stored = snap.lease.map(|l| *l);
    if let Some(l) = stored.as_ref().filter(|l| l.live_at(now_ms)) {
        return Err(held(l));
    }
    match flag.swap_lease(stored.as_ref(), Some(mine)).await {
        Ok(()) => Ok(()),
        Err(FlagError::Conflict { current }) => match current.and_then(|c| c.lease).map(|l| *l) {
            Some(l) => Err(held(&l)),
            None => Err("the lease moved while it was taken; try again".into()),
        },
        Err(e) => Err(format!("cannot take the lease: {e}")),
    }
}

/// Gives the lease back (best effort: it lapses anyway). A renewal that landed unseen is
/// found by a re-read.
async fn release(flag: &dyn FlagBackend, last: &Lease) -> Result<(), FlagError> {
    match flag.swap_lease(Some(last), None).await {
        Err(FlagError::Conflict { .. }) => {
            let now = flag.read().await?;
            match now.lease.filter(|l| l.same_holder(last)) {
                Some(l) => flag.swap_lease(Some(l.as_ref()), None).await,
                None => Ok(()),
            }
        }
        r => r,
    }
}

fn events_out(path: Option<&PathBuf>) -> Result<Box<dyn std::io::Write + Send>, String> {
    match path {
        None => Ok(Box::new(std::io::stdout())),
        Some(p) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map(|f| Box::new(f) as Box<dyn std::io::Write + Send>)
            .map_err(|e| format!("--events {}: {e}", p.display())),
    }
}

/// Takes the lease for `holder` when the backend keeps one (`None` when it cannot).
async fn hold(
    flag: &Arc<dyn FlagBackend>,
    holder: &str,
    plan: &GuardPlan,
    clock: &dyn Clock,
) -> Result<Option<Held>, String> {
    if !flag.can_lease() {
        return Ok(None);
    }
    let now = clock.now_ms();
    let token = format!("{}-{}", std::process::id(), now.rem_euclid(1_000_000_000));
    let ttl_ms = ms(plan.lease_ttl).max(3000);
    let mine = Lease::new(holder, &token, now, ttl_ms);
    take(flag.as_ref(), &mine, now).await?;
    let speed = plan.speed.unwrap_or(1.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let renew_every = Duration::from_millis((ttl_ms as f64 / 3.0 / speed).max(50.0) as u64);
    Ok(Some(Held {
        flag: flag.clone(),
        lease: mine,
        ttl_ms,
        renew_every,
    }))
}

/// Runs the guard; `Ok(exit code)` once the rollout has an outcome, `Err` (exit 2) for a bad
/// config, an unbuildable backend or a lease held by another guard.
///
/// # Errors
/// The refusal in words.
pub async fn guard(mut cfg: Config, plan: GuardPlan, audit: AuditLog) -> Result<u8, String> {
    select(&mut cfg, &plan)?;
    let now = SystemClock.now_ms();
    let clock: Arc<dyn Clock> = match plan.speed {
        Some(s) if s.is_finite() && s > 0.0 && s <= 100_000.0 => Arc::new(ScaledClock::new(now, s)),
        Some(s) => {
            return Err(format!(
                "--speed must be above 0 and at most 100000, got {s}"
            ));
        }
        None => Arc::new(SystemClock),
    };
    let speed = plan.speed.unwrap_or(1.0);
    let mut setup = super::setup_with_clock(&cfg, Vec::new(), true, audit, clock.clone())?;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let tick_ms = ((setup.refresh_ms as f64 / speed / 2.0) as u64).clamp(5, 250);
    setup.tick = Duration::from_millis(tick_ms);
    let name = cfg.rollouts[0].rollout.name.clone();
    let flag = setup.rollouts[0].1.flag.clone();
    let flag = crate::app::effects::FlagDeadline::new(flag, setup.deadline);
    let flag: Arc<dyn FlagBackend> = Arc::new(flag);

    let mut events = Events::new(events_out(plan.events.as_ref())?);
    let holder = plan
        .holder
        .clone()
        .unwrap_or_else(|| format!("guard@{}", host_name()));
    let held = hold(&flag, &holder, &plan, clock.as_ref())
        .await
        .map_err(|e| format!("rollout `{name}`: {e}"))?;
    events.emit(
        clock.now_ms(),
        &name,
        "start",
        json!({
            "holder": holder,
            "flag": flag.describe(),
            "lease": held.as_ref().map(|h| h.lease.encode()),
            "lease_supported": held.is_some(),
            "until": plan.until,
            "give_up_after_ms": ms(plan.give_up_after),
            "pid": std::process::id(),
        }),
    );
    if held.is_none() {
        events.emit(
            clock.now_ms(),
            &name,
            "log",
            json!({"level": "warn", "text": "this flag backend cannot keep a lease: nothing stops a second guard or an armed dashboard from steering this rollout too"}),
        );
    }
    let opts = GuardOptions {
        events,
        give_up_ms: ms(plan.give_up_after),
        held,
    };
    let (outcome, mut events, last) = headless::run(setup, opts)
        .await
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    let released = match &last {
        Some(l) => Some(release(flag.as_ref(), l).await.map_err(|e| e.to_string())),
        None => None,
    };
    events.emit(
        clock.now_ms(),
        &name,
        "exit",
        json!({
            "outcome": outcome.name(),
            "detail": outcome.detail(),
            "code": outcome.code(),
            "lease_released": released.as_ref().map(Result::is_ok),
            "release_error": released.and_then(Result::err),
        }),
    );
    Ok(outcome.code())
}
