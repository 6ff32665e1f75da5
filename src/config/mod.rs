//! The TOML config: one file describes one or more rollouts (flag backend, metrics source,
//! step plan and bake times, metrics, alert rules), the refresh interval and the theme.
//! Every error names the file, line and column and says what was expected; unknown keys are
//! errors; thresholds and percentages are range-checked. Secrets never sit in the file: a
//! token is named by environment variable (`token_env`) or file (`token_file`).

pub mod check;
mod counts;
pub mod duration;
pub mod file;
pub mod rule_expr;
pub mod wire;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::alerts::{Action, Rule, Severity};
use crate::model::{Direction, MetricDef, MetricKind, Rollout, Step};
use crate::sim::Scenario;
use file::{FileConfig, FileMetric, FileRollout, FileRule};

/// A config error at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Which flag backend a rollout uses, with its still-unparsed table for the adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum FlagSpec {
    /// An in-memory flag (trying a config out, tests).
    Memory {
        /// Initial percentage.
        percent: u8,
    },
    /// Unleash.
    Unleash(crate::flags::unleash::UnleashConfig),
    /// A generic HTTP/JSON flag API.
    Http(crate::flags::http::HttpFlagConfig),
}

/// Which metrics source a rollout uses.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// The in-process simulator.
    Simulator {
        /// Scenario.
        scenario: Scenario,
        /// Seed.
        seed: u64,
    },
    /// Prometheus or anything that speaks its HTTP API.
    Prometheus(crate::metrics::prometheus::PrometheusConfig),
    /// A JSON endpoint.
    Json(crate::metrics::json::JsonMetricsConfig),
}

/// Source-specific settings of one metric.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricSource {
    /// PromQL query.
    pub query: Option<String>,
    /// Factor applied to values.
    pub scale: f64,
    /// JSON pointer of the legacy value.
    pub legacy: Option<String>,
    /// JSON pointer of the new value.
    pub new: Option<String>,
    /// What a bare JSON number means.
    pub unit: Option<crate::metrics::units::ValueUnit>,
    /// JSON pointer to divide the legacy value by (failures per call).
    pub legacy_per: Option<String>,
    /// JSON pointer to divide the new value by.
    pub new_per: Option<String>,
    /// Prometheus: events since the step began (ratio metrics), with `$step`.
    pub events_query: Option<String>,
    /// Prometheus: trials since the step began (ratio metrics), with `$step`.
    pub trials_query: Option<String>,
    /// Prometheus: histogram buckets since the step began (latency metrics), with `$step`.
    pub buckets_query: Option<String>,
    /// Prometheus: the `le` boundary above which a request is slow.
    pub slow_above: Option<f64>,
    /// JSON: the pointers are cumulative counters.
    pub cumulative: bool,
    /// JSON: the legacy cohort's calls counter.
    pub legacy_calls: Option<String>,
    /// JSON: the new cohort's calls counter.
    pub new_calls: Option<String>,
    /// Simulator reading.
    pub sim: Option<crate::metrics::sim::SimField>,
}

/// One rollout, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutConfig {
    /// The domain rollout.
    pub rollout: Rollout,
    /// Its flag backend.
    pub flag: FlagSpec,
    /// Its metrics source.
    pub source: SourceSpec,
    /// Per metric (same order as `rollout.metrics`), the source-specific settings.
    pub metric_sources: Vec<MetricSource>,
}

/// The whole config, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// Poll interval.
    pub refresh: Duration,
    /// Theme name or path.
    pub theme: Option<String>,
    /// Writes disabled.
    pub read_only: bool,
    /// Audit log path.
    pub audit_log: Option<PathBuf>,
    /// The rollouts.
    pub rollouts: Vec<RolloutConfig>,
}

/// Finds the config: `./rollwatch.toml`, then `$XDG_CONFIG_HOME/rollwatch/config.toml`.
#[must_use]
pub fn discover() -> Option<PathBuf> {
    [
        PathBuf::from("rollwatch.toml"),
        crate::paths::user_config_file(),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Reads and validates a config file.
///
/// # Errors
/// The first problem, with file, line and column.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 1,
        col: 1,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

struct Ctx<'a> {
    file: String,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, col) = crate::ui::theme::line_col(self.text, span.start);
        ConfigError {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
        }
    }
    fn at<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.err(s.span(), message)
    }

    /// An error inside a backend table: points at the key the message names (a word in
    /// backticks that is a key of this table), else at the table.
    pub(crate) fn in_table(&self, t: &Spanned<toml::Table>, message: String) -> ConfigError {
        let start = t.span().start;
        let body = &self.text[start.min(self.text.len())..];
        // The table ends where the next table header starts.
        let end = body[1..].find("\n[").map_or(body.len(), |e| e + 1);
        let body = &body[..end];
        let pos = message.split('`').skip(1).step_by(2).find_map(|name| {
            body.match_indices(name).find_map(|(i, _)| {
                let line_start = body[..i].rfind('\n').map_or(0, |p| p + 1);
                let before_ok = body[line_start..i].trim().is_empty();
                let after = body[i + name.len()..].trim_start();
                (before_ok && after.starts_with('=')).then_some(i)
            })
        });
        match pos {
            Some(p) => self.err(start + p..start + p, message),
            None => self.at(t, message),
        }
    }
}

/// Parses and validates config text; `path` names the file in errors.
///
/// # Errors
/// The first problem, with file, line and column.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let cx = Ctx {
        file: path.display().to_string(),
        text,
    };
    let f: FileConfig = toml::from_str(text)
        .map_err(|e| cx.err(e.span().unwrap_or(0..0), e.message().trim().to_owned()))?;
    let refresh = match &f.refresh {
        None => Duration::from_secs(5),
        Some(r) => {
            let d = duration::parse(r.get_ref()).map_err(|m| cx.at(r, format!("refresh: {m}")))?;
            if d < Duration::from_millis(250) || d > Duration::from_secs(3600) {
                return Err(cx.at(r, "refresh: expected between 250ms and 1h"));
            }
            d
        }
    };
    if f.rollout.is_empty() {
        return Err(cx.err(0..0, "no rollouts: add at least one [[rollout]] table"));
    }
    let mut rollouts = Vec::new();
    for r in &f.rollout {
        if rollouts
            .iter()
            .any(|x: &RolloutConfig| x.rollout.name == *r.get_ref().name.get_ref())
        {
            return Err(cx.at(&r.get_ref().name, "duplicate rollout name"));
        }
        let rc = rollout(&cx, r.get_ref())?;
        check::backends(&cx, r.get_ref(), &rc, refresh)?;
        rollouts.push(rc);
    }
    Ok(Config {
        path: path.to_owned(),
        refresh,
        theme: f.theme,
        read_only: f.read_only,
        audit_log: f.audit_log.map(PathBuf::from),
        rollouts,
    })
}

fn kind_of(
    cx: &Ctx<'_>,
    t: &Spanned<toml::Table>,
    what: &str,
    allowed: &[&str],
) -> Result<String, ConfigError> {
    match t.get_ref().get("kind") {
        Some(toml::Value::String(k)) if allowed.contains(&k.as_str()) => Ok(k.clone()),
        Some(v) => Err(cx.in_table(
            t,
            format!(
                "{what} `kind` = {v}: expected one of {}",
                allowed.join(", ")
            ),
        )),
        None => Err(cx.at(
            t,
            format!("{what}: missing `kind` (one of {})", allowed.join(", ")),
        )),
    }
}

fn without_kind(t: &toml::Table) -> toml::Table {
    let mut t = t.clone();
    t.remove("kind");
    t
}

fn flag_spec(cx: &Ctx<'_>, t: &Spanned<toml::Table>) -> Result<FlagSpec, ConfigError> {
    let kind = kind_of(cx, t, "flag", &["unleash", "http", "memory"])?;
    let rest = without_kind(t.get_ref());
    match kind.as_str() {
        "memory" => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Mem {
                #[serde(default)]
                percent: u8,
            }
            let m: Mem = rest.try_into().map_err(|e: toml::de::Error| {
                cx.in_table(t, format!("flag (memory): {}", e.message().trim()))
            })?;
            if m.percent > 100 {
                return Err(cx.in_table(t, "`percent` of the flag: expected 0..=100".into()));
            }
            Ok(FlagSpec::Memory { percent: m.percent })
        }
        "unleash" => rest
            .try_into()
            .map(FlagSpec::Unleash)
            .map_err(|e: toml::de::Error| {
                cx.in_table(t, format!("flag (unleash): {}", e.message().trim()))
            }),
        _ => rest
            .try_into()
            .map(FlagSpec::Http)
            .map_err(|e: toml::de::Error| {
                cx.in_table(t, format!("flag (http): {}", e.message().trim()))
            }),
    }
}

fn source_spec(cx: &Ctx<'_>, t: &Spanned<toml::Table>) -> Result<SourceSpec, ConfigError> {
    let kind = kind_of(cx, t, "metrics", &["prometheus", "json", "simulator"])?;
    let rest = without_kind(t.get_ref());
    match kind.as_str() {
        "simulator" => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Sim {
                scenario: Option<String>,
                seed: Option<u64>,
            }
            let s: Sim = rest.try_into().map_err(|e: toml::de::Error| {
                cx.in_table(t, format!("metrics (simulator): {}", e.message().trim()))
            })?;
            let scenario = s
                .scenario
                .as_deref()
                .unwrap_or("healthy")
                .parse()
                .map_err(|m: String| cx.in_table(t, format!("`scenario`: {m}")))?;
            Ok(SourceSpec::Simulator {
                scenario,
                seed: s.seed.unwrap_or(42),
            })
        }
        "prometheus" => {
            rest.try_into()
                .map(SourceSpec::Prometheus)
                .map_err(|e: toml::de::Error| {
                    cx.in_table(t, format!("metrics (prometheus): {}", e.message().trim()))
                })
        }
        _ => rest
            .try_into()
            .map(SourceSpec::Json)
            .map_err(|e: toml::de::Error| {
                cx.in_table(t, format!("metrics (json): {}", e.message().trim()))
            }),
    }
}

fn rollout(cx: &Ctx<'_>, r: &FileRollout) -> Result<RolloutConfig, ConfigError> {
    let flag = flag_spec(cx, &r.flag)?;
    let source = source_spec(cx, &r.metrics)?;
    if r.steps.get_ref().is_empty() {
        return Err(cx.at(
            &r.steps,
            "steps: expected at least one percentage, e.g. [5, 25, 50, 100]",
        ));
    }
    let mut steps: Vec<Step> = Vec::new();
    for s in r.steps.get_ref() {
        let p = *s.get_ref();
        let Ok(percent) = u8::try_from(p) else {
            return Err(cx.at(s, format!("step {p}: expected a percentage 0..=100")));
        };
        if percent > 100 {
            return Err(cx.at(s, format!("step {p}: expected a percentage 0..=100")));
        }
        if steps.last().is_some_and(|l| l.percent >= percent) {
            return Err(cx.at(s, format!("step {p}: steps must be strictly ascending")));
        }
        steps.push(Step {
            percent,
            bake: None,
        });
    }
    if r.bake.len() > steps.len() {
        return Err(cx.at(&r.bake[steps.len()], "bake: more bake times than steps"));
    }
    for (st, b) in steps.iter_mut().zip(&r.bake) {
        st.bake = Some(duration::parse(b.get_ref()).map_err(|m| cx.at(b, format!("bake: {m}")))?);
    }
    if r.metric.is_empty() {
        return Err(cx.at(
            &r.name,
            "rollout has no [[rollout.metric]]: add at least one",
        ));
    }
    let mut metrics = Vec::new();
    let mut metric_sources = Vec::new();
    for m in &r.metric {
        let (def, src) = metric(cx, m.get_ref(), &source)?;
        if metrics.iter().any(|x: &MetricDef| x.id == def.id) {
            return Err(cx.at(&m.get_ref().id, "duplicate metric id"));
        }
        metrics.push(def);
        metric_sources.push(src);
    }
    let mut rules: Vec<Rule> = Vec::new();
    for ru in &r.rule {
        let rule = rule(cx, ru.get_ref(), &metrics)?;
        if rules.iter().any(|x| x.name == rule.name) {
            return Err(cx.at(&ru.get_ref().name, "duplicate rule name"));
        }
        rules.push(rule);
    }
    let environment = r.environment.clone().unwrap_or_else(|| match &flag {
        FlagSpec::Unleash(u) => u.environment.clone(),
        FlagSpec::Http(_) | FlagSpec::Memory { .. } => "default".to_owned(),
    });
    Ok(RolloutConfig {
        rollout: Rollout {
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
        },
        flag,
        source,
        metric_sources,
    })
}

fn metric(
    cx: &Ctx<'_>,
    m: &FileMetric,
    source: &SourceSpec,
) -> Result<(MetricDef, MetricSource), ConfigError> {
    let kind = match m.kind.get_ref().as_str() {
        "ratio" => MetricKind::Ratio,
        "latency" => {
            let q = m.quantile.as_ref().map_or(0.95, |q| *q.get_ref());
            if !(q > 0.0 && q < 1.0) {
                let at = m.quantile.as_ref().map_or(m.kind.span(), Spanned::span);
                return Err(cx.err(
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
            return Err(cx.at(
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
            return Err(cx.err(b, format!("better = `{o}`: expected lower or higher")));
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
                rule_expr::threshold(s, unit).map_err(|e| cx.at(t, format!("target: {e}")))?
            }
            _ => {
                return Err(cx.at(
                    t,
                    "target: expected a number or a string with a unit (\"500ms\")",
                ));
            }
        }),
    };
    let savings_target = match &m.savings_target {
        Some(s) if !(0.0..=100.0).contains(s.get_ref()) => {
            return Err(cx.at(s, "savings_target: expected a percentage 0..=100"));
        }
        s => s.as_ref().map(|s| *s.get_ref()),
    };
    let scale = match &m.scale {
        Some(s) if !(s.get_ref().is_finite() && *s.get_ref() != 0.0) => {
            return Err(cx.at(s, "scale: expected a finite, non-zero number"));
        }
        s => s.as_ref().map_or(1.0, |s| *s.get_ref()),
    };
    let id = m.id.get_ref().clone();
    if id.is_empty() {
        return Err(cx.at(&m.id, "id: expected a non-empty identifier"));
    }
    let mut src = MetricSource {
        query: m.query.clone(),
        scale,
        legacy: m.legacy.clone(),
        new: m.new.clone(),
        unit: None,
        legacy_per: m.legacy_per.clone(),
        new_per: m.new_per.clone(),
        events_query: m.events_query.as_ref().map(|q| q.get_ref().clone()),
        trials_query: m.trials_query.as_ref().map(|q| q.get_ref().clone()),
        buckets_query: m.buckets_query.as_ref().map(|q| q.get_ref().clone()),
        slow_above: m.slow_above.as_ref().map(|t| *t.get_ref()),
        cumulative: m.cumulative.as_ref().is_some_and(|c| *c.get_ref()),
        legacy_calls: m.legacy_calls.clone(),
        new_calls: m.new_calls.clone(),
        sim: None,
    };
    counts::check(cx, m, &kind, source)?;
    if let Some(u) = &m.unit {
        let parsed: Result<crate::metrics::units::ValueUnit, _> =
            toml::Value::String(u.get_ref().clone()).try_into();
        src.unit = Some(parsed.map_err(|_| {
            cx.at(
                u,
                format!(
                    "unit `{}`: expected percent, ratio, ms, seconds, bytes or count",
                    u.get_ref()
                ),
            )
        })?);
    }
    match source {
        SourceSpec::Prometheus(_) if m.query.as_deref().is_none_or(|q| q.trim().is_empty()) => {
            return Err(cx.at(
                &m.id,
                format!("metric `{id}`: a Prometheus source needs `query`"),
            ));
        }
        SourceSpec::Json(_) => {
            for (name, p) in [("legacy", &m.legacy), ("new", &m.new)] {
                match p {
                    Some(p) if p.starts_with('/') || p.is_empty() => {}
                    Some(p) => {
                        return Err(cx.at(&m.id, format!("metric `{id}`: {name} = `{p}` is not a JSON pointer (it starts with /)")));
                    }
                    None => {
                        return Err(cx.at(
                            &m.id,
                            format!("metric `{id}`: a JSON source needs `{name}` (a JSON pointer)"),
                        ));
                    }
                }
            }
            for (name, p) in [
                ("legacy_per", &m.legacy_per),
                ("new_per", &m.new_per),
                ("legacy_calls", &m.legacy_calls),
                ("new_calls", &m.new_calls),
            ] {
                if let Some(p) = p
                    && !(p.starts_with('/') || p.is_empty())
                {
                    return Err(cx.at(
                        &m.id,
                        format!(
                            "metric `{id}`: {name} = `{p}` is not a JSON pointer (it starts with /)"
                        ),
                    ));
                }
            }
        }
        SourceSpec::Simulator { .. } => {
            use crate::metrics::sim::SimField;
            let Some(s) = &m.sim else {
                return Err(cx.at(&m.id, format!("metric `{id}`: a simulator source needs `sim` (error_rate, p95, memory, queries, tokens)")));
            };
            src.sim = Some(match s.get_ref().as_str() {
                "error_rate" => SimField::ErrorRate,
                "p95" => SimField::P95,
                "memory" => SimField::Memory,
                "queries" => SimField::QueriesPerRequest,
                "tokens" => SimField::TokensPerRequest,
                o => {
                    return Err(cx.at(
                        s,
                        format!("sim = `{o}`: expected error_rate, p95, memory, queries or tokens"),
                    ));
                }
            });
        }
        SourceSpec::Prometheus(_) => {}
    }
    let def = MetricDef {
        id: id.clone(),
        label: m.label.clone().unwrap_or(id),
        kind,
        direction,
        savings_target,
        target,
        tolerance: m.tolerance,
        window_ms: match source {
            SourceSpec::Prometheus(_) => m.query.as_deref().and_then(duration::longest_range_ms),
            _ => None,
        },
    };
    Ok((def, src))
}

fn rule(cx: &Ctx<'_>, r: &FileRule, metrics: &[MetricDef]) -> Result<Rule, ConfigError> {
    let Some(m) = metrics.iter().find(|m| m.id == *r.metric.get_ref()) else {
        let ids: Vec<_> = metrics.iter().map(|m| m.id.as_str()).collect();
        return Err(cx.at(
            &r.metric,
            format!(
                "metric `{}` is not defined in this rollout (defined: {})",
                r.metric.get_ref(),
                ids.join(", ")
            ),
        ));
    };
    let (cohort, condition) =
        rule_expr::parse(r.when.get_ref(), m.kind.unit()).map_err(|e| cx.at(&r.when, e))?;
    let dur = |d: &Option<Spanned<String>>, what: &str| -> Result<Duration, ConfigError> {
        d.as_ref().map_or(Ok(Duration::ZERO), |d| {
            duration::parse(d.get_ref()).map_err(|e| cx.at(d, format!("{what}: {e}")))
        })
    };
    let severity = match r.severity.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("warning") => Severity::Warning,
        Some("critical") => Severity::Critical,
        Some(o) => {
            let s = r.severity.as_ref().map_or(0..0, Spanned::span);
            return Err(cx.err(s, format!("severity = `{o}`: expected warning or critical")));
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
                    return Err(cx.err(s, format!("action = `{o}`: expected notify, hold, rollback or rollback:PERCENT (0..=100)")));
                }
            }
        }
    };
    let significant = match &r.significant {
        Some(sg) if *sg.get_ref() && m.kind != MetricKind::Ratio => {
            return Err(cx.at(
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
