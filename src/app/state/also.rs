//! The flags that move with a rollout's flag (`[[rollout.also]]`) as watched, and what a
//! partial group write left behind.

use super::Feed;
use crate::flags::write::group::FlagWrite;
use crate::model::FlagSnapshot;

/// One `[[rollout.also]]` flag as watched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlsoState {
    /// Its label.
    pub name: String,
    /// Its backend's description.
    pub backend: String,
    /// The last read.
    pub flag: Option<FlagSnapshot>,
    /// When it last answered and why it failed (its polls go with the rollout's flag poll).
    pub feed: Feed,
}

impl AlsoState {
    /// A flag not yet read.
    #[must_use]
    pub fn new(name: String, backend: String) -> Self {
        Self {
            name,
            backend,
            ..Self::default()
        }
    }
}

/// A group write that did not move every flag: what happened, and the writes that would put
/// back the flags that moved (key `u`). Automation stays stopped while it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// What happened, in one line (`cache-level conflict; 2 flags moved`).
    pub summary: String,
    /// Each flag that landed, written back to its value before (expected: the value that
    /// landed). Empty when there is nothing to undo (a rollback is not undone).
    pub undo: Vec<FlagWrite>,
}
