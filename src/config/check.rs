//! What `watch` would refuse at start, found without connecting to anything: `check-config`
//! and `watch` both run these checks while loading, so a config `check-config` accepts does
//! not fail later when its backends are built. Each check builds the adapter the way
//! [`super::wire`] does, with placeholder secrets (a check never reads a token), and turns its
//! refusal into an error at the table it is about.
//!
//! Not checked here, because they depend on the machine `watch` runs on: whether a named token
//! variable or file exists. `watch` says so at start, naming the variable or file.

use std::time::Duration;

use super::file::FileRollout;
use super::wire::{SIMULATOR_NEEDS_MEMORY, json_metrics, prometheus_queries};
use super::{ConfigError, Ctx, FlagSpec, RolloutConfig, SourceSpec};
use crate::flags::unleash::UnleashFlag;
use crate::metrics::http::{HttpAuth, SourceConfigError};
use crate::metrics::json::JsonSource;
use crate::metrics::prometheus::PrometheusSource;
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
        FlagSpec::Http(hc) => hc.validate().map_err(|m| format!("flag (http): {m}")),
        FlagSpec::Unleash(uc) => {
            match (&uc.token_env, &uc.token_file) {
                (None, None) => {
                    return Err("flag (unleash): set `token_env` or `token_file`".into());
                }
                (Some(_), Some(_)) => {
                    return Err("flag (unleash): set `token_env` or `token_file`, not both".into());
                }
                _ => {}
            }
            UnleashFlag::new(uc.clone(), Secret::new("placeholder"))
                .map(drop)
                .map_err(|e| format!("flag (unleash): {e}"))
        }
    }
}

fn source_error(e: SourceConfigError) -> String {
    match e {
        SourceConfigError::Url { url, reason } => format!("metrics: `url` = {url:?}: {reason}"),
        e => format!("metrics: {e}"),
    }
}

/// The pairs of secret settings that exclude each other, as `resolve_auth` refuses them.
fn auth_shape(token: (bool, bool), user: bool, password: (bool, bool)) -> Result<(), &'static str> {
    let has_token = token.0 || token.1;
    let has_password = password.0 || password.1;
    if token.0 && token.1 {
        Err("set `token_env` or `token_file`, not both")
    } else if password.0 && password.1 {
        Err("set `password_env` or `password_file`, not both")
    } else if has_token && (user || has_password) {
        Err("set either a bearer token (`token_env`) or a `user` and password, not both")
    } else if user && !has_password {
        Err("`user` is set but no `password_env` or `password_file`")
    } else if has_password && !user {
        Err("a password needs a `user`")
    } else {
        Ok(())
    }
}

fn source(rc: &RolloutConfig, refresh: Duration) -> Result<(), String> {
    match &rc.source {
        SourceSpec::Simulator { .. } => match rc.flag {
            FlagSpec::Memory { .. } => Ok(()),
            _ => Err(SIMULATOR_NEEDS_MEMORY.into()),
        },
        SourceSpec::Prometheus(pc) => {
            auth_shape(
                (pc.token_env.is_some(), pc.token_file.is_some()),
                pc.user.is_some(),
                (pc.password_env.is_some(), pc.password_file.is_some()),
            )
            .map_err(|m| format!("metrics: {m}"))?;
            PrometheusSource::new(pc, prometheus_queries(rc), HttpAuth::None, refresh)
                .map(drop)
                .map_err(source_error)
        }
        SourceSpec::Json(jc) => {
            auth_shape(
                (jc.token_env.is_some(), jc.token_file.is_some()),
                false,
                (false, false),
            )
            .map_err(|m| format!("metrics: {m}"))?;
            JsonSource::new(jc, json_metrics(rc), HttpAuth::None, refresh)
                .map(drop)
                .map_err(source_error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_settings_that_exclude_each_other_are_named() {
        assert!(auth_shape((false, false), false, (false, false)).is_ok());
        assert!(auth_shape((true, false), false, (false, false)).is_ok());
        assert!(auth_shape((false, false), true, (true, false)).is_ok());
        assert!(auth_shape((true, true), false, (false, false)).is_err());
        assert!(auth_shape((false, false), true, (true, true)).is_err());
        assert!(auth_shape((true, false), true, (true, false)).is_err());
        assert!(auth_shape((false, false), true, (false, false)).is_err());
        assert!(auth_shape((false, false), false, (true, false)).is_err());
    }
}
