//! The headless commands (`check-config`, `status`, `set`, `rollback`) and the setup of the
//! dashboard from a config (`watch`). They use the same state, update, effects and guarded
//! write path as the dashboard; only the output differs.

mod guard;
mod status;
#[cfg(test)]
mod tests;
mod write;

pub use guard::{GuardPlan, guard};
pub use status::{
    AlertOut, BoundsOut, CohortCounts, CountsOut, FOR_NOT_OBSERVABLE, MetricOut, RolloutOut,
    StatusOut, collect, poll_once, table,
};
pub use write::{exit_code, write};

use std::sync::Arc;
use std::time::Duration;

use crate::app::run::Setup;
use crate::audit::AuditLog;
use crate::backends as wire;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::ui::theme::Theme;

/// Exit codes of `status`. A rule that could not be evaluated never leaves the code at 0:
/// `status` answers "fine" only when every rule was checked and none fires.
pub mod exit {
    /// Every rule was evaluated and nothing fires.
    pub const OK: i32 = 0;
    /// A warning rule fires or breaches, or could not be evaluated (UNKNOWN), and nothing
    /// worse holds.
    pub const WARNING: i32 = 1;
    /// A critical rule fires, or breaches on a source whose history cannot show its `for`.
    pub const CRITICAL: i32 = 2;
    /// A backend could not be read or a critical rule could not be evaluated (UNKNOWN, no
    /// data), and no critical rule fires.
    pub const UNREADABLE: i32 = 3;
    /// `set`/`rollback`: the flag moved; nothing was written.
    pub const CONFLICT: i32 = 4;
    /// `set`/`rollback`: refused (by the guard, the backend or an unreadable flag), failed,
    /// or accepted but not applied (the re-read shows something else).
    pub const REFUSED: i32 = 5;
    /// `set`/`rollback`: no answer; the outcome is unknown (re-read shown).
    pub const UNKNOWN: i32 = 6;
}

/// A setup for the config's rollouts on the wall clock.
///
/// # Errors
/// When a backend cannot be built (missing token variable, bad URL).
pub fn setup(
    cfg: &Config,
    themes: Vec<Theme>,
    ascii: bool,
    audit: AuditLog,
) -> Result<Setup, String> {
    setup_with_clock(cfg, themes, ascii, audit, Arc::new(SystemClock))
}

/// [`setup`] on `clock` (a guard's scaled clock in demos and tests).
///
/// # Errors
/// When a backend cannot be built (missing token variable, bad URL).
pub fn setup_with_clock(
    cfg: &Config,
    themes: Vec<Theme>,
    ascii: bool,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
) -> Result<Setup, String> {
    let rollouts = wire::wire(cfg, &clock)?;
    let refresh_ms = i64::try_from(cfg.refresh.as_millis()).unwrap_or(i64::MAX);
    Ok(Setup {
        rollouts,
        clock,
        refresh_ms,
        tick: Duration::from_millis(250),
        read_only: cfg.read_only,
        notify: cfg.notify,
        show_keys: false,
        themes,
        ascii,
        audit,
        deadline: wire::deadline(cfg.refresh),
        log_file: Some(crate::paths::state_dir().join("rollwatch.log")),
    })
}
