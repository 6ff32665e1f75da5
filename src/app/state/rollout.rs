//! One watched rollout: its flag and metrics feeds, metric histories, alert states and writes.

use std::collections::VecDeque;

use super::{FLAG_CHANGES_CAP, Feed};
use crate::alerts::{AlertState, AlertStatus, Severity};
use crate::flags::FlagEvent;
use crate::metrics::CohortValues;
use crate::model::{Cohort, FlagSnapshot, History, Rollout};

/// One metric's live data.
#[derive(Debug, Clone, Default)]
pub struct MetricState {
    /// History per cohort (legacy, new).
    pub history: [History; 2],
    /// The last good values.
    pub last: CohortValues,
    /// When they were read (clock ms).
    pub last_at_ms: Option<i64>,
    /// Why the last poll of this metric failed, if it did.
    pub error: Option<String>,
}

impl MetricState {
    /// How old its last good value is at `now_ms` when older than `stale_after_ms`.
    #[must_use]
    pub fn stale_age(&self, now_ms: i64, stale_after_ms: i64) -> Option<i64> {
        self.last_at_ms
            .map(|t| now_ms - t)
            .filter(|age| *age > stale_after_ms)
    }

    /// Whether its value cannot be trusted as current: never read, stale or failing.
    #[must_use]
    pub fn is_stale(&self, now_ms: i64, stale_after_ms: i64) -> bool {
        self.error.is_some()
            || self.last_at_ms.is_none()
            || self.stale_age(now_ms, stale_after_ms).is_some()
    }

    /// History of a cohort.
    #[must_use]
    pub fn history(&self, c: Cohort) -> &History {
        match c {
            Cohort::Legacy => &self.history[0],
            Cohort::New => &self.history[1],
        }
    }
}

/// A rollout as watched.
#[allow(clippy::struct_excessive_bools)] // independent facts about one rollout, not a state machine
#[derive(Debug, Clone)]
pub struct RolloutState {
    /// Its definition.
    pub def: Rollout,
    /// Flag backend description.
    pub flag_backend: String,
    /// Metrics source description.
    pub metrics_source: String,
    /// The last flag read.
    pub flag: Option<FlagSnapshot>,
    /// The flag backend's feed: last answer, failure, schedule.
    pub flag_feed: Feed,
    /// The flags that move with it (`[[rollout.also]]`), in order.
    pub also: Vec<super::AlsoState>,
    /// A read of the also-flags is under way.
    pub also_in_flight: bool,
    /// The last group write did not move every flag: shown until undone or a later group
    /// write lands on every flag; automation stands back meanwhile.
    pub partial: Option<super::Partial>,
    /// The start-up backfill is done (or failed): live polling may start.
    pub backfilled: bool,
    /// One entry per metric of `def`.
    pub metrics: Vec<MetricState>,
    /// The metrics source's feed: last good poll, failure, schedule.
    pub metrics_feed: Feed,
    /// One entry per rule of `def`.
    pub alerts: Vec<AlertState>,
    /// Each rule's state over time (the detail view's timelines), one per rule of `def`.
    pub timelines: Vec<crate::app::timeline::Timeline>,
    /// Since when the flag has been at its current percentage (first seen, or the audited
    /// write that set it).
    pub step_since_ms: Option<i64>,
    /// The newest landed write in the audit log (Unix ms, effective percentage it left): the
    /// first read dates the step from it when the flag still shows that percentage.
    pub audited_step: Option<(i64, u8)>,
    /// When rollwatch last saw the effective percentage change (clock ms); not set by the
    /// first read. Values whose window reaches back past it mix two traffic splits.
    pub flag_changed_ms: Option<i64>,
    /// When the flag went from serving traffic to 0 % (clock ms); cleared when it serves again.
    pub rolled_back_at_ms: Option<i64>,
    /// Changes of the effective percentage rollwatch saw (clock ms, from, to), oldest first,
    /// at most [`FLAG_CHANGES_CAP`]: the markers on the charts.
    pub flag_changes: VecDeque<(i64, u8, u8)>,
    /// A write is under way.
    pub write_in_flight: bool,
    /// The newest backend event already seen (for marking new ones).
    pub events_seen_ms: Option<i64>,
    /// Backend events (newest last).
    pub backend_events: Vec<FlagEvent>,
    /// A read of the backend's change history is under way.
    pub events_in_flight: bool,
    /// This session's landed writes (newest last, bounded), to recognise them in
    /// `backend_events`.
    pub own_writes: Vec<crate::flags::own::OwnWrite>,
    /// TLS verification is off for one of its backends (`insecure_skip_verify`).
    pub insecure_tls: bool,
    /// Auto-advance is armed (config `auto_advance`, key `a`).
    pub armed: bool,
    /// The flag backend can switch the flag on and off (the kill switch key is offered).
    pub kill_switch: bool,
    /// The next step is due (bake passed, all healthy): shown as READY when not armed.
    pub ready: Option<u8>,
    /// The evidence the current step has baked on (fresh observations since it began).
    pub bake: crate::app::bake::Evidence,
    /// The tuning of this step's statistical tests, fixed once per step.
    pub tuning: Option<crate::stats::Tuning>,
    /// Requests per second over both cohorts, as last measured from counts.
    pub traffic_rps: Option<f64>,
    /// Why the next step is not due, in words (`baking, 3m left`, `rule x is FIRING …`).
    pub held_by: Option<String>,
    /// The firing episode (rule index, `since_ms`) auto-rollback already acted on, so a
    /// failed or refused rollback is not repeated every tick.
    pub auto_rolled_back: Option<(usize, i64)>,
    /// Discovered by a fleet whose backend no longer selects it (archived, its gradual
    /// rollout removed): not polled; the view may hide it. Its index stays.
    pub gone: bool,
}

impl RolloutState {
    /// A rollout not yet read, at `now_ms`.
    #[must_use]
    pub fn new(
        mut def: Rollout,
        flag_backend: String,
        metrics_source: String,
        now_ms: i64,
    ) -> Self {
        if !def
            .rules
            .iter()
            .any(|r| r.name == crate::app::verdicts::SPLIT_RULE)
        {
            def.rules.push(split_rule());
        }
        let def_auto_advance = def.automation.auto_advance;
        Self {
            metrics: vec![MetricState::default(); def.metrics.len()],
            alerts: vec![AlertState::initial(now_ms); def.rules.len()],
            timelines: vec![crate::app::timeline::Timeline::default(); def.rules.len()],
            def,
            flag_backend,
            metrics_source,
            flag: None,
            flag_feed: Feed::default(),
            also: Vec::new(),
            also_in_flight: false,
            partial: None,
            backfilled: false,
            metrics_feed: Feed::default(),
            step_since_ms: None,
            audited_step: None,
            flag_changed_ms: None,
            rolled_back_at_ms: None,
            flag_changes: VecDeque::new(),
            write_in_flight: false,
            events_seen_ms: None,
            backend_events: Vec::new(),
            events_in_flight: false,
            own_writes: Vec::new(),
            insecure_tls: false,
            armed: def_auto_advance,
            kill_switch: true,
            ready: None,
            held_by: None,
            bake: crate::app::bake::Evidence::default(),
            tuning: None,
            traffic_rps: None,
            auto_rolled_back: None,
            gone: false,
        }
    }

    /// The worst state among this rollout's rules, for the compact overview line.
    #[must_use]
    pub fn worst(&self) -> (AlertStatus, Option<Severity>) {
        self.alerts
            .iter()
            .zip(&self.def.rules)
            .max_by_key(|(a, r)| (a.status.rank(), r.severity))
            .map_or((AlertStatus::Inactive, None), |(a, r)| {
                (a.status, Some(r.severity))
            })
    }

    /// Records a flag value read at `at`: the step clock, the last change and a rollback.
    pub fn see_flag(&mut self, snap: &FlagSnapshot, at: i64) {
        let before = self.flag.as_ref().map(FlagSnapshot::effective_percent);
        let after = snap.effective_percent();
        match before {
            None => {
                let audited = self
                    .audited_step
                    .filter(|(t, p)| *p == after && *t <= at)
                    .map(|(t, _)| t);
                self.step_since_ms = Some(audited.unwrap_or(at));
            }
            Some(b) if b != after => {
                if self.flag_changes.len() == FLAG_CHANGES_CAP {
                    self.flag_changes.pop_front();
                }
                self.flag_changes.push_back((at, b, after));
                self.step_since_ms = Some(at);
                // A new split: counts restart, the tests get this step's tuning, and the
                // bake starts again on the new split's evidence.
                self.tuning = None;
                self.bake = crate::app::bake::Evidence::default();
                self.flag_changed_ms = Some(at);
                if after == 0 {
                    self.rolled_back_at_ms = Some(at);
                }
            }
            Some(_) => {}
        }
        if after > 0 {
            self.rolled_back_at_ms = None;
        }
        self.flag = Some(snap.clone());
        self.flag_feed.at_ms = Some(at);
    }

    /// Whether metric `k`'s current value covers a flag change (its window straddles it).
    #[must_use]
    pub fn straddles(&self, k: usize) -> bool {
        let (Some(window), Some(changed), Some(at)) = (
            self.def.metrics.get(k).and_then(|m| m.window_ms),
            self.flag_changed_ms,
            self.metrics.get(k).and_then(|m| m.last_at_ms),
        ) else {
            return false;
        };
        at >= changed && at - window < changed
    }

    /// The firing rule that blocks bumping, if any (hold or rollback action).
    #[must_use]
    pub fn blocking_rule(&self) -> Option<&crate::alerts::Rule> {
        self.alerts
            .iter()
            .zip(&self.def.rules)
            .find(|(a, r)| a.status == AlertStatus::Firing && r.action.blocks_bump())
            .map(|(_, r)| r)
    }
}

/// The built-in traffic-split rule: a `hold` warning when the new path's share of requests at
/// this step differs from the flag's (sample-ratio mismatch); idle without request counts.
fn split_rule() -> crate::alerts::Rule {
    crate::alerts::Rule {
        name: crate::app::verdicts::SPLIT_RULE.into(),
        metric: String::new(),
        cohort: crate::model::Cohort::New,
        condition: crate::alerts::Condition::Absolute {
            op: crate::alerts::Op::Gt,
            value: 0.0,
        },
        for_: std::time::Duration::ZERO,
        keep_firing_for: std::time::Duration::ZERO,
        severity: Severity::Warning,
        action: crate::alerts::Action::Hold,
        significant: false,
    }
}
