//! The keys of a metric that say where its counts since the step began come from: Prometheus
//! `events_query`/`trials_query` (ratio), `buckets_query`/`slow_above` (latency); JSON
//! `cumulative`, `legacy_calls`/`new_calls`. Each is checked against the metric's kind and
//! source, and points at the key when it is wrong.

use toml::Spanned;

use super::file::FileMetric;
use super::{ConfigError, Ctx, SourceSpec};
use crate::metrics::prometheus::counts::STEP;
use crate::model::MetricKind;

/// Checks the count keys of one metric.
///
/// # Errors
/// The first key that does not fit the metric's kind or source, or lacks `$step`.
pub(super) fn check(
    cx: &Ctx<'_>,
    m: &FileMetric,
    kind: &MetricKind,
    source: &SourceSpec,
) -> Result<(), ConfigError> {
    let id = m.id.get_ref();
    let prometheus = matches!(source, SourceSpec::Prometheus(_));
    let json = matches!(source, SourceSpec::Json(_));
    let queries = [
        ("events_query", &m.events_query),
        ("trials_query", &m.trials_query),
        ("buckets_query", &m.buckets_query),
    ];
    for (key, q) in queries {
        let Some(q) = q else { continue };
        if !prometheus {
            return Err(cx.at(q, format!("{key}: only a Prometheus source runs queries")));
        }
        if !q.get_ref().contains(STEP) {
            return Err(cx.at(
                q,
                format!(
                    "{key}: no `$step` in the query; rollwatch replaces it by the time since the step began, e.g. increase(http_requests_total[$step])"
                ),
            ));
        }
    }
    let ratio_keys = [&m.events_query, &m.trials_query];
    if let Some(q) = ratio_keys.iter().copied().flatten().next() {
        if *kind != MetricKind::Ratio {
            return Err(cx.at(
                q,
                "events_query and trials_query count errors and requests: they need kind = \"ratio\"",
            ));
        }
        if m.events_query.is_none() || m.trials_query.is_none() {
            return Err(cx.at(
                q,
                format!("metric `{id}`: events_query and trials_query go together: give both"),
            ));
        }
    }
    let latency = matches!(kind, MetricKind::Latency { .. });
    if let Some(q) = &m.buckets_query
        && !latency
    {
        return Err(cx.at(q, "buckets_query needs kind = \"latency\""));
    }
    if let Some(t) = &m.slow_above {
        check_slow_above(cx, t, m.buckets_query.is_some(), prometheus && latency)?;
    }
    if let Some(c) = &m.cumulative {
        if !json {
            return Err(cx.at(c, "cumulative: only a JSON source reads counters"));
        }
        if *c.get_ref() && (m.legacy_per.is_none() || m.new_per.is_none()) {
            return Err(cx.at(
                c,
                format!(
                    "metric `{id}`: cumulative counters need `legacy_per` and `new_per` (the calls counters to divide by)"
                ),
            ));
        }
    }
    for (key, p) in [
        ("legacy_calls", &m.legacy_calls),
        ("new_calls", &m.new_calls),
    ] {
        if p.is_some() && !json {
            return Err(cx.at(
                &m.id,
                format!("metric `{id}`: {key} is read by a JSON source only"),
            ));
        }
    }
    Ok(())
}

fn check_slow_above(
    cx: &Ctx<'_>,
    t: &Spanned<f64>,
    has_buckets: bool,
    latency_on_prometheus: bool,
) -> Result<(), ConfigError> {
    let v = *t.get_ref();
    if !latency_on_prometheus {
        return Err(cx.at(
            t,
            "slow_above: only a latency metric on a Prometheus source (with buckets_query) has one",
        ));
    }
    if !has_buckets {
        return Err(cx.at(
            t,
            "slow_above needs buckets_query: the histogram whose `le` boundary it is",
        ));
    }
    if !(v.is_finite() && v > 0.0) {
        return Err(cx.at(
            t,
            format!(
                "slow_above = {v}: expected a positive `le` boundary of the histogram, in its unit (0.25 for 250 ms in seconds)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{SourceSpec, parse};

    const HEAD: &str = r#"
[[rollout]]
name = "r"
steps = [5, 50]
[rollout.flag]
kind = "memory"
"#;

    fn prometheus(metric: &str) -> String {
        format!(
            "{HEAD}[rollout.metrics]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9090\"\nlegacy = [\"legacy\"]\nnew = [\"new\"]\n{metric}"
        )
    }

    fn json(metric: &str) -> String {
        format!(
            "{HEAD}[rollout.metrics]\nkind = \"json\"\nurl = \"http://127.0.0.1:8088/stats\"\n{metric}"
        )
    }

    fn err(text: &str) -> String {
        parse(Path::new("c.toml"), text)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn count_keys_reach_the_sources() {
        let text = prometheus(
            r#"[[rollout.metric]]
id = "errors"
kind = "ratio"
query = "x"
events_query = 'sum by (cohort)(increase(e[$step]))'
trials_query = 'sum by (cohort)(increase(t[$step]))'
[[rollout.metric]]
id = "p95"
kind = "latency"
quantile = 0.99
query = "y"
buckets_query = 'sum by (cohort, le)(increase(b_bucket[$step]))'
slow_above = 0.5
"#,
        );
        let cfg = parse(Path::new("c.toml"), &text).expect("valid");
        let qs = crate::config::wire::prometheus_queries(&cfg.rollouts[0]);
        assert_eq!(
            qs[0].trials_query.as_deref(),
            Some("sum by (cohort)(increase(t[$step]))")
        );
        assert_eq!((qs[1].slow_above, qs[1].quantile), (Some(0.5), Some(0.99)));
        let text = json(
            r#"[[rollout.metric]]
id = "errors"
kind = "ratio"
legacy = "/s/failed_calls"
legacy_per = "/s/total_calls"
new = "/p/failed_calls"
new_per = "/p/total_calls"
unit = "ratio"
cumulative = true
[[rollout.metric]]
id = "latency"
kind = "latency"
legacy = "/s/avg"
new = "/p/avg"
legacy_calls = "/s/total_calls"
new_calls = "/p/total_calls"
"#,
        );
        let cfg = parse(Path::new("c.toml"), &text).expect("valid");
        assert!(matches!(cfg.rollouts[0].source, SourceSpec::Json(_)));
        let ms = crate::config::wire::json_metrics(&cfg.rollouts[0]);
        assert!(ms[0].cumulative && ms[0].counts);
        assert_eq!(ms[1].new_calls.as_deref(), Some("/p/total_calls"));
        assert!(!ms[1].counts);
    }

    #[test]
    fn count_keys_that_do_not_fit_are_refused_at_the_key() {
        let e = err(&prometheus(
            "[[rollout.metric]]\nid = \"e\"\nkind = \"ratio\"\nquery = \"x\"\nevents_query = 'increase(e[5m])'\ntrials_query = 'increase(t[$step])'\n",
        ));
        assert!(
            e.starts_with("c.toml:16:16: events_query: no `$step`"),
            "{e}"
        );
        let e = err(&prometheus(
            "[[rollout.metric]]\nid = \"e\"\nkind = \"ratio\"\nquery = \"x\"\ntrials_query = 'increase(t[$step])'\n",
        ));
        assert!(
            e.contains("c.toml:16:16: metric `e`: events_query and trials_query go together"),
            "{e}"
        );
        let e = err(&prometheus(
            "[[rollout.metric]]\nid = \"m\"\nkind = \"gauge\"\nquery = \"x\"\nevents_query = 'a[$step]'\ntrials_query = 'b[$step]'\n",
        ));
        assert!(e.contains("need kind = \"ratio\""), "{e}");
        let e = err(&prometheus(
            "[[rollout.metric]]\nid = \"p\"\nkind = \"latency\"\nquery = \"x\"\nslow_above = 0.5\n",
        ));
        assert!(
            e.starts_with("c.toml:16:14: slow_above needs buckets_query"),
            "{e}"
        );
        let e = err(&prometheus(
            "[[rollout.metric]]\nid = \"p\"\nkind = \"latency\"\nquery = \"x\"\nbuckets_query = 'b[$step]'\nslow_above = -1.0\n",
        ));
        assert!(
            e.contains("slow_above = -1: expected a positive `le` boundary"),
            "{e}"
        );
        let e = err(&json(
            "[[rollout.metric]]\nid = \"e\"\nkind = \"ratio\"\nlegacy = \"/a\"\nnew = \"/b\"\nevents_query = 'a[$step]'\n",
        ));
        assert!(
            e.contains("events_query: only a Prometheus source runs queries"),
            "{e}"
        );
        let e = err(&json(
            "[[rollout.metric]]\nid = \"e\"\nkind = \"ratio\"\nlegacy = \"/a\"\nnew = \"/b\"\ncumulative = true\n",
        ));
        assert!(
            e.contains("cumulative counters need `legacy_per` and `new_per`"),
            "{e}"
        );
        let e = err(&prometheus(
            "[[rollout.metric]]\nid = \"e\"\nkind = \"ratio\"\nquery = \"x\"\ncumulative = true\n",
        ));
        assert!(
            e.contains("cumulative: only a JSON source reads counters"),
            "{e}"
        );
        let e = err(&json(
            "[[rollout.metric]]\nid = \"e\"\nkind = \"ratio\"\nlegacy = \"/a\"\nnew = \"/b\"\nnew_calls = \"b/calls\"\n",
        ));
        assert!(
            e.contains("new_calls = `b/calls` is not a JSON pointer"),
            "{e}"
        );
    }
}
