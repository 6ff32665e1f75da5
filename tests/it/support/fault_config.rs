//! Config files whose backends are the fault server: one builder for the rollouts that the
//! fault, fault-UI and secrets tests write, so they are all spelt the same way.
//!
//! A rollout has its flag and its metrics on the server at one URL, one ratio metric `err`
//! (`errors_total` by cohort from Prometheus, `/legacy/err` and `/new/err` in percent from the
//! JSON source) and, unless told otherwise, one rule `err-high`, `new > 5%`.

use std::fmt::Write as _;

use super::fault_server::Class;

/// The rollout's flag backend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flag {
    /// The HTTP flag API (`/flag`, pointers `/percent` and `/enabled`).
    Http,
    /// Unleash's admin API (feature `f` in `production`).
    Unleash,
}

/// The rollout's metrics source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    /// The Prometheus HTTP API (cohorts `legacy` and `new`).
    Prom,
    /// The JSON metrics document (`/metrics.json`).
    Json,
}

impl Source {
    /// The fault server's name for the requests of this source.
    pub fn class(self) -> Class {
        match self {
            Source::Prom => Class::Prom,
            Source::Json => Class::Json,
        }
    }
}

impl Flag {
    /// The fault server's name for the requests of this backend.
    pub fn class(self) -> Class {
        match self {
            Flag::Http => Class::Flag,
            Flag::Unleash => Class::Unleash,
        }
    }
}

/// One `[[rollout]]` on the fault server.
#[derive(Debug, Clone)]
pub struct FaultRollout {
    name: String,
    url: String,
    flag: Flag,
    source: Source,
    timeout_ms: u64,
    flag_lines: Vec<String>,
    metrics_lines: Vec<String>,
    label: Option<String>,
    rule: bool,
    rollback: bool,
}

impl FaultRollout {
    /// Rollout `name` in `production` with steps 5, 25, 50, 100 and a 400 ms deadline on
    /// every request.
    pub fn new(name: &str, url: &str, flag: Flag, source: Source) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            flag,
            source,
            timeout_ms: 400,
            flag_lines: Vec::new(),
            metrics_lines: Vec::new(),
            label: None,
            rule: true,
            rollback: false,
        }
    }

    /// Every request's deadline (`timeout_ms` of both backends).
    #[must_use]
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }

    /// A line added to the `[rollout.flag]` table (a token, say).
    #[must_use]
    pub fn flag_line(mut self, line: &str) -> Self {
        self.flag_lines.push(line.to_owned());
        self
    }

    /// A line added to both backend tables (the token, TLS options).
    #[must_use]
    pub fn backend_line(mut self, line: &str) -> Self {
        self.flag_lines.push(line.to_owned());
        self.metrics_lines.push(line.to_owned());
        self
    }

    /// The metric's label on screen.
    #[must_use]
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    /// No rule at all.
    #[must_use]
    pub fn no_rule(mut self) -> Self {
        self.rule = false;
        self
    }

    /// The rule is critical and recommends a rollback.
    #[must_use]
    pub fn critical_rollback(mut self) -> Self {
        self.rollback = true;
        self
    }

    /// The rollout's TOML.
    pub fn toml(&self) -> String {
        let (url, timeout) = (&self.url, self.timeout_ms);
        let mut t = String::new();
        writeln!(
            t,
            "[[rollout]]\nname = \"{}\"\nenvironment = \"production\"\nsteps = [5, 25, 50, 100]\n",
            self.name
        )
        .unwrap();
        match self.flag {
            Flag::Http => write!(
                t,
                r#"[rollout.flag]
kind = "http"
url = "{url}/flag"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
body_template = '{{"percent": {{{{percent}}}}, "enabled": {{{{enabled}}}}}}'
"#
            ),
            Flag::Unleash => write!(
                t,
                r#"[rollout.flag]
kind = "unleash"
url = "{url}"
feature = "f"
environment = "production"
"#
            ),
        }
        .unwrap();
        writeln!(t, "timeout_ms = {timeout}").unwrap();
        for line in &self.flag_lines {
            writeln!(t, "{line}").unwrap();
        }
        match self.source {
            Source::Prom => write!(
                t,
                r#"
[rollout.metrics]
kind = "prometheus"
url = "{url}"
legacy = ["legacy"]
new = ["new"]
"#
            ),
            Source::Json => write!(
                t,
                r#"
[rollout.metrics]
kind = "json"
url = "{url}/metrics.json"
"#
            ),
        }
        .unwrap();
        writeln!(t, "timeout_ms = {timeout}").unwrap();
        for line in &self.metrics_lines {
            writeln!(t, "{line}").unwrap();
        }
        t += "\n[[rollout.metric]]\nid = \"err\"\n";
        if let Some(label) = &self.label {
            writeln!(t, "label = \"{label}\"").unwrap();
        }
        t += "kind = \"ratio\"\n";
        t += match self.source {
            Source::Prom => "query = 'sum by (cohort)(rate(errors_total[1m]))'\n",
            Source::Json => "legacy = \"/legacy/err\"\nnew = \"/new/err\"\nunit = \"percent\"\n",
        };
        if !self.rule {
            return t;
        }
        t += "\n[[rollout.rule]]\nname = \"err-high\"\nmetric = \"err\"\nwhen = \"new > 5%\"\n";
        if self.rollback {
            t += "severity = \"critical\"\naction = \"rollback\"\n";
        }
        t
    }
}

/// A config file: polled every second, with `rollouts`.
pub fn config(rollouts: &[FaultRollout]) -> String {
    let mut t = String::from("refresh = \"1s\"\n");
    for r in rollouts {
        t += "\n";
        t += &r.toml();
    }
    t
}

/// The keys of an HTTP flag table (`[rollout.flag]`, `[[rollout.also]]`) for the fault
/// server's `/flag` at `url`.
pub fn http_flag_keys(url: &str) -> String {
    format!(
        r#"kind = "http"
url = "{url}/flag"
percent_pointer = "/percent"
enabled_pointer = "/enabled"
body_template = '{{"percent": {{{{percent}}}}, "enabled": {{{{enabled}}}}}}'
"#
    )
}
