//! Unit tests of the tiered history.
use super::*;

#[test]
fn gaps_are_kept_as_gaps_not_zero() {
    let mut h = History::new();
    h.push(1_000, Some(1.0));
    h.push(2_000, None);
    h.push(3_000, Some(f64::NAN));
    h.push(4_000, Some(3.0));
    assert_eq!(h.series(10), vec![Some(1.0), None, None, Some(3.0)]);
}

#[test]
fn ring_is_bounded_and_keeps_the_newest() {
    let mut h = History::with_capacity(3, 4, 4);
    for i in 0..10 {
        h.push(i * 1000, Some(i as f64));
    }
    assert_eq!(h.len(), 3);
    assert_eq!(h.last().unwrap().value, Some(9.0));
    assert_eq!(
        h.raw().map(|s| s.value.unwrap()).collect::<Vec<_>>(),
        vec![7.0, 8.0, 9.0]
    );
}

#[test]
fn out_of_order_samples_are_ignored() {
    let mut h = History::new();
    h.push(5_000, Some(5.0));
    h.push(4_000, Some(4.0));
    h.push(5_000, Some(6.0));
    assert_eq!(h.len(), 1);
    assert_eq!(h.last().unwrap().value, Some(5.0));
}

#[test]
fn ten_second_tier_holds_means_and_gap_only_buckets_stay_gaps() {
    let mut h = History::with_capacity(5, 100, 100);
    // bucket 0: 0..10 s values 1,2,3 -> mean 2
    for (t, v) in [(0, 1.0), (3_000, 2.0), (6_000, 3.0)] {
        h.push(t, Some(v));
    }
    // bucket 1: only gaps
    h.push(10_000, None);
    h.push(15_000, None);
    // bucket 2: 7
    h.push(20_000, Some(7.0));
    h.push(30_000, Some(8.0)); // closes bucket 2
    let mid: Vec<_> = h.tiers[0].ring.iter().map(|s| (s.at_ms, s.value)).collect();
    assert_eq!(
        mid,
        vec![(0, Some(2.0)), (10_000, None), (20_000, Some(7.0))]
    );
}

#[test]
fn sparkline_uses_a_coarser_tier_once_raw_is_too_short() {
    let mut h = History::with_capacity(10, 100, 100);
    for i in 0..200 {
        h.push(i * 1000, Some(i as f64));
    }
    // raw holds 10 points, width 15: the 10 s tier (19 closed buckets) fills it.
    let s = h.series(15);
    assert_eq!(s.len(), 15);
    // newest closed 10 s bucket is 180..190 s, mean 184.5
    assert_eq!(*s.last().unwrap(), Some(184.5));
    // width 5: raw fills it, newest raw value
    assert_eq!(*h.series(5).last().unwrap(), Some(199.0));
}

#[test]
fn a_day_of_one_second_samples_stays_bounded() {
    let mut h = History::new();
    for i in 0..86_400 {
        h.push(i * 1000, Some(1.0));
    }
    assert_eq!(h.len(), RAW_CAP);
    assert!(h.heap_bytes() < 64 * 1024, "{}", h.heap_bytes());
    assert_eq!(
        h.series(1440).len(),
        1439,
        "24 h of minutes minus the open bucket"
    );
}

#[test]
fn samples_weeks_apart_keep_their_times_and_gaps() {
    let day = 86_400_000;
    let mut h = History::with_capacity(4, 4, 4);
    h.push(1_000, Some(1.0));
    h.push(1_000 + 40 * day, None);
    h.push(1_000 + 60 * day, Some(3.0));
    h.push(1_000 + 200 * day, Some(4.0));
    let got: Vec<(i64, Option<f32>)> = h.raw().map(|s| (s.at_ms, s.value)).collect();
    assert_eq!(got, [(1_000 + 200 * day, Some(4.0))]);
    let mut h = History::with_capacity(4, 4, 4);
    h.push(-5, Some(1.0));
    h.push(40 * day, None);
    h.push(60 * day, Some(3.0));
    let got: Vec<(i64, Option<f32>)> = h.raw().map(|s| (s.at_ms, s.value)).collect();
    assert_eq!(got, [(40 * day, None), (60 * day, Some(3.0))]);
}

#[test]
fn a_tier_shows_skipped_buckets_as_gaps() {
    let mut h = History::with_capacity(8, 4, 4);
    h.push(0, Some(1.0));
    h.push(35_000, Some(2.0)); // closes bucket 0; 10 s and 20 s had no sample
    h.push(40_000, Some(3.0)); // closes bucket 3
    let mid: Vec<(i64, Option<f32>)> = h.tiers[0].ring.iter().map(|s| (s.at_ms, s.value)).collect();
    assert_eq!(
        mid,
        [
            (0, Some(1.0)),
            (10_000, None),
            (20_000, None),
            (30_000, Some(2.0))
        ]
    );
    h.push(100_000, Some(4.0)); // closes bucket 4; the ring keeps the newest 4
    let mid: Vec<i64> = h.tiers[0].ring.iter().map(|s| s.at_ms).collect();
    assert_eq!(mid, [10_000, 20_000, 30_000, 40_000]);
    assert!(h.heap_bytes() > 0);
}
