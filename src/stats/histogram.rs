//! Latency from histogram buckets (Prometheus `_bucket{le=…}` counters), per cohort.
//!
//! A latency percentile from buckets is an interpolation, not a measurement: the true p95 lies
//! somewhere in the bucket that holds the 95th-percentile request, and nothing inside the bucket
//! says where. Two honest uses follow: show that bucket's bounds, and test *the share of
//! requests slower than a bucket boundary* as a proportion — that count is exact, so the
//! guardrail test ([`super::guardrail`]) applies to it unchanged.

use thiserror::Error;

/// Why bucket counts could not be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BucketError {
    /// The threshold is not one of the histogram's `le` boundaries.
    #[error("threshold {0} is not a bucket boundary (le) of the histogram")]
    NotABoundary(f64),
    /// Boundaries not strictly increasing, or a count smaller than the one before it.
    #[error("bucket counts are not cumulative in increasing `le`")]
    NotCumulative,
    /// A bucket counts more requests than the total.
    #[error("a bucket counts {bucket} requests, more than the total {total}")]
    AboveTotal {
        /// The bucket's count.
        bucket: u64,
        /// The total.
        total: u64,
    },
}

fn check(buckets: &[(f64, u64)], total: u64) -> Result<(), BucketError> {
    for w in buckets.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.0.partial_cmp(&b.0) != Some(std::cmp::Ordering::Less) || b.1 < a.1 {
            return Err(BucketError::NotCumulative);
        }
    }
    match buckets.iter().map(|b| b.1).max() {
        Some(bucket) if bucket > total => Err(BucketError::AboveTotal { bucket, total }),
        _ => Ok(()),
    }
}

/// `(slow, total)`: the requests slower than `threshold` (which must be one of the `le`
/// boundaries) out of all, from cumulative bucket counts `[(le, count)]` (as Prometheus
/// exposes them: `count` requests took ≤ `le`) and the total (`_count`, or the `+Inf` bucket).
/// Counts are those of one cohort over the step (`increase(...)`), rounded to whole requests.
///
/// # Errors
/// The threshold is not a boundary, or the buckets are not cumulative or exceed the total.
pub fn slow_share(
    buckets: &[(f64, u64)],
    total: u64,
    threshold: f64,
) -> Result<(u64, u64), BucketError> {
    check(buckets, total)?;
    let fast = buckets
        .iter()
        .find(|(le, _)| le_matches(*le, threshold))
        .map(|b| b.1)
        .ok_or(BucketError::NotABoundary(threshold))?;
    Ok((total - fast, total))
}

/// Boundaries compare equal within a relative 1e-9: `0.25` configured and `0.25` scraped are the
/// same boundary even after a trip through text and a unit conversion.
#[allow(clippy::float_cmp)] // exact first: it is the only test that matches two infinities
fn le_matches(le: f64, threshold: f64) -> bool {
    le == threshold
        || (le.is_finite()
            && threshold.is_finite()
            && (le - threshold).abs() <= 1e-9 * le.abs().max(threshold.abs()))
}

/// The bucket `(lower, upper]` that holds the `q`-quantile of the observations, from cumulative
/// counts `[(le, count)]` and the total: the request of rank `⌈q · total⌉` lies in the first
/// bucket whose count reaches that rank. `lower` of the first bucket is 0 when its `le` is
/// positive (latencies are not negative), else −∞; `upper` is `+∞` when the rank falls above
/// every finite boundary. `None` without observations, with `q` outside (0, 1], or with
/// inconsistent buckets.
#[must_use]
pub fn quantile_bucket(q: f64, buckets: &[(f64, u64)], total: u64) -> Option<(f64, f64)> {
    if total == 0 || !(q > 0.0 && q <= 1.0) || check(buckets, total).is_err() {
        return None;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut lower = None;
    for &(le, count) in buckets {
        if count >= rank {
            let lo = lower.unwrap_or(if le > 0.0 { 0.0 } else { f64::NEG_INFINITY });
            return Some((lo, le));
        }
        lower = Some(le);
    }
    Some((lower.unwrap_or(f64::NEG_INFINITY), f64::INFINITY))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 1000 requests: 600 ≤ 0.1 s, 900 ≤ 0.25 s, 960 ≤ 0.5 s, 990 ≤ 1 s, 10 above.
    const B: [(f64, u64); 4] = [(0.1, 600), (0.25, 900), (0.5, 960), (1.0, 990)];

    #[test]
    fn slow_share_counts_requests_above_a_boundary() {
        assert_eq!(slow_share(&B, 1000, 0.25), Ok((100, 1000)));
        assert_eq!(slow_share(&B, 1000, 1.0), Ok((10, 1000)));
        assert_eq!(
            slow_share(&B, 1000, 0.1 + 0.15),
            Ok((100, 1000)),
            "float noise"
        );
        // An +Inf bucket is a boundary too: nothing is slower than it.
        let with_inf = [(0.5, 5), (f64::INFINITY, 7)];
        assert_eq!(slow_share(&with_inf, 7, f64::INFINITY), Ok((0, 7)));
        // No requests: (0, 0), left to the test to call inconclusive.
        assert_eq!(slow_share(&[(0.5, 0)], 0, 0.5), Ok((0, 0)));
    }

    #[test]
    fn slow_share_refuses_what_it_cannot_count() {
        assert_eq!(
            slow_share(&B, 1000, 0.3),
            Err(BucketError::NotABoundary(0.3))
        );
        assert_eq!(
            slow_share(&[(0.1, 10), (0.25, 9)], 10, 0.1),
            Err(BucketError::NotCumulative)
        );
        assert_eq!(
            slow_share(&[(0.25, 1), (0.1, 2)], 10, 0.1),
            Err(BucketError::NotCumulative)
        );
        assert_eq!(
            slow_share(&B, 900, 0.25),
            Err(BucketError::AboveTotal {
                bucket: 990,
                total: 900
            })
        );
    }

    #[test]
    fn quantile_bucket_holds_the_true_quantile() {
        // Rank 950 of 1000: 900 < 950 ≤ 960 → (0.25, 0.5].
        assert_eq!(quantile_bucket(0.95, &B, 1000), Some((0.25, 0.5)));
        // Rank 900 is the last request of the (0.1, 0.25] bucket.
        assert_eq!(quantile_bucket(0.9, &B, 1000), Some((0.1, 0.25)));
        assert_eq!(quantile_bucket(0.9001, &B, 1000), Some((0.25, 0.5)));
        // The median is in the first bucket, whose lower bound is 0.
        assert_eq!(quantile_bucket(0.5, &B, 1000), Some((0.0, 0.1)));
        // The 99.5th percentile lies above every finite bound.
        assert_eq!(quantile_bucket(0.995, &B, 1000), Some((1.0, f64::INFINITY)));
        assert_eq!(quantile_bucket(0.95, &B, 0), None);
        assert_eq!(quantile_bucket(0.0, &B, 1000), None);
        assert_eq!(quantile_bucket(f64::NAN, &B, 1000), None);
    }

    #[test]
    fn quantile_bucket_agrees_with_sorted_samples() {
        // Observations 1..=200 ms with boundaries every 25 ms: the k-th smallest is k ms.
        let bounds = [25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0];
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole and positive
        let buckets: Vec<(f64, u64)> = bounds.iter().map(|&le| (le, le as u64)).collect();
        for q in [0.01, 0.1, 0.5, 0.95, 0.99, 1.0] {
            let true_q = (q * 200.0_f64).ceil();
            let (lo, hi) = quantile_bucket(q, &buckets, 200).unwrap();
            assert!(
                lo < true_q && true_q <= hi,
                "q={q}: {true_q} not in ({lo}, {hi}]"
            );
        }
    }
}
