//! A simulated fleet for `rollwatch simulate --flags N`: flags `flag-000` … each with its own
//! service (request rate, seed), scenario and initial split, all drawn from one seed, so the
//! same seed gives the same fleet. Most are healthy; a few regress (already at or above the
//! regression threshold, so they do from the start), one in 23 leaks, one in 29 has a
//! sample-ratio mismatch and one in 5 is an A/A rollout (`same`).

use super::{Profile, Scenario};
use crate::rng::Rng;

/// One flag of the fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetFlag {
    /// `flag-000`, `flag-001`, ...
    pub name: String,
    /// What its new path does.
    pub scenario: Scenario,
    /// Its initial percentage.
    pub percent: u8,
    /// Its service (request rate 20 to 100 per second, the checkout paths).
    pub profile: Profile,
    /// Its simulator's seed.
    pub seed: u64,
}

/// Most flags a fleet may have.
pub const MAX_FLAGS: usize = 1000;

/// The name of flag `i`.
#[must_use]
pub fn name(i: usize) -> String {
    format!("flag-{i:03}")
}

/// The scenario of flag `i`.
#[must_use]
pub fn scenario(i: usize) -> Scenario {
    if i % 17 == 3 {
        Scenario::Regression
    } else if i % 23 == 7 {
        Scenario::Leak
    } else if i % 29 == 11 {
        Scenario::Srm
    } else if i % 5 == 4 {
        Scenario::Same
    } else {
        Scenario::Healthy
    }
}

/// `n` flags drawn from `seed`.
#[must_use]
pub fn fleet(n: usize, seed: u64) -> Vec<FleetFlag> {
    let mut rng = Rng::new(seed ^ 0x5eed_f1ee_7000_0000);
    (0..n)
        .map(|i| {
            let scenario = scenario(i);
            let mut profile = Profile::checkout();
            profile.rps = (20.0 + 80.0 * rng.uniform()).round();
            let steps = [1u8, 5, 10, 25, 50];
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let pick = ((rng.uniform() * steps.len() as f64) as usize).min(steps.len() - 1);
            let percent = if scenario == Scenario::Regression {
                profile.regression_at_percent
            } else {
                steps[pick]
            };
            FleetFlag {
                name: name(i),
                scenario,
                percent,
                profile,
                seed: rng.next_u64(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_fleet_and_a_few_regress() {
        let a = fleet(200, 7);
        assert_eq!(a, fleet(200, 7));
        assert_ne!(a, fleet(200, 8));
        assert_eq!(a[0].name, "flag-000");
        assert_eq!(a[199].name, "flag-199");
        let regressing = a
            .iter()
            .filter(|f| f.scenario == Scenario::Regression)
            .count();
        assert!((5..=20).contains(&regressing), "{regressing}");
        assert!(a.iter().all(|f| (20.0..=100.0).contains(&f.profile.rps)));
        let small = fleet(12, 1);
        assert!(small.iter().any(|f| f.scenario == Scenario::Regression));
    }
}
