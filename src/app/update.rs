//! The pure update: `(state, msg) -> commands`. No I/O, no clock reads: time arrives in
//! messages. Every write starts as a pending intent in a confirm dialog; only `y`/`Enter`
//! on that dialog produces a `Command::Write`.

use super::keymap::{Action, action};
use super::msg::{Command, Msg};
use super::state::{LogLevel, Mode, PendingWrite, State};
use crate::alerts::{AlertStatus, Observation, Severity, observe, step};
use crate::flags::write::{WriteKind, WriteOutcome, WriteRequest};
use crate::metrics::CohortValues;
use crate::model::history::RAW_CAP;

/// Back-off cap after failures (R1).
pub const BACKOFF_CAP_MS: i64 = 30_000;
/// Back-off base (R1).
pub const BACKOFF_BASE_MS: i64 = 1_000;

/// Applies one message; returns the effects to run.
pub fn update(state: &mut State, msg: Msg) -> Vec<Command> {
    let mut cmds = Vec::new();
    match msg {
        Msg::Tick(now) => tick(state, now, &mut cmds),
        Msg::Resize => state.dirty = true,
        Msg::Key(k) => {
            if let Some(a) = action(&k) {
                on_action(state, a, &mut cmds);
            }
        }
        Msg::FlagRead {
            rollout,
            at_ms,
            result,
        } => on_flag_read(state, rollout, at_ms, result, &mut cmds),
        Msg::FlagEvents {
            rollout, result, ..
        } => on_flag_events(state, rollout, result),
        Msg::MetricsPolled {
            rollout,
            at_ms,
            result,
        } => on_metrics(state, rollout, at_ms, result),
        Msg::Backfilled { rollout, result } => on_backfill(state, rollout, result),
        Msg::WriteDone {
            rollout,
            at_ms,
            result,
        } => on_write_done(state, rollout, at_ms, *result, &mut cmds),
        Msg::Reconciled { rollout, notes } => {
            for n in notes {
                state.log(rollout, LogLevel::Warn, n);
            }
        }
        Msg::Shutdown(reason) => {
            state.say(LogLevel::Warn, format!("shutting down: {reason}"));
            state.quit = true;
            cmds.push(Command::Quit);
        }
    }
    cmds
}

fn backoff_ms(state: &mut State, failures: u32) -> i64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1 << failures.min(5));
    let cap = exp.min(BACKOFF_CAP_MS);
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let jitter = (state.rng.uniform() * cap as f64) as i64;
    jitter.max(200)
}

fn tick(state: &mut State, now: i64, cmds: &mut Vec<Command>) {
    if now.div_euclid(1000) != state.now_ms.div_euclid(1000) {
        state.dirty = true; // ages and countdowns changed
    }
    state.now_ms = now.max(state.now_ms);
    let refresh = state.refresh_ms;
    for i in 0..state.rollouts.len() {
        let r = &mut state.rollouts[i];
        if !r.flag_poll.in_flight && now >= r.flag_poll.next_at_ms {
            r.flag_poll.in_flight = true;
            cmds.push(Command::ReadFlag(i));
        }
        if !r.metrics_poll.in_flight && now >= r.metrics_poll.next_at_ms {
            r.metrics_poll.in_flight = true;
            if r.backfilled {
                cmds.push(Command::PollMetrics(i));
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
        super::automation::automate(state, i, cmds);
    }
}

fn on_flag_read(
    state: &mut State,
    i: usize,
    at: i64,
    result: Result<crate::model::FlagSnapshot, crate::flags::FlagError>,
    cmds: &mut Vec<Command>,
) {
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.flag_poll.in_flight = false;
    state.dirty = true;
    match result {
        Ok(snap) => {
            let prev = r.flag.replace(snap.clone());
            r.flag_at_ms = Some(at);
            r.flag_poll.failures = 0;
            r.flag_poll.next_at_ms = at + state.refresh_ms;
            let recovered = r.flag_error.take();
            let writing = r.write_in_flight;
            match prev {
                None => {
                    r.step_since_ms = Some(at);
                    read_events(state, i, cmds);
                }
                Some(p)
                    if p.version != snap.version
                        || p.percent != snap.percent
                        || p.enabled != snap.enabled =>
                {
                    if p.effective_percent() != snap.effective_percent() {
                        r.step_since_ms = Some(at);
                    }
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
            if let Some(e) = recovered {
                state.log(
                    i,
                    LogLevel::Info,
                    format!("flag backend recovered (was: {e})"),
                );
            }
        }
        Err(e) => {
            r.flag_poll.failures += 1;
            let msg = e.to_string();
            let changed = r.flag_error.as_deref() != Some(msg.as_str());
            r.flag_error = Some(msg.clone());
            let f = r.flag_poll.failures;
            let delay = backoff_ms(state, f);
            state.rollouts[i].flag_poll.next_at_ms = at + delay;
            if changed {
                state.log(i, LogLevel::Error, format!("flag read failed: {msg}"));
            }
        }
    }
}

/// Asks for the flag's change history unless a read of it is already under way (at most one
/// request per backend in flight, R1).
fn read_events(state: &mut State, i: usize, cmds: &mut Vec<Command>) {
    let r = &mut state.rollouts[i];
    if !r.events_in_flight {
        r.events_in_flight = true;
        cmds.push(Command::ReadFlagEvents(i));
    }
}

fn describe_flag(f: &crate::model::FlagSnapshot) -> String {
    if f.enabled {
        format!("{}%", f.percent)
    } else {
        format!("{}% (off)", f.percent)
    }
}

fn on_flag_events(
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

fn on_metrics(
    state: &mut State,
    i: usize,
    at: i64,
    result: Result<crate::metrics::Poll, crate::metrics::MetricsError>,
) {
    let refresh = state.refresh_ms;
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.metrics_poll.in_flight = false;
    state.dirty = true;
    match result {
        Ok(poll) => {
            r.metrics_poll.failures = 0;
            r.metrics_poll.next_at_ms = at + refresh;
            let recovered = r.metrics_error.take();
            r.metrics_at_ms = Some(at);
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
            if let Some(e) = recovered {
                state.log(
                    i,
                    LogLevel::Info,
                    format!("metrics source recovered (was: {e})"),
                );
            }
        }
        Err(e) => {
            r.metrics_poll.failures += 1;
            for m in &mut r.metrics {
                m.history[0].push(at, None);
                m.history[1].push(at, None);
            }
            let msg = e.to_string();
            let changed = r.metrics_error.as_deref() != Some(msg.as_str());
            r.metrics_error = Some(msg.clone());
            let f = r.metrics_poll.failures;
            let delay = backoff_ms(state, f);
            state.rollouts[i].metrics_poll.next_at_ms = at + delay;
            if changed {
                state.log(i, LogLevel::Error, format!("metrics poll failed: {msg}"));
            }
        }
    }
    evaluate(state, i);
}

fn on_backfill(
    state: &mut State,
    i: usize,
    result: Result<crate::metrics::Backfill, crate::metrics::MetricsError>,
) {
    let now = state.now_ms;
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.backfilled = true;
    r.metrics_poll.in_flight = false;
    r.metrics_poll.next_at_ms = now;
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

/// Replays every rule over the backfilled history, so a restart does not reset `for` clocks:
/// a rule that has been breaching for ten minutes shows as firing for ten minutes at once.
/// Only the resulting non-OK states are logged, not every historic transition.
fn replay_alerts(state: &mut State, i: usize, series: &crate::metrics::Backfill, times: &[i64]) {
    let r = &mut state.rollouts[i];
    let value_at = |k: usize, t: i64| {
        series.get(k).and_then(|s| {
            s.binary_search_by_key(&t, |(at, _)| *at)
                .ok()
                .map(|p| s[p].1)
        })
    };
    for (j, rule) in r.def.rules.iter().enumerate() {
        let Some(k) = r.def.metric_index(&rule.metric) else {
            continue;
        };
        let mut st = r.alerts[j].clone();
        for &t in times {
            let obs =
                value_at(k, t).map_or(Observation::NoData, |v| observe(rule, v.legacy, v.new));
            st = step(&st, rule, &obs, t);
        }
        r.alerts[j] = st;
    }
    let notes: Vec<String> = r
        .def
        .rules
        .iter()
        .zip(&r.alerts)
        .filter(|(_, a)| a.status.is_active())
        .map(|(rule, a)| format!("rule {}: {} (from history)", rule.name, a.status.label()))
        .collect();
    for n in notes {
        state.log(i, LogLevel::Warn, n);
    }
}

/// The observation for rule `j` of rollout `i` at the state's time.
fn observation(state: &State, i: usize, j: usize) -> Observation {
    let r = &state.rollouts[i];
    let rule = &r.def.rules[j];
    let Some(k) = r.def.metric_index(&rule.metric) else {
        return Observation::Unknown(format!("no metric `{}`", rule.metric));
    };
    let m = &r.metrics[k];
    if let Some(e) = &r.metrics_error {
        return Observation::Unknown(format!("metrics source failing: {e}"));
    }
    if let Some(e) = &m.error {
        return Observation::Unknown(e.clone());
    }
    match m.last_at_ms {
        None => Observation::Unknown("no data yet".into()),
        Some(t) if state.now_ms - t > state.stale_after_ms() => Observation::Unknown(format!(
            "stale: last data {}s old",
            (state.now_ms - t) / 1000
        )),
        Some(_) => {
            let CohortValues {
                legacy,
                new,
                counts,
            } = m.last;
            let obs = observe(rule, legacy, new);
            if !rule.significant {
                return obs;
            }
            // The threshold alone is not enough: new must also be significantly worse.
            match (obs, counts) {
                (Observation::Value { lhs, holds }, Some(c)) => Observation::Value {
                    lhs,
                    holds: holds
                        && crate::stats::verdict(c.legacy, c.new) == crate::stats::Verdict::Worse,
                },
                (Observation::Value { .. }, None) => {
                    Observation::Unknown("no request counts for the significance test".into())
                }
                (o, _) => o,
            }
        }
    }
}

fn evaluate(state: &mut State, i: usize) {
    let now = state.now_ms;
    for j in 0..state.rollouts[i].def.rules.len() {
        let obs = observation(state, i, j);
        let r = &mut state.rollouts[i];
        let rule = &r.def.rules[j];
        let prev = &r.alerts[j];
        let next = step(prev, rule, &obs, now);
        if next.status != prev.status {
            let level = match (next.status, rule.severity) {
                (AlertStatus::Firing, Severity::Critical) => LogLevel::Error,
                (AlertStatus::Firing | AlertStatus::Pending | AlertStatus::Unknown, _) => {
                    LogLevel::Warn
                }
                _ => LogLevel::Info,
            };
            let text = format!(
                "rule {}: {} → {}{}",
                rule.name,
                prev.status.label(),
                next.status.label(),
                next.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            // The first evaluation of a rule from "no data yet" to OK is not news.
            let quiet = prev.status == AlertStatus::Unknown && next.status == AlertStatus::Inactive;
            r.alerts[j] = next;
            if !quiet {
                state.log(i, level, text);
            }
            state.dirty = true;
        } else if next != *prev {
            r.alerts[j] = next;
        }
    }
}

fn on_action(state: &mut State, a: Action, cmds: &mut Vec<Command>) {
    if a == Action::Interrupt {
        state.quit = true;
        cmds.push(Command::Quit);
        return;
    }
    match state.mode.clone() {
        Mode::Help => match a {
            Action::Quit => {
                state.quit = true;
                cmds.push(Command::Quit);
            }
            Action::Help | Action::No => {
                state.mode = Mode::Normal;
                state.dirty = true;
            }
            _ => {}
        },
        Mode::Confirm(p) => match a {
            Action::Yes => {
                state.mode = Mode::Normal;
                let r = &mut state.rollouts[p.rollout];
                r.write_in_flight = true;
                state.log(
                    p.rollout,
                    LogLevel::Info,
                    format!("confirmed: {}; writing…", describe_change(&p.request)),
                );
                cmds.push(Command::Write {
                    rollout: p.rollout,
                    request: p.request,
                });
            }
            Action::No => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "cancelled: nothing was written");
            }
            _ => {}
        },
        Mode::Normal => match a {
            Action::Quit => {
                state.quit = true;
                cmds.push(Command::Quit);
            }
            Action::Help => {
                state.mode = Mode::Help;
                state.dirty = true;
            }
            Action::Theme => {
                state.theme = (state.theme + 1) % state.themes.len().max(1);
                let name = state.themes.get(state.theme).cloned().unwrap_or_default();
                state.say(LogLevel::Info, format!("theme: {name}"));
            }
            Action::NextRollout | Action::PrevRollout => {
                let n = state.rollouts.len();
                state.selected = if a == Action::NextRollout {
                    (state.selected + 1) % n
                } else {
                    (state.selected + n - 1) % n
                };
                state.dirty = true;
            }
            Action::Arm => {
                let r = &mut state.rollouts[state.selected];
                r.armed = !r.armed;
                let (name, armed) = (r.def.name.clone(), r.armed);
                let text = if armed {
                    format!(
                        "{name}: auto-advance ARMED: the next step is written when the bake time is done and all is healthy"
                    )
                } else {
                    format!("{name}: auto-advance disarmed")
                };
                state.log(state.selected, LogLevel::Warn, text.clone());
                state.say(LogLevel::Warn, text);
            }
            Action::Pause => {
                state.automation_paused = !state.automation_paused;
                let text = if state.automation_paused {
                    "automation PAUSED: no auto-advance, no auto-rollback"
                } else {
                    "automation resumed"
                };
                state.log(state.selected, LogLevel::Warn, text);
                state.say(LogLevel::Warn, text);
            }
            Action::Bump
            | Action::ForceBump
            | Action::StepBack
            | Action::Rollback
            | Action::KillSwitch => propose(state, a),
            Action::Yes | Action::No | Action::Interrupt => {}
        },
    }
}

/// `old → new` in words for the log (the log line names the rollout).
#[must_use]
pub fn describe_change(req: &WriteRequest) -> String {
    let old = req.expected.percent;
    match req.kind {
        WriteKind::SetPercent(p) => format!("set {old}% → {p}%"),
        WriteKind::Rollback(p) => format!("rollback {old}% → {p}%"),
        WriteKind::SetEnabled(on) => format!(
            "kill switch {} → {}",
            if req.expected.enabled { "on" } else { "off" },
            if on { "on" } else { "off" }
        ),
    }
}

fn propose(state: &mut State, a: Action) {
    let i = state.selected;
    let now = state.now_ms;
    let stale_after = state.stale_after_ms();
    let r = &state.rollouts[i];
    if state.read_only {
        state.say(
            LogLevel::Warn,
            "read-only: writes are disabled (--read-only)",
        );
        return;
    }
    if r.write_in_flight {
        state.say(
            LogLevel::Warn,
            format!(
                "a write to {} is in flight: wait for its result",
                r.def.name
            ),
        );
        return;
    }
    let Some(flag) = r.flag.clone() else {
        state.say(
            LogLevel::Warn,
            "the flag has not been read yet: nothing to change",
        );
        return;
    };
    let mut warning = None;
    let kind = match a {
        Action::Bump | Action::ForceBump => {
            let Some(next) = r.def.next_percent(flag.percent) else {
                state.say(
                    LogLevel::Info,
                    format!("already at the last step ({}%)", flag.percent),
                );
                return;
            };
            if let Some(rule) = r.blocking_rule() {
                if a == Action::Bump {
                    let msg = format!(
                        "bump blocked by firing rule `{}` ({}); press ! to bump anyway",
                        rule.name,
                        rule.action.label()
                    );
                    state.say(LogLevel::Warn, msg);
                    return;
                }
                warning = Some(format!("forcing past firing rule `{}`", rule.name));
            }
            WriteKind::SetPercent(next)
        }
        Action::StepBack => {
            let Some(prev) = r.def.prev_percent(flag.percent) else {
                state.say(LogLevel::Info, "already at 0%");
                return;
            };
            WriteKind::SetPercent(prev)
        }
        Action::Rollback => {
            if flag.percent == 0 {
                state.say(LogLevel::Info, "already at 0%");
                return;
            }
            WriteKind::Rollback(0)
        }
        _ => WriteKind::SetEnabled(!flag.enabled),
    };
    if r.flag_error.is_some() || r.flag_at_ms.is_some_and(|t| now - t > stale_after) {
        let w = "flag value is stale: if it moved, the write is refused as a conflict";
        warning = Some(warning.map_or_else(|| w.to_owned(), |x| format!("{x}; {w}")));
    }
    let request = WriteRequest {
        rollout: r.def.name.clone(),
        environment: r.def.environment.clone(),
        expected: flag,
        kind,
        reason: "operator".into(),
    };
    state.mode = Mode::Confirm(PendingWrite {
        rollout: i,
        request,
        warning,
    });
    state.dirty = true;
}

fn on_write_done(
    state: &mut State,
    i: usize,
    at: i64,
    res: crate::flags::write::WriteResult,
    cmds: &mut Vec<Command>,
) {
    let Some(r) = state.rollouts.get_mut(i) else {
        return;
    };
    r.write_in_flight = false;
    if let Some(own) = crate::flags::own::OwnWrite::landed(&res, at) {
        crate::flags::own::remember(&mut r.own_writes, own);
    }
    if let Some(after) = &res.after {
        if r.flag
            .as_ref()
            .is_none_or(|f| f.effective_percent() != after.effective_percent())
        {
            r.step_since_ms = Some(at);
        }
        r.flag = Some(after.clone());
        r.flag_at_ms = Some(at);
        r.flag_error = None;
        read_events(state, i, cmds);
    }
    let what = describe_change(&res.request);
    let now_value = res
        .after
        .as_ref()
        .map_or_else(|| "unreadable".to_owned(), describe_flag);
    let (level, text) = match &res.outcome {
        WriteOutcome::Ok => (
            LogLevel::Info,
            format!("done: {what} (re-read: {now_value})"),
        ),
        WriteOutcome::Conflict => (
            LogLevel::Warn,
            format!(
                "conflict: the flag moved to {now_value} since you saw it; nothing written ({what})"
            ),
        ),
        WriteOutcome::Refused(m) => (LogLevel::Error, format!("refused: {what}: {m}")),
        WriteOutcome::Error(m) => (LogLevel::Error, format!("failed: {what}: {m}")),
        WriteOutcome::Unknown(m) => (
            LogLevel::Error,
            format!("UNKNOWN OUTCOME: {what}: {m}; re-read shows {now_value}; not retried"),
        ),
        WriteOutcome::NotApplied { asked, found } => (
            LogLevel::Error,
            format!(
                "NOT APPLIED: {what}: the backend accepted it but the re-read shows {found}, \
                 not {asked}; not retried"
            ),
        ),
    };
    let name = state.rollouts[i].def.name.clone();
    state.log(i, level, text.clone());
    state.say(level, format!("{name}: {text}"));
}
