//! The pure update: `(state, msg) -> commands`. No I/O, no clock reads: time arrives in
//! messages. Every write starts as a pending intent in a confirm dialog; only `y`/`Enter`
//! on that dialog produces a `Command::Write`.

use super::keymap::{Action, action};
use super::msg::{Command, Msg};
use super::state::{LogLevel, Mode, State};
use crate::alerts::{AlertStatus, Observation, Severity, observe, step};
use crate::flags::write::{WriteKind, WriteOutcome, WriteRequest};
use crate::metrics::CohortValues;
use crate::model::Cohort;
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
            let prev = r.flag.clone();
            r.see_flag(&snap, at);
            r.flag_poll.failures = 0;
            r.flag_poll.next_at_ms = at + state.refresh_ms;
            let recovered = r.flag_error.take();
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

/// Why a rule about rollout `r` has nothing to judge: a cohort it reads intentionally gets no
/// traffic (the new path at 0 % or switched off, legacy at 100 %).
fn idle_reason(r: &super::state::RolloutState, rule: &crate::alerts::Rule) -> Option<String> {
    let flag = r.flag.as_ref()?;
    let pct = flag.effective_percent();
    if pct == 0 && rule.reads(Cohort::New) {
        Some(if flag.enabled {
            "the new path serves no traffic (0 %)".into()
        } else {
            "the new path serves no traffic (flag off)".into()
        })
    } else if pct >= 100 && rule.reads(Cohort::Legacy) {
        Some("legacy serves no traffic (100 %)".into())
    } else {
        None
    }
}

/// What was missing when a rule's values were incomplete, in words.
fn missing(rule: &crate::alerts::Rule, legacy: Option<f64>, new: Option<f64>) -> String {
    let need_legacy = rule.reads(Cohort::Legacy) || rule.rhs(None).is_none();
    match (legacy, new) {
        (_, None) if rule.reads(Cohort::New) => "no value for the new cohort".into(),
        (None, _) if need_legacy => "no value for the legacy cohort".into(),
        (Some(0.0), Some(_)) => "saving undefined: legacy is 0".into(),
        _ => "no value".into(),
    }
}

/// The observation for rule `j` of rollout `i` at the state's time. Missing data is never
/// "no data" here: rollwatch's own path reports it as unknown, with what was missing, so a
/// firing rule stays firing (the evaluator keeps PromQL's meaning of an absent series for
/// the parity tests).
fn observation(state: &State, i: usize, j: usize) -> Observation {
    let r = &state.rollouts[i];
    let rule = &r.def.rules[j];
    if let Some(why) = idle_reason(r, rule) {
        return Observation::Idle(why);
    }
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
            let obs = match observe(rule, legacy, new) {
                Observation::NoData => Observation::Unknown(missing(rule, legacy, new)),
                o => o,
            };
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

fn quit(state: &mut State, cmds: &mut Vec<Command>) {
    state.quit = true;
    cmds.push(Command::Quit);
}

/// Names of the rollouts whose automation would stop with the process (armed auto-advance or
/// auto-rollback, not paused).
fn automated(state: &State) -> Vec<String> {
    if state.automation_paused || state.read_only {
        return Vec::new();
    }
    state
        .rollouts
        .iter()
        .filter(|r| r.armed || r.def.automation.auto_rollback)
        .map(|r| r.def.name.clone())
        .collect()
}

fn on_action(state: &mut State, a: Action, cmds: &mut Vec<Command>) {
    match state.mode.clone() {
        Mode::Help => match a {
            Action::Quit | Action::Interrupt => ask_quit(state, cmds),
            Action::Help | Action::No => {
                state.mode = Mode::Normal;
                state.dirty = true;
            }
            _ => {}
        },
        Mode::ConfirmQuit => match a {
            // A second Ctrl-C means it.
            Action::Yes | Action::Interrupt => quit(state, cmds),
            Action::No | Action::Quit => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "not quitting: automation keeps running");
            }
            _ => {}
        },
        Mode::ConfirmArm(i) => match a {
            Action::Yes => {
                state.mode = Mode::Normal;
                set_armed(state, i, true);
            }
            Action::No => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "cancelled: auto-advance stays disarmed");
            }
            Action::Enter => enter_never_confirms(state),
            Action::Interrupt => ask_quit(state, cmds),
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
            Action::Enter => enter_never_confirms(state),
            Action::Interrupt => {
                state.mode = Mode::Normal;
                state.say(LogLevel::Info, "cancelled: nothing was written");
                ask_quit(state, cmds);
            }
            _ => {}
        },
        Mode::Normal => on_normal_action(state, a, cmds),
    }
}

fn enter_never_confirms(state: &mut State) {
    state.say(
        LogLevel::Warn,
        "Enter does not confirm: press y to confirm, n or Esc to cancel",
    );
}

/// Quits, unless automation would silently stop with the process: then it asks first.
fn ask_quit(state: &mut State, cmds: &mut Vec<Command>) {
    if automated(state).is_empty() {
        quit(state, cmds);
    } else {
        state.mode = Mode::ConfirmQuit;
        state.dirty = true;
    }
}

fn set_armed(state: &mut State, i: usize, armed: bool) {
    let r = &mut state.rollouts[i];
    r.armed = armed;
    let name = r.def.name.clone();
    let text = if armed {
        format!(
            "{name}: auto-advance ARMED: the next step is written when the bake time is done and all is healthy"
        )
    } else {
        format!("{name}: auto-advance disarmed")
    };
    state.log(i, LogLevel::Warn, text.clone());
    state.say(LogLevel::Warn, text);
}

fn on_normal_action(state: &mut State, a: Action, cmds: &mut Vec<Command>) {
    match a {
        Action::Quit | Action::Interrupt => ask_quit(state, cmds),
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
            let i = state.selected;
            let r = &state.rollouts[i];
            if r.armed {
                set_armed(state, i, false);
            } else if state.read_only {
                state.say(
                    LogLevel::Warn,
                    "read-only: automation cannot write (--read-only)",
                );
            } else if !r.flag.as_ref().is_some_and(|f| f.enabled) {
                let why = if r.flag.is_none() {
                    "the flag has not been read yet"
                } else {
                    "the flag is off (kill switch)"
                };
                state.say(
                    LogLevel::Warn,
                    format!("cannot arm auto-advance of {}: {why}", r.def.name),
                );
            } else {
                state.mode = Mode::ConfirmArm(i);
                state.dirty = true;
            }
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
        | Action::KillSwitch => super::propose::propose(state, a),
        // Navigation arrives with the detail views; here it must only never write.
        Action::Yes | Action::No | Action::Enter | Action::Up | Action::Down => {}
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
        r.see_flag(after, at);
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
