//! Several flags moved together (a rollout's flag and its `[[rollout.also]]` flags): one write
//! after another, each through the one guarded path (its own intent, compare-and-set against
//! the value the operator saw, re-read, outcome), every audit record carrying the group's id.
//! A forward move stops at the first write that does not land, so a failure leaves as few
//! flags moved as possible; a move back to safety (`keep_going`: rollback, kill switch off)
//! writes every flag whatever the others did. Never a blind retry.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Tag, WriteOutcome, WriteRequest, WriteResult, fresh_id, guarded_write_tagged};
use crate::audit::AuditLog;
use crate::flags::FlagBackend;

/// One flag's write in a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagWrite {
    /// Which flag: 0 is the rollout's own, `k` its `k`-th `[[rollout.also]]` flag.
    pub flag: usize,
    /// Its label (`checkout-batch-queries`, `cache-level`).
    pub name: String,
    /// The write, with the flag as the operator saw it.
    pub request: WriteRequest,
}

/// One flag's outcome in a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagWriteResult {
    /// Which flag (as in [`FlagWrite::flag`]).
    pub flag: usize,
    /// Its label.
    pub name: String,
    /// How its guarded write ended.
    pub result: WriteResult,
}

/// How a group of writes ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    /// The id every audit record of the group carries.
    pub group: String,
    /// Whether the group went on past a failure (a move back to safety).
    pub keep_going: bool,
    /// The writes made, in order.
    pub done: Vec<FlagWriteResult>,
    /// The writes not attempted because an earlier one did not land.
    pub skipped: Vec<FlagWrite>,
}

impl GroupResult {
    /// The writes that landed.
    pub fn landed(&self) -> impl Iterator<Item = &FlagWriteResult> {
        self.done
            .iter()
            .filter(|d| d.result.outcome == WriteOutcome::Ok)
    }

    /// Every write landed and none was skipped.
    #[must_use]
    pub fn all_ok(&self) -> bool {
        self.skipped.is_empty() && self.landed().count() == self.done.len()
    }
}

/// Writes `writes` in order; `backends[w.flag]` is the backend of write `w`. Stops at the
/// first write that does not land unless `keep_going`.
pub async fn guarded_group(
    backends: &[Arc<dyn FlagBackend>],
    audit: &AuditLog,
    writes: Vec<FlagWrite>,
    keep_going: bool,
    read_only: bool,
) -> GroupResult {
    let group = fresh_id(audit);
    let mut out = GroupResult {
        group: group.clone(),
        keep_going,
        done: Vec::new(),
        skipped: Vec::new(),
    };
    let mut rest = writes.into_iter();
    for w in rest.by_ref() {
        let tag = Tag {
            flag: (w.flag > 0).then(|| w.name.clone()),
            group: Some(group.clone()),
        };
        let Some(backend) = backends.get(w.flag) else {
            continue;
        };
        let result =
            guarded_write_tagged(backend.as_ref(), audit, w.request, read_only, &tag).await;
        let landed = result.outcome == WriteOutcome::Ok;
        out.done.push(FlagWriteResult {
            flag: w.flag,
            name: w.name,
            result,
        });
        if !landed && !keep_going {
            break;
        }
    }
    out.skipped = rest.collect();
    out
}
