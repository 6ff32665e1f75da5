//! The statistical verdicts of a rollout, from the counts its source reports since the step
//! began: the always-valid guardrail per rate (`worse`, `not worse`, `inconclusive`), the
//! traffic-split check against the flag, and the requests the new path has served at this
//! step. Pure functions over [`RolloutState`]; the rules, automation, screen and `status` all
//! ask here, so they cannot disagree.

use super::state::RolloutState;
use crate::metrics::Counts;
use crate::stats::{Guardrail, Safety, SplitCheck, Tuning, guardrail, split_check};

/// The built-in traffic-split rule's name (a `hold` warning).
pub const SPLIT_RULE: &str = "traffic-split";

/// The tuning of this step's sequences: fixed once per step (see [`Tuning::for_bake`]), the
/// default until the traffic rate is known.
#[must_use]
pub fn tuning(r: &RolloutState) -> Tuning {
    r.tuning.unwrap_or_default()
}

/// The guardrail of metric `k`, when its source reports counts.
#[must_use]
pub fn metric_guardrail(r: &RolloutState, k: usize) -> Option<Guardrail> {
    let m = r.metrics.get(k)?;
    let c = m.last.counts?;
    let def = r.def.metrics.get(k)?;
    Some(guardrail(
        c.legacy,
        c.new,
        def.direction,
        def.tolerance.unwrap_or(0.0) / 100.0,
        &tuning(r),
    ))
}

/// Whether any rate's guardrail says the new path is worse.
#[must_use]
pub fn any_worse(r: &RolloutState) -> Option<String> {
    (0..r.metrics.len()).find_map(|k| {
        metric_guardrail(r, k)
            .filter(|g| g.safety == Safety::Worse)
            .map(|_| format!("{} is worse on the new path", r.def.metrics[k].label))
    })
}

/// The counts the split check and the request count use: the first metric that has them.
fn step_counts(r: &RolloutState) -> Option<Counts> {
    r.metrics.iter().find_map(|m| m.last.counts)
}

/// Requests the new path served at this step, when a source counts them.
#[must_use]
pub fn new_requests(r: &RolloutState) -> Option<u64> {
    step_counts(r).map(|c| c.new.1)
}

/// The minimum new-path requests before the step counts as baked.
#[must_use]
pub fn min_new_requests(r: &RolloutState) -> Option<u64> {
    let pct = r.flag.as_ref()?.effective_percent();
    step_counts(r)?;
    Some(
        r.def
            .automation
            .min_new_requests
            .unwrap_or_else(|| tuning(r).min_new_requests(pct)),
    )
}

/// The split check: the new path's share of requests against the flag's percentage.
#[must_use]
pub fn split(r: &RolloutState) -> Option<SplitCheck> {
    let flag = r.flag.as_ref()?;
    let pct = flag.effective_percent();
    if pct == 0 || pct >= 100 {
        return None;
    }
    let c = step_counts(r)?;
    let total = c.legacy.1.saturating_add(c.new.1);
    Some(split_check(c.new.1, total, pct, &tuning(r)))
}

/// Fixes the step's tuning once the traffic rate is known, and keeps the rate current.
/// Called after each metrics poll at clock time `at`.
pub fn observe_traffic(r: &mut RolloutState, at: i64) {
    let (Some(c), Some(since)) = (step_counts(r), r.step_since_ms) else {
        return;
    };
    let elapsed_s = (at - since) as f64 / 1000.0;
    // A rate from the first seconds of a step is noise; wait for ten seconds of traffic.
    if elapsed_s >= 10.0 {
        let total = (c.legacy.1.saturating_add(c.new.1)) as f64;
        r.traffic_rps = Some(total / elapsed_s);
    }
    if r.tuning.is_none()
        && let Some(rps) = r.traffic_rps
    {
        let bake = r
            .flag
            .as_ref()
            .and_then(|f| r.def.step_index(f.percent))
            .and_then(|i| r.def.steps.get(i))
            .and_then(|s| s.bake)
            .unwrap_or(std::time::Duration::from_secs(300));
        r.tuning = Some(Tuning::for_bake(rps, bake));
    }
}
