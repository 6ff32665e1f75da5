//! The `simulator` metrics source's config, parsed outside the registry (kept here until the
//! simulator source moves onto the registry).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::locate::{ConfigError, Table};
use crate::flags::registry::Flag;
use crate::metrics::MetricsSource;
use crate::metrics::registry::{self, BuildCtx, MetricTable, SourceSpec};
use crate::metrics::sim::{SimField, SimSource};
use crate::sim::{Profile, Scenario, Simulator};

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

pub(super) fn parse(
    t: &Table<'_>,
    metrics: &[MetricTable<'_>],
) -> Result<Arc<dyn SourceSpec>, ConfigError> {
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
