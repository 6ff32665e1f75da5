//! What `watch` would refuse at start, found without connecting to anything: `check-config`
//! and `watch` both run these checks while loading, so a config `check-config` accepts does
//! not fail later when its backends are built. Each check builds the adapter the way
//! [`super::wire`] does, with placeholder secrets (a check never reads a token), and turns its
//! refusal into an error at the table it is about.
//!
//! Not checked here, because they depend on the machine `watch` runs on: whether a named token
//! variable or file exists. `watch` says so at start, naming the variable or file. TLS files
//! (`ca_file`, `client_cert_file`, `client_key_file`) are checked: they hold no secret a
//! check could leak, and a missing or invalid PEM is a config error worth a line and column.

use std::time::Duration;

use super::file::FileRollout;
use super::wire::{SIMULATOR_NEEDS_MEMORY, json_metrics, prometheus_queries};
use super::{ConfigError, Ctx, FlagSpec, RolloutConfig, SourceSpec};
use crate::flags::http::HttpFlag;
use crate::flags::unleash::UnleashFlag;
use crate::metrics::json::JsonSource;
use crate::metrics::prometheus::PrometheusSource;
use crate::net::{Auth, EndpointError};
use crate::secret::Secret;

/// Checks the backends of one rollout.
///
/// # Errors
/// The first thing `watch` would refuse, at the flag or metrics table.
pub(super) fn backends(
    cx: &Ctx<'_>,
    fr: &FileRollout,
    rc: &RolloutConfig,
    refresh: Duration,
) -> Result<(), ConfigError> {
    flag(rc).map_err(|m| cx.in_table(&fr.flag, m))?;
    source(rc, refresh).map_err(|m| cx.in_table(&fr.metrics, m))
}

fn flag(rc: &RolloutConfig) -> Result<(), String> {
    match &rc.flag {
        FlagSpec::Memory { .. } => Ok(()),
        FlagSpec::Http(hc) => HttpFlag::new(hc.clone(), None)
            .map(drop)
            .map_err(|e| format!("flag (http): {e}")),
        FlagSpec::Unleash(uc) => {
            uc.auth_keys()
                .check()
                .map_err(|e| format!("flag (unleash): {e}"))?;
            UnleashFlag::new(uc.clone(), Secret::new("placeholder"))
                .map(drop)
                .map_err(|e| format!("flag (unleash): {e}"))
        }
    }
}

fn source(rc: &RolloutConfig, refresh: Duration) -> Result<(), String> {
    let metrics = |e: EndpointError| format!("metrics: {e}");
    match &rc.source {
        SourceSpec::Simulator { .. } => match rc.flag {
            FlagSpec::Memory { .. } => Ok(()),
            _ => Err(SIMULATOR_NEEDS_MEMORY.into()),
        },
        SourceSpec::Prometheus(pc) => {
            pc.auth_keys().check().map_err(metrics)?;
            PrometheusSource::new(pc, prometheus_queries(rc), Auth::None, refresh)
                .map(drop)
                .map_err(metrics)
        }
        SourceSpec::Json(jc) => {
            jc.auth_keys().check().map_err(metrics)?;
            JsonSource::new(jc, json_metrics(rc), Auth::None, refresh)
                .map(drop)
                .map_err(metrics)
        }
    }
}
