//! End to end in tmux, rollwatch as the pane's own process: a rollout whose flag moves with a
//! second one (`[[rollout.also]]`), each behind its own flag API (a loopback fault server).
//! `+` lists both flags, `y` moves both (read back from the APIs); when the second flag's API
//! fails on the next step after the first landed, the verdict line says PARTIAL WRITE, `+` is
//! blocked, and `u` then `y` puts the first flag back, read back from its API.

use std::time::Duration;

use crate::support::fault_config::http_flag_keys;
use crate::support::fault_server::{Fault, FaultServer};
use crate::support::tmux::{Tmux, available};
use crate::support::wait::until;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(20);
const TICK: Duration = Duration::from_millis(50);

fn config(main: &str, cache: &str) -> String {
    let (main_flag, cache_flag) = (http_flag_keys(main), http_flag_keys(cache));
    format!(
        r#"refresh = "1s"

[[rollout]]
name = "checkout"
environment = "production"
steps = [5, 25, 50, 100]

[rollout.flag]
{main_flag}
[[rollout.also]]
name = "cache-level"
{cache_flag}
[rollout.metrics]
kind = "prometheus"
url = "{main}"
legacy = ["legacy"]
new = ["new"]

[[rollout.metric]]
id = "err"
label = "Error rate"
kind = "ratio"
query = 'sum by (cohort)(rate(errors_total[1m]))'

[[rollout.rule]]
name = "err-high"
metric = "err"
when = "new > 5%"
severity = "critical"
action = "rollback"
"#
    )
}

fn verdict(screen: &str) -> &str {
    screen.lines().next().unwrap_or_default()
}

#[allow(clippy::too_many_lines)] // one session, step by step
#[test]
fn both_flags_move_a_partial_write_is_shown_and_undone() {
    if !available() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let main = rt.block_on(FaultServer::start(25));
    let cache = rt.block_on(FaultServer::start(25));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("multi.toml");
    std::fs::write(&cfg, config(&main.url, &cache.url)).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let t = Tmux::start(
        "multi",
        120,
        40,
        &format!(
            "exec env LANG=C.UTF-8 XDG_STATE_HOME={} {BIN} --audit-log {} watch --config {}",
            dir.path().display(),
            audit.display(),
            cfg.display()
        ),
    );

    // Both flags read, the rule evaluated.
    t.wait_for("both flags at 25% and the rule evaluated", WAIT, |s| {
        s.contains("also: cache-level 25% ✔") && !verdict(s).contains("UNKNOWN")
    });
    t.keys(&["+"]);
    let s = t.wait_for("the confirm dialog", WAIT, |s| {
        s.contains("Confirm flag change")
    });
    assert!(s.contains("25% → 50%"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.contains("cache-level") && l.contains("25% → 50%")),
        "the second flag's change is listed:\n{s}"
    );
    t.keys(&["y"]);
    until("both flag APIs at 50 %", WAIT, TICK, || {
        let got = (main.flag().percent, cache.flag().percent);
        if got == (50, 50) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    t.wait_for("both shown at 50%", WAIT, |s| {
        s.contains("also: cache-level 50% ✔") && s.contains("flag  50%")
    });

    // The next step: the first flag lands, the second's API fails.
    cache.set_write_fault(Some(Fault::Status(500)));
    let cache_writes = cache.writes(crate::support::fault_server::Class::Flag);
    t.keys(&["!"]);
    t.wait_for("the forced step's dialog", WAIT, |s| {
        s.contains("Confirm flag change") && s.contains("50% → 100%")
    });
    t.keys(&["y"]);
    let s = t.wait_for("the partial write on the verdict line", WAIT, |s| {
        verdict(s).contains("PARTIAL WRITE")
    });
    assert!(verdict(&s).contains("undo [u]"), "{s}");
    assert_eq!(main.flag().percent, 100, "the first flag landed");
    assert_eq!(cache.flag().percent, 50, "the second did not");
    assert!(cache.writes(crate::support::fault_server::Class::Flag) > cache_writes);
    // The header marks the flag that is apart.
    assert!(s.contains("also: cache-level 50% ✖"), "{s}");
    // `u` offers to put the first flag back; `y` does it.
    cache.set_write_fault(None);
    t.keys(&["u"]);
    let s = t.wait_for("the undo dialog", WAIT, |s| {
        s.contains("Confirm") && s.contains("100% → 50%")
    });
    assert!(
        !s.contains("cache-level 50% →"),
        "only the flag that landed:\n{s}"
    );
    t.keys(&["y"]);
    until("the first flag back at 50 %", WAIT, TICK, || {
        match main.flag().percent {
            50 => Ok(()),
            p => Err(format!("{p}%")),
        }
    });
    let s = t.wait_for("the partial write cleared", WAIT, |s| {
        !verdict(s).contains("PARTIAL") && s.contains("flag  50%")
    });
    assert_eq!(cache.flag().percent, 50, "{s}");
    let records = std::fs::read_to_string(&audit).unwrap();
    assert!(records.contains("\"flag\":\"cache-level\""), "{records}");
    t.keys(&["q"]);
}
