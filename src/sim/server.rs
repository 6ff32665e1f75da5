//! `rollwatch simulate`: the simulator behind real HTTP, so rollwatch can be tried (and
//! tested) against a real Prometheus and a flag API without a real service.
//!
//! - `GET /metrics`: Prometheus text exposition of the simulator's cumulative totals, every
//!   series labelled `cohort="legacy"|"new"`.
//! - `GET /api/flags/{name}`: `{"name","percent","enabled","version"}` with `ETag: "N"`.
//! - `PUT /api/flags/{name}`: `{"percent": P}` and/or `{"enabled": B}`; `If-Match: "N"` makes it
//!   a compare-and-set (412 on a version mismatch). The flag drives the simulated split.
//! - The same PUT with `{"lease": L, "expect_lease": E}` (strings or null) replaces the guard
//!   lease only while it is `E` (409 otherwise), leaving the version alone: the lease of
//!   `rollwatch guard` (`lease = { pointer = "/lease", ... }` in the flag's config).
//!
//! The simulator is advanced by the clock on every request, with the split that held until
//! then, so a flag change takes effect from the moment it is made.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{BUCKETS_MS, Profile, Reading, Scenario, Simulator};
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

struct Inner {
    sim: Simulator,
    flag: Flag,
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
        let pct = g.flag.effective();
        g.sim.advance(now, pct);
        g
    }

    /// The window reading of a cohort, now.
    #[must_use]
    pub fn reading(&self, c: Cohort) -> Reading {
        self.lock().sim.reading(c)
    }

    /// The flag's effective percentage (0 when switched off).
    #[must_use]
    pub fn percent(&self) -> u8 {
        self.lock().flag.effective()
    }

    /// The exposition `/metrics` would answer now.
    #[must_use]
    pub fn exposition(&self) -> String {
        exposition(&self.lock().sim)
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
            sim,
            flag: Flag {
                name: opts.flag,
                percent,
                enabled: true,
                version: 1,
                lease: None,
            },
        };
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

async fn read_flag(State(h): State<SimHandle>, Path(name): Path<String>) -> Response {
    let g = h.lock();
    if name != g.flag.name {
        return problem(StatusCode::NOT_FOUND, &format!("no flag named `{name}`"));
    }
    flag_response(StatusCode::OK, &g.flag)
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
    if name != g.flag.name {
        return problem(StatusCode::NOT_FOUND, &format!("no flag named `{name}`"));
    }
    let put = match parse_put(&body) {
        Ok(x) => x,
        Err(m) => return problem(StatusCode::BAD_REQUEST, &m),
    };
    if let Some((lease, expected)) = put.lease {
        // The lease has its own compare-and-set and leaves the version alone.
        if g.flag.lease != expected {
            return flag_response(StatusCode::CONFLICT, &g.flag);
        }
        g.flag.lease = lease;
        if put.percent.is_none() && put.enabled.is_none() {
            return flag_response(StatusCode::OK, &g.flag);
        }
    }
    match if_match_allows(&headers, g.flag.version) {
        Ok(true) => {}
        Ok(false) => return flag_response(StatusCode::PRECONDITION_FAILED, &g.flag),
        Err(()) => return problem(StatusCode::BAD_REQUEST, "malformed If-Match header"),
    }
    if let Some(p) = put.percent {
        g.flag.percent = p;
    }
    if let Some(e) = put.enabled {
        g.flag.enabled = e;
    }
    g.flag.version += 1;
    flag_response(StatusCode::OK, &g.flag)
}

fn le(ms: f64) -> String {
    format!("{}", ms / 1000.0)
}

/// A simple family: name, type, help, value of a cohort's totals.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&super::Totals) -> f64,
);

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Prometheus text exposition (format 0.0.4) of the simulator's totals.
#[must_use]
pub fn exposition(sim: &Simulator) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let totals = Cohort::BOTH.map(|c| (c.as_str(), sim.totals(c)));
    family(
        &mut out,
        "http_requests_total",
        "counter",
        "Requests served, by cohort and status code.",
    );
    for (c, t) in &totals {
        let ok = t.sum.requests.saturating_sub(t.sum.errors);
        let _ = writeln!(
            out,
            "http_requests_total{{cohort=\"{c}\",code=\"200\"}} {ok}"
        );
        let _ = writeln!(
            out,
            "http_requests_total{{cohort=\"{c}\",code=\"500\"}} {}",
            t.sum.errors
        );
    }
    family(
        &mut out,
        "http_request_duration_seconds",
        "histogram",
        "Request latency (the sum is estimated from bucket midpoints).",
    );
    for (c, t) in &totals {
        let mut cum = 0u64;
        let mut sum_ms = 0.0;
        for (i, &n) in t.sum.buckets.iter().enumerate() {
            cum += n;
            let lower = if i == 0 { 0.0 } else { BUCKETS_MS[i - 1] };
            let bound = BUCKETS_MS.get(i).copied();
            #[allow(clippy::cast_precision_loss)]
            let nf = n as f64;
            sum_ms += nf * bound.map_or(lower, |u| f64::midpoint(lower, u));
            let le = bound.map_or_else(|| "+Inf".to_owned(), le);
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{cohort=\"{c}\",le=\"{le}\"}} {cum}"
            );
        }
        let _ = writeln!(
            out,
            "http_request_duration_seconds_sum{{cohort=\"{c}\"}} {}\n\
             http_request_duration_seconds_count{{cohort=\"{c}\"}} {cum}",
            sum_ms / 1000.0
        );
    }
    let gauges: [Family; 3] = [
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the cohort's processes.",
            |t| t.memory_bytes.round(),
        ),
        (
            "db_queries_total",
            "counter",
            "Database queries issued.",
            |t| t.sum.queries.round(),
        ),
        ("llm_tokens_total", "counter", "LLM tokens used.", |t| {
            t.sum.tokens.round()
        }),
    ];
    for (name, kind, help, f) in gauges {
        family(&mut out, name, kind, help);
        for (c, t) in &totals {
            let _ = writeln!(out, "{name}{{cohort=\"{c}\"}} {}", f(t));
        }
    }
    out
}

mod put;
#[cfg(test)]
mod tests;
