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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

mod spec;

use super::units::{self, ValueUnit};
use super::{Backfill, CohortValues, Counts, MetricsError, MetricsSource, Poll, PollCtx};
use crate::net::{Auth, AuthKeys, Endpoint, EndpointError, policy};

pub use spec::{JsonSpec, KIND};

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

/// Reads every metric from a single document, as the first poll of a step; one result per
/// metric. Counters have not moved yet, so cumulative metrics and gated cohorts are no data.
#[must_use]
pub fn read_metrics(
    doc: &Value,
    metrics: &[JsonMetric],
) -> Vec<Result<CohortValues, MetricsError>> {
    read_metrics_since(doc, metrics, &mut Counters::default())
}

/// Reads every metric from a document, differencing counters against `counters` (call
/// [`Counters::begin`] with the step start first); one result per metric.
pub fn read_metrics_since(
    doc: &Value,
    metrics: &[JsonMetric],
    counters: &mut Counters,
) -> Vec<Result<CohortValues, MetricsError>> {
    let out = metrics
        .iter()
        .map(|m| read_metric(doc, m, counters))
        .collect();
    counters.end_poll();
    out
}

/// Why a pointer resolves to nothing: the deepest part of it that is there and what that
/// holds. `parent_there` when only the last step is missing (a field of an existing object).
struct Absent {
    message: String,
    parent_there: bool,
}

/// Most keys listed in a message.
const KEYS_MAX: usize = 5;
/// About how many characters the listed keys take.
const KEYS_CHARS: usize = 40;

fn absent(doc: &Value, pointer: &str) -> Absent {
    let steps: Vec<&str> = pointer.split('/').skip(1).collect();
    let mut at = doc;
    let mut depth = 0;
    for step in &steps {
        let token = step.replace("~1", "/").replace("~0", "~");
        let next = match at {
            Value::Object(o) => o.get(&token),
            Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        let Some(next) = next else { break };
        at = next;
        depth += 1;
    }
    let found = format!("/{}", steps[..depth].join("/"));
    let missing = steps.get(depth).copied().unwrap_or_default();
    let has = match at {
        Value::Object(o) if o.is_empty() => "nothing".into(),
        Value::Object(o) => {
            let mut keys = String::new();
            for (i, k) in o.keys().enumerate() {
                let k = short(k);
                if i > 0 {
                    keys.push_str(", ");
                }
                if i == KEYS_MAX || (i > 0 && keys.chars().count() + k.chars().count() > KEYS_CHARS)
                {
                    keys.push('…');
                    break;
                }
                keys.push_str(&k);
            }
            keys
        }
        Value::Array(a) => format!("{} items", a.len()),
        _ => "a value, not an object".into(),
    };
    let place = if depth == 0 { "the answer" } else { &found };
    Absent {
        message: format!(
            "{pointer}: no `{}` in {place} (it has {has})",
            short(missing)
        ),
        parent_there: depth + 1 == steps.len(),
    }
}

/// A key from the document, short and printable.
fn short(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(24)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 24 {
        out.push('…');
    }
    out
}

/// What one pointer holds: `Err` when it is absent (not the same as `null`).
fn lookup<'a>(doc: &'a Value, pointer: &str) -> Result<&'a Value, ()> {
    doc.pointer(pointer).ok_or(())
}

fn value_at(v: &Value, pointer: &str, unit: ValueUnit) -> Result<Option<f64>, MetricsError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64().and_then(|x| units::scale_number(x, unit))),
        Value::String(s) => {
            units::parse_value(s, unit).map_err(|e| MetricsError::Parse(format!("{pointer}: {e}")))
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(MetricsError::Parse(format!(
            "{pointer}: expected a number or a string, found {}",
            match v {
                Value::Bool(_) => "a boolean",
                Value::Array(_) => "a list",
                _ => "an object",
            }
        ))),
    }
}

/// One cohort's value: `found` is whether its pointer resolved; `gap` says why a pointer
/// (the value's or its divisor's) did not, when that is a missing field of an object that is
/// there rather than a cohort left out of the document. `counts` is (Δevents, Δtrials) for
/// cumulative counters.
struct Read {
    found: bool,
    value: Option<f64>,
    gap: Option<Absent>,
    counts: Option<(u64, u64)>,
}

impl Read {
    fn missing(doc: &Value, p: &str, found: bool) -> Self {
        Read {
            found,
            value: None,
            gap: Some(absent(doc, p)),
            counts: None,
        }
    }

    fn found(value: Option<f64>) -> Self {
        Read {
            found: true,
            value,
            gap: None,
            counts: None,
        }
    }
}

/// Where one cohort's numbers are.
struct Pointers<'a> {
    value: &'a str,
    per: Option<&'a str>,
    calls: Option<&'a str>,
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole(x: f64) -> u64 {
    x.round().max(0.0) as u64
}

fn cohort_value(
    doc: &Value,
    p: &Pointers<'_>,
    m: &JsonMetric,
    counters: &mut Counters,
) -> Result<Read, MetricsError> {
    let Ok(v) = lookup(doc, p.value) else {
        return Ok(Read::missing(doc, p.value, false));
    };
    let x = value_at(v, p.value, m.unit)?;
    let per = match p.per {
        None => None,
        Some(per) => {
            let Ok(d) = lookup(doc, per) else {
                return Ok(Read::missing(doc, per, true));
            };
            Some((per, value_at(d, per, ValueUnit::Count)?))
        }
    };
    // The calls counter, differenced since the step began: `Some(false)` when it did not move.
    let moved = match p.calls {
        None => None,
        Some(calls) => {
            let Ok(c) = lookup(doc, calls) else {
                return Ok(Read::missing(doc, calls, true));
            };
            let c = value_at(c, calls, ValueUnit::Count)?;
            Some(c.is_some_and(|c| counters.see(calls, ValueUnit::Count, c) > 0.0))
        }
    };
    let mut read = if m.cumulative {
        let dx = x.map(|x| counters.see(p.value, m.unit, x));
        let dn = per.and_then(|(ptr, d)| d.map(|d| counters.see(ptr, ValueUnit::Count, d)));
        let mut r = Read::found(
            dx.zip(dn)
                .filter(|(_, dn)| *dn > 0.0)
                .map(|(dx, dn)| dx / dn),
        );
        r.counts = dx.zip(dn).map(|(dx, dn)| {
            let trials = whole(dn);
            (whole(dx / m.unit.factor()).min(trials), trials)
        });
        r
    } else {
        Read::found(match (x, per) {
            (x, None) => x,
            (Some(x), Some((_, d))) => d.filter(|d| *d != 0.0).map(|d| x / d),
            (None, Some(_)) => None,
        })
    };
    if moved == Some(false) {
        read.value = None;
    }
    Ok(read)
}

fn read_metric(
    doc: &Value,
    m: &JsonMetric,
    counters: &mut Counters,
) -> Result<CohortValues, MetricsError> {
    let legacy = Pointers {
        value: &m.legacy,
        per: m.legacy_per.as_deref(),
        calls: m.legacy_calls.as_deref(),
    };
    let new = Pointers {
        value: &m.new,
        per: m.new_per.as_deref(),
        calls: m.new_calls.as_deref(),
    };
    let legacy = cohort_value(doc, &legacy, m, counters)?;
    let new = cohort_value(doc, &new, m, counters)?;
    if !legacy.found && !new.found {
        let why = legacy.gap.map(|a| a.message).unwrap_or_default();
        return Err(MetricsError::NoData(format!(
            "neither {} nor {} is in the answer; {why}",
            m.legacy, m.new
        )));
    }
    for r in [&legacy, &new] {
        if let Some(a) = r.gap.as_ref().filter(|a| a.parent_there) {
            return Err(MetricsError::NoData(a.message.clone()));
        }
    }
    let counts = if m.counts && m.cumulative {
        legacy
            .counts
            .zip(new.counts)
            .map(|(legacy, new)| Counts { legacy, new })
    } else {
        None
    };
    Ok(CohortValues {
        legacy: legacy.value,
        new: new.value,
        counts,
        bounds: None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metric(l: &str, n: &str, unit: ValueUnit) -> JsonMetric {
        JsonMetric::new(l, n, unit)
    }

    #[test]
    fn reads_numbers_strings_ratios_and_no_data() {
        let doc = json!({
            "patchMode": {"calls": 200, "failures": 5, "avgLatency": "183ms", "rss": "1.5 GiB"},
            "singleMode": {"calls": 0, "failures": 0, "avgLatency": null, "rss": 1000}
        });
        let failures = JsonMetric {
            legacy_per: Some("/singleMode/calls".into()),
            new_per: Some("/patchMode/calls".into()),
            ..metric(
                "/singleMode/failures",
                "/patchMode/failures",
                ValueUnit::Ratio,
            )
        };
        let got = read_metrics(
            &doc,
            &[
                failures,
                metric(
                    "/singleMode/avgLatency",
                    "/patchMode/avgLatency",
                    ValueUnit::Seconds,
                ),
                metric("/singleMode/rss", "/patchMode/rss", ValueUnit::Bytes),
                metric("/singleMode/gone", "/patchMode/calls", ValueUnit::Count),
                metric("/x", "/y", ValueUnit::Count),
            ],
        );
        assert_eq!(
            got[0],
            Ok(CohortValues {
                counts: None,
                bounds: None,
                legacy: None,
                new: Some(2.5)
            }),
            "0 calls is no data"
        );
        assert_eq!(
            got[1],
            Ok(CohortValues {
                counts: None,
                bounds: None,
                legacy: None,
                new: Some(183.0)
            })
        );
        assert_eq!(
            got[2],
            Ok(CohortValues {
                counts: None,
                bounds: None,
                legacy: Some(1000.0),
                new: Some(1.5 * 1024.0 * 1024.0 * 1024.0)
            })
        );
        // A field missing from a cohort object that is there is most likely a typo: the
        // error says what the object has instead.
        assert_eq!(
            got[3],
            Err(MetricsError::NoData(
                "/singleMode/gone: no `gone` in /singleMode (it has avgLatency, calls, failures, rss)"
                    .into()
            ))
        );
        assert_eq!(
            got[4],
            Err(MetricsError::NoData(
                "neither /x nor /y is in the answer; /x: no `x` in the answer (it has patchMode, singleMode)"
                    .into()
            ))
        );
    }

    #[test]
    fn a_cohort_left_out_of_the_document_is_no_data_a_missing_field_says_what_is_there() {
        // The app leaves out a mode that has served nothing yet: no data, not an error.
        let doc = json!({"patchMode": {"calls": 200, "failures": 5}});
        let failures = JsonMetric {
            legacy_per: Some("/singleMode/calls".into()),
            new_per: Some("/patchMode/calls".into()),
            ..metric(
                "/singleMode/failures",
                "/patchMode/failures",
                ValueUnit::Ratio,
            )
        };
        assert_eq!(
            read_metrics(&doc, std::slice::from_ref(&failures))[0],
            Ok(CohortValues {
                counts: None,
                bounds: None,
                legacy: None,
                new: Some(2.5)
            })
        );
        // A divisor with a typo, next to its cohort's other fields.
        let typo = JsonMetric {
            new_per: Some("/patchMode/cals".into()),
            ..failures
        };
        let got = read_metrics(&doc, &[typo]);
        assert_eq!(
            got[0].as_ref().map_err(ToString::to_string),
            Err(
                "no data: /patchMode/cals: no `cals` in /patchMode (it has calls, failures)".into()
            )
        );
        // Many or long keys stay on one line.
        let mut wide = serde_json::Map::new();
        for i in 0..40 {
            wide.insert(format!("{i}-{}", "k".repeat(50)), json!(1));
        }
        let doc = json!({"a": wide, "b": {"v": 1}});
        let got = read_metrics(&doc, &[metric("/a/v", "/b/v", ValueUnit::Count)]);
        let text = got[0].as_ref().unwrap_err().to_string();
        assert!(text.chars().count() <= 120 && text.contains('…'), "{text}");
    }

    #[test]
    fn wrong_types_and_units_are_per_metric_errors() {
        let doc = json!({"a": {"v": true, "w": "12 parsecs", "l": [1]}, "b": {"v": 1}});
        let got = read_metrics(
            &doc,
            &[
                metric("/a/v", "/b/v", ValueUnit::Count),
                metric("/a/w", "/b/v", ValueUnit::Millis),
                metric("/a/l", "/b/v", ValueUnit::Count),
            ],
        );
        for (i, r) in got.iter().enumerate() {
            assert!(matches!(r, Err(MetricsError::Parse(_))), "{i}: {r:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_document_gives_one_result_per_metric(doc in "[\\[\\]{}:,\"a-z0-9./% -]{0,60}") {
            if let Ok(v) = serde_json::from_str::<Value>(&doc) {
                let ms = [
                    metric("/a", "/b", ValueUnit::Millis),
                    JsonMetric { legacy_per: Some("/c".into()), ..metric("", "/a/0", ValueUnit::Ratio) },
                ];
                proptest::prop_assert_eq!(read_metrics(&v, &ms).len(), 2);
            }
        }
    }

    #[test]
    fn config_rejects_unknown_fields_and_bad_pointers() {
        let c: JsonMetricsConfig = toml::from_str("url = \"http://127.0.0.1:1/stats\"").unwrap();
        assert_eq!(c.auth_keys().resolve().unwrap(), Auth::None);
        assert!(toml::from_str::<JsonMetricsConfig>("url = \"x\"\npassword = \"p\"").is_err());
        let m: JsonMetric = toml::from_str("legacy = \"/a\"\nnew = \"/b\"\nunit = \"ms\"").unwrap();
        assert_eq!(m.unit, ValueUnit::Millis);
        let bad = metric("a/b", "/b", ValueUnit::Count);
        let e = JsonSource::new(&c, vec![bad], Auth::None, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("JSON pointer"), "{e}");
    }
}
