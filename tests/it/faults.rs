//! Keep working when things break (issue 5), at the state level: the real config wiring, the
//! real `update` and the real effects (spawned on tasks, reporting on the channel, exactly as
//! the event loop runs them), against a loopback fault server switched between healthy and
//! every fault mode. Time in the state is a `ManualClock`; requests take real time.
//!
//! For every (metrics source, flag backend) pair and every fault mode:
//! - the panels keep their last good values and say why in words (`metrics_error`,
//!   per-metric `error`, `flag_error`), and go STALE after 2× the refresh interval;
//! - rules depending on the data become UNKNOWN, never OK and never RESOLVED;
//! - a failing backend is polled with back-off (full jitter, 1 s base, 30 s cap), not hammered;
//! - at most one poll per backend is ever in flight at the server;
//! - every request has a deadline;
//! - once the server is healthy again, everything recovers by itself.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::support::fault_config::{self, FaultRollout, Flag, Source};
use crate::support::fault_server::{Class, Fault, FaultServer};
use crate::support::state::{key, render};
use rollwatch::alerts::AlertStatus;
use rollwatch::app::effects::Effects;
use rollwatch::app::run::{Setup, initial_state};
use rollwatch::app::{Command, Mode, Msg, State, update};
use rollwatch::audit::AuditLog;
use rollwatch::backends as wire;
use rollwatch::clock::{Clock, ManualClock};
use rollwatch::config;
use rollwatch::ui::theme;

/// 2026-01-01T12:00:00Z
const T0: i64 = 1_767_268_800_000;
/// The per-request deadline configured for every backend (`timeout_ms`).
const DEADLINE_MS: u64 = 250;
/// Real time a failing request may take at most: the deadline plus scheduling slack.
const DEADLINE_SLACK: Duration = Duration::from_millis(DEADLINE_MS + 1_000);

/// A config with one rollout whose flag and metrics both live on the fault server: one
/// ratio metric and one critical rule `new > 5%`.
fn config_text(url: &str, source: Source, flag: Flag, token_file: &Path) -> String {
    let mut r = FaultRollout::new("faulty", url, flag, source)
        .timeout_ms(DEADLINE_MS)
        .label("Error rate")
        .critical_rollback();
    if flag == Flag::Unleash {
        r = r.flag_line(&format!("token_file = \"{}\"", token_file.display()));
    }
    fault_config::config(&[r])
}

/// The event loop without a terminal: real config wiring, real `update`, real effects on
/// tasks, a manual clock.
struct Harness {
    state: State,
    effects: Effects,
    rx: mpsc::Receiver<Msg>,
    clock: ManualClock,
    /// Reads of the flag's change history under way (the state does not track them).
    events_pending: usize,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(url: &str, source: Source, flag: Flag, audit: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "unleash-test-token\n").unwrap();
        let path = dir.path().join("rollwatch.toml");
        std::fs::write(&path, config_text(url, source, flag, &token)).unwrap();
        let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let clock = ManualClock::new(T0);
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let rollouts = wire::wire(&cfg, &dyn_clock).unwrap();
        let audit = audit.map_or_else(AuditLog::disabled, |p| AuditLog::new(p.to_path_buf()));
        let setup = Setup {
            rollouts,
            clock: dyn_clock.clone(),
            refresh_ms: i64::try_from(cfg.refresh.as_millis()).unwrap(),
            tick: Duration::from_millis(250),
            read_only: false,
            notify: true,
            show_keys: false,
            themes: theme::builtin(),
            ascii: true,
            audit: audit.clone(),
            deadline: wire::deadline(cfg.refresh),
            log_file: None,
        };
        let (tx, rx) = mpsc::channel(256);
        let effects = Effects::new(
            setup.rollouts.iter().map(|(r, _)| r.name.clone()).collect(),
            setup.rollouts.iter().map(|(_, b)| b.clone()).collect(),
            tx,
            dyn_clock,
            audit,
            false,
            setup.deadline,
        );
        Self {
            state: initial_state(&setup, T0),
            effects,
            rx,
            clock,
            events_pending: 0,
            _dir: dir,
        }
    }

    fn apply(&mut self, m: Msg) -> Vec<Command> {
        if matches!(m, Msg::FlagEvents { .. }) {
            self.events_pending -= 1;
        }
        let cmds = update(&mut self.state, m);
        for c in &cmds {
            if matches!(c, Command::ReadFlagEvents(_)) {
                self.events_pending += 1;
            }
            self.effects.run(c.clone());
        }
        cmds
    }

    fn tick(&mut self) -> Vec<Command> {
        self.apply(Msg::Tick(self.clock.now_ms()))
    }

    fn busy(&self) -> bool {
        self.events_pending > 0
            || self.state.rollouts.iter().any(|r| {
                r.flag_feed.poll.in_flight || r.metrics_feed.poll.in_flight || r.write_in_flight
            })
    }

    /// Applies messages until nothing is in flight; fails if that takes longer than `limit`
    /// of real time.
    async fn settle(&mut self, limit: Duration) {
        let until = tokio::time::Instant::now() + limit;
        loop {
            while let Ok(m) = self.rx.try_recv() {
                self.apply(m);
            }
            if !self.busy() {
                return;
            }
            let m = tokio::time::timeout_at(until, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("requests still in flight after {limit:?}"))
                .expect("effects channel open");
            self.apply(m);
        }
    }

    /// Start-up: flag read and backfill, then the first live poll.
    async fn start(&mut self) {
        self.tick();
        self.settle(Duration::from_secs(5)).await;
        self.tick();
        self.settle(Duration::from_secs(5)).await;
    }

    fn r(&self) -> &rollwatch::app::RolloutState {
        &self.state.rollouts[0]
    }

    fn screen(&self) -> String {
        render(&self.state, 160, 40)
    }

    fn log_text(&self) -> String {
        self.state
            .events
            .iter()
            .map(|e| e.text.clone())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What a fault does to the metrics panel.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The whole poll fails: `metrics_error` holds this (lower-case) text; back-off.
    Whole(&'static str),
    /// The source answered but every metric failed: the metric's `error` holds this text.
    /// The poll itself succeeded, so the schedule stays at the refresh interval.
    PerMetric(&'static str),
    /// The source answered *no data* (NaN): no values, the rule is UNKNOWN for lack of data.
    NoData,
}

#[allow(clippy::match_same_arms)] // a table of expectations: one row per case
fn metrics_expect(source: Source, fault: &Fault) -> Expect {
    use Expect::{NoData, PerMetric, Whole};
    match (source, fault) {
        (_, Fault::Refused) => Whole("refused"),
        (_, Fault::BlackHole | Fault::Slow(_)) => Whole("timed out after 250 ms"),
        (_, Fault::Status(503)) => Whole("http 503"),
        (_, Fault::Status(401)) => Whole("http 401"),
        (_, Fault::Malformed) => Whole("not json"),
        (Source::Prom, Fault::WrongTypes) => PerMetric("bad answer"),
        (Source::Json, Fault::WrongTypes) => PerMetric("expected a number or a string"),
        (_, Fault::Truncated) => Whole("transport"),
        (_, Fault::Huge) => Whole("larger than 8 mib"),
        (_, Fault::NaN) => NoData,
        (Source::Prom, Fault::PromError) => PerMetric("query error (execution)"),
        (Source::Json, Fault::PromError) => Whole("http 422"),
        (Source::Prom, Fault::PromOverloaded) => Whole("query error (timeout)"),
        (Source::Json, Fault::PromOverloaded) => Whole("http 503"),
        (_, f) => panic!("no expectation for {f:?}"),
    }
}

#[allow(clippy::match_same_arms)] // a table of expectations: one row per case
fn flag_expect(flag: Flag, fault: &Fault) -> &'static str {
    match (flag, fault) {
        (_, Fault::Refused) => "refused",
        (_, Fault::BlackHole | Fault::Slow(_)) => "timed out after 250 ms",
        (_, Fault::Status(503)) => "http 503",
        (_, Fault::Status(401)) => "unauthorized",
        (_, Fault::Malformed) => "not json",
        (Flag::Http, Fault::WrongTypes | Fault::NaN) => "not a percentage",
        (Flag::Unleash, Fault::WrongTypes) => "environments",
        (Flag::Unleash, Fault::NaN) => "environments",
        (_, Fault::Truncated) => "transport",
        (_, Fault::Huge) => "larger than 8 mib",
        (_, Fault::PromError) => "http 422",
        (_, Fault::PromOverloaded) => "http 503",
        (_, f) => panic!("no expectation for {f:?}"),
    }
}

fn all_faults() -> Vec<Fault> {
    vec![
        Fault::Refused,
        Fault::BlackHole,
        Fault::Slow(Duration::from_secs(3)),
        Fault::Status(503),
        Fault::Status(401),
        Fault::Malformed,
        Fault::WrongTypes,
        Fault::Truncated,
        Fault::Huge,
        Fault::NaN,
        Fault::PromError,
        Fault::PromOverloaded,
    ]
}

/// Manual time the fault lasts.
const FAULT_WINDOW_MS: i64 = 60_000;
/// Manual time per tick.
const TICK_MS: i64 = 250;

/// One (source, flag, fault) run; returns a failure description instead of panicking so a
/// table run reports every broken row at once.
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn one(source: Source, flag: Flag, fault: Fault) -> Result<(), String> {
    let ctx = format!("{source:?}+{flag:?} under {fault:?}");
    let fail = |m: String| Err(format!("{ctx}: {m}"));
    let server = FaultServer::start(25).await;
    server.set_values(1.0, 9.0);
    let mut h = Harness::new(&server.url, source, flag, None);
    h.start().await;

    // Healthy: values, flag and a firing rule.
    let good = (Some(1.0), Some(9.0));
    if (h.r().metrics[0].last.legacy, h.r().metrics[0].last.new) != good {
        return fail(format!("healthy start: {:?}", h.r().metrics[0]));
    }
    if h.r().flag.as_ref().map(|f| f.percent) != Some(25) {
        return fail(format!(
            "healthy flag: {:?} {:?}",
            h.r().flag,
            h.r().flag_feed.error
        ));
    }
    if h.r().alerts[0].status != AlertStatus::Firing {
        return fail(format!("healthy rule: {:?}", h.r().alerts[0]));
    }
    let good_at = h.clock.now_ms();

    server.set_fault(fault.clone()).await;
    let expect = metrics_expect(source, &fault);
    let flag_words = flag_expect(flag, &fault);
    let (mut m_delays, mut f_delays) = (Vec::new(), Vec::new());
    let (mut m_polls, mut f_polls) = (0, 0);
    let start_ms = h.clock.now_ms();
    while h.clock.now_ms() < start_ms + FAULT_WINDOW_MS {
        h.clock.advance(TICK_MS);
        let cmds = h.tick();
        if cmds.is_empty() {
            continue;
        }
        // A tick at the same time while requests are under way starts nothing new.
        let again = h.tick();
        if !again.is_empty() {
            return fail(format!("a second poll while one is in flight: {again:?}"));
        }
        let before = (
            h.r().metrics_feed.poll.failures,
            h.r().flag_feed.poll.failures,
        );
        let t = Instant::now();
        h.settle(DEADLINE_SLACK + Duration::from_secs(1)).await;
        if t.elapsed() > DEADLINE_SLACK {
            return fail(format!("a failing poll took {:?}", t.elapsed()));
        }
        let now = h.clock.now_ms();
        let r = h.r();
        for c in &cmds {
            match c {
                Command::PollMetrics(..) => m_polls += 1,
                Command::ReadFlag(_) => f_polls += 1,
                _ => {}
            }
        }
        if r.metrics_feed.poll.failures > before.0 {
            m_delays.push(r.metrics_feed.poll.next_at_ms - now);
        }
        if r.flag_feed.poll.failures > before.1 {
            f_delays.push(r.flag_feed.poll.next_at_ms - now);
        }

        // The rule never claims health while the data is missing: UNKNOWN, or, when it was
        // firing, still FIRING on its last known value and marked as such.
        let a = &r.alerts[0];
        let kept = a.status == AlertStatus::Firing && a.data_lost_since_ms.is_some();
        if a.status != AlertStatus::Unknown && !kept {
            return fail(format!(
                "rule is {:?}, not UNKNOWN nor firing on lost data: {a:?}",
                a.status
            ));
        }
        if a.reason.as_deref().unwrap_or("").is_empty() {
            return fail(format!("UNKNOWN without a reason: {a:?}"));
        }
        // The flag keeps its last good read and says why it cannot be read now.
        if r.flag.as_ref().map(|f| f.percent) != Some(25) {
            return fail(format!("flag value lost: {:?}", r.flag));
        }
        let fe = r.flag_feed.error.clone().unwrap_or_default().to_lowercase();
        if !fe.contains(flag_words) {
            return fail(format!("flag_error {fe:?} does not say {flag_words:?}"));
        }
        let m = &r.metrics[0];
        match expect {
            Expect::Whole(words) => {
                let me = r
                    .metrics_feed
                    .error
                    .clone()
                    .unwrap_or_default()
                    .to_lowercase();
                if !me.contains(words) {
                    return fail(format!("metrics_error {me:?} does not say {words:?}"));
                }
                if (m.last.legacy, m.last.new) != good || m.last_at_ms != Some(good_at) {
                    return fail(format!("last good values lost: {m:?}"));
                }
            }
            Expect::PerMetric(words) => {
                let me = m.error.clone().unwrap_or_default().to_lowercase();
                if !me.contains(words) || r.metrics_feed.error.is_some() {
                    return fail(format!(
                        "metric error {me:?} (source error {:?}) does not say {words:?}",
                        r.metrics_feed.error
                    ));
                }
                if (m.last.legacy, m.last.new) != good || m.last_at_ms != Some(good_at) {
                    return fail(format!("last good values lost: {m:?}"));
                }
            }
            Expect::NoData => {
                if m.last.new.is_some() || m.error.is_some() || r.metrics_feed.error.is_some() {
                    return fail(format!("NaN is no data, not a value or an error: {m:?}"));
                }
                if a.reason.as_deref() != Some("no value for the new cohort") {
                    return fail(format!("rule reason {:?}", a.reason));
                }
            }
        }
    }

    // In words on screen: the header says STALE and ERROR with the reason; the rule UNKNOWN.
    let screen = h.screen();
    if !screen.contains("UNKNOWN") {
        return fail(format!("no UNKNOWN on screen:\n{screen}"));
    }
    if !screen.contains("ERROR:") || !screen.contains("STALE") {
        return fail(format!("no STALE / ERROR on screen:\n{screen}"));
    }

    // Back-off: every delay within the full-jitter envelope of its failure count, capped at
    // 30 s, and far fewer polls than the 60 a healthy backend gets in this window.
    let envelope = |k: usize| (1_000i64 << (k + 1).min(5)).min(30_000);
    let check_backoff = |what: &str, delays: &[i64], polls: usize| -> Result<(), String> {
        if delays.len() < 3 {
            return Err(format!(
                "{what}: only {} failures: {delays:?}",
                delays.len()
            ));
        }
        for (k, d) in delays.iter().enumerate() {
            if *d < 200 || *d > envelope(k) {
                return Err(format!(
                    "{what}: delay {k} = {d} ms outside 200..={}",
                    envelope(k)
                ));
            }
        }
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        if distinct.len() < 2 {
            return Err(format!("{what}: delays are not jittered: {delays:?}"));
        }
        if polls > 15 {
            return Err(format!(
                "{what}: {polls} polls in 60 s: not backing off ({delays:?})"
            ));
        }
        Ok(())
    };
    check_backoff("flag", &f_delays, f_polls).or_else(fail)?;
    match expect {
        Expect::Whole(_) => check_backoff("metrics", &m_delays, m_polls).or_else(fail)?,
        Expect::PerMetric(_) | Expect::NoData => {
            // The source answers: it is polled at the normal interval, no back-off.
            if !m_delays.is_empty() || m_polls < 40 {
                return fail(format!(
                    "an answering source was backed off: {m_polls} polls, {m_delays:?}"
                ));
            }
        }
    }

    // One poll per backend at a time, as the server saw it.
    for class in [source.class(), flag.class()] {
        if server.max_in_flight(class) != 1 {
            return fail(format!(
                "{class:?}: {} requests in flight at once:\n{}",
                server.max_in_flight(class),
                server.timeline(class)
            ));
        }
    }

    // Recovery, by itself: healthy values, errors gone, the rule re-evaluated on real data.
    server.set_values(1.5, 2.0);
    server.set_fault(Fault::Healthy).await;
    let due = h
        .r()
        .metrics_feed
        .poll
        .next_at_ms
        .max(h.r().flag_feed.poll.next_at_ms);
    h.clock.set(due.max(h.clock.now_ms()));
    h.tick();
    h.settle(Duration::from_secs(5)).await;
    let r = h.r();
    let m = &r.metrics[0];
    if (m.last.legacy, m.last.new) != (Some(1.5), Some(2.0)) || m.error.is_some() {
        return fail(format!("no recovery of the metric: {m:?}"));
    }
    if r.metrics_feed.error.is_some() || r.flag_feed.error.is_some() {
        return fail(format!(
            "errors not cleared: {:?} {:?}",
            r.metrics_feed.error, r.flag_feed.error
        ));
    }
    if r.metrics_feed.poll.failures != 0 || r.flag_feed.poll.failures != 0 {
        return fail("back-off not reset".into());
    }
    // A rule that fired before the fault and kept firing through it is RESOLVED by the data.
    let quiet = matches!(
        r.alerts[0].status,
        AlertStatus::Inactive | AlertStatus::Resolved
    );
    if !quiet || r.alerts[0].value != Some(2.0) {
        return fail(format!("rule not re-evaluated: {:?}", r.alerts[0]));
    }
    if !h.log_text().contains("flag backend recovered") {
        return fail(format!("no recovery in the log:\n{}", h.log_text()));
    }
    if matches!(expect, Expect::Whole(_)) && !h.log_text().contains("metrics source recovered") {
        return fail(format!("no metrics recovery in the log:\n{}", h.log_text()));
    }
    Ok(())
}

/// Every row, one after the other (a loaded machine would blur the in-flight measurement),
/// reporting all broken rows at once.
async fn table(source: Source, flag: Flag) {
    let mut failures = Vec::new();
    for f in all_faults() {
        if let Err(e) = one(source, flag, f).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_http_flag_survive_every_fault() {
    table(Source::Prom, Flag::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_source_and_unleash_flag_survive_every_fault() {
    table(Source::Json, Flag::Unleash).await;
}

/// A hung backend across many ticks of the event loop, with the clock moving: the server never
/// sees a second request while the first hangs, and each one ends at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_hole_never_gets_a_second_poll_stacked_on_the_first() {
    for (source, flag) in [(Source::Prom, Flag::Http), (Source::Json, Flag::Unleash)] {
        let server = FaultServer::start(25).await;
        let mut h = Harness::new(&server.url, source, flag, None);
        h.start().await;
        server.set_fault(Fault::BlackHole).await;
        let started = Instant::now();
        let mut timeouts = 0;
        // 120 ticks of 250 ms manual time, each waiting up to 20 ms of real time for a
        // message, as the event loop's select does: requests time out mid-sequence and the
        // back-off schedules the next ones.
        for _ in 0..120 {
            h.clock.advance(TICK_MS);
            h.tick();
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(20), h.rx.recv()).await
            {
                if let Msg::MetricsPolled { result: Err(e), .. } = &m {
                    assert!(e.to_string().contains("timed out"), "{e}");
                    timeouts += 1;
                }
                h.apply(m);
            }
            for class in [source.class(), flag.class()] {
                assert!(server.in_flight(class) <= 1, "{class:?} stacked");
            }
        }
        h.settle(DEADLINE_SLACK).await;
        for class in [source.class(), flag.class()] {
            assert_eq!(
                server.max_in_flight(class),
                1,
                "{source:?}/{flag:?} {class:?}"
            );
            assert!(
                server.count(class) >= 3,
                "{class:?}: only {} requests: the back-off never retried",
                server.count(class)
            );
            server.wait_idle(class, Duration::from_secs(2)).await;
        }
        assert!(timeouts >= 2, "{source:?}: {timeouts} timeouts");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(h.r().alerts[0].status, AlertStatus::Unknown);
    }
}

/// The huge-body fault: the client stops reading at its cap instead of swallowing 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_answer_is_refused_without_reading_it_all() {
    let server = FaultServer::start(25).await;
    let mut h = Harness::new(&server.url, Source::Json, Flag::Http, None);
    h.start().await;
    server.set_fault(Fault::Huge).await;
    h.clock.advance(1_000);
    h.tick();
    h.settle(Duration::from_secs(10)).await;
    let me = h.r().metrics_feed.error.clone().unwrap_or_default();
    assert!(me.contains("larger than 8 MiB"), "{me}");
    let fe = h.r().flag_feed.error.clone().unwrap_or_default();
    assert!(fe.contains("larger than 8 MiB"), "{fe}");
    let written = server.huge_written();
    assert!(
        written < 40 * 1024 * 1024,
        "the client read on: the server wrote {written} bytes"
    );
}

/// A write whose PUT hangs: the outcome is *unknown*, audited as such, the flag re-read, and
/// the write is never sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_times_out_is_unknown_audited_re_read_and_never_retried() {
    let server = FaultServer::start(25).await;
    server.set_values(1.0, 2.0);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut h = Harness::new(&server.url, Source::Prom, Flag::Http, Some(&audit));
    h.start().await;
    assert_eq!(h.r().flag.as_ref().map(|f| f.percent), Some(25));

    server.set_write_fault(Some(Fault::BlackHole));
    h.apply(key('+'));
    assert!(
        matches!(h.state.mode, Mode::Confirm(_)),
        "{:?}",
        h.state.mode
    );
    let gets_before = server.count(Class::Flag);
    let t = Instant::now();
    let cmds = h.apply(key('y'));
    assert!(cmds.iter().any(|c| matches!(c, Command::Write { .. })));
    h.settle(Duration::from_secs(5)).await;
    // The write's own deadline (FlagDeadline / the client's) ended it.
    assert!(t.elapsed() < DEADLINE_SLACK, "{:?}", t.elapsed());

    let log = h.log_text();
    assert!(log.contains("UNKNOWN OUTCOME"), "{log}");
    assert!(log.contains("not retried"), "{log}");
    let status = &h.state.status.as_ref().unwrap().1;
    assert!(status.contains("UNKNOWN OUTCOME"), "{status}");
    // Re-read after the write: the flag as it holds now (the PUT never landed).
    assert_eq!(h.r().flag.as_ref().map(|f| f.percent), Some(25));
    assert!(!h.r().write_in_flight);
    let seen = server.seen();
    let put_at = seen
        .iter()
        .position(|s| s.class == Class::Flag && s.method == "PUT")
        .expect("the PUT reached the server");
    assert!(
        seen[put_at + 1..]
            .iter()
            .any(|s| s.class == Class::Flag && s.method == "GET"),
        "no re-read after the write"
    );
    assert!(server.count(Class::Flag) > gets_before);

    let recs = AuditLog::new(audit.clone()).read_all();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0].phase, "intent");
    assert_eq!(recs[1].phase, "outcome");
    assert_eq!(recs[1].outcome.as_deref(), Some("unknown"));
    assert_eq!(recs[0].write_id, recs[1].write_id);
    let detail = recs[1].detail.clone().unwrap_or_default();
    assert!(
        detail.contains("timed out") && detail.contains("re-read: 25%"),
        "{detail}"
    );

    // Life goes on: polls continue, and the write is never sent again.
    for _ in 0..20 {
        h.clock.advance(1_000);
        h.tick();
        h.settle(Duration::from_secs(5)).await;
    }
    assert_eq!(server.writes(Class::Flag), 1, "the write was retried");
    assert_eq!(AuditLog::new(audit).read_all().len(), 2);
    assert!(h.r().flag_feed.error.is_none());
}
