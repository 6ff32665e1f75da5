//! The deterministic rollout simulator: a legacy and a new service whose traffic split follows
//! the flag. Each simulated second draws requests, errors, a latency histogram (from a
//! log-normal distribution), memory, database queries and LLM tokens per cohort. Readings are
//! computed from a one-minute window the way PromQL's `rate(...[1m])` and `histogram_quantile`
//! would, so the p95 is measured from the histogram, not invented.

pub mod demo;
pub mod exposition;
pub mod fleet;
pub use crate::rng;
pub mod scenario;
pub mod server;

use std::collections::VecDeque;

use rng::{Rng, normal_cdf};
pub use scenario::{PathProfile, Profile, Scenario};

use crate::model::Cohort;

/// Upper bounds of the latency histogram buckets, in milliseconds (the last is +Inf).
pub const BUCKETS_MS: [f64; 18] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0,
    1500.0, 2000.0, 3000.0, 5000.0,
];
/// Number of histogram buckets including +Inf.
pub const NB: usize = BUCKETS_MS.len() + 1;
/// Window of the readings, in seconds.
pub const WINDOW_S: usize = 60;

/// One simulated second of one cohort.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Second {
    /// Requests served.
    pub requests: u64,
    /// Requests that failed (5xx).
    pub errors: u64,
    /// Latency histogram counts per bucket (not cumulative).
    pub buckets: [u64; NB],
    /// Database queries issued.
    pub queries: f64,
    /// LLM tokens used.
    pub tokens: f64,
}

impl Second {
    fn add(&mut self, o: &Second) {
        self.requests += o.requests;
        self.errors += o.errors;
        for (a, b) in self.buckets.iter_mut().zip(o.buckets) {
            *a += b;
        }
        self.queries += o.queries;
        self.tokens += o.tokens;
    }
}

/// What the simulator reads for one cohort over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// Requests in the window.
    pub requests: u64,
    /// Errors in the window.
    pub errors: u64,
    /// Error rate in percent; `None` without traffic.
    pub error_rate: Option<f64>,
    /// p95 latency in ms from the window's histogram; `None` without traffic.
    pub p95_ms: Option<f64>,
    /// Resident memory in bytes.
    pub memory_bytes: Option<f64>,
    /// Database queries per request; `None` without traffic.
    pub queries_per_request: Option<f64>,
    /// LLM tokens per request; `None` without traffic.
    pub tokens_per_request: Option<f64>,
}

/// Cumulative counters since start, for Prometheus exposition.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Everything since start, summed per second.
    pub sum: Second,
    /// Current resident memory in bytes.
    pub memory_bytes: f64,
}

/// The simulator.
#[derive(Debug, Clone)]
pub struct Simulator {
    rng: Rng,
    scenario: Scenario,
    profile: Profile,
    /// Simulated time of the next second to draw, Unix ms.
    t_ms: i64,
    /// Live-phase start; regression and leak only act after it (the warm-up history is calm).
    live_from_ms: i64,
    /// When the new path first served ≥ the regression threshold after going live.
    regression_onset_ms: Option<i64>,
    leak_bytes: f64,
    window: [VecDeque<Second>; 2],
    totals: [Totals; 2],
}

fn idx(c: Cohort) -> usize {
    match c {
        Cohort::Legacy => 0,
        Cohort::New => 1,
    }
}

impl Simulator {
    /// A simulator starting at `start_ms`, whose scenario effects begin at `live_from_ms`.
    #[must_use]
    pub fn new(
        seed: u64,
        scenario: Scenario,
        profile: Profile,
        start_ms: i64,
        live_from_ms: i64,
    ) -> Self {
        let mut s = Self {
            rng: Rng::new(seed),
            scenario,
            profile: scenario.shape(profile),
            t_ms: start_ms - start_ms.rem_euclid(1000),
            live_from_ms,
            regression_onset_ms: None,
            leak_bytes: 0.0,
            window: [
                VecDeque::with_capacity(WINDOW_S),
                VecDeque::with_capacity(WINDOW_S),
            ],
            totals: [Totals::default(); 2],
        };
        for c in Cohort::BOTH {
            s.totals[idx(c)].memory_bytes = s.profile.path(c).memory_mb * 1024.0 * 1024.0;
        }
        s
    }

    /// The scenario.
    #[must_use]
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// Simulated time reached, Unix ms.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.t_ms
    }

    /// Draws every whole second up to `to_ms` with `percent` of traffic on the new path.
    /// Far jumps draw at most one hour; older seconds would fall out of the window anyway.
    pub fn advance(&mut self, to_ms: i64, percent: u8) {
        if to_ms - self.t_ms > 3_600_000 {
            self.t_ms = to_ms - 3_600_000;
        }
        while self.t_ms + 1000 <= to_ms {
            self.draw_second(percent);
            self.t_ms += 1000;
        }
    }

    fn error_rate(&self, c: Cohort, percent: u8) -> f64 {
        let base = self.profile.path(c).error_rate;
        match (self.scenario, c, self.regression_onset_ms) {
            (Scenario::Regression, Cohort::New, Some(onset))
                if percent >= self.profile.regression_at_percent =>
            {
                #[allow(clippy::cast_precision_loss)]
                let mins = (self.t_ms - onset).max(0) as f64 / 60_000.0;
                base + (mins * 4.0).min(3.0) / 100.0
            }
            _ => base,
        }
    }

    fn latency_factor(&self, c: Cohort, percent: u8) -> f64 {
        match (self.scenario, c, self.regression_onset_ms) {
            (Scenario::Regression, Cohort::New, Some(_))
                if percent >= self.profile.regression_at_percent =>
            {
                2.0
            }
            _ => 1.0,
        }
    }

    fn draw_second(&mut self, percent: u8) {
        let live = self.t_ms >= self.live_from_ms;
        if live
            && self.regression_onset_ms.is_none()
            && percent >= self.profile.regression_at_percent
        {
            self.regression_onset_ms = Some(self.t_ms + self.profile.regression_delay_ms);
        }
        if self.scenario == Scenario::Leak && live {
            // Leaks with the traffic the new path serves: ~0.6 MiB/s at 25 %.
            self.leak_bytes += f64::from(percent) / 25.0 * 0.6 * 1024.0 * 1024.0;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let total = (self.profile.rps + self.profile.rps.sqrt() * self.rng.normal())
            .round()
            .max(0.0) as u64;
        let new_n = self.rng.binomial(total, self.scenario.new_share(percent));
        for c in Cohort::BOTH {
            let n = if c == Cohort::New {
                new_n
            } else {
                total - new_n
            };
            let sec = self.draw_cohort(c, n, percent);
            let i = idx(c);
            self.totals[i].sum.add(&sec);
            let mem = self.profile.path(c).memory_mb * 1024.0 * 1024.0
                + self.rng.normal() * 2.0 * 1024.0 * 1024.0
                + if c == Cohort::New {
                    self.leak_bytes
                } else {
                    0.0
                };
            self.totals[i].memory_bytes = mem.max(0.0);
            let w = &mut self.window[i];
            if w.len() == WINDOW_S {
                w.pop_front();
            }
            w.push_back(sec);
        }
    }

    fn draw_cohort(&mut self, c: Cohort, n: u64, percent: u8) -> Second {
        let p = self.profile.path(c);
        let mut sec = Second {
            requests: n,
            errors: self.rng.binomial(n, self.error_rate(c, percent)),
            ..Second::default()
        };
        // Latency: multinomial over log-normal bucket probabilities.
        let mu = (p.latency_median_ms * self.latency_factor(c, percent)).ln();
        let mut prev_cdf = 0.0;
        let mut left = n;
        let mut left_p = 1.0;
        for (b, slot) in sec.buckets.iter_mut().enumerate() {
            let cdf = BUCKETS_MS
                .get(b)
                .map_or(1.0, |&ub| normal_cdf((ub.ln() - mu) / p.latency_sigma));
            let pb = (cdf - prev_cdf).max(0.0);
            prev_cdf = cdf;
            let k = if b == NB - 1 || left_p <= 0.0 {
                left
            } else {
                self.rng.binomial(left, (pb / left_p).min(1.0))
            };
            *slot = k;
            left -= k;
            left_p -= pb;
        }
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        sec.queries = (p.queries_per_request * nf
            + self.rng.normal() * p.queries_per_request * 0.05 * nf.sqrt())
        .max(0.0);
        sec.tokens = (p.tokens_per_request * nf
            + self.rng.normal() * p.tokens_per_request * 0.05 * nf.sqrt())
        .max(0.0);
        sec
    }

    /// The window reading of a cohort.
    #[must_use]
    pub fn reading(&self, c: Cohort) -> Reading {
        let mut sum = Second::default();
        for s in &self.window[idx(c)] {
            sum.add(s);
        }
        let has = sum.requests > 0;
        #[allow(clippy::cast_precision_loss)]
        let n = sum.requests as f64;
        #[allow(clippy::cast_precision_loss)]
        Reading {
            requests: sum.requests,
            errors: sum.errors,
            error_rate: has.then(|| sum.errors as f64 / n * 100.0),
            p95_ms: has
                .then(|| quantile_from_buckets(0.95, &sum.buckets))
                .flatten(),
            memory_bytes: Some(self.totals[idx(c)].memory_bytes),
            queries_per_request: has.then(|| sum.queries / n),
            tokens_per_request: has.then(|| sum.tokens / n),
        }
    }

    /// Cumulative totals of a cohort since start (for `/metrics`).
    #[must_use]
    pub fn totals(&self, c: Cohort) -> Totals {
        self.totals[idx(c)]
    }
}

/// A quantile from bucket counts by linear interpolation inside the bucket, as PromQL's
/// `histogram_quantile` does. `None` when there are no observations.
#[must_use]
pub fn quantile_from_buckets(q: f64, buckets: &[u64; NB]) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let rank = q * total as f64;
    let mut cum = 0u64;
    for (i, &count) in buckets.iter().enumerate() {
        let before = cum;
        cum += count;
        #[allow(clippy::cast_precision_loss)]
        if cum as f64 >= rank && count > 0 {
            let lower = if i == 0 { 0.0 } else { BUCKETS_MS[i - 1] };
            let Some(&upper) = BUCKETS_MS.get(i) else {
                // +Inf bucket: the highest finite bound, as Prometheus does.
                return Some(BUCKETS_MS[NB - 2]);
            };
            let frac = (rank - before as f64) / count as f64;
            return Some(lower + (upper - lower) * frac);
        }
    }
    Some(BUCKETS_MS[NB - 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(scenario: Scenario, seed: u64) -> Simulator {
        Simulator::new(seed, scenario, Profile::checkout(), 0, 0)
    }

    #[test]
    fn same_seed_same_readings() {
        let mut a = sim(Scenario::Healthy, 3);
        let mut b = sim(Scenario::Healthy, 3);
        a.advance(120_000, 25);
        b.advance(120_000, 25);
        assert_eq!(a.reading(Cohort::New), b.reading(Cohort::New));
        let mut c = sim(Scenario::Healthy, 4);
        c.advance(120_000, 25);
        assert_ne!(a.reading(Cohort::New), c.reading(Cohort::New));
    }

    #[test]
    fn traffic_follows_the_flag_and_zero_percent_is_no_data() {
        let mut s = sim(Scenario::Healthy, 1);
        s.advance(60_000, 25);
        let (l, n) = (s.reading(Cohort::Legacy), s.reading(Cohort::New));
        let share = n.requests as f64 / (l.requests + n.requests) as f64;
        assert!((share - 0.25).abs() < 0.03, "{share}");
        let mut s = sim(Scenario::Healthy, 1);
        s.advance(60_000, 0);
        let n = s.reading(Cohort::New);
        assert_eq!(n.requests, 0);
        assert_eq!(n.error_rate, None, "no traffic is no data, not 0 %");
        assert_eq!(n.p95_ms, None);
    }

    #[test]
    fn healthy_new_path_is_faster_and_saves_queries_and_tokens() {
        let mut s = sim(Scenario::Healthy, 9);
        s.advance(120_000, 50);
        let (l, n) = (s.reading(Cohort::Legacy), s.reading(Cohort::New));
        assert!(n.p95_ms.unwrap() < l.p95_ms.unwrap());
        let q = 1.0 - n.queries_per_request.unwrap() / l.queries_per_request.unwrap();
        assert!((0.93..0.99).contains(&q), "query saving {q}");
        let t = 1.0 - n.tokens_per_request.unwrap() / l.tokens_per_request.unwrap();
        assert!((0.25..0.35).contains(&t), "token saving {t}");
    }

    #[test]
    fn regression_climbs_only_at_or_above_the_threshold() {
        let mut s = sim(Scenario::Regression, 5);
        s.advance(180_000, 5);
        assert!(s.reading(Cohort::New).error_rate.unwrap() < 0.5);
        let mut s = sim(Scenario::Regression, 5);
        s.advance(180_000, 25);
        assert!(s.reading(Cohort::New).error_rate.unwrap() > 1.0);
        assert!(s.reading(Cohort::Legacy).error_rate.unwrap() < 0.5);
    }

    #[test]
    fn leak_grows_new_memory() {
        let mut s = sim(Scenario::Leak, 5);
        s.advance(10_000, 25);
        let early = s.reading(Cohort::New).memory_bytes.unwrap();
        s.advance(600_000, 25);
        let late = s.reading(Cohort::New).memory_bytes.unwrap();
        assert!(late - early > 200.0 * 1024.0 * 1024.0, "{early} -> {late}");
    }

    #[test]
    fn quantile_interpolates_like_histogram_quantile() {
        let mut b = [0u64; NB];
        b[5] = 100; // all in (75, 100]
        assert_eq!(quantile_from_buckets(0.5, &b), Some(87.5));
        assert_eq!(quantile_from_buckets(0.95, &[0; NB]), None);
        let mut inf = [0u64; NB];
        inf[NB - 1] = 10;
        assert_eq!(quantile_from_buckets(0.95, &inf), Some(5000.0));
    }
}
