//! Scenarios and service profiles of the simulator.

use std::fmt;
use std::str::FromStr;

use crate::model::Cohort;

/// What happens to the new path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// New is faster, saves ~95 % of queries and ~30 % of tokens, errors like legacy.
    Healthy,
    /// New's error rate climbs once it serves ≥ 25 % of traffic, and its latency doubles.
    Regression,
    /// New's memory grows with the traffic it serves.
    Leak,
    /// The new path behaves exactly like legacy (an A/A rollout): no verdict should say worse.
    Same,
    /// The new path receives half the share of traffic the flag says (a sample-ratio mismatch,
    /// as from a router that ignores the flag for some instances); otherwise healthy.
    Srm,
}

impl Scenario {
    /// All scenarios, for help texts.
    pub const ALL: [Scenario; 5] = [
        Scenario::Healthy,
        Scenario::Regression,
        Scenario::Leak,
        Scenario::Same,
        Scenario::Srm,
    ];

    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::Regression => "regression",
            Scenario::Leak => "leak",
            Scenario::Same => "same",
            Scenario::Srm => "srm",
        }
    }

    /// The names for help and error texts: `healthy, regression, leak, same or srm`.
    #[must_use]
    pub fn names() -> String {
        let names = Scenario::ALL.map(Scenario::as_str);
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// The service profile this scenario runs: for `same` the new path is a copy of legacy.
    #[must_use]
    pub fn shape(self, profile: Profile) -> Profile {
        match self {
            Scenario::Same => Profile {
                new: profile.legacy,
                ..profile
            },
            _ => profile,
        }
    }

    /// The share of requests (0 to 1) that reaches the new path when the flag says `percent`:
    /// the flag's own share, except for `srm`, which serves the new path half of it.
    #[must_use]
    pub fn new_share(self, percent: u8) -> f64 {
        let flag = f64::from(percent.min(100)) / 100.0;
        match self {
            Scenario::Srm => flag / 2.0,
            _ => flag,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown scenario `{s}`: expected {}", Scenario::names()))
    }
}

/// How one code path behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathProfile {
    /// Error probability per request (0.0008 = 0.08 %).
    pub error_rate: f64,
    /// Median latency in ms.
    pub latency_median_ms: f64,
    /// Log-normal sigma of latency.
    pub latency_sigma: f64,
    /// Resident memory in MiB.
    pub memory_mb: f64,
    /// Database queries per request.
    pub queries_per_request: f64,
    /// LLM tokens per request.
    pub tokens_per_request: f64,
}

/// A service: its request rate and both paths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Requests per second over both paths.
    pub rps: f64,
    /// The legacy path.
    pub legacy: PathProfile,
    /// The new path.
    pub new: PathProfile,
    /// The regression starts once the new path serves at least this percentage.
    pub regression_at_percent: u8,
    /// Delay after reaching it before errors start climbing, ms.
    pub regression_delay_ms: i64,
}

impl Profile {
    /// The path of a cohort.
    #[must_use]
    pub fn path(&self, c: Cohort) -> &PathProfile {
        match c {
            Cohort::Legacy => &self.legacy,
            Cohort::New => &self.new,
        }
    }

    /// The batch-query dashboard (N+1 → batched): 200 → ~10 queries, tokens for its summary.
    #[must_use]
    pub fn checkout() -> Self {
        Self {
            rps: 120.0,
            legacy: PathProfile {
                error_rate: 0.0008,
                latency_median_ms: 180.0,
                latency_sigma: 0.45,
                memory_mb: 200.0,
                queries_per_request: 200.0,
                tokens_per_request: 1200.0,
            },
            new: PathProfile {
                error_rate: 0.0006,
                latency_median_ms: 115.0,
                latency_sigma: 0.40,
                memory_mb: 180.0,
                queries_per_request: 9.0,
                tokens_per_request: 840.0,
            },
            regression_at_percent: 25,
            regression_delay_ms: 5_000,
        }
    }

    /// An LLM patch-mode service: fewer tokens per call, slightly slower.
    #[must_use]
    pub fn llm() -> Self {
        Self {
            rps: 30.0,
            legacy: PathProfile {
                error_rate: 0.01,
                latency_median_ms: 900.0,
                latency_sigma: 0.35,
                memory_mb: 350.0,
                queries_per_request: 2.0,
                tokens_per_request: 3000.0,
            },
            new: PathProfile {
                error_rate: 0.011,
                latency_median_ms: 950.0,
                latency_sigma: 0.35,
                memory_mb: 360.0,
                queries_per_request: 2.0,
                tokens_per_request: 1900.0,
            },
            regression_at_percent: 101,
            regression_delay_ms: 0,
        }
    }

    /// A chat transport migration: tight latency, small memory.
    #[must_use]
    pub fn chat() -> Self {
        Self {
            rps: 200.0,
            legacy: PathProfile {
                error_rate: 0.0004,
                latency_median_ms: 70.0,
                latency_sigma: 0.45,
                memory_mb: 30.0,
                queries_per_request: 1.0,
                tokens_per_request: 0.0,
            },
            new: PathProfile {
                error_rate: 0.0005,
                latency_median_ms: 75.0,
                latency_sigma: 0.45,
                memory_mb: 41.0,
                queries_per_request: 1.0,
                tokens_per_request: 0.0,
            },
            regression_at_percent: 101,
            regression_delay_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_parses_by_its_name() {
        for s in Scenario::ALL {
            assert_eq!(s.as_str().parse::<Scenario>(), Ok(s));
        }
        let err = "bogus".parse::<Scenario>().unwrap_err();
        assert!(
            err.ends_with("expected healthy, regression, leak, same or srm"),
            "{err}"
        );
    }

    #[test]
    fn same_copies_legacy_and_srm_halves_the_share() {
        let p = Scenario::Same.shape(Profile::checkout());
        assert_eq!(p.new, p.legacy);
        assert_eq!(
            Scenario::Healthy.shape(Profile::checkout()),
            Profile::checkout()
        );
        assert!((Scenario::Srm.new_share(25) - 0.125).abs() < 1e-12);
        assert!((Scenario::Same.new_share(25) - 0.25).abs() < 1e-12);
        assert!((Scenario::Srm.new_share(250) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_split_check_catches_srm_within_minutes_and_not_healthy() {
        use crate::sim::Simulator;
        use crate::stats::{SplitStatus, Tuning, split_check};
        let tuning = Tuning::for_bake(120.0, std::time::Duration::from_secs(300));
        for (scenario, want) in [
            (Scenario::Srm, SplitStatus::Mismatch),
            (Scenario::Healthy, SplitStatus::Ok),
            (Scenario::Same, SplitStatus::Ok),
        ] {
            let mut sim = Simulator::new(11, scenario, Profile::checkout(), 0, 0);
            sim.advance(180_000, 25);
            let new = sim.totals(Cohort::New).sum.requests;
            let total = new + sim.totals(Cohort::Legacy).sum.requests;
            let c = split_check(new, total, 25, &tuning);
            assert_eq!(c.status, want, "{scenario}: {}", c.describe());
        }
    }
}
