//! Fleets while watching: every so often `update` asks the effects to discover the fleets'
//! flags again ([`Command::Discover`]); the effects build the new rollouts' backends,
//! **append** them to their list and answer [`Msg::Discovered`], on which `update` appends the
//! rollouts in the same order. Indices never shift: a flag archived or no longer selected is
//! marked `gone` (its polls stop; the view may hide it) and unmarked if it comes back.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::msg::Command;
use super::state::{LogLevel, RolloutState, State};
use crate::backends::Backends;
use crate::model::Rollout;

/// A rollout found while watching, as the state holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// The rollout (the fleet's template, named after the flag).
    pub rollout: Rollout,
    /// Its flag backend's description.
    pub flag: String,
    /// Its metrics source's description.
    pub metrics: String,
    /// A backend skips TLS verification.
    pub insecure_tls: bool,
    /// Its backend can switch the flag off.
    pub kill_switch: bool,
}

/// What a discovery found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovered {
    /// New rollouts, appended in this order.
    pub added: Vec<Found>,
    /// Discovered rollouts whose flag is no longer selected (archived, strategy removed).
    pub gone: Vec<String>,
}

/// New rollouts with their backends, and the names of the discovered ones gone.
pub type Rediscovered = Result<(Vec<(Rollout, Backends)>, Vec<String>), String>;

/// The fleets' discovery, as the effects run it.
pub trait Rediscover: Send + Sync {
    /// The rollouts the fleets select now that are not in `known` (with their backends),
    /// and the names of those discovered before that are no longer selected.
    fn rediscover(&self, known: Vec<String>) -> BoxFuture<'static, Rediscovered>;
}

/// The schedule of discovery while watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryFeed {
    /// Time between discoveries (clock ms).
    pub every_ms: i64,
    /// When the next is due.
    pub next_at_ms: i64,
    /// One is running.
    pub in_flight: bool,
}

/// A discovery when due and none is running.
pub(crate) fn tick(state: &mut State, now: i64, cmds: &mut Vec<Command>) {
    let Some(d) = &mut state.discovery else {
        return;
    };
    if d.in_flight || now < d.next_at_ms {
        return;
    }
    d.in_flight = true;
    d.next_at_ms = now + d.every_ms;
    let known = state.rollouts.iter().map(|r| r.def.name.clone()).collect();
    cmds.push(Command::Discover { known });
}

/// Appends the rollouts found and marks the ones gone.
pub(crate) fn on_discovered(state: &mut State, at_ms: i64, result: Result<Discovered, String>) {
    if let Some(d) = &mut state.discovery {
        d.in_flight = false;
    }
    let found = match result {
        Ok(f) => f,
        Err(e) => {
            state.say(
                LogLevel::Warn,
                format!("discovering the fleets' flags: {e}"),
            );
            return;
        }
    };
    for f in found.added {
        let name = f.rollout.name.clone();
        let mut rs = RolloutState::new(f.rollout, f.flag, f.metrics, at_ms);
        rs.insecure_tls = f.insecure_tls;
        rs.kill_switch = f.kill_switch;
        state.rollouts.push(rs);
        state.say(LogLevel::Info, format!("discovered `{name}`: watching it"));
        state.dirty = true;
    }
    for i in 0..state.rollouts.len() {
        let gone = found.gone.contains(&state.rollouts[i].def.name);
        if state.rollouts[i].gone != gone {
            state.rollouts[i].gone = gone;
            state.dirty = true;
            let what = if gone {
                "no longer selected by its fleet (archived?): not polled"
            } else {
                "selected again: polling it"
            };
            state.log(i, LogLevel::Info, what.to_owned());
        }
    }
}

/// The found rollouts as the state will hold them.
#[must_use]
pub fn found(added: &[(Rollout, Backends)]) -> Vec<Found> {
    added
        .iter()
        .map(|(r, b)| Found {
            rollout: r.clone(),
            flag: b.flag.describe(),
            metrics: b.metrics.describe(),
            insecure_tls: b.insecure_tls,
            kill_switch: b.flag.can_set_enabled(),
        })
        .collect()
}

/// A shareable discovery.
pub type Shared = Arc<dyn Rediscover>;
