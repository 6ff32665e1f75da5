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

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::http::{self, HttpAuth, SourceConfigError};
use super::units::{self, ValueUnit};
use super::{Backfill, CohortValues, MetricsError, MetricsSource, Poll};

/// Where the JSON document is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMetricsConfig {
    /// URL answering the JSON document with a GET, e.g. `http://127.0.0.1:8080/api/stats`.
    pub url: String,
    /// Environment variable holding a bearer token (`Authorization: Bearer ...`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File whose first line is a bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Accept any TLS certificate. Off by default: certificates are verified.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Total deadline of one request in milliseconds; default min(refresh interval, 5000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl JsonMetricsConfig {
    /// Reads the bearer token the config names, if any.
    ///
    /// # Errors
    /// When the named variable or file is missing or empty, or both are set.
    pub fn resolve_auth(&self) -> Result<HttpAuth, SourceConfigError> {
        http::resolve_auth(
            self.token_env.as_deref(),
            self.token_file.as_deref(),
            None,
            None,
            None,
        )
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
}

/// A JSON-document metrics source.
pub struct JsonSource {
    client: reqwest::Client,
    url: String,
    metrics: Vec<JsonMetric>,
    auth: HttpAuth,
    timeout: Duration,
}

impl std::fmt::Debug for JsonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSource")
            .field("url", &self.url)
            .field("metrics", &self.metrics.len())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

fn check_pointer(p: &str, i: usize) -> Result<(), SourceConfigError> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(SourceConfigError::Invalid(format!(
            "metric {}: `{p}` is not a JSON pointer (it must start with `/`)",
            i + 1
        )))
    }
}

impl JsonSource {
    /// A source reading `metrics` (one per rollout metric, in order) from `config.url`.
    /// `auth` is [`JsonMetricsConfig::resolve_auth`]'s answer; `refresh` is the poll interval.
    ///
    /// # Errors
    /// When the URL or a pointer is invalid.
    pub fn new(
        config: &JsonMetricsConfig,
        metrics: Vec<JsonMetric>,
        auth: HttpAuth,
        refresh: Duration,
    ) -> Result<Self, SourceConfigError> {
        let url = http::base_url(&config.url)?;
        for (i, m) in metrics.iter().enumerate() {
            for p in [
                Some(&m.legacy),
                Some(&m.new),
                m.legacy_per.as_ref(),
                m.new_per.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                check_pointer(p, i)?;
            }
        }
        let timeout = http::deadline(config.timeout_ms, refresh);
        if timeout.is_zero() || timeout > Duration::from_secs(60) {
            return Err(SourceConfigError::Invalid(
                "the request deadline (timeout_ms, default min(refresh, 5 s)) must be between 1 ms and 60 s".into(),
            ));
        }
        Ok(Self {
            client: http::client(timeout, config.insecure_skip_verify)?,
            url,
            metrics,
            auth,
            timeout,
        })
    }

    async fn fetch(&self) -> Result<Value, MetricsError> {
        let req = self
            .client
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json");
        let resp = self
            .auth
            .apply(req)
            .send()
            .await
            .map_err(|e| http::transport_error(e, self.timeout, &self.auth))?;
        let status = resp.status().as_u16();
        let body = http::read_capped(resp, self.timeout, &self.auth).await?;
        if !(200..300).contains(&status) {
            return Err(MetricsError::Http {
                status,
                message: http::snippet(&body, &self.auth),
            });
        }
        serde_json::from_slice(&body).map_err(|e| MetricsError::Parse(format!("not JSON: {e}")))
    }
}

/// Reads every metric from a document; one result per metric.
#[must_use]
pub fn read_metrics(
    doc: &Value,
    metrics: &[JsonMetric],
) -> Vec<Result<CohortValues, MetricsError>> {
    metrics.iter().map(|m| read_metric(doc, m)).collect()
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
/// there rather than a cohort left out of the document.
struct Read {
    found: bool,
    value: Option<f64>,
    gap: Option<Absent>,
}

fn cohort_value(
    doc: &Value,
    pointer: &str,
    per: Option<&str>,
    unit: ValueUnit,
) -> Result<Read, MetricsError> {
    let missing = |p: &str, found: bool| {
        let a = absent(doc, p);
        Read {
            found,
            value: None,
            gap: Some(a),
        }
    };
    let Ok(v) = lookup(doc, pointer) else {
        return Ok(missing(pointer, false));
    };
    let Some(x) = value_at(v, pointer, unit)? else {
        return Ok(Read {
            found: true,
            value: None,
            gap: None,
        });
    };
    let Some(per) = per else {
        return Ok(Read {
            found: true,
            value: Some(x),
            gap: None,
        });
    };
    let Ok(d) = lookup(doc, per) else {
        return Ok(missing(per, true));
    };
    let d = value_at(d, per, ValueUnit::Count)?;
    Ok(Read {
        found: true,
        value: d.filter(|d| *d != 0.0).map(|d| x / d),
        gap: None,
    })
}

fn read_metric(doc: &Value, m: &JsonMetric) -> Result<CohortValues, MetricsError> {
    let legacy = cohort_value(doc, &m.legacy, m.legacy_per.as_deref(), m.unit)?;
    let new = cohort_value(doc, &m.new, m.new_per.as_deref(), m.unit)?;
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
    Ok(CohortValues {
        legacy: legacy.value,
        new: new.value,
        counts: None,
    })
}

impl MetricsSource for JsonSource {
    fn describe(&self) -> String {
        format!("json {}", self.url)
    }

    fn poll(&self) -> BoxFuture<'_, Result<Poll, MetricsError>> {
        Box::pin(async move {
            let doc = self.fetch().await?;
            Ok(Poll {
                metrics: read_metrics(&doc, &self.metrics),
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
        JsonMetric {
            legacy: l.into(),
            new: n.into(),
            unit,
            legacy_per: None,
            new_per: None,
        }
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
                legacy: None,
                new: Some(2.5)
            }),
            "0 calls is no data"
        );
        assert_eq!(
            got[1],
            Ok(CohortValues {
                counts: None,
                legacy: None,
                new: Some(183.0)
            })
        );
        assert_eq!(
            got[2],
            Ok(CohortValues {
                counts: None,
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
        assert_eq!(c.resolve_auth().unwrap(), HttpAuth::None);
        assert!(toml::from_str::<JsonMetricsConfig>("url = \"x\"\npassword = \"p\"").is_err());
        let m: JsonMetric = toml::from_str("legacy = \"/a\"\nnew = \"/b\"\nunit = \"ms\"").unwrap();
        assert_eq!(m.unit, ValueUnit::Millis);
        let bad = metric("a/b", "/b", ValueUnit::Count);
        let e = JsonSource::new(&c, vec![bad], HttpAuth::None, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("JSON pointer"), "{e}");
    }
}
