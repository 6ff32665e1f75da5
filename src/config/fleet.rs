//! One `[[fleet]]`: the template is checked as a `[[rollout]]` is (steps, metrics, rules);
//! `[fleet.flags]` goes to the flag adapter's discovery parser and `[fleet.metrics]` to the
//! metrics adapter's fleet parser, through the registries. Flags are discovered when the
//! dashboard starts (a network call), never here.

use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::DeTable;

use super::file::{FileFleet, FileRollout};
use super::locate::{ConfigError, Locator, Table};
use super::rollout::{adapter_table, kind_of, plan};
use crate::flags::discover::Discovery;
use crate::flags::registry as flags;
use crate::metrics::fleet::Shared;
use crate::metrics::registry::{self as metrics, MetricTable};
use crate::model::Rollout;

/// A fleet, validated: where its flags are found and what each one's rollout is.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Its name in messages.
    pub name: String,
    /// Every discovered rollout is this one, named after its flag.
    pub template: Rollout,
    /// Where its flags are found.
    pub discovery: Discovery,
    /// The metrics source its rollouts share.
    pub source: Arc<Shared>,
}

/// Checks one fleet.
///
/// # Errors
/// The first problem, located.
pub(super) fn fleet(
    lx: &Locator<'_>,
    f: Spanned<FileFleet>,
    t: &Spanned<DeTable<'_>>,
    refresh: Duration,
) -> Result<FleetConfig, ConfigError> {
    let span = f.span();
    let r = f.into_inner().template(span);
    let discovery = discovery(lx, &r, t)?;
    let (template, source) = plan(
        lx,
        &r,
        t,
        |keyed| source(lx, &r, t, keyed),
        |s: &Arc<Shared>, i| s.spec().window_ms(i),
        discovery.spec.environment(),
    )?;
    discovery
        .spec
        .check()
        .map_err(|m| lx.in_table(r.flag.span(), format!("flags ({}): {m}", discovery.kind)))?;
    source
        .spec()
        .check(refresh)
        .map_err(|m| lx.in_table(r.metrics.span(), m))?;
    Ok(FleetConfig {
        name: r.name.get_ref().clone(),
        template,
        discovery,
        source,
    })
}

fn discovery(
    lx: &Locator<'_>,
    r: &FileRollout,
    t: &Spanned<DeTable<'_>>,
) -> Result<Discovery, ConfigError> {
    let names: Vec<&str> = flags::KINDS
        .iter()
        .filter(|k| k.discover.is_some())
        .map(|k| k.name)
        .collect();
    let kind = kind_of(lx, &r.flag, "flags", &names)?;
    let table: Table<'_> = adapter_table(lx, t, "flags")?;
    flags::parse_discovery(&kind, &table)
        .unwrap_or_else(|| Err(lx.at(&r.flag, "unknown flags kind")))
}

fn source(
    lx: &Locator<'_>,
    r: &FileRollout,
    t: &Spanned<DeTable<'_>>,
    keyed: &[MetricTable<'_>],
) -> Result<Arc<Shared>, ConfigError> {
    let names: Vec<&str> = metrics::KINDS
        .iter()
        .filter(|k| k.fleet.is_some())
        .map(|k| k.name)
        .collect();
    let kind = kind_of(lx, &r.metrics, "fleet metrics", &names)?;
    let table = adapter_table(lx, t, "metrics")?;
    metrics::parse_fleet(&kind, &table, keyed)
        .unwrap_or_else(|| Err(lx.at(&r.metrics, "unknown metrics kind")))
}
