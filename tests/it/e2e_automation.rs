//! End to end in tmux: the armed plan advances one step in the healthy demo at high speed, and
//! auto-rollback fires in the regression demo; both are audited with their reason.

use std::time::Duration;

use crate::support::tmux::{Tmux, available, flag_line};

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(30);

fn reasons(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["phase"] == "outcome" && r["outcome"] == "ok")
        .map(|r| r["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn armed_plan_advances_one_step_when_healthy() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("a.jsonl");
    let cmd = format!(
        "LANG=C.UTF-8 {BIN} demo --scenario healthy --speed 60 --auto-advance --audit-log {}; echo EXITED:$?; sleep 600",
        audit.display()
    );
    let t = Tmux::start("armed", 120, 40, &cmd);
    // The verdict line shows the bake's evidence while the step bakes.
    t.wait_for("ARMED at 25%, baking on fresh data", WAIT, |s| {
        s.contains("ARMED")
            && flag_line(s).contains(" 25% ")
            && s.lines()
                .next()
                .unwrap_or_default()
                .contains("on fresh data")
    });
    let s = t.wait_for("the advance to 50%", WAIT, |s| {
        flag_line(s).contains(" 50% ")
    });
    assert!(s.contains("AUTO-ADVANCE 25% → 50%"), "{s}");
    let r = reasons(&audit);
    assert!(r.iter().any(|x| x.starts_with("auto-advance")), "{r:?}");
    // Automation runs in this process: quitting asks first.
    t.keys(&["q"]);
    t.wait_for("the quit dialog", WAIT, |s| {
        s.contains("STOPS auto-advance")
    });
    t.keys(&["y"]);
    t.wait_for("exit", WAIT, |s| s.contains("EXITED:0"));
}

#[test]
fn auto_rollback_fires_in_the_regression() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("a.jsonl");
    let cmd = format!(
        "LANG=C.UTF-8 {BIN} demo --scenario regression --speed 10 --auto-rollback --audit-log {}; echo EXITED:$?; sleep 600",
        audit.display()
    );
    let t = Tmux::start("autorb", 120, 40, &cmd);
    t.wait_for("AUTO-ROLLBACK marker", WAIT, |s| {
        s.contains("AUTO-ROLLBACK") && flag_line(s).contains(" 25% ")
    });
    let s = t.wait_for("the rollback to 0%", WAIT, |s| {
        flag_line(s).contains("  0% ")
    });
    assert!(
        s.contains("AUTO-ROLLBACK to 0%: rule new-error-rate is firing"),
        "{s}"
    );
    assert_eq!(
        reasons(&audit),
        vec!["auto-rollback: rule new-error-rate".to_owned()]
    );
    // Automation runs in this process: quitting asks first.
    t.keys(&["q"]);
    t.wait_for("the quit dialog", WAIT, |s| {
        s.contains("STOPS auto-advance")
    });
    t.keys(&["y"]);
    t.wait_for("exit", WAIT, |s| s.contains("EXITED:0"));
}
