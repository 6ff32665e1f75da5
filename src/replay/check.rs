//! What a recording must satisfy before any of it reaches `update`: everything a live session
//! guarantees by construction (the config's validation, the backends' contracts, a clock that
//! never goes back), checked here because a recording is a file and may come from anywhere.
//! Each check returns what was expected, in words; the caller adds the file and line.

use std::time::Duration;

use crate::alerts::{Action, Condition, Rule};
use crate::app::Msg;
use crate::app::keymap::Action as KeyAction;
use crate::app::verdicts::SPLIT_RULE;
use crate::flags::FlagEvent;
use crate::model::{FlagSnapshot, MetricDef, MetricKind, Rollout};
use crate::record::{FORMAT, Header, RecordedRollout};

/// Latest clock time a recording may hold (9999-12-31T23:59:59.999Z), so no time arithmetic
/// of the dashboard can overflow.
const MAX_TIME_MS: i64 = 253_402_300_799_999;
/// Longest bake, `for` or `keep_firing_for` (a year).
const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// Poll interval bounds (clock ms): what `watch` and `demo` can record.
const REFRESH_MS: (i64, i64) = (100, 30 * 86_400_000);
/// Fastest clock a recording may claim (the demo's `--speed` limit).
const MAX_CLOCK_SPEED: f64 = 100_000.0;

fn time(what: &str, t: i64) -> Result<(), String> {
    if (0..=MAX_TIME_MS).contains(&t) {
        Ok(())
    } else {
        Err(format!(
            "{what} {t}: expected a Unix time in ms between 0 and {MAX_TIME_MS}"
        ))
    }
}

fn percent(what: &str, p: u8) -> Result<(), String> {
    if p <= 100 {
        Ok(())
    } else {
        Err(format!("{what} {p}: expected a percentage 0..=100"))
    }
}

fn duration(what: &str, d: Duration) -> Result<(), String> {
    if d <= MAX_DURATION {
        Ok(())
    } else {
        Err(format!(
            "{what} of {} s: expected at most {} s",
            d.as_secs(),
            MAX_DURATION.as_secs()
        ))
    }
}

fn finite(what: &str, v: f64) -> Result<(), String> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("{what} {v}: expected a finite number"))
    }
}

/// The header: a known format, sane times and speeds, and rollouts the config would accept.
pub(super) fn header(h: &Header) -> Result<(), String> {
    if h.rollwatch_recording == 0 {
        return Err(format!("recording format 0: expected 1..={FORMAT}"));
    }
    time("started_ms", h.started_ms)?;
    if !(h.clock_speed.is_finite() && h.clock_speed > 0.0 && h.clock_speed <= MAX_CLOCK_SPEED) {
        return Err(format!(
            "clock_speed {}: expected above 0 and at most {MAX_CLOCK_SPEED}",
            h.clock_speed
        ));
    }
    if !(REFRESH_MS.0..=REFRESH_MS.1).contains(&h.refresh_ms) {
        return Err(format!(
            "refresh_ms {}: expected {}..={}",
            h.refresh_ms, REFRESH_MS.0, REFRESH_MS.1
        ));
    }
    if h.rollouts.is_empty() {
        return Err("no rollouts: expected at least one in `rollouts`".into());
    }
    for (i, r) in h.rollouts.iter().enumerate() {
        if h.rollouts[..i].iter().any(|o| o.def.name == r.def.name) {
            return Err(format!("rollout `{}`: duplicate rollout name", r.def.name));
        }
        rollout(&r.def).map_err(|e| format!("rollout {i} (`{}`): {e}", r.def.name))?;
    }
    Ok(())
}

/// One rollout definition, checked as `config::parse` checks a `[[rollout]]`.
fn rollout(r: &Rollout) -> Result<(), String> {
    if r.name.trim().is_empty() {
        return Err("name: expected a non-empty name".into());
    }
    if r.steps.is_empty() {
        return Err("steps: expected at least one step".into());
    }
    for (k, s) in r.steps.iter().enumerate() {
        percent("step", s.percent)?;
        if k > 0 && r.steps[k - 1].percent >= s.percent {
            return Err(format!(
                "step {}: steps must be strictly ascending",
                s.percent
            ));
        }
        if let Some(b) = s.bake {
            duration("bake", b)?;
        }
    }
    if r.metrics.is_empty() {
        return Err("metrics: expected at least one metric".into());
    }
    for (k, m) in r.metrics.iter().enumerate() {
        if r.metrics[..k].iter().any(|o| o.id == m.id) {
            return Err(format!("metric `{}`: duplicate metric id", m.id));
        }
        metric(m).map_err(|e| format!("metric `{}`: {e}", m.id))?;
    }
    for (k, rule) in r.rules.iter().enumerate() {
        if r.rules[..k].iter().any(|o| o.name == rule.name) {
            return Err(format!("rule `{}`: duplicate rule name", rule.name));
        }
        check_rule(rule, &r.metrics).map_err(|e| format!("rule `{}`: {e}", rule.name))?;
    }
    Ok(())
}

fn metric(m: &MetricDef) -> Result<(), String> {
    if m.id.trim().is_empty() {
        return Err("id: expected a non-empty identifier".into());
    }
    if let MetricKind::Latency { quantile: q } = m.kind
        && !(q > 0.0 && q < 1.0)
    {
        return Err(format!("quantile {q}: expected 0 < q < 1"));
    }
    if let Some(s) = m.savings_target
        && !(0.0..=100.0).contains(&s)
    {
        return Err(format!("savings_target {s}: expected a percentage 0..=100"));
    }
    if let Some(t) = m.target {
        finite("target", t)?;
    }
    if let Some(w) = m.window_ms {
        let max = i64::try_from(MAX_DURATION.as_millis()).unwrap_or(i64::MAX);
        if !(0..=max).contains(&w) {
            return Err(format!("window_ms {w}: expected 0..={max}"));
        }
    }
    if let Some(t) = m.tolerance
        && !(t.is_finite() && t >= 0.0)
    {
        return Err(format!("tolerance {t}: expected a finite number ≥ 0"));
    }
    Ok(())
}

fn check_rule(rule: &Rule, metrics: &[MetricDef]) -> Result<(), String> {
    // The built-in traffic-split rule reads request counts, not a metric (as `update` and the
    // view recognise it).
    let built_in = rule.name == SPLIT_RULE && rule.metric.is_empty();
    let m = metrics.iter().find(|m| m.id == rule.metric);
    if m.is_none() && !built_in {
        let ids: Vec<&str> = metrics.iter().map(|m| m.id.as_str()).collect();
        return Err(format!(
            "metric `{}` is not defined in this rollout (defined: {})",
            rule.metric,
            ids.join(", ")
        ));
    }
    match rule.condition {
        Condition::Absolute { value, .. }
        | Condition::DeltaToLegacy { value, .. }
        | Condition::Saving { value, .. } => finite("threshold", value)?,
        Condition::RatioToLegacy { factor, .. } => finite("factor", factor)?,
    }
    duration("for", rule.for_)?;
    duration("keep_firing_for", rule.keep_firing_for)?;
    if let Action::Rollback { to } = rule.action {
        percent("rollback to", to)?;
    }
    if rule.significant && m.is_none_or(|m| m.kind != MetricKind::Ratio) {
        return Err("significant = true needs a ratio metric".into());
    }
    Ok(())
}

fn snapshot(what: &str, s: &FlagSnapshot) -> Result<(), String> {
    percent(what, s.percent)
}

fn flag_event(e: &FlagEvent) -> Result<(), String> {
    time("flag event at_ms", e.at_ms)?;
    for p in [e.before, e.after].into_iter().flatten() {
        percent("flag event percentage", p)?;
    }
    Ok(())
}

/// One backfilled series: valid times, strictly ascending.
fn ascending<V>(series: &[(i64, V)]) -> Result<(), String> {
    for (k, (t, _)) in series.iter().enumerate() {
        time("backfill time", *t)?;
        if k > 0 && series[k - 1].0 >= *t {
            return Err(format!(
                "backfill time {t}: expected strictly ascending times"
            ));
        }
    }
    Ok(())
}

/// Rollout `i` of the header, or why it does not exist.
fn rollout_of(h: &Header, i: usize) -> Result<&RecordedRollout, String> {
    h.rollouts.get(i).ok_or_else(|| {
        format!(
            "rollout {i} does not exist: the header has {} (0..={})",
            h.rollouts.len(),
            h.rollouts.len() - 1
        )
    })
}

/// One message line at clock time `t`, after the previous line's time `prev_t` (the header's
/// `started_ms` for the first): times never go back, rollouts exist, and every value is one a
/// backend (or the keymap) could have produced. `msg` is `None` for a format-1 key bound to
/// nothing: only its time is checked.
pub(super) fn line(h: &Header, prev_t: i64, t: i64, msg: Option<&Msg>) -> Result<(), String> {
    time("t", t)?;
    if t < prev_t {
        return Err(format!(
            "t {t}: expected a time at or after the previous line's ({prev_t}); a recording's \
             clock never goes back"
        ));
    }
    let Some(msg) = msg else { return Ok(()) };
    let rollout = |i: usize| rollout_of(h, i);
    match msg {
        Msg::Action(KeyAction::Range(n)) if !(1..=4).contains(n) => {
            Err(format!("range {n}: expected 1..=4 (the keys 1 to 4)"))
        }
        Msg::Action(_) | Msg::Resize | Msg::Shutdown(_) => Ok(()),
        Msg::Started(t) | Msg::Tick(t) | Msg::Discovered { at_ms: t, .. } => time("time", *t),
        Msg::FlagRead {
            rollout: i,
            at_ms,
            result,
        } => {
            rollout(*i)?;
            time("at_ms", *at_ms)?;
            match result {
                Ok(s) => snapshot("flag percentage", s),
                Err(_) => Ok(()),
            }
        }
        Msg::FlagEvents {
            rollout: i,
            at_ms,
            result,
        } => {
            rollout(*i)?;
            time("at_ms", *at_ms)?;
            result
                .as_ref()
                .map_or(Ok(()), |evs| evs.iter().try_for_each(flag_event))
        }
        Msg::MetricsPolled {
            rollout: i,
            at_ms,
            result,
        } => {
            let r = rollout(*i)?;
            time("at_ms", *at_ms)?;
            match result {
                Ok(poll) if poll.metrics.len() != r.def.metrics.len() => Err(format!(
                    "{} metric results: expected one per metric of rollout {i} ({})",
                    poll.metrics.len(),
                    r.def.metrics.len()
                )),
                _ => Ok(()),
            }
        }
        Msg::Backfilled { rollout: i, result } => {
            let r = rollout(*i)?;
            let Ok(series) = result else { return Ok(()) };
            if series.len() != r.def.metrics.len() {
                return Err(format!(
                    "{} backfilled series: expected one per metric of rollout {i} ({})",
                    series.len(),
                    r.def.metrics.len()
                ));
            }
            series.iter().try_for_each(|s| ascending(s))
        }
        Msg::WriteDone {
            rollout: i,
            at_ms,
            result,
        } => {
            let r = rollout(*i)?;
            time("at_ms", *at_ms)?;
            let req = &result.request;
            if req.rollout != r.def.name {
                return Err(format!(
                    "a write to rollout `{}` reported for rollout {i} (`{}`)",
                    req.rollout, r.def.name
                ));
            }
            snapshot("expected percentage", &req.expected)?;
            if let Some(a) = &result.after {
                snapshot("re-read percentage", a)?;
            }
            match req.kind {
                crate::flags::write::WriteKind::SetPercent(p)
                | crate::flags::write::WriteKind::Rollback(p) => percent("write percentage", p),
                crate::flags::write::WriteKind::SetEnabled(_) => Ok(()),
            }
        }
        Msg::Reconciled { rollout: i, .. }
        | Msg::AlsoRead { rollout: i, .. }
        | Msg::GroupWriteDone { rollout: i, .. } => rollout(*i).map(|_| ()),
    }
}
