//! One `[[rollout]]`: its steps, its metrics' generic keys and its rules are checked here; its
//! flag and metrics tables (and the source's keys of each metric) go to the adapters of their
//! `kind` through the registries, which also check what `watch` would refuse when building
//! them (without reading a secret or connecting to anything).

use std::time::Duration;

use toml::Spanned;
use toml::de::DeTable;

use super::file::{FileMetric, FileRollout, FileRule};
use super::locate::{ConfigError, Locator, Table, fields_of};
use super::{AlsoFlag, RolloutConfig, child, duration, entries, rule_expr};
use crate::alerts::{Action, Rule, Severity};
use crate::flags::registry::{self as flags, Flag};
use crate::metrics::registry::{self as metrics, MetricTable, Source};
use crate::model::{Direction, MetricDef, MetricKind, Rollout, Step};

/// Checks one rollout and hands its backend tables to their adapters.
///
/// # Errors
/// The first problem, located.
pub(super) fn rollout(
    lx: &Locator<'_>,
    r: &FileRollout,
    t: &Spanned<DeTable<'_>>,
    refresh: Duration,
) -> Result<RolloutConfig, ConfigError> {
    let flag = flag(lx, r, t)?;
    let also = also(lx, r, t)?;
    let (rollout, source) = plan(
        lx,
        r,
        t,
        |keyed| source(lx, r, t, keyed),
        |s: &Source, i| s.spec.window_ms(i),
        flag.spec.environment(),
    )?;
    flag.check().map_err(|m| lx.in_table(r.flag.span(), m))?;
    source
        .spec
        .check(&flag, refresh)
        .map_err(|m| lx.in_table(r.metrics.span(), m))?;
    Ok(RolloutConfig {
        rollout,
        flag,
        also,
        source,
    })
}

/// What every rollout has, checked: its steps, its metrics' generic keys and its rules; the
/// metrics table goes to `parse_source` with the metrics' own keys. Neither the flag nor the
/// source is checked here (a fleet checks its own).
///
/// # Errors
/// The first problem, located.
pub(super) fn plan<'a, S>(
    lx: &'a Locator<'a>,
    r: &FileRollout,
    t: &Spanned<DeTable<'a>>,
    parse_source: impl FnOnce(&[MetricTable<'_>]) -> Result<S, ConfigError>,
    window: impl Fn(&S, usize) -> Option<i64>,
    flag_environment: Option<&str>,
) -> Result<(Rollout, S), ConfigError> {
    let steps = steps(lx, r)?;
    if r.metric.is_empty() {
        return Err(lx.at(
            &r.name,
            "rollout has no [[rollout.metric]]: add at least one",
        ));
    }
    let generic = fields_of::<FileMetric>();
    let (files, mut metrics, tables) = metric_defs(lx, t, generic)?;
    let keyed: Vec<MetricTable<'_>> = files
        .iter()
        .zip(&tables)
        .zip(&metrics)
        .map(|((fm, m), def)| MetricTable {
            id: &fm.id,
            kind: def.kind,
            keys: m.filter(|k| !generic.contains(&k)),
            generic,
        })
        .collect();
    let source = parse_source(&keyed)?;
    for (i, def) in metrics.iter_mut().enumerate() {
        def.window_ms = window(&source, i);
    }
    let mut rules: Vec<Rule> = Vec::new();
    for ru in &r.rule {
        let rule = rule(lx, ru.get_ref(), &metrics)?;
        if rules.iter().any(|x| x.name == rule.name) {
            return Err(lx.at(&ru.get_ref().name, "duplicate rule name"));
        }
        rules.push(rule);
    }
    let environment = r
        .environment
        .clone()
        .unwrap_or_else(|| flag_environment.unwrap_or("default").to_owned());
    let rollout = Rollout {
        name: r.name.get_ref().clone(),
        environment,
        steps,
        metrics,
        rules,
        automation: crate::model::Automation {
            auto_advance: r.auto_advance,
            auto_rollback: r.auto_rollback,
            min_new_requests: r.min_new_requests,
        },
    };
    Ok((rollout, source))
}

fn steps(lx: &Locator<'_>, r: &FileRollout) -> Result<Vec<Step>, ConfigError> {
    if r.steps.get_ref().is_empty() {
        return Err(lx.at(
            &r.steps,
            "steps: expected at least one percentage, e.g. [5, 25, 50, 100]",
        ));
    }
    let mut steps: Vec<Step> = Vec::new();
    for s in r.steps.get_ref() {
        let p = *s.get_ref();
        let Ok(percent) = u8::try_from(p) else {
            return Err(lx.at(s, format!("step {p}: expected a percentage 0..=100")));
        };
        if percent > 100 {
            return Err(lx.at(s, format!("step {p}: expected a percentage 0..=100")));
        }
        if steps.last().is_some_and(|l| l.percent >= percent) {
            return Err(lx.at(s, format!("step {p}: steps must be strictly ascending")));
        }
        steps.push(Step {
            percent,
            bake: None,
        });
    }
    if r.bake.len() > steps.len() {
        return Err(lx.at(&r.bake[steps.len()], "bake: more bake times than steps"));
    }
    for (st, b) in steps.iter_mut().zip(&r.bake) {
        st.bake = Some(duration::parse(b.get_ref()).map_err(|m| lx.at(b, format!("bake: {m}")))?);
    }
    Ok(steps)
}

/// Per metric: its generic keys, its definition and its whole table.
type Metrics<'a> = (Vec<FileMetric>, Vec<MetricDef>, Vec<Table<'a>>);

/// The metrics of a rollout: each one's generic keys parsed and checked, with its table.
fn metric_defs<'a>(
    lx: &'a Locator<'a>,
    t: &Spanned<DeTable<'a>>,
    generic: &[&str],
) -> Result<Metrics<'a>, ConfigError> {
    let tables: Vec<Table<'_>> = entries(t.get_ref(), "metric")
        .into_iter()
        .map(|m| Table::new(lx, m))
        .collect();
    let mut files = Vec::new();
    let mut metrics: Vec<MetricDef> = Vec::new();
    for m in &tables {
        let fm: FileMetric = m
            .filter(|k| generic.contains(&k))
            .parse()
            .map_err(|e| lx.err(e.span().unwrap_or_else(|| m.span()), e.message().trim()))?;
        let def = metric(lx, &fm)?;
        if metrics.iter().any(|x| x.id == def.id) {
            return Err(lx.at(&fm.id, "duplicate metric id"));
        }
        metrics.push(def);
        files.push(fm);
    }
    Ok((files, metrics, tables))
}

/// The `kind` of a backend table, one of `allowed`.
pub(super) fn kind_of(
    lx: &Locator<'_>,
    t: &Spanned<toml::Table>,
    what: &str,
    allowed: &[&str],
) -> Result<String, ConfigError> {
    match t.get_ref().get("kind") {
        Some(toml::Value::String(k)) if allowed.contains(&k.as_str()) => Ok(k.clone()),
        Some(v) => Err(lx.in_table(
            t.span(),
            format!(
                "{what} `kind` = {v}: expected one of {}",
                allowed.join(", ")
            ),
        )),
        None => Err(lx.at(
            t,
            format!("{what}: missing `kind` (one of {})", allowed.join(", ")),
        )),
    }
}

/// The backend table `key` of the rollout, without its `kind`.
pub(super) fn adapter_table<'a>(
    lx: &'a Locator<'a>,
    t: &Spanned<DeTable<'a>>,
    key: &str,
) -> Result<Table<'a>, ConfigError> {
    let table = child(t.get_ref(), key)
        .ok_or_else(|| lx.err(t.span(), format!("missing table `{key}`")))?;
    Ok(Table::new(lx, table).filter(|k| k != "kind"))
}

fn flag(lx: &Locator<'_>, r: &FileRollout, t: &Spanned<DeTable<'_>>) -> Result<Flag, ConfigError> {
    let names: Vec<&str> = flags::KINDS.iter().map(|k| k.name).collect();
    let kind = kind_of(lx, &r.flag, "flag", &names)?;
    let table = adapter_table(lx, t, "flag")?;
    flags::parse(&kind, &table).unwrap_or_else(|| Err(lx.at(&r.flag, "unknown flag kind")))
}

/// The `[[rollout.also]]` flags: each a flag table of any kind with an optional `name`,
/// parsed by the same registry as `[rollout.flag]`; names are unique.
fn also(
    lx: &Locator<'_>,
    r: &FileRollout,
    t: &Spanned<DeTable<'_>>,
) -> Result<Vec<AlsoFlag>, ConfigError> {
    let names: Vec<&str> = flags::KINDS.iter().map(|k| k.name).collect();
    let mut out: Vec<AlsoFlag> = Vec::new();
    for (file, table) in r.also.iter().zip(entries(t.get_ref(), "also")) {
        let kind = kind_of(lx, file, "also", &names)?;
        let name = match file.get_ref().get("name") {
            None => None,
            Some(toml::Value::String(n)) if !n.trim().is_empty() => Some(n.trim().to_owned()),
            Some(_) => {
                return Err(lx.in_table(
                    file.span(),
                    "also `name`: expected a non-empty string".into(),
                ));
            }
        };
        if name.is_some() && out.iter().any(|a| a.name == name) {
            return Err(lx.in_table(file.span(), "also `name`: duplicate name".into()));
        }
        let table = Table::new(lx, table).filter(|k| k != "kind" && k != "name");
        let flag =
            flags::parse(&kind, &table).unwrap_or_else(|| Err(lx.at(file, "unknown flag kind")))?;
        flag.check().map_err(|m| lx.in_table(file.span(), m))?;
        out.push(AlsoFlag { name, flag });
    }
    Ok(out)
}

fn source(
    lx: &Locator<'_>,
    r: &FileRollout,
    t: &Spanned<DeTable<'_>>,
    keyed: &[MetricTable<'_>],
) -> Result<Source, ConfigError> {
    let names: Vec<&str> = metrics::KINDS.iter().map(|k| k.name).collect();
    let kind = kind_of(lx, &r.metrics, "metrics", &names)?;
    let table = adapter_table(lx, t, "metrics")?;
    metrics::parse(&kind, &table, keyed)
        .unwrap_or_else(|| Err(lx.at(&r.metrics, "unknown metrics kind")))
}

/// The generic keys of a metric: its kind, direction, target and savings target.
fn metric(lx: &Locator<'_>, m: &FileMetric) -> Result<MetricDef, ConfigError> {
    let kind = match m.kind.get_ref().as_str() {
        "ratio" => MetricKind::Ratio,
        "latency" => {
            let q = m.quantile.as_ref().map_or(0.95, |q| *q.get_ref());
            if !(q > 0.0 && q < 1.0) {
                let at = m.quantile.as_ref().map_or(m.kind.span(), Spanned::span);
                return Err(lx.err(
                    at,
                    format!("quantile {q}: expected 0 < q < 1 (0.95 for p95)"),
                ));
            }
            MetricKind::Latency { quantile: q }
        }
        "bytes" => MetricKind::Bytes,
        "per_request" => MetricKind::PerRequest,
        "gauge" => MetricKind::Gauge,
        other => {
            return Err(lx.at(
                &m.kind,
                format!("kind `{other}`: expected ratio, latency, bytes, per_request or gauge"),
            ));
        }
    };
    let direction = match m.better.as_ref().map(|b| b.get_ref().as_str()) {
        None | Some("lower") => Direction::LowerIsBetter,
        Some("higher") => Direction::HigherIsBetter,
        Some(o) => {
            let b = m.better.as_ref().map_or(0..0, Spanned::span);
            return Err(lx.err(b, format!("better = `{o}`: expected lower or higher")));
        }
    };
    let unit = kind.unit();
    let target = match &m.target {
        None => None,
        Some(t) => Some(match t.get_ref() {
            toml::Value::Integer(i) => {
                #[allow(clippy::cast_precision_loss)]
                let v = *i as f64;
                v
            }
            toml::Value::Float(f) if f.is_finite() => *f,
            toml::Value::String(s) => {
                rule_expr::threshold(s, unit).map_err(|e| lx.at(t, format!("target: {e}")))?
            }
            _ => {
                return Err(lx.at(
                    t,
                    "target: expected a number or a string with a unit (\"500ms\")",
                ));
            }
        }),
    };
    let savings_target = match &m.savings_target {
        Some(s) if !(0.0..=100.0).contains(s.get_ref()) => {
            return Err(lx.at(s, "savings_target: expected a percentage 0..=100"));
        }
        s => s.as_ref().map(|s| *s.get_ref()),
    };
    let id = m.id.get_ref().clone();
    if id.is_empty() {
        return Err(lx.at(&m.id, "id: expected a non-empty identifier"));
    }
    Ok(MetricDef {
        id: id.clone(),
        label: m.label.clone().unwrap_or(id),
        kind,
        direction,
        savings_target,
        target,
        tolerance: m.tolerance,
        window_ms: None,
    })
}

fn rule(lx: &Locator<'_>, r: &FileRule, metrics: &[MetricDef]) -> Result<Rule, ConfigError> {
    let Some(m) = metrics.iter().find(|m| m.id == *r.metric.get_ref()) else {
        let ids: Vec<_> = metrics.iter().map(|m| m.id.as_str()).collect();
        return Err(lx.at(
            &r.metric,
            format!(
                "metric `{}` is not defined in this rollout (defined: {})",
                r.metric.get_ref(),
                ids.join(", ")
            ),
        ));
    };
    let (cohort, condition) =
        rule_expr::parse(r.when.get_ref(), m.kind.unit()).map_err(|e| lx.at(&r.when, e))?;
    let dur = |d: &Option<Spanned<String>>, what: &str| -> Result<Duration, ConfigError> {
        d.as_ref().map_or(Ok(Duration::ZERO), |d| {
            duration::parse(d.get_ref()).map_err(|e| lx.at(d, format!("{what}: {e}")))
        })
    };
    let severity = match r.severity.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("warning") => Severity::Warning,
        Some("critical") => Severity::Critical,
        Some(o) => {
            let s = r.severity.as_ref().map_or(0..0, Spanned::span);
            return Err(lx.err(s, format!("severity = `{o}`: expected warning or critical")));
        }
    };
    let action = match r.action.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("notify") => Action::Notify,
        Some("hold") => Action::Hold,
        Some("rollback") => Action::Rollback { to: 0 },
        Some(o) => {
            let s = r.action.as_ref().map_or(0..0, Spanned::span);
            let to = o
                .strip_prefix("rollback:")
                .and_then(|p| p.trim().trim_end_matches('%').parse::<u8>().ok())
                .filter(|p| *p <= 100);
            match to {
                Some(to) => Action::Rollback { to },
                None => {
                    return Err(lx.err(s, format!("action = `{o}`: expected notify, hold, rollback or rollback:PERCENT (0..=100)")));
                }
            }
        }
    };
    let significant = match &r.significant {
        Some(sg) if *sg.get_ref() && m.kind != MetricKind::Ratio => {
            return Err(lx.at(
                sg,
                "significant = true needs a ratio metric (errors per request)",
            ));
        }
        Some(sg) => *sg.get_ref(),
        None => false,
    };
    Ok(Rule {
        name: r.name.get_ref().clone(),
        metric: m.id.clone(),
        cohort,
        condition,
        for_: dur(&r.for_, "for")?,
        keep_firing_for: dur(&r.keep_firing_for, "keep_firing_for")?,
        severity,
        action,
        significant,
    })
}
