//! Where a rollout stands in its life, in one word the screen, `status` and the overview
//! share: SHADOW (0 %, never served), BAKING (time left at this step), READY (the next step is
//! due), HELD (baked, but something blocks the next step), PAUSED (armed automation paused),
//! ROLLED BACK (back at 0 % after serving traffic), OFF (switched off), COMPLETE (100 % and
//! baked). A rolled-back or complete rollout is a state, not an UNKNOWN: the cohort that has
//! no traffic on purpose makes its rules IDLE.

use super::propose::bake_left_ms;
use super::state::RolloutState;

/// A rollout's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// The flag has not been read yet.
    Unread,
    /// At 0 % and never seen serving traffic: the new path runs in shadow at most.
    Shadow,
    /// At a step whose bake time is not over.
    Baking {
        /// Time left, ms.
        left_ms: i64,
    },
    /// Baked and healthy: the next step is due.
    Ready {
        /// The next step's percentage.
        next: u8,
    },
    /// Baked, but a rule or the data holds the next step back.
    Held,
    /// Armed automation is paused (`p`).
    Paused,
    /// Back at 0 % after serving traffic.
    RolledBack {
        /// When rollwatch saw it go to 0 % (clock ms).
        at_ms: i64,
    },
    /// The flag is switched off (kill switch) without a rollback seen.
    Off,
    /// At 100 % with the bake time over (or none).
    Complete,
}

impl Lifecycle {
    /// The upper-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::Unread => "UNREAD",
            Lifecycle::Shadow => "SHADOW",
            Lifecycle::Baking { .. } => "BAKING",
            Lifecycle::Ready { .. } => "READY",
            Lifecycle::Held => "HELD",
            Lifecycle::Paused => "PAUSED",
            Lifecycle::RolledBack { .. } => "ROLLED BACK",
            Lifecycle::Off => "OFF",
            Lifecycle::Complete => "COMPLETE",
        }
    }
}

/// The lifecycle state of `r`; `paused` is the state's automation pause. No time is needed:
/// a step bakes on evidence ([`super::bake`]), not on the clock.
#[must_use]
pub fn lifecycle(r: &RolloutState, paused: bool) -> Lifecycle {
    let Some(flag) = r.flag.as_ref() else {
        return Lifecycle::Unread;
    };
    let pct = flag.effective_percent();
    if pct == 0 {
        return match r.rolled_back_at_ms {
            Some(at_ms) => Lifecycle::RolledBack { at_ms },
            None if !flag.enabled => Lifecycle::Off,
            None => Lifecycle::Shadow,
        };
    }
    if let Some(left_ms) = bake_left_ms(r) {
        return if paused && r.armed {
            Lifecycle::Paused
        } else {
            Lifecycle::Baking { left_ms }
        };
    }
    if r.def.next_percent(flag.percent).is_none() {
        return Lifecycle::Complete;
    }
    if paused && r.armed {
        return Lifecycle::Paused;
    }
    match r.ready {
        Some(next) => Lifecycle::Ready { next },
        None => Lifecycle::Held,
    }
}
