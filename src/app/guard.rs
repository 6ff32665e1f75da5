//! What stands between a rollout and its next step. One list, used by the `+` key, the
//! confirm dialog's warnings, auto-advance and the command line's `set`, so every way of
//! steering forward waits for the same reasons.

use std::fmt;

use super::state::RolloutState;
use crate::alerts::{AlertStatus, Severity};

/// One reason not to steer forward now.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocker {
    /// A `hold`/`rollback` rule is firing (possibly on last-known data).
    Firing {
        /// Rule name.
        rule: String,
        /// Its last value, when one was seen.
        value: Option<f64>,
        /// Its severity.
        severity: Severity,
        /// Its action label (`hold`, `rollback`, `cut to 25%`).
        action: String,
    },
    /// A `hold`/`rollback` rule cannot be evaluated.
    Unknown {
        /// Rule name.
        rule: String,
        /// Why.
        reason: String,
    },
    /// A backend's data is too old or could not be read.
    Backend {
        /// `flag` or `metrics`.
        backend: &'static str,
        /// `STALE 47s` or `ERROR: …`.
        state: String,
    },
    /// The flags that move together are not in step (an also-flag at another percentage,
    /// unread or failing), or a partial group write is not resolved.
    Flags(String),
}

impl Blocker {
    /// Whether `!` may force past it. Every blocker may be forced after a warning; this
    /// says which ones block the plain `+`.
    #[must_use]
    pub fn is_firing(&self) -> bool {
        matches!(self, Blocker::Firing { .. })
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::Firing {
                rule,
                value,
                severity,
                action,
            } => {
                write!(
                    f,
                    "rule `{rule}` is FIRING ({}, {action}",
                    severity.as_str()
                )?;
                if let Some(v) = value {
                    write!(f, ", value {}", short(*v))?;
                }
                write!(f, ")")
            }
            Blocker::Unknown { rule, reason } => {
                write!(f, "rule `{rule}` is UNKNOWN ({reason})")
            }
            Blocker::Backend { backend, state } => write!(f, "{backend} data {state}"),
            Blocker::Flags(why) => write!(f, "{why}"),
        }
    }
}

/// Every reason not to step rollout `r` forward at `now_ms`, most serious first.
#[must_use]
pub fn forward_blockers(r: &RolloutState, now_ms: i64, stale_after_ms: i64) -> Vec<Blocker> {
    let mut out = Vec::new();
    for (rule, a) in r.def.rules.iter().zip(&r.alerts) {
        if !rule.action.blocks_bump() {
            continue;
        }
        match a.status {
            AlertStatus::Firing => out.push(Blocker::Firing {
                rule: rule.name.clone(),
                value: a.value,
                severity: rule.severity,
                action: rule.action.label(),
            }),
            AlertStatus::Unknown => out.push(Blocker::Unknown {
                rule: rule.name.clone(),
                reason: a.reason.clone().unwrap_or_else(|| "no data".into()),
            }),
            _ => {}
        }
    }
    for (backend, feed) in [("flag", &r.flag_feed), ("metrics", &r.metrics_feed)] {
        let state = match (&feed.error, feed.stale_age(now_ms, stale_after_ms)) {
            (Some(e), _) => format!("ERROR: {e}"),
            (None, Some(age)) => format!("STALE {}s", age / 1000),
            (None, None) => continue,
        };
        out.push(Blocker::Backend { backend, state });
    }
    if let Some(p) = &r.partial {
        out.push(Blocker::Flags(format!("PARTIAL WRITE: {}", p.summary)));
    }
    for a in &r.also {
        let state = match (&a.feed.error, a.feed.stale_age(now_ms, stale_after_ms)) {
            (Some(e), _) => format!("ERROR: {e}"),
            (None, Some(age)) => format!("STALE {}s", age / 1000),
            (None, None) => continue,
        };
        out.push(Blocker::Flags(format!("`{}` data {state}", a.name)));
    }
    out.extend(super::also::out_of_step(r).into_iter().map(Blocker::Flags));
    out.sort_by_key(|b| match b {
        Blocker::Firing { .. } => 0,
        Blocker::Unknown { .. } => 1,
        Blocker::Backend { .. } => 2,
        Blocker::Flags(_) => 3,
    });
    out
}

/// A value in few characters for a sentence (`0.0123`, `2.35`, `387`).
#[must_use]
pub fn short(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The warning of a write dialog while a `rollwatch guard` holds the rollout's lease: its
/// automation keeps steering after this write.
#[must_use]
pub fn steering_warning(l: &crate::model::Lease) -> String {
    format!(
        "a guard is steering this rollout: {} (since {}) keeps advancing and rolling back after this write",
        l.holder,
        hhmm(l.since_ms)
    )
}

/// `HH:MM` (UTC, as the screen shows times) of a Unix ms time.
#[must_use]
pub fn hhmm(at_ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms)
        .map_or_else(String::new, |d| d.format("%H:%M").to_string())
}
