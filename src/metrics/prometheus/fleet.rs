//! Prometheus polling a whole fleet: one instant query per metric of the template, grouped by
//! the flag label and the variant label, split here by flag; every rollout of the fleet reads
//! its slice. A poll answered less than half a refresh ago is served again, and concurrent
//! polls wait for the one request in flight (a `tokio::sync::Mutex` held across it), so the
//! queries per poll do not grow with the number of rollouts. History is one range query per
//! metric for the fleet, served to every rollout asking for the same range.
//!
//! Count queries (`events_query`, `trials_query`, `buckets_query`, with `$step`) stay per
//! rollout: each rollout's step began at its own time, so `increase(x[$step])` has a different
//! range for each, and one grouped query cannot answer them. They run only when the template
//! declares them, with `$flag` replaced by the rollout's flag.
//!
//! Not done for a fleet: the extra denominator query that tells a ratio's missing numerator
//! series from no traffic (a rollout's own source does it); a missing cohort is no data.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::{BoxFuture, join_all};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{
    Blamed, PrometheusConfig, PrometheusQuery, PrometheusSource, blame_server, clamp_step, counts,
    parse_matrix, read_vector, secs, whole_failure,
};
use crate::metrics::fleet::{FleetSource, substitute};
use crate::metrics::{Backfill, CohortValues, MetricsError, MetricsSource, Poll, PollCtx};

/// One metric's answer: its series by flag, or its error.
type Split = Result<HashMap<String, Vec<Value>>, MetricsError>;

/// A fleet poll's answer: each metric's split and the warnings.
type Answer = Result<Arc<(Vec<Split>, Vec<String>)>, MetricsError>;

/// The last fleet poll.
struct Answered {
    at_ms: i64,
    result: Answer,
}

/// The last fleet backfill and its range.
struct Filled {
    key: (i64, i64, i64),
    result: Result<Arc<Vec<Split>>, MetricsError>,
}

/// The shared source of a fleet on Prometheus.
pub struct PrometheusFleet {
    /// The template's queries with the label names in, and the variant mapping.
    source: PrometheusSource,
    config: PrometheusConfig,
    flag_label: String,
    last: Mutex<Option<Answered>>,
    filled: Mutex<Option<Filled>>,
}

impl PrometheusFleet {
    /// The fleet source over `source` (built with the template's queries, placeholders
    /// replaced, and the variant label as its cohort label).
    #[must_use]
    pub fn new(source: PrometheusSource, config: PrometheusConfig, flag_label: String) -> Self {
        Self {
            source,
            config,
            flag_label,
            last: Mutex::new(None),
            filled: Mutex::new(None),
        }
    }

    /// Splits a vector or matrix answer by the flag label (its series moved, not copied).
    fn split(&self, mut data: Value) -> Split {
        let Some(Value::Array(result)) = data.get_mut("result").map(Value::take) else {
            return Err(MetricsError::Parse("`result` is not a list".into()));
        };
        let mut by_flag: HashMap<String, Vec<Value>> = HashMap::new();
        let mut unlabelled = 0usize;
        for s in result {
            match s.pointer(&format!("/metric/{}", self.flag_label)) {
                Some(Value::String(f)) => by_flag.entry(f.clone()).or_default().push(s),
                _ => unlabelled += 1,
            }
        }
        if by_flag.is_empty() && unlabelled > 0 {
            return Err(MetricsError::NoData(format!(
                "no series carries the flag label `{0}`; group the query `by ({0}, {1})`",
                self.flag_label, self.config.cohort_label
            )));
        }
        Ok(by_flag)
    }

    async fn instant(&self, q: &PrometheusQuery, time_ms: i64) -> Blamed<(Split, Vec<String>)> {
        let (data, warnings) = self
            .source
            .get(
                "/api/v1/query",
                &[("query", q.query.clone()), ("time", secs(time_ms))],
            )
            .await
            .map_err(blame_server)?;
        if data.get("resultType").and_then(Value::as_str) != Some("vector") {
            return Ok((
                Err(MetricsError::Parse(
                    "the query does not return a vector grouped by the flag and variant labels"
                        .into(),
                )),
                warnings,
            ));
        }
        Ok((self.split(data), warnings))
    }

    /// The fleet's poll, fresh or from less than half a refresh ago.
    async fn polled(&self) -> Answer {
        let mut last = self.last.lock().await;
        let now = self.source.clock.now_ms();
        let half = i64::try_from(self.source.refresh.as_millis() / 2).unwrap_or(i64::MAX);
        if let Some(a) = &*last
            && (a.at_ms..a.at_ms.saturating_add(half)).contains(&now)
        {
            return a.result.clone();
        }
        // A fleet's history is only asked for at start: not kept past the first live poll.
        if let Ok(mut f) = self.filled.try_lock() {
            *f = None;
        }
        let results = join_all(self.source.queries.iter().map(|q| self.instant(q, now))).await;
        let result = if let Some(e) = whole_failure(&results) {
            Err(e)
        } else {
            let mut warnings: Vec<String> = Vec::new();
            let splits = results
                .into_iter()
                .map(|r| match r {
                    Ok((split, w)) => {
                        for w in w {
                            if !warnings.contains(&w) {
                                warnings.push(w);
                            }
                        }
                        split
                    }
                    Err((e, _)) => Err(e),
                })
                .collect();
            Ok(Arc::new((splits, warnings)))
        };
        *last = Some(Answered {
            at_ms: now,
            result: result.clone(),
        });
        result
    }

    /// One metric's history for the whole fleet, split by flag.
    async fn range(
        &self,
        q: &PrometheusQuery,
        start_ms: i64,
        end_ms: i64,
        step: i64,
    ) -> Blamed<Split> {
        let params = [
            ("query", q.query.clone()),
            ("start", secs(start_ms)),
            ("end", secs(end_ms)),
            ("step", secs(step)),
        ];
        let (data, _) = self
            .source
            .get("/api/v1/query_range", &params)
            .await
            .map_err(blame_server)?;
        Ok(self.split(data))
    }

    /// The fleet's history over a range, fetched once for every rollout asking for it.
    async fn filled(
        &self,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Arc<Vec<Split>>, MetricsError> {
        let key = (start_ms, end_ms, step_ms);
        let mut filled = self.filled.lock().await;
        if let Some(f) = &*filled
            && f.key == key
        {
            return f.result.clone();
        }
        let step = clamp_step(start_ms, end_ms, step_ms);
        // One metric at a time: a range answer for a whole fleet is large.
        let mut results = Vec::with_capacity(self.source.queries.len());
        for q in &self.source.queries {
            results.push(self.range(q, start_ms, end_ms, step).await);
        }
        let result = match whole_failure(&results) {
            Some(e) => Err(e),
            None => Ok(Arc::new(
                results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|(e, _)| Err(e)))
                    .collect(),
            )),
        };
        *filled = Some(Filled {
            key,
            result: result.clone(),
        });
        result
    }
}

impl FleetSource for PrometheusFleet {
    fn member(self: Arc<Self>, flag: &str) -> Result<Arc<dyn MetricsSource>, String> {
        let counted = self.source.queries.iter().any(|q| {
            q.events_query.is_some() || q.trials_query.is_some() || q.buckets_query.is_some()
        });
        let counts = if counted {
            let own = |q: &Option<String>| {
                q.as_deref()
                    .map(|q| substitute(q, &self.flag_label, &self.config.cohort_label, flag))
            };
            let queries = self
                .source
                .queries
                .iter()
                .map(|q| PrometheusQuery {
                    events_query: own(&q.events_query),
                    trials_query: own(&q.trials_query),
                    buckets_query: own(&q.buckets_query),
                    ..q.clone()
                })
                .collect();
            let s = PrometheusSource {
                queries,
                endpoint: self.source.endpoint.clone(),
                base: self.source.base.clone(),
                label: self.source.label.clone(),
                legacy: self.source.legacy.clone(),
                new: self.source.new.clone(),
                refresh: self.source.refresh,
                clock: self.source.clock.clone(),
            };
            Some(s)
        } else {
            None
        };
        Ok(Arc::new(FleetMember {
            fleet: self,
            flag: flag.to_owned(),
            counts,
        }))
    }
}

/// One rollout of the fleet.
struct FleetMember {
    fleet: Arc<PrometheusFleet>,
    flag: String,
    /// Its own source for the count queries, when the template has them.
    counts: Option<PrometheusSource>,
}

impl FleetMember {
    /// This flag's series of one metric's split answer, as a Prometheus `data` value.
    fn data(&self, split: &HashMap<String, Vec<Value>>, kind: &str) -> Value {
        let series = split.get(&self.flag).cloned().unwrap_or_default();
        json!({"resultType": kind, "result": series})
    }

    async fn counted(
        &self,
        i: usize,
        step: Option<&str>,
        now: i64,
        v: CohortValues,
    ) -> Result<CohortValues, MetricsError> {
        let Some(src) = &self.counts else {
            return Ok(v);
        };
        let q = &src.queries[i];
        let (c, b, _) = src.counts(q, now, step).await.map_err(|(e, _)| e)?;
        Ok(CohortValues {
            counts: c,
            bounds: b,
            ..v
        })
    }
}

impl MetricsSource for FleetMember {
    fn describe(&self) -> String {
        format!(
            "prometheus {} ({}=\"{}\")",
            self.fleet.source.base, self.fleet.flag_label, self.flag
        )
    }

    fn poll(&self, ctx: PollCtx) -> BoxFuture<'_, Result<Poll, MetricsError>> {
        Box::pin(async move {
            let answer = self.fleet.polled().await?;
            let (splits, warnings) = answer.as_ref();
            let now = self.fleet.source.clock.now_ms();
            let refresh = i64::try_from(self.fleet.source.refresh.as_millis()).unwrap_or(i64::MAX);
            let step = ctx
                .step_start_ms
                .and_then(|start| counts::step_range(now, start, refresh));
            let mapping = self.fleet.source.mapping();
            let metrics = join_all(
                splits
                    .iter()
                    .zip(&self.fleet.source.queries)
                    .enumerate()
                    .map(|(i, (split, q))| {
                        let step = step.as_deref();
                        let mapping = &mapping;
                        async move {
                            let split = split.as_ref().map_err(Clone::clone)?;
                            let (v, _) =
                                read_vector(&self.data(split, "vector"), mapping, q.scale)?;
                            self.counted(i, step, now, v).await
                        }
                    }),
            )
            .await;
            Ok(Poll {
                metrics,
                warnings: warnings.clone(),
            })
        })
    }

    fn backfill(
        &self,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<'_, Result<Backfill, MetricsError>> {
        Box::pin(async move {
            let n = self.fleet.source.queries.len();
            if end_ms < start_ms || n == 0 {
                return Ok(vec![Vec::new(); n]);
            }
            let splits = self.fleet.filled(start_ms, end_ms, step_ms).await?;
            let mapping = self.fleet.source.mapping();
            Ok(splits
                .iter()
                .zip(&self.fleet.source.queries)
                .map(|(split, q)| {
                    split
                        .as_ref()
                        .ok()
                        .and_then(|s| parse_matrix(&self.data(s, "matrix"), &mapping, q.scale).ok())
                        .unwrap_or_default()
                })
                .collect())
        })
    }
}
