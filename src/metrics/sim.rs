//! The in-process simulator as a metrics source (the demo). It reads the percentage from the
//! same in-memory flag the dashboard writes through the flag-backend trait, so a bump shifts
//! the simulated traffic.
//!
//! Values are the simulator's one-minute window readings; counts (errors and requests) and the
//! p95's bucket are taken **since the step began**: the source keeps the simulator's cumulative
//! totals as they stood when it first polled for the current step start, and differences
//! against them. Seconds drawn after that poll follow the new split (the simulator draws every
//! second since its last advance at the flag's current percentage), so none of the old split's
//! traffic is counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use toml::Spanned;

use super::registry::{self, BuildCtx, Kind, MetricTable, SourceSpec};
use super::{Backfill, CohortValues, MetricsError, MetricsSource, Poll, PollCtx, QuantileBounds};
use crate::clock::Clock;
use crate::config::locate::{ConfigError, Table, fields_of};
use crate::flags::memory::MemoryFlag;
use crate::flags::registry::Flag;
use crate::model::Cohort;
use crate::sim::{BUCKETS_MS, Profile, Reading, Scenario, Second, Simulator};

/// The registry line of `kind = "simulator"`.
pub const KIND: Kind = Kind {
    name: "simulator",
    parse,
    metric_keys: fields_of::<MetricKeys>,
    fleet: None,
};

/// Which simulator reading a metric shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimField {
    /// Error rate in percent.
    ErrorRate,
    /// p95 latency in ms.
    P95,
    /// Resident memory in bytes.
    Memory,
    /// Database queries per request.
    QueriesPerRequest,
    /// LLM tokens per request.
    TokensPerRequest,
}

impl SimField {
    fn pick(self, r: &Reading) -> Option<f64> {
        match self {
            SimField::ErrorRate => r.error_rate,
            SimField::P95 => r.p95_ms,
            SimField::Memory => r.memory_bytes,
            SimField::QueriesPerRequest => r.queries_per_request,
            SimField::TokensPerRequest => r.tokens_per_request,
        }
    }
}

/// The simulator's cumulative totals when the current step's counting began.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    /// The step start these totals belong to.
    step_start_ms: Option<i64>,
    /// Legacy and new totals then.
    at_start: [Second; 2],
}

/// A metrics source backed by a [`Simulator`].
#[derive(Clone)]
pub struct SimSource {
    sim: Arc<Mutex<Simulator>>,
    baseline: Arc<Mutex<Option<Baseline>>>,
    flag: MemoryFlag,
    clock: Arc<dyn Clock>,
    fields: Vec<SimField>,
}

/// What a cohort served since `base`: the totals' difference.
fn since(now: &Second, base: &Second) -> Second {
    let mut d = Second {
        requests: now.requests.saturating_sub(base.requests),
        errors: now.errors.saturating_sub(base.errors),
        queries: now.queries - base.queries,
        tokens: now.tokens - base.tokens,
        ..Second::default()
    };
    for (b, (n, o)) in d
        .buckets
        .iter_mut()
        .zip(now.buckets.iter().zip(base.buckets))
    {
        *b = n.saturating_sub(o);
    }
    d
}

/// The bucket `(lower, upper]` in ms holding the p95 of a cohort's histogram (per-bucket counts).
fn p95_bucket(s: &Second) -> Option<(f64, f64)> {
    let mut cum = 0;
    let buckets: Vec<(f64, u64)> = s
        .buckets
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            cum += n;
            (BUCKETS_MS.get(i).copied().unwrap_or(f64::INFINITY), cum)
        })
        .collect();
    crate::stats::quantile_bucket(0.95, &buckets, cum)
}

impl SimSource {
    /// A source over `sim`, reading `fields` (one per metric, in order).
    #[must_use]
    pub fn new(
        sim: Simulator,
        flag: MemoryFlag,
        clock: Arc<dyn Clock>,
        fields: Vec<SimField>,
    ) -> Self {
        Self {
            sim: Arc::new(Mutex::new(sim)),
            baseline: Arc::new(Mutex::new(None)),
            flag,
            clock,
            fields,
        }
    }

    /// The window readings; with `step` (each cohort's traffic since the step began), the
    /// error counts and the p95's bucket too.
    fn values(&self, sim: &Simulator, step: Option<&[Second; 2]>) -> Vec<CohortValues> {
        let (l, n) = (sim.reading(Cohort::Legacy), sim.reading(Cohort::New));
        self.fields
            .iter()
            .map(|f| CohortValues {
                counts: step
                    .filter(|_| *f == SimField::ErrorRate)
                    .map(|[l, n]| super::Counts {
                        legacy: (l.errors, l.requests),
                        new: (n.errors, n.requests),
                    }),
                bounds: step
                    .filter(|_| *f == SimField::P95)
                    .map(|[l, n]| QuantileBounds {
                        legacy: p95_bucket(l),
                        new: p95_bucket(n),
                    }),
                legacy: f.pick(&l),
                new: f.pick(&n),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Simulator> {
        self.sim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl MetricsSource for SimSource {
    fn describe(&self) -> String {
        format!("simulator ({})", self.lock().scenario())
    }

    fn poll(&self, ctx: PollCtx) -> BoxFuture<'_, Result<Poll, MetricsError>> {
        let now = self.clock.now_ms();
        let pct = self.flag.snapshot().effective_percent();
        let mut sim = self.lock();
        let totals = |sim: &Simulator| Cohort::BOTH.map(|c| sim.totals(c).sum);
        let at_start = {
            let mut b = self
                .baseline
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match *b {
                Some(base) if base.step_start_ms == ctx.step_start_ms => base.at_start,
                _ => {
                    // First poll of this step: what was drawn until now was the old split.
                    let at_start = totals(&sim);
                    *b = Some(Baseline {
                        step_start_ms: ctx.step_start_ms,
                        at_start,
                    });
                    at_start
                }
            }
        };
        sim.advance(now, pct);
        let now_totals = totals(&sim);
        let step = [0, 1].map(|i| since(&now_totals[i], &at_start[i]));
        let metrics = self.values(&sim, Some(&step)).into_iter().map(Ok).collect();
        drop(sim);
        Box::pin(async move {
            Ok(Poll {
                metrics,
                warnings: Vec::new(),
            })
        })
    }

    fn backfill(
        &self,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<'_, Result<Backfill, MetricsError>> {
        let pct = self.flag.snapshot().effective_percent();
        let mut sim = self.lock();
        let mut out: Backfill = vec![Vec::new(); self.fields.len()];
        let mut t = start_ms.max(sim.now_ms());
        let step = step_ms.max(1000);
        while t <= end_ms {
            sim.advance(t, pct);
            for (series, v) in out.iter_mut().zip(self.values(&sim, None)) {
                series.push((t, v));
            }
            t += step;
        }
        drop(sim);
        Box::pin(async move { Ok(out) })
    }
}

/// Why a simulator metrics source cannot go with a flag other than `memory`.
pub const SIMULATOR_NEEDS_MEMORY: &str = "metrics `kind` = \"simulator\" needs `flag.kind = \"memory\"` \
     (the simulator's traffic follows an in-process flag; to steer a simulator over HTTP, run \
     `rollwatch simulate` and use the prometheus source)";

/// The `[rollout.metrics]` table of `kind = "simulator"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimConfig {
    /// `healthy` (default), `regression`, `leak`, `same` or `srm`.
    scenario: Option<String>,
    /// The random seed (default 42).
    seed: Option<u64>,
}

/// The keys a simulator source reads in a `[[rollout.metric]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricKeys {
    /// Which reading (`error_rate`, `p95`, `memory`, `queries`, `tokens`).
    sim: Option<Spanned<String>>,
}

/// A parsed simulator source.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSpec {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed (the rollout's position is added).
    pub seed: u64,
    /// One reading per metric, in order.
    pub fields: Vec<SimField>,
}

fn parse(t: &Table<'_>, metrics: &[MetricTable<'_>]) -> Result<Arc<dyn SourceSpec>, ConfigError> {
    let s: SimConfig = registry::table(t, "simulator")?;
    let scenario = s
        .scenario
        .as_deref()
        .unwrap_or("healthy")
        .parse()
        .map_err(|m: String| t.error(format!("`scenario`: {m}")))?;
    let fields = metrics
        .iter()
        .map(|m| field(t, m))
        .collect::<Result<_, _>>()?;
    Ok(Arc::new(SimSpec {
        scenario,
        seed: s.seed.unwrap_or(42),
        fields,
    }))
}

fn field(t: &Table<'_>, m: &MetricTable<'_>) -> Result<SimField, ConfigError> {
    let lx = t.locator();
    let k: MetricKeys = registry::metric_keys(m, "simulator")?;
    let Some(s) = &k.sim else {
        return Err(lx.at(
            m.id,
            format!(
                "metric `{}`: a simulator source needs `sim` (error_rate, p95, memory, queries, tokens)",
                m.id.get_ref()
            ),
        ));
    };
    Ok(match s.get_ref().as_str() {
        "error_rate" => SimField::ErrorRate,
        "p95" => SimField::P95,
        "memory" => SimField::Memory,
        "queries" => SimField::QueriesPerRequest,
        "tokens" => SimField::TokensPerRequest,
        o => {
            return Err(lx.at(
                s,
                format!("sim = `{o}`: expected error_rate, p95, memory, queries or tokens"),
            ));
        }
    })
}

impl SourceSpec for SimSpec {
    fn check(&self, flag: &Flag, _refresh: Duration) -> Result<(), String> {
        if flag.spec.in_process() {
            Ok(())
        } else {
            Err(SIMULATOR_NEEDS_MEMORY.into())
        }
    }

    fn build(&self, cx: &BuildCtx<'_>) -> Result<Arc<dyn MetricsSource>, String> {
        let Some(flag) = cx.flag.in_process.clone() else {
            return Err(SIMULATOR_NEEDS_MEMORY.into());
        };
        let now = cx.clock.now_ms();
        let sim = Simulator::new(
            self.seed.wrapping_add(cx.index as u64),
            self.scenario,
            Profile::checkout(),
            now - crate::sim::demo::WARMUP_MS,
            now,
        );
        Ok(Arc::new(SimSource::new(
            sim,
            flag,
            cx.clock.clone(),
            self.fields.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::sim::{Profile, Scenario};

    const T0: i64 = 1_764_554_400_000;

    fn sim() -> Simulator {
        Simulator::new(11, Scenario::Healthy, Profile::checkout(), T0, T0)
    }

    fn poll(src: &SimSource, step_start_ms: i64) -> CohortValues {
        let ctx = PollCtx {
            step_start_ms: Some(step_start_ms),
        };
        let p = futures::executor::block_on(src.poll(ctx)).expect("poll");
        p.metrics[0].clone().expect("error rate")
    }

    #[test]
    fn counts_are_since_the_step_began_and_restart_at_the_next_step() {
        let clock = Arc::new(ManualClock::new(T0));
        let flag = MemoryFlag::new("f", 25);
        let src = SimSource::new(
            sim(),
            flag.clone(),
            clock.clone(),
            vec![SimField::ErrorRate, SimField::P95],
        );
        let first = poll(&src, T0);
        assert_eq!(
            first.counts,
            Some(crate::metrics::Counts {
                legacy: (0, 0),
                new: (0, 0)
            })
        );
        // Two minutes at 25 %: every request since the step, not the one-minute window.
        clock.set(T0 + 120_000);
        let v = poll(&src, T0);
        let mut twin = sim();
        twin.advance(T0 + 120_000, 25);
        let at = |c| {
            let s = twin.totals(c).sum;
            (s.errors, s.requests)
        };
        let want = Cohort::BOTH.map(at);
        let c = v.counts.expect("counts");
        assert_eq!(c.legacy, want[0]);
        assert_eq!(c.new, want[1]);
        assert!(
            c.legacy.1 + c.new.1 > 2 * (twin.reading(Cohort::Legacy).requests),
            "more than the window holds: {c:?}"
        );
        // The next step (50 %) counts from its own start.
        flag.set_behind_the_back(50, T0 + 120_000, "test");
        let step2 = T0 + 120_000;
        let v = poll(&src, step2);
        assert_eq!(
            v.counts,
            Some(crate::metrics::Counts {
                legacy: (0, 0),
                new: (0, 0)
            })
        );
        clock.set(step2 + 10_000);
        let c = poll(&src, step2).counts.expect("counts");
        twin.advance(step2 + 10_000, 50);
        let now = |c| twin.totals(c).sum.requests;
        assert_eq!(
            c.legacy.1 + c.new.1,
            now(Cohort::Legacy) + now(Cohort::New) - want[0].1 - want[1].1
        );
        #[allow(clippy::cast_precision_loss)]
        let share = c.new.1 as f64 / (c.legacy.1 + c.new.1) as f64;
        assert!((share - 0.5).abs() < 0.1, "the new split only: {share}");
    }

    #[test]
    fn the_p95_carries_the_bucket_that_holds_it() {
        let clock = Arc::new(ManualClock::new(T0));
        let src = SimSource::new(
            sim(),
            MemoryFlag::new("f", 50),
            clock.clone(),
            vec![SimField::P95],
        );
        poll(&src, T0);
        clock.set(T0 + 60_000);
        let v = poll(&src, T0);
        let b = v.bounds.expect("bounds");
        for (p95, bucket) in [(v.legacy, b.legacy), (v.new, b.new)] {
            let (p95, (lo, hi)) = (p95.expect("p95"), bucket.expect("bucket"));
            assert!(lo <= p95 && p95 <= hi, "{p95} in ({lo}, {hi}]");
            assert!(BUCKETS_MS.contains(&hi), "{hi} is a bucket boundary");
        }
    }
}
