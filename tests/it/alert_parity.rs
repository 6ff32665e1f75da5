//! Parity of rollwatch's alert evaluator with Prometheus (promtool 2.42).
//!
//! Every `*.yml` in `tests/alert-parity/` is a promtool rule-unit-test file; `.ci/check-alert-parity.sh`
//! runs `promtool test rules` on them, so each expectation there is promtool's. This test reads
//! the same files, maps each alert rule to a rollwatch [`Rule`], expands the input series with
//! Prometheus' 5-minute lookback (a `stale` marker ends a series, `_` is no sample), replays the
//! rule through [`evaluate_series`] and asserts at every `eval_time` that rollwatch is FIRING
//! exactly when promtool lists a firing alert.
//!
//! It then derives the unlisted times: for every case it writes a *full-timeline* test file
//! that expects, at every evaluation, what rollwatch says (firing or not), and runs promtool on
//! those when promtool is installed (the check script also does, with `ROLLWATCH_PARITY_EXPORT`
//! naming the folder to write them to). So promtool confirms rollwatch at every evaluation,
//! not only at the listed ones.
//!
//! A construct the harness does not understand fails the test with a message; nothing is skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rollwatch::alerts::{
    Action, AlertStatus, Condition, Observation, Op, Rule, Severity, evaluate_series, observe,
};
use rollwatch::model::Cohort;
use serde::{Deserialize, Serialize};

/// Prometheus' default lookback delta (an instant query sees a sample at most this old).
const LOOKBACK_MS: i64 = 5 * 60_000;
/// The cases the design notes and issue 5 ask for; fewer files means some went missing.
const MIN_CASES: usize = 14;

type Labels = BTreeMap<String, String>;

// ---------------------------------------------------------------------------------------------
// The promtool file formats (only the fields the harness understands; any other is an error).

/// A duration as YAML has it: `5m` or a bare `0`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum YamlDuration {
    Text(String),
    Number(u64),
}

impl YamlDuration {
    fn ms(&self) -> Result<i64, String> {
        match self {
            YamlDuration::Text(s) => parse_prom_duration(s),
            YamlDuration::Number(0) => Ok(0),
            YamlDuration::Number(n) => Err(format!("duration `{n}` has no unit")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: Option<YamlDuration>,
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    interval: Option<YamlDuration>,
    input_series: Vec<InputSeries>,
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: YamlDuration,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    exp_labels: Labels,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    exp_annotations: Labels,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    rules: Vec<RuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<YamlDuration>,
    keep_firing_for: Option<YamlDuration>,
    #[serde(default)]
    labels: Labels,
    /// Checked by promtool (`exp_annotations`); rollwatch's rules have none.
    #[serde(default, rename = "annotations")]
    _annotations: serde::de::IgnoredAny,
}

/// The full-timeline file the harness writes for promtool.
#[derive(Debug, Serialize)]
struct OutTestFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    tests: Vec<OutGroup>,
}

#[derive(Debug, Serialize)]
struct OutGroup {
    interval: String,
    input_series: Vec<OutSeries>,
    alert_rule_test: Vec<OutAlertTest>,
}

#[derive(Debug, Serialize)]
struct OutSeries {
    series: String,
    values: String,
}

#[derive(Debug, Serialize)]
struct OutAlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}

/// A Prometheus duration: `1h30m`, `90s`, `250ms`, `0`; integer amounts of y w d h m s ms.
fn parse_prom_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a Prometheus duration");
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    let mut total: i64 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// Formats ms as a duration promtool reads back.
fn fmt_ms(ms: i64) -> String {
    if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1_000 == 0 {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

// ---------------------------------------------------------------------------------------------
// Input series: `name{label="value"}` and promtool's expanding notation.

/// One point of an expanded series.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Point {
    Value(f64),
    Missing,
    Stale,
}

/// Parses a series descriptor `name{a="b", c="d"}` (or `{__name__="x"}`) into its labels.
fn parse_series_name(s: &str) -> Result<Labels, String> {
    let mut lx = Lexer::new(s)?;
    let sel = lx.selector()?;
    if lx.peek().is_some() {
        return Err(format!("series `{s}`: unexpected text after the labels"));
    }
    let mut labels = sel.matchers;
    if let Some(name) = sel.name {
        labels.insert("__name__".into(), name);
    }
    if !labels.contains_key("__name__") {
        return Err(format!("series `{s}` has no metric name"));
    }
    Ok(labels)
}

fn parse_number(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "nan" => return Some(f64::NAN),
        "inf" => {
            return Some(if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        _ => {}
    }
    // Only plain decimals, as in promtool's series values: there `0x3` is the expanding
    // notation (0 four times), never hexadecimal, and `0xa` or `0X3` are errors.
    let plain = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if plain { s.parse().ok() } else { None }
}

/// Expands promtool's `values`: `a`, `a+bxn`, `a-bxn`, `axn` (n + 1 points, also `0xn`: four
/// zeros for `0x3`, as promtool reads it), `_`, `_xn` (n points), `stale`, with `NaN` and `Inf`
/// as numbers. Native histogram samples (`{{schema:0 …}}`) are refused.
fn expand_values(values: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for tok in values.split_whitespace() {
        let bad = |why: &str| format!("values token `{tok}`: {why}");
        if tok.contains('{') || tok.contains('}') {
            return Err(bad(
                "native histogram notation ({{...}}) is not supported by the parity harness: \
                 rollwatch's rules read float samples only",
            ));
        } else if tok == "_" {
            out.push(Point::Missing);
        } else if tok == "stale" {
            out.push(Point::Stale);
        } else if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| bad("expected _xN"))?;
            out.extend(std::iter::repeat_n(Point::Missing, n));
        } else if let Some(v) = parse_number(tok) {
            out.push(Point::Value(v));
        } else if let Some((head, n)) = tok.rsplit_once('x') {
            let n: usize = n.parse().map_err(|_| bad("expected a count after `x`"))?;
            // The sign of the step: the last + or - that is not the leading sign nor an
            // exponent's.
            let bytes = head.as_bytes();
            let split = (1..bytes.len())
                .rev()
                .find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
            let (start, step) = match split {
                Some(i) => {
                    let step = parse_number(&head[i + 1..]).ok_or_else(|| bad("bad step"))?;
                    let sign = if bytes[i] == b'-' { -1.0 } else { 1.0 };
                    (&head[..i], sign * step)
                }
                None => (head, 0.0),
            };
            let start = parse_number(start).ok_or_else(|| bad("bad start value"))?;
            let mut v = start;
            for _ in 0..=n {
                out.push(Point::Value(v));
                v += step;
            }
        } else {
            return Err(bad("not understood by the parity harness"));
        }
    }
    Ok(out)
}

/// A series as samples: `(t_ms, point)` for every non-missing point.
struct Series {
    labels: Labels,
    samples: Vec<(i64, Point)>,
}

impl Series {
    /// The value an instant query sees at `t`: the latest sample at or before `t` within the
    /// lookback, unless that sample is a stale marker.
    fn at(&self, t: i64) -> Option<f64> {
        let (at, p) = self.samples.iter().rev().find(|(at, _)| *at <= t)?;
        match p {
            Point::Value(v) if t - at <= LOOKBACK_MS => Some(*v),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A small PromQL subset: numbers, selectors with `=` matchers, + - * / and comparisons with
// optional `on(...)` / `ignoring(...)`, parentheses.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Str(String),
    Sym(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
struct Selector {
    name: Option<String>,
    matchers: Labels,
}

#[derive(Debug, Clone, PartialEq)]
enum Matching {
    None,
    On(Vec<String>),
    Ignoring(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Num(f64),
    Sel(Selector),
    Bin(Box<Expr>, &'static str, Matching, Box<Expr>),
}

/// Keywords after a binary operator the harness does not model.
const UNSUPPORTED_MODIFIERS: [&str; 3] = ["bool", "group_left", "group_right"];

struct Lexer {
    toks: Vec<Tok>,
    pos: usize,
}

impl Lexer {
    fn new(src: &str) -> Result<Self, String> {
        Ok(Self {
            toks: Self::tokenize(src)?,
            pos: 0,
        })
    }

    fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
        let cs: Vec<char> = src.chars().collect();
        let mut i = 0;
        let mut out = Vec::new();
        while i < cs.len() {
            let c = cs[i];
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_digit()
                || (c == '.' && cs.get(i + 1).is_some_and(char::is_ascii_digit))
            {
                let start = i;
                while i < cs.len()
                    && (cs[i].is_ascii_alphanumeric()
                        || cs[i] == '.'
                        || (matches!(cs[i], '+' | '-') && matches!(cs[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let t: String = cs[start..i].iter().collect();
                let v = parse_number(&t).ok_or_else(|| format!("`{t}` is not a number"))?;
                out.push(Tok::Num(v));
            } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
                let start = i;
                while i < cs.len() && (cs[i].is_ascii_alphanumeric() || matches!(cs[i], '_' | ':'))
                {
                    i += 1;
                }
                let t: String = cs[start..i].iter().collect();
                match t.to_ascii_lowercase().as_str() {
                    "nan" => out.push(Tok::Num(f64::NAN)),
                    "inf" => out.push(Tok::Num(f64::INFINITY)),
                    _ => out.push(Tok::Ident(t)),
                }
            } else if c == '"' || c == '\'' {
                let mut s = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => return Err("unterminated string".into()),
                        Some(&q) if q == c => break,
                        Some('\\') => {
                            s.push(*cs.get(i + 1).ok_or("unterminated string")?);
                            i += 2;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Tok::Str(s));
            } else {
                let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
                let sym = [">=", "<=", "==", "!=", "=~", "!~"]
                    .into_iter()
                    .find(|s| *s == two)
                    .or_else(|| {
                        [
                            "(", ")", "{", "}", "[", "]", ",", "+", "-", "*", "/", "%", "^", ">",
                            "<", "=",
                        ]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                    })
                    .ok_or_else(|| format!("unexpected character `{c}`"))?;
                i += sym.len();
                out.push(Tok::Sym(sym));
            }
        }
        Ok(out)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, sym: &'static str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Sym(s)) if s == sym => Ok(()),
            other => Err(format!("expected `{sym}`, found {other:?}")),
        }
    }

    fn selector(&mut self) -> Result<Selector, String> {
        let name = match self.peek() {
            Some(Tok::Ident(_)) => match self.next() {
                Some(Tok::Ident(n)) => Some(n),
                _ => unreachable!(),
            },
            _ => None,
        };
        let mut matchers = Labels::new();
        if self.peek() == Some(&Tok::Sym("{")) {
            self.next();
            loop {
                match self.next() {
                    Some(Tok::Sym("}")) => break,
                    Some(Tok::Ident(label)) => {
                        match self.next() {
                            Some(Tok::Sym("=")) => {}
                            other => {
                                return Err(format!(
                                    "label `{label}`: only `=` matchers are supported, found {other:?}"
                                ));
                            }
                        }
                        let Some(Tok::Str(v)) = self.next() else {
                            return Err(format!("label `{label}`: expected a quoted value"));
                        };
                        matchers.insert(label, v);
                        match self.next() {
                            Some(Tok::Sym(",")) => {}
                            Some(Tok::Sym("}")) => break,
                            other => return Err(format!("expected `,` or `}}`, found {other:?}")),
                        }
                    }
                    other => return Err(format!("expected a label name, found {other:?}")),
                }
            }
        }
        if name.is_none() && matchers.is_empty() {
            return Err(format!("expected a selector, found {:?}", self.peek()));
        }
        Ok(Selector { name, matchers })
    }

    fn matching(&mut self) -> Result<Matching, String> {
        let kind = match self.peek() {
            Some(Tok::Ident(k)) if k == "on" || k == "ignoring" => k.clone(),
            Some(Tok::Ident(k)) if UNSUPPORTED_MODIFIERS.contains(&k.as_str()) => {
                return Err(format!("binary-operator modifier `{k}` is not supported"));
            }
            _ => return Ok(Matching::None),
        };
        self.next();
        self.expect("(")?;
        let mut labels = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Sym(")")) => break,
                Some(Tok::Ident(l)) => labels.push(l),
                Some(Tok::Sym(",")) => {}
                other => return Err(format!("in {kind}(...): unexpected {other:?}")),
            }
        }
        if let Some(Tok::Ident(k)) = self.peek()
            && UNSUPPORTED_MODIFIERS.contains(&k.as_str())
        {
            return Err(format!("`{k}` after {kind}(...) is not supported"));
        }
        Ok(if kind == "on" {
            Matching::On(labels)
        } else {
            Matching::Ignoring(labels)
        })
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let lhs = self.additive()?;
        match self.peek() {
            Some(Tok::Sym(op @ (">" | "<" | ">=" | "<="))) => {
                let op = *op;
                self.next();
                let m = self.matching()?;
                let rhs = self.additive()?;
                Ok(Expr::Bin(Box::new(lhs), op, m, Box::new(rhs)))
            }
            Some(Tok::Sym(op @ ("==" | "!="))) => Err(format!("operator `{op}` is not supported")),
            _ => Ok(lhs),
        }
    }

    fn additive(&mut self) -> Result<Expr, String> {
        let mut lhs = self.multiplicative()?;
        while let Some(Tok::Sym(op @ ("+" | "-"))) = self.peek() {
            let op = *op;
            self.next();
            let m = self.matching()?;
            let rhs = self.multiplicative()?;
            lhs = Expr::Bin(Box::new(lhs), op, m, Box::new(rhs));
        }
        Ok(lhs)
    }

    fn multiplicative(&mut self) -> Result<Expr, String> {
        let mut lhs = self.primary()?;
        while let Some(Tok::Sym(op @ ("*" | "/"))) = self.peek() {
            let op = *op;
            self.next();
            let m = self.matching()?;
            let rhs = self.primary()?;
            lhs = Expr::Bin(Box::new(lhs), op, m, Box::new(rhs));
        }
        Ok(lhs)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.peek().cloned() {
            Some(Tok::Num(v)) => {
                self.next();
                Ok(Expr::Num(v))
            }
            Some(Tok::Sym("(")) => {
                self.next();
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Ident(_) | Tok::Sym("{")) => {
                let sel = self.selector()?;
                match self.peek() {
                    Some(Tok::Sym("(")) => Err(format!(
                        "functions are not supported (`{}(`)",
                        sel.name.unwrap_or_default()
                    )),
                    Some(Tok::Sym("[")) => Err("range selectors are not supported".into()),
                    Some(Tok::Ident(k)) => Err(format!("`{k}` after a selector is not supported")),
                    _ => Ok(Expr::Sel(sel)),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn parse_expr(src: &str) -> Result<Expr, String> {
    let mut lx = Lexer::new(src)?;
    let e = lx.expr()?;
    match lx.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?} after the expression")),
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping an alert expression to a rollwatch condition.

/// The legacy cohort's selector and how it is matched with the new one.
type Legacy = Option<(Selector, Matching)>;

/// A rule as the harness runs it: rollwatch's rule plus which selectors are the cohorts.
#[derive(Debug)]
struct Mapped {
    rule: Rule,
    /// The new cohort (or the one series of an absolute rule).
    new: Selector,
    /// The legacy cohort, for relative rules.
    legacy: Legacy,
}

/// `f * sel` or `sel * f`.
fn scaled(e: &Expr) -> Option<(f64, &Selector)> {
    match e {
        Expr::Bin(a, "*", _, b) => match (a.as_ref(), b.as_ref()) {
            (Expr::Num(f), Expr::Sel(s)) | (Expr::Sel(s), Expr::Num(f)) => Some((*f, s)),
            _ => None,
        },
        _ => None,
    }
}

/// `(1 - new / legacy) * 100`.
fn saving(e: &Expr) -> Option<(&Selector, &Selector, &Matching)> {
    let Expr::Bin(inner, "*", _, hundred) = e else {
        return None;
    };
    if **hundred != Expr::Num(100.0) {
        return None;
    }
    let Expr::Bin(one, "-", _, ratio) = inner.as_ref() else {
        return None;
    };
    if **one != Expr::Num(1.0) {
        return None;
    }
    match ratio.as_ref() {
        Expr::Bin(n, "/", m, l) => match (n.as_ref(), l.as_ref()) {
            (Expr::Sel(n), Expr::Sel(l)) => Some((n, l, m)),
            _ => None,
        },
        _ => None,
    }
}

/// Maps `expr` to a condition. Supported forms:
/// `x OP N` (absolute), `new OP F * legacy` / `new OP legacy` (ratio to legacy),
/// `new - legacy OP N` (delta), `(1 - new / legacy) * 100 OP N` (saving).
fn map_condition(expr: &Expr) -> Result<(Condition, Selector, Legacy), String> {
    let Expr::Bin(lhs, op, m, rhs) = expr else {
        return Err("an alert expression must be a comparison".into());
    };
    let Some(op) = Op::parse(op) else {
        return Err(format!("`{op}` at the top is not a comparison"));
    };
    let lhs = lhs.as_ref();
    let rhs = rhs.as_ref();
    let vector_rhs = !matches!(rhs, Expr::Num(_));
    if *m != Matching::None && !vector_rhs {
        return Err("on()/ignoring() with a scalar".into());
    }
    match (lhs, rhs) {
        (Expr::Sel(s), Expr::Num(n)) => {
            Ok((Condition::Absolute { op, value: *n }, s.clone(), None))
        }
        (Expr::Sel(new), Expr::Sel(legacy)) => Ok((
            Condition::RatioToLegacy { op, factor: 1.0 },
            new.clone(),
            Some((legacy.clone(), m.clone())),
        )),
        (Expr::Sel(new), r) if scaled(r).is_some() => {
            let (factor, legacy) = scaled(r).expect("checked");
            Ok((
                Condition::RatioToLegacy { op, factor },
                new.clone(),
                Some((legacy.clone(), m.clone())),
            ))
        }
        (Expr::Bin(n, "-", dm, l), Expr::Num(v)) => match (n.as_ref(), l.as_ref()) {
            (Expr::Sel(n), Expr::Sel(l)) => Ok((
                Condition::DeltaToLegacy { op, value: *v },
                n.clone(),
                Some((l.clone(), dm.clone())),
            )),
            _ => Err("a delta must be `new - legacy OP N`".into()),
        },
        (l, Expr::Num(v)) if saving(l).is_some() => {
            let (n, leg, sm) = saving(l).expect("checked");
            Ok((
                Condition::Saving { op, value: *v },
                n.clone(),
                Some((leg.clone(), sm.clone())),
            ))
        }
        _ => Err(
            "not one of: `x OP N`, `new OP F * legacy`, `new - legacy OP N`, \
                  `(1 - new / legacy) * 100 OP N`"
                .into(),
        ),
    }
}

/// Replaces selectors of recorded series (recording rules earlier in the same group) by their
/// expressions: promtool evaluates the recording rule first at the same timestamp.
fn inline_records(e: &Expr, records: &BTreeMap<String, Expr>) -> Result<Expr, String> {
    Ok(match e {
        Expr::Sel(s) => match s.name.as_ref().and_then(|n| records.get(n)) {
            Some(_) if !s.matchers.is_empty() => {
                return Err("label matchers on a recorded series are not supported".into());
            }
            Some(rec) => rec.clone(),
            None => e.clone(),
        },
        Expr::Num(_) => e.clone(),
        Expr::Bin(a, op, m, b) => Expr::Bin(
            Box::new(inline_records(a, records)?),
            op,
            m.clone(),
            Box::new(inline_records(b, records)?),
        ),
    })
}

fn load_rules(path: &Path) -> Result<Vec<Mapped>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: RuleFile =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: Vec<Mapped> = Vec::new();
    for g in &file.groups {
        let mut records = BTreeMap::new();
        for r in &g.rules {
            let ctx = |e: String| {
                format!(
                    "{} group `{}` rule `{}`: {e}",
                    path.display(),
                    g.name,
                    r.alert.as_deref().or(r.record.as_deref()).unwrap_or("?")
                )
            };
            let expr = parse_expr(&r.expr).map_err(|e| ctx(format!("expr `{}`: {e}", r.expr)))?;
            let expr = inline_records(&expr, &records).map_err(ctx)?;
            match (&r.alert, &r.record) {
                (None, Some(name)) => {
                    if r.for_.is_some() || r.keep_firing_for.is_some() || !r.labels.is_empty() {
                        return Err(ctx(
                            "recording rules with for/labels are not supported".into()
                        ));
                    }
                    records.insert(name.clone(), expr);
                }
                (Some(name), None) => {
                    let (condition, new, legacy) =
                        map_condition(&expr).map_err(|e| ctx(format!("expr `{}`: {e}", r.expr)))?;
                    let ms = |d: &Option<YamlDuration>| -> Result<Duration, String> {
                        let ms = d.as_ref().map_or(Ok(0), YamlDuration::ms).map_err(ctx)?;
                        Ok(Duration::from_millis(
                            u64::try_from(ms).map_err(|e| ctx(e.to_string()))?,
                        ))
                    };
                    if out.iter().any(|m| m.rule.name == *name) {
                        return Err(ctx("two alert rules with one name are not supported".into()));
                    }
                    out.push(Mapped {
                        rule: Rule {
                            name: name.clone(),
                            metric: new.name.clone().unwrap_or_default(),
                            cohort: Cohort::New,
                            condition,
                            for_: ms(&r.for_)?,
                            keep_firing_for: ms(&r.keep_firing_for)?,
                            severity: Severity::Critical,
                            action: Action::Notify,
                            significant: false,
                        },
                        new,
                        legacy,
                    });
                }
                _ => {
                    return Err(ctx(
                        "a rule needs exactly one of `alert` and `record`".into()
                    ));
                }
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Running one case.

fn matches(sel: &Selector, labels: &Labels) -> bool {
    sel.name
        .as_ref()
        .is_none_or(|n| labels.get("__name__") == Some(n))
        && sel.matchers.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The one input series a selector picks (`None`: no series, so never any data).
fn pick<'a>(
    sel: &Selector,
    series: &'a [Series],
    what: &str,
) -> Result<Option<&'a Series>, String> {
    let found: Vec<_> = series.iter().filter(|s| matches(sel, &s.labels)).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(format!(
            "the {what} selector {sel:?} matches {} series; the harness models one alert per rule",
            found.len()
        )),
    }
}

/// The labels two vectors are matched on.
fn signature(labels: &Labels, m: &Matching) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .filter(|(k, _)| match m {
            Matching::None => true,
            Matching::On(ls) => ls.contains(k),
            Matching::Ignoring(ls) => !ls.contains(k),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Rollwatch's status at every evaluation time `0, ei, 2 ei, … ≤ end`.
fn timeline(
    m: &Mapped,
    series: &[Series],
    ei: i64,
    end: i64,
) -> Result<Vec<(i64, AlertStatus)>, String> {
    let new = pick(&m.new, series, "new/absolute")?;
    let legacy = match &m.legacy {
        None => None,
        Some((sel, matching)) => {
            let l = pick(sel, series, "legacy")?;
            if let (Some(n), Some(l)) = (new, l)
                && signature(&n.labels, matching) != signature(&l.labels, matching)
            {
                return Err(format!(
                    "rule `{}`: the new and legacy series do not vector-match ({:?} vs {:?}); \
                     use ignoring(...) or on(...)",
                    m.rule.name, n.labels, l.labels
                ));
            }
            l
        }
    };
    let obs: Vec<(i64, Observation)> = (0..=end / ei)
        .map(|k| {
            let t = k * ei;
            let n = new.and_then(|s| s.at(t));
            let l = legacy.and_then(|s| s.at(t));
            (t, observe(&m.rule, l, n))
        })
        .collect();
    Ok(obs
        .iter()
        .zip(evaluate_series(&m.rule, &obs))
        .map(|((t, _), s)| (*t, s.status))
        .collect())
}

/// Checks one case file. Returns the full-timeline file for promtool.
#[allow(clippy::too_many_lines)] // one scenario, step by step
fn check_case(path: &Path) -> Result<OutTestFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let file: TestFile = serde_norway::from_str(&text).map_err(|e| e.to_string())?;
    let dir = path.parent().expect("a file has a folder");
    let ei = file
        .evaluation_interval
        .as_ref()
        .map_or(Ok(60_000), YamlDuration::ms)?;
    if ei <= 0 {
        return Err("evaluation_interval must be positive".into());
    }
    if file.rule_files.is_empty() {
        return Err("no rule_files".into());
    }
    let mut rules = Vec::new();
    let mut abs_rule_files = Vec::new();
    for rf in &file.rule_files {
        let p = dir.join(rf);
        let abs = p
            .canonicalize()
            .map_err(|e| format!("rule file {}: {e}", p.display()))?;
        rules.extend(load_rules(&abs)?);
        abs_rule_files.push(abs.display().to_string());
    }
    if file.tests.is_empty() {
        return Err("no tests".into());
    }

    let mut out_groups = Vec::new();
    let mut problems = Vec::new();
    for (gi, g) in file.tests.iter().enumerate() {
        let interval = g.interval.as_ref().map_or(Ok(ei), YamlDuration::ms)?;
        if interval <= 0 {
            return Err(format!("tests[{gi}]: interval must be positive"));
        }
        let mut series = Vec::new();
        for s in &g.input_series {
            let labels = parse_series_name(&s.series).map_err(|e| format!("tests[{gi}]: {e}"))?;
            let points = expand_values(&s.values)
                .map_err(|e| format!("tests[{gi}] series `{}`: {e}", s.series))?;
            let samples = (0_i64..)
                .zip(points)
                .filter(|(_, p)| *p != Point::Missing)
                .map(|(i, p)| (i * interval, p))
                .collect();
            series.push(Series { labels, samples });
        }
        if g.alert_rule_test.is_empty() {
            return Err(format!("tests[{gi}]: no alert_rule_test"));
        }
        let mut end = 0;
        for at in &g.alert_rule_test {
            end = end.max(at.eval_time.ms().map_err(|e| format!("tests[{gi}]: {e}"))?);
        }

        // Every alert rule, replayed over the whole test window.
        let mut timelines = BTreeMap::new();
        for m in &rules {
            timelines.insert(
                m.rule.name.clone(),
                timeline(m, &series, ei, end).map_err(|e| format!("tests[{gi}]: {e}"))?,
            );
        }

        // The listed expectations: firing exactly when promtool lists an alert.
        let mut seen_alert: BTreeMap<String, ExpAlert> = BTreeMap::new();
        for at in &g.alert_rule_test {
            let t = at.eval_time.ms()?;
            let Some(tl) = timelines.get(&at.alertname) else {
                return Err(format!(
                    "tests[{gi}]: alertname `{}` is not an alert rule of the rule files",
                    at.alertname
                ));
            };
            if at.exp_alerts.len() > 1 {
                return Err(format!(
                    "tests[{gi}] `{}` at {}: {} expected alerts; the harness models one",
                    at.alertname,
                    fmt_ms(t),
                    at.exp_alerts.len()
                ));
            }
            if let Some(a) = at.exp_alerts.first() {
                seen_alert
                    .entry(at.alertname.clone())
                    .or_insert_with(|| a.clone());
            }
            // promtool compares with the evaluation at or just before eval_time.
            let (_, status) = tl[usize::try_from(t / ei).expect("non-negative")];
            let expected = !at.exp_alerts.is_empty();
            if (status == AlertStatus::Firing) != expected {
                problems.push(format!(
                    "tests[{gi}] `{}` at {}: promtool expects {}, rollwatch is {} (timeline {})",
                    at.alertname,
                    fmt_ms(t),
                    if expected { "FIRING" } else { "not firing" },
                    status.label(),
                    letters(tl)
                ));
            }
        }

        // The full timeline: what rollwatch says at every evaluation, for promtool to confirm.
        let mut tests = Vec::new();
        for (name, tl) in &timelines {
            // An alert's labels and annotations are the same at every evaluation: take them
            // from the case (rollwatch firing where the case never lists a firing alert is a
            // problem on its own).
            let alert = seen_alert.get(name).cloned().unwrap_or_default();
            if !seen_alert.contains_key(name) && tl.iter().any(|(_, s)| *s == AlertStatus::Firing) {
                problems.push(format!(
                    "tests[{gi}] `{name}`: rollwatch fires at some evaluation ({}) but the case \
                     never lists it firing; add an alert_rule_test entry and let promtool decide",
                    letters(tl)
                ));
            }
            for (t, status) in tl {
                tests.push(OutAlertTest {
                    eval_time: fmt_ms(*t),
                    alertname: name.clone(),
                    exp_alerts: if *status == AlertStatus::Firing {
                        vec![alert.clone()]
                    } else {
                        vec![]
                    },
                });
            }
        }
        out_groups.push(OutGroup {
            interval: fmt_ms(interval),
            input_series: g
                .input_series
                .iter()
                .map(|s| OutSeries {
                    series: s.series.clone(),
                    values: s.values.clone(),
                })
                .collect(),
            alert_rule_test: tests,
        });
    }
    if problems.is_empty() {
        Ok(OutTestFile {
            rule_files: abs_rule_files,
            evaluation_interval: fmt_ms(ei),
            tests: out_groups,
        })
    } else {
        Err(problems.join("\n  "))
    }
}

/// `.` not an alert, `P` pending, `F` firing, `?` unknown (no data), per evaluation.
fn letters(tl: &[(i64, AlertStatus)]) -> String {
    tl.iter()
        .map(|(_, s)| match s {
            AlertStatus::Pending => 'P',
            AlertStatus::Firing => 'F',
            AlertStatus::Unknown => '?',
            AlertStatus::Idle => '-',
            AlertStatus::Inactive | AlertStatus::Resolved => '.',
        })
        .collect()
}

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alert-parity")
}

fn case_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(case_dir())
        .expect("tests/alert-parity exists")
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

fn promtool_available() -> bool {
    Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_case_agrees_with_promtool() {
    let files = case_files();
    assert!(
        files.len() >= MIN_CASES,
        "expected at least {MIN_CASES} case files in {}, found {}",
        case_dir().display(),
        files.len()
    );
    let out_dir = if let Some(d) = std::env::var_os("ROLLWATCH_PARITY_EXPORT") {
        let d = PathBuf::from(d);
        std::fs::create_dir_all(&d).expect("export folder");
        (d, None)
    } else {
        let t = tempfile::tempdir().expect("temp dir");
        (t.path().to_owned(), Some(t))
    };
    let mut failures = String::new();
    let mut written = Vec::new();
    for f in &files {
        match check_case(f) {
            Ok(full) => {
                let name = format!(
                    "full-{}",
                    f.file_name().expect("file name").to_string_lossy()
                );
                let p = out_dir.0.join(name);
                let yaml = serde_norway::to_string(&full).expect("serializable");
                std::fs::write(&p, yaml).expect("write full-timeline file");
                written.push(p);
            }
            Err(e) => {
                let _ = writeln!(failures, "{}:\n  {e}", f.display());
            }
        }
    }
    assert!(failures.is_empty(), "alert parity failures:\n{failures}");

    if promtool_available() {
        let out = Command::new("promtool")
            .args(["test", "rules"])
            .args(&written)
            .output()
            .expect("promtool runs");
        // promtool prints a SUCCESS block per passing file: keep only the rest.
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: Vec<&str> = stdout
            .split("Unit Testing:")
            .filter(|block| !block.contains("SUCCESS"))
            .collect();
        assert!(
            out.status.success(),
            "promtool disagrees with rollwatch's full timelines:\n{}\n{}",
            report.join("Unit Testing:"),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!(
            "promtool not installed: full timelines written but not run here \
             (.ci/check-alert-parity.sh runs them)"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The harness itself: it must reject what it does not understand and expand like promtool.

#[test]
fn values_notation_expands_like_promtool() {
    let got = expand_values("1+2x2 5-1x1 3x1 _ _x2 stale NaN -Inf 1e-3+1e-3x1").unwrap();
    assert_eq!(
        format!("{got:?}"),
        "[Value(1.0), Value(3.0), Value(5.0), Value(5.0), Value(4.0), Value(3.0), Value(3.0), \
         Missing, Missing, Missing, Stale, Value(NaN), Value(-inf), Value(0.001), Value(0.002)]"
    );
    let histogram = expand_values("1 {{schema:1}}").unwrap_err();
    assert!(
        histogram.contains("native histogram notation"),
        "{histogram}"
    );
    // `axn` with a = 0 is no exception (promtool 2.42: `0x3 1 0x10` is 16 samples).
    let zeros = |n: usize| vec!["Value(0.0)"; n].join(", ");
    assert_eq!(
        format!("{:?}", expand_values("0x3").unwrap()),
        format!("[{}]", zeros(4))
    );
    assert_eq!(
        format!("{:?}", expand_values("0x10").unwrap()),
        format!("[{}]", zeros(11)),
        "0x10 is eleven zeros, never hexadecimal 16"
    );
    assert_eq!(
        format!("{:?}", expand_values("0x0 00x1 0.0x1").unwrap()),
        format!("[{}]", zeros(5))
    );
    // What promtool refuses is refused too.
    for bad in ["0X3", "0xa", "0x", "0x-1"] {
        assert!(expand_values(bad).is_err(), "{bad}");
    }
}

#[test]
fn lookback_repeats_within_five_minutes_and_stale_ends() {
    let s = Series {
        labels: Labels::new(),
        samples: vec![(0, Point::Value(1.0)), (600_000, Point::Stale)],
    };
    assert_eq!(s.at(0), Some(1.0));
    assert_eq!(
        s.at(LOOKBACK_MS),
        Some(1.0),
        "a sample exactly 5 m old counts"
    );
    assert_eq!(s.at(LOOKBACK_MS + 1), None);
    assert_eq!(s.at(600_000), None);
}

#[test]
fn expressions_map_to_conditions_or_fail_clearly() {
    let cond = |src: &str| map_condition(&parse_expr(src)?).map(|(c, _, l)| (c, l.is_some()));
    assert_eq!(
        cond("x > 0.05").unwrap(),
        (
            Condition::Absolute {
                op: Op::Gt,
                value: 0.05
            },
            false
        )
    );
    assert_eq!(
        cond(r#"p95{cohort="new"} >= ignoring(cohort) 1.5 * p95{cohort="legacy"}"#).unwrap(),
        (
            Condition::RatioToLegacy {
                op: Op::Ge,
                factor: 1.5
            },
            true
        )
    );
    assert_eq!(
        cond("new - legacy > 0.2").unwrap(),
        (
            Condition::DeltaToLegacy {
                op: Op::Gt,
                value: 0.2
            },
            true
        )
    );
    assert_eq!(
        cond("(1 - new / legacy) * 100 < 90").unwrap(),
        (
            Condition::Saving {
                op: Op::Lt,
                value: 90.0
            },
            true
        )
    );
    for bad in [
        "rate(x[5m]) > 1",
        "x == 1",
        "x > bool 1",
        r#"x{a=~"b"} > 1"#,
        "x > 1 + 1 > 2",
        "x / y > 2",
        "x",
        "x > on(a) group_left y",
    ] {
        let e = cond(bad);
        assert!(e.is_err(), "`{bad}` must be rejected, got {e:?}");
    }
}

#[test]
fn unknown_fields_are_rejected_not_skipped() {
    let bad = "rule_files: [r.yml]\ntests:\n- input_series: []\n  alert_rule_test: []\n  promql_expr_test: []\n";
    let e = serde_norway::from_str::<TestFile>(bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("promql_expr_test"), "{e}");
}
