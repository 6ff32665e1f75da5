//! End to end in tmux with rollwatch as the pane's own process: a click on a metric row of the
//! comparison table selects it, a second click on it opens its detail view, the wheel moves
//! the selection, and the mouse reports are off again once it quits.
//!
//! How the mouse is driven: tmux's `send-keys -M` only forwards a mouse event a client just
//! sent (it is meant for key bindings), so the test writes the SGR mouse report a terminal
//! would send (`ESC [ < button ; column ; row M` for a press, `m` for the release; button 0
//! is the left one, 65 the wheel down, which has no release; 1-based cells) into the pane with
//! `send-keys -l`, which hands the bytes to the program as they are.

use std::fmt::Write as _;

use std::time::Duration;

use crate::support::tmux::{Tmux, available};
use crate::support::wait;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(20);

/// A press and release of `button` at the 0-based screen cell (`col`, `row`); the wheel
/// (buttons from 64) has no release, as terminals send it.
fn click(t: &Tmux, button: u8, col: usize, row: usize) {
    let (x, y) = (col + 1, row + 1);
    let mut seq = format!("\x1b[<{button};{x};{y}M");
    if button < 64 {
        let _ = write!(seq, "\x1b[<{button};{x};{y}m"); // a String never fails
    }
    t.keys(&["-l", &seq]);
}

/// The 0-based screen row of metric `label` in the comparison table (below its title row).
fn table_row(screen: &str, label: &str) -> Option<usize> {
    let lines: Vec<&str> = screen.lines().collect();
    let head = lines.iter().position(|l| l.starts_with(" Metric "))?;
    (head + 1..lines.len()).find(|&i| lines[i].starts_with(&format!(" {label} ")))
}

/// Whether the table row of `label` is drawn selected (a background colour behind its
/// label, which no other row has), with the table on screen.
fn selected(t: &Tmux, label: &str) -> bool {
    let out = t.run(&["capture-pane", "-p", "-e", "-t", "rw"]);
    let styled = String::from_utf8_lossy(&out.stdout);
    let plain = t.screen();
    let Some(row) = table_row(&plain, label) else {
        return false;
    };
    styled.lines().nth(row).is_some_and(|l| {
        let before = &l[..l.find(&format!(" {label} ")).unwrap_or(0)];
        before.contains("[48;") || before.contains(";48;")
    })
}

/// Whether the detail view of `label` is open: its title on the row under the verdict line.
fn detail_of(screen: &str, label: &str) -> bool {
    screen
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with(&format!(" {label} ")))
        && !screen.lines().any(|l| l.starts_with(" Metric "))
}

#[test]
fn a_click_selects_a_metric_a_second_click_opens_it_and_the_wheel_moves_the_selection() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "exec env LANG=C.UTF-8 XDG_STATE_HOME={d} {BIN} demo --audit-log {d}/audit.jsonl",
        d = dir.path().display()
    );
    let t = Tmux::start("mouse", 120, 40, &cmd);
    // Keep the pane after the process exits: its exit status and terminal modes stay readable.
    t.run(&["set-option", "-t", "rw", "remain-on-exit", "on"]);
    let s = t.wait_for("the comparison table", WAIT, |s| {
        table_row(s, "p95 latency").is_some()
    });
    assert_eq!(t.var("mouse_sgr_flag"), "1", "mouse reports asked for");
    let row = table_row(&s, "p95 latency").unwrap();

    assert!(
        !selected(&t, "p95 latency"),
        "the first metric starts selected"
    );
    // The first click selects (the first metric was selected): the table stays.
    click(&t, 0, 4, row);
    wait::until(
        "p95 latency selected",
        WAIT,
        Duration::from_millis(20),
        || {
            if selected(&t, "p95 latency") {
                Ok(())
            } else {
                Err(t.screen())
            }
        },
    );
    // The second click on the selected row opens it.
    click(&t, 0, 20, row);
    t.wait_for("the detail view of p95 latency", WAIT, |s| {
        detail_of(s, "p95 latency")
    });

    // Back to the table; the wheel moves the selection one row down; Enter opens that one.
    t.keys(&["Escape"]);
    t.wait_for("the table again", WAIT, |s| {
        table_row(s, "p95 latency") == Some(row)
    });
    click(&t, 65, 4, row);
    // Enter is read after the wheel's report, in order.
    t.keys(&["Enter"]);
    t.wait_for("the detail view of the metric below", WAIT, |s| {
        detail_of(s, "Memory")
    });

    // A click outside the table (the verdict line) does nothing; q quits.
    t.keys(&["Escape"]);
    t.wait_for("the table again", WAIT, |s| {
        table_row(s, "Memory").is_some()
    });
    click(&t, 0, 2, 0);
    t.keys(&["q"]);
    assert_eq!(t.exit_status(WAIT), "0", "a normal exit");
    assert_eq!(t.var("mouse_sgr_flag"), "0", "mouse reports off again");
    assert_eq!(t.var("mouse_standard_flag"), "0", "mouse reports off again");
    assert_eq!(t.var("alternate_on"), "0", "alternate screen left");
}
