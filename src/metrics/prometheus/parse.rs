//! Reading Prometheus answers: the envelope, vectors and matrices by cohort label, and what
//! is missing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::metrics::{CohortValues, MetricsError};
use crate::model::Cohort;
use crate::net::Auth;

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
    pub(super) fn cohort<'v>(
        &self,
        metric: Option<&'v Value>,
    ) -> Result<(Option<Cohort>, &'v str), ()> {
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
pub(super) fn sample_value(v: Option<&Value>) -> Result<f64, MetricsError> {
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

pub(super) fn result_of<'a>(data: &'a Value, want: &str) -> Result<&'a [Value], MetricsError> {
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
pub(super) fn numerator_gap(present: [bool; 2], traffic: &CohortValues) -> Option<MetricsError> {
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
pub(super) fn read_vector(
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
