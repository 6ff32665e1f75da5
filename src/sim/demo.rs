//! The embedded demo: three rollouts from the ones rollwatch was designed for, each on its own
//! simulator and in-memory flag. The first follows the chosen scenario; the others are healthy.

use std::sync::Arc;
use std::time::Duration;

use super::{Profile, Scenario, Simulator};
use crate::alerts::{Action, Condition, Op, Rule, Severity};
use crate::backends::Backends;
use crate::clock::Clock;
use crate::flags::memory::MemoryFlag;
use crate::metrics::sim::{SimField, SimSource};
use crate::model::{Automation, Cohort, MetricDef, MetricKind, Rollout, Step};

const MIB: f64 = 1024.0 * 1024.0;

fn steps(plan: &[(u8, u64)]) -> Vec<Step> {
    plan.iter()
        .map(|&(percent, bake_s)| Step {
            percent,
            bake: (bake_s > 0).then(|| Duration::from_secs(bake_s)),
        })
        .collect()
}

/// The simulator computes every rate and quantile over a one-minute window (memory is a
/// reading of the moment).
fn metric(id: &str, label: &str, kind: MetricKind) -> MetricDef {
    MetricDef {
        window_ms: (kind != MetricKind::Bytes).then_some(60_000),
        ..MetricDef::new(id, label, kind)
    }
}

#[allow(clippy::too_many_arguments)]
fn rule(
    name: &str,
    metric: &str,
    condition: Condition,
    for_s: u64,
    severity: Severity,
    action: Action,
) -> Rule {
    Rule {
        name: name.into(),
        metric: metric.into(),
        cohort: Cohort::New,
        condition,
        for_: Duration::from_secs(for_s),
        keep_firing_for: Duration::ZERO,
        severity,
        action,
        significant: false,
    }
}

/// The batch-query rollout: errors, p95, memory, queries and tokens per request.
#[must_use]
pub fn checkout() -> (Rollout, Vec<SimField>) {
    let p95 = MetricDef {
        target: Some(500.0),
        ..metric("p95", "p95 latency", MetricKind::Latency { quantile: 0.95 })
    };
    let mem = MetricDef {
        target: Some(300.0 * MIB),
        ..metric("memory", "Memory", MetricKind::Bytes)
    };
    let queries = MetricDef {
        savings_target: Some(90.0),
        ..metric("queries", "Queries/req", MetricKind::PerRequest)
    };
    let tokens = MetricDef {
        savings_target: Some(20.0),
        ..metric("tokens", "Tokens/req", MetricKind::PerRequest)
    };
    let r = Rollout {
        name: "checkout-batch-queries".into(),
        environment: "production".into(),
        steps: steps(&[(5, 120), (25, 300), (50, 300), (75, 300), (100, 0)]),
        metrics: vec![
            metric("error_rate", "Error rate", MetricKind::Ratio),
            p95,
            mem,
            queries,
            tokens,
        ],
        rules: vec![
            rule(
                "new-error-rate",
                "error_rate",
                Condition::Absolute {
                    op: Op::Gt,
                    value: 0.5,
                },
                30,
                Severity::Critical,
                Action::Rollback { to: 0 },
            ),
            rule(
                "p95-vs-legacy",
                "p95",
                Condition::RatioToLegacy {
                    op: Op::Gt,
                    factor: 1.5,
                },
                60,
                Severity::Warning,
                Action::Notify,
            ),
            rule(
                "query-savings",
                "queries",
                Condition::Saving {
                    op: Op::Lt,
                    value: 90.0,
                },
                60,
                Severity::Warning,
                Action::Hold,
            ),
            rule(
                "memory",
                "memory",
                Condition::Absolute {
                    op: Op::Gt,
                    value: 400.0 * MIB,
                },
                60,
                Severity::Critical,
                Action::Rollback { to: 0 },
            ),
        ],
        automation: Automation::default(),
    };
    let fields = vec![
        SimField::ErrorRate,
        SimField::P95,
        SimField::Memory,
        SimField::QueriesPerRequest,
        SimField::TokensPerRequest,
    ];
    (r, fields)
}

/// The LLM patch-mode rollout.
#[must_use]
pub fn llm() -> (Rollout, Vec<SimField>) {
    let tokens = MetricDef {
        savings_target: Some(20.0),
        ..metric("tokens", "Tokens/call", MetricKind::PerRequest)
    };
    let r = Rollout {
        name: "llm-patch-mode".into(),
        environment: "production".into(),
        steps: steps(&[(10, 600), (25, 600), (50, 600), (100, 0)]),
        metrics: vec![
            metric("error_rate", "Error rate", MetricKind::Ratio),
            metric("p95", "p95 latency", MetricKind::Latency { quantile: 0.95 }),
            tokens,
        ],
        rules: vec![
            rule(
                "patch-errors",
                "error_rate",
                Condition::Absolute {
                    op: Op::Gt,
                    value: 5.0,
                },
                60,
                Severity::Critical,
                Action::Rollback { to: 50 },
            ),
            rule(
                "patch-latency",
                "p95",
                Condition::RatioToLegacy {
                    op: Op::Gt,
                    factor: 1.5,
                },
                120,
                Severity::Warning,
                Action::Notify,
            ),
            rule(
                "token-savings",
                "tokens",
                Condition::Saving {
                    op: Op::Lt,
                    value: 20.0,
                },
                120,
                Severity::Warning,
                Action::Hold,
            ),
        ],
        automation: Automation::default(),
    };
    (
        r,
        vec![
            SimField::ErrorRate,
            SimField::P95,
            SimField::TokensPerRequest,
        ],
    )
}

/// The chat transport migration.
#[must_use]
pub fn chat() -> (Rollout, Vec<SimField>) {
    let mem = MetricDef {
        target: Some(45.0 * MIB),
        ..metric("memory", "Memory", MetricKind::Bytes)
    };
    let r = Rollout {
        name: "chat-transport".into(),
        environment: "staging".into(),
        steps: steps(&[
            (0, 600),
            (5, 600),
            (10, 600),
            (25, 900),
            (50, 900),
            (75, 900),
            (100, 0),
        ]),
        metrics: vec![
            metric("error_rate", "Error rate", MetricKind::Ratio),
            MetricDef {
                target: Some(165.0),
                ..metric("p95", "p95 latency", MetricKind::Latency { quantile: 0.95 })
            },
            mem,
        ],
        rules: vec![
            rule(
                "chat-errors",
                "error_rate",
                Condition::Absolute {
                    op: Op::Gt,
                    value: 0.5,
                },
                300,
                Severity::Critical,
                Action::Rollback { to: 0 },
            ),
            rule(
                "chat-p95",
                "p95",
                Condition::Absolute {
                    op: Op::Gt,
                    value: 200.0,
                },
                900,
                Severity::Warning,
                Action::Hold,
            ),
            rule(
                "chat-memory",
                "memory",
                Condition::Absolute {
                    op: Op::Gt,
                    value: 80.0 * MIB,
                },
                0,
                Severity::Critical,
                Action::Rollback { to: 0 },
            ),
        ],
        automation: Automation::default(),
    };
    (
        r,
        vec![SimField::ErrorRate, SimField::P95, SimField::Memory],
    )
}

/// Demo options.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Seed of every simulator (each rollout derives its own).
    pub seed: u64,
    /// Scenario of the first rollout.
    pub scenario: Scenario,
}

/// Warm-up history simulated before the demo starts, ms.
pub const WARMUP_MS: i64 = 10 * 60 * 1000;

/// The demo's rollouts with their backends, starting at `now_ms` on `clock`.
/// Returns the rollouts and the first rollout's flag (tests move it behind the dashboard's back).
///
/// # Panics
/// Never: the demo's rollout list is a non-empty constant.
#[must_use]
pub fn build(
    opts: DemoOptions,
    clock: &Arc<dyn Clock>,
    now_ms: i64,
) -> (Vec<(Rollout, Backends)>, MemoryFlag) {
    let specs = [
        (checkout(), Profile::checkout(), opts.scenario, 25u8),
        (llm(), Profile::llm(), Scenario::Healthy, 10),
        (chat(), Profile::chat(), Scenario::Healthy, 10),
    ];
    let mut out = Vec::new();
    let mut first = None;
    for (k, ((rollout, fields), profile, scenario, start)) in specs.into_iter().enumerate() {
        let flag = MemoryFlag::new(&rollout.name, start);
        let sim = Simulator::new(
            opts.seed.wrapping_add(k as u64 * 7919),
            scenario,
            profile,
            now_ms - WARMUP_MS,
            now_ms,
        );
        let source = SimSource::new(sim, flag.clone(), clock.clone(), fields);
        first.get_or_insert_with(|| flag.clone());
        out.push((
            rollout,
            Backends {
                flag: Arc::new(flag),
                also: Vec::new(),
                metrics: Arc::new(source),
                insecure_tls: false,
            },
        ));
    }
    (out, first.expect("the demo has rollouts"))
}
