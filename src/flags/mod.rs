//! Flag backends: where the rollout percentage lives.
//!
//! Every backend implements [`FlagBackend`]: read the flag, and compare-and-set its percentage
//! against the snapshot the operator saw. The one guarded write path in [`write`] wraps every
//! backend's compare-and-set with the audit trail, the re-read and the rollback retries, so the
//! guarantees hold for all backends without copies.

pub mod discover;
pub mod http;
pub mod memory;
pub mod own;
pub mod registry;
pub mod unleash;
pub mod write;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{FlagSnapshot, Lease};

/// An event from the backend's own history (who changed what).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagEvent {
    /// Unix ms of the change.
    pub at_ms: i64,
    /// Who made it.
    pub author: String,
    /// What kind of change (`feature-strategy-update`).
    pub kind: String,
    /// Rollout percentage before, when known.
    pub before: Option<u8>,
    /// Rollout percentage after, when known.
    pub after: Option<u8>,
}

/// Why a flag read or write failed. Messages never contain tokens.
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagError {
    /// The value moved since the operator saw it: nothing was written.
    #[error("conflict: the flag changed to {}% since it was read; nothing was written",
        current.as_ref().map_or_else(|| "?".to_string(), |c| c.percent.to_string()))]
    Conflict {
        /// The value the backend holds now, when it said or a re-read found it.
        current: Option<FlagSnapshot>,
    },
    /// The token was missing or wrong.
    #[error("unauthorized (HTTP 401): check the token")]
    Unauthorized,
    /// The token may not do this, or the change needs approval.
    #[error("forbidden (HTTP 403): {0}")]
    Forbidden(String),
    /// The flag, project or environment does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend's configuration does not fit (no or several rollout strategies, ...).
    #[error("{0}")]
    Misconfigured(String),
    /// No answer within the deadline. For a write, its outcome is unknown.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// Connection refused, reset, DNS, TLS.
    #[error("transport: {0}")]
    Transport(String),
    /// The backend answered with something unexpected (status, body).
    #[error("backend: {0}")]
    Protocol(String),
    /// Writes are disabled (`--read-only` or a replay).
    #[error("read-only: writes are disabled")]
    ReadOnly,
}

impl FlagError {
    /// True when a write that failed this way may nevertheless have landed.
    #[must_use]
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, FlagError::Timeout(_) | FlagError::Transport(_))
    }
}

/// A flag backend. Implementations must be cheap to share across tasks.
pub trait FlagBackend: Send + Sync {
    /// Short description for the header (`unleash default/new-checkout@development`).
    fn describe(&self) -> String;

    /// Reads the flag.
    fn read(&self) -> BoxFuture<'_, Result<FlagSnapshot, FlagError>>;

    /// Sets the percentage to `percent` only if the flag still matches `expected` (its percent,
    /// enabled state and version when the backend has versions). On a mismatch nothing is
    /// written and [`FlagError::Conflict`] is returned. Never retries on its own.
    fn compare_and_set(
        &self,
        expected: &FlagSnapshot,
        percent: u8,
    ) -> BoxFuture<'_, Result<(), FlagError>>;

    /// Whether this backend can switch the flag on and off (the kill switch). When false,
    /// [`FlagBackend::set_enabled`] refuses with [`FlagError::Misconfigured`] and the kill
    /// switch should not be offered. Default: true.
    fn can_set_enabled(&self) -> bool {
        true
    }

    /// Switches the flag (environment) on or off, the kill switch; compare-and-set like above.
    fn set_enabled(
        &self,
        expected: &FlagSnapshot,
        enabled: bool,
    ) -> BoxFuture<'_, Result<(), FlagError>>;

    /// Recent changes of this flag from the backend's own history; empty when it has none.
    fn events(&self) -> BoxFuture<'_, Result<Vec<FlagEvent>, FlagError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Whether this backend can keep a guard lease with the flag (then [`FlagBackend::read`]
    /// returns it in [`FlagSnapshot::lease`]). Default: false.
    fn can_lease(&self) -> bool {
        false
    }

    /// Replaces the stored lease with `new` (`None` releases it) only if the stored one is still
    /// `expected` (`None`: no lease stored), compare-and-set like a write: on a mismatch nothing
    /// is written and [`FlagError::Conflict`] carries the flag as it is now. The flag's
    /// percentage, switch and version are left alone, so a renewal never makes an operator's
    /// write conflict.
    fn swap_lease(
        &self,
        _expected: Option<&Lease>,
        _new: Option<&Lease>,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        Box::pin(async {
            Err(FlagError::Misconfigured(
                "this flag backend cannot keep a guard lease".into(),
            ))
        })
    }
}
