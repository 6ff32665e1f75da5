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

mod config;
pub mod counts;
mod fleet;
pub mod fleet_spec;
mod parse;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{MAX_POINTS, PrometheusConfig, PrometheusQuery};
pub use fleet::PrometheusFleet;
pub use parse::{Mapping, decode, parse_matrix, parse_vector, ratio_denominator};
pub use spec::{KIND, PrometheusSpec};

use parse::{numerator_gap, read_vector, result_of, sample_value};

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use serde_json::Value;

use super::{
    Backfill, CohortValues, Counts, MetricsError, MetricsSource, Poll, PollCtx, QuantileBounds,
};
use crate::clock::{Clock, SystemClock};
use crate::net::{Auth, Endpoint, EndpointError, policy};

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
