//! Bounded, tiered history of one metric for one cohort.
//!
//! Three rings: raw samples as polled, 10-second means and 1-minute means. A failed or empty
//! poll is stored as a gap (`None`), never as zero, and a bucket with only gaps stays a gap.
//! Memory is fixed at construction: 24 hours of one series cost about 13 KiB (a raw sample is
//! a time offset from the ring's base and an `f32`, NaN for a gap; a tier's evenly spaced
//! bucket means are `f32`s only).

use std::collections::VecDeque;

/// One point of a series: a time (Unix milliseconds) and a value, or a gap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The value, or `None` for a gap (no data, failed poll).
    pub value: Option<f32>,
}

/// A raw sample as a ring stores it: milliseconds after the ring's base time and the value,
/// NaN for a gap (stored values are finite): 8 bytes instead of [`Sample`]'s 16.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Packed {
    dt_ms: u32,
    value: f32,
}

/// How a ring holds its samples: raw ones with their times; a tier's evenly spaced bucket
/// means as values only (4 bytes), a bucket without samples a gap. So a fleet of 200
/// rollouts × 5 metrics × 2 cohorts holds 24 h in about 26 MiB instead of 88.
#[derive(Debug, Clone)]
enum Store {
    Timed(VecDeque<Packed>),
    Stepped { step_ms: i64, values: VecDeque<f32> },
}

/// A fixed-capacity ring of samples, ascending in time.
#[derive(Debug, Clone)]
struct Ring {
    cap: usize,
    base_ms: i64,
    store: Store,
}

fn gap(v: f32) -> Option<f32> {
    (!v.is_nan()).then_some(v)
}

impl Ring {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            base_ms: 0,
            store: Store::Timed(VecDeque::with_capacity(cap)),
        }
    }

    /// A ring of buckets `step_ms` apart.
    fn stepped(cap: usize, step_ms: i64) -> Self {
        Self {
            cap,
            base_ms: 0,
            store: Store::Stepped {
                step_ms,
                values: VecDeque::with_capacity(cap),
            },
        }
    }

    fn len(&self) -> usize {
        match &self.store {
            Store::Timed(b) => b.len(),
            Store::Stepped { values, .. } => values.len(),
        }
    }

    fn capacity(&self) -> usize {
        match &self.store {
            Store::Timed(b) => b.capacity() * std::mem::size_of::<Packed>(),
            Store::Stepped { values, .. } => values.capacity() * std::mem::size_of::<f32>(),
        }
    }

    fn dt(&self, at_ms: i64) -> Option<u32> {
        u32::try_from(at_ms - self.base_ms).ok()
    }

    fn push(&mut self, s: Sample) {
        if let Store::Stepped { step_ms, .. } = self.store {
            return self.push_stepped(s, step_ms);
        }
        let cap = self.cap;
        if let Store::Timed(b) = &mut self.store {
            if b.len() == cap {
                b.pop_front();
            }
            if b.is_empty() {
                self.base_ms = s.at_ms;
            }
        }
        if self.dt(s.at_ms).is_none() {
            // 49 days past the base: rebase, keeping the samples less than 49 days older.
            let near = |x: &Sample| u32::try_from(s.at_ms - x.at_ms).is_ok();
            let kept: Vec<Sample> = self.iter().filter(near).collect();
            self.base_ms = kept.first().map_or(s.at_ms, |f| f.at_ms);
            if let Store::Timed(b) = &mut self.store {
                b.clear();
            }
            for x in kept {
                self.put(x);
            }
        }
        self.put(s);
    }

    fn put(&mut self, s: Sample) {
        if let Some(dt_ms) = self.dt(s.at_ms)
            && let Store::Timed(b) = &mut self.store
        {
            b.push_back(Packed {
                dt_ms,
                value: s.value.unwrap_or(f32::NAN),
            });
        }
    }

    /// A bucket at `s.at_ms` (a multiple of the step): buckets skipped since the last one are
    /// gaps; one older than the last is ignored.
    fn push_stepped(&mut self, s: Sample, step_ms: i64) {
        let cap = self.cap;
        let Store::Stepped { values, .. } = &mut self.store else {
            return;
        };
        let next = self.base_ms + i64::try_from(values.len()).unwrap_or(i64::MAX) * step_ms;
        let skipped = if values.is_empty() {
            0
        } else if s.at_ms < next {
            return;
        } else {
            (s.at_ms - next) / step_ms
        };
        if values.is_empty() || usize::try_from(skipped).map_or(true, |k| k >= cap) {
            values.clear();
            self.base_ms = s.at_ms;
        } else {
            for _ in 0..skipped {
                if values.len() == cap {
                    values.pop_front();
                    self.base_ms += step_ms;
                }
                values.push_back(f32::NAN);
            }
        }
        if values.len() == cap {
            values.pop_front();
            self.base_ms += step_ms;
        }
        values.push_back(s.value.unwrap_or(f32::NAN));
    }

    fn get(&self, i: usize) -> Option<Sample> {
        match &self.store {
            Store::Timed(b) => b.get(i).map(|p| Sample {
                at_ms: self.base_ms + i64::from(p.dt_ms),
                value: gap(p.value),
            }),
            Store::Stepped { step_ms, values } => values.get(i).map(|v| Sample {
                at_ms: self.base_ms + i64::try_from(i).unwrap_or(i64::MAX) * step_ms,
                value: gap(*v),
            }),
        }
    }

    fn front(&self) -> Option<Sample> {
        self.get(0)
    }

    fn back(&self) -> Option<Sample> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = Sample> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| {
            self.get(i).unwrap_or(Sample {
                at_ms: self.base_ms,
                value: None,
            })
        })
    }

    fn span_ms(&self) -> i64 {
        match (self.front(), self.back()) {
            (Some(a), Some(b)) => b.at_ms - a.at_ms,
            _ => 0,
        }
    }
}

/// A downsampling tier: fixed-width buckets whose mean is pushed when the bucket closes.
#[derive(Debug, Clone)]
struct Tier {
    bucket_ms: i64,
    ring: Ring,
    open: Option<(i64, f64, u32)>, // (bucket index, sum, count of non-gap samples)
}

impl Tier {
    fn new(bucket_ms: i64, cap: usize) -> Self {
        Self {
            bucket_ms,
            ring: Ring::stepped(cap, bucket_ms),
            open: None,
        }
    }

    fn add(&mut self, s: Sample) {
        let idx = s.at_ms.div_euclid(self.bucket_ms);
        if let Some((open_idx, _, _)) = self.open
            && open_idx != idx
        {
            self.close();
        }
        let entry = self.open.get_or_insert((idx, 0.0, 0));
        if let Some(v) = s.value {
            entry.1 += f64::from(v);
            entry.2 += 1;
        }
    }

    fn close(&mut self) {
        if let Some((idx, sum, n)) = self.open.take() {
            #[allow(clippy::cast_possible_truncation)]
            let value = (n > 0).then(|| (sum / f64::from(n)) as f32);
            self.ring.push(Sample {
                at_ms: idx * self.bucket_ms,
                value,
            });
        }
    }
}

/// Capacity of the raw tier (10 minutes at a 1 s poll).
pub const RAW_CAP: usize = 600;
/// Capacity of the 10 s tier (2 hours).
pub const MID_CAP: usize = 720;
/// Capacity of the 1 min tier (24 hours).
pub const LONG_CAP: usize = 1440;

/// Tiered history of one series.
#[derive(Debug, Clone)]
pub struct History {
    raw: Ring,
    tiers: [Tier; 2],
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// An empty history with the default capacities (raw 600, 10 s × 720, 1 min × 1440).
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(RAW_CAP, MID_CAP, LONG_CAP)
    }

    /// An empty history with explicit capacities (tests, benches).
    #[must_use]
    pub fn with_capacity(raw: usize, mid: usize, long: usize) -> Self {
        Self {
            raw: Ring::new(raw.max(1)),
            tiers: [
                Tier::new(10_000, mid.max(1)),
                Tier::new(60_000, long.max(1)),
            ],
        }
    }

    /// Appends a sample. Samples not newer than the last one are ignored, so a backfill that
    /// overlaps live data cannot reorder the series. Non-finite values are stored as gaps.
    pub fn push(&mut self, at_ms: i64, value: Option<f64>) {
        if self.raw.back().is_some_and(|l| at_ms <= l.at_ms) {
            return;
        }
        #[allow(clippy::cast_possible_truncation)]
        let value = value.filter(|v| v.is_finite()).map(|v| v as f32);
        let s = Sample { at_ms, value };
        self.raw.push(s);
        for t in &mut self.tiers {
            t.add(s);
        }
    }

    /// The newest sample, gap or not.
    #[must_use]
    pub fn last(&self) -> Option<Sample> {
        self.raw.back()
    }

    /// Raw samples, oldest first.
    #[must_use]
    pub fn raw(&self) -> impl DoubleEndedIterator<Item = Sample> + ExactSizeIterator + '_ {
        self.raw.iter()
    }

    /// Number of raw samples held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// True when nothing was pushed yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.raw.len() == 0
    }

    /// Up to `width` newest points for a sparkline, from the finest tier that fills the width;
    /// when none does, from the tier covering the longest time (raw on ties). Oldest first.
    #[must_use]
    pub fn series(&self, width: usize) -> Vec<Option<f64>> {
        self.series_span(width).0
    }

    /// [`History::series`] and the time it spans in ms (first to last point).
    #[must_use]
    pub fn series_span(&self, width: usize) -> (Vec<Option<f64>>, i64) {
        let rings = [&self.raw, &self.tiers[0].ring, &self.tiers[1].ring];
        let pick = rings
            .iter()
            .find(|r| r.len() >= width)
            .copied()
            .unwrap_or_else(|| {
                rings.iter().copied().fold(rings[0], |best, r| {
                    if r.span_ms() > best.span_ms() {
                        r
                    } else {
                        best
                    }
                })
            });
        let skip = pick.len().saturating_sub(width);
        let span = match (pick.get(skip), pick.back()) {
            (Some(a), Some(b)) => b.at_ms - a.at_ms,
            _ => 0,
        };
        let values = pick
            .iter()
            .skip(skip)
            .map(|s| s.value.map(f64::from))
            .collect();
        (values, span)
    }

    /// The samples at or after `from_ms`, oldest first, from the finest tier that reaches back
    /// that far (raw, then 10 s, then 1 min); when none does, from the one reaching furthest.
    /// A chart over 5 minutes gets raw polls, over 24 hours minute means.
    #[must_use]
    pub fn since(&self, from_ms: i64) -> Vec<Sample> {
        let rings = [&self.raw, &self.tiers[0].ring, &self.tiers[1].ring];
        let reaches = |r: &Ring| r.front().is_some_and(|s| s.at_ms <= from_ms);
        let pick = rings
            .iter()
            .copied()
            .find(|r| reaches(r))
            .unwrap_or_else(|| {
                rings.iter().copied().fold(rings[0], |best, r| {
                    let start = |x: &Ring| x.front().map_or(i64::MAX, |s| s.at_ms);
                    if start(r) < start(best) { r } else { best }
                })
            });
        pick.iter().filter(|s| s.at_ms >= from_ms).collect()
    }

    /// Heap bytes held by the sample rings (for the memory budget).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.raw.capacity() + self.tiers.iter().map(|t| t.ring.capacity()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
