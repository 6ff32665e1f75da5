//! The guard's event lines: one JSON object per line, `{"time","at_ms","rollout","event",…}`.
//! Polls are summarised once a minute (clock time) and whenever a feed starts or stops failing;
//! rule transitions, lifecycle changes, lease changes, write intents and outcomes, warnings and
//! errors of the log each get their own line.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::alerts::AlertStatus;
use crate::app::lifecycle::lifecycle;
use crate::app::msg::{Command, Msg};
use crate::app::state::{LogLevel, State};
use crate::flags::write::WriteResult;

/// Clock time between two poll summaries.
const SUMMARY_MS: i64 = 60_000;

/// What the lines last said about one rollout, to write only changes.
#[derive(Default)]
struct Seen {
    alerts: Vec<AlertStatus>,
    lifecycle: Option<&'static str>,
    held_by: Option<String>,
    lease: Option<String>,
    flag_error: Option<String>,
    metrics_error: Option<String>,
}

/// Poll answers since the last summary.
#[derive(Default)]
struct Tally {
    since_ms: Option<i64>,
    flag_ok: u32,
    flag_failed: u32,
    metrics_ok: u32,
    metrics_failed: u32,
}

/// Writes event lines to `out` (stdout or the `--events` file), flushed line by line.
pub struct Events {
    out: Box<dyn Write + Send>,
    seen: Vec<Seen>,
    tally: Tally,
    logged: u64,
    failed: bool,
}

fn time(at_ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms)
        .map_or_else(String::new, |d| d.to_rfc3339())
}

impl Events {
    /// Lines to `out`.
    #[must_use]
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out,
            seen: Vec::new(),
            tally: Tally::default(),
            logged: 0,
            failed: false,
        }
    }

    /// Whether a line could not be written (the reader went away, the disk is full).
    #[must_use]
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Writes one line: `event` about `rollout` at `at_ms`, with `fields` (an object).
    pub fn emit(&mut self, at_ms: i64, rollout: &str, event: &str, fields: Value) {
        let mut m = Map::new();
        m.insert("time".into(), time(at_ms).into());
        m.insert("at_ms".into(), at_ms.into());
        m.insert("rollout".into(), rollout.into());
        m.insert("event".into(), event.into());
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        let line = Value::Object(m).to_string();
        let ok = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
        self.failed |= ok.is_err();
    }

    /// Before `update`: poll answers are counted, write outcomes written.
    pub fn before(&mut self, m: &Msg, s: &State) {
        match m {
            Msg::FlagRead { result, .. } => {
                if result.is_ok() {
                    self.tally.flag_ok += 1;
                } else {
                    self.tally.flag_failed += 1;
                }
            }
            Msg::MetricsPolled { result, .. } => {
                if result.is_ok() {
                    self.tally.metrics_ok += 1;
                } else {
                    self.tally.metrics_failed += 1;
                }
            }
            Msg::WriteDone { at_ms, result, .. } => self.write_done(*at_ms, result),
            Msg::GroupWriteDone { at_ms, result, .. } => {
                for d in &result.done {
                    self.write_done(*at_ms, &d.result);
                }
            }
            Msg::Shutdown(reason) => {
                self.emit(s.now_ms, "", "shutdown", json!({ "reason": reason }));
            }
            _ => {}
        }
    }

    fn write_done(&mut self, at_ms: i64, r: &WriteResult) {
        let detail = match &r.outcome {
            crate::flags::write::WriteOutcome::Refused(d)
            | crate::flags::write::WriteOutcome::Error(d)
            | crate::flags::write::WriteOutcome::Unknown(d) => Some(d.clone()),
            crate::flags::write::WriteOutcome::NotApplied { asked, found } => {
                Some(format!("asked {asked}, the flag shows {found}"))
            }
            _ => None,
        };
        self.emit(
            at_ms,
            &r.request.rollout,
            "write",
            json!({
                "action": r.request.kind.action(),
                "from": r.request.expected.percent,
                "to": r.request.kind.value(),
                "reason": r.request.reason,
                "outcome": r.outcome.label(),
                "detail": detail,
                "after": r.after.as_ref().map(crate::model::FlagSnapshot::effective_percent),
                "attempts": r.attempts,
                "write_id": r.write_id,
            }),
        );
    }

    /// After `update`: write intents, then what changed in the state.
    pub fn after(&mut self, cmds: &[Command], s: &State) {
        let requests = cmds.iter().flat_map(|c| match c {
            Command::Write { request, .. } => vec![request],
            Command::WriteGroup { writes, .. } => writes.iter().map(|w| &w.request).collect(),
            _ => Vec::new(),
        });
        for request in requests {
            {
                self.emit(
                    s.now_ms,
                    &request.rollout,
                    "write_intent",
                    json!({
                        "action": request.kind.action(),
                        "from": request.expected.percent,
                        "to": request.kind.value(),
                        "reason": request.reason,
                    }),
                );
            }
        }
        self.log_lines(s);
        self.changes(s);
        self.summary(s);
    }

    /// Warnings and errors of the event log (reconciled writes, failures, auto-rollback).
    fn log_lines(&mut self, s: &State) {
        let new = usize::try_from(s.logged - self.logged).unwrap_or(usize::MAX);
        self.logged = s.logged;
        let lines: Vec<_> = s
            .events
            .iter()
            .skip(s.events.len().saturating_sub(new))
            .filter(|e| e.level != LogLevel::Info)
            .cloned()
            .collect();
        for e in lines {
            let level = if e.level == LogLevel::Error {
                "error"
            } else {
                "warn"
            };
            self.emit(
                e.at_ms,
                &e.rollout,
                "log",
                json!({ "level": level, "text": e.text }),
            );
        }
    }

    fn changes(&mut self, s: &State) {
        self.seen.resize_with(s.rollouts.len(), Seen::default);
        for (i, r) in s.rollouts.iter().enumerate() {
            let name = r.def.name.clone();
            let mut lines = Vec::new();
            let seen = &mut self.seen[i];
            seen.alerts.resize(r.alerts.len(), AlertStatus::Inactive);
            for (j, (rule, a)) in r.def.rules.iter().zip(&r.alerts).enumerate() {
                if seen.alerts[j] != a.status {
                    lines.push((
                        "rule",
                        json!({
                            "rule": rule.name,
                            "from": seen.alerts[j].label(),
                            "to": a.status.label(),
                            "action": rule.action.label(),
                            "value": a.value,
                        }),
                    ));
                    seen.alerts[j] = a.status;
                }
            }
            let lc = lifecycle(r, s.automation_paused);
            let held = r.held_by.as_ref().filter(|_| lc.name() == "HELD").cloned();
            if seen.lifecycle != Some(lc.name()) || seen.held_by != held {
                lines.push((
                    "verdict",
                    json!({
                        "state": lc.name(),
                        "percent": r.flag.as_ref().map(crate::model::FlagSnapshot::effective_percent),
                        "held_by": held,
                    }),
                ));
                seen.lifecycle = Some(lc.name());
                seen.held_by = held;
            }
            let lease = s.steered_by(i).map(|l| l.holder.clone());
            if seen.lease != lease {
                lines.push(("lease", json!({ "held_by_other": lease })));
                seen.lease = lease;
            }
            for (what, now, before) in [
                ("flag", &r.flag_feed.error, &mut seen.flag_error),
                ("metrics", &r.metrics_feed.error, &mut seen.metrics_error),
            ] {
                if now != before {
                    let ev = if now.is_some() {
                        "data_lost"
                    } else {
                        "data_back"
                    };
                    lines.push((ev, json!({ "feed": what, "error": now })));
                    before.clone_from(now);
                }
            }
            for (ev, fields) in lines {
                self.emit(s.now_ms, &name, ev, fields);
            }
        }
    }

    fn summary(&mut self, s: &State) {
        let since = *self.tally.since_ms.get_or_insert(s.now_ms);
        if s.now_ms - since < SUMMARY_MS {
            return;
        }
        let t = std::mem::take(&mut self.tally);
        self.tally.since_ms = Some(s.now_ms);
        for r in &s.rollouts {
            let values: Map<String, Value> = r
                .def
                .metrics
                .iter()
                .zip(&r.metrics)
                .map(|(d, m)| (d.id.clone(), json!([m.last.legacy, m.last.new])))
                .collect();
            self.emit(
                s.now_ms,
                &r.def.name.clone(),
                "polls",
                json!({
                    "flag_ok": t.flag_ok,
                    "flag_failed": t.flag_failed,
                    "metrics_ok": t.metrics_ok,
                    "metrics_failed": t.metrics_failed,
                    "percent": r.flag.as_ref().map(crate::model::FlagSnapshot::effective_percent),
                    "values": values,
                }),
            );
        }
    }
}
