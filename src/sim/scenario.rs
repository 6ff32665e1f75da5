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
}

impl Scenario {
    /// All scenarios, for help texts.
    pub const ALL: [Scenario; 3] = [Scenario::Healthy, Scenario::Regression, Scenario::Leak];

    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::Regression => "regression",
            Scenario::Leak => "leak",
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
            .ok_or_else(|| format!("unknown scenario `{s}`: expected healthy, regression or leak"))
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
