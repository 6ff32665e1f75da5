//! `rollwatch guard` run as users run it, as a process: it drives the in-process simulator
//! through the whole plan to COMPLETE (exit 0) and a regression to ROLLED BACK (exit 10) on a
//! scaled clock; SIGTERM in the middle of a slow write lets the write finish with its audit
//! outcome (exit 11); against the simulator's flag API a second guard is refused naming the
//! first (exit 2), a dashboard in tmux shows `GUARDED by …` and its dialogs warn, and stopping
//! the guard releases the lease.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fault_server::{Fault, FaultServer};
use crate::support::tmux::{Tmux, available};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(60);

/// Starts `rollwatch guard` with `args`; state (log file) and home in `dir`.
fn guard(dir: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("guard")
        .args(args)
        .env("XDG_STATE_HOME", dir)
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the process to end; its exit code and stderr.
fn finish(mut c: Child, deadline: Duration) -> (i32, String) {
    let until = Instant::now() + deadline;
    loop {
        if let Some(status) = c.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = c.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > until {
            let _ = c.kill();
            panic!("the guard did not end within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// Waits until the event file has a line of `kind`.
fn wait_event(path: &Path, kind: &str, deadline: Duration) -> Vec<Value> {
    let until = Instant::now() + deadline;
    loop {
        let ev = lines(path);
        if !of(&ev, kind).is_empty() {
            return ev;
        }
        assert!(
            Instant::now() < until,
            "no `{kind}` event within {deadline:?}: {ev:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sim_config(dir: &Path, scenario: &str) -> PathBuf {
    let cfg = format!(
        r#"refresh = "5s"

[[rollout]]
name = "checkout"
environment = "sim"
steps = [5, 25, 50, 75, 100]
bake = ["2m", "2m", "2m", "2m"]

[rollout.flag]
kind = "memory"
percent = 5

[rollout.metrics]
kind = "simulator"
scenario = "{scenario}"
seed = 7

[[rollout.metric]]
id = "error_rate"
label = "Error rate"
kind = "ratio"
sim = "error_rate"

[[rollout.rule]]
name = "new-error-rate"
metric = "error_rate"
when = "new > 0.5%"
for = "30s"
severity = "critical"
action = "rollback"
"#
    );
    let p = dir.join("sim.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

/// The guard on a simulator config at `speed`, its events and audit log in the given files.
fn sim_guard(dir: &Path, cfg: &Path, speed: u32, events: &Path, audit: &Path) -> Child {
    guard(
        dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--speed",
            &speed.to_string(),
            "--events",
            events.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
    )
}

fn audit_outcomes(path: &Path) -> Vec<Value> {
    lines(path)
        .into_iter()
        .filter(|r| r["phase"] == "outcome")
        .collect()
}

#[test]
fn the_guard_drives_the_simulator_to_complete() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sim_config(dir.path(), "healthy");
    let (events, audit) = (dir.path().join("ev.jsonl"), dir.path().join("audit.jsonl"));
    let c = sim_guard(dir.path(), &cfg, 120, &events, &audit);
    let (code, err) = finish(c, WAIT);
    let ev = lines(&events);
    assert_eq!(code, 0, "COMPLETE exits 0; stderr: {err}\nevents: {ev:#?}");
    let writes: Vec<(u64, u64, &str)> = of(&ev, "write")
        .iter()
        .map(|w| {
            (
                w["from"].as_u64().unwrap(),
                w["after"].as_u64().unwrap(),
                w["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        writes,
        [
            (5, 25, "ok"),
            (25, 50, "ok"),
            (50, 75, "ok"),
            (75, 100, "ok")
        ],
        "every step written once, re-read from the flag: {ev:#?}"
    );
    assert_eq!(of(&ev, "write_intent").len(), 4);
    let exit = of(&ev, "exit")[0];
    assert_eq!(exit["outcome"], "COMPLETE");
    assert_eq!(exit["code"], 0);
    assert_eq!(exit["lease_released"], true, "{exit}");
    assert!(of(&ev, "start")[0]["lease_supported"] == true);
    assert!(
        of(&ev, "verdict").iter().any(|v| v["state"] == "BAKING"),
        "verdicts are reported: {ev:#?}"
    );
    let landed: Vec<u64> = audit_outcomes(&audit)
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .map(|r| r["new_value"].as_u64().unwrap())
        .collect();
    assert_eq!(landed, [25, 50, 75, 100], "the audit log has every step");
}

#[test]
fn a_regression_ends_rolled_back_with_exit_10_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sim_config(dir.path(), "regression");
    let (events, audit) = (dir.path().join("ev.jsonl"), dir.path().join("audit.jsonl"));
    let c = sim_guard(dir.path(), &cfg, 60, &events, &audit);
    let (code, err) = finish(c, WAIT);
    let ev = lines(&events);
    assert_eq!(
        code, 10,
        "ROLLED BACK exits 10; stderr: {err}\nevents: {ev:#?}"
    );
    let exit = of(&ev, "exit")[0];
    assert_eq!(exit["outcome"], "ROLLED BACK");
    assert!(
        exit["detail"].as_str().unwrap().contains("new-error-rate"),
        "{exit}"
    );
    assert!(
        of(&ev, "rule")
            .iter()
            .any(|r| r["rule"] == "new-error-rate" && r["to"] == "FIRING"),
        "the rule transition is reported: {ev:#?}"
    );
    let rb = of(&ev, "write")
        .into_iter()
        .find(|w| w["action"] == "rollback")
        .unwrap_or_else(|| panic!("a rollback write: {ev:#?}"));
    assert_eq!(rb["outcome"], "ok");
    assert_eq!(rb["after"], 0, "the re-read shows 0 %");
    assert!(
        audit_outcomes(&audit)
            .iter()
            .any(|r| r["outcome"] == "ok" && r["reason"] == "auto-rollback: rule new-error-rate"),
        "audited with its rule"
    );
}

fn http_config(dir: &Path, flag_url: &str, metrics_url: &str, extra_rule: &str) -> PathBuf {
    let cfg = format!(
        r#"refresh = "4s"

[[rollout]]
name = "checkout"
environment = "test"
steps = [5, 25, 50, 100]
bake = ["1h", "1h", "1h"]

[rollout.flag]
kind = "http"
url = "{flag_url}"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
body_template = '{{"percent": {{{{percent}}}}, "enabled": {{{{enabled}}}}}}'
lease = {{ pointer = "/lease", body_template = '{{"lease": {{{{lease}}}}, "expect_lease": {{{{expected_lease}}}}}}' }}

[rollout.metrics]
kind = "json"
url = "{metrics_url}"

[[rollout.metric]]
id = "err"
label = "Error rate"
kind = "ratio"
legacy = "/legacy/err"
new = "/new/err"
unit = "percent"
{extra_rule}
"#
    );
    let p = dir.join("http.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

fn kill(c: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &c.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_write_finishes_the_write_and_its_audit_then_exits_11() {
    let srv = FaultServer::start(25).await;
    srv.set_write_fault(Some(Fault::Slow(Duration::from_millis(2500))));
    let dir = tempfile::tempdir().unwrap();
    let rule = r#"
[[rollout.rule]]
name = "err-high"
metric = "err"
when = "new > 1.5%"
severity = "critical"
action = "rollback"
"#;
    // The fault server's flag keeps no lease: the guard says so and steers anyway.
    let cfg = std::fs::read_to_string(http_config(
        dir.path(),
        &format!("{}/flag", srv.url),
        &format!("{}/metrics.json", srv.url),
        rule,
    ))
    .unwrap()
    .lines()
    .filter(|l| !l.starts_with("lease ="))
    .collect::<Vec<_>>()
    .join("\n");
    let cfg_path = dir.path().join("faulty.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let (events, audit) = (dir.path().join("ev.jsonl"), dir.path().join("audit.jsonl"));
    let c = guard(
        dir.path(),
        &[
            "--config",
            cfg_path.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
    );
    let ev = tokio::task::block_in_place(|| wait_event(&events, "write_intent", WAIT));
    assert!(
        of(&ev, "log")
            .iter()
            .any(|l| l["text"].as_str().unwrap().contains("cannot keep a lease")),
        "{ev:#?}"
    );
    kill(&c, "-TERM");
    let (code, err) = tokio::task::block_in_place(|| finish(c, WAIT));
    let ev = lines(&events);
    assert_eq!(code, 11, "stopped by an operator; stderr: {err}\n{ev:#?}");
    let signal = of(&ev, "signal")[0];
    assert_eq!(signal["signal"], "SIGTERM");
    assert_eq!(signal["write_in_flight"], true, "the signal came mid-write");
    let pos = |kind: &str| ev.iter().position(|e| e["event"] == kind).unwrap();
    assert!(
        pos("signal") < pos("write"),
        "the write ended after the signal"
    );
    assert_eq!(of(&ev, "write")[0]["outcome"], "ok");
    assert_eq!(of(&ev, "exit")[0]["outcome"], "STOPPED");
    let records = lines(&audit);
    let id = records[0]["write_id"].clone();
    let phases: Vec<&Value> = records
        .iter()
        .filter(|r| r["write_id"] == id)
        .map(|r| &r["phase"])
        .collect();
    assert_eq!(phases, ["intent", "outcome"], "{records:#?}");
    assert_eq!(srv.flag().percent, 0, "the rollback landed");
}

async fn flag_api(percent: u8) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    use rollwatch::sim::server::{SimServer, SimServerOptions};
    let server = SimServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        SimServerOptions {
            percent,
            flag: "checkout".into(),
            ..SimServerOptions::default()
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = rx.await;
    }));
    (addr, tx)
}

async fn stored_lease(addr: SocketAddr) -> Value {
    let doc: Value = reqwest::get(format!("http://{addr}/api/flags/checkout"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    doc["lease"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_guard_steers_a_second_is_refused_and_a_dashboard_shows_the_lease() {
    let (addr, _stop) = flag_api(5).await;
    let metrics = FaultServer::start(5).await;
    metrics.set_values(1.0, 1.0);
    let dir = tempfile::tempdir().unwrap();
    let cfg = http_config(
        dir.path(),
        &format!("http://{addr}/api/flags/checkout"),
        &format!("{}/metrics.json", metrics.url),
        "",
    );
    let cfg_s = cfg.to_str().unwrap();
    let (events, audit) = (dir.path().join("ev.jsonl"), dir.path().join("audit.jsonl"));
    let first = guard(
        dir.path(),
        &[
            "--config",
            cfg_s,
            "--holder",
            "alice-guard",
            "--events",
            events.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
    );
    tokio::task::block_in_place(|| wait_event(&events, "start", WAIT));
    let lease = stored_lease(addr).await;
    assert!(
        lease
            .as_str()
            .is_some_and(|l| l.starts_with("rollwatch-guard alice-guard ")),
        "the lease is in the flag API: {lease}"
    );

    let second = guard(dir.path(), &["--config", cfg_s, "--holder", "bob-guard"]);
    let (code, err) = tokio::task::block_in_place(|| finish(second, WAIT));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already guarded by alice-guard since"),
        "{err}"
    );

    let tui = available().then(|| {
        let cmd = format!(
            "LANG=C.UTF-8 XDG_STATE_HOME={d} HOME={d} exec {BIN} watch --config {cfg_s} --audit-log {a}",
            d = dir.path().display(),
            a = audit.display()
        );
        let t = Tmux::start("guarded", 140, 40, &cmd);
        let s = t.wait_for("the lease on the verdict line", WAIT, |s| {
            s.lines()
                .any(|l| l.contains("BAKING") && l.contains("GUARDED by alice-guard since"))
        });
        assert!(!s.contains("ARMED"), "{s}");
        t.keys(&["a"]);
        t.wait_for("arming refused", WAIT, |s| {
            s.contains("cannot arm checkout: alice-guard steers it")
        });
        t.keys(&["r"]);
        t.wait_for("the dialog's warning", WAIT, |s| {
            s.contains("a guard is steering this rollout")
        });
        t.keys(&["Escape"]);
        t
    });

    kill(&first, "-TERM");
    let (code, err) = tokio::task::block_in_place(|| finish(first, WAIT));
    assert_eq!(code, 11, "{err}");
    assert_eq!(stored_lease(addr).await, Value::Null, "released on exit");
    if let Some(t) = tui {
        let s = t.wait_for("the dashboard sees the lease end", WAIT, |s| {
            s.contains("alice-guard no longer steers this rollout")
        });
        assert!(
            !s.lines()
                .any(|l| l.contains("BAKING") && l.contains("GUARDED by")),
            "the verdict line no longer shows the lease: {s}"
        );
    }
    let ev = lines(&events);
    assert_eq!(of(&ev, "exit")[0]["lease_released"], true);
    assert!(of(&ev, "write").is_empty(), "nothing was due: {ev:#?}");
}

/// The running Unleash (`ROLLWATCH_UNLEASH_URL`/`_TOKEN`), or `None` (a loud skip) when none
/// runs and none is required (`ROLLWATCH_REQUIRE_ENGINES=1` makes its absence a failure).
fn unleash() -> Option<(String, String)> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(url), Some(token)) = (var("ROLLWATCH_UNLEASH_URL"), var("ROLLWATCH_UNLEASH_TOKEN"))
    {
        return Some((url, token));
    }
    assert!(
        std::env::var("ROLLWATCH_REQUIRE_ENGINES").as_deref() != Ok("1"),
        "ROLLWATCH_REQUIRE_ENGINES=1 but ROLLWATCH_UNLEASH_URL/ROLLWATCH_UNLEASH_TOKEN are not set"
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"\n*** SKIPPED: Unleash not running (guard against Unleash) ***\n",
    );
    None
}

async fn admin(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method, &url).header("Authorization", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let ans = req.send().await.unwrap();
    let status = ans.status();
    let text = ans.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn strategy_of(feature: &Value) -> Value {
    feature["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "development")
        .unwrap()["strategies"][0]
        .clone()
}

/// A feature with a flexible rollout at 5 % (a title, a constraint) in `development`, switched
/// on; returns the constraints.
async fn create_feature(http: &reqwest::Client, base: &str, token: &str, name: &str) -> Value {
    admin(
        http,
        reqwest::Method::POST,
        base.to_owned(),
        token,
        Some(serde_json::json!({"name": name})),
    )
    .await;
    let constraints =
        serde_json::json!([{"contextName": "userId", "operator": "IN", "values": ["a", "b"]}]);
    admin(
        http,
        reqwest::Method::POST,
        format!("{base}/{name}/environments/development/strategies"),
        token,
        Some(serde_json::json!({
            "name": "flexibleRollout",
            "title": "EU only",
            "parameters": {"rollout": "5", "stickiness": "default", "groupId": name},
            "constraints": constraints,
        })),
    )
    .await;
    admin(
        http,
        reqwest::Method::POST,
        format!("{base}/{name}/environments/development/on"),
        token,
        None,
    )
    .await;
    constraints
}

fn unleash_config(url: &str, name: &str, token_file: &Path, metrics: &str) -> String {
    format!(
        r#"refresh = "1s"

[[rollout]]
name = "unleash-guarded"
environment = "development"
steps = [5, 25, 50]
bake = ["4s", "1s"]

[rollout.flag]
kind = "unleash"
url = "{url}"
feature = "{name}"
environment = "development"
token_file = "{tf}"

[rollout.metrics]
kind = "json"
url = "{m}/metrics.json"

[[rollout.metric]]
id = "err"
label = "Error rate"
kind = "ratio"
legacy = "/legacy/err"
new = "/new/err"
unit = "percent"
"#,
        tf = token_file.display(),
        m = metrics
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_unleash_the_steps_land_with_constraints_and_the_lease_shows() {
    let Some((url, token)) = unleash() else {
        return;
    };
    let http = reqwest::Client::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("rw-guard-{}-{nanos}", std::process::id());
    let base = format!("{url}/api/admin/projects/default/features");
    let constraints = create_feature(&http, &base, &token, &name).await;
    let metrics = FaultServer::start(5).await;
    metrics.set_values(1.0, 1.0);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let cfg = unleash_config(&url, &name, &token_file, &metrics.url);
    let cfg_path = dir.path().join("unleash.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let (events, audit) = (dir.path().join("ev.jsonl"), dir.path().join("audit.jsonl"));
    let c = guard(
        dir.path(),
        &[
            "--config",
            cfg_path.to_str().unwrap(),
            "--holder",
            "ci-guard",
            "--events",
            events.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
        ],
    );
    tokio::task::block_in_place(|| wait_event(&events, "start", WAIT));
    let feature = admin(
        &http,
        reqwest::Method::GET,
        format!("{base}/{name}"),
        &token,
        None,
    )
    .await;
    let title = strategy_of(&feature)["title"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        title.starts_with("EU only rollwatch-guard ci-guard "),
        "the lease is visible in Unleash, after the strategy's own title: {title}"
    );
    let (code, err) = tokio::task::block_in_place(|| finish(c, WAIT));
    let ev = lines(&events);
    assert_eq!(code, 0, "{err}\n{ev:#?}");
    let after: Vec<u64> = of(&ev, "write")
        .iter()
        .map(|w| w["after"].as_u64().unwrap())
        .collect();
    assert_eq!(after, [25, 50], "{ev:#?}");
    let s = strategy_of(
        &admin(
            &http,
            reqwest::Method::GET,
            format!("{base}/{name}"),
            &token,
            None,
        )
        .await,
    );
    assert_eq!(s["parameters"]["rollout"], "50");
    assert_eq!(s["parameters"]["groupId"], name.as_str(), "{s}");
    assert_eq!(s["constraints"], constraints, "constraints intact: {s}");
    assert_eq!(
        s["title"], "EU only",
        "the lease released, the title kept: {s}"
    );
}

#[test]
fn quitting_an_armed_dashboard_says_its_automation_stopped() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "LANG=C.UTF-8 XDG_STATE_HOME={d} HOME={d} {BIN} demo --scenario healthy --auto-advance --audit-log {d}/a.jsonl; echo EXITED:$?; sleep 600",
        d = dir.path().display()
    );
    let t = Tmux::start("armedquit", 120, 40, &cmd);
    t.wait_for("the armed dashboard", WAIT, |s| s.contains("ARMED"));
    t.keys(&["q"]);
    t.wait_for("the quit dialog", WAIT, |s| {
        s.contains("STOPS auto-advance")
    });
    t.keys(&["y"]);
    let s = t.wait_for("the exit", WAIT, |s| s.contains("EXITED:0"));
    let said = s.replace('\n', "");
    assert!(
        said.contains("stopped with this dashboard")
            && said.contains("`rollwatch guard` keeps it running"),
        "the exit says automation stopped: {s}"
    );
    let log = std::fs::read_to_string(dir.path().join("rollwatch/rollwatch.log")).unwrap();
    assert!(
        log.lines()
            .last()
            .is_some_and(|l| l.contains("stopped: automation of")
                && l.contains("stopped with this dashboard")),
        "{log}"
    );
}

#[test]
fn until_stops_once_that_step_has_baked_and_never_goes_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sim_config(dir.path(), "healthy");
    let events = dir.path().join("ev.jsonl");
    let args = |until: &'static str| {
        vec![
            "--config".to_owned(),
            cfg.to_str().unwrap().to_owned(),
            "--speed".into(),
            "120".into(),
            "--until".into(),
            until.into(),
            "--events".into(),
            events.to_str().unwrap().to_owned(),
            "--audit-log".into(),
            dir.path().join("a.jsonl").to_str().unwrap().to_owned(),
        ]
    };
    let a = args("60");
    let (code, err) = finish(
        guard(
            dir.path(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        ),
        WAIT,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--until 60: not a step"), "{err}");
    let a = args("50");
    let (code, err) = finish(
        guard(
            dir.path(),
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        ),
        WAIT,
    );
    let ev = lines(&events);
    assert_eq!(code, 0, "{err}\n{ev:#?}");
    let after: Vec<u64> = of(&ev, "write")
        .iter()
        .map(|w| w["after"].as_u64().unwrap())
        .collect();
    assert_eq!(after, [25, 50], "{ev:#?}");
    let exit = of(&ev, "exit")[0];
    assert_eq!(exit["outcome"], "COMPLETE");
    assert_eq!(exit["detail"], "50% reached and baked");
    // It waited for the bake of 50 % (2 min of clock time) before stopping.
    let landed = of(&ev, "write").last().unwrap()["at_ms"].as_i64().unwrap();
    assert!(
        exit["at_ms"].as_i64().unwrap() - landed >= 120_000,
        "{ev:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_metrics_give_up_with_exit_12_without_advancing() {
    let srv = FaultServer::start(5).await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every metrics poll fails.
    let cfg = std::fs::read_to_string(http_config(
        dir.path(),
        &format!("{}/flag", srv.url),
        "http://127.0.0.1:1/metrics.json",
        "",
    ))
    .unwrap()
    .lines()
    .filter(|l| !l.starts_with("lease ="))
    .map(|l| {
        l.replace(
            "bake = [\"1h\", \"1h\", \"1h\"]",
            "bake = [\"1s\", \"1s\", \"1s\"]",
        )
    })
    .collect::<Vec<_>>()
    .join("\n");
    let cfg_path = dir.path().join("lost.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let events = dir.path().join("ev.jsonl");
    let c = guard(
        dir.path(),
        &[
            "--config",
            cfg_path.to_str().unwrap(),
            "--give-up-after",
            "3s",
            "--events",
            events.to_str().unwrap(),
            "--audit-log",
            dir.path().join("a.jsonl").to_str().unwrap(),
        ],
    );
    let (code, err) = tokio::task::block_in_place(|| finish(c, WAIT));
    let ev = lines(&events);
    assert_eq!(code, 12, "{err}\n{ev:#?}");
    assert!(
        of(&ev, "data_lost").iter().any(|e| e["feed"] == "metrics"),
        "{ev:#?}"
    );
    let exit = of(&ev, "exit")[0];
    assert_eq!(exit["outcome"], "GAVE UP");
    assert!(
        exit["detail"]
            .as_str()
            .unwrap()
            .contains("no fresh data for"),
        "{exit}"
    );
    assert!(of(&ev, "write_intent").is_empty(), "never advanced blind");
    assert_eq!(srv.flag().percent, 5);
}

/// Polls slower than the bake (issue 15): a 1 s bake with a poll every second must not let a
/// step through on the clock alone. Every step waits for evidence: at least three polls
/// answered after the step began. Counted at the metrics server between the flag's changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_waits_for_fresh_polls_not_for_the_clock() {
    use crate::support::fault_server::Class;
    let srv = FaultServer::start(5).await;
    srv.set_values(0.1, 0.1);
    let dir = tempfile::tempdir().unwrap();
    let cfg = std::fs::read_to_string(http_config(
        dir.path(),
        &format!("{}/flag", srv.url),
        &format!("{}/metrics.json", srv.url),
        "",
    ))
    .unwrap()
    .lines()
    .filter(|l| !l.starts_with("lease ="))
    .map(|l| {
        l.replace(
            "bake = [\"1h\", \"1h\", \"1h\"]",
            "bake = [\"1s\", \"1s\", \"1s\", \"1s\"]",
        )
        .replace("refresh = \"4s\"", "refresh = \"1s\"")
    })
    .collect::<Vec<_>>()
    .join("\n");
    let cfg_path = dir.path().join("sparse.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let events = dir.path().join("ev.jsonl");
    let mut c = guard(
        dir.path(),
        &[
            "--config",
            cfg_path.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
            "--audit-log",
            dir.path().join("a.jsonl").to_str().unwrap(),
        ],
    );
    // The metrics polls seen when each step began, until the guard ends.
    let mut steps = vec![(5, srv.count(Class::Json))];
    let until = Instant::now() + WAIT;
    let code = loop {
        let pct = srv.flag().percent;
        if steps.last().unwrap().0 != pct {
            steps.push((pct, srv.count(Class::Json)));
        }
        if let Some(status) = c.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < until, "the guard did not end: {steps:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let ev = lines(&events);
    assert_eq!(code, 0, "{ev:#?}");
    assert_eq!(
        steps.iter().map(|s| s.0).collect::<Vec<_>>(),
        [5, 25, 50, 100],
        "{ev:#?}"
    );
    for w in steps.windows(2) {
        assert!(
            w[1].1 - w[0].1 >= 3,
            "{}% → {}% after only {} polls at the step: {steps:?}",
            w[0].0,
            w[1].0,
            w[1].1 - w[0].1
        );
    }
}
