//! The TOML config: one file describes one or more rollouts (flag backend, metrics source,
//! step plan and bake times, metrics, alert rules), the refresh interval and the theme.
//! Every error names the file, line and column and says what was expected; unknown keys are
//! errors; thresholds and percentages are range-checked. Secrets never sit in the file: a
//! token is named by environment variable (`token_env`) or file (`token_file`).
//!
//! This module loads the file and locates errors ([`locate`]); it checks what every rollout
//! has (steps, metrics, rules). The flag and metrics tables, and the source's keys of each
//! metric, belong to their adapters: the registries ([`crate::flags::registry`],
//! [`crate::metrics::registry`]) hand each table to the adapter of its `kind`, which
//! deserialises, checks and later builds it.

pub mod duration;
pub mod file;
pub mod fleet;
pub mod locate;
mod rollout;
pub mod rule_expr;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::de::{DeTable, DeValue};

use crate::flags::registry::Flag;
use crate::metrics::registry::Source;
use crate::model::Rollout;
use file::FileConfig;
pub use locate::ConfigError;
use locate::Locator;

/// One rollout, validated.
#[derive(Debug, Clone)]
pub struct RolloutConfig {
    /// The domain rollout.
    pub rollout: Rollout,
    /// Its flag backend, as its adapter parsed it.
    pub flag: Flag,
    /// The flags that move with it (`[[rollout.also]]`), in the order of the file.
    pub also: Vec<AlsoFlag>,
    /// Its metrics source (with the source's settings of every metric), as its adapter
    /// parsed it.
    pub source: Source,
}

/// A flag that moves with the rollout's flag (`[[rollout.also]]`): every step sets it to the
/// step's percentage too.
#[derive(Debug, Clone)]
pub struct AlsoFlag {
    /// Its label on screen and in dialogs (`name`; default: the backend's description).
    pub name: Option<String>,
    /// Its backend, as its adapter parsed it.
    pub flag: Flag,
}

/// The whole config, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// Poll interval.
    pub refresh: Duration,
    /// Theme name or path.
    pub theme: Option<String>,
    /// Writes disabled.
    pub read_only: bool,
    /// Bell and desktop notifications on firing rules and failed writes.
    pub notify: bool,
    /// Audit log path.
    pub audit_log: Option<PathBuf>,
    /// The rollouts written out (`[[rollout]]`); discovered ones are appended when the
    /// dashboard starts.
    pub rollouts: Vec<RolloutConfig>,
    /// The fleets (`[[fleet]]`): rollouts discovered from a flag backend.
    pub fleets: Vec<fleet::FleetConfig>,
}

/// Finds the config: `./rollwatch.toml`, then `$XDG_CONFIG_HOME/rollwatch/config.toml`.
#[must_use]
pub fn discover() -> Option<PathBuf> {
    [
        PathBuf::from("rollwatch.toml"),
        crate::paths::user_config_file(),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Reads and validates a config file.
///
/// # Errors
/// The first problem, with file, line and column.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 1,
        col: 1,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and validates config text; `path` names the file in errors.
///
/// # Errors
/// The first problem, with file, line and column.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let lx = Locator::new(path.display().to_string(), text);
    let toml_err = |e: toml::de::Error| lx.err(e.span().unwrap_or(0..0), e.message().trim());
    let root = DeTable::parse(text).map_err(toml_err)?;
    let mut f = FileConfig::deserialize(root.clone().into_deserializer()).map_err(toml_err)?;
    let refresh = match &f.refresh {
        None => Duration::from_secs(5),
        Some(r) => {
            let d = duration::parse(r.get_ref()).map_err(|m| lx.at(r, format!("refresh: {m}")))?;
            if d < Duration::from_millis(250) || d > Duration::from_secs(3600) {
                return Err(lx.at(r, "refresh: expected between 250ms and 1h"));
            }
            d
        }
    };
    if f.rollout.is_empty() && f.fleet.is_empty() {
        return Err(lx.err(
            0..0,
            "no rollouts: add at least one [[rollout]] or [[fleet]] table",
        ));
    }
    let tables = entries(root.get_ref(), "rollout");
    let mut rollouts = Vec::new();
    for (r, t) in f.rollout.iter().zip(tables) {
        if rollouts
            .iter()
            .any(|x: &RolloutConfig| x.rollout.name == *r.get_ref().name.get_ref())
        {
            return Err(lx.at(&r.get_ref().name, "duplicate rollout name"));
        }
        rollouts.push(rollout::rollout(&lx, r.get_ref(), &t, refresh)?);
    }
    let mut fleets = Vec::new();
    for (fl, t) in std::mem::take(&mut f.fleet)
        .into_iter()
        .zip(entries(root.get_ref(), "fleet"))
    {
        fleets.push(fleet::fleet(&lx, fl, &t, refresh)?);
    }
    Ok(Config {
        path: path.to_owned(),
        refresh,
        theme: f.theme,
        read_only: f.read_only,
        notify: f.notify.unwrap_or(true),
        audit_log: f.audit_log.map(PathBuf::from),
        rollouts,
        fleets,
    })
}

/// The tables under `key` (an array of tables, as `[[key]]` writes it), with their spans.
fn entries<'a>(t: &DeTable<'a>, key: &str) -> Vec<toml::Spanned<DeTable<'a>>> {
    let Some(v) = value(t, key) else {
        return Vec::new();
    };
    match v.get_ref() {
        DeValue::Array(a) => a.iter().filter_map(as_table).collect(),
        _ => Vec::new(),
    }
}

/// The table under `key`, with its span.
fn child<'a>(t: &DeTable<'a>, key: &str) -> Option<toml::Spanned<DeTable<'a>>> {
    value(t, key).and_then(as_table)
}

fn value<'t, 'a>(t: &'t DeTable<'a>, key: &str) -> Option<&'t toml::Spanned<DeValue<'a>>> {
    t.iter()
        .find_map(|(k, v)| (k.get_ref() == key).then_some(v))
}

fn as_table<'a>(v: &toml::Spanned<DeValue<'a>>) -> Option<toml::Spanned<DeTable<'a>>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(toml::Spanned::new(v.span(), t.clone())),
        _ => None,
    }
}
