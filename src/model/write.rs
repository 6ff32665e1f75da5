//! What an operator can ask of a flag: the domain side of a write, shared by the write path,
//! the confirm dialog and the audit log.

use serde::{Deserialize, Serialize};

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    /// Move to a percentage (next or previous step, `set`).
    SetPercent(u8),
    /// Roll back to a percentage (0 for a full rollback), even if the value moved meanwhile.
    Rollback(u8),
    /// The kill switch: turn the flag (environment) on or off.
    SetEnabled(bool),
}

impl WriteKind {
    /// Audit action name.
    #[must_use]
    pub fn action(self) -> &'static str {
        match self {
            WriteKind::SetPercent(_) => "set",
            WriteKind::Rollback(_) => "rollback",
            WriteKind::SetEnabled(true) => "enable",
            WriteKind::SetEnabled(false) => "disable",
        }
    }

    /// The value asked for, as audited.
    #[must_use]
    pub fn value(self) -> u8 {
        match self {
            WriteKind::SetPercent(p) | WriteKind::Rollback(p) => p.min(100),
            WriteKind::SetEnabled(e) => u8::from(e),
        }
    }
}
