//! End to end in tmux, with rollwatch as the pane's own process (`exec`, no shell around it):
//! the keys people press by habit never change a flag, the dialogs say what happens, arming and
//! quitting while armed are confirmed; and against a real Prometheus, a firing rule stays
//! firing through an outage and keeps blocking the next step.

use crate::support::prom_engine;

use std::time::Duration;

use crate::support::tmux::{Tmux, available, flag_line};

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(20);

/// Starts `args` as the pane's own process; the pane stays after exit so its status can be read.
fn exec(tag: &str, w: u16, h: u16, args: &str) -> Tmux {
    let t = Tmux::start(tag, w, h, &format!("exec env LANG=C.UTF-8 {BIN} {args}"));
    let out = t.run(&["set-option", "-t", &t.session, "remain-on-exit", "on"]);
    assert!(out.status.success());
    t
}

/// The exit status of the pane's process once it has exited.
fn exit_status(t: &Tmux) -> String {
    t.exit_status(WAIT)
}

fn audit_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn habit_keys_never_write_and_only_y_confirms() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let t = exec(
        "habit",
        120,
        40,
        &format!("demo --scenario healthy --audit-log {}", audit.display()),
    );
    t.wait_for("the flag at 25% and the rules evaluated", WAIT, |s| {
        flag_line(s).contains(" 25% ")
            && flag_line(s).contains(" on ")
            && s.lines().next().unwrap_or_default().contains("BAKING")
    });

    // The vim/k9s habit that used to switch production off: j k Enter, twice, and arrows.
    t.keys(&["j", "k", "Enter", "j", "k", "Enter", "Up", "Down", "Enter"]);
    // Then a key whose effect is visible, so every earlier key has been handled.
    t.keys(&["?"]);
    let s = t.wait_for("the help overlay", WAIT, |s| s.contains("Keys"));
    assert!(!s.contains("Confirm flag change"), "{s}");
    assert!(flag_line(&s).contains(" on "), "flag still on:\n{s}");
    assert!(
        audit_lines(&audit).is_empty(),
        "habit keys wrote: {:?}",
        audit_lines(&audit)
    );
    t.keys(&["Escape"]);
    // (Esc and the next key sent together would read as Alt-key: wait for Esc's effect.)
    t.wait_for("the help closed", WAIT, |s| !s.contains("Keys"));

    // K opens the kill switch dialog, in words; Enter does not confirm it.
    t.keys(&["K"]);
    let s = t.wait_for("the kill switch dialog", WAIT, |s| {
        s.contains("Confirm flag change")
    });
    assert!(
        s.contains("switch the new path OFF for everyone in production"),
        "{s}"
    );
    assert!(s.contains("[y] confirm"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("the Enter hint", WAIT, |s| {
        s.contains("Enter does not confirm:")
    });
    assert!(s.contains("Confirm flag change"), "dialog still open:\n{s}");
    assert!(audit_lines(&audit).is_empty());
    t.keys(&["Escape"]);
    t.wait_for("the dialog gone", WAIT, |s| {
        !s.contains("Confirm flag change")
    });

    // + at 25 % shows the effect for users and the bake time left.
    t.keys(&["+"]);
    let s = t.wait_for("the step dialog", WAIT, |s| {
        s.contains("Confirm flag change")
    });
    assert!(
        s.contains("send 50 % of traffic to the new path in production"),
        "{s}"
    );
    assert!(s.contains("the 25 % step is not baked: baked"), "{s}");
    t.keys(&["n"]);

    // a asks before arming; q while armed asks before stopping automation.
    t.keys(&["a"]);
    let s = t.wait_for("the arm dialog", WAIT, |s| s.contains("Arm auto-advance"));
    assert!(s.contains("WITHOUT ASKING"), "{s}");
    t.keys(&["y"]);
    t.wait_for("ARMED in the header", WAIT, |s| {
        s.lines().next().unwrap_or_default().contains("ARMED")
    });
    t.keys(&["q"]);
    let s = t.wait_for("the quit dialog", WAIT, |s| s.contains("Quit?"));
    assert!(s.contains("STOPS auto-advance"), "{s}");
    t.keys(&["n"]);
    t.wait_for("the dialog gone", WAIT, |s| !s.contains("Quit?"));
    assert_eq!(t.var("pane_dead"), "0", "n keeps it running");
    t.keys(&["q", "y"]);
    assert_eq!(exit_status(&t), "0");
    assert!(audit_lines(&audit).is_empty(), "nothing was ever written");
}

/// The row of rule `name` in the alerts panel.
fn rule_row(screen: &str, name: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(&format!("{name}:")))
        .unwrap_or_default()
        .to_owned()
}

#[allow(clippy::too_many_lines)] // one scenario, step by step
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_rule_stays_firing_when_prometheus_stops_and_keeps_blocking_the_next_step() {
    use prom_engine::{Simulated, available_or_skip, simulate_example, simulated};
    use rollwatch::sim::Scenario;

    if !available() || !available_or_skip("firing_rule_survives_outage") {
        return;
    }
    let Simulated {
        addr: sim_addr,
        prom,
        stop: _stop,
        ..
    } = simulated(Scenario::Regression, 5, 25, 120).await;
    let example = simulate_example(sim_addr, &prom.url);
    let text = example
        .replace("refresh = \"2s\"", "refresh = \"1s\"")
        .replace("[1m]", "[10s]")
        .replace("for = \"30s\"", "for = \"4s\"");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("simulate.toml");
    std::fs::write(&cfg, text).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let t = exec(
        "outage",
        120,
        40,
        &format!(
            "--audit-log {} watch --config {}",
            audit.display(),
            cfg.display()
        ),
    );
    let long = Duration::from_secs(90);
    t.wait_for("new-error-rate FIRING", long, |s| {
        rule_row(s, "new-error-rate").contains("FIRING")
    });

    // The outage.
    drop(prom);
    let s = t.wait_for("the rule marked as firing on lost data", WAIT, |s| {
        rule_row(s, "new-error-rate").contains("data lost")
    });
    let row = rule_row(&s, "new-error-rate");
    assert!(row.contains("FIRING"), "still FIRING:\n{s}");
    assert!(row.contains("last known"), "{row}");
    assert!(
        s.lines()
            .any(|l| l.contains("Alerts") && l.contains("1 FIRING")),
        "counted in the badge:\n{s}"
    );
    let s = t.wait_for("metrics ERROR or STALE in the header", WAIT, |s| {
        let l = s
            .lines()
            .find(|l| l.starts_with(" flag ") && l.contains("metrics"))
            .unwrap_or_default();
        l.contains("ERROR") || l.contains("STALE")
    });
    assert!(rule_row(&s, "new-error-rate").contains("FIRING"), "{s}");

    // + stays blocked, naming the rule; nothing is written.
    t.keys(&["+"]);
    let s = t.wait_for("the blocked message", WAIT, |s| {
        s.contains("next step blocked")
    });
    assert!(s.contains("new-error-rate"), "{s}");
    assert!(!s.contains("Confirm flag change"), "{s}");
    // ! shows the rule's value, severity and action in the dialog.
    t.keys(&["!"]);
    let s = t.wait_for("the forcing dialog", WAIT, |s| {
        s.contains("Confirm flag change")
    });
    let line = s
        .lines()
        .find(|l| l.contains("new-error-rate") && l.contains("FIRING"))
        .unwrap_or_else(|| panic!("rule in the dialog:\n{s}"));
    assert!(
        line.contains("critical") && line.contains("rollback") && line.contains("value"),
        "{line}"
    );
    t.keys(&["n"]);
    t.wait_for("the dialog gone", WAIT, |s| {
        !s.contains("Confirm flag change")
    });
    assert!(audit_lines(&audit).is_empty(), "nothing written");
    t.keys(&["q"]);
    assert_eq!(exit_status(&t), "0");
}
