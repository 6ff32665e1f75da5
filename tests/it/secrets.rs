//! Tokens never leak (R7). A recognisable token is planted for every backend that takes one
//! (Prometheus, the JSON source, the HTTP flag API, Unleash), the fault server provokes
//! errors (401, 403, 503 bodies that *echo the Authorization header*, hangs, refusals, failed
//! and unknown writes), and every place text goes is searched: error `Display` and `Debug`,
//! `Debug` of configs, adapters and the whole state, `status --json` and the table, `set` and
//! `rollback` output, the audit log, rollwatch's own log file and a crash report. The token
//! *is* sent to the server (so the search is not vacuous), and echoed tokens come back
//! redacted as `***`.
//!
//! Also: an `https://` URL is spoken TLS to, never silently downgraded to plain HTTP, with or
//! without `insecure_skip_verify`.

use crate::support::fault_config::{self, FaultRollout, Flag, Source};
use crate::support::{tmux, wait};

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::support::fault_server::{Class, Fault, FaultServer, runtime};
use crate::support::state::key;
use rollwatch::app::driver::Driver;
use rollwatch::app::run::Setup;
use rollwatch::audit::AuditLog;
use rollwatch::backends as wire;
use rollwatch::clock::{Clock, ManualClock};
use rollwatch::config;
use rollwatch::flags::FlagBackend;
use rollwatch::flags::http::{HttpFlag, HttpFlagConfig};
use rollwatch::flags::unleash::{UnleashConfig, UnleashFlag};
use rollwatch::metrics::MetricsSource;
use rollwatch::metrics::json::{JsonMetric, JsonSource, JsonSpec};
use rollwatch::metrics::prometheus::{PrometheusQuery, PrometheusSource, PrometheusSpec};
use rollwatch::metrics::units::ValueUnit;
use rollwatch::net::Auth;
use rollwatch::secret::Secret;
use rollwatch::ui::theme;

const TOKEN: &str = "rw-secret-PLANTED-1234";
const TOKEN_VAR: &str = "RW_PLANTED_TOKEN";
const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
/// How long the dashboard in tmux may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// Two rollouts covering all four adapters (a rule on the first); `auth` is the line naming
/// the token (`token_env = ...` or `token_file = ...`), `extra` another line for every backend.
fn config_text(url: &str, auth: &str, extra: &str) -> String {
    let rollout = |name, flag, source| {
        FaultRollout::new(name, url, flag, source)
            .backend_line(auth)
            .backend_line(extra)
    };
    fault_config::config(&[
        rollout("prom-http", Flag::Http, Source::Prom),
        rollout("json-unleash", Flag::Unleash, Source::Json).no_rule(),
    ])
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(TOKEN),
        "the token leaked into {what}:\n{text}"
    );
}

/// Runs the binary with the token in its environment; (exit code, stdout + stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env(TOKEN_VAR, TOKEN)
        .env("XDG_STATE_HOME", dir)
        .output()
        .expect("rollwatch runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Every backend sent the token (Unleash bare, the others as a bearer token).
fn assert_token_sent(server: &FaultServer) {
    for class in [Class::Prom, Class::Json, Class::Flag, Class::Unleash] {
        let seen: Vec<_> = server
            .seen()
            .into_iter()
            .filter(|s| s.class == class)
            .collect();
        assert!(!seen.is_empty(), "{class:?} never asked");
        assert!(
            seen.iter().all(|s| s.headers.contains(TOKEN)),
            "{class:?} did not send the token"
        );
    }
}

#[test]
fn the_cli_never_prints_the_token_in_status_set_rollback_or_the_audit_log() {
    let rt = runtime();
    let server = rt.block_on(FaultServer::start(25));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rollwatch.toml");
    std::fs::write(
        &cfg,
        config_text(&server.url, &format!("token_env = \"{TOKEN_VAR}\""), ""),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let audit = audit.to_str().unwrap();

    let (code, text) = run(dir.path(), &["status", "--json", "--config", cfg]);
    assert_eq!(code, 0, "healthy status: {text}");
    assert_token_sent(&server);

    let mut echoed = 0;
    for fault in [
        Fault::Status(401),
        Fault::Status(403),
        Fault::Status(503),
        Fault::BlackHole,
        Fault::Refused,
        Fault::Malformed,
    ] {
        rt.block_on(server.set_fault(fault.clone()));
        for args in [
            &["status", "--json", "--config", cfg][..],
            &["status", "--config", cfg][..],
        ] {
            let (code, text) = run(dir.path(), args);
            assert_eq!(code, 3, "{fault:?}: a backend is unreadable: {text}");
            assert_clean(&format!("`{}` under {fault:?}", args.join(" ")), &text);
            echoed += text.matches("***").count();
        }
    }
    assert!(
        echoed > 0,
        "no echoed token came back redacted: the search proves little"
    );

    // Writes: refused with an echoing body, unknown outcome, and a rollback through Unleash.
    rt.block_on(server.set_fault(Fault::Healthy));
    server.set_write_fault(Some(Fault::Status(503)));
    let (code, text) = run(
        dir.path(),
        &[
            "--audit-log",
            audit,
            "set",
            "--config",
            cfg,
            "--rollout",
            "prom-http",
            "50",
        ],
    );
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("***"), "the echoed token is redacted: {text}");
    assert_clean("`set` refused", &text);
    server.set_write_fault(Some(Fault::BlackHole));
    let (code, text) = run(
        dir.path(),
        &[
            "--audit-log",
            audit,
            "set",
            "--config",
            cfg,
            "--rollout",
            "prom-http",
            "50",
        ],
    );
    assert_eq!(code, 6, "unknown outcome: {text}");
    assert_clean("`set` unknown", &text);
    server.set_write_fault(Some(Fault::Status(401)));
    let (_, text) = run(
        dir.path(),
        &[
            "--audit-log",
            audit,
            "rollback",
            "--config",
            cfg,
            "--rollout",
            "json-unleash",
        ],
    );
    assert_clean("`rollback` via Unleash", &text);
    assert!(server.writes(Class::Unleash) >= 1, "{text}");
    assert!(
        server
            .seen()
            .iter()
            .filter(|s| s.method != "GET")
            .all(|s| s.headers.contains(TOKEN)),
        "writes carry the token"
    );

    let log = std::fs::read_to_string(audit).unwrap();
    assert!(log.lines().count() >= 6, "every write audited:\n{log}");
    assert!(log.contains("\"unknown\""), "{log}");
    assert_clean("the audit log", &log);
}

/// The library: `Display` and `Debug` of every error, `Debug` of configs, adapters and the
/// whole state after failures and writes, and the audit records.
#[allow(clippy::too_many_lines)] // one scenario, step by step
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_configs_adapters_and_state_never_show_the_token() {
    let server = FaultServer::start(25).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let path = dir.path().join("rollwatch.toml");
    let auth = format!("token_file = \"{}\"", token_file.display());
    std::fs::write(&path, config_text(&server.url, &auth, "")).unwrap();
    let cfg = config::load(&path).unwrap();
    assert_clean("Debug of the config", &format!("{cfg:?}"));

    // The adapters themselves, built as the wiring builds them.
    let secret = Secret::new(TOKEN);
    let (Some(hc), Some(pc)) = (
        cfg.rollouts[0].flag.get::<HttpFlagConfig>(),
        cfg.rollouts[0].source.get::<PrometheusSpec>(),
    ) else {
        panic!("first rollout is http + prometheus")
    };
    let (Some(uc), Some(jc)) = (
        cfg.rollouts[1].flag.get::<UnleashConfig>(),
        cfg.rollouts[1].source.get::<JsonSpec>(),
    ) else {
        panic!("second rollout is unleash + json")
    };
    let (pc, jc) = (&pc.config, &jc.config);
    let refresh = Duration::from_secs(1);
    let prom = PrometheusSource::new(
        pc,
        vec![PrometheusQuery::new("sum by (cohort)(x)", 1.0)],
        Auth::Bearer(secret.clone()),
        refresh,
    )
    .unwrap();
    let json = JsonSource::new(
        jc,
        vec![JsonMetric::new(
            "/legacy/err",
            "/new/err",
            ValueUnit::Percent,
        )],
        Auth::Bearer(secret.clone()),
        refresh,
    )
    .unwrap();
    let http = HttpFlag::new(hc.clone(), Some(secret.clone())).unwrap();
    let unleash = UnleashFlag::new(uc.clone(), secret.clone()).unwrap();
    let debug = format!("{prom:?}\n{json:?}\n{http:?}\n{unleash:?}\n{secret:?} {secret}");
    assert_clean("Debug of the adapters", &debug);

    let mut echoed = 0;
    for fault in [
        Fault::Status(401),
        Fault::Status(403),
        Fault::Status(503),
        Fault::Malformed,
        Fault::BlackHole,
        Fault::Refused,
    ] {
        server.set_fault(fault.clone()).await;
        let errors = [
            prom.poll(rollwatch::metrics::PollCtx::default())
                .await
                .err()
                .map(|e| format!("{e}\n{e:?}")),
            prom.backfill(0, 60_000, 1_000)
                .await
                .err()
                .map(|e| format!("{e}\n{e:?}")),
            json.poll(rollwatch::metrics::PollCtx::default())
                .await
                .err()
                .map(|e| format!("{e}\n{e:?}")),
            http.read().await.err().map(|e| format!("{e}\n{e:?}")),
            unleash.read().await.err().map(|e| format!("{e}\n{e:?}")),
            unleash.events().await.err().map(|e| format!("{e}\n{e:?}")),
        ];
        for (i, e) in errors.iter().enumerate() {
            let e = e
                .as_ref()
                .unwrap_or_else(|| panic!("{fault:?}: call {i} did not fail"));
            assert_clean(&format!("error {i} under {fault:?}"), e);
            echoed += e.matches("***").count();
        }
    }
    assert!(echoed > 0, "no echoed token came back redacted");
    assert_token_sent(&server);

    // The whole state after failing polls and failed or unknown writes, driven for real.
    let clock = ManualClock::new(1_767_268_800_000);
    let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let audit_path = dir.path().join("audit.jsonl");
    let setup = Setup {
        rollouts: wire::wire(&cfg, &dyn_clock).unwrap(),
        clock: dyn_clock,
        refresh_ms: 1000,
        tick: Duration::from_millis(250),
        read_only: false,
        notify: true,
        show_keys: false,
        themes: theme::builtin(),
        ascii: true,
        audit: AuditLog::new(audit_path.clone()),
        deadline: wire::deadline(cfg.refresh),
        log_file: None,
    };
    let mut d = Driver::new(&setup);
    server.set_fault(Fault::Healthy).await;
    d.tick().await;
    d.tick().await;
    for (fault, write) in [
        (Fault::Status(503), Fault::Status(503)),
        (Fault::Healthy, Fault::Status(403)),
        (Fault::Healthy, Fault::BlackHole),
    ] {
        server.set_fault(fault).await;
        server.set_write_fault(Some(write));
        clock.advance(31_000);
        d.tick().await;
        for s in [0, 1] {
            d.state.selected = s;
            d.send(key('+')).await;
            d.send(key('y')).await;
        }
        let state = format!("{:?}", d.state);
        assert_clean("Debug of the state", &state);
    }
    let log = std::fs::read_to_string(&audit_path).unwrap();
    assert!(log.contains("\"unknown\""), "{log}");
    assert_clean("the audit log", &log);
}

/// rollwatch's own log file and a crash report of the dashboard, run in tmux.
#[test]
fn the_log_file_and_a_crash_report_never_show_the_token() {
    if !tmux::available() {
        return;
    }
    let rt = runtime();
    let server = rt.block_on(FaultServer::start(25));
    rt.block_on(server.set_fault(Fault::Status(503)));
    let dir = tempfile::tempdir().unwrap();
    // The token goes through the helper's script: it is on no command line tmux shows.
    let t = tmux::Tmux::watch(
        "secrets",
        200,
        50,
        dir.path(),
        &config_text(&server.url, &format!("token_env = \"{TOKEN_VAR}\""), ""),
        &[(TOKEN_VAR, TOKEN), ("ROLLWATCH_DEBUG_PANIC_KEY", "P")],
    );
    let log_path = dir.path().join("rollwatch/rollwatch.log");
    t.wait_for("the dashboard with errors", WAIT, |s| {
        s.contains("ERROR") && s.contains("503")
    });
    let what = format!("errors of every backend in {}", log_path.display());
    let log = wait::until(&what, WAIT, Duration::from_millis(50), || {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let all_asked = [Class::Prom, Class::Json, Class::Flag, Class::Unleash]
            .into_iter()
            .all(|c| server.count(c) > 0);
        if all_asked && log.contains("503") && log.contains("json-unleash") {
            Ok(log)
        } else {
            Err(log)
        }
    });
    assert!(
        log.contains("***"),
        "echoed tokens are logged redacted: {log}"
    );
    assert_token_sent(&server);

    t.keys(&["P"]);
    let report = wait::until("the crash report", WAIT, Duration::from_millis(50), || {
        let h = t.history();
        if h.contains("EXITED:") { Ok(h) } else { Err(h) }
    });
    assert!(
        report.contains("ROLLWATCH_DEBUG_PANIC_KEY pressed"),
        "the crash report is on screen:\n{report}"
    );
    assert_clean("the crash report", &report);
    assert_clean(
        "rollwatch's log file",
        &std::fs::read_to_string(&log_path).unwrap(),
    );
}

/// `https://` means TLS: against a plain-TCP server the client opens with a TLS handshake and
/// fails; it never retries in plain HTTP, also with `insecure_skip_verify = true` (which the
/// config accepts).
#[test]
fn https_is_never_downgraded_to_plain_http() {
    let rt = runtime();
    let server = rt.block_on(FaultServer::start(25));
    let dir = tempfile::tempdir().unwrap();
    let https = server.url.replace("http://", "https://");
    for extra in ["", "insecure_skip_verify = true"] {
        let cfg = dir.path().join("tls.toml");
        std::fs::write(
            &cfg,
            config_text(&https, &format!("token_env = \"{TOKEN_VAR}\""), extra),
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap();
        let (code, text) = run(dir.path(), &["check-config", cfg]);
        assert_eq!(code, 0, "`{extra}` is accepted: {text}");
        let hellos = server.tls_hellos();
        let (code, text) = run(dir.path(), &["status", "--json", "--config", cfg]);
        assert_eq!(code, 3, "`{extra}`: {text}");
        let doc: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        for r in doc["rollouts"].as_array().unwrap() {
            assert!(r["flag_error"].is_string(), "`{extra}`: {r}");
            assert!(r["metrics_error"].is_string(), "`{extra}`: {r}");
        }
        assert!(
            server.tls_hellos() >= hellos + 4,
            "`{extra}`: every backend spoke TLS ({} hellos)",
            server.tls_hellos() - hellos
        );
        assert!(
            server.seen().is_empty(),
            "`{extra}`: a plain HTTP request reached the server: {:?}",
            server.seen()
        );
        assert_clean("TLS errors", &text);
    }
}
