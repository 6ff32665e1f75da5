//! The README's three-terminal walkthrough, automated: `rollwatch simulate` (in-process), a
//! real Prometheus scraping it, and the rollwatch binary's headless commands on
//! `examples/simulate.toml` (pointed at this test's ports): `status --json` reads both cohorts,
//! `set` moves the simulator's traffic through its flag API, the regression then fires the
//! critical rule (exit code 2), and `rollback` returns the flag to 0 %.

use std::process::Command;
use std::time::Duration;

use crate::support::prom_engine::{Simulated, available_or_skip, simulate_example, simulated};
use crate::support::wait::eventually;
use rollwatch::sim::Scenario;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("rollwatch runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn status(cfg: &str) -> (i32, Value) {
    let (code, text) = run(&["status", "--json", "--config", cfg]);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("status --json: {e}: {text}"));
    (code, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn simulate_prometheus_and_rollwatch_close_the_loop() {
    if !available_or_skip("simulate_prometheus_and_rollwatch_close_the_loop") {
        return;
    }
    let Simulated {
        addr: sim_addr,
        sim,
        prom,
        stop: _stop,
    } = simulated(Scenario::Regression, 3, 5, 120).await;

    // The example, pointed at this test's simulator and Prometheus, with short windows so the
    // regression shows within seconds.
    let example = simulate_example(sim_addr, &prom.url);
    let text = example
        .replace("[1m]", "[10s]")
        .replace("for = \"30s\"", "for = \"4s\"");
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("simulate.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = cfg_path.to_str().unwrap().to_owned();
    let audit = dir.path().join("audit.jsonl");
    let audit = audit.to_str().unwrap().to_owned();

    // 1. status reads the flag and both cohorts once Prometheus has a few scrapes.
    let first = eventually(
        "both cohorts in status --json",
        Duration::from_secs(40),
        || {
            let cfg = cfg.clone();
            async move {
                let (code, s) = tokio::task::spawn_blocking(move || status(&cfg))
                    .await
                    .unwrap();
                let r = &s["rollouts"][0];
                let m = &r["metrics"][1]; // p95
                if r["percent"] == 5 && m["legacy"].is_number() && m["new"].is_number() {
                    Ok((code, s))
                } else {
                    Err(format!("exit {code}: {s}"))
                }
            }
        },
    )
    .await;
    assert_eq!(first.0, 0, "nothing fires at 5 %: {}", first.1);

    // 2. set 25 through the flag API: the simulator follows.
    let (code, text) = run(&["--audit-log", &audit, "set", "--config", &cfg, "25"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("5% → 25%: ok (re-read: 25%)"), "{text}");
    assert_eq!(sim.percent(), 25);

    // 3. The regression at ≥ 25 % fires the critical rollback rule: exit code 2.
    let fired = eventually("new-error-rate FIRING", Duration::from_secs(60), || {
        let cfg = cfg.clone();
        async move {
            let (code, s) = tokio::task::spawn_blocking(move || status(&cfg))
                .await
                .unwrap();
            let rule = &s["rollouts"][0]["alerts"][0];
            if code == 2 && rule["state"] == "FIRING" {
                Ok(s)
            } else {
                Err(format!("exit {code}: {rule}"))
            }
        }
    })
    .await;
    assert_eq!(fired["rollouts"][0]["alerts"][0]["rule"], "new-error-rate");

    // 4. rollback returns the flag to 0 %, audited.
    let (code, text) = run(&["--audit-log", &audit, "rollback", "--config", &cfg]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(sim.percent(), 0);
    let log = std::fs::read_to_string(&audit).unwrap();
    let outcomes: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["phase"] == "outcome")
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|r| r["outcome"] == "ok"));

    // 5. A fresh `status` names the lifecycle: rolled back (from the audit log), its rules
    //    on the new path IDLE rather than UNKNOWN.
    let (code, text) = run(&["--audit-log", &audit, "status", "--json", "--config", &cfg]);
    let s: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let r = &s["rollouts"][0];
    assert_eq!(r["lifecycle"], "ROLLED BACK", "{s}");
    let rule = &r["alerts"][0];
    assert_eq!(rule["rule"], "new-error-rate");
    assert_eq!(rule["state"], "IDLE", "{s}");
    assert_eq!(code, 0, "nothing unknown about an idle cohort: {s}");
}
