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
            // The also-flags are read with the flag, one request per backend at most.
            if !r.also.is_empty() && !r.also_in_flight {
                r.also_in_flight = true;
                cmds.push(Command::ReadAlso(i));
            }
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
            let steered_before = state.steered_by(i).map(|l| l.holder.clone());
            let r = &mut state.rollouts[i];
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
            lease_log(state, i, steered_before);
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
            // The values describe the time the poll was asked; an answer that took long is
            // that much older when it arrives.
            // (An answer nobody asked for here, as in tests feeding messages, is as old as
            // its arrival.)
            let sched = &r.metrics_feed.poll;
            let asked = if sched.in_flight && sched.asked_ms <= at {
                sched.asked_ms
            } else {
                at
            };
            let complete =
                poll.metrics.len() == r.metrics.len() && poll.metrics.iter().all(Result::is_ok);
            // Counts "since the step began" from a poll asked before the present step began
            // (the flag moved while it was under way) belong to the previous step: compared
            // with the new split they would fire the traffic-split rule for nothing.
            let old_step = r.step_since_ms.is_some_and(|since| asked < since);
            let recovered = r.metrics_feed.succeeded(at, refresh);
            let mut newly_failed = Vec::new();
            for (k, (m, res)) in r.metrics.iter_mut().zip(poll.metrics).enumerate() {
                match res {
                    Ok(mut v) => {
                        if old_step {
                            v.counts = None;
                            v.bounds = None;
                        }
                        m.history[0].push(at, v.legacy);
                        m.history[1].push(at, v.new);
                        m.last = v;
                        m.last_at_ms = Some(asked);
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
            observe_bake(state, i, asked, at, complete);
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

/// Counts a good poll towards the current step's bake (see [`crate::app::bake`]).
fn observe_bake(state: &mut State, i: usize, asked: i64, answered: i64, complete: bool) {
    let stale_after = state.stale_after_ms();
    let r = &mut state.rollouts[i];
    let Some(step_start) = r.step_since_ms else {
        return;
    };
    let windows = r.def.metrics.iter().filter_map(|m| m.window_ms);
    let o = crate::app::bake::Observation {
        asked_ms: asked,
        answered_ms: answered,
        complete,
        min_window_ms: windows.clone().min(),
        max_window_ms: windows.max(),
    };
    r.bake.observe(o, step_start, stale_after);
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
            // History the source kept is evidence too, as of its own times: a restarted
            // session (or `status`) does not bake a step again from zero.
            for &t in &times {
                let complete = series.iter().all(|p| p.iter().any(|(pt, _)| *pt == t));
                observe_bake(state, i, t, t, complete);
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

/// Says when a guard starts or stops steering rollout `i`: this session's automation stands
/// back while it does, never silently.
fn lease_log(state: &mut State, i: usize, before: Option<String>) {
    let now = state.steered_by(i).map(|l| (l.holder.clone(), l.since_ms));
    match (before, now) {
        (None, Some((holder, since))) => {
            let armed = state.rollouts[i].armed || state.rollouts[i].def.automation.auto_rollback;
            let text = format!(
                "GUARDED by {holder} since {}: it steers this rollout{}",
                crate::app::guard::hhmm(since),
                if armed {
                    "; this dashboard's automation stands back"
                } else {
                    ""
                }
            );
            state.log(i, LogLevel::Warn, text);
        }
        (Some(holder), None) => {
            state.log(
                i,
                LogLevel::Warn,
                format!("{holder} no longer steers this rollout (its lease ended)"),
            );
        }
        _ => {}
    }
}
