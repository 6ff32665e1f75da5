//! Statistics for canary verdicts.
//!
//! - [`sequential`]: always-valid asymptotic confidence sequences (Waudby-Smith et al. 2023, as
//!   in GrowthBook's safe rollouts) and their tuning from the step's bake time and traffic.
//! - [`guardrail`]: the one-sided always-valid test of a rate (errors, slow requests) of the new
//!   path against legacy, with a tolerance: `worse`, `not worse` or `inconclusive (n=…)`.
//! - [`split`]: the traffic-split check (sample-ratio mismatch) against the flag's percentage.
//! - [`histogram`]: latency as a proportion (requests slower than a bucket boundary) and the
//!   bucket that holds a quantile.
//! - This module: Wilson score intervals for a proportion and the pooled two-proportion z-test
//!   (a fixed-horizon test, kept for the descriptive intervals; re-checked at every poll it
//!   raises false alarms, which is why the verdicts move to [`guardrail`]).

pub mod guardrail;
pub mod histogram;
pub mod sequential;
pub mod split;

pub use guardrail::{Guardrail, Safety, guardrail};
pub use histogram::{BucketError, quantile_bucket, slow_share};
pub use sequential::{ALPHA, SRM_ALPHA, Tuning};
pub use split::{SplitCheck, SplitStatus, split_check};

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Minimum requests per cohort before a verdict is attempted.
pub const MIN_N: u64 = 30;

/// The Wilson score interval `(low, high)` of `k` events in `n` trials at `z`; `None` for n = 0.
#[must_use]
pub fn wilson(k: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || k > n {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Two-sided p-value of the pooled two-proportion z-test of `k1/n1` against `k2/n2`.
/// `None` when a sample is empty or both proportions are 0 or 1 (no variance).
#[must_use]
pub fn two_proportion_p(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<f64> {
    if n1 == 0 || n2 == 0 || k1 > n1 || k2 > n2 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let (k1, n1, k2, n2) = (k1 as f64, n1 as f64, k2 as f64, n2 as f64);
    let pooled = (k1 + k2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (k1 / n1 - k2 / n2) / se;
    Some(2.0 * (1.0 - crate::sim::rng::normal_cdf(z.abs())))
}

/// The verdict of comparing the new cohort's rate with legacy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New is significantly worse (at 95 %).
    Worse,
    /// New is significantly better.
    Better,
    /// No significant difference.
    NoDifference,
    /// Too few requests in a cohort to say (the smaller n).
    NotEnoughData(u64),
}

impl Verdict {
    /// A few characters for a table cell.
    #[must_use]
    pub fn short(self) -> String {
        match self {
            Verdict::Worse => "worse".into(),
            Verdict::Better => "better".into(),
            Verdict::NoDifference => "n.s.".into(),
            Verdict::NotEnoughData(n) => format!("n={n} few"),
        }
    }

    /// Words for the screen.
    #[must_use]
    pub fn label(self) -> String {
        match self {
            Verdict::Worse => "worse".into(),
            Verdict::Better => "better".into(),
            Verdict::NoDifference => "no sig. diff".into(),
            Verdict::NotEnoughData(n) => format!("n={n}: too few"),
        }
    }
}

/// Compares event rates (errors per request) of legacy `(k, n)` and new `(k, n)`, where more
/// events is worse. Significance at 95 %.
#[must_use]
pub fn verdict(legacy: (u64, u64), new: (u64, u64)) -> Verdict {
    let min_n = legacy.1.min(new.1);
    if min_n < MIN_N {
        return Verdict::NotEnoughData(min_n);
    }
    match two_proportion_p(new.0, new.1, legacy.0, legacy.1) {
        Some(p) if p < 0.05 => {
            #[allow(clippy::cast_precision_loss)]
            let worse = new.0 as f64 / new.1 as f64 > legacy.0 as f64 / legacy.1 as f64;
            if worse {
                Verdict::Worse
            } else {
                Verdict::Better
            }
        }
        _ => Verdict::NoDifference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() < eps
    }

    #[test]
    fn wilson_matches_textbook_values() {
        // Newcombe (1998), example: 81 of 263 → 0.2553 to 0.3662.
        let (lo, hi) = wilson(81, 263, Z95).unwrap();
        assert!(
            close(lo, 0.2553, 5e-4) && close(hi, 0.3662, 5e-4),
            "{lo} {hi}"
        );
        // 0 of 10 → 0 to 0.2775 (the interval never collapses to a point at 0).
        let (lo, hi) = wilson(0, 10, Z95).unwrap();
        assert!(
            close(lo, 0.0, 1e-12) && close(hi, 0.2775, 5e-4),
            "{lo} {hi}"
        );
        // 15 of 148 → 0.0624 to 0.1605.
        let (lo, hi) = wilson(15, 148, Z95).unwrap();
        assert!(
            close(lo, 0.0624, 5e-4) && close(hi, 0.1605, 5e-4),
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0, Z95), None);
    }

    #[test]
    fn two_proportion_test_matches_a_known_example() {
        // 45/100 vs 30/100: pooled 0.375, z = 2.191, two-sided p = 0.0285.
        let p = two_proportion_p(45, 100, 30, 100).unwrap();
        assert!(close(p, 0.0285, 5e-4), "{p}");
        // Identical rates: p = 1.
        assert!(close(
            two_proportion_p(10, 100, 20, 200).unwrap(),
            1.0,
            1e-6
        ));
        assert_eq!(two_proportion_p(0, 100, 0, 100), None, "no variance");
    }

    #[test]
    fn a_small_canary_is_not_judged_on_noise() {
        // 5 % canary: 40 requests, 1 error (2.5 %) vs legacy 760 with 8 (1.05 %).
        assert_eq!(verdict((8, 760), (1, 40)), Verdict::NoDifference);
        assert_eq!(verdict((8, 760), (1, 20)), Verdict::NotEnoughData(20));
        // Thousands of requests at 3 % vs 0.1 %: worse.
        assert_eq!(verdict((10, 10_000), (90, 3000)), Verdict::Worse);
        assert_eq!(verdict((90, 3000), (10, 10_000)), Verdict::Better);
    }
}
