//! Ctrl-L, end to end: text another program writes to rollwatch's terminal (as `wall` does,
//! straight to the tty) stays on screen until the operator presses Ctrl-L, which repaints every
//! cell. rollwatch is the tmux pane's own process.

use std::time::Duration;

use crate::support::tmux::{Tmux, available};

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(20);
const STRAY: &str = "BROADCAST-FROM-WALL";

#[test]
fn ctrl_l_repaints_over_text_written_to_the_tty() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "exec env LANG=C.UTF-8 XDG_STATE_HOME={d} {BIN} demo --scenario healthy --speed 0.0001 --audit-log {d}/a.jsonl",
        d = dir.path().display()
    );
    let t = Tmux::start("redraw", 120, 40, &cmd);
    // Keep the pane after the process exits, to read its exit status.
    t.run(&["set-option", "-t", "rw", "remain-on-exit", "on"]);
    t.wait_for("the dashboard", WAIT, |s| {
        s.contains("checkout-batch-queries")
    });
    // Another program writes to the same terminal, behind rollwatch's back.
    let tty = t.var("pane_tty");
    std::fs::write(&tty, format!("\x1b[20;10H{STRAY}")).expect("write to the pane's tty");
    t.wait_for("the stray text on screen", WAIT, |s| s.contains(STRAY));
    // Nothing changes on the dashboard (the clock runs at 1/10,000), so no frame would ever
    // touch those cells again: only Ctrl-L clears them.
    t.keys(&["C-l"]);
    let s = t.wait_for("the stray text gone", WAIT, |s| !s.contains(STRAY));
    assert!(
        s.contains("checkout-batch-queries"),
        "the dashboard is back whole:\n{s}"
    );
    t.keys(&["q"]);
    assert_eq!(t.exit_status(WAIT), "0");
}
