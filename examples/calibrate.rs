//! Calibration of rollwatch's verdicts by simulation: `cargo run --release --example calibrate`.
//!
//! Simulates many rollout steps with rollwatch's own statistics (`rollwatch::stats`) and the
//! simulator's seeded generator, and prints
//! - the A/A false-alarm rate (the new path identical to legacy: 5 % canary, 50 req/s, 0.5 %
//!   errors, a verdict every 5 s) of the old fixed-horizon z-test re-checked at every poll over a
//!   5-minute window, for 1-hour and 6-hour bakes, and of the always-valid guardrail on counts
//!   since the step began;
//! - the traffic-split check's false alarms, and how fast it sees a new path served half its
//!   share;
//! - last, the median time to `worse` when the new path's error rate is twice legacy's, with the
//!   guardrail's A/A false-alarm rate over a 6-hour bake.
//!
//! Every rate comes with its 95 % Wilson interval and the number of runs behind it.
//! Arrivals are Poisson: per 5-second poll, each cohort's failed and successful requests are
//! independent Poisson draws (the exact thinning of a Poisson request stream), so small counts
//! are drawn exactly, not through a normal approximation.

use std::collections::VecDeque;
use std::time::Duration;

use rollwatch::model::Direction;
use rollwatch::sim::rng::Rng;
use rollwatch::stats::{
    Safety, SplitStatus, Tuning, Verdict, Z95, guardrail, split_check, verdict, wilson,
};

const RATE: f64 = 50.0;
const CANARY_PERCENT: u8 = 5;
const BASELINE: f64 = 0.005;
const POLL_S: usize = 5;
const HOUR_POLLS: usize = 3600 / POLL_S;
const BAKE_POLLS: usize = 6 * HOUR_POLLS;
/// The 5-minute window of the old verdict, in polls.
const WINDOW_POLLS: usize = 300 / POLL_S;
const AA_RUNS: u32 = 10_000;
const HARM_RUNS: u32 = 2000;
const SEED: u64 = 42;

/// Poisson draw by inversion (exact; means here are at most a few hundred).
fn poisson(rng: &mut Rng, mean: f64) -> u64 {
    let u = rng.uniform();
    let mut k = 0u64;
    let mut p = (-mean).exp();
    let mut cdf = p;
    while u > cdf && p > 0.0 {
        k += 1;
        #[allow(clippy::cast_precision_loss)]
        let kf = k as f64;
        p *= mean / kf;
        cdf += p;
    }
    k
}

/// One poll's new requests of one cohort: `(events, trials)`.
fn draw(rng: &mut Rng, share: f64, error_rate: f64) -> (u64, u64) {
    #[allow(clippy::cast_precision_loss)]
    let n = RATE * POLL_S as f64 * share;
    let bad = poisson(rng, n * error_rate);
    let good = poisson(rng, n * (1.0 - error_rate));
    (bad, bad + good)
}

fn add(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 + b.0, a.1 + b.1)
}

fn sub(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 - b.0, a.1 - b.1)
}

/// What one simulated 6-hour step showed.
#[derive(Default)]
struct Step {
    /// First poll (1-based) at which each test said worse.
    z_window: Option<usize>,
    z_cumulative: Option<usize>,
    cs_1h: Option<usize>,
    cs_6h: Option<usize>,
    split_mismatch: Option<usize>,
}

/// Simulates one step: legacy at `BASELINE`, the new path at `new_rate`, the new path served
/// `served_share` of the requests while the flag says `CANARY_PERCENT`. Stops early once `done`
/// says so.
fn step(rng: &mut Rng, new_rate: f64, served_share: f64, done: fn(&Step) -> bool) -> Step {
    let t1 = Tuning::for_bake(RATE, Duration::from_secs(3600));
    let t6 = Tuning::for_bake(RATE, Duration::from_secs(6 * 3600));
    let mut out = Step::default();
    let (mut legacy, mut new) = ((0, 0), (0, 0));
    let mut window: VecDeque<((u64, u64), (u64, u64))> = VecDeque::new();
    let (mut wl, mut wn) = ((0, 0), (0, 0));
    for poll in 1..=BAKE_POLLS {
        let l = draw(rng, 1.0 - served_share, BASELINE);
        let n = draw(rng, served_share, new_rate);
        legacy = add(legacy, l);
        new = add(new, n);
        (wl, wn) = (add(wl, l), add(wn, n));
        window.push_back((l, n));
        if window.len() > WINDOW_POLLS
            && let Some((ol, on)) = window.pop_front()
        {
            (wl, wn) = (sub(wl, ol), sub(wn, on));
        }
        if out.z_window.is_none() && verdict(wl, wn) == Verdict::Worse {
            out.z_window = Some(poll);
        }
        if out.z_cumulative.is_none() && verdict(legacy, new) == Verdict::Worse {
            out.z_cumulative = Some(poll);
        }
        let judge = |t: &Tuning| {
            guardrail(legacy, new, Direction::LowerIsBetter, 0.0, t).safety == Safety::Worse
        };
        if poll <= HOUR_POLLS && out.cs_1h.is_none() && judge(&t1) {
            out.cs_1h = Some(poll);
        }
        if out.cs_6h.is_none() && judge(&t6) {
            out.cs_6h = Some(poll);
        }
        if out.split_mismatch.is_none()
            && split_check(new.1, new.1 + legacy.1, CANARY_PERCENT, &t6).status
                == SplitStatus::Mismatch
        {
            out.split_mismatch = Some(poll);
        }
        if done(&out) {
            break;
        }
    }
    out
}

/// `k of n` as a percentage with its 95 % Wilson interval.
fn rate(k: u32, n: u32) -> String {
    let (lo, hi) = wilson(u64::from(k), u64::from(n), Z95).unwrap_or((0.0, 1.0));
    let p = f64::from(k) / f64::from(n).max(1.0);
    format!(
        "{:5.1} % (95 % CI {:.1}–{:.1} %, {k} of {n} runs)",
        p * 100.0,
        lo * 100.0,
        hi * 100.0
    )
}

fn count(steps: &[Step], within: usize, f: impl Fn(&Step) -> Option<usize>) -> u32 {
    let k = steps
        .iter()
        .filter(|s| f(s).is_some_and(|p| p <= within))
        .count();
    u32::try_from(k).unwrap_or(u32::MAX)
}

/// `(median, lower quartile, upper quartile)` of the polls at which a test first spoke, with
/// runs that never did counting as later than all; `None` when the median run never did.
fn quartiles(steps: &[Step], f: impl Fn(&Step) -> Option<usize>) -> [Option<usize>; 3] {
    let mut polls: Vec<usize> = steps.iter().map(|s| f(s).unwrap_or(usize::MAX)).collect();
    polls.sort_unstable();
    let at = |q: f64| {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let i = ((polls.len() - 1) as f64 * q).round() as usize;
        Some(polls[i]).filter(|&p| p != usize::MAX)
    };
    [at(0.5), at(0.25), at(0.75)]
}

fn minutes(poll: Option<usize>) -> String {
    poll.map_or_else(
        || "never".to_owned(),
        |p| {
            let s = p * POLL_S;
            format!("{} min {:02} s", s / 60, s % 60)
        },
    )
}

fn main() {
    let share = f64::from(CANARY_PERCENT) / 100.0;
    let t6 = Tuning::for_bake(RATE, Duration::from_secs(6 * 3600));
    println!(
        "rollwatch calibrate: {CANARY_PERCENT} % canary, {RATE} req/s, {:.1} % errors on legacy, \
         a verdict every {POLL_S} s, seed {SEED}",
        BASELINE * 100.0
    );
    println!(
        "guardrail: one-sided confidence sequences, alpha {}, N* = rate x bake (1 h: {:.0}, \
         6 h: {:.0}), counts since the step began",
        t6.alpha,
        Tuning::for_bake(RATE, Duration::from_secs(3600)).n_star,
        t6.n_star
    );

    let mut rng = Rng::new(SEED);
    let aa: Vec<Step> = (0..AA_RUNS)
        .map(|_| step(&mut rng, BASELINE, share, |_| false))
        .collect();
    println!("A/A (new path identical to legacy), share of steps with at least one `worse`:");
    println!(
        "  old z-test, 5-minute window, 1 h bake:       {}",
        rate(count(&aa, HOUR_POLLS, |s| s.z_window), AA_RUNS)
    );
    println!(
        "  old z-test, 5-minute window, 6 h bake:       {}",
        rate(count(&aa, BAKE_POLLS, |s| s.z_window), AA_RUNS)
    );
    println!(
        "  old z-test, counts since step start, 6 h:    {}",
        rate(count(&aa, BAKE_POLLS, |s| s.z_cumulative), AA_RUNS)
    );
    println!(
        "  guardrail (always valid), 1 h bake:          {}",
        rate(count(&aa, HOUR_POLLS, |s| s.cs_1h), AA_RUNS)
    );
    let aa_6h = count(&aa, BAKE_POLLS, |s| s.cs_6h);
    println!(
        "  guardrail (always valid), 6 h bake:          {}",
        rate(aa_6h, AA_RUNS)
    );
    println!(
        "  split check (flag {CANARY_PERCENT} %), false mismatch in 6 h:  {}",
        rate(count(&aa, BAKE_POLLS, |s| s.split_mismatch), AA_RUNS)
    );

    let srm: Vec<Step> = (0..HARM_RUNS)
        .map(|_| {
            step(&mut rng, BASELINE, share / 2.0, |s| {
                s.split_mismatch.is_some()
            })
        })
        .collect();
    let [med, q1, q3] = quartiles(&srm, |s| s.split_mismatch);
    println!(
        "split check, new path served half its share ({:.1} % of requests): mismatch within 6 h \
         in {}; median {} (quartiles {} to {})",
        share * 50.0,
        rate(count(&srm, BAKE_POLLS, |s| s.split_mismatch), HARM_RUNS),
        minutes(med),
        minutes(q1),
        minutes(q3)
    );

    let harm: Vec<Step> = (0..HARM_RUNS)
        .map(|_| step(&mut rng, 2.0 * BASELINE, share, |s| s.cs_6h.is_some()))
        .collect();
    let found = count(&harm, BAKE_POLLS, |s| s.cs_6h);
    let [med, q1, q3] = quartiles(&harm, |s| s.cs_6h);
    println!(
        "2x errors on the new path ({:.1} % vs {:.1} %): guardrail says worse within 6 h in {}; \
         quartiles {} to {}",
        BASELINE * 200.0,
        BASELINE * 100.0,
        rate(found, HARM_RUNS),
        minutes(q1),
        minutes(q3)
    );
    println!(
        "median time to `worse` at 2x errors ({CANARY_PERCENT} % canary, {RATE} req/s, {:.1} % \
         baseline): {} over {HARM_RUNS} runs; A/A false-alarm rate over a 6-hour bake: {}",
        BASELINE * 100.0,
        minutes(med),
        rate(aa_6h, AA_RUNS).trim_start()
    );
}
