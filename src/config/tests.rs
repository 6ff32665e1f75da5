//! Config tests that need more than one part: the count keys of a metric (its source's own
//! keys, parsed by the Prometheus and JSON adapters through the registry) reach the sources,
//! and keys that do not fit are refused at the key.
use std::path::Path;

use crate::config::parse;
use crate::metrics::json::JsonSpec;
use crate::metrics::prometheus::PrometheusSpec;

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
    let qs = &cfg.rollouts[0]
        .source
        .get::<PrometheusSpec>()
        .expect("prometheus")
        .queries;
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
    let ms = &cfg.rollouts[0]
        .source
        .get::<JsonSpec>()
        .expect("json")
        .metrics;
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
        e.starts_with(
            "c.toml:15:1: events_query: only a prometheus source reads it (this rollout's metrics source is json)"
        ),
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
        e.starts_with(
            "c.toml:16:1: cumulative: only a json source reads it (this rollout's metrics source is prometheus)"
        ),
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

#[test]
fn notifications_are_on_unless_the_config_turns_them_off() {
    let metric = "[[rollout.metric]]\nid = \"errors\"\nkind = \"ratio\"\nquery = \"x\"\n";
    let on = parse(Path::new("c.toml"), &prometheus(metric)).expect("valid");
    assert!(on.notify);
    let off = parse(
        Path::new("c.toml"),
        &format!("notify = false\n{}", prometheus(metric)),
    )
    .expect("valid");
    assert!(!off.notify);
}
