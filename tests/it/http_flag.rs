//! The generic HTTP flag backend against a small flag service written here (loopback only):
//! with ETags (`If-Match`, 412), with a version field in the body (409), and with neither;
//! changes made by someone else before and *during* a write; odd and hanging answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rollwatch::audit::AuditLog;
use rollwatch::flags::http::{HttpFlag, HttpFlagConfig, WriteMethod};
use rollwatch::flags::write::{WriteKind, WriteOutcome, WriteRequest, guarded_write};
use rollwatch::flags::{FlagBackend, FlagError};
use rollwatch::secret::Secret;
use serde_json::{Value, json};

use crate::support::fault_server::{Class, FaultServer};

const TOKEN: &str = "bearer-secret-123";
const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// ETag on reads; `If-Match` checked on writes (412).
    ETags,
    /// A `rev` field; a write must carry the current `rev` (409).
    VersionField,
    /// Neither: the last write wins.
    Plain,
}

struct Service {
    mode: Mode,
    percent: u8,
    on: bool,
    rev: u64,
    /// Another person's change, applied right after the next GET is answered.
    after_next_get: Option<u8>,
    writes: Vec<Value>,
}

type Shared = Arc<Mutex<Service>>;

fn etag(rev: u64) -> String {
    format!("\"r{rev}\"")
}

async fn read_flag(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut g = s.lock().unwrap();
    let body = json!({"rollout": {"percent": g.percent}, "on": g.on, "rev": g.rev});
    let tag = etag(g.rev);
    if let Some(p) = g.after_next_get.take() {
        g.percent = p;
        g.rev += 1;
    }
    let mut resp = Json(body).into_response();
    if g.mode == Mode::ETags {
        resp.headers_mut()
            .insert(header::ETAG, tag.parse().unwrap());
    }
    resp
}

async fn write_flag(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return StatusCode::UNAUTHORIZED;
    }
    let mut g = s.lock().unwrap();
    match g.mode {
        Mode::ETags => {
            let m = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
            if m.is_some_and(|m| m != etag(g.rev)) {
                return StatusCode::PRECONDITION_FAILED;
            }
        }
        Mode::VersionField => {
            if body["rev"].as_u64() != Some(g.rev) {
                return StatusCode::CONFLICT;
            }
        }
        Mode::Plain => {}
    }
    let (Some(p), Some(on)) = (body["percent"].as_u64(), body["on"].as_bool()) else {
        return StatusCode::BAD_REQUEST;
    };
    g.percent = u8::try_from(p).unwrap();
    g.on = on;
    g.rev += 1;
    g.writes.push(body);
    StatusCode::NO_CONTENT
}

/// A document just past the one body cap every adapter shares.
async fn huge() -> String {
    let pad = rollwatch::net::policy::MAX_BODY + 1024;
    format!("{{\"pad\":\"{}\"}}", "x".repeat(pad))
}

async fn garbage() -> &'static str {
    "<html>proxy error</html>"
}

async fn wrong_types() -> Json<Value> {
    Json(json!({"rollout": {"percent": "lots"}, "on": 1}))
}

async fn hang() -> StatusCode {
    std::future::pending::<()>().await;
    StatusCode::OK
}

async fn serve(mode: Mode, percent: u8) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Service {
        mode,
        percent,
        on: true,
        rev: 1,
        after_next_get: None,
        writes: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/flag", get(read_flag).put(write_flag))
        .route("/huge", get(huge))
        .route("/garbage", get(garbage))
        .route("/wrong", get(wrong_types))
        .route("/hang", get(hang))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state)
}

fn config(base: &str, mode: Mode) -> HttpFlagConfig {
    let versioned = mode == Mode::VersionField;
    HttpFlagConfig {
        url: format!("{base}/flag"),
        percent_pointer: "/rollout/percent".into(),
        enabled_pointer: Some("/on".into()),
        version_pointer: versioned.then(|| "/rev".into()),
        method: WriteMethod::Put,
        write_url: None,
        body_template: if versioned {
            r#"{"percent": {{percent}}, "on": {{enabled}}, "rev": {{version}}}"#.into()
        } else {
            r#"{"percent": {{percent}}, "on": {{enabled}}}"#.into()
        },
        token_env: None,
        token_file: None,
        timeout_ms: 2000,
        insecure_skip_verify: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
        lease: None,
    }
}

fn flag(base: &str, mode: Mode) -> HttpFlag {
    HttpFlag::new(config(base, mode), Some(Secret::new(TOKEN))).unwrap()
}

const ALL: [Mode; 3] = [Mode::ETags, Mode::VersionField, Mode::Plain];

#[tokio::test]
async fn reads_by_pointer_and_writes_by_template_in_every_mode() {
    for mode in ALL {
        let (base, svc) = serve(mode, 10).await;
        let f = flag(&base, mode);
        let seen = f.read().await.unwrap();
        assert_eq!((seen.percent, seen.enabled), (10, true));
        assert_eq!(seen.version.is_some(), mode != Mode::Plain);
        f.compare_and_set(&seen, 25).await.unwrap();
        let g = svc.lock().unwrap();
        assert_eq!((g.percent, g.on), (25, true));
        assert_eq!(g.writes.len(), 1);
    }
}

#[tokio::test]
async fn a_change_before_the_write_is_a_conflict_in_every_mode() {
    for mode in ALL {
        let (base, svc) = serve(mode, 10).await;
        let f = flag(&base, mode);
        let seen = f.read().await.unwrap();
        {
            let mut g = svc.lock().unwrap();
            g.percent = 40;
            g.rev += 1;
        }
        let err = f.compare_and_set(&seen, 25).await.unwrap_err();
        assert!(
            matches!(&err, FlagError::Conflict { current: Some(c) } if c.percent == 40),
            "{err:?}"
        );
        let g = svc.lock().unwrap();
        assert_eq!(g.percent, 40, "the other value stays");
        assert!(g.writes.is_empty(), "nothing was sent");
    }
}

#[tokio::test]
async fn a_change_during_the_write_is_caught_by_if_match_or_the_version() {
    for mode in [Mode::ETags, Mode::VersionField] {
        let (base, svc) = serve(mode, 10).await;
        let f = flag(&base, mode);
        let seen = f.read().await.unwrap();
        // The other person's change lands right after rollwatch's re-read, before its write.
        svc.lock().unwrap().after_next_get = Some(40);
        let err = f.compare_and_set(&seen, 25).await.unwrap_err();
        assert!(
            matches!(&err, FlagError::Conflict { current: Some(c) } if c.percent == 40),
            "{err:?}"
        );
        let g = svc.lock().unwrap();
        assert!(g.after_next_get.is_none(), "the race did run");
        assert_eq!(g.percent, 40, "the other value stays");
    }
}

#[tokio::test]
async fn the_version_catches_a_change_and_change_back() {
    let (base, svc) = serve(Mode::ETags, 10).await;
    let f = flag(&base, Mode::ETags);
    let seen = f.read().await.unwrap();
    for p in [40, 10] {
        let mut g = svc.lock().unwrap();
        g.percent = p;
        g.rev += 1;
    }
    assert!(matches!(
        f.compare_and_set(&seen, 25).await,
        Err(FlagError::Conflict { .. })
    ));
    assert_eq!(svc.lock().unwrap().percent, 10);
}

#[tokio::test]
async fn guarded_writes_and_the_kill_switch_work_through_the_shared_path() {
    let (base, svc) = serve(Mode::ETags, 10).await;
    let f = flag(&base, Mode::ETags);
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let req = |expected, kind| WriteRequest {
        rollout: "r".into(),
        environment: "prod".into(),
        expected,
        kind,
        reason: "operator".into(),
    };
    let seen = f.read().await.unwrap();
    let r = guarded_write(&f, &audit, req(seen, WriteKind::SetPercent(50)), false).await;
    assert_eq!(r.outcome, WriteOutcome::Ok);
    let r = guarded_write(
        &f,
        &audit,
        req(r.after.unwrap(), WriteKind::SetEnabled(false)),
        false,
    )
    .await;
    assert_eq!(r.outcome, WriteOutcome::Ok);
    let after = r.after.unwrap();
    assert_eq!((after.percent, after.enabled), (50, false));
    let g = svc.lock().unwrap();
    assert_eq!((g.percent, g.on), (50, false));
    drop(g);
    let outcomes: Vec<_> = audit
        .read_all()
        .into_iter()
        .filter_map(|r| r.outcome)
        .collect();
    assert_eq!(outcomes, ["ok", "ok"]);
    let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(!text.contains(TOKEN));
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_not_echoed() {
    let (base, _svc) = serve(Mode::Plain, 10).await;
    let f = HttpFlag::new(
        config(&base, Mode::Plain),
        Some(Secret::new("wrong-one-987")),
    )
    .unwrap();
    let err = f.read().await.unwrap_err();
    assert_eq!(err, FlagError::Unauthorized);
    assert!(!format!("{err} {err:?} {f:?}").contains("wrong-one-987"));
}

#[tokio::test]
async fn huge_malformed_and_wrong_typed_answers_are_clear_errors() {
    let (base, _svc) = serve(Mode::Plain, 10).await;
    for (path, needle) in [
        ("/huge", "larger than 8 MiB"),
        ("/garbage", "not JSON"),
        ("/wrong", "not a percentage"),
        ("/nowhere", "404"),
    ] {
        let mut c = config(&base, Mode::Plain);
        c.url = format!("{base}{path}");
        let err = HttpFlag::new(c, Some(Secret::new(TOKEN)))
            .unwrap()
            .read()
            .await
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{path}: {err}");
    }
}

#[tokio::test]
async fn a_hanging_server_times_out_within_the_deadline() {
    let (base, _svc) = serve(Mode::Plain, 10).await;
    let mut c = config(&base, Mode::Plain);
    c.url = format!("{base}/hang");
    c.timeout_ms = 300;
    let f = HttpFlag::new(c, None).unwrap();
    let start = Instant::now();
    let err = f.read().await.unwrap_err();
    assert_eq!(err, FlagError::Timeout(300));
    assert!(err.outcome_unknown());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

// ---- The command line through the binary: `set` and `rollback` against an HTTP flag. ----

/// A config: the flag at `flag_url` (pointers `/percent` and `/enabled`, so the fault server's
/// `/flag` and the simulator's flag API fit), written with `template`; metrics from the fault
/// server's Prometheus API at `prom_url`; one critical rollback rule `err-high` on `new > 5%`.
fn cli_config(flag_url: &str, template: &str, token: bool, prom_url: &str) -> String {
    let token = if token {
        "token_env = \"RW_TEST_FLAG_TOKEN\"\n"
    } else {
        ""
    };
    format!(
        r#"refresh = "1s"

[[rollout]]
name = "checkout"
environment = "production"
steps = [10, 50, 100]

[rollout.flag]
kind = "http"
url = "{flag_url}"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
body_template = '{template}'
timeout_ms = 2000
{token}
[rollout.metrics]
kind = "prometheus"
url = "{prom_url}"
legacy = ["legacy"]
new = ["new"]
timeout_ms = 2000

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

/// What one run of the binary left: exit code, stdout + stderr, and the audit records.
struct Run {
    code: Option<i32>,
    out: String,
    audit: Vec<rollwatch::audit::AuditRecord>,
}

/// Runs `rollwatch --audit-log <dir>/audit.jsonl <args> --config <dir>/rw.toml` off the async
/// runtime (the servers it talks to live on it), with the flag token variable set to `token`.
async fn run_cli(dir: &std::path::Path, config: &str, args: &[&str], token: &str) -> Run {
    let cfg = dir.join("rw.toml");
    std::fs::write(&cfg, config).unwrap();
    let audit_path = dir.join("audit.jsonl");
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("--audit-log")
        .arg(&audit_path)
        .args(args)
        .arg("--config")
        .arg(&cfg)
        .env("RW_TEST_FLAG_TOKEN", token)
        .env("XDG_STATE_HOME", dir);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Run {
        code: out.status.code(),
        out: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
        audit: AuditLog::new(audit_path).read_all(),
    }
}

/// The audit's outcome record, after checking it is paired with an intent record.
fn outcome_record(audit: &[rollwatch::audit::AuditRecord]) -> &rollwatch::audit::AuditRecord {
    let outcome = audit
        .iter()
        .rev()
        .find(|r| r.phase == "outcome")
        .expect("an outcome record");
    assert!(
        audit
            .iter()
            .any(|r| r.phase == "intent" && r.write_id == outcome.write_id),
        "the outcome has its intent: {audit:?}"
    );
    outcome
}

#[tokio::test]
async fn set_that_the_backend_accepts_but_does_not_apply_is_not_applied_exit_5() {
    // The template names the field `percentage`; this flag API ignores fields it does not know
    // and answers 200, so the write "succeeds" and changes nothing.
    let srv = FaultServer::start(10).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = cli_config(
        &format!("{}/flag", srv.url),
        r#"{"percentage": {{percent}}, "enabled": {{enabled}}}"#,
        false,
        &srv.url,
    );
    let run = run_cli(dir.path(), &cfg, &["set", "50"], "").await;
    assert_eq!(run.code, Some(5), "{}", run.out);
    assert!(
        run.out.contains("NOT APPLIED") && run.out.contains("10%") && run.out.contains("50%"),
        "{}",
        run.out
    );
    assert_eq!(srv.writes(Class::Flag), 1, "written once, never retried");
    assert_eq!(srv.flag().percent, 10, "the backend still holds 10 %");
    let rec = outcome_record(&run.audit);
    assert_eq!(rec.outcome.as_deref(), Some("not_applied"));
    let detail = rec.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("asked 50%") && detail.contains("10%"),
        "{detail}"
    );
}

#[tokio::test]
async fn the_kill_switch_the_backend_ignores_is_not_applied_and_audited() {
    // `{{enabled}}` lands in a field the API ignores: switching off changes nothing.
    let srv = FaultServer::start(10).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::new(dir.path().join("audit.jsonl"));
    let f = HttpFlag::new(
        HttpFlagConfig {
            url: format!("{}/flag", srv.url),
            percent_pointer: "/percent".into(),
            enabled_pointer: Some("/enabled".into()),
            version_pointer: None,
            method: WriteMethod::Put,
            write_url: None,
            body_template: r#"{"percent": {{percent}}, "on": {{enabled}}}"#.into(),
            token_env: None,
            token_file: None,
            timeout_ms: 2000,
            insecure_skip_verify: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            lease: None,
        },
        None,
    )
    .unwrap();
    assert!(f.can_set_enabled());
    let seen = f.read().await.unwrap();
    let r = guarded_write(
        &f,
        &audit,
        WriteRequest {
            rollout: "checkout".into(),
            environment: "production".into(),
            expected: seen,
            kind: WriteKind::SetEnabled(false),
            reason: "operator".into(),
        },
        false,
    )
    .await;
    assert_eq!(
        r.outcome,
        WriteOutcome::NotApplied {
            asked: "off".into(),
            found: "on".into()
        }
    );
    assert!(srv.flag().enabled, "the flag is still on");
    assert_eq!(
        outcome_record(&audit.read_all()).outcome.as_deref(),
        Some("not_applied")
    );
}

#[tokio::test]
async fn set_while_a_rollback_rule_fires_is_refused_unless_forced() {
    let srv = FaultServer::start(10).await;
    srv.set_values(1.0, 9.0); // new 9 % > 5 %: `err-high` fires
    let dir = tempfile::tempdir().unwrap();
    let cfg = cli_config(
        &format!("{}/flag", srv.url),
        r#"{"percent": {{percent}}, "enabled": {{enabled}}}"#,
        false,
        &srv.url,
    );
    let run = run_cli(dir.path(), &cfg, &["set", "50"], "").await;
    assert_eq!(run.code, Some(5), "{}", run.out);
    assert!(
        run.out
            .contains("rule `err-high` is FIRING (critical, rollback, value 9)"),
        "{}",
        run.out
    );
    assert_eq!(srv.writes(Class::Flag), 0, "nothing was sent");
    assert_eq!(srv.flag().percent, 10);
    let rec = outcome_record(&run.audit);
    assert_eq!(rec.outcome.as_deref(), Some("refused"));
    assert!(rec.reason.contains("err-high"), "{rec:?}");
    assert!(
        rec.detail
            .as_deref()
            .unwrap_or_default()
            .contains("err-high"),
        "{rec:?}"
    );

    // Forcing writes, and the audit says what it was forced past.
    let run = run_cli(dir.path(), &cfg, &["set", "50", "--force"], "").await;
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert_eq!(srv.flag().percent, 50);
    let rec = outcome_record(&run.audit);
    assert_eq!(rec.outcome.as_deref(), Some("ok"));
    assert!(
        rec.reason.contains("forced past") && rec.reason.contains("err-high"),
        "{rec:?}"
    );

    // Lowering the percentage is not steering forward: not blocked.
    let run = run_cli(dir.path(), &cfg, &["set", "10"], "").await;
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert_eq!(srv.flag().percent, 10);

    // Rolling back is the safe direction: never blocked by the firing rule.
    let run = run_cli(dir.path(), &cfg, &["rollback"], "").await;
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert_eq!(srv.flag().percent, 0);
    assert_eq!(outcome_record(&run.audit).outcome.as_deref(), Some("ok"));
}

#[tokio::test]
async fn a_wrong_token_is_a_refused_audited_write_exit_5() {
    let (base, svc) = serve(Mode::ETags, 10).await;
    let prom = FaultServer::start(10).await;
    let dir = tempfile::tempdir().unwrap();
    // This flag service reads `/rollout/percent` and `/on`.
    let cfg = cli_config(
        &format!("{base}/flag"),
        r#"{"percent": {{percent}}, "on": {{enabled}}}"#,
        true,
        &prom.url,
    )
    .replace("\"/percent\"", "\"/rollout/percent\"")
    .replace("\"/enabled\"", "\"/on\"");
    for (args, n) in [
        (&["set", "50"][..], 2),
        (&["set", "50", "--force"][..], 4),
        (&["rollback"][..], 6),
    ] {
        let run = run_cli(dir.path(), &cfg, args, "wrong-one-987").await;
        assert_eq!(run.code, Some(5), "{args:?}: {}", run.out);
        assert!(run.out.contains("unauthorized"), "{args:?}: {}", run.out);
        assert!(!run.out.contains("wrong-one-987"));
        assert_eq!(
            run.audit.len(),
            n,
            "{args:?}: intent + outcome each: {:?}",
            run.audit
        );
        let rec = outcome_record(&run.audit);
        assert_eq!(rec.outcome.as_deref(), Some("refused"), "{args:?}");
        assert!(
            rec.detail
                .as_deref()
                .unwrap_or_default()
                .contains("unauthorized"),
            "{rec:?}"
        );
    }
    assert!(svc.lock().unwrap().writes.is_empty());
    assert_eq!(svc.lock().unwrap().percent, 10);
    // The right token writes.
    let run = run_cli(dir.path(), &cfg, &["set", "50"], TOKEN).await;
    assert_eq!(run.code, Some(0), "{}", run.out);
    assert_eq!(svc.lock().unwrap().percent, 50);
}
