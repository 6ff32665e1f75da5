//! Prometheus (and anything serving its HTTP API: VictoriaMetrics, Thanos, Mimir) as a
//! metrics source.
//!
//! Each metric is one PromQL query whose answer is grouped by the cohort label
//! (`sum by (cohort)(...)`), so one poll costs exactly one instant query per metric, never one
//! per cohort; the queries of a poll run concurrently. History is backfilled with one
//! `query_range` per metric. Values arrive as strings (`"NaN"`, `"+Inf"`, `"1e-07"`); an empty
//! answer, a missing cohort or NaN is *no data*, never 0.
//!
//! When a cohort is missing for a reason other than "no traffic", the metric fails with
//! [`MetricsError::NoData`] saying what was missing: the answer's cohort-label values do not
//! include the configured ones, no series carries the cohort label, or a ratio's numerator has
//! no series for a cohort that has traffic (the `rate(errors) / rate(requests)` trap: a cohort
//! without a single 5xx has no numerator series, so the division drops it). The last is found
//! with one extra instant query of the ratio's denominator, only when a cohort is missing.
//!
//! A metric may also declare where its counts since the step began come from ([`counts`]):
//! `events_query` and `trials_query` (ratio metrics) or `buckets_query` (latency metrics);
//! those queries run concurrently with the metric queries of the same poll, one each.

pub mod counts;
mod spec;

pub use spec::{KIND, PrometheusSpec};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use serde::Deserialize;
use serde_json::Value;

use super::{
    Backfill, CohortValues, Counts, MetricsError, MetricsSource, Poll, PollCtx, QuantileBounds,
};
use crate::clock::{Clock, SystemClock};
use crate::model::Cohort;
use crate::net::{Auth, AuthKeys, Endpoint, EndpointError, policy};

/// Prometheus caps a range query at this many points per series.
pub const MAX_POINTS: i64 = 11_000;

fn default_cohort_label() -> String {
    "cohort".into()
}

crate::net::endpoint_config! {
    /// Where the Prometheus server is and how its series map to the two cohorts.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PrometheusConfig {
        /// Base URL of the Prometheus HTTP API, e.g. `http://127.0.0.1:9090` (without `/api/v1`).
        pub url: String,
        /// The label whose value tells the cohort, e.g. `version` or `cohort` (the default).
        /// Every query must group by it: `sum by (cohort)(...)`.
        #[serde(default = "default_cohort_label")]
        pub cohort_label: String,
        /// Label values that mean the legacy path, e.g. `["v1"]`.
        pub legacy: Vec<String>,
        /// Label values that mean the new path, e.g. `["v2"]`.
        pub new: Vec<String>,
        /// User name for HTTP basic authentication (with `password_env` or `password_file`).
        #[serde(default)]
        pub user: Option<String>,
        /// Environment variable holding the basic-authentication password.
        #[serde(default)]
        pub password_env: Option<String>,
        /// File whose first line is the basic-authentication password.
        #[serde(default)]
        pub password_file: Option<PathBuf>,
        /// Total deadline of one request in milliseconds; default min(refresh interval, 5000),
        /// at most 5000. Connecting has at most 2 s of it.
        #[serde(default)]
        pub timeout_ms: Option<u64>,
    }
}

impl PrometheusConfig {
    /// The credential keys (bearer token or basic authentication).
    #[must_use]
    pub fn auth_keys(&self) -> AuthKeys<'_> {
        AuthKeys {
            token_env: self.token_env.as_deref(),
            token_file: self.token_file.as_deref(),
            user: self.user.as_deref(),
            password_env: self.password_env.as_deref(),
            password_file: self.password_file.as_deref(),
            token_required: false,
        }
    }
}

fn default_scale() -> f64 {
    1.0
}

/// One metric's query.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusQuery {
    /// PromQL grouped by the cohort label, e.g.
    /// `histogram_quantile(0.95, sum by (le, cohort)(rate(http_request_duration_seconds_bucket[1m])))`.
    pub query: String,
    /// Factor from the query's unit to the metric's display unit: 100 turns a ratio into
    /// percent, 1000 turns seconds into milliseconds. Default 1.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Ratio metrics: the events (errors) per cohort since the step began, with `$step`, e.g.
    /// `sum by (cohort)(increase(http_requests_total{code=~"5.."}[$step]))`.
    #[serde(default)]
    pub events_query: Option<String>,
    /// Ratio metrics: the trials (requests) per cohort since the step began, with `$step`.
    #[serde(default)]
    pub trials_query: Option<String>,
    /// Latency metrics: the cumulative histogram buckets per cohort and `le` since the step
    /// began, with `$step`, e.g.
    /// `sum by (cohort, le)(increase(http_request_duration_seconds_bucket[$step]))`.
    #[serde(default)]
    pub buckets_query: Option<String>,
    /// Latency metrics: the `le` boundary (in the histogram's unit) above which a request is
    /// slow; counts are (slow requests, all requests).
    #[serde(default)]
    pub slow_above: Option<f64>,
    /// Latency metrics: the quantile whose bucket is reported (0.95).
    #[serde(default)]
    pub quantile: Option<f64>,
}

impl PrometheusQuery {
    /// A query with a scale.
    #[must_use]
    pub fn new(query: impl Into<String>, scale: f64) -> Self {
        Self {
            query: query.into(),
            scale,
            events_query: None,
            trials_query: None,
            buckets_query: None,
            slow_above: None,
            quantile: None,
        }
    }

    /// With the events and trials queries of a ratio metric.
    #[must_use]
    pub fn with_counts(mut self, events: impl Into<String>, trials: impl Into<String>) -> Self {
        self.events_query = Some(events.into());
        self.trials_query = Some(trials.into());
        self
    }

    /// With the buckets query of a latency metric, its slow threshold and its quantile.
    #[must_use]
    pub fn with_buckets(
        mut self,
        buckets: impl Into<String>,
        slow_above: Option<f64>,
        quantile: Option<f64>,
    ) -> Self {
        self.buckets_query = Some(buckets.into());
        self.slow_above = slow_above;
        self.quantile = quantile;
        self
    }

    /// What is wrong with the count queries, if anything: each needs `$step`, events and
    /// trials go together, `slow_above` needs buckets and is a finite positive number.
    ///
    /// # Errors
    /// A message naming the key.
    pub fn check_counts(&self) -> Result<(), String> {
        for (key, q) in [
            ("events_query", &self.events_query),
            ("trials_query", &self.trials_query),
            ("buckets_query", &self.buckets_query),
        ] {
            if let Some(q) = q
                && !q.contains(counts::STEP)
            {
                return Err(format!(
                    "`{key}` has no `$step`: rollwatch puts the time since the step began there, e.g. increase(x[$step])"
                ));
            }
        }
        if self.events_query.is_some() != self.trials_query.is_some() {
            return Err("`events_query` and `trials_query` go together: give both".into());
        }
        match self.slow_above {
            Some(_) if self.buckets_query.is_none() => {
                Err("`slow_above` needs `buckets_query` (the histogram it is a boundary of)".into())
            }
            Some(t) if !(t.is_finite() && t > 0.0) => Err(format!(
                "`slow_above` = {t}: expected a positive bucket boundary (le)"
            )),
            _ => Ok(()),
        }
    }
}

/// A Prometheus-API metrics source.
pub struct PrometheusSource {
    endpoint: Endpoint,
    base: String,
    label: String,
    legacy: Vec<String>,
    new: Vec<String>,
    queries: Vec<PrometheusQuery>,
    /// The poll interval: the shortest `$step`.
    refresh: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("base", &self.base)
            .field("label", &self.label)
            .field("queries", &self.queries.len())
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl PrometheusSource {
    /// A source for `queries` (one per metric, in the rollout's order). `auth` holds the
    /// secrets the config names, already resolved ([`AuthKeys::resolve`]);
    /// `refresh` is the poll interval, which bounds the default deadline.
    ///
    /// # Errors
    /// When the URL, the cohort mapping or a scale is invalid.
    pub fn new(
        config: &PrometheusConfig,
        queries: Vec<PrometheusQuery>,
        auth: Auth,
        refresh: Duration,
    ) -> Result<Self, EndpointError> {
        let endpoint = config
            .endpoint_keys()
            .endpoint(auth, policy::poll_deadline(refresh))?;
        let base = endpoint.url.as_str().trim_end_matches('/').to_owned();
        let invalid = |m: String| Err(EndpointError::Invalid(m));
        if config.cohort_label.trim().is_empty() {
            return invalid("cohort_label is empty".into());
        }
        if config.legacy.is_empty() || config.new.is_empty() {
            return invalid("legacy and new each need at least one label value".into());
        }
        if let Some(v) = config.legacy.iter().find(|v| config.new.contains(v)) {
            return invalid(format!("label value `{v}` is in both legacy and new"));
        }
        if let Some((i, q)) = queries
            .iter()
            .enumerate()
            .find(|(_, q)| !(q.scale.is_finite() && q.scale != 0.0))
        {
            return invalid(format!(
                "metric {}: scale {} is not a finite non-zero number",
                i + 1,
                q.scale
            ));
        }
        if let Some(i) = queries.iter().position(|q| q.query.trim().is_empty()) {
            return invalid(format!("metric {}: the query is empty", i + 1));
        }
        for (i, q) in queries.iter().enumerate() {
            if let Err(m) = q.check_counts() {
                return invalid(format!("metric {}: {m}", i + 1));
            }
        }
        Ok(Self {
            endpoint,
            base,
            label: config.cohort_label.clone(),
            legacy: config.legacy.clone(),
            new: config.new.clone(),
            queries,
            refresh,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` for the evaluation time of instant queries (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The total deadline of one request.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.endpoint.timeout
    }

    fn mapping(&self) -> Mapping<'_> {
        Mapping {
            label: &self.label,
            legacy: &self.legacy,
            new: &self.new,
        }
    }

    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(Value, Vec<String>), MetricsError> {
        let req = self
            .endpoint
            .request(reqwest::Method::GET, format!("{}{path}", self.base))
            .query(params)
            .header(reqwest::header::ACCEPT, "application/json");
        let ans = self.endpoint.send(req).await?;
        decode(ans.status.as_u16(), &ans.body, &self.endpoint.auth)
    }

    async fn instant(
        &self,
        q: &PrometheusQuery,
        time_ms: i64,
    ) -> Blamed<(CohortValues, Vec<String>)> {
        let (data, warnings) = self
            .get(
                "/api/v1/query",
                &[("query", q.query.clone()), ("time", secs(time_ms))],
            )
            .await
            .map_err(blame_server)?;
        let (values, present) =
            read_vector(&data, &self.mapping(), q.scale).map_err(|e| (e, false))?;
        if present.contains(&false)
            && let Some(e) = self.numerator_gap(q, time_ms, present).await
        {
            return Err((e, false));
        }
        Ok((values, warnings))
    }

    /// One metric: its value query and, when the step start is known (`step` is the `$step`
    /// range), its count queries, all at once.
    async fn metric(
        &self,
        q: &PrometheusQuery,
        time_ms: i64,
        step: Option<&str>,
    ) -> Blamed<(CohortValues, Vec<String>)> {
        let (value, counts) =
            futures::future::join(self.instant(q, time_ms), self.counts(q, time_ms, step)).await;
        let (mut v, mut warnings) = value?;
        let (c, b, w) = counts?;
        v.counts = c;
        v.bounds = b;
        warnings.extend(w);
        Ok((v, warnings))
    }

    /// One count query with `$step` replaced; errors name the key.
    async fn count_query(
        &self,
        key: &str,
        query: &str,
        step: &str,
        time_ms: i64,
    ) -> Blamed<(Value, Vec<String>)> {
        self.get(
            "/api/v1/query",
            &[
                ("query", counts::substitute(query, step)),
                ("time", secs(time_ms)),
            ],
        )
        .await
        .map_err(|e| blame_server(counts::about(key, e)))
    }

    /// The counts and quantile bounds of a metric since the step began; nothing while the
    /// step start is unknown or younger than a poll interval (`step` is `None`), or when the
    /// metric declares no count queries.
    async fn counts(
        &self,
        q: &PrometheusQuery,
        time_ms: i64,
        step: Option<&str>,
    ) -> Blamed<(Option<Counts>, Option<QuantileBounds>, Vec<String>)> {
        let Some(step) = step else {
            return Ok((None, None, Vec::new()));
        };
        let mut counts = None;
        let mut bounds = None;
        let mut warnings = Vec::new();
        if let (Some(e), Some(t)) = (&q.events_query, &q.trials_query) {
            let (ev, tr) = futures::future::join(
                self.count_query("events_query", e, step, time_ms),
                self.count_query("trials_query", t, step, time_ms),
            )
            .await;
            let ((ev, w1), (tr, w2)) = (ev?, tr?);
            counts = counts::ratio_counts(&ev, &tr, &self.mapping()).map_err(|e| (e, false))?;
            warnings.extend(w1.into_iter().chain(w2));
        } else if let Some(b) = &q.buckets_query {
            let (data, w) = self.count_query("buckets_query", b, step, time_ms).await?;
            (counts, bounds) =
                counts::bucket_counts(&data, &self.mapping(), q.slow_above, q.quantile, q.scale)
                    .map_err(|e| (e, false))?;
            warnings.extend(w);
        }
        Ok((counts, bounds, warnings))
    }

    /// When a ratio's answer lacks a cohort, asks its denominator whether that cohort has
    /// traffic: if it does, the numerator has no series for it (no 5xx at all), which is a
    /// query to fix, not "no data". `None` when it cannot tell (not a plain ratio, the
    /// denominator query failed) or the cohort has no traffic.
    async fn numerator_gap(
        &self,
        q: &PrometheusQuery,
        time_ms: i64,
        present: [bool; 2],
    ) -> Option<MetricsError> {
        let den = ratio_denominator(&q.query)?;
        let (data, _) = self
            .get(
                "/api/v1/query",
                &[("query", den.to_owned()), ("time", secs(time_ms))],
            )
            .await
            .ok()?;
        let (traffic, _) = read_vector(&data, &self.mapping(), 1.0).ok()?;
        numerator_gap(present, &traffic)
    }

    async fn range(
        &self,
        q: &PrometheusQuery,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Blamed<Vec<(i64, CohortValues)>> {
        let params = [
            ("query", q.query.clone()),
            ("start", secs(start_ms)),
            ("end", secs(end_ms)),
            ("step", secs(step_ms)),
        ];
        let (data, _) = self
            .get("/api/v1/query_range", &params)
            .await
            .map_err(blame_server)?;
        parse_matrix(&data, &self.mapping(), q.scale).map_err(|e| (e, false))
    }
}

/// A Unix time or a duration in ms as Prometheus wants it: seconds with 3 decimals.
fn secs(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// The step of a range query over `[start, end]`: at least `step_ms` and 1 ms, and large
/// enough that a series has at most [`MAX_POINTS`] points.
#[must_use]
pub fn clamp_step(start_ms: i64, end_ms: i64, step_ms: i64) -> i64 {
    let span = end_ms.saturating_sub(start_ms).max(0);
    let min_step = (span.saturating_add(MAX_POINTS - 2) / (MAX_POINTS - 1)).max(1);
    step_ms.max(min_step)
}

impl MetricsSource for PrometheusSource {
    fn describe(&self) -> String {
        format!("prometheus {}", self.base)
    }

    fn poll(&self, ctx: PollCtx) -> BoxFuture<'_, Result<Poll, MetricsError>> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let refresh = i64::try_from(self.refresh.as_millis()).unwrap_or(i64::MAX);
            let step = ctx
                .step_start_ms
                .and_then(|start| counts::step_range(now, start, refresh));
            let results = join_all(
                self.queries
                    .iter()
                    .map(|q| self.metric(q, now, step.as_deref())),
            )
            .await;
            if let Some(e) = whole_failure(&results) {
                return Err(e);
            }
            let mut warnings = Vec::new();
            let metrics = results
                .into_iter()
                .map(|r| {
                    r.map_err(|(e, _)| e).map(|(v, w)| {
                        for w in w {
                            if !warnings.contains(&w) {
                                warnings.push(w);
                            }
                        }
                        v
                    })
                })
                .collect();
            Ok(Poll { metrics, warnings })
        })
    }

    /// One `query_range` per metric. A metric whose query fails gets an empty series (its poll
    /// shows the same error); when every metric fails because the server cannot be reached,
    /// the whole backfill fails.
    fn backfill(
        &self,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<'_, Result<Backfill, MetricsError>> {
        Box::pin(async move {
            if end_ms < start_ms || self.queries.is_empty() {
                return Ok(vec![Vec::new(); self.queries.len()]);
            }
            let step = clamp_step(start_ms, end_ms, step_ms);
            let results = join_all(
                self.queries
                    .iter()
                    .map(|q| self.range(q, start_ms, end_ms, step)),
            )
            .await;
            if let Some(e) = whole_failure(&results) {
                return Err(e);
            }
            Ok(results.into_iter().map(Result::unwrap_or_default).collect())
        })
    }
}

/// A query's result, or its error and whether the server (not the query) is to blame.
type Blamed<T> = Result<T, (MetricsError, bool)>;

/// Tags an error of the request itself (transport, status, body, envelope). The server is to
/// blame for all of them except a query error Prometheus pins on the query (`bad_data`,
/// `execution`, ...): an overloaded server answers `errorType` `timeout` (503), `unavailable`,
/// `internal` (500) or `canceled`, and a proxy's HTML or a cut or huge body is no answer.
fn blame_server(e: MetricsError) -> (MetricsError, bool) {
    let server = match &e {
        MetricsError::Query { kind, .. } => {
            matches!(
                kind.as_str(),
                "timeout" | "unavailable" | "internal" | "canceled"
            )
        }
        _ => true,
    };
    (e, server)
}

/// The first error when every metric failed because of the server (not of its query):
/// then the whole poll fails (and is backed off). `None` when at least one metric was
/// answered or failed alone.
fn whole_failure<T>(results: &[Blamed<T>]) -> Option<MetricsError> {
    let mut first = None;
    for r in results {
        match r {
            Err((e, true)) => {
                first.get_or_insert_with(|| e.clone());
            }
            _ => return None,
        }
    }
    first
}

/// How label values map to cohorts.
#[derive(Debug, Clone, Copy)]
pub struct Mapping<'a> {
    /// The cohort label.
    pub label: &'a str,
    /// Values meaning legacy.
    pub legacy: &'a [String],
    /// Values meaning new.
    pub new: &'a [String],
}

impl Mapping<'_> {
    /// The cohort a series' labels map to (`None` for another value of the label, such as a
    /// canary) and the label's value; `Err` when the series has no such (string) label.
    fn cohort<'v>(&self, metric: Option<&'v Value>) -> Result<(Option<Cohort>, &'v str), ()> {
        let v = metric
            .and_then(|m| m.get(self.label))
            .and_then(Value::as_str)
            .ok_or(())?;
        let c = if self.legacy.iter().any(|x| x == v) {
            Some(Cohort::Legacy)
        } else if self.new.iter().any(|x| x == v) {
            Some(Cohort::New)
        } else {
            None
        };
        Ok((c, v))
    }

    fn expects(&self, c: Cohort) -> String {
        let values = match c {
            Cohort::Legacy => self.legacy,
            Cohort::New => self.new,
        };
        values
            .iter()
            .map(|v| quote(v))
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// Checks the envelope of an API answer and returns its `data` and `warnings`.
///
/// # Errors
/// `status:"error"` → [`MetricsError::Query`]; an HTTP error without that envelope →
/// [`MetricsError::Http`]; anything else unexpected → [`MetricsError::Parse`].
pub fn decode(status: u16, body: &[u8], auth: &Auth) -> Result<(Value, Vec<String>), MetricsError> {
    let ok = (200..300).contains(&status);
    let http_err = || MetricsError::Http {
        status,
        message: crate::net::answer::snippet(body, auth),
    };
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) if !ok => return Err(http_err()),
        Err(e) => return Err(MetricsError::Parse(format!("not JSON: {e}"))),
    };
    let text = |k: &str| json.get(k).and_then(Value::as_str);
    match text("status") {
        Some("error") => {
            return Err(MetricsError::Query {
                kind: text("errorType").unwrap_or("unknown").to_owned(),
                message: auth.redact(text("error").unwrap_or("(no message)")),
            });
        }
        _ if !ok => return Err(http_err()),
        Some("success") => {}
        _ => {
            return Err(MetricsError::Parse(
                "no `status: success` in the answer".into(),
            ));
        }
    }
    let warnings = json
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let data = json
        .get("data")
        .filter(|d| d.is_object())
        .cloned()
        .ok_or_else(|| MetricsError::Parse("no `data` object in the answer".into()))?;
    Ok((data, warnings))
}

/// A sample value: a string (`"1.5"`, `"NaN"`, `"+Inf"`) or, leniently, a number.
fn sample_value(v: Option<&Value>) -> Result<f64, MetricsError> {
    match v {
        Some(Value::String(s)) => s.parse::<f64>().map_err(|_| {
            MetricsError::Parse(format!(
                "sample value `{}` is not a number",
                s.chars().take(40).collect::<String>()
            ))
        }),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| MetricsError::Parse("sample value out of range".into())),
        _ => Err(MetricsError::Parse("sample without a value".into())),
    }
}

fn sample_ms(v: Option<&Value>) -> Result<i64, MetricsError> {
    let t = v
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && t.abs() < 1e12)
        .ok_or_else(|| MetricsError::Parse("sample without a valid timestamp".into()))?;
    #[allow(clippy::cast_possible_truncation)]
    Ok((t * 1000.0).round() as i64)
}

fn result_of<'a>(data: &'a Value, want: &str) -> Result<&'a [Value], MetricsError> {
    let kind = data
        .get("resultType")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if kind != want {
        return Err(MetricsError::Parse(format!(
            "the query returns a {kind}, expected a {want} grouped by the cohort label"
        )));
    }
    data.get("result")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| MetricsError::Parse("`result` is not a list".into()))
}

/// Longest label name or value quoted in a message.
const QUOTE_MAX: usize = 24;
/// Most label names or values listed in a message.
const LIST_MAX: usize = 5;
/// About how many characters a list of them takes in a message.
const LIST_CHARS: usize = 40;
/// Most distinct label names or values remembered from one answer.
const SEEN_MAX: usize = 64;

/// A label name or value from the answer, short and printable, for a one-line message.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(QUOTE_MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > QUOTE_MAX {
        out.push('…');
    }
    out
}

/// Items quoted and joined by `sep`, at most [`LIST_MAX`] of them and about [`LIST_CHARS`]
/// characters, with `…` when there were more: a message stays on one line.
fn list(items: &BTreeSet<String>, sep: &str) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let q = quote(item);
        if i == LIST_MAX || (i > 0 && out.chars().count() + q.chars().count() > LIST_CHARS) {
            out.push_str(sep);
            out.push('…');
            break;
        }
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&q);
    }
    out
}

fn remember(set: &mut BTreeSet<String>, s: &str) {
    if set.len() < SEEN_MAX && !set.contains(s) {
        set.insert(s.to_owned());
    }
}

/// Keeps one series per cohort (several series for one cohort are an error) and remembers
/// what else the answer held, to say why a cohort is missing.
#[derive(Default)]
struct Picker {
    found: [Option<String>; 2],
    /// Label names of series without the cohort label.
    unlabelled: Option<BTreeSet<String>>,
    /// Every value of the cohort label in the answer.
    values: BTreeSet<String>,
    /// Some value maps to neither cohort (a canary, or a value the config does not name).
    unmapped: bool,
}

impl Picker {
    fn take(
        &mut self,
        m: &Mapping<'_>,
        metric: Option<&Value>,
    ) -> Result<Option<Cohort>, MetricsError> {
        let Ok((hit, value)) = m.cohort(metric) else {
            let names = self.unlabelled.get_or_insert_with(BTreeSet::new);
            for k in metric.and_then(Value::as_object).into_iter().flatten() {
                remember(names, k.0);
            }
            return Ok(None);
        };
        remember(&mut self.values, value);
        let Some(c) = hit else {
            self.unmapped = true;
            return Ok(None);
        };
        let slot = &mut self.found[usize::from(c == Cohort::New)];
        if let Some(prev) = slot {
            return Err(MetricsError::Parse(format!(
                "several series for the {} cohort ({}=\"{prev}\" and \"{value}\"): aggregate them in the query",
                c.as_str(),
                m.label
            )));
        }
        *slot = Some(value.to_owned());
        Ok(Some(c))
    }

    /// Which cohorts the answer had, or why a missing one is not "no traffic": no series
    /// carries the cohort label (the query is not grouped by it), or the label's values do
    /// not include a cohort's configured ones while other values are there.
    fn check(&self, m: &Mapping<'_>) -> Result<[bool; 2], MetricsError> {
        let present = [self.found[0].is_some(), self.found[1].is_some()];
        if let Some(names) = &self.unlabelled
            && self.values.is_empty()
        {
            let seen = if names.is_empty() {
                "none".to_owned()
            } else {
                list(names, ", ")
            };
            return Err(MetricsError::NoData(format!(
                "no series carries the cohort label `{0}`; labels seen: {seen}; group the query `by ({0})`",
                quote(m.label)
            )));
        }
        if self.unmapped {
            let missing: Vec<String> = [Cohort::Legacy, Cohort::New]
                .into_iter()
                .filter(|c| !present[usize::from(*c == Cohort::New)])
                .map(|c| format!("{} expects {}", c.as_str(), m.expects(c)))
                .collect();
            if !missing.is_empty() {
                return Err(MetricsError::NoData(format!(
                    "the answer had {}={}; {}",
                    quote(m.label),
                    list(&self.values, ","),
                    missing.join(", ")
                )));
            }
        }
        Ok(present)
    }
}

/// The denominator of a query that is one plain division at its top level (`A / B`), e.g.
/// `sum by (cohort)(rate(errors[1m])) / sum by (cohort)(rate(requests[1m]))`. `None` for any
/// other shape (no or several top-level `/`, a `bool`/`on`/`ignoring`/`group_*` modifier).
#[must_use]
pub fn ratio_denominator(query: &str) -> Option<&str> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    let mut split = None;
    let mut slashes = 0;
    for (i, c) in query.char_indices() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '#' => comment = true,
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            '/' if depth == 0 => {
                slashes += 1;
                split = Some(i);
            }
            _ => {}
        }
    }
    if slashes != 1 {
        return None;
    }
    let den = query.get(split? + 1..)?.trim();
    let first = den
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or_default();
    let modifier = matches!(
        first,
        "bool" | "on" | "ignoring" | "group_left" | "group_right"
    );
    (!den.is_empty() && !modifier).then_some(den)
}

/// The error for a ratio whose answer lacks a cohort (`present` false) that its
/// denominator shows with traffic: the numerator has no series for it.
fn numerator_gap(present: [bool; 2], traffic: &CohortValues) -> Option<MetricsError> {
    let busy = |x: Option<f64>| x.is_some_and(|x| x > 0.0);
    let missing: Vec<&str> = [
        (Cohort::Legacy, busy(traffic.legacy)),
        (Cohort::New, busy(traffic.new)),
    ]
    .into_iter()
    .filter(|(c, busy)| *busy && !present[usize::from(*c == Cohort::New)])
    .map(|(c, _)| c.as_str())
    .collect();
    let who = match missing.as_slice() {
        [] => return None,
        [one] => format!("the {one} cohort is"),
        _ => "both cohorts are".to_owned(),
    };
    Some(MetricsError::NoData(format!(
        "{who} absent from the ratio (no numerator series, e.g. no 5xx): `or … * 0` fixes it"
    )))
}

fn set(v: &mut CohortValues, c: Cohort, x: f64, scale: f64) {
    let x = (!x.is_nan()).then_some(x * scale);
    match c {
        Cohort::Legacy => v.legacy = x,
        Cohort::New => v.new = x,
    }
}

/// Reads an instant-query `data` (a vector) into per-cohort values, times `scale`.
///
/// # Errors
/// On a wrong result type, malformed samples, series without the cohort label or several
/// series for one cohort.
pub fn parse_vector(
    data: &Value,
    m: &Mapping<'_>,
    scale: f64,
) -> Result<CohortValues, MetricsError> {
    read_vector(data, m, scale).map(|(v, _)| v)
}

/// [`parse_vector`], and which cohorts (legacy, new) had a series (NaN or not).
fn read_vector(
    data: &Value,
    m: &Mapping<'_>,
    scale: f64,
) -> Result<(CohortValues, [bool; 2]), MetricsError> {
    let mut out = CohortValues::default();
    let mut picker = Picker::default();
    for s in result_of(data, "vector")? {
        let Some(c) = picker.take(m, s.get("metric"))? else {
            continue;
        };
        let pair = s.get("value").and_then(Value::as_array);
        let x = sample_value(pair.and_then(|p| p.get(1)))?;
        set(&mut out, c, x, scale);
    }
    let present = picker.check(m)?;
    Ok((out, present))
}

/// Reads a range-query `data` (a matrix) into `(ms, values)` ascending.
///
/// # Errors
/// On a wrong result type, malformed samples, series without the cohort label or several
/// series for one cohort.
pub fn parse_matrix(
    data: &Value,
    m: &Mapping<'_>,
    scale: f64,
) -> Result<Vec<(i64, CohortValues)>, MetricsError> {
    let mut points: BTreeMap<i64, CohortValues> = BTreeMap::new();
    let mut picker = Picker::default();
    for s in result_of(data, "matrix")? {
        let Some(c) = picker.take(m, s.get("metric"))? else {
            continue;
        };
        let values = s
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| MetricsError::Parse("series without `values`".into()))?;
        for pair in values {
            let pair = pair.as_array();
            let ms = sample_ms(pair.and_then(|p| p.first()))?;
            let x = sample_value(pair.and_then(|p| p.get(1)))?;
            set(points.entry(ms).or_default(), c, x, scale);
        }
    }
    picker.check(m)?;
    Ok(points.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn with<T>(f: impl FnOnce(&Mapping<'_>) -> T) -> T {
        let (l, n) = (strs(&["v1", "v1.1"]), strs(&["v2"]));
        f(&Mapping {
            label: "version",
            legacy: &l,
            new: &n,
        })
    }

    fn vector(result: &Value) -> Value {
        json!({"resultType": "vector", "result": result})
    }

    #[test]
    fn vector_maps_label_values_to_cohorts_and_scales() {
        let d = vector(&json!([
            {"metric": {"version": "v2"}, "value": [1.7e9, "0.025"]},
            {"metric": {"version": "v1.1"}, "value": [1.7e9, "1e-07"]},
            {"metric": {"version": "canary"}, "value": [1.7e9, "9"]},
        ]));
        let v = with(|m| parse_vector(&d, m, 100.0)).unwrap();
        assert_eq!(v.new, Some(2.5));
        assert!((v.legacy.unwrap() - 1e-5).abs() < 1e-15);
    }

    #[test]
    fn empty_nan_and_missing_cohort_are_no_data_not_zero() {
        let v = with(|m| parse_vector(&vector(&json!([])), m, 1.0)).unwrap();
        assert_eq!(v, CohortValues::default());
        let d = vector(&json!([{"metric": {"version": "v1"}, "value": [1, "NaN"]}]));
        let v = with(|m| parse_vector(&d, m, 1.0)).unwrap();
        assert_eq!(
            v,
            CohortValues {
                counts: None,
                bounds: None,
                legacy: None,
                new: None
            }
        );
    }

    #[test]
    fn infinities_are_values() {
        let d = vector(&json!([
            {"metric": {"version": "v1"}, "value": [1, "+Inf"]},
            {"metric": {"version": "v2"}, "value": [1, "-Inf"]},
        ]));
        let v = with(|m| parse_vector(&d, m, 1000.0)).unwrap();
        assert_eq!(v.legacy, Some(f64::INFINITY));
        assert_eq!(v.new, Some(f64::NEG_INFINITY));
    }

    #[test]
    fn an_ungrouped_query_is_an_error() {
        let d = vector(&json!([{"metric": {}, "value": [1, "3"]}]));
        let e = with(|m| parse_vector(&d, m, 1.0)).unwrap_err();
        assert!(e.to_string().contains("by (version)"), "{e}");
        // Other cohort values (a canary) next to ours are fine.
        let d = vector(&json!([
            {"metric": {"version": "v3"}, "value": [1, "3"]},
            {"metric": {"version": "v1"}, "value": [1, "1"]},
            {"metric": {"version": "v2"}, "value": [1, "2"]},
        ]));
        let v = with(|m| parse_vector(&d, m, 1.0)).unwrap();
        assert_eq!((v.legacy, v.new), (Some(1.0), Some(2.0)));
    }

    /// The `data` of an exact API answer, through the same envelope check as a poll.
    fn answer(body: &str) -> Value {
        decode(200, body.as_bytes(), &Auth::None).unwrap().0
    }

    fn mapped<T>(legacy: &[&str], new: &[&str], f: impl FnOnce(&Mapping<'_>) -> T) -> T {
        let (l, n) = (strs(legacy), strs(new));
        f(&Mapping {
            label: "version",
            legacy: &l,
            new: &n,
        })
    }

    #[test]
    fn a_cohort_value_the_answer_lacks_says_what_the_answer_had() {
        let d = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400.123,"0.0125"]},{"metric":{"version":"v2"},"value":[1764554400.123,"0.0173"]}]}}"#,
        );
        let e = mapped(&["v1"], &["v3"], |m| parse_vector(&d, m, 100.0)).unwrap_err();
        assert_eq!(
            e,
            MetricsError::NoData("the answer had version=v1,v2; new expects v3".into())
        );
        assert_eq!(
            e.to_string(),
            "no data: the answer had version=v1,v2; new expects v3"
        );
        // Both cohorts named wrongly: both are listed; long lists and values are cut short.
        let many: Vec<Value> = (0..9)
            .map(|i| json!({"metric": {"version": format!("build-{i}-{}", "x".repeat(40))}, "value": [1, "1"]}))
            .collect();
        let d = vector(&Value::Array(many));
        let e = mapped(&["a", "b"], &["c"], |m| parse_vector(&d, m, 1.0)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.ends_with("legacy expects a|b, new expects c"),
            "{text}"
        );
        assert!(
            text.chars().count() <= 120 && !text.contains('\n'),
            "{text}"
        );
        // The range query says the same.
        let d = answer(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"version":"v1"},"values":[[1764554400,"1"]]},{"metric":{"version":"v2"},"values":[[1764554400,"2"]]}]}}"#,
        );
        let e = mapped(&["v1"], &["v3"], |m| parse_matrix(&d, m, 1.0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no data: the answer had version=v1,v2; new expects v3"
        );
        // At 0 % the new cohort has never served a request: its series do not exist yet.
        let d = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400,"0.01"]}]}}"#,
        );
        let v = mapped(&["v1"], &["v2"], |m| parse_vector(&d, m, 1.0)).unwrap();
        assert_eq!((v.legacy, v.new), (Some(0.01), None));
    }

    #[test]
    fn no_series_with_the_cohort_label_lists_the_labels_seen() {
        let d = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"sim","instance":"127.0.0.1:9464"},"value":[1764554400,"0.5"]},{"metric":{"job":"sim","instance":"127.0.0.1:9465"},"value":[1764554400,"0.7"]}]}}"#,
        );
        let e = mapped(&["v1"], &["v2"], |m| parse_vector(&d, m, 1.0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no data: no series carries the cohort label `version`; labels seen: instance, job; group the query `by (version)`"
        );
        // `sum(...)` without `by`: one series with no labels at all.
        let d = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764554400,"0.5"]}]}}"#,
        );
        let e = mapped(&["v1"], &["v2"], |m| parse_vector(&d, m, 1.0)).unwrap_err();
        assert!(e.to_string().contains("labels seen: none"), "{e}");
    }

    #[test]
    fn the_denominator_of_a_plain_ratio() {
        let q = r#"sum by (cohort)(rate(http_requests_total{code=~"5.."}[1m])) / sum by (cohort)(rate(http_requests_total[1m]))"#;
        assert_eq!(
            ratio_denominator(q),
            Some("sum by (cohort)(rate(http_requests_total[1m]))")
        );
        // A `/` inside a string, brackets or a comment does not count.
        assert_eq!(
            ratio_denominator(r#"sum by (c)(x{path="/a/b"}) / sum by (c)(y) # per req/s"#),
            Some("sum by (c)(y) # per req/s")
        );
        for q in [
            "sum by (cohort)(rate(x[1m]))",
            "(a / b)",
            "a / b / c",
            "a / on(cohort) b",
            "a / ignoring(code) b",
            "a / bool b",
            "a /",
            r#"histogram_quantile(0.95, sum by (le, cohort)(rate(h_bucket{p="/x"}[1m])))"#,
        ] {
            assert_eq!(ratio_denominator(q), None, "{q}");
        }
    }

    #[test]
    fn a_ratio_missing_a_cohort_that_has_traffic_names_the_numerator_trap() {
        // The error ratio's answer: only legacy had a 5xx, so only legacy is in it.
        let ratio = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400,"0.01"]}]}}"#,
        );
        let (_, present) = mapped(&["v1"], &["v2"], |m| read_vector(&ratio, m, 1.0)).unwrap();
        assert_eq!(present, [true, false]);
        // Its denominator: both cohorts have requests.
        let den = answer(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1764554400,"99.5"]},{"metric":{"version":"v2"},"value":[1764554400,"100"]}]}}"#,
        );
        let (traffic, _) = mapped(&["v1"], &["v2"], |m| read_vector(&den, m, 1.0)).unwrap();
        assert_eq!(
            numerator_gap(present, &traffic)
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "no data: the new cohort is absent from the ratio (no numerator series, e.g. no 5xx): `or … * 0` fixes it"
            )
        );
        // No traffic for new (its rate is 0, or it has no series): no data, no blame.
        for den in [
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1,"99"]},{"metric":{"version":"v2"},"value":[1,"0"]}]}}"#,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1,"99"]}]}}"#,
        ] {
            let (traffic, _) =
                mapped(&["v1"], &["v2"], |m| read_vector(&answer(den), m, 1.0)).unwrap();
            assert_eq!(numerator_gap(present, &traffic), None, "{den}");
        }
        // No errors anywhere: the ratio's answer is empty though both cohorts have traffic.
        let (traffic, _) = mapped(&["v1"], &["v2"], |m| read_vector(&den, m, 1.0)).unwrap();
        let e = numerator_gap([false, false], &traffic).unwrap();
        assert!(e.to_string().contains("both cohorts are absent"), "{e}");
    }

    #[test]
    fn two_series_for_one_cohort_is_an_error() {
        let d = vector(&json!([
            {"metric": {"version": "v1"}, "value": [1, "3"]},
            {"metric": {"version": "v1.1"}, "value": [1, "4"]},
        ]));
        let e = with(|m| parse_vector(&d, m, 1.0)).unwrap_err();
        assert!(e.to_string().contains("aggregate"), "{e}");
    }

    #[test]
    fn malformed_results_are_errors_not_panics() {
        for d in [
            json!({"resultType": "scalar", "result": [1, "3"]}),
            json!({"resultType": "vector", "result": {}}),
            json!({"resultType": "vector", "result": [{"metric": {"version": "v1"}}]}),
            json!({"resultType": "vector", "result": [{"metric": {"version": "v1"}, "value": [1, "x"]}]}),
            json!({"resultType": "vector", "result": [{"metric": {"version": "v1"}, "value": [1, true]}]}),
            json!({}),
        ] {
            assert!(
                matches!(
                    with(|m| parse_vector(&d, m, 1.0)),
                    Err(MetricsError::Parse(_))
                ),
                "{d}"
            );
        }
        // Labels of the wrong type count as unlabelled, not as a crash.
        let d = vector(&json!([{"metric": {"version": 2}, "value": [1, "3"]}, 7]));
        assert!(with(|m| parse_vector(&d, m, 1.0)).is_err());
    }

    #[test]
    fn decode_maps_errors() {
        let auth = Auth::Bearer(crate::secret::Secret::new("tok123"));
        let body = br#"{"status":"error","errorType":"bad_data","error":"parse error at tok123"}"#;
        assert_eq!(
            decode(400, body, &auth).unwrap_err(),
            MetricsError::Query {
                kind: "bad_data".into(),
                message: "parse error at ***".into()
            }
        );
        assert_eq!(
            decode(502, b"<html>Bad gateway</html>", &auth).unwrap_err(),
            MetricsError::Http {
                status: 502,
                message: "<html>Bad gateway</html>".into()
            }
        );
        assert!(matches!(
            decode(200, b"{\"status\":\"succ", &auth),
            Err(MetricsError::Parse(_))
        ));
        assert!(matches!(
            decode(200, b"[1,2]", &auth),
            Err(MetricsError::Parse(_))
        ));
        assert!(matches!(
            decode(200, br#"{"status":"success"}"#, &auth),
            Err(MetricsError::Parse(_))
        ));
        let (d, w) = decode(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["w1"]}"#,
            &auth,
        )
        .unwrap();
        assert_eq!(w, vec!["w1".to_owned()]);
        assert_eq!(d["resultType"], "vector");
    }

    #[test]
    fn matrix_merges_cohorts_by_timestamp() {
        let d = json!({"resultType": "matrix", "result": [
            {"metric": {"version": "v1"}, "values": [[10, "1"], [11.5, "2"]]},
            {"metric": {"version": "v2"}, "values": [[11.5, "NaN"], [13, "4"]]},
        ]});
        let s = with(|m| parse_matrix(&d, m, 2.0)).unwrap();
        assert_eq!(
            s,
            vec![
                (
                    10_000,
                    CohortValues {
                        counts: None,
                        bounds: None,
                        legacy: Some(2.0),
                        new: None
                    }
                ),
                (
                    11_500,
                    CohortValues {
                        counts: None,
                        bounds: None,
                        legacy: Some(4.0),
                        new: None
                    }
                ),
                (
                    13_000,
                    CohortValues {
                        counts: None,
                        bounds: None,
                        legacy: None,
                        new: Some(8.0)
                    }
                ),
            ]
        );
        let bad = json!({"resultType": "matrix", "result": [{"metric": {"version": "v1"}, "values": [["x", "1"]]}]});
        assert!(with(|m| parse_matrix(&bad, m, 1.0)).is_err());
    }

    #[test]
    fn step_is_clamped_to_the_point_cap() {
        assert_eq!(clamp_step(0, 60_000, 15_000), 15_000);
        let day = 86_400_000;
        let s = clamp_step(0, day, 1000);
        assert!(day / s < MAX_POINTS, "{s}");
        assert_eq!(clamp_step(0, 0, 0), 1);
    }

    proptest::proptest! {
        #[test]
        fn any_body_is_an_answer_or_an_error_never_a_panic(
            status in 100u16..600,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            if let Ok((data, _)) = decode(status, &body, &Auth::None) {
                let _ = with(|m| parse_vector(&data, m, 1.0));
                let _ = with(|m| parse_matrix(&data, m, 1.0));
            }
        }

        #[test]
        fn json_shaped_garbage_never_panics(
            kind in "(vector|matrix|scalar|x)",
            label in "(v1|v2|v1\\.1|)",
            ts in "(1|1\\.5|-1|1e300|\"x\"|null|\\[\\])",
            val in "(\"1\"|\"NaN\"|\"\\+Inf\"|\"-Inf\"|\"1e-07\"|1|null|\\{\\}|\"\")",
        ) {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"{kind}","result":[
                {{"metric":{{"version":"{label}"}},"value":[{ts},{val}],"values":[[{ts},{val}]]}}]}}}}"#
            );
            let (data, _) = decode(200, body.as_bytes(), &Auth::None).unwrap();
            let _ = with(|m| parse_vector(&data, m, 1.0));
            let _ = with(|m| parse_matrix(&data, m, 1.0));
        }
    }

    #[test]
    fn times_are_seconds_with_millis() {
        assert_eq!(secs(1_700_000_000_123), "1700000000.123");
        assert_eq!(secs(5), "0.005");
        assert_eq!(secs(-1500), "-1.500");
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_fields() {
        let c: PrometheusConfig =
            toml::from_str("url = \"http://127.0.0.1:9090\"\nlegacy = [\"v1\"]\nnew = [\"v2\"]")
                .unwrap();
        assert_eq!(c.cohort_label, "cohort");
        assert!(!c.insecure_skip_verify);
        assert_eq!(c.auth_keys().resolve().unwrap(), Auth::None);
        assert!(
            toml::from_str::<PrometheusConfig>("url = \"x\"\nlegacy = []\nnew = []\ntoken = \"t\"")
                .is_err()
        );
        let q: PrometheusQuery = toml::from_str("query = \"up\"").unwrap();
        assert_eq!(q.scale, 1.0);
    }

    #[test]
    fn constructor_validates() {
        let c = |url: &str, legacy: &[&str], new: &[&str]| PrometheusConfig {
            url: url.into(),
            cohort_label: "cohort".into(),
            legacy: strs(legacy),
            new: strs(new),
            token_env: None,
            token_file: None,
            user: None,
            password_env: None,
            password_file: None,
            insecure_skip_verify: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            timeout_ms: None,
        };
        let q = || vec![PrometheusQuery::new("up", 1.0)];
        let refresh = Duration::from_secs(1);
        let ok = PrometheusSource::new(
            &c("http://127.0.0.1:9090/", &["a"], &["b"]),
            q(),
            Auth::None,
            refresh,
        )
        .unwrap();
        assert_eq!(ok.describe(), "prometheus http://127.0.0.1:9090");
        assert_eq!(ok.timeout(), refresh);
        for (cfg, queries) in [
            (c("ftp://x", &["a"], &["b"]), q()),
            (c("http://u:p@x", &["a"], &["b"]), q()),
            (c("http://x", &[], &["b"]), q()),
            (c("http://x", &["a"], &["a"]), q()),
            (
                c("http://x", &["a"], &["b"]),
                vec![PrometheusQuery::new("up", f64::NAN)],
            ),
            (
                c("http://x", &["a"], &["b"]),
                vec![PrometheusQuery::new(" ", 1.0)],
            ),
        ] {
            assert!(PrometheusSource::new(&cfg, queries, Auth::None, refresh).is_err());
        }
    }
}
