//! Property: however two operators' reads, pauses and writes interleave, and however a third
//! party's blind changes land between a read and a write (even between a rollback's retries),
//! rollwatch never silently overwrites a value it has not seen.
//!
//! The operators write through the shared guarded path (`guarded_write`) to a version-checked
//! in-memory flag wrapped in a recorder that logs the true flag before and after every
//! compare-and-set. The checks:
//! - every successful write was made against the value actually current at that moment;
//! - a refused write changed nothing and reported the value that holds;
//! - every value that was ever set is either still there at the end or was replaced by a
//!   write that had seen it (or by the third party, whose writes rollwatch cannot govern).

use std::collections::VecDeque;
use std::sync::Mutex;

use futures::future::BoxFuture;
use proptest::prelude::*;
use rollwatch::audit::AuditLog;
use rollwatch::flags::memory::MemoryFlag;
use rollwatch::flags::write::{WriteKind, WriteRequest, guarded_write};
use rollwatch::flags::{FlagBackend, FlagError, FlagEvent};
use rollwatch::model::FlagSnapshot;

/// One change of the true flag.
#[derive(Debug, Clone)]
struct Mutation {
    /// The snapshot the writer wrote against; `None` for the third party's blind writes.
    seen: Option<FlagSnapshot>,
    before: FlagSnapshot,
    after: FlagSnapshot,
}

/// A compare-and-set that did not land.
#[derive(Debug, Clone)]
struct Refusal {
    before: FlagSnapshot,
    after: FlagSnapshot,
    reported: Option<FlagSnapshot>,
}

struct Recorder {
    flag: MemoryFlag,
    /// Third-party values that land just before the next compare-and-sets (`None`: nothing).
    interrupts: Mutex<VecDeque<Option<u8>>>,
    /// When true, writes ignore what was seen: the broken backend the checks must catch.
    blind: bool,
    mutations: Mutex<Vec<Mutation>>,
    refusals: Mutex<Vec<Refusal>>,
}

impl Recorder {
    fn new(percent: u8, interrupts: Vec<Option<u8>>, blind: bool) -> Self {
        Self {
            flag: MemoryFlag::new("p", percent),
            interrupts: Mutex::new(interrupts.into()),
            blind,
            mutations: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
        }
    }

    fn third_party(&self) {
        let next = self.interrupts.lock().unwrap().pop_front().flatten();
        if let Some(p) = next {
            let before = self.flag.snapshot();
            self.flag.set_behind_the_back(p, 0, "third-party");
            self.mutations.lock().unwrap().push(Mutation {
                seen: None,
                before,
                after: self.flag.snapshot(),
            });
        }
    }

    async fn cas_with(
        &self,
        expected: &FlagSnapshot,
        write: impl AsyncFnOnce(&MemoryFlag, &FlagSnapshot) -> Result<(), FlagError>,
    ) -> Result<(), FlagError> {
        self.third_party();
        let before = self.flag.snapshot();
        let against = if self.blind {
            before.clone()
        } else {
            expected.clone()
        };
        let r = write(&self.flag, &against).await;
        let after = self.flag.snapshot();
        match &r {
            Ok(()) => self.mutations.lock().unwrap().push(Mutation {
                seen: Some(expected.clone()),
                before,
                after,
            }),
            Err(FlagError::Conflict { current }) => self.refusals.lock().unwrap().push(Refusal {
                before,
                after,
                reported: current.clone(),
            }),
            Err(e) => panic!("unexpected error from the memory flag: {e}"),
        }
        r
    }
}

impl FlagBackend for Recorder {
    fn describe(&self) -> String {
        "recorder".into()
    }

    fn read(&self) -> BoxFuture<'_, Result<FlagSnapshot, FlagError>> {
        self.flag.read()
    }

    fn compare_and_set(
        &self,
        expected: &FlagSnapshot,
        percent: u8,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let expected = expected.clone();
        Box::pin(async move {
            self.cas_with(&expected, async |f, e| f.compare_and_set(e, percent).await)
                .await
        })
    }

    fn set_enabled(
        &self,
        expected: &FlagSnapshot,
        enabled: bool,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let expected = expected.clone();
        Box::pin(async move {
            self.cas_with(&expected, async |f, e| f.set_enabled(e, enabled).await)
                .await
        })
    }

    fn events(&self) -> BoxFuture<'_, Result<Vec<FlagEvent>, FlagError>> {
        self.flag.events()
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Read,
    Think,
    Set(u8),
    Rollback(u8),
    Switch(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Read),
        2 => Just(Op::Think),
        4 => (0u8..=100).prop_map(Op::Set),
        1 => (0u8..=10).prop_map(Op::Rollback),
        1 => any::<bool>().prop_map(Op::Switch),
    ]
}

/// Runs a schedule of (operator, op) steps; operators write what they last read.
async fn run(flag: &Recorder, schedule: &[(usize, Op)]) {
    let audit = AuditLog::disabled();
    let mut seen: [Option<FlagSnapshot>; 2] = [None, None];
    for &(who, op) in schedule {
        let kind = match op {
            Op::Read => {
                seen[who] = Some(flag.read().await.unwrap());
                continue;
            }
            Op::Think => continue,
            Op::Set(p) => WriteKind::SetPercent(p),
            Op::Rollback(p) => WriteKind::Rollback(p),
            Op::Switch(on) => WriteKind::SetEnabled(on),
        };
        let Some(expected) = seen[who].clone() else {
            continue;
        };
        let req = WriteRequest {
            rollout: format!("operator-{who}"),
            environment: "production".into(),
            expected,
            kind,
            reason: "property".into(),
        };
        let r = guarded_write(flag, &audit, req, false).await;
        // The operator now looks at what the write path re-read, as the dashboard would.
        seen[who] = r.after;
    }
}

/// The no-silent-overwrite checks; `Err` names the first violation.
fn check(flag: &Recorder, start: &FlagSnapshot) -> Result<(), String> {
    let mutations = flag.mutations.lock().unwrap().clone();
    for (i, m) in mutations.iter().enumerate() {
        if let Some(seen) = &m.seen {
            let same = seen.percent == m.before.percent
                && seen.enabled == m.before.enabled
                && seen.version == m.before.version;
            if !same {
                return Err(format!(
                    "write {i} was made against {seen:?} while {:?} was current",
                    m.before
                ));
            }
        }
        let prev = if i == 0 {
            start
        } else {
            &mutations[i - 1].after
        };
        if &m.before != prev {
            return Err(format!("an unrecorded change before write {i}"));
        }
    }
    let end = mutations.last().map_or(start, |m| &m.after);
    if &flag.flag.snapshot() != end {
        return Err("the final value is not the last write's".into());
    }
    for r in flag.refusals.lock().unwrap().iter() {
        if r.after != r.before {
            return Err(format!("a refused write changed the flag: {r:?}"));
        }
        if r.reported.as_ref() != Some(&r.before) {
            return Err(format!(
                "a refusal reported a value that does not hold: {r:?}"
            ));
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_interleaving_overwrites_a_value_silently(
        start in 0u8..=100,
        schedule in prop::collection::vec((0usize..2, op()), 1..40),
        interrupts in prop::collection::vec(prop::option::weighted(0.3, 0u8..=100), 0..40),
    ) {
        let flag = Recorder::new(start, interrupts, false);
        let initial = flag.flag.snapshot();
        runtime().block_on(run(&flag, &schedule));
        prop_assert_eq!(check(&flag, &initial), Ok(()));
    }
}

/// The checks are not vacuous: a backend that writes without comparing is caught.
#[test]
fn the_checks_catch_a_blind_backend() {
    let flag = Recorder::new(5, vec![None, Some(40)], true);
    let initial = flag.flag.snapshot();
    let schedule = [
        (0, Op::Read),
        (1, Op::Read),
        (0, Op::Set(25)),
        (1, Op::Set(50)),
    ];
    runtime().block_on(run(&flag, &schedule));
    let err = check(&flag, &initial).unwrap_err();
    assert!(err.contains("was made against"), "{err}");
}

/// A scripted run of the interesting case: B writes over A's value only after seeing it.
#[test]
fn the_second_operator_must_see_the_first_ones_value() {
    let flag = Recorder::new(5, vec![], false);
    let initial = flag.flag.snapshot();
    let schedule = [
        (0, Op::Read),
        (1, Op::Read),
        (0, Op::Set(25)),
        (1, Op::Set(50)), // refused: B saw 5
        (1, Op::Set(50)), // B now sees 25 (re-read after the conflict) and may write
    ];
    runtime().block_on(run(&flag, &schedule));
    check(&flag, &initial).unwrap();
    assert_eq!(flag.flag.snapshot().percent, 50);
    assert_eq!(flag.refusals.lock().unwrap().len(), 1);
    let m = flag.mutations.lock().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].seen.as_ref().unwrap().percent, 25);
}
