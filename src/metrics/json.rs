//! An app's own JSON endpoint as a metrics source: one GET per poll, each metric read from two
//! JSON pointers (legacy and new), e.g. an LLM service's
//! `{"patchMode": {"calls": 120, "failures": 3, "avgLatency": "183ms"}, "singleMode": {...}}`.
//!
//! Values may be numbers or strings with units (`"2.50%"`, `"1.2s"`, `"350MB"`), read with
//! [`super::units`]. A metric may divide by a second pointer per cohort (failures per call).
//! `null`, and a pointer whose parent is absent too (a mode with no traffic left out of the
//! document), is *no data*. A field missing from an object that is there, and a metric none of
//! whose pointers resolve, are errors saying what the document has instead (most likely a
//! typo). This source has no history to backfill.
//!
//! **Counters.** Apps often publish cumulative counters (`total_calls`, `failed_calls`,
//! `token_usage_total`, counted since the app started). A metric with `cumulative = true`
//! reads its pointers as such counters and differences them **since the current step began**:
//! the source keeps each counter's value from its first document of the step and its last
//! value, so the value shown is `Δvalue / Δper` over the step, never a rate since the app
//! started. A counter that goes down was reset (the app restarted): counting continues from
//! its new value, adding what was counted before the reset. A counter first seen after the
//! step's first document (a mode left out of the document until it served) counts from 0.
//! A ratio metric with counters also reports its counts, (Δevents, Δtrials) per cohort.
//!
//! **No calls, no data.** A per-call value whose divisor is 0, or whose cohort's calls counter
//! (`legacy_calls`/`new_calls`) did not move since the step began, is *no data*: an app that
//! reports an average latency of 0 ms for a mode that served nothing is not 100 % faster.

mod read;
mod spec;
#[cfg(test)]
mod tests;

pub use read::{read_metrics, read_metrics_since};
pub use spec::{JsonSpec, KIND};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::units::ValueUnit;
use super::{Backfill, MetricsError, MetricsSource, Poll, PollCtx};
use crate::net::{Auth, AuthKeys, Endpoint, EndpointError, policy};

crate::net::endpoint_config! {
    /// Where the JSON document is.
    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct JsonMetricsConfig {
        /// URL answering the JSON document with a GET, e.g. `http://127.0.0.1:8080/api/stats`.
        pub url: String,
        /// Total deadline of one request in milliseconds; default min(refresh interval, 5000),
        /// at most 5000.
        #[serde(default)]
        pub timeout_ms: Option<u64>,
    }
}

impl JsonMetricsConfig {
    /// The credential keys (a bearer token).
    #[must_use]
    pub fn auth_keys(&self) -> AuthKeys<'_> {
        AuthKeys::token(self.token_env.as_deref(), self.token_file.as_deref())
    }
}

/// Where one metric's values are in the document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMetric {
    /// JSON pointer (RFC 6901) to the legacy value, e.g. `/singleMode/avgLatency`.
    pub legacy: String,
    /// JSON pointer to the new value, e.g. `/patchMode/avgLatency`.
    pub new: String,
    /// What a bare number means (`percent`, `ratio`, `ms`, `seconds`, `bytes`, `count`); a
    /// string's own suffix (`"183ms"`) wins when it is of the same kind.
    pub unit: ValueUnit,
    /// Optional pointer to divide the legacy value by (`/singleMode/calls` for failures per
    /// call); a zero divisor is no data.
    #[serde(default)]
    pub legacy_per: Option<String>,
    /// Optional pointer to divide the new value by.
    #[serde(default)]
    pub new_per: Option<String>,
    /// The value and divisor pointers are cumulative counters (since the app started):
    /// differenced since the step began. Needs `legacy_per` and `new_per`.
    #[serde(default)]
    pub cumulative: bool,
    /// Optional pointer to the legacy cohort's cumulative calls counter: when it did not move
    /// since the step began, the legacy value is no data.
    #[serde(default)]
    pub legacy_calls: Option<String>,
    /// Optional pointer to the new cohort's cumulative calls counter.
    #[serde(default)]
    pub new_calls: Option<String>,
    /// Report (Δvalue, Δper) as counts (ratio metrics with `cumulative`; set from the kind).
    #[serde(default)]
    pub counts: bool,
}

impl JsonMetric {
    /// A metric reading `legacy` and `new` in `unit`, without divisors or counters.
    #[must_use]
    pub fn new(legacy: impl Into<String>, new: impl Into<String>, unit: ValueUnit) -> Self {
        Self {
            legacy: legacy.into(),
            new: new.into(),
            unit,
            legacy_per: None,
            new_per: None,
            cumulative: false,
            legacy_calls: None,
            new_calls: None,
            counts: false,
        }
    }

    fn pointers(&self) -> impl Iterator<Item = &String> {
        [
            Some(&self.legacy),
            Some(&self.new),
            self.legacy_per.as_ref(),
            self.new_per.as_ref(),
            self.legacy_calls.as_ref(),
            self.new_calls.as_ref(),
        ]
        .into_iter()
        .flatten()
    }
}

/// One cumulative counter since the step began.
#[derive(Debug, Clone, Copy)]
struct Counter {
    /// Its value when counting began (0 after a reset).
    base: f64,
    /// Its last value.
    last: f64,
    /// What it had counted before its resets.
    carried: f64,
}

/// The counters a JSON source has seen since the current step began, by pointer (and unit).
#[derive(Debug, Default)]
pub struct Counters {
    /// The step start they count from; `None` before the first poll.
    #[allow(clippy::option_option)] // the step start itself may be unknown (`None`)
    epoch: Option<Option<i64>>,
    /// A document of this step was read: counters first seen from now on started at 0.
    primed: bool,
    seen: HashMap<String, Counter>,
}

impl Counters {
    /// Starts counting afresh when the step start is not the one counted from.
    pub fn begin(&mut self, step_start_ms: Option<i64>) {
        if self.epoch != Some(step_start_ms) {
            *self = Self {
                epoch: Some(step_start_ms),
                ..Self::default()
            };
        }
    }

    /// Marks a document of this step as read.
    pub fn end_poll(&mut self) {
        self.primed = true;
    }

    /// Records a counter's value; returns what it counted since the step began (never
    /// negative). Seeing the same value twice in one poll changes nothing.
    fn see(&mut self, pointer: &str, unit: ValueUnit, x: f64) -> f64 {
        let start = if self.primed { 0.0 } else { x };
        let c = self
            .seen
            .entry(format!("{unit:?} {pointer}"))
            .or_insert(Counter {
                base: start,
                last: start,
                carried: 0.0,
            });
        if x < c.last {
            // A reset: the app restarted and counts from 0 again.
            c.carried += c.last - c.base;
            c.base = 0.0;
        }
        c.last = x;
        (c.carried + c.last - c.base).max(0.0)
    }
}

/// A JSON-document metrics source.
pub struct JsonSource {
    endpoint: Endpoint,
    metrics: Vec<JsonMetric>,
    counters: Mutex<Counters>,
}

impl std::fmt::Debug for JsonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSource")
            .field("metrics", &self.metrics.len())
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Whether `p` is a JSON pointer (RFC 6901: empty, or starting with `/`).
pub(crate) fn is_pointer(p: &str) -> bool {
    p.is_empty() || p.starts_with('/')
}

fn check_pointer(p: &str, i: usize) -> Result<(), EndpointError> {
    if is_pointer(p) {
        Ok(())
    } else {
        Err(EndpointError::Invalid(format!(
            "metric {}: `{p}` is not a JSON pointer (it must start with `/`)",
            i + 1
        )))
    }
}

impl JsonSource {
    /// A source reading `metrics` (one per rollout metric, in order) from `config.url`.
    /// `auth` is what [`AuthKeys::resolve`] read; `refresh` is the poll interval.
    ///
    /// # Errors
    /// When the URL or a pointer is invalid.
    pub fn new(
        config: &JsonMetricsConfig,
        metrics: Vec<JsonMetric>,
        auth: Auth,
        refresh: Duration,
    ) -> Result<Self, EndpointError> {
        let endpoint = config
            .endpoint_keys()
            .endpoint(auth, policy::poll_deadline(refresh))?;
        for (i, m) in metrics.iter().enumerate() {
            for p in m.pointers() {
                check_pointer(p, i)?;
            }
            if m.cumulative && (m.legacy_per.is_none() || m.new_per.is_none()) {
                return Err(EndpointError::Invalid(format!(
                    "metric {}: cumulative counters need `legacy_per` and `new_per` (the calls counters)",
                    i + 1
                )));
            }
        }
        Ok(Self {
            endpoint,
            metrics,
            counters: Mutex::new(Counters::default()),
        })
    }

    async fn fetch(&self) -> Result<Value, MetricsError> {
        let req = self
            .endpoint
            .request(reqwest::Method::GET, self.endpoint.url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        let ans = self.endpoint.send(req).await?;
        let status = ans.status.as_u16();
        if !(200..300).contains(&status) {
            return Err(MetricsError::Http {
                status,
                message: self.endpoint.snippet(&ans.body),
            });
        }
        serde_json::from_slice(&ans.body).map_err(|e| MetricsError::Parse(format!("not JSON: {e}")))
    }
}

impl MetricsSource for JsonSource {
    fn describe(&self) -> String {
        format!("json {}", self.endpoint.url.as_str().trim_end_matches('/'))
    }

    fn poll(&self, ctx: PollCtx) -> BoxFuture<'_, Result<Poll, MetricsError>> {
        Box::pin(async move {
            let doc = self.fetch().await?;
            let mut counters = self
                .counters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            counters.begin(ctx.step_start_ms);
            let metrics = read_metrics_since(&doc, &self.metrics, &mut counters);
            drop(counters);
            Ok(Poll {
                metrics,
                warnings: Vec::new(),
            })
        })
    }

    fn backfill(&self, _: i64, _: i64, _: i64) -> BoxFuture<'_, Result<Backfill, MetricsError>> {
        let empty = vec![Vec::new(); self.metrics.len()];
        Box::pin(async move { Ok(empty) })
    }
}
