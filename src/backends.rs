//! The live backends of a rollout and how a config becomes them: each rollout's flag and
//! metrics specs (parsed by their adapters through the registries in
//! [`crate::flags::registry`] and [`crate::metrics::registry`]) are built with their secrets
//! resolved. Neither `config` nor the adapters know about the app that uses the result.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::flags::FlagBackend;
use crate::metrics::MetricsSource;
use crate::metrics::registry::BuildCtx;
use crate::model::Rollout;

/// The two backends of one rollout.
#[derive(Clone)]
pub struct Backends {
    /// Where the flag lives.
    pub flag: Arc<dyn FlagBackend>,
    /// The flags that move with it (`[[rollout.also]]`), in order: each one's label and backend.
    pub also: Vec<AlsoBackend>,
    /// Where the metrics come from.
    pub metrics: Arc<dyn MetricsSource>,
    /// A backend was configured with `insecure_skip_verify = true` (shown in the header).
    pub insecure_tls: bool,
}

/// A flag that moves with the rollout's flag.
#[derive(Clone)]
pub struct AlsoBackend {
    /// Its label (`name`, else the backend's description).
    pub name: String,
    /// Where it lives.
    pub flag: Arc<dyn FlagBackend>,
}

/// Builds every rollout's backends, reading their secrets (through
/// [`crate::net::AuthKeys::resolve`], the one place they are read).
///
/// # Errors
/// A message naming the rollout and what is missing (an unset token variable, ...).
pub fn wire(cfg: &Config, clock: &Arc<dyn Clock>) -> Result<Vec<(Rollout, Backends)>, String> {
    let mut out = Vec::new();
    for (index, rc) in cfg.rollouts.iter().enumerate() {
        let name = &rc.rollout.name;
        let ctx = |m: String| format!("rollout `{name}`: {m}");
        let flag = rc
            .flag
            .spec
            .build(name)
            .map_err(|e| ctx(format!("flag: {e}")))?;
        let metrics = rc
            .source
            .spec
            .build(&BuildCtx {
                flag: &flag,
                clock,
                refresh: cfg.refresh,
                index,
            })
            .map_err(ctx)?;
        let mut also = Vec::new();
        for a in &rc.also {
            let built = a
                .flag
                .spec
                .build(name)
                .map_err(|e| ctx(format!("also: {e}")))?;
            also.push(AlsoBackend {
                name: a.name.clone().unwrap_or_else(|| built.backend.describe()),
                flag: built.backend,
            });
        }
        let insecure_tls = rc.flag.spec.insecure_tls()
            || rc.source.spec.insecure_tls()
            || rc.also.iter().any(|a| a.flag.spec.insecure_tls());
        out.push((
            rc.rollout.clone(),
            Backends {
                flag: flag.backend,
                also,
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
