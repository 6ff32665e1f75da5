//! Asymptotic confidence sequences (Waudby-Smith, Ramdas et al. 2023, "Time-uniform central
//! limit theory and asymptotic confidence sequences", arXiv:2103.06476), the machinery behind
//! every always-valid verdict in rollwatch.
//!
//! A confidence sequence is a sequence of intervals that contains the true value at *every*
//! sample size at once with probability ≥ 1 − α. So it may be looked at after every poll, and a
//! verdict it gives is as trustworthy at the hundredth look as at the first: the peeking
//! problem of a fixed-horizon test re-checked at each poll does not arise.
//!
//! For `n` observations whose estimator has plug-in variance `s²/n`, the radius of the
//! one-sided sequence at level α is (the paper's Gaussian-mixture boundary, its eq. 134)
//!
//! ```text
//! r(n) = sqrt( s²/n · 2(nρ² + 1)/(nρ²) · ln(1 + sqrt(nρ² + 1)/(2α)) )
//! ```
//!
//! and of the two-sided one (eq. 9) `sqrt( s²/n · 2(nρ² + 1)/(nρ²) · ln(sqrt(nρ² + 1)/α) )`.
//! ρ is the mixture's tuning: the boundary is tightest near `n = N*` when
//! `ρ² = (−2 ln a + ln(1 − 2 ln a)) / N*` (eq. 161), with `a = α` for the two-sided sequence and
//! `a = 2α` for the one-sided one. These are the formulas GrowthBook's safe rollouts use.

use std::time::Duration;

/// Error level of the guardrail verdicts: each one-sided sequence errs with probability ≤ 5 %
/// over the whole step, however often it is looked at.
pub const ALPHA: f64 = 0.05;

/// Error level of the traffic-split (sample-ratio mismatch) check: a false split warning holds a
/// healthy rollout, so it is rarer than a guardrail's (the usual SRM threshold, p < 0.001).
pub const SRM_ALPHA: f64 = 0.001;

/// `N*` when nothing better is known (no bake time or no traffic yet): GrowthBook's default
/// sequential tuning parameter.
pub const DEFAULT_N_STAR: f64 = 5000.0;

/// The smallest `N*` [`Tuning::for_bake`] picks. Below ~100 requests the central limit theorem
/// that the asymptotic sequence rests on does not hold anyway; tuning for fewer only makes the
/// sequence needlessly wide later.
pub const MIN_N_STAR: f64 = 100.0;

/// The tuning of a confidence sequence: its error level and the sample size `N*` (requests over
/// both cohorts) at which it is tightest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Error level α.
    pub alpha: f64,
    /// The sample size (requests of both cohorts together) the sequence is tuned for.
    pub n_star: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            alpha: ALPHA,
            n_star: DEFAULT_N_STAR,
        }
    }
}

impl Tuning {
    /// Tuning for a step that bakes for `bake` while the service takes `requests_per_s` requests
    /// per second over both cohorts.
    ///
    /// **How the tuning constant is chosen.** An always-valid confidence sequence pays for being
    /// valid at every look with a wider interval than a fixed-horizon test would have at any one
    /// sample size; the mixture parameter ρ decides *where* that price is lowest. GrowthBook asks
    /// the user for the expected sample size (its "sequential tuning parameter", default 5000)
    /// and sets `ρ² = (−2 ln 2α + ln(1 − 2 ln 2α)) / N*`, which makes the one-sided boundary
    /// tightest around `n = N*`. In a rollout the sample that matters is the one at the end of the
    /// step's bake: that is when the operator (or auto-advance) decides to go on, and a
    /// regression should be caught by then at the latest. rollwatch knows both halves of that
    /// number, so nobody has to guess it: `N* = request rate × bake time`, the requests both
    /// cohorts are expected to serve during the bake (the total rate does not depend on the split,
    /// so the rate seen before the step began is a fair estimate). Earlier in the step the
    /// sequence is wider than at `N*` but still valid; a large regression is caught long before
    /// the bake ends. Pick the tuning once when the step begins and keep it for the step (counts
    /// restart at each step too): a ρ that moved with the data would void the guarantee.
    ///
    /// A rate or bake that is zero, negative or not finite falls back to [`DEFAULT_N_STAR`];
    /// `N*` is never below [`MIN_N_STAR`].
    #[must_use]
    pub fn for_bake(requests_per_s: f64, bake: Duration) -> Self {
        let n = requests_per_s * bake.as_secs_f64();
        let n_star = if n.is_finite() && n > 0.0 {
            n.max(MIN_N_STAR)
        } else {
            DEFAULT_N_STAR
        };
        Self {
            alpha: ALPHA,
            n_star,
        }
    }

    /// The same tuning at another error level.
    #[must_use]
    pub fn with_alpha(self, alpha: f64) -> Self {
        Self { alpha, ..self }
    }

    /// ρ of the one-sided sequence.
    #[must_use]
    pub fn rho_one_sided(&self) -> f64 {
        rho(2.0 * self.alpha, self.n_star)
    }

    /// ρ of the two-sided sequence.
    #[must_use]
    pub fn rho_two_sided(&self) -> f64 {
        rho(self.alpha, self.n_star)
    }

    /// The default minimum number of new-path requests at a step of `percent` before READY
    /// (and auto-advance): the new path's share of `N*`, at least [`super::MIN_N`].
    ///
    /// The sequence was tuned for `N*` requests, the sample expected by the end of the bake. A
    /// bake timer alone is fooled by a traffic dip (a quiet night, a broken router sending the
    /// new path little): the clock runs out while the test has seen a fraction of what it was
    /// planned for. Requiring the planned sample on the new path — `percent/100 × N*` requests —
    /// makes "baked" mean "observed as much as planned". At steady traffic it is met within
    /// seconds of the bake's end.
    #[must_use]
    pub fn min_new_requests(&self, percent: u8) -> u64 {
        let share = f64::from(percent.min(100)) / 100.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (share * self.n_star).ceil() as u64;
        n.max(super::MIN_N)
    }
}

/// `ρ = sqrt((−2 ln a + ln(1 − 2 ln a)) / N*)`, the mixture parameter that makes the boundary
/// tightest near `N*` (eq. 161 of the paper), for `a` = α (two-sided) or 2α (one-sided).
#[must_use]
pub fn rho(a: f64, n_star: f64) -> f64 {
    let l = -2.0 * a.ln();
    ((l + (l + 1.0).ln()) / n_star).sqrt()
}

/// `2(nρ² + 1)/(nρ²) / n`: the factor of the plug-in variance `s²` common to both boundaries.
fn spread(n: f64, rho: f64) -> f64 {
    let t = n * rho * rho;
    2.0 * (t + 1.0) / (t * n)
}

/// Radius of the one-sided asymptotic confidence sequence at level `alpha` after `n`
/// observations with per-observation variance `s2` (so the estimator's variance is `s2/n`).
/// Infinite for `n = 0`.
#[must_use]
pub fn one_sided_radius(s2: f64, n: f64, rho: f64, alpha: f64) -> f64 {
    if n <= 0.0 {
        return f64::INFINITY;
    }
    let t = n * rho * rho;
    (s2 * spread(n, rho) * (1.0 + (t + 1.0).sqrt() / (2.0 * alpha)).ln()).sqrt()
}

/// Radius of the two-sided asymptotic confidence sequence at level `alpha` (see
/// [`one_sided_radius`]).
#[must_use]
pub fn two_sided_radius(s2: f64, n: f64, rho: f64, alpha: f64) -> f64 {
    if n <= 0.0 {
        return f64::INFINITY;
    }
    let t = n * rho * rho;
    (s2 * spread(n, rho) * ((t + 1.0).sqrt() / alpha).ln()).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_matches_its_definition_by_hand() {
        // a = 0.1: −2 ln 0.1 = 4.60517; ln(5.60517) = 1.72369; sum 6.32886; / 5000 → ρ = 0.035578.
        let t = Tuning::default();
        assert!(
            (t.rho_one_sided() - 0.035_578).abs() < 1e-5,
            "{}",
            t.rho_one_sided()
        );
        // a = 0.05: 5.99146 + ln(6.99146) = 7.93611; / 5000 → ρ = 0.039840.
        assert!(
            (t.rho_two_sided() - 0.039_840).abs() < 1e-5,
            "{}",
            t.rho_two_sided()
        );
    }

    #[test]
    fn the_sequence_is_wider_than_a_fixed_horizon_interval_and_shrinks_with_n() {
        let rho = Tuning::default().rho_one_sided();
        let z95_one_sided = 1.644_853_626_951_472;
        let mut last = f64::INFINITY;
        for n in [10.0, 100.0, 1000.0, 5000.0, 1e5, 1e7] {
            let r = one_sided_radius(0.25, n, rho, ALPHA);
            let fixed = z95_one_sided * (0.25_f64 / n).sqrt();
            assert!(r > fixed, "n={n}: {r} ≤ fixed {fixed}");
            assert!(r < last, "n={n}: radius must shrink");
            last = r;
        }
        assert!(one_sided_radius(0.25, 0.0, rho, ALPHA).is_infinite());
    }

    #[test]
    fn the_price_of_peeking_is_lowest_near_the_tuned_sample_size() {
        // Ratio of the sequence's radius to the fixed-horizon one, at N* and far from it.
        let t = Tuning::for_bake(50.0, Duration::from_secs(6 * 3600));
        assert!((t.n_star - 1_080_000.0).abs() < 1e-6);
        let rho = t.rho_one_sided();
        let ratio = |n: f64| one_sided_radius(1.0, n, rho, ALPHA) / (1.0 / n).sqrt();
        let at = ratio(t.n_star);
        assert!(at < ratio(t.n_star / 100.0) && at < ratio(t.n_star * 100.0));
        // And tuning for n itself beats tuning for a much smaller sample, at n.
        let small = Tuning::for_bake(50.0, Duration::from_secs(60)).rho_one_sided();
        assert!(
            one_sided_radius(1.0, t.n_star, rho, ALPHA)
                < one_sided_radius(1.0, t.n_star, small, ALPHA)
        );
    }

    #[test]
    fn tuning_falls_back_on_nonsense_and_has_a_floor() {
        assert_eq!(
            Tuning::for_bake(0.0, Duration::from_secs(600)).n_star,
            DEFAULT_N_STAR
        );
        assert_eq!(
            Tuning::for_bake(f64::NAN, Duration::from_secs(600)).n_star,
            DEFAULT_N_STAR
        );
        assert_eq!(
            Tuning::for_bake(50.0, Duration::ZERO).n_star,
            DEFAULT_N_STAR
        );
        assert_eq!(
            Tuning::for_bake(0.01, Duration::from_secs(60)).n_star,
            MIN_N_STAR
        );
    }

    #[test]
    fn minimum_sample_is_the_new_paths_share_of_the_planned_sample() {
        // 50 req/s for 10 minutes = 30 000 requests; 5 % of them on the new path.
        let t = Tuning::for_bake(50.0, Duration::from_secs(600));
        assert_eq!(t.min_new_requests(5), 1500);
        assert_eq!(t.min_new_requests(50), 15_000);
        assert_eq!(t.min_new_requests(0), super::super::MIN_N);
        assert_eq!(t.min_new_requests(1), 300);
    }
}
