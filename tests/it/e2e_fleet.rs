//! End to end in tmux, with rollwatch as the pane's own process watching four rollouts, each
//! with its own flag API and Prometheus (a loopback fault server each, answering correctly):
//! the fleet table at start with the FIRING rollout first, `/` filters (a `+` typed there is
//! text, not a write), `Enter` opens a rollout's dashboard and `Esc` returns, and a `+` on the
//! selected row asks about that rollout and, after `y`, changes that rollout's flag only, as
//! read back from the flag APIs.

use std::fmt::Write as _;
use std::time::Duration;

use crate::support::fault_config::http_flag_keys;
use crate::support::fault_server::{Class, FaultServer};
use crate::support::tmux::{Tmux, available, wait_file};

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(20);
const NAMES: [&str; 4] = [
    "alpha-search",
    "bravo-checkout",
    "charlie-chat",
    "delta-llm",
];

fn config(urls: &[String]) -> String {
    let mut text = String::from("refresh = \"1s\"\n");
    for (name, url) in NAMES.iter().zip(urls) {
        let flag = http_flag_keys(url);
        let _ = write!(
            text,
            r#"
[[rollout]]
name = "{name}"
environment = "production"
steps = [5, 25, 50, 100]

[rollout.flag]
{flag}
[rollout.metrics]
kind = "prometheus"
url = "{url}"
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
        ); // a String never fails
    }
    text
}

/// The table's rows (below the title and the column names), up to the first empty line.
fn table(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// The names in the table, top to bottom.
fn listed(screen: &str) -> Vec<String> {
    table(screen)
        .iter()
        .filter_map(|l| {
            l.chars()
                .skip(3)
                .collect::<String>()
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .collect()
}

/// The table row of `name`.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    table(screen)
        .into_iter()
        .find(|l| l.chars().skip(3).collect::<String>().starts_with(name))
        .unwrap_or_default()
}

fn is_table(screen: &str) -> bool {
    screen.starts_with(" Fleet ")
}

#[allow(clippy::too_many_lines)] // one session, step by step
#[test]
fn the_fleet_table_filters_opens_and_steers_only_the_selected_rollout() {
    if !available() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let servers: Vec<FaultServer> = (0..NAMES.len())
        .map(|_| rt.block_on(FaultServer::start(25)))
        .collect();
    // bravo-checkout's new path errs: its rule fires.
    servers[1].set_values(1.0, 9.0);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fleet.toml");
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    std::fs::write(&cfg, config(&urls)).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let t = Tmux::start(
        "fleet",
        120,
        40,
        &format!(
            "exec env LANG=C.UTF-8 XDG_STATE_HOME={} {BIN} --audit-log {} watch --config {}",
            dir.path().display(),
            audit.display(),
            cfg.display()
        ),
    );

    // The table at start, the FIRING rollout first, the others by name.
    let s = t.wait_for("the fleet table with bravo FIRING first", WAIT, |s| {
        is_table(s) && row(s, "bravo-checkout").contains("FIRING err-high")
    });
    assert_eq!(
        listed(&s),
        [
            "bravo-checkout",
            "alpha-search",
            "charlie-chat",
            "delta-llm"
        ],
        "{s}"
    );
    assert!(s.starts_with(" Fleet  4 rollouts  1 FIRING"), "{s}");
    for name in ["alpha-search", "charlie-chat", "delta-llm"] {
        let r = row(&s, name);
        assert!(r.contains(" 25% ") && r.contains("OK"), "{name}: {r}");
    }

    // `/` opens the prompt; a `+` typed there is text, never a write.
    t.keys(&["/"]);
    t.wait_for("the filter prompt", WAIT, |s| s.contains("filter: /_"));
    t.keys(&["-l", "+r"]);
    let s = t.wait_for("the typed text in the prompt", WAIT, |s| {
        s.contains("filter: /+r_")
    });
    assert!(!s.contains("Confirm flag change"), "{s}");
    t.keys(&["BSpace", "BSpace"]);
    t.wait_for("the prompt empty again", WAIT, |s| s.contains("filter: /_"));
    t.keys(&["-l", "char"]);
    let s = t.wait_for("only charlie-chat", WAIT, |s| {
        s.contains("filter: /char_") && listed(s) == ["charlie-chat"]
    });
    assert!(row(&s, "charlie-chat").contains("▶"), "selected:\n{s}");

    // Enter keeps the filter; Enter again opens the rollout's dashboard; Esc returns.
    t.keys(&["Enter"]);
    t.wait_for("the filter kept", WAIT, |s| {
        s.contains("filter: /char ") && listed(s) == ["charlie-chat"]
    });
    t.keys(&["Enter"]);
    let s = t.wait_for("charlie-chat's dashboard", WAIT, |s| {
        !is_table(s) && s.lines().any(|l| l.starts_with(" Metric "))
    });
    assert!(
        s.lines()
            .nth(1)
            .unwrap_or_default()
            .contains("charlie-chat"),
        "its header:\n{s}"
    );
    t.keys(&["Escape"]);
    t.wait_for("the table again, still filtered", WAIT, |s| {
        is_table(s) && listed(s) == ["charlie-chat"]
    });
    // Esc on the table clears the filter.
    t.keys(&["Escape"]);
    t.wait_for("every rollout again", WAIT, |s| listed(s).len() == 4);

    // G selects the last row; + asks about that rollout.
    t.keys(&["G"]);
    t.wait_for("delta-llm selected", WAIT, |s| {
        row(s, "delta-llm").contains("▶")
    });
    t.keys(&["+"]);
    let s = t.wait_for("the confirm dialog", WAIT, |s| {
        s.contains("Confirm flag change")
    });
    assert!(
        s.contains("Rollout:     delta-llm"),
        "names the rollout:\n{s}"
    );
    assert!(s.contains("25% → 50%"), "{s}");
    assert!(
        servers.iter().all(|s| s.writes(Class::Flag) == 0),
        "nothing written before y"
    );

    // y writes delta-llm's flag, and only it.
    t.keys(&["y"]);
    wait_file(&audit, "the write's outcome in the audit log", WAIT, |a| {
        a.contains("\"ok\"")
    });
    let s = t.wait_for("delta-llm at 50% in the table", WAIT, |s| {
        is_table(s) && row(s, "delta-llm").contains(" 50% ")
    });
    assert_eq!(servers[3].flag().percent, 50, "read back from its flag API");
    for (name, server) in NAMES.iter().zip(&servers).take(3) {
        assert_eq!(server.flag().percent, 25, "{name} unchanged");
        assert_eq!(server.writes(Class::Flag), 0, "{name} never written");
        assert!(row(&s, name).contains(" 25% "), "{name}:\n{s}");
    }
    t.keys(&["q"]);
    t.wait_for("the process gone", WAIT, |_| t.var("pane_dead") != "0");
}
