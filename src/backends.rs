//! The live backends of a rollout and how a config becomes them: each rollout's flag and
//! metrics specs (parsed by their adapters through the registries in
//! [`crate::flags::registry`] and [`crate::metrics::registry`]) are built with their secrets
//! resolved. Neither `config` nor the adapters know about the app that uses the result.

use std::sync::Arc;
use std::time::Duration;

use crate::app::discovery::{Rediscover, Rediscovered};
use crate::clock::Clock;
use crate::config::fleet::FleetConfig;
use crate::config::{Config, RolloutConfig};
use crate::flags::FlagBackend;
use crate::metrics::MetricsSource;
use crate::metrics::fleet::Member;
use crate::metrics::registry::BuildCtx;
use crate::metrics::registry::Source;
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

/// Discovers every fleet's flags and appends a rollout per flag to `cfg.rollouts` (its
/// template named after the flag, its flag backend from the selection, its metrics from the
/// fleet's shared source). A `[[rollout]]` written with the same name overrides the
/// discovered one (and an earlier fleet's flag a later fleet's). Returns one note per fleet.
///
/// # Errors
/// A fleet whose backend could not be asked, naming it.
pub async fn discover(cfg: &mut Config) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    for fleet in &cfg.fleets {
        let names = selected(fleet).await?;
        let mut added = 0usize;
        for name in &names {
            if cfg.rollouts.iter().any(|r| r.rollout.name == *name) {
                continue;
            }
            cfg.rollouts.push(member(fleet, name));
            added += 1;
        }
        notes.push(format!(
            "fleet `{}`: {} flag{} found, {added} added",
            fleet.name,
            names.len(),
            if names.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(notes)
}

/// The flags a fleet selects now.
async fn selected(fleet: &FleetConfig) -> Result<Vec<String>, String> {
    fleet
        .discovery
        .spec
        .discover()
        .await
        .map_err(|e| format!("fleet `{}`: discovering its flags: {e}", fleet.name))
}

/// The rollout of flag `name` in `fleet`.
fn member(fleet: &FleetConfig, name: &str) -> RolloutConfig {
    let mut rollout = fleet.template.clone();
    name.clone_into(&mut rollout.name);
    RolloutConfig {
        rollout,
        flag: fleet.discovery.spec.flag(name),
        also: Vec::new(),
        source: Source {
            kind: fleet.source.kind,
            spec: Arc::new(Member {
                shared: fleet.source.clone(),
                flag: name.to_owned(),
            }),
        },
    }
}

/// The fleets' discovery while watching: new flags become rollouts appended after the
/// others (their backends built like the first ones', sharing the fleet's source); flags
/// discovered before and no longer selected are reported gone.
pub struct Rediscovery {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: Config,
    clock: Arc<dyn Clock>,
    /// The names of the rollouts the fleets made (not the written ones).
    members: std::sync::Mutex<Vec<String>>,
    /// The written `[[rollout]]`s, which override discovered ones.
    written: Vec<String>,
}

impl Rediscovery {
    /// For `cfg` after [`discover`] (`written` are the names of its `[[rollout]]`s).
    #[must_use]
    pub fn new(cfg: &Config, written: Vec<String>, clock: Arc<dyn Clock>) -> Self {
        let members = cfg
            .rollouts
            .iter()
            .map(|r| r.rollout.name.clone())
            .filter(|n| !written.contains(n))
            .collect();
        Self {
            inner: Arc::new(Inner {
                cfg: cfg.clone(),
                clock,
                members: std::sync::Mutex::new(members),
                written,
            }),
        }
    }
}

impl Inner {
    async fn find(&self, known: Vec<String>) -> Rediscovered {
        let mut now: Vec<String> = Vec::new();
        let mut cfg = Config {
            rollouts: Vec::new(),
            ..self.cfg.clone()
        };
        for fleet in &self.cfg.fleets {
            for name in selected(fleet).await? {
                if !self.written.contains(&name) && !now.contains(&name) {
                    if !known.contains(&name) {
                        cfg.rollouts.push(member(fleet, &name));
                    }
                    now.push(name);
                }
            }
        }
        let added = wire(&cfg, &self.clock)?;
        let mut members = self
            .members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        members.extend(added.iter().map(|(r, _)| r.name.clone()));
        let gone = members
            .iter()
            .filter(|m| !now.contains(m))
            .cloned()
            .collect();
        Ok((added, gone))
    }
}

impl Rediscover for Rediscovery {
    fn rediscover(&self, known: Vec<String>) -> futures::future::BoxFuture<'static, Rediscovered> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.find(known).await })
    }
}

/// The total deadline of each request: min(poll interval, 5 s) (R1), as
/// [`crate::net::policy::poll_deadline`] defines it.
#[must_use]
pub fn deadline(refresh: Duration) -> Duration {
    crate::net::policy::poll_deadline(refresh)
}
