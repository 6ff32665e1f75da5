//! Flags that move together (`[[rollout.also]]`): one dialog lists every flag old → new, `y`
//! writes them as one group, a flag out of step blocks `+`, and a group that moved some flags
//! but not all is shown as PARTIAL, stops the automation and offers `u`, whose dialog puts the
//! landed flags back. The update-level tests drive `update` with the messages the effects
//! send; the end-to-end test runs the binary in tmux against two real HTTP flag servers.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use rollwatch::app::state::AlsoState;
use rollwatch::app::{Command, Mode, Msg, RolloutState, State, update};
use rollwatch::flags::write::group::{FlagWrite, FlagWriteResult, GroupResult};
use rollwatch::flags::write::{WriteKind, WriteOutcome, WriteResult};
use rollwatch::metrics::{CohortValues, Poll};
use rollwatch::model::FlagSnapshot;
use rollwatch::sim::demo;

const T0: i64 = 1_700_000_000_000;

fn key(c: char) -> Msg {
    let k = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    Msg::Action(rollwatch::app::keymap::action(&k).expect("a bound key"))
}

/// The demo's checkout rollout with two also-flags; its flag read at `percent`, the
/// also-flags at `also`, healthy metrics read.
fn state(percent: u8, also: [u8; 2]) -> State {
    let (def, _) = demo::checkout();
    let mut r = RolloutState::new(def, "memory".into(), "sim".into(), T0);
    r.also = vec![
        AlsoState::new("cache-level".into(), "http".into()),
        AlsoState::new("unified-engine".into(), "http".into()),
    ];
    let mut s = State::new(vec![r], 1000, T0);
    let _ = update(
        &mut s,
        Msg::FlagRead {
            rollout: 0,
            at_ms: T0,
            result: Ok(FlagSnapshot::new(percent, true)),
        },
    );
    let _ = update(
        &mut s,
        Msg::AlsoRead {
            rollout: 0,
            at_ms: T0,
            results: also
                .iter()
                .map(|p| Ok(FlagSnapshot::new(*p, true)))
                .collect(),
        },
    );
    // Healthy values for the checkout metrics: error %, p95 ms, memory bytes, queries, tokens.
    let healthy = Poll {
        metrics: [
            (0.08, 0.06),
            (380.0, 240.0),
            (2e8, 1.9e8),
            (200.0, 9.0),
            (1200.0, 840.0),
        ]
        .iter()
        .map(|&(l, n)| {
            Ok(CohortValues {
                counts: None,
                bounds: None,
                legacy: Some(l),
                new: Some(n),
            })
        })
        .collect(),
        warnings: Vec::new(),
    };
    let _ = update(
        &mut s,
        Msg::MetricsPolled {
            rollout: 0,
            at_ms: T0,
            result: Ok(healthy),
        },
    );
    s
}

fn render(s: &State, w: u16, h: u16) -> String {
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
    let themes = rollwatch::ui::theme::builtin();
    term.draw(|f| rollwatch::ui::draw(f, s, &themes[0]))
        .unwrap();
    term.backend().to_string()
}

fn pending(s: &State) -> &rollwatch::app::PendingWrite {
    match &s.mode {
        Mode::Confirm(p) => p,
        other => panic!("expected a confirm dialog, got {other:?}"),
    }
}

/// `(name, old %, new %)` of every write a dialog lists.
fn listed(writes: &[FlagWrite]) -> Vec<(String, u8, u8)> {
    writes
        .iter()
        .map(|w| {
            (
                w.name.clone(),
                w.request.expected.percent,
                w.request.kind.value(),
            )
        })
        .collect()
}

fn result(w: &FlagWrite, outcome: WriteOutcome, after: u8) -> FlagWriteResult {
    FlagWriteResult {
        flag: w.flag,
        name: w.name.clone(),
        result: WriteResult {
            request: w.request.clone(),
            outcome,
            after: Some(FlagSnapshot::new(after, true)),
            attempts: 1,
            write_id: format!("w-{}", w.flag),
        },
    }
}

/// `+` then `y` at 25 % with every flag at 25 %: the writes `y` sends.
fn confirmed_bump(s: &mut State) -> Vec<FlagWrite> {
    let _ = update(s, key('+'));
    let cmds = update(s, key('y'));
    match cmds.as_slice() {
        [
            Command::WriteGroup {
                rollout: 0,
                writes,
                keep_going: false,
            },
        ] => writes.clone(),
        other => panic!("expected one group write, got {other:?}"),
    }
}

fn last_log(s: &State) -> String {
    s.events.back().map(|e| e.text.clone()).unwrap_or_default()
}

#[test]
fn the_dialog_lists_every_flag_old_to_new_and_y_writes_them_as_one_group() {
    let mut s = state(25, [25, 25]);
    let _ = update(&mut s, key('+'));
    let p = pending(&s);
    assert_eq!(
        listed(&p.group),
        vec![
            ("checkout-batch-queries".into(), 25, 50),
            ("cache-level".into(), 25, 50),
            ("unified-engine".into(), 25, 50),
        ]
    );
    let screen = render(&s, 120, 40);
    for line in [
        "checkout-batch-queries 25% → 50%",
        "cache-level 25% → 50%",
        "unified-engine 25% → 50%",
    ] {
        assert!(screen.contains(line), "dialog lists `{line}`:\n{screen}");
    }
    let writes = confirmed_bump(&mut state(25, [25, 25]));
    assert_eq!(writes.iter().map(|w| w.flag).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn an_also_flag_out_of_step_blocks_the_next_step_and_the_header_marks_it() {
    let mut s = state(25, [25, 5]);
    let cmds = update(&mut s, key('+'));
    assert_eq!(
        s.mode,
        Mode::Normal,
        "no dialog while a flag is out of step"
    );
    assert!(cmds.is_empty());
    let status = s.status.as_ref().map(|(_, t, _)| t.clone()).unwrap();
    assert!(
        status.contains("`unified-engine` is at 5%, the rollout's flag at 25%"),
        "{status}"
    );
    let screen = render(&s, 160, 40);
    assert!(
        screen.contains("also: cache-level 25% ✔, unified-engine 5% ✖"),
        "{screen}"
    );
}

#[test]
fn a_partial_write_is_shown_stops_automation_and_u_puts_back_the_flags_that_moved() {
    let mut s = state(25, [25, 25]);
    let writes = confirmed_bump(&mut s);
    // The rollout's flag lands, cache-level meets a conflict, unified-engine is not tried.
    let res = GroupResult {
        group: "g-1".into(),
        keep_going: false,
        done: vec![
            result(&writes[0], WriteOutcome::Ok, 50),
            result(&writes[1], WriteOutcome::Conflict, 40),
        ],
        skipped: vec![writes[2].clone()],
    };
    let _ = update(
        &mut s,
        Msg::GroupWriteDone {
            rollout: 0,
            at_ms: T0 + 1000,
            result: Box::new(res),
        },
    );
    let log = last_log(&s);
    assert!(
        log.starts_with(
            "PARTIAL: landed checkout-batch-queries; cache-level conflict (it moved to 40%); \
             not attempted: unified-engine"
        ),
        "{log}"
    );
    let (verdict, _) = rollwatch::ui::verdict::verdict(&s, &s.rollouts[0]);
    assert!(
        verdict.starts_with("PARTIAL WRITE — cache-level conflict")
            && verdict.ends_with("1 flag moved: undo [u]"),
        "{verdict}"
    );
    // Nothing steps on while the partial write stands: `+` and auto-advance wait for it.
    let blockers = rollwatch::app::guard::forward_blockers(&s.rollouts[0], T0 + 1000, 2000);
    assert!(
        blockers[0]
            .to_string()
            .starts_with("PARTIAL WRITE: cache-level conflict"),
        "{blockers:?}"
    );
    let cmds = update(&mut s, key('+'));
    assert!(cmds.is_empty() && s.mode == Mode::Normal);

    // `u`: a dialog listing the flag that landed, new → old; `y` writes it back from 50 %.
    let _ = update(&mut s, key('u'));
    assert_eq!(
        listed(&pending(&s).group),
        vec![("checkout-batch-queries".into(), 50, 25)]
    );
    let cmds = update(&mut s, key('y'));
    let undo = match cmds.as_slice() {
        [Command::WriteGroup { writes, .. }] => writes.clone(),
        other => panic!("expected the undo's group write, got {other:?}"),
    };
    assert_eq!(undo[0].request.kind, WriteKind::SetPercent(25));
    let _ = update(
        &mut s,
        Msg::GroupWriteDone {
            rollout: 0,
            at_ms: T0 + 2000,
            result: Box::new(GroupResult {
                group: "g-2".into(),
                keep_going: true,
                done: vec![result(&undo[0], WriteOutcome::Ok, 25)],
                skipped: Vec::new(),
            }),
        },
    );
    assert!(
        last_log(&s).starts_with("undone: set 50% → 25%"),
        "{}",
        last_log(&s)
    );
    assert_eq!(s.rollouts[0].partial, None);
    assert_eq!(s.rollouts[0].flag.as_ref().unwrap().percent, 25);
}

#[test]
fn an_unknown_outcome_is_reported_and_never_undone() {
    let mut s = state(25, [25, 25]);
    let writes = confirmed_bump(&mut s);
    let res = GroupResult {
        group: "g-1".into(),
        keep_going: false,
        done: vec![
            result(&writes[0], WriteOutcome::Ok, 50),
            result(&writes[1], WriteOutcome::Ok, 50),
            result(&writes[2], WriteOutcome::Unknown("timeout".into()), 25),
        ],
        skipped: Vec::new(),
    };
    let _ = update(
        &mut s,
        Msg::GroupWriteDone {
            rollout: 0,
            at_ms: T0 + 1000,
            result: Box::new(res),
        },
    );
    assert!(
        last_log(&s).contains("unified-engine UNKNOWN (timeout"),
        "{}",
        last_log(&s)
    );
    let p = s.rollouts[0].partial.clone().unwrap();
    let names: Vec<&str> = p.undo.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["checkout-batch-queries", "cache-level"]);
}

#[test]
fn rollback_writes_every_flag_and_goes_on_past_a_failure() {
    let mut s = state(25, [25, 25]);
    let _ = update(&mut s, key('r'));
    let cmds = update(&mut s, key('y'));
    match cmds.as_slice() {
        [
            Command::WriteGroup {
                writes,
                keep_going: true,
                ..
            },
        ] => {
            assert_eq!(
                listed(writes),
                vec![
                    ("checkout-batch-queries".into(), 25, 0),
                    ("cache-level".into(), 25, 0),
                    ("unified-engine".into(), 25, 0),
                ]
            );
        }
        other => panic!("expected a rollback of every flag, got {other:?}"),
    }
}

/// The group write path itself: each flag its own audited compare-and-set, the records sharing
/// the group id and naming the also-flag; a forward move stops at the conflict, so the flag
/// after it is not written.
#[tokio::test]
async fn a_group_stops_at_a_conflict_and_audits_each_flag_with_the_group_id() {
    use rollwatch::flags::memory::MemoryFlag;
    use rollwatch::flags::write::WriteRequest;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let audit = rollwatch::audit::AuditLog::new(dir.path().join("audit.jsonl"));
    let flags = [
        MemoryFlag::new("checkout", 25),
        MemoryFlag::new("cache-level", 25),
        MemoryFlag::new("unified-engine", 25),
    ];
    let seen: Vec<FlagSnapshot> = flags.iter().map(MemoryFlag::snapshot).collect();
    // cache-level moves after the operator saw it.
    flags[1].set_behind_the_back(40, T0, "someone");
    let backends: Vec<Arc<dyn rollwatch::flags::FlagBackend>> = flags
        .iter()
        .map(|f| Arc::new(f.clone()) as Arc<dyn rollwatch::flags::FlagBackend>)
        .collect();
    let writes: Vec<FlagWrite> = ["checkout", "cache-level", "unified-engine"]
        .iter()
        .enumerate()
        .map(|(k, name)| FlagWrite {
            flag: k,
            name: (*name).into(),
            request: WriteRequest {
                rollout: "checkout".into(),
                environment: "production".into(),
                expected: seen[k].clone(),
                kind: WriteKind::SetPercent(50),
                reason: "operator".into(),
            },
        })
        .collect();
    let res =
        rollwatch::flags::write::group::guarded_group(&backends, &audit, writes, false, false)
            .await;
    let outcomes: Vec<&str> = res.done.iter().map(|d| d.result.outcome.label()).collect();
    assert_eq!(outcomes, ["ok", "conflict"]);
    assert_eq!(res.skipped.len(), 1);
    let now: Vec<u8> = flags.iter().map(|f| f.snapshot().percent).collect();
    assert_eq!(
        now,
        [50, 40, 25],
        "the flag after the conflict is not written"
    );
    let records = audit.read_all();
    assert_eq!(records.len(), 4, "intent and outcome of each write made");
    assert!(
        records
            .iter()
            .all(|r| r.group.as_deref() == Some(res.group.as_str()))
    );
    let named: Vec<Option<&str>> = records.iter().map(|r| r.flag.as_deref()).collect();
    assert_eq!(
        named,
        [None, None, Some("cache-level"), Some("cache-level")]
    );
}

const CONFIG: &str = r#"
[[rollout]]
name = "checkout"
steps = [5, 50]
[rollout.flag]
kind = "memory"
ALSO
[rollout.metrics]
kind = "simulator"
[[rollout.metric]]
id = "errors"
kind = "ratio"
sim = "error_rate"
"#;

fn parse(also: &str) -> Result<rollwatch::config::Config, String> {
    let text = CONFIG.replace("ALSO", also);
    rollwatch::config::parse(std::path::Path::new("t.toml"), &text).map_err(|e| e.to_string())
}

#[test]
fn also_tables_are_flag_tables_of_any_kind_with_an_optional_name() {
    let cfg = parse(
        "[[rollout.also]]\nname = \"cache-level\"\nkind = \"memory\"\n\
         [[rollout.also]]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/flag\"\n\
         percent_pointer = \"/percent\"\nmethod = \"PUT\"\n\
         body_template = '{\"percent\": {{percent}}}'\n",
    )
    .unwrap();
    let also = &cfg.rollouts[0].also;
    assert_eq!(also.len(), 2);
    assert_eq!(also[0].name.as_deref(), Some("cache-level"));
    assert_eq!((also[0].flag.kind, also[1].flag.kind), ("memory", "http"));

    let e = parse("[[rollout.also]]\nkind = \"carrier-pigeon\"\n").unwrap_err();
    assert!(e.contains("also `kind`"), "{e}");
    let e = parse("[[rollout.also]]\nkind = \"memory\"\npercnt = 5\n").unwrap_err();
    assert!(
        e.contains("percnt"),
        "the adapter refuses its unknown key: {e}"
    );
    let e = parse(
        "[[rollout.also]]\nname = \"a\"\nkind = \"memory\"\n[[rollout.also]]\nname = \"a\"\nkind = \"memory\"\n",
    )
    .unwrap_err();
    assert!(e.contains("duplicate name"), "{e}");
}
