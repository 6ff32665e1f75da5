//! End to end in tmux: SIGTERM, SIGHUP and the pty vanishing (`tmux kill-session`, as an SSH
//! drop) end the process within a second, restoring the terminal where it still exists.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::tmux::{Tmux, available};

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(15);

/// The rollwatch process started by the pane's shell.
fn rollwatch_pid(t: &Tmux) -> u32 {
    let shell = t.var("pane_pid");
    let start = Instant::now();
    loop {
        let out = Command::new("pgrep")
            .args(["-P", &shell, "-x", "rollwatch"])
            .output()
            .unwrap();
        if let Some(pid) = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
        {
            return pid.parse().unwrap();
        }
        assert!(
            start.elapsed() < WAIT,
            "rollwatch did not start under shell {shell}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until /proc/PID is gone (or a zombie); returns how long it took.
fn gone_within(pid: u32, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat.rsplit(") ").next().is_some_and(|r| r.starts_with('Z'));
        if !Path::new(&format!("/proc/{pid}")).exists() || zombie {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "process {pid} still alive after {limit:?}: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start(tag: &str) -> (Tmux, u32) {
    let cmd = format!("LANG=C.UTF-8 {BIN} demo --audit-log /dev/null; echo EXITED:$?; sleep 600");
    let t = Tmux::start(tag, 100, 30, &cmd);
    t.wait_for("the dashboard", WAIT, |s| {
        s.contains("checkout-batch-queries")
    });
    let pid = rollwatch_pid(&t);
    (t, pid)
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigterm_exits_within_a_second_and_restores_the_terminal() {
    if !available() {
        return;
    }
    let (t, pid) = start("term");
    signal(pid, "-TERM");
    gone_within(pid, Duration::from_secs(1));
    let s = t.wait_for("the shell again", WAIT, |s| s.contains("EXITED:"));
    assert_eq!(t.var("alternate_on"), "0", "alternate screen left:\n{s}");
    assert!(
        s.contains("stopped: SIGTERM"),
        "the reason is said after restoring:\n{s}"
    );
}

#[test]
fn sighup_exits_within_a_second() {
    if !available() {
        return;
    }
    let (t, pid) = start("hup");
    signal(pid, "-HUP");
    gone_within(pid, Duration::from_secs(1));
    t.wait_for("the shell again", WAIT, |s| s.contains("EXITED:"));
    assert_eq!(t.var("alternate_on"), "0");
}

#[test]
fn the_pty_vanishing_ends_the_process_without_spinning() {
    if !available() {
        return;
    }
    let (t, pid) = start("kill");
    t.run(&["kill-session", "-t", "rw"]);
    gone_within(pid, Duration::from_secs(1));
}

#[test]
fn a_panic_restores_the_terminal_before_its_report() {
    if !available() {
        return;
    }
    let cmd = format!(
        "LANG=C.UTF-8 ROLLWATCH_DEBUG_PANIC_KEY=P {BIN} demo --audit-log /dev/null; echo EXITED:$?; sleep 600"
    );
    let t = Tmux::start("panic", 100, 30, &cmd);
    t.wait_for("the dashboard", WAIT, |s| {
        s.contains("checkout-batch-queries")
    });
    t.keys(&["P"]);
    let s = t.wait_for("the shell again", WAIT, |s| s.contains("EXITED:"));
    assert_eq!(t.var("alternate_on"), "0", "alternate screen left:\n{s}");
    let all = t.history();
    assert!(
        all.contains("ROLLWATCH_DEBUG_PANIC_KEY pressed"),
        "readable report:\n{all}"
    );
    assert!(!s.contains("EXITED:0"), "a panic is a failure exit:\n{s}");
    // Cooked mode: the shell echoes typed text again.
    t.keys(&["-l", "echo typed-back"]);
    t.keys(&["Enter"]);
    t.wait_for("cooked mode", WAIT, |s| s.contains("typed-back"));
}
