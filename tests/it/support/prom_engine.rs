//! A real Prometheus for the tests: started on a free loopback port with its own config and
//! storage in a temporary folder, killed on drop. Waits are conditions with deadlines.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rollwatch::sim::server::{SimHandle, SimServer, SimServerOptions};
use serde_json::Value;

use super::wait;

/// Whether the `prometheus` binary can run here. When it cannot: with
/// `ROLLWATCH_REQUIRE_ENGINES=1` this panics (the test fails), otherwise it prints a loud
/// skip notice and returns false.
pub fn available_or_skip(test: &str) -> bool {
    let ok = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    assert!(
        std::env::var("ROLLWATCH_REQUIRE_ENGINES").as_deref() != Ok("1"),
        "{test}: the `prometheus` binary is not installed, and ROLLWATCH_REQUIRE_ENGINES=1 \
         requires it (run .ci/provision-prometheus.sh)"
    );
    loud(&format!(
        "SKIPPED: prometheus not installed ({test}); run .ci/provision-prometheus.sh"
    ));
    false
}

/// Writes straight to the process's stderr: the test harness captures `eprintln!` of passing
/// tests, and a skip must be seen.
pub fn loud(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Prometheus's own web endpoint served through `--web.config.file` (TLS, client
/// certificates, basic authentication), and how the readiness check gets through it.
pub struct WebConfig {
    /// The web config YAML (`tls_server_config`, `basic_auth_users`, ...).
    pub yaml: String,
    /// A client that passes its TLS settings (trusts the CA, carries a client certificate).
    pub client: reqwest::Client,
    /// Basic-authentication user and password for the readiness check, if it asks for one.
    pub basic_auth: Option<(String, String)>,
}

/// The last 20 lines of the log at `path`.
fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A running Prometheus scraping one target every second.
pub struct Prometheus {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (job `sim`) and waits until it is ready.
    pub async fn start(target: SocketAddr) -> Self {
        Self::start_with(target, None).await
    }

    /// [`Prometheus::start`], serving its API through `web` (then over https) when given.
    pub async fn start_with(target: SocketAddr, web: Option<WebConfig>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: sim\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new("prometheus");
        if let Some(w) = &web {
            let web_file = dir.path().join("web.yml");
            std::fs::write(&web_file, &w.yaml).expect("write web.yml");
            cmd.arg(format!("--web.config.file={}", web_file.display()));
        }
        let child = cmd
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn prometheus");
        let scheme = if web.is_some() { "https" } else { "http" };
        let mut p = Self {
            url: format!("{scheme}://127.0.0.1:{port}"),
            child,
            log,
            _dir: dir,
        };
        let (client, basic) = match web {
            Some(w) => (w.client, w.basic_auth),
            None => (
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()
                    .expect("client"),
                None,
            ),
        };
        let ready = format!("{}/-/ready", p.url);
        let log = p.log.clone();
        let child = &mut p.child;
        wait::until_async(
            "prometheus to be ready",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("prometheus exited early ({status}):\n{}", tail(&log));
                }
                let mut req = client.get(&ready);
                if let Some((user, password)) = &basic {
                    req = req.basic_auth(user, Some(password));
                }
                let log = log.clone();
                async move {
                    match req.send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("{}\n{}", r.status(), tail(&log))),
                        Err(e) => Err(format!("{e}\n{}", tail(&log))),
                    }
                }
            },
        )
        .await;
        p
    }

    /// The last lines of Prometheus's log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// A raw instant query (for test conditions, not through rollwatch's source).
    pub async fn query(&self, q: &str) -> Result<Value, String> {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", q)])
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json::<Value>().await.map_err(|e| e.to_string())
    }

    /// The single value of a scalar-like instant query, if any.
    pub async fn value(&self, q: &str) -> Option<f64> {
        let v = self.query(q).await.ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

/// A `rollwatch simulate` server on loopback (the checkout profile at 400 requests/s, its flag
/// API and exposition) and a real Prometheus scraping it. Dropping it stops both.
pub struct Simulated {
    /// The simulator's address.
    pub addr: SocketAddr,
    /// A handle on the simulator (its flag, its traffic).
    pub sim: SimHandle,
    /// The Prometheus scraping it.
    pub prom: Prometheus,
    /// Stops the simulator when dropped.
    pub stop: tokio::sync::oneshot::Sender<()>,
}

/// A `rollwatch simulate` server running on loopback.
pub struct Sim {
    /// Its address.
    pub addr: SocketAddr,
    /// A handle on it (its flag, its traffic).
    pub handle: SimHandle,
    /// Stops it when dropped.
    pub stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts a simulator with `opts` on a free loopback port, serving on the caller's runtime.
pub async fn start_sim(opts: SimServerOptions) -> Sim {
    let server = SimServer::bind("127.0.0.1:0".parse().expect("loopback"), opts)
        .await
        .expect("the simulator binds on loopback");
    let addr = server.local_addr().expect("its address");
    let handle = server.handle();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = rx.await;
    }));
    Sim { addr, handle, stop }
}

/// Starts [`Simulated`] with `scenario`, `seed`, the flag at `percent` and `warmup_s` seconds
/// of simulated history.
pub async fn simulated(
    scenario: rollwatch::sim::Scenario,
    seed: u64,
    percent: u8,
    warmup_s: u32,
) -> Simulated {
    let mut profile = rollwatch::sim::Profile::checkout();
    profile.rps = 400.0;
    let Sim { addr, handle, stop } = start_sim(SimServerOptions {
        scenario,
        seed,
        percent,
        flag: "checkout-batch-queries".into(),
        profile,
        warmup_s,
    })
    .await;
    let prom = Prometheus::start(addr).await;
    Simulated {
        addr,
        sim: handle,
        prom,
        stop,
    }
}

/// `examples/simulate.toml` (the README's walkthrough) pointed at `sim` and `prom_url`.
pub fn simulate_example(sim: SocketAddr, prom_url: &str) -> String {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/simulate.toml"
    ))
    .expect("examples/simulate.toml");
    example
        .replace("http://127.0.0.1:9464", &format!("http://{sim}"))
        .replace("http://127.0.0.1:9090", prom_url)
}
