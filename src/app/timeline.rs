//! Each rule's state over time, for the detail view's timelines: the transitions rollwatch
//! evaluated (time, state), oldest first, bounded. A strip of the chart's width shows, per
//! column, the worst state the rule was in during that slice of the range.

use std::collections::VecDeque;

use crate::alerts::AlertStatus;

/// Transitions kept per rule (a day of a rule flapping every few minutes).
pub const TRANSITIONS_CAP: usize = 512;

/// One rule's transitions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    transitions: VecDeque<(i64, AlertStatus)>,
}

impl Timeline {
    /// Records that the rule entered `status` at `at_ms`.
    pub fn push(&mut self, at_ms: i64, status: AlertStatus) {
        if self.transitions.back().is_some_and(|(_, s)| *s == status) {
            return;
        }
        if self.transitions.len() == TRANSITIONS_CAP {
            self.transitions.pop_front();
        }
        self.transitions.push_back((at_ms, status));
    }

    /// The state at `at_ms` (`None` before the first record).
    #[must_use]
    pub fn at(&self, at_ms: i64) -> Option<AlertStatus> {
        self.transitions
            .iter()
            .take_while(|(t, _)| *t <= at_ms)
            .last()
            .map(|(_, s)| *s)
    }

    /// `width` columns covering `[from_ms, to_ms]`: the worst state in each column's slice.
    #[must_use]
    pub fn strip(&self, from_ms: i64, to_ms: i64, width: usize) -> Vec<Option<AlertStatus>> {
        let span = (to_ms - from_ms).max(1);
        let width_i = i64::try_from(width.max(1)).unwrap_or(1);
        (0..width_i)
            .map(|c| {
                let start = from_ms + span * c / width_i;
                let end = from_ms + span * (c + 1) / width_i;
                let inside = self
                    .transitions
                    .iter()
                    .filter(|(t, _)| *t > start && *t <= end)
                    .map(|(_, s)| *s);
                self.at(start)
                    .into_iter()
                    .chain(inside)
                    .max_by_key(|s| s.rank())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strip_shows_the_worst_state_of_each_slice() {
        let mut t = Timeline::default();
        t.push(0, AlertStatus::Inactive);
        t.push(40, AlertStatus::Pending);
        t.push(45, AlertStatus::Firing);
        t.push(60, AlertStatus::Resolved);
        // 4 columns over 0..100: [0,25] OK, (25,50] firing (the worst inside), (50,75] the
        // firing it entered with then resolved, (75,100] resolved.
        let s = t.strip(0, 100, 4);
        assert_eq!(
            s,
            vec![
                Some(AlertStatus::Inactive),
                Some(AlertStatus::Firing),
                Some(AlertStatus::Firing),
                Some(AlertStatus::Resolved)
            ]
        );
        assert_eq!(t.strip(-100, -50, 2), vec![None, None], "before any record");
        t.push(70, AlertStatus::Resolved);
        assert_eq!(t.transitions.len(), 4, "no repeats");
    }
}
