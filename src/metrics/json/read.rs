//! Reading metrics out of one JSON document: pointers, units, counters and what is absent.

use serde_json::Value;

use super::{Counters, JsonMetric};
use crate::metrics::units::{self, ValueUnit};
use crate::metrics::{CohortValues, Counts, MetricsError};

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
