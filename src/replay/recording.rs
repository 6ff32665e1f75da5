//! Reading a recording: the header, every message line checked, and the errors that say where.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::check;
use crate::app::Msg;
use crate::record::{self, FORMAT, Header, LineError};

/// Why a recording could not be read.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The file is not a recording this rollwatch can play: `FILE:LINE: what was expected`
    /// (`line N: …` when parsed from text without a file).
    #[error("{}: {message}", file.as_ref().map_or_else(|| format!("line {line}"), |f| format!("{f}:{line}")))]
    Invalid {
        /// The file, when read from one.
        file: Option<String>,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what was expected.
        message: String,
    },
}

impl ReplayError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        Self::Invalid {
            file: None,
            line,
            message: message.into(),
        }
    }

    fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Invalid { line, message, .. } => Self::Invalid {
                file: Some(path.display().to_string()),
                line,
                message,
            },
            io @ Self::Io { .. } => io,
        }
    }
}

/// A JSON error in words, without serde's own position (the line is ours, the column is kept).
fn json_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    if e.column() > 0 {
        format!("{what} (column {})", e.column())
    } else {
        what.to_owned()
    }
}

/// One recorded message with its clock time.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Clock time it was applied at (Unix ms), never before the previous entry's.
    pub t: i64,
    /// The message.
    pub msg: Msg,
}

/// A recording read into memory.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The header.
    pub header: Header,
    /// The messages in order.
    pub entries: Vec<Entry>,
    /// A cut-short last line was skipped (the session was killed mid-write).
    pub truncated: bool,
}

impl Recording {
    /// Reads a recording file. Every refusal names the file and the line.
    ///
    /// # Errors
    /// When the file cannot be read or is not a recording (see [`Recording::parse`]).
    pub fn load(path: &Path) -> Result<Self, ReplayError> {
        let bytes = std::fs::read(path).map_err(|source| ReplayError::Io {
            path: path.to_owned(),
            source,
        })?;
        let parsed = match std::str::from_utf8(&bytes) {
            Ok(text) => Self::parse(text),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                let cut = good.iter().rposition(|b| *b == b'\n');
                let in_last_line = !bytes[e.valid_up_to()..].contains(&b'\n');
                match cut {
                    // Killed in the middle of a character of the last line: cut short.
                    Some(end) if in_last_line => {
                        // The bytes up to a newline before the first bad one are UTF-8.
                        let text = std::str::from_utf8(&bytes[..=end]).unwrap_or_default();
                        Self::parse(text).map(|mut r| {
                            r.truncated = true;
                            r
                        })
                    }
                    #[allow(clippy::naive_bytecount)] // an error path; no crate for it
                    _ => Err(ReplayError::at(
                        good.iter().filter(|b| **b == b'\n').count() + 1,
                        "not UTF-8 text: expected JSON lines",
                    )),
                }
            }
        };
        parsed.map_err(|e| e.in_file(path))
    }

    /// Parses a recording, as strictly as a config: the header on the first line (format,
    /// times, rollouts that `check-config` would accept), then one message per line whose
    /// times never go back and whose rollouts exist. Blank lines are skipped; a last line cut
    /// short (no newline after it, its JSON unfinished) is dropped and flagged
    /// ([`Recording::truncated`]); anything else that is wrong is an error naming its line.
    /// So nothing in a recording can make the replay panic.
    ///
    /// # Errors
    /// When the text is not a recording.
    pub fn parse(text: &str) -> Result<Self, ReplayError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (first_n, first) = lines
            .next()
            .ok_or_else(|| ReplayError::at(1, "empty recording: expected a header line"))?;
        // The version first: a newer format may not parse as this one's header.
        let version = serde_json::from_str::<serde_json::Value>(first)
            .ok()
            .and_then(|v| {
                v.get("rollwatch_recording")
                    .and_then(serde_json::Value::as_u64)
            });
        if let Some(v) = version.filter(|v| *v > u64::from(FORMAT)) {
            return Err(ReplayError::at(
                first_n + 1,
                format!("recording format {v} is newer than this rollwatch reads ({FORMAT})"),
            ));
        }
        let header: Header = serde_json::from_str(first).map_err(|e| {
            let why = if record::is_message_line(first) {
                "a message where the header belongs: expected the header line first".to_owned()
            } else {
                format!("not a rollwatch recording header: {}", json_problem(&e))
            };
            ReplayError::at(first_n + 1, why)
        })?;
        check::header(&header).map_err(|m| ReplayError::at(first_n + 1, m))?;
        let rest: Vec<(usize, &str)> = lines.collect();
        let mut entries = Vec::with_capacity(rest.len());
        let mut truncated = false;
        let mut last_t = header.started_ms;
        // The rollouts that exist at each line: the header's and those discovered since.
        let mut seen = header.clone();
        for (k, (n, l)) in rest.iter().enumerate() {
            let (t, msg) = match record::read_line(header.rollwatch_recording, l) {
                Ok(line) => line,
                Err(LineError::Json(e))
                    if e.is_eof() && k + 1 == rest.len() && !text.ends_with('\n') =>
                {
                    truncated = true;
                    break;
                }
                Err(LineError::Json(e)) => {
                    let why = if serde_json::from_str::<Header>(l).is_ok() {
                        "a second header: expected one header, on the first line".to_owned()
                    } else {
                        json_problem(&e)
                    };
                    return Err(ReplayError::at(n + 1, why));
                }
                Err(LineError::Invalid(why)) => return Err(ReplayError::at(n + 1, why)),
            };
            check::line(&seen, last_t, t, msg.as_ref()).map_err(|m| ReplayError::at(n + 1, m))?;
            last_t = t;
            if let Some(Msg::Discovered {
                result: Ok(found), ..
            }) = &msg
            {
                seen.rollouts
                    .extend(found.added.iter().map(|f| record::RecordedRollout {
                        def: f.rollout.clone(),
                        flag_backend: f.flag.clone(),
                        metrics_source: f.metrics.clone(),
                    }));
            }
            if let Some(msg) = msg {
                entries.push(Entry { t, msg });
            }
        }
        Ok(Self {
            header,
            entries,
            truncated,
        })
    }

    /// Clock time the recording starts at.
    #[must_use]
    pub fn start_ms(&self) -> i64 {
        self.header.started_ms
    }

    /// Clock time of the last message.
    #[must_use]
    pub fn end_ms(&self) -> i64 {
        self.entries.last().map_or(self.start_ms(), |e| e.t)
    }
}
