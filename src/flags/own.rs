//! Recognising this session's own writes in the backend's change history, so the events pane
//! shows them as "this session" instead of as a stranger's change that arrived while watching.
//!
//! No backend rollwatch speaks lets a write carry the audit log's write id into its history:
//! Unleash's strategy PATCH and its `/on` `/off` calls take no comment, and its events carry
//! only who (the token's name), when, the type and the before/after documents. So a backend
//! event is matched to a landed write by what changed (the percentage it ended at, or the
//! switch direction) and when (inside a window around the write's outcome); each write
//! claims at most one event, the nearest in time. The write id stays with the match, so the
//! audit log can be consulted for the event.

use super::FlagEvent;
use super::write::{WriteKind, WriteOutcome, WriteResult, verify};

/// How long before the outcome a write's event may be stamped: a guarded write is a read, a
/// write and a re-read, each with a deadline of at most 5 s.
pub const BEFORE_MS: i64 = 15_000;

/// How long after the outcome a write's event may be stamped (the backend's clock may run a
/// little ahead of this machine's).
pub const AFTER_MS: i64 = 5_000;

/// Landed writes remembered per rollout.
pub const CAP: usize = 32;

/// One write of this session that landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnWrite {
    /// The audit log's write id of the attempt that landed.
    pub write_id: String,
    /// What it did.
    pub kind: WriteKind,
    /// When its outcome arrived (clock ms); the change happened at or shortly before.
    pub at_ms: i64,
}

impl OwnWrite {
    /// The landed write a finished write stands for: an `ok` one, or an `unknown` one whose
    /// re-read shows what was asked for. `None` for everything that changed nothing.
    #[must_use]
    pub fn landed(res: &WriteResult, at_ms: i64) -> Option<Self> {
        let landed = match &res.outcome {
            WriteOutcome::Ok => true,
            WriteOutcome::Unknown(_) => res
                .after
                .as_ref()
                .is_some_and(|a| verify(res.request.kind, a).is_none()),
            _ => false,
        };
        landed.then(|| Self {
            write_id: res.write_id.clone(),
            kind: res.request.kind,
            at_ms,
        })
    }
}

/// Adds a landed write to a rollout's list, keeping the newest [`CAP`].
pub fn remember(list: &mut Vec<OwnWrite>, w: OwnWrite) {
    if list.len() >= CAP {
        list.remove(0);
    }
    list.push(w);
}

/// The switch direction an event records (`true` switched on), from its type: Unleash's
/// `feature-environment-enabled` / `-disabled`.
#[must_use]
pub fn switched(kind: &str) -> Option<bool> {
    if kind.ends_with("-enabled") {
        Some(true)
    } else if kind.ends_with("-disabled") {
        Some(false)
    } else {
        None
    }
}

/// Whether `e` records what `w` did, at a time that fits.
fn fits(e: &FlagEvent, w: &OwnWrite) -> bool {
    let when = e.at_ms >= w.at_ms - BEFORE_MS && e.at_ms <= w.at_ms + AFTER_MS;
    let what = match w.kind {
        WriteKind::SetPercent(_) | WriteKind::Rollback(_) => e.after == Some(w.kind.value()),
        WriteKind::SetEnabled(on) => switched(&e.kind) == Some(on),
    };
    when && what
}

/// For each event, the index of the write of this session it records, if any. Each write
/// claims at most one event: the nearest in time among those that fit and are not claimed by
/// an earlier write.
#[must_use]
pub fn match_own(events: &[FlagEvent], writes: &[OwnWrite]) -> Vec<Option<usize>> {
    let mut out = vec![None; events.len()];
    for (wi, w) in writes.iter().enumerate() {
        let best = events
            .iter()
            .enumerate()
            .filter(|(ei, e)| out[*ei].is_none() && fits(e, w))
            .min_by_key(|(_, e)| (e.at_ms - w.at_ms).abs());
        if let Some((ei, _)) = best {
            out[ei] = Some(wi);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ms: i64, kind: &str, before: Option<u8>, after: Option<u8>) -> FlagEvent {
        FlagEvent {
            at_ms,
            author: "admin".into(),
            kind: kind.into(),
            before,
            after,
        }
    }

    fn w(id: &str, kind: WriteKind, at_ms: i64) -> OwnWrite {
        OwnWrite {
            write_id: id.into(),
            kind,
            at_ms,
        }
    }

    const UPDATE: &str = "feature-strategy-update";

    #[test]
    fn a_write_claims_the_event_with_its_value_inside_the_window() {
        let events = [
            ev(100_000, UPDATE, Some(5), Some(25)),
            ev(199_400, UPDATE, Some(25), Some(50)),
        ];
        let writes = [w("a", WriteKind::SetPercent(50), 200_000)];
        assert_eq!(match_own(&events, &writes), [None, Some(0)]);
    }

    #[test]
    fn a_strangers_change_to_another_value_or_at_another_time_stays_a_strangers() {
        let writes = [w("a", WriteKind::SetPercent(50), 200_000)];
        for e in [
            ev(199_000, UPDATE, Some(25), Some(75)),
            ev(200_000 - BEFORE_MS - 1, UPDATE, Some(25), Some(50)),
            ev(200_000 + AFTER_MS + 1, UPDATE, Some(25), Some(50)),
            ev(199_000, "feature-environment-disabled", None, None),
        ] {
            assert_eq!(
                match_own(std::slice::from_ref(&e), &writes),
                [None],
                "{e:?}"
            );
        }
    }

    #[test]
    fn each_write_claims_one_event_the_nearest() {
        // Someone else also set 50 % a little earlier: only the nearer event is ours.
        let events = [
            ev(190_000, UPDATE, Some(25), Some(50)),
            ev(199_800, UPDATE, Some(50), Some(50)),
        ];
        let writes = [w("a", WriteKind::SetPercent(50), 200_000)];
        assert_eq!(match_own(&events, &writes), [None, Some(0)]);
        // Two writes to the same value claim one event each.
        let writes = [
            w("a", WriteKind::SetPercent(50), 191_000),
            w("b", WriteKind::SetPercent(50), 200_000),
        ];
        assert_eq!(match_own(&events, &writes), [Some(0), Some(1)]);
    }

    #[test]
    fn the_kill_switch_matches_the_switch_event_of_its_direction() {
        let events = [
            ev(99_000, "feature-environment-disabled", None, None),
            ev(99_500, "feature-environment-enabled", None, None),
        ];
        let writes = [w("k", WriteKind::SetEnabled(false), 100_000)];
        assert_eq!(match_own(&events, &writes), [Some(0), None]);
        let writes = [w("k", WriteKind::Rollback(0), 100_000)];
        assert_eq!(match_own(&events, &writes), [None, None]);
    }

    #[test]
    fn only_writes_that_landed_are_remembered_and_the_list_is_bounded() {
        use crate::flags::write::WriteRequest;
        use crate::model::FlagSnapshot;
        let snap = |percent| FlagSnapshot {
            percent,
            enabled: true,
            version: None,
            details: Vec::new(),
            lease: None,
        };
        let res = |outcome, after: u8| WriteResult {
            request: WriteRequest {
                rollout: "r".into(),
                environment: "p".into(),
                expected: snap(25),
                kind: WriteKind::SetPercent(50),
                reason: "operator".into(),
            },
            outcome,
            after: Some(snap(after)),
            attempts: 1,
            write_id: "id-1".into(),
        };
        let landed = OwnWrite::landed(&res(WriteOutcome::Ok, 50), 7).unwrap();
        assert_eq!(
            (landed.write_id.as_str(), landed.at_ms, landed.kind),
            ("id-1", 7, WriteKind::SetPercent(50))
        );
        assert!(OwnWrite::landed(&res(WriteOutcome::Unknown("t".into()), 50), 7).is_some());
        assert!(OwnWrite::landed(&res(WriteOutcome::Unknown("t".into()), 25), 7).is_none());
        assert!(OwnWrite::landed(&res(WriteOutcome::Conflict, 40), 7).is_none());
        let mut list = Vec::new();
        for i in 0..CAP + 3 {
            remember(&mut list, w(&i.to_string(), WriteKind::SetPercent(5), 0));
        }
        assert_eq!(list.len(), CAP);
        assert_eq!(list[0].write_id, "3");
    }
}
