//! Session recording (`--record FILE`): every message that reaches `update`, with the clock
//! time it was applied at, streamed to a JSON-lines file. Because `update` is pure and its only
//! input is the message stream, feeding the same messages through it again (see
//! [`crate::replay`]) rebuilds the same states and therefore the same screens.
//!
//! Format (version [`FORMAT`]):
//!
//! ```text
//! {"rollwatch_recording":1,"started_ms":…,"clock_speed":10.0,"rollouts":[…],…}   header
//! {"t":1767268800000,"msg":{"type":"tick","now_ms":1767268800000}}                one per message
//! {"t":1767268800012,"msg":{"type":"flag_read","rollout":0,"at_ms":…,"result":{"Ok":{…}}}}
//! {"t":1767268801250,"msg":{"type":"key","code":"r"}}
//! ```
//!
//! The header holds what the initial [`State`] is built from (rollout definitions with steps,
//! metrics and rules, backend descriptions, poll interval, themes). Messages never carry
//! tokens, and neither does the header: backends describe themselves without credentials.
//! Lines are written as they happen and flushed after every batch, so `tail -f` follows a
//! session and memory stays bounded however long it runs.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::app::{Msg, RolloutState, State};
use crate::flags::write::WriteResult;
use crate::flags::{FlagError, FlagEvent};
use crate::metrics::{Backfill, MetricsError, Poll};
use crate::model::{FlagSnapshot, Rollout};

/// Version of the recording format written in the header.
pub const FORMAT: u32 = 1;

/// Why a recording could not be started.
#[derive(Debug, Error)]
pub enum RecordError {
    /// The file is already there: recordings are never overwritten.
    #[error(
        "{0}: already exists; recordings are never overwritten (remove it or pick another name)"
    )]
    Exists(PathBuf),
    /// Creating or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

/// A rollout as recorded in the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRollout {
    /// Its definition: name, environment, steps, metrics, rules.
    pub def: Rollout,
    /// Flag backend description shown in the header.
    pub flag_backend: String,
    /// Metrics source description shown in the header.
    pub metrics_source: String,
}

/// The first line of a recording: enough to rebuild the initial [`State`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format version ([`FORMAT`]).
    pub rollwatch_recording: u32,
    /// rollwatch version that wrote it.
    pub rollwatch: String,
    /// What was recorded (`demo --scenario regression --seed 42`, `watch`).
    pub command: String,
    /// Clock time of the initial state (Unix ms).
    pub started_ms: i64,
    /// Clock seconds per real second while recording (the demo's `--speed`, 1 for `watch`);
    /// replay plays at this speed unless told otherwise.
    pub clock_speed: f64,
    /// Poll interval (clock ms).
    pub refresh_ms: i64,
    /// Writes were disabled while recording.
    pub read_only: bool,
    /// Theme names, in the order the `t` key cycles through them.
    pub themes: Vec<String>,
    /// The watched rollouts.
    pub rollouts: Vec<RecordedRollout>,
}

impl Header {
    /// The header describing `state`, the initial state of a session.
    #[must_use]
    pub fn from_state(state: &State, clock_speed: f64, command: &str) -> Self {
        Self {
            rollwatch_recording: FORMAT,
            rollwatch: env!("CARGO_PKG_VERSION").into(),
            command: command.into(),
            started_ms: state.now_ms,
            clock_speed,
            refresh_ms: state.refresh_ms,
            read_only: state.read_only,
            themes: state.themes.clone(),
            rollouts: state
                .rollouts
                .iter()
                .map(|r| RecordedRollout {
                    def: r.def.clone(),
                    flag_backend: r.flag_backend.clone(),
                    metrics_source: r.metrics_source.clone(),
                })
                .collect(),
        }
    }

    /// The initial state the recorded session started from.
    #[must_use]
    pub fn initial_state(&self, ascii: bool) -> State {
        let rollouts = self
            .rollouts
            .iter()
            .map(|r| {
                RolloutState::new(
                    r.def.clone(),
                    r.flag_backend.clone(),
                    r.metrics_source.clone(),
                    self.started_ms,
                )
            })
            .collect();
        let mut s = State::new(rollouts, self.refresh_ms, self.started_ms);
        s.read_only = self.read_only;
        if !self.themes.is_empty() {
            s.themes.clone_from(&self.themes);
        }
        s.ascii = ascii;
        s
    }
}

/// One recorded line after the header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    /// Clock time when the message was applied (Unix ms).
    pub t: i64,
    /// The message.
    pub msg: RecMsg,
}

/// A serializable mirror of [`Msg`]. Every variant maps both ways without loss, except key
/// codes rollwatch never binds (media keys and the like), which come back as `KeyCode::Null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum RecMsg {
    /// A key press: `code` is the character or the key's name (`Enter`, `Tab`, `Left`, `F5`).
    Key {
        code: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mods: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
    },
    Tick {
        now_ms: i64,
    },
    Resize,
    FlagRead {
        rollout: usize,
        at_ms: i64,
        result: Result<FlagSnapshot, FlagError>,
    },
    FlagEvents {
        rollout: usize,
        at_ms: i64,
        result: Result<Vec<FlagEvent>, FlagError>,
    },
    MetricsPolled {
        rollout: usize,
        at_ms: i64,
        result: Result<Poll, MetricsError>,
    },
    Backfilled {
        rollout: usize,
        result: Result<Backfill, MetricsError>,
    },
    WriteDone {
        rollout: usize,
        at_ms: i64,
        result: Box<WriteResult>,
    },
    Reconciled {
        rollout: usize,
        notes: Vec<String>,
    },
    Shutdown {
        reason: String,
    },
}

const MODS: [(KeyModifiers, &str); 6] = [
    (KeyModifiers::SHIFT, "shift"),
    (KeyModifiers::CONTROL, "ctrl"),
    (KeyModifiers::ALT, "alt"),
    (KeyModifiers::SUPER, "super"),
    (KeyModifiers::HYPER, "hyper"),
    (KeyModifiers::META, "meta"),
];

const NAMED: [(KeyCode, &str); 15] = [
    (KeyCode::Enter, "Enter"),
    (KeyCode::Esc, "Esc"),
    (KeyCode::Tab, "Tab"),
    (KeyCode::BackTab, "BackTab"),
    (KeyCode::Backspace, "Backspace"),
    (KeyCode::Delete, "Delete"),
    (KeyCode::Insert, "Insert"),
    (KeyCode::Left, "Left"),
    (KeyCode::Right, "Right"),
    (KeyCode::Up, "Up"),
    (KeyCode::Down, "Down"),
    (KeyCode::Home, "Home"),
    (KeyCode::End, "End"),
    (KeyCode::PageUp, "PageUp"),
    (KeyCode::PageDown, "PageDown"),
];

fn code_name(code: KeyCode) -> String {
    match code {
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        other => NAMED
            .iter()
            .find(|(k, _)| *k == other)
            .map_or_else(|| "Null".to_owned(), |(_, n)| (*n).to_owned()),
    }
}

/// The key a recorded name stands for: what [`code_name`] writes, `None` for anything else.
fn parse_code(name: &str) -> Option<KeyCode> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(KeyCode::Char(c));
    }
    if name == "Null" {
        return Some(KeyCode::Null);
    }
    if let Some(n) = name.strip_prefix('F').and_then(|n| n.parse().ok()) {
        return Some(KeyCode::F(n));
    }
    NAMED.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
}

fn code_of(name: &str) -> KeyCode {
    parse_code(name).unwrap_or(KeyCode::Null)
}

/// What is wrong with a recorded key, if anything: a code, modifiers and kind that
/// [`RecMsg::from`] can write. Replay refuses the rest rather than guessing.
///
/// # Errors
/// The first part that a recording never holds, in words.
pub fn key_problem(code: &str, mods: &[String], kind: Option<&str>) -> Result<(), String> {
    if parse_code(code).is_none() {
        return Err(format!(
            "key `{code}`: expected one character, F<number>, Null or one of {}",
            NAMED.map(|(_, n)| n).join(", ")
        ));
    }
    if let Some(m) = mods.iter().find(|m| !MODS.iter().any(|(_, n)| n == m)) {
        return Err(format!(
            "key modifier `{m}`: expected {}",
            MODS.map(|(_, n)| n).join(", ")
        ));
    }
    match kind {
        None | Some("repeat" | "release") => Ok(()),
        Some(k) => Err(format!(
            "key kind `{k}`: expected repeat or release (a press has none)"
        )),
    }
}

impl From<&Msg> for RecMsg {
    fn from(m: &Msg) -> Self {
        match m.clone() {
            Msg::Key(k) => RecMsg::Key {
                code: code_name(k.code),
                mods: MODS
                    .iter()
                    .filter(|(m, _)| k.modifiers.contains(*m))
                    .map(|(_, n)| (*n).to_owned())
                    .collect(),
                kind: match k.kind {
                    KeyEventKind::Press => None,
                    KeyEventKind::Repeat => Some("repeat".into()),
                    KeyEventKind::Release => Some("release".into()),
                },
            },
            Msg::Tick(now_ms) => RecMsg::Tick { now_ms },
            Msg::Resize => RecMsg::Resize,
            Msg::FlagRead {
                rollout,
                at_ms,
                result,
            } => RecMsg::FlagRead {
                rollout,
                at_ms,
                result,
            },
            Msg::FlagEvents {
                rollout,
                at_ms,
                result,
            } => RecMsg::FlagEvents {
                rollout,
                at_ms,
                result,
            },
            Msg::MetricsPolled {
                rollout,
                at_ms,
                result,
            } => RecMsg::MetricsPolled {
                rollout,
                at_ms,
                result,
            },
            Msg::Backfilled { rollout, result } => RecMsg::Backfilled { rollout, result },
            Msg::WriteDone {
                rollout,
                at_ms,
                result,
            } => RecMsg::WriteDone {
                rollout,
                at_ms,
                result,
            },
            Msg::Reconciled { rollout, notes } => RecMsg::Reconciled { rollout, notes },
            Msg::Shutdown(reason) => RecMsg::Shutdown { reason },
        }
    }
}

impl From<RecMsg> for Msg {
    fn from(m: RecMsg) -> Self {
        match m {
            RecMsg::Key { code, mods, kind } => {
                let modifiers = MODS
                    .iter()
                    .filter(|(_, n)| mods.iter().any(|m| m == n))
                    .fold(KeyModifiers::NONE, |acc, (m, _)| acc | *m);
                let kind = match kind.as_deref() {
                    Some("repeat") => KeyEventKind::Repeat,
                    Some("release") => KeyEventKind::Release,
                    _ => KeyEventKind::Press,
                };
                Msg::Key(KeyEvent::new_with_kind(code_of(&code), modifiers, kind))
            }
            RecMsg::Tick { now_ms } => Msg::Tick(now_ms),
            RecMsg::Resize => Msg::Resize,
            RecMsg::FlagRead {
                rollout,
                at_ms,
                result,
            } => Msg::FlagRead {
                rollout,
                at_ms,
                result,
            },
            RecMsg::FlagEvents {
                rollout,
                at_ms,
                result,
            } => Msg::FlagEvents {
                rollout,
                at_ms,
                result,
            },
            RecMsg::MetricsPolled {
                rollout,
                at_ms,
                result,
            } => Msg::MetricsPolled {
                rollout,
                at_ms,
                result,
            },
            RecMsg::Backfilled { rollout, result } => Msg::Backfilled { rollout, result },
            RecMsg::WriteDone {
                rollout,
                at_ms,
                result,
            } => Msg::WriteDone {
                rollout,
                at_ms,
                result,
            },
            RecMsg::Reconciled { rollout, notes } => Msg::Reconciled { rollout, notes },
            RecMsg::Shutdown { reason } => Msg::Shutdown(reason),
        }
    }
}

/// What the caller knows about the session that the state does not.
#[derive(Debug, Clone)]
pub struct RecordMeta {
    /// Clock seconds per real second.
    pub clock_speed: f64,
    /// What was recorded, in words.
    pub command: String,
}

/// Streams a session to a file. Writing is best effort: the first failure stops the
/// recording (the dashboard goes on) and is kept for [`Recorder::finish`] to report.
pub struct Recorder {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    meta: RecordMeta,
    started: bool,
    lines: u64,
    error: Option<io::Error>,
}

impl Recorder {
    /// Creates `path` (never overwrites). Nothing is written until [`Recorder::begin`].
    ///
    /// # Errors
    /// When the file exists or cannot be created.
    pub fn create(path: &Path, meta: RecordMeta) -> Result<Self, RecordError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| RecordError::Io {
                path: path.to_owned(),
                source,
            })?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| {
                if source.kind() == io::ErrorKind::AlreadyExists {
                    RecordError::Exists(path.to_owned())
                } else {
                    RecordError::Io {
                        path: path.to_owned(),
                        source,
                    }
                }
            })?;
        Ok(Self {
            path: path.to_owned(),
            out: Some(BufWriter::new(file)),
            meta,
            started: false,
            lines: 0,
            error: None,
        })
    }

    /// Writes the header from the session's initial state (once; later calls do nothing).
    pub fn begin(&mut self, initial: &State) {
        if self.started {
            return;
        }
        self.started = true;
        let header = Header::from_state(initial, self.meta.clock_speed, &self.meta.command);
        self.write_line(&header);
        self.flush();
    }

    /// Appends one message applied at clock time `t`. Buffered: call [`Recorder::flush`]
    /// after a batch.
    pub fn record(&mut self, t: i64, msg: &Msg) {
        self.write_line(&Line {
            t,
            msg: RecMsg::from(msg),
        });
    }

    /// Pushes buffered lines to the file.
    pub fn flush(&mut self) {
        if let Some(out) = &mut self.out
            && let Err(e) = out.flush()
        {
            self.fail(e);
        }
    }

    /// Message lines written so far (the header not counted).
    #[must_use]
    pub fn lines(&self) -> u64 {
        self.lines.saturating_sub(1)
    }

    /// Flushes and closes the file; says why the recording stopped early, if it did.
    ///
    /// # Errors
    /// The first write error, with the file name.
    pub fn finish(mut self) -> Result<PathBuf, RecordError> {
        self.flush();
        self.out = None;
        match self.error.take() {
            Some(source) => Err(RecordError::Io {
                path: self.path,
                source,
            }),
            None => Ok(self.path),
        }
    }

    fn write_line<T: Serialize>(&mut self, v: &T) {
        let Some(out) = &mut self.out else { return };
        let r = serde_json::to_writer(&mut *out, v)
            .map_err(io::Error::other)
            .and_then(|()| out.write_all(b"\n"));
        match r {
            Ok(()) => self.lines += 1,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.out = None;
        self.error.get_or_insert(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let keys = [
            KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE),
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
            KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
            KeyEvent::new(KeyCode::F(5), KeyModifiers::ALT),
            KeyEvent::new_with_kind(
                KeyCode::Char('y'),
                KeyModifiers::NONE,
                KeyEventKind::Release,
            ),
        ];
        for k in keys {
            let text = serde_json::to_string(&RecMsg::from(&Msg::Key(k))).unwrap();
            let back: RecMsg = serde_json::from_str(&text).unwrap();
            let Msg::Key(got) = Msg::from(back) else {
                panic!("not a key: {text}")
            };
            assert_eq!(
                (got.code, got.modifiers, got.kind),
                (k.code, k.modifiers, k.kind)
            );
        }
    }

    #[test]
    fn a_plain_key_is_one_short_line() {
        let k = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE);
        let text = serde_json::to_string(&RecMsg::from(&Msg::Key(k))).unwrap();
        assert_eq!(text, r#"{"type":"key","code":"r"}"#);
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        std::fs::write(&p, "keep me").unwrap();
        let meta = RecordMeta {
            clock_speed: 1.0,
            command: "watch".into(),
        };
        assert!(matches!(
            Recorder::create(&p, meta),
            Err(RecordError::Exists(_))
        ));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep me");
    }
}
