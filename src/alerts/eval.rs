//! The pure evaluator: one step per evaluation, Prometheus semantics.

use super::rule::Rule;

/// What one evaluation of a rule saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The condition's left-hand value and whether the condition held (NaN never holds).
    Value {
        /// Left-hand value, for display.
        lhs: f64,
        /// Whether the condition held.
        holds: bool,
    },
    /// The source answered but had no sample (empty vector, NaN from no traffic, stale).
    NoData,
    /// A cohort the rule reads intentionally has no traffic (the new path at 0 % or switched
    /// off, legacy at 100 %): nothing to judge, nothing blocked. The reason in words.
    Idle(String),
    /// The source could not be read or its data is too old; the reason in words. A firing
    /// rule stays firing (on its last known value) through it.
    Unknown(String),
}

/// Computes the observation for a rule from the two cohorts' current values.
/// `None` values mean no data; a non-finite left-hand value never holds.
#[must_use]
pub fn observe(rule: &Rule, legacy: Option<f64>, new: Option<f64>) -> Observation {
    match (rule.lhs(legacy, new), rule.rhs(legacy)) {
        (Some(lhs), Some(rhs)) => Observation::Value {
            lhs,
            holds: rule.op().holds(lhs, rhs),
        },
        _ => Observation::NoData,
    }
}

/// Where a rule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    /// Condition does not hold.
    Inactive,
    /// Condition holds, the `for` clock is running.
    Pending,
    /// Condition held for `for` (or is kept firing).
    Firing,
    /// Was firing, the condition stopped holding on real data.
    Resolved,
    /// No data or a backend failure: neither healthy nor firing.
    Unknown,
    /// A cohort it reads intentionally has no traffic: nothing to judge.
    Idle,
}

impl AlertStatus {
    /// Upper-case label for the alerts panel.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            AlertStatus::Inactive => "OK",
            AlertStatus::Pending => "PENDING",
            AlertStatus::Firing => "FIRING",
            AlertStatus::Resolved => "RESOLVED",
            AlertStatus::Unknown => "UNKNOWN",
            AlertStatus::Idle => "IDLE",
        }
    }

    /// How much attention it needs, for sorting and for the worst state of a rollout:
    /// firing, pending, unknown, then the quiet ones.
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            AlertStatus::Firing => 4,
            AlertStatus::Pending => 3,
            AlertStatus::Unknown => 2,
            AlertStatus::Resolved => 1,
            AlertStatus::Inactive | AlertStatus::Idle => 0,
        }
    }

    /// Pending or firing: the two states promtool lists as alerts.
    #[must_use]
    pub fn is_active(self) -> bool {
        matches!(self, AlertStatus::Pending | AlertStatus::Firing)
    }
}

/// The state of one rule after an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    /// Where the rule stands.
    pub status: AlertStatus,
    /// Since when it stands there (Unix ms).
    pub since_ms: i64,
    /// When the condition started holding (start of the `for` clock).
    pub active_at_ms: Option<i64>,
    /// First evaluation at which a firing rule's condition stopped holding (the
    /// `keep_firing_for` clock, as Prometheus' `KeepFiringSince`).
    pub keep_since_ms: Option<i64>,
    /// The last left-hand value seen.
    pub value: Option<f64>,
    /// Why it is unknown (or, while firing on last-known data, why the data is lost).
    pub reason: Option<String>,
    /// A firing rule whose data was lost: since when it fires on its last known value.
    pub data_lost_since_ms: Option<i64>,
}

impl AlertState {
    /// A rule never evaluated yet: unknown since `now`.
    #[must_use]
    pub fn initial(now_ms: i64) -> Self {
        Self {
            status: AlertStatus::Unknown,
            since_ms: now_ms,
            active_at_ms: None,
            keep_since_ms: None,
            value: None,
            reason: Some("no data yet".into()),
            data_lost_since_ms: None,
        }
    }

    /// Time left until a pending rule fires, in ms.
    #[must_use]
    pub fn pending_left_ms(&self, rule: &Rule, now_ms: i64) -> Option<i64> {
        let for_ms = duration_ms(rule.for_);
        (self.status == AlertStatus::Pending)
            .then(|| self.active_at_ms.map(|a| (a + for_ms - now_ms).max(0)))
            .flatten()
    }
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One evaluation: the next state of `rule` given what was observed at `now_ms`.
#[must_use]
pub fn step(prev: &AlertState, rule: &Rule, obs: &Observation, now_ms: i64) -> AlertState {
    let for_ms = duration_ms(rule.for_);
    let keep_ms = duration_ms(rule.keep_firing_for);
    let was_firing = prev.status == AlertStatus::Firing;
    let mut next = prev.clone();
    next.reason = None;
    let set = |next: &mut AlertState, status: AlertStatus| {
        if next.status != status {
            next.since_ms = now_ms;
        }
        next.status = status;
    };

    // Prometheus keeps an alert's state when its rule cannot be evaluated: a firing rule
    // stays firing on its last known value until data shows it resolved (a failing backend
    // is never evidence of health).
    if let (true, Observation::Unknown(r)) = (was_firing, obs) {
        next.data_lost_since_ms.get_or_insert(now_ms);
        next.reason = Some(r.clone());
        return next;
    }
    next.data_lost_since_ms = None;
    if let Observation::Idle(r) = obs {
        next.value = None;
        next.active_at_ms = None;
        next.keep_since_ms = None;
        next.reason = Some(r.clone());
        set(&mut next, AlertStatus::Idle);
        return next;
    }
    match obs {
        Observation::Value { lhs, holds: true } => {
            next.value = Some(*lhs);
            let active_at = *next.active_at_ms.get_or_insert(now_ms);
            next.keep_since_ms = None;
            if was_firing || now_ms - active_at >= for_ms {
                set(&mut next, AlertStatus::Firing);
            } else {
                set(&mut next, AlertStatus::Pending);
            }
        }
        Observation::Value { .. }
        | Observation::NoData
        | Observation::Unknown(_)
        | Observation::Idle(_) => {
            if let Observation::Value { lhs, .. } = obs {
                next.value = Some(*lhs);
            } else {
                next.value = None;
            }
            let kept = was_firing && keep_ms > 0 && {
                let since = *next.keep_since_ms.get_or_insert(now_ms);
                now_ms - since < keep_ms
            };
            if kept {
                // keep_firing_for: stays firing, the clock keeps its origin.
                if let Observation::Unknown(r) = obs {
                    next.reason = Some(r.clone());
                }
                return next;
            }
            next.active_at_ms = None;
            next.keep_since_ms = None;
            match obs {
                Observation::Value { .. } if was_firing => set(&mut next, AlertStatus::Resolved),
                Observation::Value { .. } => {
                    if next.status != AlertStatus::Resolved {
                        set(&mut next, AlertStatus::Inactive);
                    }
                }
                Observation::NoData => {
                    next.reason = Some("no data".into());
                    set(&mut next, AlertStatus::Unknown);
                }
                Observation::Unknown(r) | Observation::Idle(r) => {
                    next.reason = Some(r.clone());
                    set(&mut next, AlertStatus::Unknown);
                }
            }
        }
    }
    next
}

/// Replays a rule over observations at the given times (ascending), from the initial state.
/// Returns the state after each evaluation. This is the evaluator's pure "rule, series, now"
/// form used by the table tests and the promtool parity tests.
#[must_use]
pub fn evaluate_series(rule: &Rule, observations: &[(i64, Observation)]) -> Vec<AlertState> {
    let mut out = Vec::with_capacity(observations.len());
    let mut state = AlertState::initial(observations.first().map_or(0, |o| o.0));
    for (t, obs) in observations {
        state = step(&state, rule, obs, *t);
        out.push(state.clone());
    }
    out
}
