//! Prometheus text exposition (format 0.0.4) of simulators' cumulative totals: one simulator
//! labelled `cohort="legacy"|"new"` (`rollwatch simulate`), or a fleet of them, each series
//! labelled with OpenTelemetry's feature-flag attributes as Prometheus spells them
//! (`feature_flag_key="flag-000"`, `feature_flag_result_variant="off"|"on"`).

use std::fmt::Write as _;

use super::{BUCKETS_MS, Simulator, Totals};
use crate::model::Cohort;

/// The label carrying the flag's name (OpenTelemetry `feature_flag.key`).
pub const FLAG_LABEL: &str = "feature_flag_key";
/// The label carrying the evaluated variant (OpenTelemetry `feature_flag.result.variant`).
pub const VARIANT_LABEL: &str = "feature_flag_result_variant";
/// The variant the legacy path is served under.
pub const LEGACY_VARIANT: &str = "off";
/// The variant the new path is served under.
pub const NEW_VARIANT: &str = "on";

/// One simulator and the labels of its two cohorts' series (legacy, new), without braces.
pub struct Labelled<'a> {
    /// The simulator.
    pub sim: &'a Simulator,
    /// `cohort="legacy"`, `feature_flag_key="flag-000",feature_flag_result_variant="off"`, ...
    pub labels: [String; 2],
}

impl<'a> Labelled<'a> {
    /// The single simulator's labels: `cohort="legacy"|"new"`.
    #[must_use]
    pub fn cohort(sim: &'a Simulator) -> Self {
        Self {
            sim,
            labels: Cohort::BOTH.map(|c| format!("cohort=\"{}\"", c.as_str())),
        }
    }

    /// A fleet member's labels: the flag's name and the variant of each cohort.
    #[must_use]
    pub fn flag(sim: &'a Simulator, name: &str) -> Self {
        Self {
            sim,
            labels: [LEGACY_VARIANT, NEW_VARIANT]
                .map(|v| format!("{FLAG_LABEL}=\"{name}\",{VARIANT_LABEL}=\"{v}\"")),
        }
    }
}

fn le(ms: f64) -> String {
    format!("{}", ms / 1000.0)
}

/// A simple family: name, type, help, value of a cohort's totals.
type Family = (&'static str, &'static str, &'static str, fn(&Totals) -> f64);

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The exposition of one simulator, labelled by cohort.
#[must_use]
pub fn exposition(sim: &Simulator) -> String {
    render(&[Labelled::cohort(sim)])
}

/// The exposition of every simulator in `all`, each family once.
#[must_use]
pub fn render(all: &[Labelled<'_>]) -> String {
    let mut out = String::with_capacity(2048 + all.len() * 6 * 1024);
    let series: Vec<[(&str, Totals); 2]> = all
        .iter()
        .map(|l| {
            [Cohort::Legacy, Cohort::New].map(|c| {
                (
                    l.labels[usize::from(c == Cohort::New)].as_str(),
                    l.sim.totals(c),
                )
            })
        })
        .collect();
    let each = || series.iter().flat_map(|s| s.iter());
    family(
        &mut out,
        "http_requests_total",
        "counter",
        "Requests served, by cohort and status code.",
    );
    for (l, t) in each() {
        let ok = t.sum.requests.saturating_sub(t.sum.errors);
        let _ = writeln!(out, "http_requests_total{{{l},code=\"200\"}} {ok}");
        let _ = writeln!(
            out,
            "http_requests_total{{{l},code=\"500\"}} {}",
            t.sum.errors
        );
    }
    family(
        &mut out,
        "http_request_duration_seconds",
        "histogram",
        "Request latency (the sum is estimated from bucket midpoints).",
    );
    for (l, t) in each() {
        histogram(&mut out, l, t);
    }
    let gauges: [Family; 3] = [
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the cohort's processes.",
            |t| t.memory_bytes.round(),
        ),
        (
            "db_queries_total",
            "counter",
            "Database queries issued.",
            |t| t.sum.queries.round(),
        ),
        ("llm_tokens_total", "counter", "LLM tokens used.", |t| {
            t.sum.tokens.round()
        }),
    ];
    for (name, kind, help, f) in gauges {
        family(&mut out, name, kind, help);
        for (l, t) in each() {
            let _ = writeln!(out, "{name}{{{l}}} {}", f(t));
        }
    }
    out
}

fn histogram(out: &mut String, l: &str, t: &Totals) {
    let mut cum = 0u64;
    let mut sum_ms = 0.0;
    for (i, &n) in t.sum.buckets.iter().enumerate() {
        cum += n;
        let lower = if i == 0 { 0.0 } else { BUCKETS_MS[i - 1] };
        let bound = BUCKETS_MS.get(i).copied();
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        sum_ms += nf * bound.map_or(lower, |u| f64::midpoint(lower, u));
        let le = bound.map_or_else(|| "+Inf".to_owned(), le);
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {cum}"
        );
    }
    let _ = writeln!(
        out,
        "http_request_duration_seconds_sum{{{l}}} {}\n\
         http_request_duration_seconds_count{{{l}}} {cum}",
        sum_ms / 1000.0
    );
}
