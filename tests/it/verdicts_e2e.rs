//! The statistical verdicts end to end, the way a user meets them: `rollwatch simulate`
//! (in-process), a real Prometheus scraping it, and the built binary's `set`, `status --json`
//! and `watch` (in tmux) on `examples/simulate.toml` with its count queries, pointed at this
//! test's ports with short windows and a high request rate so that minutes become seconds.
//!
//! - Scenario `regression` at 25 %: `status --json` carries, per ratio metric, the verdict, the
//!   interval on `new − legacy`, the configured tolerance and the counts per cohort; the error
//!   rate's verdict turns `worse`; the dashboard's comparison row shows the interval beside the
//!   threshold, in the `new-legacy (always valid)` column, and the verdict word.
//! - Scenario `srm` (the new path gets half the flag's share): the built-in `traffic-split` hold
//!   rule fires with the observed share as its value, and the exit code says a warning fires.
//! - Scenario `same` (an A/A rollout): no verdict says `worse` across repeated looks, and the
//!   split rule stays OK at about the flag's share.

use crate::support::tmux;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::prom_engine::{
    Prometheus, Simulated, available_or_skip, simulate_example, simulated,
};
use crate::support::wait::eventually;
use rollwatch::sim::Scenario;
use rollwatch::sim::server::SimHandle;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");

/// The example's error-rate metric line after which the tests add a tolerance.
const RATIO_ANCHOR: &str = "scale = 100               # ratio → percent";

/// A simulator, a Prometheus scraping it and the example config pointed at both.
struct Rig {
    sim: SimHandle,
    prom: Prometheus,
    cfg: String,
    audit: String,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Rig {
    /// Starts the simulator at 5 % with `scenario` (400 req/s), Prometheus, and writes the
    /// config; `tolerance` (percentage points) is added to the error rate when given.
    async fn start(scenario: Scenario, seed: u64, tolerance: Option<f64>) -> Self {
        let Simulated {
            addr: sim_addr,
            sim,
            prom,
            stop,
        } = simulated(scenario, seed, 5, 60).await;

        let example = simulate_example(sim_addr, &prom.url);
        assert!(
            example.contains("[$step]") && example.contains(RATIO_ANCHOR),
            "the example declares count queries on its error rate"
        );
        let mut text = example
            .replace("[1m]", "[10s]")
            .replace("for = \"30s\"", "for = \"4s\"");
        if let Some(t) = tolerance {
            text = text.replace(RATIO_ANCHOR, &format!("{RATIO_ANCHOR}\ntolerance = {t}"));
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("simulate.toml");
        std::fs::write(&cfg_path, text).unwrap();
        let cfg = cfg_path.to_str().unwrap().to_owned();
        let audit = dir.path().join("audit.jsonl");
        let audit = audit.to_str().unwrap().to_owned();
        let rig = Self {
            sim,
            prom,
            cfg,
            audit,
            dir,
            _stop: stop,
        };
        // Prometheus has scraped a few times before the step begins.
        eventually("5 scrapes", Duration::from_secs(40), || async {
            match rig
                .prom
                .value(r#"count_over_time(up{job="sim"}[1m])"#)
                .await
            {
                Some(n) if n >= 5.0 => Ok(()),
                other => Err(format!("{other:?} scrapes\n{}", rig.prom.log_tail())),
            }
        })
        .await;
        rig
    }

    /// Runs the binary with this rig's audit log and state folder: (exit code, output).
    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(BIN)
            .env("XDG_STATE_HOME", self.dir.path())
            .arg("--audit-log")
            .arg(&self.audit)
            .args(args)
            .output()
            .expect("rollwatch runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    /// `set 25` through the simulator's flag API (audited, so `status` dates the step from it).
    fn step_to_25(&self) {
        let (code, text) = self.run(&["set", "--config", &self.cfg, "25"]);
        assert_eq!(code, 0, "{text}");
        assert_eq!(self.sim.percent(), 25);
    }

    /// `status --json` in a blocking task: (exit code, the rollout's document).
    async fn status(&self) -> Result<(i32, Value), String> {
        let (bin_args, cfg) = (self.audit.clone(), self.cfg.clone());
        let state = self.dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let out = Command::new(BIN)
                .env("XDG_STATE_HOME", &state)
                .args([
                    "--audit-log",
                    &bin_args,
                    "status",
                    "--json",
                    "--config",
                    &cfg,
                ])
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)))?;
            Ok((out.status.code().unwrap_or(-1), doc["rollouts"][0].clone()))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// Metric `id` of a rollout document.
fn metric<'a>(rollout: &'a Value, id: &str) -> &'a Value {
    rollout["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["id"] == id))
        .unwrap_or_else(|| panic!("no metric {id}: {rollout}"))
}

/// Rule `name`'s entry in a rollout document's `alerts`.
fn rule<'a>(rollout: &'a Value, name: &str) -> &'a Value {
    rollout["alerts"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["rule"] == name))
        .unwrap_or_else(|| panic!("no rule {name}: {rollout}"))
}

/// A metric's verdict word (`worse`, `not_worse`, `inconclusive`), if it has a verdict.
fn safety(m: &Value) -> Option<&str> {
    m["verdict"]["safety"]["verdict"].as_str()
}

/// One cohort's `(events, trials)` of a metric's counts.
fn counts(m: &Value, cohort: &str) -> Option<(u64, u64)> {
    let c = &m["counts"][cohort];
    Some((c["events"].as_u64()?, c["trials"].as_u64()?))
}

/// Checks the shape a ratio metric with counts must have in `status --json`: counts of both
/// cohorts (events ≤ trials), a verdict, an interval `[low, high]` around the observed
/// difference, and `tolerance` (a fraction). Returns the interval.
fn check_ratio(m: &Value, tolerance: f64) -> Result<(f64, f64), String> {
    let (Some(l), Some(n)) = (counts(m, "legacy"), counts(m, "new")) else {
        return Err(format!("no counts per cohort yet: {m}"));
    };
    if l.1 == 0 || n.1 == 0 || l.0 > l.1 || n.0 > n.1 {
        return Err(format!("counts not usable yet: {m}"));
    }
    let v = &m["verdict"];
    let word = safety(m).ok_or_else(|| format!("no verdict: {m}"))?;
    assert!(
        ["worse", "not_worse", "inconclusive"].contains(&word),
        "verdict word: {m}"
    );
    let tol = v["tolerance"].as_f64().ok_or_else(|| format!("{m}"))?;
    assert!((tol - tolerance).abs() < 1e-12, "tolerance {tol}: {m}");
    let (Some(lo), Some(hi)) = (v["interval"][0].as_f64(), v["interval"][1].as_f64()) else {
        // Both cohorts need an error before the interval exists (no variance otherwise).
        return Err(format!("no interval yet: {m}"));
    };
    #[allow(clippy::cast_precision_loss)]
    let diff = n.0 as f64 / n.1 as f64 - l.0 as f64 / l.1 as f64;
    assert!(
        lo <= diff && diff <= hi,
        "the interval [{lo}, {hi}] holds the observed difference {diff}: {m}"
    );
    if word == "inconclusive" {
        assert_eq!(
            v["safety"]["n"].as_u64(),
            Some(n.1),
            "n is the new path's: {m}"
        );
    }
    Ok((lo, hi))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_turns_the_error_rate_worse_in_status_and_on_screen() {
    if !available_or_skip("regression_turns_the_error_rate_worse_in_status_and_on_screen")
        || !tmux::available()
    {
        return;
    }
    let rig = Rig::start(Scenario::Regression, 3, Some(0.1)).await;
    rig.step_to_25();
    let began = Instant::now();

    // (a) Every look once both cohorts have errors: counts, verdict, interval, tolerance
    //     0.1 pp; (d) within the deadline the error rate is `worse`, the interval's lower end
    //     beyond the tolerance.
    let looks_with_interval = std::cell::Cell::new(0u32);
    let worse = eventually("error_rate worse", Duration::from_secs(90), || async {
        let (code, r) = rig.status().await?;
        let m = metric(&r, "error_rate");
        let (lo, _) = check_ratio(m, 0.001).map_err(|e| format!("exit {code}: {e}"))?;
        looks_with_interval.set(looks_with_interval.get() + 1);
        if safety(m) == Some("worse") {
            Ok((lo, r))
        } else {
            Err(format!("exit {code}: {m}"))
        }
    })
    .await;
    eprintln!(
        "worse after {:.1} s: {}",
        began.elapsed().as_secs_f64(),
        metric(&worse.1, "error_rate")
    );
    assert!(looks_with_interval.get() >= 1);
    assert!(
        worse.0 > 0.001,
        "worse means beyond the tolerance: {}",
        worse.1
    );
    let m = metric(&worse.1, "error_rate");
    let (l, n) = (counts(m, "legacy").unwrap(), counts(m, "new").unwrap());
    #[allow(clippy::cast_precision_loss)]
    let share = n.1 as f64 / (l.1 + n.1) as f64;
    assert!(
        (0.2..0.3).contains(&share),
        "the counts are this step's (flag 25 %): {m}"
    );

    // (e) The dashboard at 160 columns: the error rate's row carries the verdict word and, in
    //     the `new-legacy (always valid)` column beside its threshold, the interval against
    //     the tolerance.
    let cmd = format!(
        "exec env LANG=C.UTF-8 XDG_STATE_HOME={} {BIN} --audit-log {} watch --config {}",
        rig.dir.path().display(),
        rig.audit,
        rig.cfg
    );
    let t = tmux::Tmux::start("verdicts", 160, 45, &cmd);
    let screen = t.wait_for(
        "the error rate's row: worse, with its interval",
        Duration::from_secs(60),
        |s| error_rate_row(s).is_some_and(|(row, _)| row.contains("worse")),
    );
    let (row, ci_col) = error_rate_row(&screen).unwrap();
    eprintln!("{screen}");
    let threshold = row
        .find("alert >0.50%")
        .unwrap_or_else(|| panic!("the threshold on the row:\n{screen}"));
    let ci: String = row.chars().skip(ci_col).collect();
    let ci = ci.trim_start();
    let (range, tol) = ci
        .split_once("pp vs ")
        .unwrap_or_else(|| panic!("an interval `lo..hipp vs tol` in the column: {ci:?}\n{screen}"));
    assert!(
        tol.starts_with("+0.10"),
        "judged against the 0.1 pp tolerance: {ci:?}\n{screen}"
    );
    let (lo, hi) = range
        .split_once("..")
        .unwrap_or_else(|| panic!("lo..hi: {range:?}\n{screen}"));
    let num = |s: &str| s.replace('−', "-").parse::<f64>();
    let (lo, hi) = (num(lo), num(hi));
    assert!(
        matches!((&lo, &hi), (Ok(lo), Ok(hi)) if 0.10 < *lo && lo <= hi),
        "a worse interval lies beyond +0.10 pp: {lo:?}..{hi:?}\n{screen}"
    );
    let threshold_chars = row[..threshold].chars().count();
    assert!(
        threshold_chars < ci_col,
        "the interval sits beside (after) the threshold:\n{screen}"
    );
}

/// The comparison row of the error rate on a dashboard screen, and the column (in chars) where
/// the header's `new-legacy (always valid)` begins; `None` until both are on screen.
fn error_rate_row(screen: &str) -> Option<(String, usize)> {
    let lines: Vec<&str> = screen.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.contains("new-legacy (always valid)"))?;
    let header = lines[head];
    let byte = header.find("new-legacy (always valid)")?;
    let col = header[..byte].chars().count();
    let row = lines[head + 1..]
        .iter()
        .find(|l| l.contains("Error rate"))?;
    let cell: String = row.chars().skip(col).take(26).collect();
    cell.contains("pp vs ").then(|| ((*row).to_owned(), col))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_path_served_half_its_share_raises_the_traffic_split_warning() {
    if !available_or_skip("a_new_path_served_half_its_share_raises_the_traffic_split_warning") {
        return;
    }
    let rig = Rig::start(Scenario::Srm, 7, None).await;
    rig.step_to_25();
    let began = Instant::now();
    let (code, r) = eventually("traffic-split FIRING", Duration::from_secs(90), || async {
        let (code, r) = rig.status().await?;
        let split = rule(&r, "traffic-split");
        if split["state"] == "FIRING" && code == 1 {
            Ok((code, r))
        } else {
            Err(format!("exit {code}: {split}"))
        }
    })
    .await;
    let took = began.elapsed();
    eprintln!("traffic-split fired after {:.1} s", took.as_secs_f64());
    let split = rule(&r, "traffic-split");
    assert_eq!(split["severity"], "warning", "{split}");
    assert_eq!(split["action"], "hold", "{split}");
    let share = split["value"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (10.0..15.0).contains(&share),
        "its value is the new path's observed share (about 12.5 %, flag 25 %): {split}"
    );
    // That share is the counts' own: the new path's part of this step's requests.
    let m = metric(&r, "error_rate");
    let (l, n) = (counts(m, "legacy").unwrap(), counts(m, "new").unwrap());
    #[allow(clippy::cast_precision_loss)]
    let counted = n.1 as f64 / (l.1 + n.1) as f64 * 100.0;
    assert!((counted - share).abs() < 0.5, "{share} vs {counted}: {r}");
    assert_eq!(code, 1, "a warning fires: {r}");
    // No other rule is firing: the exit code is the split's.
    for a in r["alerts"].as_array().unwrap() {
        if a["rule"] != "traffic-split" {
            assert_ne!(a["state"], "FIRING", "{r}");
        }
    }
    assert_eq!(rig.sim.percent(), 25, "a hold rule never writes the flag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_new_path_is_never_called_worse_and_its_split_is_ok() {
    if !available_or_skip("an_identical_new_path_is_never_called_worse_and_its_split_is_ok") {
        return;
    }
    let rig = Rig::start(Scenario::Same, 11, None).await;
    rig.step_to_25();
    // Look for 45 s, twice a second, like an operator refreshing; every look with counts must
    // be free of `worse` and have its split rule OK near the flag's 25 %.
    let until = Instant::now() + Duration::from_secs(45);
    let mut pace = tokio::time::interval(Duration::from_millis(500));
    let (mut looks, mut last) = (0u32, None);
    while Instant::now() < until {
        pace.tick().await;
        let (code, r) = match rig.status().await {
            Ok(x) => x,
            Err(e) => panic!("status --json: {e}"),
        };
        for m in r["metrics"].as_array().unwrap() {
            assert_ne!(safety(m), Some("worse"), "look {looks}, exit {code}: {m}");
        }
        let m = metric(&r, "error_rate");
        if counts(m, "new").is_some_and(|c| c.1 > 0) {
            assert!(safety(m).is_some(), "a verdict with counts: {m}");
            let split = rule(&r, "traffic-split");
            assert_eq!(split["state"], "OK", "look {looks}: {split}");
            let share = split["value"].as_f64().unwrap_or(f64::NAN);
            assert!((20.0..30.0).contains(&share), "look {looks}: {split}");
            looks += 1;
            last = Some(r);
        }
    }
    let last = last.expect("looks with counts");
    eprintln!(
        "{looks} looks; last: {}",
        metric(&last, "error_rate")["verdict"]
    );
    assert!(looks >= 20, "enough looks to mean something: {looks}");
    // By the end the sample is substantial, and the split is close to the flag.
    let m = metric(&last, "error_rate");
    let new = counts(m, "new").unwrap().1;
    assert!(new >= 2000, "the new path served {new} requests: {m}");
    let share = rule(&last, "traffic-split")["value"].as_f64().unwrap();
    assert!((22.5..27.5).contains(&share), "{share}");
}
