//! The flag-backend kinds: one line per kind in [`KINDS`], naming the adapter's parser. Each
//! adapter deserialises and checks its own `[rollout.flag]` table (its serde struct with
//! `deny_unknown_fields`, its checks) into a [`FlagSpec`], which builds the backend. Adding a
//! backend is its file and one line here.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use super::FlagBackend;
use super::discover::{Discovery, DiscoverySpec};
use super::memory::MemoryFlag;
use crate::config::locate::{ConfigError, Table};

/// A parsed flag table: what `check-config` checks and `watch` builds.
pub trait FlagSpec: Debug + Send + Sync + Any {
    /// The environment the flag steers, shown in confirm dialogs, when the backend has one.
    fn environment(&self) -> Option<&str> {
        None
    }

    /// Whether the flag lives in this process (a simulator's traffic can follow it).
    fn in_process(&self) -> bool {
        false
    }

    /// `insecure_skip_verify` is set.
    fn insecure_tls(&self) -> bool {
        false
    }

    /// What `watch` would refuse, found without secrets or network: the adapter built with
    /// placeholder credentials.
    ///
    /// # Errors
    /// The refusal, naming the key in backticks.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// The backend of rollout `rollout`, with its secrets read.
    ///
    /// # Errors
    /// What is missing or unusable (an unset token variable, ...).
    fn build(&self, rollout: &str) -> Result<BuiltFlag, String>;
}

/// A built flag backend.
pub struct BuiltFlag {
    /// The backend.
    pub backend: Arc<dyn FlagBackend>,
    /// The same flag when it lives in this process (the simulator follows it).
    pub in_process: Option<MemoryFlag>,
}

/// A rollout's flag: its kind and its parsed table.
#[derive(Debug, Clone)]
pub struct Flag {
    /// The kind (`unleash`, `http`, `memory`).
    pub kind: &'static str,
    /// The adapter's spec.
    pub spec: Arc<dyn FlagSpec>,
}

impl Flag {
    /// The adapter's spec as its own type (`HttpFlagConfig`, `UnleashConfig`, ...).
    #[must_use]
    pub fn get<T: FlagSpec>(&self) -> Option<&T> {
        (self.spec.as_ref() as &dyn Any).downcast_ref()
    }

    /// [`FlagSpec::check`], the message prefixed with the kind (`flag (http): ...`).
    ///
    /// # Errors
    /// The refusal.
    pub fn check(&self) -> Result<(), String> {
        self.spec
            .check()
            .map_err(|e| format!("flag ({}): {e}", self.kind))
    }
}

/// Parses a `[rollout.flag]` table (without its `kind`) of the kind named.
pub type Parse = fn(&Table<'_>, &str) -> Result<Arc<dyn FlagSpec>, ConfigError>;

/// Parses a `[fleet.flags]` table (without its `kind`) of the kind named.
pub type ParseDiscovery = fn(&Table<'_>, &str) -> Result<Arc<dyn DiscoverySpec>, ConfigError>;

/// One flag-backend kind.
pub struct Kind {
    /// The `kind` value.
    pub name: &'static str,
    /// Its parser.
    pub parse: Parse,
    /// Its parser of a fleet's selection, when it can discover flags.
    pub discover: Option<ParseDiscovery>,
}

/// Every flag-backend kind, in the order error messages list them.
pub const KINDS: &[Kind] = &[
    super::unleash::KIND, // Unleash's admin API
    super::http::KIND,    // a generic JSON-over-HTTP flag API
    super::memory::KIND,  // a flag in this process (trials, the simulator)
];

/// Parses a flag table of kind `kind` (one of [`KINDS`]); `table` is without its `kind`.
///
/// # Errors
/// The adapter's error, located; `None` for a kind not in [`KINDS`].
#[must_use]
pub fn parse(kind: &str, table: &Table<'_>) -> Option<Result<Flag, ConfigError>> {
    let k = KINDS.iter().find(|k| k.name == kind)?;
    Some((k.parse)(table, k.name).map(|spec| Flag { kind: k.name, spec }))
}

/// Parses a `[fleet.flags]` table of kind `kind`; `None` for a kind not in [`KINDS`] or one
/// that cannot discover flags.
///
/// # Errors
/// The adapter's error, located.
#[must_use]
pub fn parse_discovery(kind: &str, table: &Table<'_>) -> Option<Result<Discovery, ConfigError>> {
    let k = KINDS.iter().find(|k| k.name == kind)?;
    let parse = k.discover?;
    Some(parse(table, k.name).map(|spec| Discovery { kind: k.name, spec }))
}

/// Deserialises an adapter's table into its config struct, errors as `flag (kind): ...`.
///
/// # Errors
/// The located serde error.
pub fn table<'a, T: serde::Deserialize<'a>>(t: &Table<'a>, kind: &str) -> Result<T, ConfigError> {
    t.parse_as(&format!("flag ({kind})"))
}

/// The [`Parse`] of an adapter whose spec is its config struct as deserialised (its checks
/// run in [`FlagSpec::check`]).
///
/// # Errors
/// The located serde error.
pub fn deserialize<T: FlagSpec + serde::de::DeserializeOwned>(
    t: &Table<'_>,
    kind: &str,
) -> Result<Arc<dyn FlagSpec>, ConfigError> {
    let spec: T = table(t, kind)?;
    Ok(Arc::new(spec))
}

impl BuiltFlag {
    /// A backend that lives outside this process.
    pub fn remote(backend: impl FlagBackend + 'static) -> Self {
        Self {
            backend: Arc::new(backend),
            in_process: None,
        }
    }
}
