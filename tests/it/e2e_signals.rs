//! End to end in tmux: SIGTERM, SIGHUP and the pty vanishing (`tmux kill-session`, as an SSH
//! drop) end the process within a second, restoring the terminal where it still exists; with
//! rollwatch as the terminal's own process (no shell around it), the pty vanishing ends it with
//! a normal exit status, the audit log and rollwatch's own log intact.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::tmux::{Tmux, available, wait_file};
use crate::support::wait;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(15);

/// The rollwatch process started by the pane's shell.
fn rollwatch_pid(t: &Tmux) -> u32 {
    let shell = t.var("pane_pid");
    let what = format!("rollwatch to start under shell {shell}");
    wait::until(&what, WAIT, Duration::from_millis(20), || {
        let out = Command::new("pgrep")
            .args(["-P", &shell, "-x", "rollwatch"])
            .output()
            .unwrap();
        let pids = String::from_utf8_lossy(&out.stdout).into_owned();
        pids.split_whitespace()
            .next()
            .map(|pid| pid.parse().unwrap())
            .ok_or_else(|| t.screen())
    })
}

/// Waits until /proc/PID is gone (or a zombie); returns how long it took.
fn gone_within(pid: u32, limit: Duration) -> Duration {
    let start = Instant::now();
    let what = format!("process {pid} to end");
    wait::until(&what, limit, Duration::from_millis(10), || {
        let proc_stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = proc_stat
            .rsplit(") ")
            .next()
            .is_some_and(|r| r.starts_with('Z'));
        if !Path::new(&format!("/proc/{pid}")).exists() || zombie {
            Ok(start.elapsed())
        } else {
            Err(format!("still alive: {proc_stat}"))
        }
    })
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

/// The mouse reports rollwatch turned on are off again: the shell gets no mouse escapes.
fn assert_mouse_off(t: &Tmux) {
    for mode in ["mouse_standard_flag", "mouse_sgr_flag", "mouse_any_flag"] {
        assert_eq!(t.var(mode), "0", "{mode} left on");
    }
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
    assert_mouse_off(&t);
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
    assert_mouse_off(&t);
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
    assert_mouse_off(&t);
    // Cooked mode: the shell echoes typed text again.
    t.keys(&["-l", "echo typed-back"]);
    t.keys(&["Enter"]);
    t.wait_for("cooked mode", WAIT, |s| s.contains("typed-back"));
}

/// How the pane's waiter starts rollwatch (see [`pane_waiter`]).
#[derive(Clone, Copy)]
enum Form {
    /// As `tmux new-session 'exec rollwatch …'`: rollwatch leads the pty's session, so the
    /// kernel's hang-up reaches it as SIGHUP.
    Exec,
    /// As `bash -c 'trap "" HUP; rollwatch …'` (the before-stop hook's smoke test, `nohup`):
    /// SIGHUP is ignored and goes to the shell anyway, so rollwatch must notice by itself.
    HupIgnored,
}

/// Linux system calls the waiter needs (the test crate has no `libc`; these are in the C
/// library every Rust binary on Linux links anyway).
#[cfg(target_os = "linux")]
mod sys {
    use std::os::raw::{c_int, c_ulong};
    pub const SIGHUP: c_int = 1;
    pub const SIG_DFL: usize = 0;
    pub const SIG_IGN: usize = 1;
    pub const TIOCNOTTY: c_ulong = 0x5422;
    pub const TIOCSCTTY: c_ulong = 0x540E;
    unsafe extern "C" {
        pub fn signal(sig: c_int, handler: usize) -> usize;
        pub fn setsid() -> c_int;
        pub fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    }
}

const WAITER_STATUS: &str = "RW_PANE_WAITER_STATUS";
const WAITER_FORM: &str = "RW_PANE_WAITER_FORM";
const WAITER_ARGS: &str = "RW_PANE_WAITER_ARGS";

/// Not a test: the pane's process in [`the_pty_vanishing`] (this test binary started again
/// with `--ignored --exact e2e_signals::pane_waiter`; without its variables it does nothing).
///
/// Why a waiter: the pane's own process is a child of the tmux server, and `kill-session`
/// destroys the pane with its `remain-on-exit` status, so nobody could read rollwatch's exit
/// status. This waiter is the pane's process and rollwatch's parent, and writes the status as
/// `wait()` returns it (`exited N`, or `signal N` when a signal ended it: nothing is hidden).
///
/// In the `exec` form it first hands the terminal over: it gives up the pty (`TIOCNOTTY`, with
/// SIGHUP ignored for that moment) and starts rollwatch in a session of its own that takes the
/// pty as its controlling terminal (`setsid` + `TIOCSCTTY`). rollwatch is then, as with
/// `exec rollwatch`, the session leader of the pane's pty, and the hang-up reaches it exactly
/// as it does there (checked by [`session_leader_of_a_tty`]).
#[test]
#[ignore = "the pane's process of the_pty_vanishing_*, not a test of its own"]
#[cfg(target_os = "linux")]
fn pane_waiter() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let Some(status_file) = std::env::var_os(WAITER_STATUS) else {
        return;
    };
    let exec_form = std::env::var(WAITER_FORM).as_deref() == Ok("exec");
    let args = std::env::var(WAITER_ARGS).unwrap_or_default();
    let mut cmd = Command::new(BIN);
    cmd.args(args.split_whitespace());
    // SAFETY: `signal` and `ioctl` on our own fd 0 have no memory effects on Rust data.
    unsafe {
        sys::signal(sys::SIGHUP, sys::SIG_IGN);
    }
    let outcome = if exec_form {
        // SAFETY: as above.
        if unsafe { sys::ioctl(0, sys::TIOCNOTTY) } != 0 {
            Err(std::io::Error::last_os_error())
        } else {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    sys::signal(sys::SIGHUP, sys::SIG_DFL);
                    if sys::setsid() < 0 || sys::ioctl(0, sys::TIOCSCTTY, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            cmd.status()
        }
    } else {
        // SIGHUP stays ignored in the child, as after `trap "" HUP`.
        cmd.status()
    };
    let line = match outcome {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(c), _) => format!("exited {c}"),
            (None, Some(s)) => format!("signal {s}{}", if st.core_dumped() { " core" } else { "" }),
            (None, None) => format!("unknown {st:?}"),
        },
        Err(e) => format!("waiter failed: {e}"),
    };
    let tmp = std::path::PathBuf::from(&status_file).with_extension("tmp");
    std::fs::write(&tmp, line).unwrap();
    std::fs::rename(&tmp, &status_file).unwrap();
}

/// Whether `pid` leads its session and has a controlling terminal (fields 6 and 7 of
/// `/proc/PID/stat`).
fn session_leader_of_a_tty(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(") ")
        .next()
        .unwrap_or_default()
        .split(' ')
        .collect();
    f.get(3) == Some(&pid.to_string().as_str()) && f.get(4).is_some_and(|t| *t != "0")
}

/// `tmux kill-session` closes the pane's pty master, as sshd does when an SSH connection
/// drops: the kernel hangs the terminal up (SIGHUP to its session leader, end-of-file on reads,
/// EIO on writes). Killing the session is the faithful stand-in: it closes the master and
/// nothing else (no signal from tmux itself), and with a server of our own (`-L`) it touches
/// no one else's tmux.
///
/// rollwatch must be gone within a second, with a normal exit status (today: `eprintln!` on
/// the dead terminal panics, the report cannot be printed either, and it aborts: signal 6,
/// 1.5 s later), having flushed its own log, with the audit log whole.
/// `logged`: the reasons the log's last line may give (a frame written at the moment of the
/// hang-up can fail before the signal is read).
fn the_pty_vanishing(form: Form, tag: &str, logged: &[&str]) {
    use rollwatch::audit::AuditRecord;
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let audit = d.join("audit.jsonl");
    let status = d.join("status");
    // A write that a crash left without outcome: the start appends an `unknown` outcome, so
    // the log has two records to keep whole.
    let intent = AuditRecord {
        time: "2026-01-01T12:00:00Z".into(),
        write_id: "w-before-the-drop".into(),
        phase: "intent".into(),
        user: "test".into(),
        host: "test".into(),
        rollout: "checkout-batch-queries".into(),
        environment: "production".into(),
        backend: "memory".into(),
        action: "set".into(),
        expected_percent: 5,
        expected_enabled: true,
        new_value: 25,
        reason: "operator".into(),
        outcome: None,
        detail: None,
        flag: None,
        group: None,
    };
    std::fs::write(&audit, serde_json::to_string(&intent).unwrap() + "\n").unwrap();
    let me = std::env::current_exe().unwrap();
    let cmd = format!(
        "exec env LANG=C.UTF-8 XDG_STATE_HOME={d} {WAITER_STATUS}={status} {WAITER_FORM}={form} \
         {WAITER_ARGS}='demo --audit-log {audit}' {me} e2e_signals::pane_waiter --exact --ignored \
         --nocapture --test-threads=1",
        d = d.display(),
        status = status.display(),
        form = match form {
            Form::Exec => "exec",
            Form::HupIgnored => "hup-ignored",
        },
        audit = audit.display(),
        me = me.display(),
    );
    let t = Tmux::start(tag, 120, 40, &cmd);
    t.wait_for("the dashboard", WAIT, |s| {
        s.contains("checkout-batch-queries")
    });
    let pid = rollwatch_pid(&t);
    if matches!(form, Form::Exec) {
        assert!(
            session_leader_of_a_tty(pid),
            "rollwatch must lead the pty's session as with `exec`: {}",
            std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default()
        );
    }
    wait_file(&audit, "the start's reconciling outcome", WAIT, |s| {
        s.lines().count() == 2
    });

    t.run(&["kill-session", "-t", "rw"]);
    let took = gone_within(pid, Duration::from_secs(1));
    let st = wait_file(&status, "the exit status", WAIT, |s| !s.is_empty());
    eprintln!("{tag}: gone {took:?} after the kill; {st}");
    assert_eq!(
        st, "exited 0",
        "a normal exit, not a signal (134 = SIGABRT), {took:?} after the kill"
    );

    let text = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every audit line whole"))
        .collect();
    assert!(text.ends_with('\n'), "no torn last line:\n{text}");
    assert_eq!(records.len(), 2, "{text}");
    assert_eq!(records[0], intent);
    assert_eq!(
        (records[1].write_id.as_str(), records[1].phase.as_str()),
        ("w-before-the-drop", "outcome")
    );
    let log = std::fs::read_to_string(d.join("rollwatch/rollwatch.log")).unwrap_or_default();
    let last = log.lines().last().unwrap_or_default();
    assert!(
        logged
            .iter()
            .any(|why| last.contains(&format!("stopped: {why}"))),
        "rollwatch's own log ends with why it stopped ({logged:?}):\n{log}"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn the_pty_vanishing_under_exec_ends_it_cleanly_within_a_second() {
    the_pty_vanishing(Form::Exec, "exec", &["SIGHUP", "terminal"]);
}

#[test]
#[cfg(target_os = "linux")]
fn the_pty_vanishing_with_sighup_ignored_ends_it_cleanly_within_a_second() {
    the_pty_vanishing(Form::HupIgnored, "nohup", &["terminal"]);
}
