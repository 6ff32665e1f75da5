//! TLS, mutual TLS and basic authentication against a real Prometheus serving its API through
//! `--web.config.file`, read the way an operator reads it: the built binary's
//! `status --json` with a config file naming `ca_file`, `client_cert_file`,
//! `client_key_file`, `user` and `password_env`.
//!
//! The test makes its own CA, server and client certificates with the `openssl` command and
//! the password's bcrypt hash with the `bcrypt` crate; Prometheus listens on 127.0.0.1 only.

use std::fmt::Write as _;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::prom_engine::{Prometheus, Sim, WebConfig, available_or_skip, loud, start_sim};
use crate::support::wait::eventually;
use rollwatch::sim::server::SimServerOptions;
use rollwatch::sim::{Profile, Scenario};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const USER: &str = "rollwatch";
const PASSWORD: &str = "tls-test-Pa55word-7f3e";
const WRONG_PASSWORD: &str = "wrong-Pa55word-91c2";
const PASSWORD_ENV: &str = "ROLLWATCH_TLS_TEST_PASSWORD";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=rollwatch test CA",
    ];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    for (name, cn, ext) in [
        (
            "server",
            "127.0.0.1",
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n\
             extendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "rollwatch",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let subj = format!("/CN={cn}");
        let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
        let mut req = vec!["req", "-subj", &subj, "-keyout", &key, "-out", &csr];
        req.extend(ec);
        openssl(dir, &req);
        let (pem, extfile) = (format!("{name}.pem"), format!("{name}.ext"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &extfile,
            ],
        );
    }
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

/// Prometheus's web config: TLS with a required, verified client certificate, and one
/// basic-auth user whose password is stored as a bcrypt hash.
fn web_config(pki: &Pki) -> WebConfig {
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    let yaml = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: \
         RequireAndVerifyClientCert\n  client_ca_file: {}\nbasic_auth_users:\n  {USER}: '{hash}'\n",
        pki.server_cert.display(),
        pki.server_key.display(),
        pki.ca.display(),
    );
    let mut id = std::fs::read(&pki.client_cert).unwrap();
    id.extend(std::fs::read(&pki.client_key).unwrap());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap(),
        )
        .identity(reqwest::Identity::from_pem(&id).unwrap())
        .build()
        .expect("readiness client");
    WebConfig {
        yaml,
        client,
        basic_auth: Some((USER.into(), PASSWORD.into())),
    }
}

/// What the metrics table of a case holds besides the URL and the cohorts.
#[derive(Clone, Copy)]
struct Case {
    ca: bool,
    client_cert: bool,
    password: &'static str,
}

fn config(dir: &Path, name: &str, url: &str, pki: &Pki, case: Case) -> PathBuf {
    let mut tls = String::new();
    if case.ca {
        writeln!(tls, "ca_file = {:?}", pki.ca.display().to_string()).unwrap();
    }
    if case.client_cert {
        write!(
            tls,
            "client_cert_file = {:?}\nclient_key_file = {:?}\n",
            pki.client_cert.display().to_string(),
            pki.client_key.display().to_string()
        )
        .unwrap();
    }
    let text = format!(
        r#"refresh = "2s"
audit_log = {audit:?}

[[rollout]]
name = "tls"
steps = [50, 100]

[rollout.flag]
kind = "memory"
percent = 50

[rollout.metrics]
kind = "prometheus"
url = "{url}"
legacy = ["legacy"]
new = ["new"]
user = "{USER}"
password_env = "{PASSWORD_ENV}"
timeout_ms = 3000
{tls}
[[rollout.metric]]
id = "memory"
kind = "bytes"
query = "sum by (cohort)(process_resident_memory_bytes)"
"#,
        audit = dir
            .join(format!("{name}.audit.jsonl"))
            .display()
            .to_string(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `rollwatch status --json` on a config with `password` in the environment; returns the
/// parsed document and everything the process printed.
async fn status(config: PathBuf, password: &'static str, state: PathBuf) -> (Value, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN)
            .args(["status", "--json", "--config"])
            .arg(&config)
            .env(PASSWORD_ENV, password)
            .env("XDG_STATE_HOME", &state)
            .stdin(Stdio::null())
            .output()
            .expect("run rollwatch status");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let printed = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let doc = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {printed}"));
        (doc, printed)
    })
    .await
    .expect("status task")
}

fn metrics_error(doc: &Value) -> String {
    doc["rollouts"][0]["metrics_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_behind_mtls_and_basic_auth_is_read_only_with_the_right_ca_cert_and_password() {
    let test = "prometheus_behind_mtls_and_basic_auth";
    if !available_or_skip(test) {
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var("ROLLWATCH_REQUIRE_ENGINES").as_deref() != Ok("1"),
            "{test}: `openssl` is not installed"
        );
        loud(&format!("SKIPPED: openssl not installed ({test})"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let Sim {
        addr: sim,
        stop: _stop,
        ..
    } = start_sim(SimServerOptions {
        scenario: Scenario::Healthy,
        seed: 3,
        percent: 50,
        flag: "checkout".into(),
        profile: Profile::checkout(),
        warmup_s: 60,
    })
    .await;
    let prom = Prometheus::start_with(sim, Some(web_config(&pki))).await;
    assert!(prom.url.starts_with("https://127.0.0.1:"), "{}", prom.url);
    let state = dir.path().join("state");
    let mut printed = Vec::new();

    // The CA, the client certificate and the password: values for both cohorts.
    let good = Case {
        ca: true,
        client_cert: true,
        password: PASSWORD,
    };
    let cfg = config(dir.path(), "good", &prom.url, &pki, good);
    let prom_ref = &prom;
    let (legacy, new, out) = eventually("values over mTLS", Duration::from_secs(40), || {
        let (cfg, state) = (cfg.clone(), state.clone());
        async move {
            let (doc, out) = status(cfg, good.password, state).await;
            let m = &doc["rollouts"][0]["metrics"][0];
            match (m["legacy"].as_f64(), m["new"].as_f64()) {
                (Some(l), Some(n)) if metrics_error(&doc).is_empty() => Ok((l, n, out)),
                _ => Err(format!("{doc}\n{}", prom_ref.log_tail())),
            }
        }
    })
    .await;
    printed.push(out);
    assert!(
        legacy > 0.0 && new > 0.0,
        "memory legacy {legacy}, new {new}"
    );

    // Each case that must fail: what is left out, and what its error must say.
    let no_ca = Case { ca: false, ..good };
    let no_cert = Case {
        client_cert: false,
        ..good
    };
    let wrong = Case {
        password: WRONG_PASSWORD,
        ..good
    };
    let failing: [(&str, Case, &[&str]); 3] = [
        // The system roots do not know the private CA.
        (
            "no-ca",
            no_ca,
            &[
                "transport: the server's TLS certificate is not signed by a trusted CA",
                "set `ca_file`",
                "UnknownIssuer",
            ],
        ),
        // The server ends the handshake without a client certificate (mTLS required).
        (
            "no-cert",
            no_cert,
            &["transport:", "set `client_cert_file` and `client_key_file`"],
        ),
        // A wrong password passes TLS and is refused by basic authentication.
        ("wrong-password", wrong, &["HTTP 401"]),
    ];
    for (name, case, says) in failing {
        let cfg = config(dir.path(), name, &prom.url, &pki, case);
        let (doc, out) = status(cfg, case.password, state.clone()).await;
        let e = metrics_error(&doc);
        assert!(e.starts_with(says[0]), "{name}: {e}");
        for s in says {
            assert!(e.contains(s), "{name}: `{s}` not in: {e}");
        }
        let m = &doc["rollouts"][0]["metrics"][0];
        assert!(m["legacy"].is_null() && m["new"].is_null(), "{name}: {doc}");
        printed.push(out);
    }

    // No password, right or wrong, in anything the process printed.
    for out in &printed {
        assert!(!out.contains(PASSWORD), "password printed: {out}");
        assert!(!out.contains(WRONG_PASSWORD), "password printed: {out}");
    }
}
