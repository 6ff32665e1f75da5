//! The feeds: polling the flag and the metrics on schedule, their answers and failures (one
//! path for both: back-off with full jitter, one request in flight), the start-up backfill
//! and the flag's change history.

use super::rules::{evaluate, replay_alerts};
use super::{BACKOFF_BASE_MS, BACKOFF_CAP_MS};
use crate::app::msg::Command;
use crate::app::state::{Feed, LogLevel, RolloutState, State};
use crate::model::history::RAW_CAP;

pub(super) fn tick(state: &mut State, now: i64, cmds: &mut Vec<Command>) {
    if now.div_euclid(1000) != state.now_ms.div_euclid(1000) {
        state.dirty = true; // ages and countdowns changed
    }
    state.now_ms = now.max(state.now_ms);
    let refresh = state.refresh_ms;
    crate::app::discovery::tick(state, now, cmds);
    for i in 0..state.rollouts.len() {
        let r = &mut state.rollouts[i];
        if r.gone {
            continue;
        }
        if r.flag_feed.start_if_due(now) {
            cmds.push(Command::ReadFlag(i));
        }
        if r.metrics_feed.start_if_due(now) {
            if r.backfilled {
                cmds.push(Command::PollMetrics(
                    i,
                    crate::metrics::PollCtx {
                        step_start_ms: r.step_since_ms,
                    },
                ));
            } else {
                #[allow(clippy::cast_possible_wrap)]
                let span = refresh * RAW_CAP as i64;
                cmds.push(Command::Backfill {
                    rollout: i,
                    start_ms: now - span,
                    end_ms: now,
                    step_ms: refresh,
                });
            }
        }
        evaluate(state, i);
        crate::app::automation::automate(state, i, cmds);
    }
}

pub(super) fn on_flag_read(
    state: &mut State,
    i: usize,
    at: i64,
    result: Result<crate::model::FlagSnapshot, crate::flags::FlagError>,
    cmds: &mut Vec<Command>,
) {
    let refresh = state.refresh_ms;
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    state.dirty = true;
    match result {
        Ok(snap) => {
            let prev = r.flag.clone();
            r.see_flag(&snap, at);
            let recovered = r.flag_feed.succeeded(at, refresh);
            let writing = r.write_in_flight;
            match prev {
                None => read_events(state, i, cmds),
                Some(p)
                    if p.version != snap.version
                        || p.percent != snap.percent
                        || p.enabled != snap.enabled =>
                {
                    read_events(state, i, cmds);
                    if !writing {
                        state.log(
                            i,
                            LogLevel::Warn,
                            format!(
                                "flag changed outside this session: {} → {}",
                                describe_flag(&p),
                                describe_flag(&snap)
                            ),
                        );
                    }
                }
                Some(_) => {}
            }
            recovered_log(state, i, Which::Flag, recovered);
        }
        Err(e) => failed(state, i, Which::Flag, at, &e.to_string()),
    }
}

/// Asks for the flag's change history unless a read of it is already under way (at most one
/// request per backend in flight, R1).
pub(super) fn read_events(state: &mut State, i: usize, cmds: &mut Vec<Command>) {
    let r = &mut state.rollouts[i];
    if !r.events_in_flight {
        r.events_in_flight = true;
        cmds.push(Command::ReadFlagEvents(i));
    }
}

pub(super) fn describe_flag(f: &crate::model::FlagSnapshot) -> String {
    if f.enabled {
        format!("{}%", f.percent)
    } else {
        format!("{}% (off)", f.percent)
    }
}

pub(super) fn on_flag_events(
    state: &mut State,
    i: usize,
    result: Result<Vec<crate::flags::FlagEvent>, crate::flags::FlagError>,
) {
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.events_in_flight = false;
    if let Ok(mut events) = result {
        events.sort_by_key(|e| e.at_ms);
        if r.events_seen_ms.is_none() {
            r.events_seen_ms = events.last().map(|e| e.at_ms);
        }
        r.backend_events = events;
        state.dirty = true;
    }
}

pub(super) fn on_metrics(
    state: &mut State,
    i: usize,
    at: i64,
    result: Result<crate::metrics::Poll, crate::metrics::MetricsError>,
) {
    let refresh = state.refresh_ms;
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    state.dirty = true;
    match result {
        Ok(poll) => {
            let recovered = r.metrics_feed.succeeded(at, refresh);
            let mut newly_failed = Vec::new();
            for (k, (m, res)) in r.metrics.iter_mut().zip(poll.metrics).enumerate() {
                match res {
                    Ok(v) => {
                        m.history[0].push(at, v.legacy);
                        m.history[1].push(at, v.new);
                        m.last = v;
                        m.last_at_ms = Some(at);
                        m.error = None;
                    }
                    Err(e) => {
                        m.history[0].push(at, None);
                        m.history[1].push(at, None);
                        let msg = e.to_string();
                        if m.error.as_deref() != Some(msg.as_str()) {
                            newly_failed.push((k, msg.clone()));
                        }
                        m.error = Some(msg);
                    }
                }
            }
            for (k, msg) in newly_failed {
                let name = state.rollouts[i].def.metrics[k].label.clone();
                state.log(i, LogLevel::Error, format!("{name}: {msg}"));
            }
            for w in poll.warnings {
                state.log(i, LogLevel::Warn, format!("metrics warning: {w}"));
            }
            crate::app::verdicts::observe_traffic(&mut state.rollouts[i], at);
            recovered_log(state, i, Which::Metrics, recovered);
        }
        Err(e) => {
            for m in &mut r.metrics {
                m.history[0].push(at, None);
                m.history[1].push(at, None);
            }
            failed(state, i, Which::Metrics, at, &e.to_string());
        }
    }
    evaluate(state, i);
}

pub(super) fn on_backfill(
    state: &mut State,
    i: usize,
    result: Result<crate::metrics::Backfill, crate::metrics::MetricsError>,
) {
    let now = state.now_ms;
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.backfilled = true;
    r.metrics_feed.poll.in_flight = false;
    r.metrics_feed.poll.next_at_ms = now;
    state.dirty = true;
    match result {
        Ok(series) => {
            let mut times: Vec<i64> = series.iter().flatten().map(|(t, _)| *t).collect();
            times.sort_unstable();
            times.dedup();
            for (m, points) in r.metrics.iter_mut().zip(&series) {
                for (t, v) in points {
                    m.history[0].push(*t, v.legacy);
                    m.history[1].push(*t, v.new);
                }
                // The newest backfilled point is data like any poll's, with its own age.
                if let Some((t, v)) = points.last() {
                    m.last = *v;
                    m.last_at_ms = Some(*t);
                }
            }
            replay_alerts(state, i, &series, &times);
        }
        Err(e) => state.log(i, LogLevel::Warn, format!("history backfill failed: {e}")),
    }
}

/// Which of a rollout's two feeds.
#[derive(Clone, Copy)]
enum Which {
    Flag,
    Metrics,
}

impl Which {
    fn feed(self, r: &mut RolloutState) -> &mut Feed {
        match self {
            Which::Flag => &mut r.flag_feed,
            Which::Metrics => &mut r.metrics_feed,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Which::Flag => "flag backend",
            Which::Metrics => "metrics source",
        }
    }
}

/// A failed request of either feed: back off with full jitter (R1), log a new reason once.
fn failed(state: &mut State, i: usize, which: Which, at: i64, reason: &str) {
    let failures = which.feed(&mut state.rollouts[i]).poll.failures + 1;
    let delay = backoff_ms(state, failures);
    if which
        .feed(&mut state.rollouts[i])
        .failed(at, reason.to_owned(), delay)
    {
        let what = match which {
            Which::Flag => "flag read failed",
            Which::Metrics => "metrics poll failed",
        };
        state.log(i, LogLevel::Error, format!("{what}: {reason}"));
    }
}

fn recovered_log(state: &mut State, i: usize, which: Which, recovered: Option<String>) {
    if let Some(e) = recovered {
        let text = format!("{} recovered (was: {e})", which.name());
        state.log(i, LogLevel::Info, text);
    }
}

/// Full-jitter back-off after `failures` consecutive failures.
fn backoff_ms(state: &mut State, failures: u32) -> i64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1 << failures.min(5));
    let cap = exp.min(BACKOFF_CAP_MS);
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let jitter = (state.rng.uniform() * cap as f64) as i64;
    jitter.max(200)
}
