//! The traffic-split check (sample-ratio mismatch): the flag says 25 %, so about 25 % of the
//! requests should reach the new path. A router that ignores the flag, a sticky-session bug or a
//! crashing new path that drops requests before they are counted all show up as a split that
//! differs from the flag, and every comparison of the two cohorts is then suspect.
//!
//! The observed share `new / (new + legacy)` is tested against the flag's share `p0` with a
//! two-sided asymptotic confidence sequence ([`super::sequential`]) at level
//! [`SRM_ALPHA`], so it may be re-checked at every poll.

use serde::{Deserialize, Serialize};

use super::sequential::{SRM_ALPHA, Tuning, two_sided_radius};

/// What the split check says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitStatus {
    /// The flag's share lies outside the sequence: the new path does not get what the flag says.
    Mismatch,
    /// The sequence lies within [`split_band`] of the flag's share.
    Ok,
    /// Neither yet (or fewer than [`super::MIN_N`] requests).
    Inconclusive,
}

/// The result of the split check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitCheck {
    /// The verdict.
    pub status: SplitStatus,
    /// The share the flag asks for, a fraction (0.25).
    pub expected: f64,
    /// The share the new path served, a fraction; `None` without requests.
    pub observed: Option<f64>,
    /// The sequence on the new path's share, `(low, high)`; `None` without requests.
    pub interval: Option<(f64, f64)>,
    /// Requests on the new path.
    pub new: u64,
    /// Requests on both paths.
    pub total: u64,
}

impl SplitCheck {
    /// One line for a warning: `flag 25 %, new path served 8.1 % of 41,200 requests`.
    #[must_use]
    pub fn describe(&self) -> String {
        let served = self
            .observed
            .map_or_else(|| "no data".to_owned(), |o| format!("{:.1} %", o * 100.0));
        format!(
            "flag {} %, new path served {served} of {} requests",
            trim_percent(self.expected * 100.0),
            group_thousands(self.total)
        )
    }
}

fn trim_percent(p: f64) -> String {
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// How far the observed share may lie from the flag's for the split to count as `Ok`: a tenth
/// of the smaller of the two shares, at least half a percentage point (a fraction). At 25 % that
/// is 22.5 % to 27.5 %; at 5 %, 4.5 % to 5.5 %.
#[must_use]
pub fn split_band(expected: f64) -> f64 {
    (0.1 * expected.min(1.0 - expected)).max(0.005)
}

/// Tests `new` requests on the new path out of `total` requests against the flag's `percent`.
/// `tuning` is the step's (its `N*` is the step's expected requests on both paths, the same `n`
/// as here); the check always runs at [`SRM_ALPHA`].
///
/// The sequence uses the larger of the observed variance `p̂(1 − p̂)` and the flag's
/// `p0(1 − p0)`: under a correct split they agree, and the larger one keeps a path that served
/// no request at all (p̂ = 0, no observed variance) from looking certain.
#[must_use]
pub fn split_check(new: u64, total: u64, percent: u8, tuning: &Tuning) -> SplitCheck {
    let expected = f64::from(percent.min(100)) / 100.0;
    let mut check = SplitCheck {
        status: SplitStatus::Inconclusive,
        expected,
        observed: None,
        interval: None,
        new,
        total,
    };
    if total == 0 || new > total {
        return check;
    }
    #[allow(clippy::cast_precision_loss)]
    let (k, n) = (new as f64, total as f64);
    let p = k / n;
    let s2 = (p * (1.0 - p)).max(expected * (1.0 - expected));
    let t = tuning.with_alpha(SRM_ALPHA);
    let r = two_sided_radius(s2, n, t.rho_two_sided(), t.alpha);
    let (lo, hi) = ((p - r).max(0.0), (p + r).min(1.0));
    check.observed = Some(p);
    check.interval = Some((lo, hi));
    if total >= super::MIN_N {
        let band = split_band(expected);
        check.status = if expected < lo || expected > hi {
            SplitStatus::Mismatch
        } else if lo >= expected - band && hi <= expected + band {
            SplitStatus::Ok
        } else {
            SplitStatus::Inconclusive
        };
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::Rng;

    fn t() -> Tuning {
        // 50 req/s for 10 minutes.
        Tuning::for_bake(50.0, std::time::Duration::from_secs(600))
    }

    #[test]
    fn half_the_share_is_a_mismatch_and_the_right_share_is_ok() {
        // 25 % asked, 12.5 % served of 30 000 requests.
        let c = split_check(3750, 30_000, 25, &t());
        assert_eq!(c.status, SplitStatus::Mismatch, "{c:?}");
        assert_eq!(c.observed, Some(0.125));
        // 25.2 % served: ok.
        let c = split_check(7560, 30_000, 25, &t());
        assert_eq!(c.status, SplitStatus::Ok, "{c:?}");
        let (lo, hi) = c.interval.unwrap();
        assert!(lo < 0.25 && 0.25 < hi);
        // 40 requests at 12.5 %: too few to tell.
        assert_eq!(
            split_check(5, 40, 25, &t()).status,
            SplitStatus::Inconclusive
        );
    }

    #[test]
    fn edges_never_panic_and_say_what_they_can() {
        assert_eq!(
            split_check(0, 0, 25, &t()).status,
            SplitStatus::Inconclusive
        );
        assert_eq!(split_check(0, 0, 25, &t()).observed, None);
        assert_eq!(
            split_check(5, 3, 25, &t()).status,
            SplitStatus::Inconclusive
        );
        // Nothing on the new path at 25 %: a mismatch, although p̂ has no variance.
        assert_eq!(split_check(0, 2000, 25, &t()).status, SplitStatus::Mismatch);
        // Everything on the new path at 25 %.
        assert_eq!(
            split_check(2000, 2000, 25, &t()).status,
            SplitStatus::Mismatch
        );
        // 0 % and nothing served: ok; 100 % and everything served: ok.
        assert_eq!(split_check(0, 2000, 0, &t()).status, SplitStatus::Ok);
        assert_eq!(split_check(2000, 2000, 100, &t()).status, SplitStatus::Ok);
        // 0 % yet everything on the new path.
        assert_eq!(
            split_check(2000, 2000, 0, &t()).status,
            SplitStatus::Mismatch
        );
        // A percent above 100 is read as 100.
        assert_eq!(split_check(10, 10, 200, &t()).expected, 1.0);
    }

    #[test]
    fn describe_names_both_shares() {
        let c = split_check(3337, 41_200, 25, &t());
        assert_eq!(
            c.describe(),
            "flag 25 %, new path served 8.1 % of 41,200 requests"
        );
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000_000), "1,000,000");
        assert_eq!(
            split_check(0, 0, 5, &t()).describe(),
            "flag 5 %, new path served no data of 0 requests"
        );
    }

    #[test]
    fn a_correct_split_rarely_raises_a_mismatch_over_a_whole_step() {
        // 300 steps of 120 looks (10 minutes at one look per 5 s), 250 requests per look, 25 %.
        let mut rng = Rng::new(77);
        let mut alarms = 0;
        let mut oks = 0;
        for _ in 0..300 {
            let (mut new, mut total) = (0, 0);
            let mut alarmed = false;
            for _ in 0..120 {
                new += (0..250).filter(|_| rng.uniform() < 0.25).count() as u64;
                total += 250;
                alarmed |= split_check(new, total, 25, &t()).status == SplitStatus::Mismatch;
            }
            alarms += u32::from(alarmed);
            oks += u32::from(split_check(new, total, 25, &t()).status == SplitStatus::Ok);
        }
        // α = 0.001: even 2 of 300 would be a lot.
        assert!(alarms <= 2, "{alarms} false split warnings in 300 steps");
        assert!(
            oks >= 290,
            "only {oks} of 300 correct splits were confirmed ok"
        );
    }

    #[test]
    fn a_fixed_z_test_on_the_same_streams_would_be_noisier() {
        // The sequence's radius is wider than a fixed 99.9 % z-interval at every n: the
        // guarantee is not free, and a radius equal to z would fail the test above.
        let tuning = t().with_alpha(SRM_ALPHA);
        for n in [100.0, 1000.0, 30_000.0, 1e6] {
            let r = two_sided_radius(0.1875, n, tuning.rho_two_sided(), SRM_ALPHA);
            assert!(r > 3.290_5 * (0.1875 / n).sqrt(), "n={n}");
        }
    }
}
