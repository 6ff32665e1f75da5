//! A step is baked by evidence, not by the wall clock. The bake clock counts only time covered
//! by fresh observations made after the step began: a metrics poll whose answer came back
//! within the staleness limit, every metric read, and (for windowed queries such as
//! `rate(x[1m])`) whose longest window starts after the step began, so no value still mixes
//! in the previous step's traffic. An observation covers its shortest window (the time its
//! values describe); the gaps between windows are not observed and do not count. Metrics
//! without a window (gauges) describe an instant: the gap since the previous observation
//! counts, up to the staleness limit. At least [`MIN_OBSERVATIONS`] observations are needed
//! whatever the coverage, so a rule with a `for` clause has had evaluations to go PENDING and
//! FIRING before anything steps on.
//!
//! Found at `demo --speed 3000`: one poll every 50 minutes of scaled time let a 5 minute
//! bake pass between two polls, and automation stepped to 100 % before the error rule could
//! fire. The same happens for real whenever polls are slower than the bake.

use serde::{Deserialize, Serialize};

/// Observations needed at a step, whatever time they cover.
pub const MIN_OBSERVATIONS: u32 = 3;

/// The evidence gathered at the current step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Time covered by fresh observations since the step began, ms.
    pub covered_ms: i64,
    /// The end of the covered time so far (clock ms): coverage is never counted twice.
    pub covered_until_ms: Option<i64>,
    /// Observations that counted.
    pub observations: u32,
    /// Why the newest observation did not count, while that holds.
    pub rejected: Option<String>,
}

/// One metrics poll as the bake clock sees it.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// When the poll was asked (the time its values describe), clock ms.
    pub asked_ms: i64,
    /// When its answer arrived, clock ms.
    pub answered_ms: i64,
    /// Every metric of the rollout was read.
    pub complete: bool,
    /// The shortest window among windowed metrics (`None`: no windowed metric).
    pub min_window_ms: Option<i64>,
    /// The longest window among windowed metrics.
    pub max_window_ms: Option<i64>,
}

impl Evidence {
    /// Counts `o` for a step that began at `step_start_ms`, with data older than
    /// `stale_after_ms` not fresh.
    pub fn observe(&mut self, o: Observation, step_start_ms: i64, stale_after_ms: i64) {
        let lag = o.answered_ms - o.asked_ms;
        if lag > stale_after_ms {
            self.rejected = Some(format!(
                "the last answer took {}, too late to count",
                crate::ui::format::duration(lag)
            ));
            return;
        }
        if !o.complete {
            self.rejected = Some("the last poll missed a metric".into());
            return;
        }
        let starts = o.asked_ms - o.max_window_ms.unwrap_or(0);
        if starts < step_start_ms {
            self.rejected = Some("the rate window still covers the previous step".into());
            return;
        }
        self.rejected = None;
        let t = o.asked_ms;
        let from = match (o.min_window_ms, self.covered_until_ms) {
            (Some(w), until) => (t - w).max(until.unwrap_or(i64::MIN)),
            (None, Some(until)) => until.max(t - stale_after_ms),
            (None, None) => t,
        };
        self.covered_ms += (t - from).max(0);
        self.covered_until_ms = Some(self.covered_until_ms.map_or(t, |u| u.max(t)));
        self.observations += 1;
    }

    /// Bake time still to be covered, or `None` when `bake_ms` is covered by at least
    /// [`MIN_OBSERVATIONS`] observations.
    #[must_use]
    pub fn left_ms(&self, bake_ms: i64) -> Option<i64> {
        let left = (bake_ms - self.covered_ms).max(0);
        (left > 0 || self.observations < MIN_OBSERVATIONS).then_some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: i64 = 1_000_000;
    const STALE: i64 = 4_000;

    fn obs(t: i64, window: Option<i64>) -> Observation {
        Observation {
            asked_ms: t,
            answered_ms: t + 50,
            complete: true,
            min_window_ms: window,
            max_window_ms: window,
        }
    }

    #[test]
    fn dense_polls_of_a_windowed_metric_cover_the_bake_from_the_window_after_the_step() {
        let mut e = Evidence::default();
        // 1 m window, a poll every 2 s from the step's start: the first 60 s do not count
        // (their window reaches into the previous step), then coverage is continuous.
        for t in (0..=360_000).step_by(2_000) {
            e.observe(obs(STEP + t, Some(60_000)), STEP, STALE);
        }
        assert_eq!(e.covered_ms, 360_000, "the first window is covered too");
        assert_eq!(e.left_ms(300_000), None);
        let mut early = Evidence::default();
        for t in (0..60_000).step_by(2_000) {
            early.observe(obs(STEP + t, Some(60_000)), STEP, STALE);
        }
        assert_eq!(early.covered_ms, 0);
        assert_eq!(early.observations, 0);
        assert!(early.rejected.as_deref().unwrap().contains("previous step"));
    }

    #[test]
    fn sparse_polls_count_only_their_windows_not_the_gaps() {
        // The demo at --speed 3000: one poll per 50 minutes of clock time, 1 m windows.
        let mut e = Evidence::default();
        for n in 1..=3 {
            e.observe(obs(STEP + n * 3_000_000, Some(60_000)), STEP, 6_000_000);
        }
        assert_eq!(e.covered_ms, 180_000);
        assert_eq!(e.left_ms(300_000), Some(120_000), "3m of a 5m bake");
    }

    #[test]
    fn a_late_answer_or_a_missing_metric_is_no_evidence() {
        let mut e = Evidence::default();
        let mut late = obs(STEP + 100_000, Some(60_000));
        late.answered_ms = late.asked_ms + STALE + 1;
        e.observe(late, STEP, STALE);
        assert_eq!(e.observations, 0);
        assert!(e.rejected.as_deref().unwrap().contains("took"));
        let mut partial = obs(STEP + 100_000, Some(60_000));
        partial.complete = false;
        e.observe(partial, STEP, STALE);
        assert_eq!(e.observations, 0);
        e.observe(obs(STEP + 100_000, Some(60_000)), STEP, STALE);
        assert_eq!(
            (e.observations, e.covered_ms, e.rejected),
            (1, 60_000, None)
        );
    }

    #[test]
    fn gauges_count_gaps_up_to_the_staleness_limit_and_need_three_observations() {
        let mut e = Evidence::default();
        e.observe(obs(STEP + 1_000, None), STEP, STALE);
        assert_eq!(e.covered_ms, 0, "one instant covers no time");
        e.observe(obs(STEP + 3_000, None), STEP, STALE);
        assert_eq!(e.covered_ms, 2_000);
        // A 60 s gap (polls failed): only the staleness limit counts.
        e.observe(obs(STEP + 63_000, None), STEP, STALE);
        assert_eq!(e.covered_ms, 6_000);
        assert_eq!(e.left_ms(5_000), None);
        let two = Evidence {
            covered_ms: 10_000,
            observations: 2,
            ..Evidence::default()
        };
        assert_eq!(
            two.left_ms(5_000),
            Some(0),
            "covered but too few observations"
        );
    }
}
