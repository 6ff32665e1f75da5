//! Counts since the step began, end to end: `rollwatch simulate` (in-process), a real
//! Prometheus scraping it, and the binary's `status --json` and `set` on
//! `examples/simulate.toml` (its `events_query`, `trials_query` and `buckets_query`). The counts
//! per cohort grow while the step lasts, cover the step's split only, and restart when `set`
//! begins the next step; the p95 comes with the bucket that holds it.

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

/// One cohort's (events, trials) from a `counts` object of `status --json`.
fn side(counts: &Value, cohort: &str) -> Option<(u64, u64)> {
    let c = &counts[cohort];
    Some((c["events"].as_u64()?, c["trials"].as_u64()?))
}

/// What `status --json` says about the error rate's and the p95's counts.
#[derive(Debug, Clone)]
struct Seen {
    errors: [(u64, u64); 2],
    slow: [(u64, u64); 2],
    p95_bounds: Value,
    doc: Value,
}

impl Seen {
    fn trials(&self) -> u64 {
        self.errors[0].1 + self.errors[1].1
    }

    #[allow(clippy::cast_precision_loss)]
    fn new_share(&self) -> f64 {
        self.errors[1].1 as f64 / self.trials().max(1) as f64
    }
}

/// `status --json` with both metrics' counts for both cohorts, with traffic on both.
fn status(cfg: &str, audit: &str) -> Result<Seen, String> {
    let (code, text) = run(&["--audit-log", audit, "status", "--json", "--config", cfg]);
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("exit {code}: {e}: {text}"))?;
    let metrics = &doc["rollouts"][0]["metrics"];
    let (errors, p95) = (&metrics[0], &metrics[1]);
    if errors["id"] != "error_rate" || p95["id"] != "p95" {
        return Err(format!("unexpected metrics: {metrics}"));
    }
    let pair = |m: &Value| Some([side(&m["counts"], "legacy")?, side(&m["counts"], "new")?]);
    let (Some(errors), Some(slow)) = (pair(errors), pair(p95)) else {
        return Err(format!("no counts yet: {metrics}"));
    };
    if errors.iter().any(|c| c.1 == 0) {
        return Err(format!("a cohort without trials yet: {metrics}"));
    }
    Ok(Seen {
        errors,
        slow,
        p95_bounds: p95["bounds"].clone(),
        doc,
    })
}

async fn status_until(
    what: &str,
    cfg: &str,
    audit: &str,
    ok: impl Fn(&Seen) -> bool + Send + Sync + Clone + 'static,
) -> Seen {
    eventually(what, Duration::from_secs(60), || {
        let (cfg, audit, ok) = (cfg.to_owned(), audit.to_owned(), ok.clone());
        async move {
            let s = tokio::task::spawn_blocking(move || status(&cfg, &audit))
                .await
                .map_err(|e| e.to_string())??;
            if ok(&s) { Ok(s) } else { Err(format!("{s:?}")) }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn status_counts_grow_during_a_step_and_restart_at_the_next() {
    if !available_or_skip("status_counts_grow_during_a_step_and_restart_at_the_next") {
        return;
    }
    let Simulated {
        addr: sim_addr,
        sim,
        prom,
        stop: _stop,
    } = simulated(Scenario::Healthy, 5, 5, 60).await;

    let example = simulate_example(sim_addr, &prom.url);
    assert!(
        example.contains("[$step]"),
        "the example declares count queries"
    );
    let text = example.replace("[1m]", "[10s]");
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("simulate.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = cfg_path.to_str().unwrap().to_owned();
    let audit = dir.path().join("audit.jsonl");
    let audit = audit.to_str().unwrap().to_owned();

    // Prometheus has scraped a few times before the step begins.
    eventually("5 scrapes", Duration::from_secs(40), || async {
        match prom.value(r#"count_over_time(up{job="sim"}[1m])"#).await {
            Some(n) if n >= 5.0 => Ok(()),
            other => Err(format!("{other:?} scrapes\n{}", prom.log_tail())),
        }
    })
    .await;

    // 1. Step 25 %: the counts are this step's, so about a quarter of them are the new path's
    //    (the 5 % before it is not counted), and they grow while the step lasts.
    let (code, text) = run(&["--audit-log", &audit, "set", "--config", &cfg, "25"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(sim.percent(), 25);
    let early = status_until("counts at 25 %", &cfg, &audit, |_| true).await;
    let later = status_until("counts grown at 25 %", &cfg, &audit, {
        let before = early.trials();
        move |s| s.trials() >= before + 2000 && s.trials() >= 6000
    })
    .await;
    eprintln!("25 %: early {:?}\nlater {:?}", early.errors, later.errors);
    for c in 0..2 {
        assert!(
            later.errors[c].1 > early.errors[c].1,
            "cohort {c} grows: {early:?} → {later:?}"
        );
        assert!(later.errors[c].0 <= later.errors[c].1);
    }
    let share = later.new_share();
    assert!(
        (0.2..0.3).contains(&share),
        "new served {share:.3} of this step's requests (flag 25 %): {:?}",
        later.errors
    );
    // The p95's counts are the same requests, (slower than 500 ms, all), and the bucket that
    // holds the p95 is a pair of boundaries.
    for c in 0..2 {
        let (slow, all) = later.slow[c];
        let req = later.errors[c].1;
        assert!(slow <= all, "{later:?}");
        #[allow(clippy::cast_precision_loss)]
        let gap = (all as f64 - req as f64).abs() / req as f64;
        assert!(
            gap < 0.05,
            "latency and error counts see the same requests: {later:?}"
        );
    }
    for cohort in ["legacy", "new"] {
        let b = &later.p95_bounds[cohort];
        let (lo, hi) = (b[0].as_f64(), b[1].as_f64());
        assert!(
            matches!((lo, hi), (Some(lo), Some(hi)) if lo < hi),
            "p95 bucket of {cohort}: {}",
            later.doc
        );
    }

    // 2. Step 50 %: the counts restart with the new split.
    let (code, text) = run(&["--audit-log", &audit, "set", "--config", &cfg, "50"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(sim.percent(), 50);
    let restarted = status_until("counts at 50 %", &cfg, &audit, |s| s.trials() >= 2000).await;
    eprintln!("50 %: {:?}", restarted.errors);
    assert!(
        restarted.trials() < later.trials(),
        "counts restart at the step: {:?} after {:?}",
        restarted.errors,
        later.errors
    );
    let share = restarted.new_share();
    assert!(
        (0.4..0.6).contains(&share),
        "only the 50 % split is counted: {share:.3} of {:?}",
        restarted.errors
    );
}
