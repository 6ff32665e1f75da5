//! Messages into `update` and commands out of it.
//!
//! A [`Msg`] holds no terminal type: keys and mouse events become [`Action`]s at the edge (the
//! event loop), so every message is plain data and serialises as it is. A recording
//! ([`crate::record`]) is these messages as JSON lines, one object a message with its kind in
//! `type`: `{"type":"tick","now_ms":…}`, `{"type":"action","action":"rollback"}`.

use serde::{Deserialize, Serialize};

use super::keymap::Action;
use crate::flags::FlagError;
use crate::flags::FlagEvent;
use crate::flags::write::group::{FlagWrite, GroupResult};
use crate::flags::write::{WriteRequest, WriteResult};
use crate::metrics::{Backfill, MetricsError, Poll, PollCtx};
use crate::model::FlagSnapshot;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// The operator asked for something (a key or a click, mapped at the edge).
    #[serde(with = "field::action")]
    Action(Action),
    /// The session began at the clock's now (Unix ms): the first tick, and dangling write
    /// intents of an earlier run are reconciled.
    #[serde(with = "field::now_ms")]
    Started(i64),
    /// Time passed; carries the clock's now (Unix ms).
    #[serde(with = "field::now_ms")]
    Tick(i64),
    /// The terminal was resized.
    Resize,
    /// A flag read finished.
    FlagRead {
        /// Rollout index.
        rollout: usize,
        /// When the answer arrived (clock ms).
        at_ms: i64,
        /// What it said.
        result: Result<FlagSnapshot, FlagError>,
    },
    /// The `[[rollout.also]]` flags were read (one answer per flag, in order).
    AlsoRead {
        /// Rollout index.
        rollout: usize,
        /// When the answers arrived (clock ms).
        at_ms: i64,
        /// What each said.
        results: Vec<Result<FlagSnapshot, FlagError>>,
    },
    /// The backend's history of flag changes.
    FlagEvents {
        /// Rollout index.
        rollout: usize,
        /// When the answer arrived.
        at_ms: i64,
        /// The events, newest last.
        result: Result<Vec<FlagEvent>, FlagError>,
    },
    /// A metrics poll finished.
    MetricsPolled {
        /// Rollout index.
        rollout: usize,
        /// When the answer arrived (clock ms).
        at_ms: i64,
        /// What it said.
        result: Result<Poll, MetricsError>,
    },
    /// The start-up history backfill finished.
    Backfilled {
        /// Rollout index.
        rollout: usize,
        /// The history or why there is none.
        result: Result<Backfill, MetricsError>,
    },
    /// A guarded write finished (ok, conflict, refused, error, unknown).
    WriteDone {
        /// Rollout index.
        rollout: usize,
        /// When it finished.
        at_ms: i64,
        /// Outcome and the flag re-read afterwards.
        result: Box<WriteResult>,
    },
    /// A group of writes (a rollout's flags moved together) finished.
    GroupWriteDone {
        /// Rollout index.
        rollout: usize,
        /// When it finished.
        at_ms: i64,
        /// Each flag's outcome, and the writes not attempted.
        result: Box<GroupResult>,
    },
    /// Dangling write intents from an earlier run were reconciled against a fresh read.
    Reconciled {
        /// Rollout index.
        rollout: usize,
        /// One line per reconciled intent.
        notes: Vec<String>,
    },
    /// Stop now (signal, terminal gone).
    #[serde(with = "field::reason")]
    Shutdown(String),
    /// The fleets' flags were discovered again: rollouts to append, rollouts gone.
    Discovered {
        /// When the answer arrived.
        at_ms: i64,
        /// What was found, or why nothing could be.
        result: Result<super::discovery::Discovered, String>,
    },
}

/// The one-value variants of [`Msg`] as objects with one named field (`{"now_ms": 5}`), so
/// the `type` tag can sit beside it and the lines read as in recording format 1.
mod field {
    macro_rules! named {
        ($module:ident, $name:literal, $ty:ty) => {
            pub mod $module {
                use serde::ser::SerializeMap;
                use serde::{Deserialize, Deserializer, Serializer};

                #[derive(Deserialize)]
                struct One {
                    #[serde(rename = $name)]
                    value: $ty,
                }

                pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(Some(1))?;
                    m.serialize_entry($name, v)?;
                    m.end()
                }

                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                    One::deserialize(d).map(|o| o.value)
                }
            }
        };
    }
    named!(now_ms, "now_ms", i64);
    named!(reason, "reason", String);
    named!(action, "action", crate::app::keymap::Action);
}

/// Something `update` asks the effects to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Read the rollout's flag.
    ReadFlag(usize),
    /// Read the rollout's `[[rollout.also]]` flags (one request per backend).
    ReadAlso(usize),
    /// Read the flag's change history from the backend.
    ReadFlagEvents(usize),
    /// Poll the rollout's metrics (rollout index; the step start for counts).
    PollMetrics(usize, PollCtx),
    /// Backfill history between two times with a step, all in ms.
    Backfill {
        /// Rollout index.
        rollout: usize,
        /// From.
        start_ms: i64,
        /// To.
        end_ms: i64,
        /// Step.
        step_ms: i64,
    },
    /// Perform a confirmed write through the guarded path.
    Write {
        /// Rollout index.
        rollout: usize,
        /// The confirmed request.
        request: WriteRequest,
    },
    /// Perform confirmed writes of several flags of a rollout, one after another through the
    /// guarded path; stops at the first that does not land unless `keep_going`.
    WriteGroup {
        /// Rollout index.
        rollout: usize,
        /// The writes, in order.
        writes: Vec<FlagWrite>,
        /// Write every flag whatever the others did (a move back to safety).
        keep_going: bool,
    },
    /// Close dangling intents in the audit log (a crash mid-write) with an `unknown`
    /// outcome and the flag as re-read now.
    Reconcile(usize),
    /// Discover the fleets' flags again; `known` are the rollouts watched now.
    Discover {
        /// The names of every rollout in the state, in order.
        known: Vec<String>,
    },
    /// Leave the event loop.
    Quit,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number per variant; exhaustive, so a new variant fails to compile until it is listed.
    fn variant(m: &Msg) -> usize {
        match m {
            Msg::Action(_) => 0,
            Msg::Started(_) => 1,
            Msg::Tick(_) => 2,
            Msg::Resize => 3,
            Msg::FlagRead { .. } => 4,
            Msg::FlagEvents { .. } => 5,
            Msg::MetricsPolled { .. } => 6,
            Msg::Backfilled { .. } => 7,
            Msg::WriteDone { .. } => 8,
            Msg::Reconciled { .. } => 9,
            Msg::Shutdown(_) => 10,
            Msg::AlsoRead { .. } => 11,
            Msg::GroupWriteDone { .. } => 12,
            Msg::Discovered { .. } => 13,
        }
    }
    const VARIANTS: usize = 14;

    fn action_variant(a: Action) -> usize {
        match a {
            Action::Bump => 0,
            Action::ForceBump => 1,
            Action::StepBack => 2,
            Action::Rollback => 3,
            Action::KillSwitch => 4,
            Action::Yes => 5,
            Action::No => 6,
            Action::Enter => 7,
            Action::Down => 8,
            Action::Up => 9,
            Action::Top => 10,
            Action::Bottom => 11,
            Action::Redraw => 12,
            Action::Range(_) => 13,
            Action::Select(_) => 14,
            Action::Unknown => 15,
            Action::Help => 16,
            Action::Theme => 17,
            Action::NextRollout => 18,
            Action::PrevRollout => 19,
            Action::Arm => 20,
            Action::Pause => 21,
            Action::Quit => 22,
            Action::Interrupt => 23,
            Action::Fleet => 24,
            Action::Filter => 25,
            Action::Type(_) => 26,
            Action::Erase => 27,
            Action::PageDown => 28,
            Action::PageUp => 29,
            Action::SelectRollout(_) => 30,
            Action::Undo => 31,
        }
    }
    const ACTIONS: usize = 32;

    /// Every action, as the edge produces them: from every key the keymap binds, and the
    /// click on a metric row.
    fn every_action() -> Vec<Action> {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut codes: Vec<KeyCode> = (' '..='~').map(KeyCode::Char).collect();
        codes.extend([
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Backspace,
        ]);
        let mut out = vec![Action::Select(7), Action::SelectRollout(3)];
        for code in codes {
            for mods in [KeyModifiers::NONE, KeyModifiers::CONTROL] {
                let key = KeyEvent::new(code, mods);
                for a in [
                    super::super::keymap::action(&key),
                    super::super::keymap::filter_action(&key),
                ]
                .into_iter()
                .flatten()
                {
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
        out
    }

    /// One message of every kind: the data ones as a real session recorded them (the committed
    /// recording), their failures as JSON, the rest built here.
    fn every_msg() -> Vec<Msg> {
        let mut out: Vec<Msg> = every_action().into_iter().map(Msg::Action).collect();
        out.extend([
            Msg::Started(1_767_268_800_000),
            Msg::Tick(1_767_268_800_250),
            Msg::Resize,
            Msg::Reconciled {
                rollout: 1,
                notes: vec!["an earlier write has no recorded outcome".into()],
            },
            Msg::Shutdown("SIGHUP: terminal hung up".into()),
        ]);
        let recorded = include_str!("../../examples/recordings/regression.jsonl");
        for l in recorded.lines().skip(1) {
            if let Ok((_, Some(m))) = crate::record::read_line(1, l)
                && !out.iter().any(|o| variant(o) == variant(&m))
            {
                out.push(m);
            }
        }
        for failed in [
            r#"{"type":"flag_read","rollout":0,"at_ms":5,"result":{"Err":{"transport":"down"}}}"#,
            r#"{"type":"flag_events","rollout":0,"at_ms":5,"result":{"Err":"unauthorized"}}"#,
            r#"{"type":"metrics_polled","rollout":2,"at_ms":5,"result":{"Err":{"timeout":2000}}}"#,
            r#"{"type":"backfilled","rollout":0,"result":{"Err":{"no_data":"empty"}}}"#,
            r#"{"type":"also_read","rollout":0,"at_ms":5,"results":[{"Err":"unauthorized"}]}"#,
            r#"{"type":"discovered","at_ms":5,"result":{"Ok":{"added":[],"gone":["flag-001"]}}}"#,
            r#"{"type":"discovered","at_ms":5,"result":{"Err":"fleet `f`: HTTP 503"}}"#,
        ] {
            out.push(serde_json::from_str(failed).expect(failed));
        }
        let landed = out.iter().find_map(|m| match m {
            Msg::WriteDone { result, .. } => Some(result.as_ref().clone()),
            _ => None,
        });
        if let Some(result) = landed {
            let request = result.request.clone();
            out.push(Msg::GroupWriteDone {
                rollout: 0,
                at_ms: 9,
                result: Box::new(GroupResult {
                    group: "g-1".into(),
                    keep_going: false,
                    done: vec![crate::flags::write::group::FlagWriteResult {
                        flag: 0,
                        name: "a".into(),
                        result,
                    }],
                    skipped: vec![FlagWrite {
                        flag: 1,
                        name: "b".into(),
                        request,
                    }],
                }),
            });
        }
        out
    }

    #[test]
    fn every_message_round_trips_through_json() {
        let all = every_msg();
        let mut seen = [false; VARIANTS];
        let mut actions = [false; ACTIONS];
        for m in &all {
            seen[variant(m)] = true;
            if let Msg::Action(a) = m {
                actions[action_variant(*a)] = true;
            }
            let text = serde_json::to_string(m).unwrap();
            let back: Msg = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&back, m, "{text}");
            let kind = serde_json::from_str::<serde_json::Value>(&text).unwrap()["type"].clone();
            assert!(kind.is_string(), "tagged with its kind: {text}");
        }
        assert!(
            seen.iter().all(|s| *s),
            "a message kind is missing: {seen:?}"
        );
        assert!(
            actions.iter().all(|s| *s),
            "an action is missing: {actions:?}"
        );
    }

    #[test]
    fn messages_read_as_recording_format_1_wrote_them() {
        let tick: Msg = serde_json::from_str(r#"{"type":"tick","now_ms":12}"#).unwrap();
        assert_eq!(tick, Msg::Tick(12));
        let stop: Msg = serde_json::from_str(r#"{"type":"shutdown","reason":"SIGTERM"}"#).unwrap();
        assert_eq!(stop, Msg::Shutdown("SIGTERM".into()));
        assert_eq!(
            serde_json::to_string(&Msg::Action(Action::Range(2))).unwrap(),
            r#"{"type":"action","action":{"range":2}}"#
        );
    }
}
