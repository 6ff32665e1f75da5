//! The append-only audit log: one JSON object per line, an *intent* record before every write
//! request and an *outcome* record after it. Files are opened in append mode for each record
//! and flushed before the request goes out, so a crash leaves at worst a dangling intent,
//! which the next start reconciles. Tokens never reach this module.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};

use serde::{Deserialize, Serialize};

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339 time of the record.
    pub time: String,
    /// Identifier pairing an intent with its outcome.
    pub write_id: String,
    /// `intent` or `outcome`.
    pub phase: String,
    /// OS user running rollwatch.
    pub user: String,
    /// Host name.
    pub host: String,
    /// Rollout name.
    pub rollout: String,
    /// Environment of the flag.
    pub environment: String,
    /// Backend description (never a token).
    pub backend: String,
    /// What was asked: `set`, `rollback`, `enable`, `disable`.
    pub action: String,
    /// The percentage the operator saw.
    pub expected_percent: u8,
    /// Whether the flag was enabled when seen.
    pub expected_enabled: bool,
    /// The percentage (or enabled state as 0/1 for enable/disable) asked for.
    pub new_value: u8,
    /// Why: `operator`, a rule name, `script`.
    pub reason: String,
    /// Outcome records: `ok`, `conflict`, `refused`, `error`, `unknown`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outcome: Option<String>,
    /// Outcome details in words (current value on conflict, error message).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// The `[[rollout.also]]` flag written (its name); absent for the rollout's own flag.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub flag: Option<String>,
    /// The id shared by the writes of one group (the flags of a rollout moved together).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group: Option<String>,
}

/// Where audit records go. `None` path disables the log (tests of pure logic only). Record
/// times come from the injected clock (the demo's scaled time, the wall clock otherwise), the
/// same clock the screen shows.
#[derive(Clone)]
pub struct AuditLog {
    path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Errors writing the audit log.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    path: String,
    source: std::io::Error,
}

impl AuditLog {
    /// A log appending to `path`, creating its folder when needed.
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        Self {
            path: Some(path),
            clock: Arc::new(SystemClock),
        }
    }

    /// A log that records nothing.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            path: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same log, timing its records with `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The clock's now, Unix ms.
    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The clock's now as RFC 3339, for a record's `time`.
    #[must_use]
    pub fn now_rfc3339(&self) -> String {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.now_ms())
            .unwrap_or_default()
            .to_rfc3339()
    }

    /// [`AuditLog::append`] on a blocking thread, so the file's `sync` never stalls the async
    /// workers that poll the backends.
    ///
    /// # Errors
    /// As [`AuditLog::append`]; a blocking task that could not run is an error too.
    pub async fn append_off_thread(&self, rec: AuditRecord) -> Result<(), AuditError> {
        let log = self.clone();
        let path = self
            .path
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        tokio::task::spawn_blocking(move || log.append(&rec))
            .await
            .unwrap_or_else(|e| {
                Err(AuditError {
                    path,
                    source: std::io::Error::other(e),
                })
            })
    }

    /// The file records go to.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The default location: `$XDG_STATE_HOME/rollwatch/audit.jsonl`
    /// (`~/.local/state/rollwatch/audit.jsonl`).
    #[must_use]
    pub fn default_path() -> PathBuf {
        crate::paths::state_dir().join("audit.jsonl")
    }

    /// Appends one record and flushes it to the OS.
    ///
    /// # Errors
    /// When the folder cannot be created or the file cannot be written.
    pub fn append(&self, rec: &AuditRecord) -> Result<(), AuditError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let err = |source| AuditError {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut line = serde_json::to_string(rec).map_err(|e| err(std::io::Error::other(e)))?;
        line.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        f.write_all(line.as_bytes()).map_err(err)?;
        f.sync_data().map_err(err)
    }

    /// All records in the file; unreadable lines are skipped (the file is append-only and a
    /// crash can leave a torn last line).
    #[must_use]
    pub fn read_all(&self) -> Vec<AuditRecord> {
        let Some(path) = &self.path else {
            return Vec::new();
        };
        std::fs::read_to_string(path)
            .map(|s| {
                s.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Intents that have no outcome record (the process died mid-write), for `rollout`.
    #[must_use]
    pub fn dangling_intents(&self, rollout: &str) -> Vec<AuditRecord> {
        self.dangling_intents_of(rollout, None)
    }

    /// [`Self::dangling_intents`] of one flag of `rollout`: its own (`None`) or the
    /// `[[rollout.also]]` flag named.
    #[must_use]
    pub fn dangling_intents_of(&self, rollout: &str, flag: Option<&str>) -> Vec<AuditRecord> {
        let all = self.read_all();
        all.iter()
            .filter(|r| r.phase == "intent" && r.rollout == rollout && r.flag.as_deref() == flag)
            .filter(|i| {
                !all.iter()
                    .any(|o| o.phase == "outcome" && o.write_id == i.write_id)
            })
            .cloned()
            .collect()
    }

    /// The newest write of `rollout` that landed: when (Unix ms, its outcome record) and the
    /// effective percentage it left (0 when it switched the flag off or left it off). Lets a
    /// fresh process (`status`) date the current step from the write that began it, so counts
    /// "since the step began" are not counts since the process started.
    #[must_use]
    pub fn last_landed_step(&self, rollout: &str) -> Option<(i64, u8)> {
        let last = self.read_all().into_iter().rev().find(|r| {
            r.rollout == rollout && r.flag.is_none() && r.outcome.as_deref() == Some("ok")
        })?;
        let percent = match last.action.as_str() {
            "disable" => 0,
            "enable" => last.expected_percent,
            _ if last.expected_enabled => last.new_value,
            _ => 0,
        };
        let at = chrono::DateTime::parse_from_rfc3339(&last.time).ok()?;
        Some((at.timestamp_millis(), percent))
    }

    /// When the newest write of `rollout` that landed took it from serving traffic to none
    /// (a rollback, a set to 0 %, the kill switch off), as Unix ms; `None` when the newest
    /// landed write did not, or there is none. Lets a fresh process (`status`) name a rolled
    /// back rollout ROLLED BACK rather than SHADOW.
    #[must_use]
    pub fn last_rollback_ms(&self, rollout: &str) -> Option<i64> {
        let last = self.read_all().into_iter().rev().find(|r| {
            r.rollout == rollout && r.flag.is_none() && r.outcome.as_deref() == Some("ok")
        })?;
        let to_zero = match last.action.as_str() {
            "disable" => last.expected_enabled && last.expected_percent > 0,
            "rollback" | "set" => last.new_value == 0 && last.expected_percent > 0,
            _ => false,
        };
        if !to_zero {
            return None;
        }
        chrono::DateTime::parse_from_rfc3339(&last.time)
            .ok()
            .map(|t| t.timestamp_millis())
    }
}

/// The OS user name: the real uid looked up in `/etc/passwd`, else `USER`/`LOGNAME`, else
/// `uid:N`. The uid is read from the kernel, so an unset `USER` (cron, tmux) still names the
/// person.
#[must_use]
pub fn os_user() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        });
    if let Some(uid) = &uid
        && let Ok(passwd) = std::fs::read_to_string("/etc/passwd")
        && let Some(name) = passwd.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)? == uid).then(|| name.to_owned())
        })
    {
        return name;
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| uid.map_or_else(|| "unknown".into(), |u| format!("uid:{u}")))
}

/// The host name, from the kernel, or `unknown`.
#[must_use]
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, phase: &str) -> AuditRecord {
        AuditRecord {
            time: "2026-01-01T00:00:00Z".into(),
            write_id: id.into(),
            phase: phase.into(),
            user: "u".into(),
            host: "h".into(),
            rollout: "r".into(),
            environment: "prod".into(),
            backend: "memory".into(),
            action: "set".into(),
            expected_percent: 5,
            expected_enabled: true,
            new_value: 25,
            reason: "operator".into(),
            outcome: (phase == "outcome").then(|| "ok".into()),
            detail: None,
            flag: None,
            group: None,
        }
    }

    #[test]
    fn appends_and_finds_dangling_intents() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("sub/audit.jsonl"));
        log.append(&rec("a", "intent")).unwrap();
        log.append(&rec("a", "outcome")).unwrap();
        log.append(&rec("b", "intent")).unwrap();
        assert_eq!(log.read_all().len(), 3);
        let d = log.dangling_intents("r");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].write_id, "b");
    }

    #[test]
    fn a_torn_last_line_does_not_hide_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        log.append(&rec("a", "intent")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"time\":")
            .unwrap();
        assert_eq!(log.read_all().len(), 1);
    }

    #[test]
    fn the_last_landed_write_dates_the_step_it_began() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("audit.jsonl"));
        assert_eq!(log.last_landed_step("r"), None);
        log.append(&rec("a", "intent")).unwrap();
        assert_eq!(
            log.last_landed_step("r"),
            None,
            "an intent is not a landed write"
        );
        log.append(&rec("a", "outcome")).unwrap();
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(log.last_landed_step("r"), Some((t, 25)));
        // The kill switch leaves the flag serving nothing.
        let off = AuditRecord {
            action: "disable".into(),
            new_value: 0,
            ..rec("b", "outcome")
        };
        log.append(&off).unwrap();
        assert_eq!(log.last_landed_step("r"), Some((t, 0)));
        assert_eq!(log.last_landed_step("other"), None);
    }
}
