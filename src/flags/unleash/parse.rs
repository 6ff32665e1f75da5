//! Reading Unleash documents: the feature, its flexible rollout strategy, the event log.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{FLEXIBLE_ROLLOUT, Parsed, UnleashConfig};
use crate::flags::{FlagError, FlagEvent};
use crate::model::FlagSnapshot;

/// 64-bit FNV-1a: a stable hash (the standard library's may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A strategy's rollout parameter, as text, when present.
fn rollout_text(strategy: &Value) -> Option<String> {
    match strategy.pointer("/parameters/rollout")? {
        Value::String(s) => Some(s.clone()),
        v @ Value::Number(_) => Some(v.to_string()),
        _ => None,
    }
}

/// A rollout parameter as a percentage: only the canonical strings "0".."100" (what rollwatch
/// writes and what the JSON Patch `test` compares against).
fn canonical_percent(text: &str) -> Option<u8> {
    text.parse::<u8>()
        .ok()
        .filter(|p| *p <= 100 && p.to_string() == text)
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(v) => v.to_string(),
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// One line per strategy, for messages: `flexibleRollout id=… rollout=25`.
fn describe_strategies(list: &[Value]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(|s| {
            let mut d = format!("{} id={}", text_of(s.get("name")), text_of(s.get("id")));
            if let Some(r) = rollout_text(s) {
                let _ = write!(d, " rollout={r}");
            }
            d
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `userId IN [a, b]; appName NOT_IN [x]`.
fn describe_constraints(v: Option<&Value>) -> String {
    let Some(Value::Array(list)) = v else {
        return "none".into();
    };
    if list.is_empty() {
        return "none".into();
    }
    let text = list
        .iter()
        .map(|c| {
            let values = match c.get("values") {
                Some(Value::Array(vs)) => vs
                    .iter()
                    .map(|v| text_of(Some(v)))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => text_of(c.get("value")),
            };
            let not = if c.get("inverted") == Some(&Value::Bool(true)) {
                "NOT "
            } else {
                ""
            };
            format!(
                "{} {not}{} [{values}]",
                text_of(c.get("contextName")),
                text_of(c.get("operator"))
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    cut(&text, 200)
}

/// The detail lines shown for the chosen strategy and the others beside it.
fn strategy_details(
    strategy: &Value,
    strategy_id: &str,
    strategies: &[Value],
) -> Vec<(String, String)> {
    let mut details = vec![
        (
            "strategy".to_owned(),
            format!("{FLEXIBLE_ROLLOUT} {strategy_id}"),
        ),
        (
            "stickiness".to_owned(),
            text_of(strategy.pointer("/parameters/stickiness")),
        ),
        (
            "groupId".to_owned(),
            cut(&text_of(strategy.pointer("/parameters/groupId")), 80),
        ),
        (
            "constraints".to_owned(),
            describe_constraints(strategy.get("constraints")),
        ),
    ];
    if let Some(Value::Array(seg)) = strategy.get("segments")
        && !seg.is_empty()
    {
        let ids: Vec<String> = seg.iter().map(|s| text_of(Some(s))).collect();
        details.push(("segments".into(), cut(&ids.join(", "), 80)));
    }
    if strategy.get("disabled") == Some(&Value::Bool(true)) {
        details.push(("strategy disabled".into(), "yes: it serves no one".into()));
    }
    let others: Vec<Value> = strategies
        .iter()
        .filter(|s| s.get("id").and_then(Value::as_str) != Some(strategy_id))
        .cloned()
        .collect();
    if !others.is_empty() {
        details.push((
            "other strategies".into(),
            cut(&describe_strategies(&others), 200),
        ));
    }
    details
}

/// Reads the snapshot out of a feature document (pure: unit-tested on odd bodies).
pub(super) fn parse_feature(doc: &Value, cfg: &UnleashConfig) -> Result<Parsed, FlagError> {
    let envs = doc
        .get("environments")
        .and_then(Value::as_array)
        .ok_or_else(|| FlagError::Protocol("the feature has no environments list".into()))?;
    let env = envs
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(cfg.environment.as_str()))
        .ok_or_else(|| {
            let names: Vec<String> = envs.iter().map(|e| text_of(e.get("name"))).collect();
            FlagError::NotFound(format!(
                "environment {:?} of feature {:?} in project {:?} (it has: {})",
                cfg.environment,
                cfg.feature,
                cfg.project,
                cut(&names.join(", "), 200)
            ))
        })?;
    let enabled = env
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| FlagError::Protocol("the environment has no enabled flag".into()))?;
    let empty = Vec::new();
    let strategies = match env.get("strategies") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(FlagError::Protocol("strategies is not a list".into())),
    };
    let chosen: Vec<&Value> = match &cfg.strategy_id {
        Some(id) => strategies
            .iter()
            .filter(|s| s.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .collect(),
        None => strategies
            .iter()
            .filter(|s| s.get("name").and_then(Value::as_str) == Some(FLEXIBLE_ROLLOUT))
            .collect(),
    };
    let [strategy] = chosen.as_slice() else {
        let wanted = cfg.strategy_id.as_ref().map_or_else(
            || format!("exactly one {FLEXIBLE_ROLLOUT} strategy"),
            |id| format!("the strategy with id {id:?}"),
        );
        return Err(FlagError::Misconfigured(format!(
            "{} of feature {:?} (project {:?}) needs {wanted}; found: {}{}",
            cfg.environment,
            cfg.feature,
            cfg.project,
            cut(&describe_strategies(strategies), 400),
            if cfg.strategy_id.is_none() && chosen.len() > 1 {
                " (set strategy_id to pick one)"
            } else {
                ""
            }
        )));
    };
    let strategy_id = strategy
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| FlagError::Protocol("the strategy has no id".into()))?
        .to_owned();
    let raw = rollout_text(strategy).ok_or_else(|| {
        FlagError::Misconfigured(format!(
            "strategy {strategy_id} has no rollout parameter (is it a {FLEXIBLE_ROLLOUT}?)"
        ))
    })?;
    let percent = match strategy.pointer("/parameters/rollout") {
        Some(Value::String(s)) => canonical_percent(s),
        _ => None,
    }
    .ok_or_else(|| {
        FlagError::Misconfigured(format!(
            "strategy {strategy_id} has rollout {}, not a string \"0\"..\"100\"; fix it in Unleash",
            cut(&raw, 40)
        ))
    })?;

    let details = strategy_details(strategy, &strategy_id, strategies);
    // The title is left out: the guard lease lives there, and its renewals must not make an
    // operator's write conflict.
    let untitled: Vec<Value> = strategies.iter().map(super::lease::untitled).collect();
    let fingerprint = json!({"enabled": enabled, "strategies": untitled}).to_string();
    let title = strategy.get("title").cloned().unwrap_or(Value::Null);
    let version = format!("s:{:016x}", fnv1a(fingerprint.as_bytes()));
    Ok(Parsed {
        snapshot: FlagSnapshot {
            percent,
            enabled,
            version: Some(version),
            details,
            lease: super::lease::in_title(&title).map(Box::new),
        },
        strategy_id,
        title,
    })
}

/// The rollout of an event's strategy document, when it is ours (or ours is unknown).
fn event_rollout(data: Option<&Value>, strategy: Option<&str>) -> Option<u8> {
    let d = data?;
    if let (Some(ours), Some(id)) = (strategy, d.get("id").and_then(Value::as_str))
        && ours != id
    {
        return None;
    }
    match d.pointer("/parameters/rollout")? {
        Value::String(s) => s.parse::<u8>().ok().filter(|p| *p <= 100),
        _ => None,
    }
}

/// Maps Unleash's event search answer (`{events, total}`) to this environment's events.
pub(super) fn parse_events(
    doc: &Value,
    environment: &str,
    strategy: Option<&str>,
) -> Result<Vec<FlagEvent>, FlagError> {
    let list = doc
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| FlagError::Protocol("the event search answer has no events list".into()))?;
    Ok(list
        .iter()
        .filter(|e| match e.get("environment").and_then(Value::as_str) {
            Some(env) => env == environment,
            None => true,
        })
        .filter(|e| !super::lease::lease_only(e))
        .filter_map(|e| {
            let at = e.get("createdAt").and_then(Value::as_str)?;
            let at_ms = chrono::DateTime::parse_from_rfc3339(at)
                .ok()?
                .timestamp_millis();
            Some(FlagEvent {
                at_ms,
                author: cut(&text_of(e.get("createdBy")), 80),
                kind: cut(&text_of(e.get("type")), 80),
                before: event_rollout(e.get("preData"), strategy),
                after: event_rollout(e.get("data"), strategy),
            })
        })
        .collect())
}
