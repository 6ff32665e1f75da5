//! The in-process simulator as a metrics source (the demo). It reads the percentage from the
//! same in-memory flag the dashboard writes through the flag-backend trait, so a bump shifts
//! the simulated traffic.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use super::{Backfill, CohortValues, MetricsError, MetricsSource, Poll};
use crate::clock::Clock;
use crate::flags::memory::MemoryFlag;
use crate::model::Cohort;
use crate::sim::{Reading, Simulator};

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

/// A metrics source backed by a [`Simulator`].
#[derive(Clone)]
pub struct SimSource {
    sim: Arc<Mutex<Simulator>>,
    flag: MemoryFlag,
    clock: Arc<dyn Clock>,
    fields: Vec<SimField>,
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
            flag,
            clock,
            fields,
        }
    }

    fn values(&self, sim: &Simulator) -> Vec<CohortValues> {
        let (l, n) = (sim.reading(Cohort::Legacy), sim.reading(Cohort::New));
        self.fields
            .iter()
            .map(|f| CohortValues {
                counts: (*f == SimField::ErrorRate).then_some(super::Counts {
                    legacy: (l.errors, l.requests),
                    new: (n.errors, n.requests),
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

    fn poll(&self) -> BoxFuture<'_, Result<Poll, MetricsError>> {
        let now = self.clock.now_ms();
        let pct = self.flag.snapshot().effective_percent();
        let mut sim = self.lock();
        sim.advance(now, pct);
        let metrics = self.values(&sim).into_iter().map(Ok).collect();
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
            for (series, v) in out.iter_mut().zip(self.values(&sim)) {
                series.push((t, v));
            }
            t += step;
        }
        drop(sim);
        Box::pin(async move { Ok(out) })
    }
}
