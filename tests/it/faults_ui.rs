//! The dashboard stays responsive while its backends are broken: the built binary in tmux,
//! watching a config whose Prometheus and flag API are the fault server, first black-holed
//! (accepts, never answers) and then answering 503. Keys act at once, the header says STALE
//! and ERROR with the reason, a firing rule stays FIRING on its last known value, and `q` quits promptly.
//!
//! The bounds (< 1 s from key to screen) are behaviour checks, not benchmarks: a UI task that
//! awaited the network would miss them by whole deadlines.

use crate::support::fault_config::{self, FaultRollout, Flag, Source};

use std::time::{Duration, Instant};

use crate::support::fault_server::{Fault, FaultServer, runtime};
use crate::support::tmux::{Tmux, available};

const WAIT: Duration = Duration::from_secs(20);
const PROMPT: Duration = Duration::from_secs(1);
const HELP_TITLE: &str = "? or Esc closes";

fn config(url: &str) -> String {
    fault_config::config(&[
        FaultRollout::new("faulty-ui", url, Flag::Http, Source::Prom)
            .label("Error rate")
            .critical_rollback(),
    ])
}

/// The header's backend line: `flag: ... | metrics: ...` with ages and errors.
fn header_line(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.trim_start().starts_with("flag ") && l.contains("metrics"))
        .unwrap_or("")
}

/// The alerts panel's row of the rule.
fn rule_row(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.contains("err-high:"))
        .unwrap_or("")
}

/// Both backends STALE with the reason in words, and the rule that was firing still FIRING on
/// its last known value, marked as such (a failing backend never resolves an alert).
fn says_why(s: &str, reason: &str) -> bool {
    let h = header_line(s);
    h.matches("STALE").count() == 2
        && h.matches(&format!("ERROR: {reason}")).count() == 2
        && kept_firing(s)
}

fn kept_firing(s: &str) -> bool {
    let row = rule_row(s);
    row.contains("FIRING") && row.contains("data lost")
}

/// Presses `keys` and returns how long until the screen satisfies `pred`.
fn key_to_screen(t: &Tmux, keys: &[&str], what: &str, pred: impl Fn(&str) -> bool) -> Duration {
    let start = Instant::now();
    t.keys(keys);
    t.wait_for(what, WAIT, pred);
    start.elapsed()
}

fn help_opens_and_closes_promptly(t: &Tmux, phase: &str) {
    let open = key_to_screen(t, &["?"], "the help overlay", |s| s.contains(HELP_TITLE));
    assert!(open < PROMPT, "{phase}: help took {open:?} to open");
    let close = key_to_screen(t, &["Escape"], "the help overlay to close", |s| {
        !s.contains(HELP_TITLE)
    });
    assert!(close < PROMPT, "{phase}: help took {close:?} to close");
    eprintln!("{phase}: help opened in {open:?}, closed in {close:?}");
}

#[test]
fn keys_stay_prompt_and_the_screen_says_why_while_backends_hang_or_fail() {
    if !available() {
        return;
    }
    let rt = runtime();
    let server = rt.block_on(FaultServer::start(25));
    server.set_values(1.0, 9.0);
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::watch("faults-ui", 200, 50, dir.path(), &config(&server.url), &[]);

    // Healthy first: data, a firing rule.
    t.wait_for("data and a firing rule", WAIT, |s| {
        rule_row(s).contains("FIRING") && s.contains("25%")
    });

    // Black hole: both backends accept and never answer.
    rt.block_on(server.set_fault(Fault::BlackHole));
    let s = t.wait_for(
        "STALE, ERROR: timed out and the rule kept FIRING",
        WAIT,
        |s| says_why(s, "timed out after 400 ms"),
    );
    assert!(
        s.contains("metrics poll failed"),
        "the log says what happened:\n{s}"
    );
    assert!(
        !s.contains("RESOLVED"),
        "a rule resolved on missing data:\n{s}"
    );
    help_opens_and_closes_promptly(&t, "black hole");

    // 5xx: answers, but errors.
    rt.block_on(server.set_fault(Fault::Status(503)));
    let s = t.wait_for("ERROR with HTTP 503", WAIT, |s| {
        let h = header_line(s);
        h.matches("STALE").count() == 2
            && h.contains("ERROR: backend: read answered HTTP 503")
            && h.contains("ERROR: HTTP 503")
            && kept_firing(s)
    });
    assert!(
        !s.contains("RESOLVED"),
        "a rule resolved on failing data:\n{s}"
    );
    help_opens_and_closes_promptly(&t, "503");

    // Back to the black hole, then quit while requests hang.
    rt.block_on(server.set_fault(Fault::BlackHole));
    let quit = key_to_screen(&t, &["q"], "the process to exit", |s| {
        s.contains("EXITED:0")
    });
    assert!(quit < PROMPT, "q took {quit:?} with hung backends");
    eprintln!("black hole: q quit in {quit:?}");
    assert_eq!(t.var("alternate_on"), "0", "terminal not restored");
}
