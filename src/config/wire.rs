//! Turns a validated config into live backends: resolves secrets (through
//! [`crate::net::AuthKeys::resolve`], the one place they are read), builds adapters.

use std::sync::Arc;
use std::time::Duration;

use super::{Config, FlagSpec, RolloutConfig, SourceSpec};
use crate::app::effects::Backends;
use crate::clock::Clock;
use crate::flags::http::HttpFlag;
use crate::flags::memory::MemoryFlag;
use crate::flags::unleash::UnleashFlag;
use crate::metrics::json::{JsonMetric, JsonSource};
use crate::metrics::prometheus::{PrometheusQuery, PrometheusSource};
use crate::metrics::sim::SimSource;
use crate::metrics::units::ValueUnit;
use crate::model::MetricKind;
use crate::model::Rollout;
use crate::net::Auth;
use crate::sim::{Profile, Simulator};

/// Why a simulator metrics source cannot go with a flag other than `memory`.
pub const SIMULATOR_NEEDS_MEMORY: &str = "metrics `kind` = \"simulator\" needs `flag.kind = \"memory\"` \
     (the simulator's traffic follows an in-process flag; to steer a simulator over HTTP, run \
     `rollwatch simulate` and use the prometheus source)";

/// The Prometheus queries of a rollout, one per metric in order, with their count queries.
#[must_use]
pub fn prometheus_queries(rc: &RolloutConfig) -> Vec<PrometheusQuery> {
    rc.rollout
        .metrics
        .iter()
        .zip(&rc.metric_sources)
        .map(|(d, m)| {
            let mut q = PrometheusQuery::new(m.query.clone().unwrap_or_default(), m.scale);
            q.events_query.clone_from(&m.events_query);
            q.trials_query.clone_from(&m.trials_query);
            q.buckets_query.clone_from(&m.buckets_query);
            q.slow_above = m.slow_above;
            if let MetricKind::Latency { quantile } = d.kind {
                q.quantile = Some(quantile);
            }
            q
        })
        .collect()
}

/// The JSON metric pointers of a rollout, one per metric in order.
#[must_use]
pub fn json_metrics(rc: &RolloutConfig) -> Vec<JsonMetric> {
    rc.rollout
        .metrics
        .iter()
        .zip(&rc.metric_sources)
        .map(|(d, m)| JsonMetric {
            legacy: m.legacy.clone().unwrap_or_default(),
            new: m.new.clone().unwrap_or_default(),
            unit: m.unit.unwrap_or(match d.kind {
                MetricKind::Ratio => ValueUnit::Percent,
                MetricKind::Latency { .. } => ValueUnit::Millis,
                MetricKind::Bytes => ValueUnit::Bytes,
                MetricKind::PerRequest | MetricKind::Gauge => ValueUnit::Count,
            }),
            legacy_per: m.legacy_per.clone(),
            new_per: m.new_per.clone(),
            cumulative: m.cumulative,
            legacy_calls: m.legacy_calls.clone(),
            new_calls: m.new_calls.clone(),
            counts: d.kind == MetricKind::Ratio && m.cumulative,
        })
        .collect()
}

/// Builds every rollout's backends.
///
/// # Errors
/// A message naming the rollout and what is missing (an unset token variable, ...).
pub fn wire(cfg: &Config, clock: &Arc<dyn Clock>) -> Result<Vec<(Rollout, Backends)>, String> {
    let now = clock.now_ms();
    let mut out = Vec::new();
    for (k, rc) in cfg.rollouts.iter().enumerate() {
        let name = &rc.rollout.name;
        let ctx = |m: String| format!("rollout `{name}`: {m}");
        let (flag, memory): (Arc<dyn crate::flags::FlagBackend>, Option<MemoryFlag>) = match &rc
            .flag
        {
            FlagSpec::Memory { percent } => {
                let f = MemoryFlag::new(name, *percent);
                (Arc::new(f.clone()), Some(f))
            }
            FlagSpec::Unleash(uc) => {
                let token = match uc.auth_keys().resolve() {
                    Ok(Auth::Bearer(t)) => t,
                    Ok(_) => return Err(ctx("flag: set `token_env` or `token_file`".into())),
                    Err(e) => return Err(ctx(format!("flag: {e}"))),
                };
                let f =
                    UnleashFlag::new(uc.clone(), token).map_err(|e| ctx(format!("flag: {e}")))?;
                (Arc::new(f), None)
            }
            FlagSpec::Http(hc) => {
                let token = match hc.auth_keys().resolve() {
                    Ok(Auth::Bearer(t)) => Some(t),
                    Ok(_) => None,
                    Err(e) => return Err(ctx(format!("flag: {e}"))),
                };
                let f = HttpFlag::new(hc.clone(), token).map_err(|e| ctx(format!("flag: {e}")))?;
                (Arc::new(f), None)
            }
        };
        let metrics: Arc<dyn crate::metrics::MetricsSource> = match &rc.source {
            SourceSpec::Simulator { scenario, seed } => {
                let Some(mem) = memory else {
                    return Err(ctx(SIMULATOR_NEEDS_MEMORY.into()));
                };
                let fields = rc.metric_sources.iter().filter_map(|m| m.sim).collect();
                let sim = Simulator::new(
                    seed.wrapping_add(k as u64),
                    *scenario,
                    Profile::checkout(),
                    now - crate::sim::demo::WARMUP_MS,
                    now,
                );
                Arc::new(SimSource::new(sim, mem, clock.clone(), fields))
            }
            SourceSpec::Prometheus(pc) => {
                let auth = pc
                    .auth_keys()
                    .resolve()
                    .map_err(|e| ctx(format!("metrics: {e}")))?;
                let queries = prometheus_queries(rc);
                Arc::new(
                    PrometheusSource::new(pc, queries, auth, cfg.refresh)
                        .map_err(|e| ctx(format!("metrics: {e}")))?
                        .with_clock(clock.clone()),
                )
            }
            SourceSpec::Json(jc) => {
                let auth = jc
                    .auth_keys()
                    .resolve()
                    .map_err(|e| ctx(format!("metrics: {e}")))?;
                let metrics = json_metrics(rc);
                Arc::new(
                    JsonSource::new(jc, metrics, auth, cfg.refresh)
                        .map_err(|e| ctx(format!("metrics: {e}")))?,
                )
            }
        };
        let insecure_tls = match &rc.flag {
            FlagSpec::Unleash(u) => u.insecure_skip_verify,
            FlagSpec::Http(h) => h.insecure_skip_verify,
            FlagSpec::Memory { .. } => false,
        } || match &rc.source {
            SourceSpec::Prometheus(p) => p.insecure_skip_verify,
            SourceSpec::Json(j) => j.insecure_skip_verify,
            SourceSpec::Simulator { .. } => false,
        };
        out.push((
            rc.rollout.clone(),
            Backends {
                flag,
                metrics,
                insecure_tls,
            },
        ));
    }
    Ok(out)
}

/// The total deadline of each request: min(poll interval, 5 s) (R1), as
/// [`crate::net::policy::poll_deadline`] defines it.
#[must_use]
pub fn deadline(refresh: Duration) -> Duration {
    crate::net::policy::poll_deadline(refresh)
}
