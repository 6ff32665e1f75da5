//! The fleet table's order and filter, pure functions of the state the view, the update and
//! the edge's hit test share: FIRING rollouts first, then UNKNOWN ones, then the others, each
//! group by name; the `/` filter keeps the rollouts whose name, environment, lifecycle state
//! or worst rule state contain its text (case-insensitive).

use super::lifecycle::lifecycle;
use super::state::{RolloutState, State};
use crate::alerts::AlertStatus;

/// Opens the fleet table with its first row selected: how a live session with several
/// rollouts starts (a recording says so in its header, so its replay starts there too).
pub fn open_at_start(s: &mut State) {
    s.view = super::state::View::Fleet;
    s.selected = order(s).first().copied().unwrap_or(0);
    s.dirty = true;
}

/// The group a rollout sorts in: 0 with a FIRING rule, 1 with an UNKNOWN one or a failing
/// backend (nothing is known for sure), 2 otherwise.
#[must_use]
pub fn class(r: &RolloutState) -> u8 {
    if r.alerts.iter().any(|a| a.status == AlertStatus::Firing) {
        0
    } else if r.alerts.iter().any(|a| a.status == AlertStatus::Unknown)
        || r.flag_feed.error.is_some()
        || r.metrics_feed.error.is_some()
    {
        1
    } else {
        2
    }
}

/// The rule needing the most attention (status rank, then severity), the first of equals.
#[must_use]
pub fn worst_rule(r: &RolloutState) -> Option<usize> {
    let mut best: Option<(usize, (u8, crate::alerts::Severity))> = None;
    for (k, (a, rule)) in r.alerts.iter().zip(&r.def.rules).enumerate() {
        let key = (a.status.rank(), rule.severity);
        if best.is_none_or(|(_, b)| key > b) {
            best = Some((k, key));
        }
    }
    best.map(|(k, _)| k)
}

/// Whether `haystack` contains `needle_lower` (already lower case), ignoring case.
fn contains_ci(haystack: &str, needle_lower: &str) -> bool {
    if haystack.is_ascii() && needle_lower.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle_lower.as_bytes());
        return n.is_empty()
            || h.windows(n.len())
                .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    haystack.to_lowercase().contains(needle_lower)
}

/// Whether rollout `r` passes the filter `needle_lower` (lower case; empty passes all).
#[must_use]
pub fn matches(s: &State, r: &RolloutState, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    let state = lifecycle(r, s.automation_paused).name();
    let worst = worst_rule(r).map_or("", |k| r.alerts[k].status.label());
    [r.def.name.as_str(), &r.def.environment, state, worst]
        .iter()
        .any(|h| contains_ci(h, needle_lower))
}

/// The rollouts the table shows, as indices into `s.rollouts`, in table order. A rollout
/// whose flag its fleet no longer selects (archived, its gradual rollout removed) is `gone`:
/// no longer polled, and not listed.
#[must_use]
pub fn order(s: &State) -> Vec<usize> {
    let needle = s.fleet.filter.to_lowercase();
    let mut rows: Vec<(u8, &str, usize)> = s
        .rollouts
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.gone && matches(s, r, &needle))
        .map(|(i, r)| (class(r), r.def.name.as_str(), i))
        .collect();
    rows.sort_unstable();
    rows.into_iter().map(|(_, _, i)| i).collect()
}

/// The selected rollout when the table shows it (a filter may hide it): what `Enter` opens
/// and the write keys act on in the fleet view.
#[must_use]
pub fn selected_row(s: &State, order: &[usize]) -> Option<usize> {
    order.iter().position(|&i| i == s.selected)
}

/// The first row shown of `len` rows in `rows` lines, starting from the remembered `top`,
/// moved as little as keeps row `pos` visible and no empty line below the last row.
#[must_use]
pub fn window(len: usize, pos: Option<usize>, top: usize, rows: usize) -> usize {
    let rows = rows.max(1);
    let mut top = top.min(len.saturating_sub(rows));
    if let Some(p) = pos {
        if p < top {
            top = p;
        } else if p >= top + rows {
            top = p + 1 - rows;
        }
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertStatus;
    use crate::app::state::State;
    use crate::model::{FlagSnapshot, Rollout};

    fn rollout(name: &str, env: &str) -> RolloutState {
        let rule = crate::alerts::Rule {
            name: "err".into(),
            metric: "e".into(),
            cohort: crate::model::Cohort::New,
            condition: crate::alerts::Condition::Absolute {
                op: crate::alerts::Op::Gt,
                value: 1.0,
            },
            for_: std::time::Duration::ZERO,
            keep_firing_for: std::time::Duration::ZERO,
            severity: crate::alerts::Severity::Critical,
            action: crate::alerts::Action::Rollback { to: 0 },
            significant: false,
        };
        let def = Rollout {
            name: name.into(),
            environment: env.into(),
            steps: vec![crate::model::Step {
                percent: 25,
                bake: None,
            }],
            metrics: Vec::new(),
            rules: vec![rule],
            automation: crate::model::Automation::default(),
        };
        let mut r = RolloutState::new(def, "memory".into(), "sim".into(), 0);
        r.see_flag(&FlagSnapshot::new(25, true), 0);
        for a in &mut r.alerts {
            a.status = AlertStatus::Inactive;
        }
        r
    }

    fn state(rs: Vec<RolloutState>) -> State {
        let mut s = State::new(rs, 1000, 0);
        open_at_start(&mut s);
        s
    }

    fn names(s: &State, o: &[usize]) -> Vec<String> {
        o.iter().map(|&i| s.rollouts[i].def.name.clone()).collect()
    }

    #[test]
    fn firing_then_unknown_then_the_rest_each_by_name() {
        let mut rs: Vec<RolloutState> = ["delta", "alpha", "echo", "charlie", "bravo"]
            .iter()
            .map(|n| rollout(n, "prod"))
            .collect();
        rs[2].alerts[0].status = AlertStatus::Unknown; // echo
        rs[3].alerts[0].status = AlertStatus::Firing; // charlie
        rs[0].alerts[0].status = AlertStatus::Pending; // delta: not a group of its own
        rs[4].alerts[0].status = AlertStatus::Firing; // bravo
        rs[4].alerts[1].status = AlertStatus::Unknown; // firing wins
        rs[1].metrics_feed.error = Some("HTTP 503".into()); // alpha: as good as unknown
        let s = state(rs);
        assert_eq!(
            names(&s, &order(&s)),
            ["bravo", "charlie", "alpha", "echo", "delta"]
        );
    }

    #[test]
    fn the_filter_matches_name_environment_and_state_ignoring_case() {
        let mut rs = vec![
            rollout("checkout", "production"),
            rollout("search", "staging"),
            rollout("llm-patch", "production"),
        ];
        rs[1].alerts[0].status = AlertStatus::Firing;
        let mut s = state(rs);
        s.fleet.filter = "CHECK".into();
        assert_eq!(names(&s, &order(&s)), ["checkout"]);
        s.fleet.filter = "stag".into();
        assert_eq!(names(&s, &order(&s)), ["search"]);
        s.fleet.filter = "firing".into();
        assert_eq!(names(&s, &order(&s)), ["search"]);
        s.fleet.filter = "production".into();
        assert_eq!(names(&s, &order(&s)), ["checkout", "llm-patch"]);
        s.fleet.filter = "nothing-like-this".into();
        assert!(order(&s).is_empty());
        s.fleet.filter.clear();
        assert_eq!(order(&s).len(), 3);
    }

    #[test]
    fn a_rollout_its_fleet_no_longer_selects_is_not_listed() {
        let mut s = state(vec![rollout("a", "prod"), rollout("b", "prod")]);
        s.rollouts[0].gone = true;
        assert_eq!(names(&s, &order(&s)), ["b"]);
    }

    #[test]
    fn the_selection_is_only_a_row_while_the_filter_shows_it() {
        let mut s = state(vec![rollout("a", "x"), rollout("b", "y")]);
        s.selected = 1;
        assert_eq!(selected_row(&s, &order(&s)), Some(1));
        s.fleet.filter = "x".into();
        assert_eq!(selected_row(&s, &order(&s)), None);
    }

    #[test]
    fn the_window_moves_only_as_far_as_keeps_the_selection_visible() {
        // Moving down inside the page keeps it; past the bottom scrolls by one.
        assert_eq!(window(500, Some(5), 0, 10), 0);
        assert_eq!(window(500, Some(10), 0, 10), 1);
        // Moving up inside the page keeps it; above the top scrolls to it.
        assert_eq!(window(500, Some(45), 40, 10), 40);
        assert_eq!(window(500, Some(39), 40, 10), 39);
        // No empty lines under the last row; a short list starts at the top.
        assert_eq!(window(500, Some(499), 495, 10), 490);
        assert_eq!(window(3, Some(2), 7, 10), 0);
        assert_eq!(window(0, None, 7, 10), 0);
    }
}
