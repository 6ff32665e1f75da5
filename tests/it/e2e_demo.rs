//! End to end in tmux: the built binary's demo, driven by keys as an operator would: bump with
//! `+` `y`, roll back with `r` `y`, read the screen after each, quit with `q` leaving the
//! alternate screen and the audit log holding both writes.

use std::time::Duration;

use crate::support::tmux::{Tmux, available, flag_line};

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(15);

#[test]
fn bump_then_roll_back_then_quit() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "LANG=C.UTF-8 {BIN} demo --scenario healthy --audit-log {}; echo EXITED:$?; sleep 600",
        audit.display()
    );
    let t = Tmux::start("demo", 120, 40, &cmd);
    // The flag at 25 % and every rule evaluated (the verdict line says BAKING, not UNKNOWN):
    // before that, `+` is rightly blocked by rules that cannot be evaluated yet.
    t.wait_for("the flag at 25% and the rules evaluated", WAIT, |s| {
        flag_line(s).contains(" 25% ") && s.lines().next().unwrap_or_default().contains("BAKING")
    });

    t.keys(&["+"]);
    let s = t.wait_for("the confirm dialog", WAIT, |s| {
        s.contains("Confirm flag change")
    });
    assert!(s.contains("25% → 50%"), "old → new shown:\n{s}");
    assert!(s.contains("production"), "environment shown:\n{s}");
    t.keys(&["y"]);
    let s = t.wait_for("the flag at 50%", WAIT, |s| flag_line(s).contains(" 50% "));
    assert!(
        s.contains("done: set 25% → 50%"),
        "outcome in the event log:\n{s}"
    );
    assert!(s.contains("▶50"), "current step marked:\n{s}");

    t.keys(&["r"]);
    let s = t.wait_for("the rollback dialog", WAIT, |s| s.contains("ROLL BACK"));
    assert!(s.contains("50% → 0%"), "{s}");
    t.keys(&["y"]);
    t.wait_for("the flag at 0%", WAIT, |s| flag_line(s).contains("  0% "));

    t.keys(&["q"]);
    let s = t.wait_for("the process to exit", WAIT, |s| s.contains("EXITED:"));
    assert!(s.contains("EXITED:0"), "{s}");
    assert_eq!(t.var("alternate_on"), "0", "alternate screen left");
    assert!(
        !s.contains("checkout-batch-queries"),
        "dashboard gone from the screen:\n{s}"
    );

    let log = std::fs::read_to_string(&audit).unwrap();
    let recs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<_> = recs
        .iter()
        .filter(|r| r["phase"] == "outcome")
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["new_value"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, vec![("set", 50, "ok"), ("rollback", 0, "ok")]);
    assert_eq!(recs.len(), 4, "an intent before each outcome");
}

#[test]
fn help_overlay_lists_every_binding_and_closes() {
    if !available() {
        return;
    }
    let cmd = format!("LANG=C.UTF-8 {BIN} demo --audit-log /dev/null; echo EXITED:$?; sleep 600");
    let t = Tmux::start("help", 100, 30, &cmd);
    t.wait_for("the dashboard", WAIT, |s| {
        s.contains("checkout-batch-queries")
    });
    t.keys(&["?"]);
    // tmux may show a frame half drawn: wait until the whole box is there (its last line).
    let s = t.wait_for("help", WAIT, |s| {
        s.contains("Keys") && s.contains("theme: ")
    });
    for (k, _) in rollwatch::app::keymap::BINDINGS {
        assert!(s.contains(k), "binding {k} listed:\n{s}");
    }
    t.keys(&["Escape"]);
    t.wait_for("help closed", WAIT, |s| !s.contains("Keys — ?"));
    t.keys(&["C-c"]);
    let s = t.wait_for("exit", WAIT, |s| s.contains("EXITED:"));
    assert!(s.contains("EXITED:0"), "{s}");
}
