//! Session recording (`--record FILE`): every message that reaches `update`, with the clock
//! time it was applied at, streamed to a JSON-lines file. Because `update` is pure and its only
//! input is the message stream, feeding the same messages through it again (see
//! [`crate::replay`]) rebuilds the same states and therefore the same screens.
//!
//! Format (version [`FORMAT`]): the header, then each [`Msg`] as serde writes it.
//!
//! ```text
//! {"rollwatch_recording":2,"started_ms":…,"clock_speed":10.0,"rollouts":[…],…}   header
//! {"t":1767268800000,"msg":{"type":"started","now_ms":1767268800000}}             one per message
//! {"t":1767268800012,"msg":{"type":"flag_read","rollout":0,"at_ms":…,"result":{"Ok":{…}}}}
//! {"t":1767268801250,"msg":{"type":"action","action":"rollback"}}
//! ```
//!
//! Format 1 differs only in its key lines (`{"type":"key","code":"r"}`): [`read_line`] turns
//! each into the action the key is bound to, so old recordings replay as they did.
//!
//! The header holds what the initial [`State`] is built from (rollout definitions with steps,
//! metrics and rules, backend descriptions, poll interval, themes). Messages never carry
//! tokens, and neither does the header: backends describe themselves without credentials.
//! Lines are written as they happen and flushed after every batch, so `tail -f` follows a
//! session and memory stays bounded however long it runs.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::app::{Msg, RolloutState, State};
use crate::model::Rollout;

mod v1;

pub use v1::key_problem;

/// Version of the recording format written in the header. Format 2 records actions (what a
/// key or a click asked for); format 1 recorded the keys themselves and is still read.
pub const FORMAT: u32 = 2;

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
    /// The session opened on the fleet table (recordings without this field opened on the
    /// first rollout's dashboard).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fleet: bool,
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
            fleet: state.view == crate::app::View::Fleet,
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
        if self.fleet {
            crate::app::fleet::open_at_start(&mut s);
        }
        s
    }
}

/// One recorded line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Clock time when the message was applied (Unix ms).
    pub t: i64,
    /// The message.
    pub msg: Msg,
}

/// Why a message line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// Not JSON, or not a message of the format.
    Json(serde_json::Error),
    /// JSON of the right shape holding something a recording never does, in words.
    Invalid(String),
}

/// Reads one message line of a recording in format `format` (the header's): the clock time,
/// and the message when the line still is one (format 1 recorded keys, which become the
/// action they are bound to; a key bound to nothing, a release, was never a message for
/// `update` and comes back as `None`).
///
/// # Errors
/// When the line is not a message of that format.
pub fn read_line(format: u32, text: &str) -> Result<(i64, Option<Msg>), LineError> {
    if format == 1 {
        return v1::line(text);
    }
    let line: Line = serde_json::from_str(text).map_err(LineError::Json)?;
    Ok((line.t, Some(line.msg)))
}

/// Whether `text` is a message line of either format (to say so when one stands where the
/// header belongs).
#[must_use]
pub fn is_message_line(text: &str) -> bool {
    read_line(FORMAT, text).is_ok() || v1::line(text).is_ok()
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
        #[derive(Serialize)]
        struct Out<'m> {
            t: i64,
            msg: &'m Msg,
        }
        self.write_line(&Out { t, msg });
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
    fn format_1_keys_become_their_actions() {
        use crate::app::keymap::Action;
        let read = |msg: &str| read_line(1, &format!(r#"{{"t":5,"msg":{msg}}}"#)).unwrap();
        assert_eq!(
            read(r#"{"type":"key","code":"r"}"#),
            (5, Some(Msg::Action(Action::Rollback)))
        );
        assert_eq!(
            read(r#"{"type":"key","code":"c","mods":["ctrl"]}"#),
            (5, Some(Msg::Action(Action::Interrupt)))
        );
        assert_eq!(
            read(r#"{"type":"key","code":"BackTab","mods":["shift"]}"#),
            (5, Some(Msg::Action(Action::PrevRollout)))
        );
        assert_eq!(
            read(r#"{"type":"key","code":"y","kind":"release"}"#),
            (5, None)
        );
        assert_eq!(
            read(r#"{"type":"tick","now_ms":7}"#),
            (5, Some(Msg::Tick(7)))
        );
        // Format 2 has no key lines, format 1 no action lines.
        assert!(read_line(2, r#"{"t":5,"msg":{"type":"key","code":"r"}}"#).is_err());
        assert!(read_line(1, r#"{"t":5,"msg":{"type":"action","action":"bump"}}"#).is_err());
    }

    #[test]
    fn an_action_is_one_short_line() {
        let msg = Msg::Action(crate::app::keymap::Action::Rollback);
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(text, r#"{"type":"action","action":"rollback"}"#);
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
