//! rollwatch's always-valid guardrail test against GrowthBook's own engine: every row of
//! `tests/data/gbstats-reference.csv` (written by `scripts/gbstats-reference` with gbstats'
//! sequential one-sided and two-sided tests on the absolute difference of proportions) must
//! agree to 1e-6, and so must the verdict derived from gbstats' interval.

use rollwatch::model::Direction;
use rollwatch::stats::guardrail::{interval, two_sided_interval};
use rollwatch::stats::{Safety, Tuning, guardrail};

const TABLE: &str = include_str!("../data/gbstats-reference.csv");

/// Agreement to 1e-6 in absolute terms and relative to the interval's radius, so that the small
/// intervals of rare events are held to the same standard as the large ones.
fn agree(ours: f64, theirs: f64, centre: f64) -> bool {
    let radius = (theirs - centre).abs();
    (ours - theirs).abs() <= 1e-6 * radius.max(1e-3) && (ours - theirs).abs() <= 1e-6
}

fn opt(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().expect("a number"))
}

#[test]
fn every_row_matches_gbstats() {
    let mut rows = 0;
    for line in TABLE.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 14, "{line}");
        let num = |i: usize| -> u64 { f[i].parse().expect("a count") };
        let (legacy, new) = ((num(1), num(2)), (num(3), num(4)));
        let direction = match f[5] {
            "lower" => Direction::LowerIsBetter,
            "higher" => Direction::HigherIsBetter,
            o => panic!("better = {o}"),
        };
        let tolerance: f64 = f[6].parse().expect("tolerance");
        let tuning = Tuning {
            alpha: f[7].parse().expect("alpha"),
            n_star: f[8].parse().expect("n_star"),
        };
        let case = f[0];
        #[allow(clippy::cast_precision_loss)]
        let d = new.0 as f64 / new.1 as f64 - legacy.0 as f64 / legacy.1 as f64;

        let want = opt(f[9]).zip(opt(f[10]));
        let got = interval(legacy, new, &tuning);
        match (got, want) {
            (Some((lo, hi)), Some((wlo, whi))) => {
                assert!(agree(lo, wlo, d), "{case}: lower {lo} vs gbstats {wlo}");
                assert!(agree(hi, whi, d), "{case}: upper {hi} vs gbstats {whi}");
            }
            (None, None) => {}
            _ => panic!("{case}: ours {got:?}, gbstats {want:?}"),
        }

        let want2 = opt(f[11]).zip(opt(f[12]));
        let got2 = two_sided_interval(legacy, new, &tuning);
        match (got2, want2) {
            (Some((lo, hi)), Some((wlo, whi))) => {
                assert!(agree(lo, wlo, d), "{case}: two-sided lower {lo} vs {wlo}");
                assert!(agree(hi, whi, d), "{case}: two-sided upper {hi} vs {whi}");
            }
            (None, None) => {}
            _ => panic!("{case}: two-sided ours {got2:?}, gbstats {want2:?}"),
        }

        let g = guardrail(legacy, new, direction, tolerance, &tuning);
        let verdict = match g.safety {
            Safety::Worse => "worse",
            Safety::NotWorse => "not_worse",
            Safety::Inconclusive { n } => {
                assert_eq!(n, new.1, "{case}");
                "inconclusive"
            }
        };
        assert_eq!(verdict, f[13], "{case}: {g:?}");
        rows += 1;
    }
    assert!(rows >= 30, "the table has {rows} rows");
}

#[test]
fn the_table_exercises_every_verdict_and_direction() {
    // A table of only inconclusive rows would let a broken verdict through.
    let body: Vec<&str> = TABLE.lines().filter(|l| !l.starts_with('#')).collect();
    for needle in [
        ",worse",
        ",not_worse",
        ",inconclusive",
        ",higher,",
        ",lower,",
    ] {
        assert!(
            body.iter().any(|l| l.contains(needle)),
            "no row with {needle}"
        );
    }
}
