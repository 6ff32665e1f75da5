//! `rollwatch simulate`: the simulator behind real HTTP, so rollwatch can be tried (and
//! tested) against a real Prometheus and a flag API without a real service.
//!
//! - `GET /metrics`: Prometheus text exposition of the simulator's cumulative totals, every
//!   series labelled `cohort="legacy"|"new"`; with `--flags N` ([`SimServer::bind_fleet`]),
//!   N flags `flag-000`…, each series labelled `feature_flag_key` and
//!   `feature_flag_result_variant` (`off` legacy, `on` new).
//! - `GET /api/flags/{name}`: `{"name","percent","enabled","version"}` with `ETag: "N"`.
//! - `GET /api/flags`: every served flag, an array of those documents (fleet discovery).
//! - `PUT /api/flags/{name}`: `{"percent": P}` and/or `{"enabled": B}`; `If-Match: "N"` makes it
//!   a compare-and-set (412 on a version mismatch). The flag drives the simulated split.
//! - The same PUT with `{"lease": L, "expect_lease": E}` (strings or null) replaces the guard
//!   lease only while it is `E` (409 otherwise), leaving the version alone: the lease of
//!   `rollwatch guard` (`lease = { pointer = "/lease", ... }` in the flag's config).
//!
//! The simulator is advanced by the clock on every request, with the split that held until
//! then, so a flag change takes effect from the moment it is made.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub use super::exposition::exposition;
use super::exposition::{Labelled, render};
use super::fleet::FleetFlag;
use super::{Profile, Reading, Scenario, Simulator};
use crate::clock::{Clock, SystemClock};
use crate::model::Cohort;
use put::parse_put;

/// How the simulated service starts.
#[derive(Debug, Clone)]
pub struct SimServerOptions {
    /// Scenario of the new path.
    pub scenario: Scenario,
    /// Seed: the same seed draws the same traffic for the same flag history.
    pub seed: u64,
    /// Initial rollout percentage.
    pub percent: u8,
    /// Name of the flag served under `/api/flags/{name}`.
    pub flag: String,
    /// The service's profile (request rate, both paths).
    pub profile: Profile,
    /// Simulated history before start, in seconds, drawn at the initial percentage, so the
    /// windowed readings are full at once (0 for none).
    pub warmup_s: u32,
}

impl Default for SimServerOptions {
    fn default() -> Self {
        Self {
            scenario: Scenario::Healthy,
            seed: 42,
            percent: 10,
            flag: "checkout-batch-queries".into(),
            profile: Profile::checkout(),
            warmup_s: 0,
        }
    }
}

/// The served flag.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flag {
    name: String,
    percent: u8,
    enabled: bool,
    version: u64,
    lease: Option<String>,
}

impl Flag {
    fn effective(&self) -> u8 {
        if self.enabled { self.percent } else { 0 }
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "percent": self.percent,
            "enabled": self.enabled,
            "version": self.version,
            "lease": self.lease,
        })
    }
}

/// One served flag and the simulated service behind it.
struct Served {
    sim: Simulator,
    flag: Flag,
}

struct Inner {
    /// One flag (`rollwatch simulate`) or a fleet (`--flags N`).
    served: Vec<Served>,
    /// The fleet's series carry the flag and variant labels; a single flag's carry `cohort`.
    fleet: bool,
}

impl Inner {
    fn find(&mut self, name: &str) -> Option<&mut Flag> {
        self.served
            .iter_mut()
            .map(|s| &mut s.flag)
            .find(|f| f.name == name)
    }

    fn first(&self) -> &Served {
        &self.served[0]
    }
}

/// A handle on the running simulator (tests compare what Prometheus saw with it).
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

impl SimHandle {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now_ms();
        for s in &mut g.served {
            let pct = s.flag.effective();
            s.sim.advance(now, pct);
        }
        g
    }

    /// The window reading of a cohort of the (first) flag, now.
    #[must_use]
    pub fn reading(&self, c: Cohort) -> Reading {
        self.lock().first().sim.reading(c)
    }

    /// The (first) flag's effective percentage (0 when switched off).
    #[must_use]
    pub fn percent(&self) -> u8 {
        self.lock().first().flag.effective()
    }

    /// The window reading of a cohort of flag `name`, now; `None` for a flag not served.
    #[must_use]
    pub fn reading_of(&self, name: &str, c: Cohort) -> Option<Reading> {
        let g = self.lock();
        g.served
            .iter()
            .find(|s| s.flag.name == name)
            .map(|s| s.sim.reading(c))
    }

    /// The cumulative totals of a cohort of flag `name`; `None` for a flag not served.
    #[must_use]
    pub fn totals_of(&self, name: &str, c: Cohort) -> Option<super::Totals> {
        let g = self.lock();
        g.served
            .iter()
            .find(|s| s.flag.name == name)
            .map(|s| s.sim.totals(c))
    }

    /// The exposition `/metrics` would answer now.
    #[must_use]
    pub fn exposition(&self) -> String {
        let g = self.lock();
        let all: Vec<Labelled<'_>> = g
            .served
            .iter()
            .map(|s| {
                if g.fleet {
                    Labelled::flag(&s.sim, &s.flag.name)
                } else {
                    Labelled::cohort(&s.sim)
                }
            })
            .collect();
        render(&all)
    }
}

/// A bound, not yet serving, simulate server.
pub struct SimServer {
    listener: tokio::net::TcpListener,
    handle: SimHandle,
}

impl SimServer {
    /// Binds `addr` (use port 0 for a free one) with the wall clock.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: SocketAddr, opts: SimServerOptions) -> std::io::Result<Self> {
        Self::bind_with_clock(addr, opts, Arc::new(SystemClock)).await
    }

    /// Binds `addr` with an injected clock.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind_with_clock(
        addr: SocketAddr,
        opts: SimServerOptions,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let now = clock.now_ms();
        let start = now - i64::from(opts.warmup_s) * 1000;
        let percent = opts.percent.min(100);
        let mut sim = Simulator::new(opts.seed, opts.scenario, opts.profile, start, start);
        sim.advance(now, percent);
        let inner = Inner {
            served: vec![Served {
                sim,
                flag: Flag {
                    name: opts.flag,
                    percent,
                    enabled: true,
                    version: 1,
                    lease: None,
                },
            }],
            fleet: false,
        };
        Self::with_inner(listener, inner, clock)
    }

    /// Binds `addr` serving a fleet of flags (`rollwatch simulate --flags N`), each with its
    /// own simulated service, `warmup_s` seconds of history drawn at its initial percentage.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind_fleet(
        addr: SocketAddr,
        flags: Vec<FleetFlag>,
        warmup_s: u32,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let now = clock.now_ms();
        let start = now - i64::from(warmup_s) * 1000;
        let served = flags
            .into_iter()
            .map(|f| {
                let mut sim = Simulator::new(f.seed, f.scenario, f.profile, start, start);
                sim.advance(now, f.percent);
                Served {
                    sim,
                    flag: Flag {
                        name: f.name,
                        percent: f.percent,
                        enabled: true,
                        version: 1,
                        lease: None,
                    },
                }
            })
            .collect();
        let inner = Inner {
            served,
            fleet: true,
        };
        Self::with_inner(listener, inner, clock)
    }

    #[allow(clippy::unnecessary_wraps)] // keeps both constructors' tails alike
    fn with_inner(
        listener: tokio::net::TcpListener,
        inner: Inner,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            listener,
            handle: SimHandle {
                inner: Arc::new(Mutex::new(inner)),
                clock,
            },
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// When the socket has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle on the simulator.
    #[must_use]
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Serves until `shutdown` completes.
    ///
    /// # Errors
    /// When accepting connections fails.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.handle))
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// The routes.
pub fn router(handle: SimHandle) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/flags", get(list_flags))
        .route("/api/flags/{name}", get(read_flag).put(write_flag))
        .with_state(handle)
}

async fn metrics(State(h): State<SimHandle>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        h.exposition(),
    )
        .into_response()
}

fn flag_response(status: StatusCode, flag: &Flag) -> Response {
    let mut r = (status, axum::Json(flag.json())).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", flag.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Every served flag, as an array of the documents `/api/flags/{name}` answers.
async fn list_flags(State(h): State<SimHandle>) -> Response {
    let g = h.lock();
    let all: Vec<Value> = g.served.iter().map(|s| s.flag.json()).collect();
    axum::Json(Value::Array(all)).into_response()
}

async fn read_flag(State(h): State<SimHandle>, Path(name): Path<String>) -> Response {
    let mut g = h.lock();
    match g.find(&name) {
        Some(f) => flag_response(StatusCode::OK, f),
        None => problem(StatusCode::NOT_FOUND, &format!("no flag named `{name}`")),
    }
}

/// `If-Match` values: `*`, `"N"`, `W/"N"` or a bare `N`, comma-separated.
fn if_match_allows(headers: &HeaderMap, version: u64) -> Result<bool, ()> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(true);
    };
    let v = v.to_str().map_err(|_| ())?;
    let mut any = false;
    for tag in v.split(',').map(str::trim) {
        any = true;
        if tag == "*" {
            return Ok(true);
        }
        let t = tag.trim_start_matches("W/").trim_matches('"');
        if t.parse::<u64>().is_ok_and(|n| n == version) {
            return Ok(true);
        }
    }
    if any { Ok(false) } else { Err(()) }
}

async fn write_flag(
    State(h): State<SimHandle>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Locking advances the simulator to now with the old split.
    let mut g = h.lock();
    let Some(flag) = g.find(&name) else {
        return problem(StatusCode::NOT_FOUND, &format!("no flag named `{name}`"));
    };
    let put = match parse_put(&body) {
        Ok(x) => x,
        Err(m) => return problem(StatusCode::BAD_REQUEST, &m),
    };
    if let Some((lease, expected)) = put.lease {
        // The lease has its own compare-and-set and leaves the version alone.
        if flag.lease != expected {
            return flag_response(StatusCode::CONFLICT, flag);
        }
        flag.lease = lease;
        if put.percent.is_none() && put.enabled.is_none() {
            return flag_response(StatusCode::OK, flag);
        }
    }
    match if_match_allows(&headers, flag.version) {
        Ok(true) => {}
        Ok(false) => return flag_response(StatusCode::PRECONDITION_FAILED, flag),
        Err(()) => return problem(StatusCode::BAD_REQUEST, "malformed If-Match header"),
    }
    if let Some(p) = put.percent {
        flag.percent = p;
    }
    if let Some(e) = put.enabled {
        flag.enabled = e;
    }
    flag.version += 1;
    flag_response(StatusCode::OK, flag)
}

mod put;
#[cfg(test)]
mod tests;
