//! `rollwatch guard`: the session of `watch` without a terminal. The same [`Session`] runs the
//! same update, rules, verdicts, step plan and guarded write path; this frontend only writes
//! event lines ([`Events`]) and decides when the rollout has an outcome:
//!
//! | outcome | exit | when |
//! |---|---|---|
//! | COMPLETE | 0 | the last step of the plan (or `--until`'s) is reached and baked |
//! | ROLLED BACK | 10 | this guard's auto-rollback landed (the line names the rule) |
//! | STOPPED | 11 | a signal, someone else rolled back or switched the flag off, or the lease was taken over |
//! | GAVE UP | 12 | no fresh flag or metrics data for `--give-up-after`, or the lease lapsed unrenewed |
//!
//! A signal (SIGTERM, SIGHUP, SIGINT) pauses the automation at once (no new write starts) and
//! ends the session once no write is in flight, so an interrupted write still gets its re-read
//! and its audit outcome. The lease this process holds is renewed on its own task; losing it
//! to another holder stops the guard.

mod events;

pub use events::Events;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

use super::keymap::Action;
use super::lifecycle::{Lifecycle, lifecycle};
use super::msg::{Command, Msg};
use super::run::{Setup, effects, initial_state};
use super::session::{Frontend, LogFile, Session};
use super::state::State;
use crate::flags::write::{WriteKind, WriteOutcome};
use crate::flags::{FlagBackend, FlagError};
use crate::model::Lease;

/// How a guarded rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Reached the last step (or `--until`) and baked.
    Complete(String),
    /// This guard's auto-rollback landed.
    RolledBack(String),
    /// Stopped by an operator: a signal, a rollback or switch-off by someone else, the lease
    /// taken over.
    Stopped(String),
    /// Lost data (or the lease) for too long; nothing was advanced blind.
    GaveUp(String),
}

impl Outcome {
    /// The process's exit code.
    #[must_use]
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Complete(_) => 0,
            Outcome::RolledBack(_) => 10,
            Outcome::Stopped(_) => 11,
            Outcome::GaveUp(_) => 12,
        }
    }

    /// The outcome's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Complete(_) => "COMPLETE",
            Outcome::RolledBack(_) => "ROLLED BACK",
            Outcome::Stopped(_) => "STOPPED",
            Outcome::GaveUp(_) => "GAVE UP",
        }
    }

    /// Why, in words.
    #[must_use]
    pub fn detail(&self) -> &str {
        match self {
            Outcome::Complete(d)
            | Outcome::RolledBack(d)
            | Outcome::Stopped(d)
            | Outcome::GaveUp(d) => d,
        }
    }
}

/// A lease this process took before the loop, and how to keep it.
pub struct Held {
    /// The flag backend that stores it.
    pub flag: Arc<dyn FlagBackend>,
    /// The lease as stored.
    pub lease: Lease,
    /// How long each renewal holds it (clock ms).
    pub ttl_ms: i64,
    /// Real time between renewals.
    pub renew_every: Duration,
}

/// What the guard needs besides the setup.
pub struct GuardOptions {
    /// Where the event lines go.
    pub events: Events,
    /// Clock ms without fresh data before giving up.
    pub give_up_ms: i64,
    /// The lease, when the backend keeps one.
    pub held: Option<Held>,
}

/// What the renewal task reports.
enum LeaseNews {
    Renewed(Lease),
    Lost(String),
    Failed(String, i64),
}

/// The guard as a [`Frontend`].
struct Guard {
    events: Events,
    term: Signal,
    hup: Signal,
    int: Signal,
    lease_rx: Option<mpsc::Receiver<LeaseNews>>,
    lease: Option<Lease>,
    stopping: Option<Outcome>,
    outcome: Option<Outcome>,
    give_up_ms: i64,
    lost_since: Option<i64>,
    rolled_back: Option<String>,
}

impl Guard {
    /// The outcome the state shows, if any (rollout 0: a guard steers one rollout).
    fn judge(&mut self, s: &State) -> Option<Outcome> {
        let r = s.rollouts.first()?;
        let now = s.now_ms;
        if let Some(rule) = &self.rolled_back {
            let pct = r
                .flag
                .as_ref()
                .map_or(0, crate::model::FlagSnapshot::effective_percent);
            return Some(Outcome::RolledBack(format!(
                "rule {rule} fired: rolled back to {pct}%"
            )));
        }
        match lifecycle(r, false) {
            Lifecycle::Complete => {
                let pct = r.flag.as_ref().map_or(0, |f| f.percent);
                return Some(Outcome::Complete(format!("{pct}% reached and baked")));
            }
            Lifecycle::RolledBack { .. } => {
                return Some(Outcome::Stopped("rolled back to 0% by someone else".into()));
            }
            Lifecycle::Off => {
                return Some(Outcome::Stopped("the flag was switched off".into()));
            }
            _ => {}
        }
        let stale = s.stale_after_ms();
        if r.flag_feed.is_stale(now, stale) || r.metrics_feed.is_stale(now, stale) {
            let since = *self.lost_since.get_or_insert(now);
            if now - since >= self.give_up_ms {
                let why = [&r.flag_feed.error, &r.metrics_feed.error]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                return Some(Outcome::GaveUp(format!(
                    "no fresh data for {}{}",
                    crate::ui::format::duration(now - since),
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    }
                )));
            }
        } else {
            self.lost_since = None;
        }
        None
    }

    /// Stop once no write is in flight; no new write starts meanwhile.
    fn stop(&mut self, outcome: Outcome, s: &State) -> Option<Msg> {
        if self.stopping.is_none() {
            self.stopping = Some(outcome);
        }
        (!s.automation_paused).then_some(Msg::Action(Action::Pause))
    }

    fn signal(&mut self, name: &str, s: &State) -> Option<Msg> {
        let in_flight = s.rollouts.iter().any(|r| r.write_in_flight);
        self.events.emit(
            s.now_ms,
            "",
            "signal",
            json!({ "signal": name, "write_in_flight": in_flight }),
        );
        self.stop(
            Outcome::Stopped(format!("{name}: stopped by an operator")),
            s,
        )
    }

    fn lease_news(&mut self, news: LeaseNews, s: &State) -> Option<Msg> {
        let rollout = s
            .rollouts
            .first()
            .map_or("", |r| r.def.name.as_str())
            .to_owned();
        match news {
            LeaseNews::Renewed(l) => {
                self.events.emit(
                    s.now_ms,
                    &rollout,
                    "lease_renewed",
                    json!({ "holder": l.holder, "expires_ms": l.expires_ms }),
                );
                self.lease = Some(l);
                None
            }
            LeaseNews::Lost(holder) => {
                self.events.emit(
                    s.now_ms,
                    &rollout,
                    "lease_lost",
                    json!({ "held_by": holder }),
                );
                self.lease = None;
                self.stop(
                    Outcome::Stopped(format!("automation handed over to {holder}")),
                    s,
                )
            }
            LeaseNews::Failed(e, expires_ms) => {
                self.events.emit(
                    s.now_ms,
                    &rollout,
                    "lease_renew_failed",
                    json!({ "error": e, "expires_ms": expires_ms }),
                );
                (s.now_ms >= expires_ms).then(|| {
                    self.stop(
                        Outcome::GaveUp(format!("the lease lapsed unrenewed: {e}")),
                        s,
                    )
                })?
            }
        }
    }
}

impl Frontend for Guard {
    fn present(&mut self, s: &mut State) -> Option<Msg> {
        if self.outcome.is_some() || s.rollouts.iter().any(|r| r.write_in_flight) {
            return None;
        }
        let o = match self.stopping.take() {
            Some(o) => o,
            None => self.judge(s)?,
        };
        let text = format!("{}: {}", o.name(), o.detail());
        self.outcome = Some(o);
        Some(Msg::Shutdown(text))
    }

    async fn next(&mut self, s: &State) -> Option<Msg> {
        let lease = async {
            match self.lease_rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.term.recv() => self.signal("SIGTERM", s),
            _ = self.hup.recv() => self.signal("SIGHUP", s),
            _ = self.int.recv() => self.signal("SIGINT", s),
            Some(news) = lease => self.lease_news(news, s),
        }
    }

    fn before(&mut self, m: &Msg, s: &State) {
        let own = match m {
            Msg::WriteDone {
                rollout, result, ..
            } => Some((rollout, result.as_ref())),
            Msg::GroupWriteDone {
                rollout, result, ..
            } => result
                .done
                .iter()
                .find(|d| d.flag == 0)
                .map(|d| (rollout, &d.result)),
            _ => None,
        };
        if let Some((rollout, result)) = own
            && result.outcome == WriteOutcome::Ok
            && matches!(result.request.kind, WriteKind::Rollback(_))
            && let Some(r) = s.rollouts.get(*rollout)
            && let Some((j, _)) = r.auto_rolled_back
        {
            self.rolled_back = r.def.rules.get(j).map(|rule| rule.name.clone());
        }
        self.events.before(m, s);
    }

    fn after(&mut self, cmds: &[Command], s: &State) {
        self.events.after(cmds, s);
    }
}

/// Renews `held` every `renew_every` until the receiver goes away or the lease is lost.
fn keep(held: Held, clock: Arc<dyn crate::clock::Clock>) -> mpsc::Receiver<LeaseNews> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut cur = held.lease;
        loop {
            tokio::time::sleep(held.renew_every).await;
            let next = cur.renewed(clock.now_ms(), held.ttl_ms);
            let news = match held.flag.swap_lease(Some(&cur), Some(&next)).await {
                Ok(()) => {
                    cur = next.clone();
                    LeaseNews::Renewed(next)
                }
                Err(FlagError::Conflict { current }) => {
                    let holder = current
                        .and_then(|c| c.lease)
                        .map_or_else(|| "nobody (released)".to_owned(), |l| l.holder);
                    let _ = tx.send(LeaseNews::Lost(holder)).await;
                    return;
                }
                Err(e) => LeaseNews::Failed(e.to_string(), cur.expires_ms),
            };
            if tx.send(news).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Runs the guard until the rollout has an outcome. Returns it, the event lines (to write the
/// last one) and the lease as last renewed (to release it).
///
/// # Errors
/// When a signal handler cannot be installed.
pub async fn run(
    setup: Setup,
    opts: GuardOptions,
) -> std::io::Result<(Outcome, Events, Option<Lease>)> {
    let clock = setup.clock.clone();
    let mut state = initial_state(&setup, clock.now_ms());
    state.notify_enabled = false;
    state.own_lease = opts.held.as_ref().map(|h| h.lease.token.clone());
    for r in &mut state.rollouts {
        r.armed = true;
    }
    let (tx, rx) = mpsc::channel::<Msg>(256);
    let lease = opts.held.as_ref().map(|h| h.lease.clone());
    let mut guard = Guard {
        events: opts.events,
        term: signal(SignalKind::terminate())?,
        hup: signal(SignalKind::hangup())?,
        int: signal(SignalKind::interrupt())?,
        lease_rx: opts.held.map(|h| keep(h, clock.clone())),
        lease,
        stopping: None,
        outcome: None,
        give_up_ms: opts.give_up_ms,
        lost_since: None,
        rolled_back: None,
    };
    let mut session = Session {
        state,
        effects: effects(&setup, tx),
        rx,
        clock,
        rec: None,
        log: LogFile {
            path: setup.log_file.clone(),
            written: 0,
        },
    };
    let stopped = session.drive(&mut guard, setup.tick).await;
    // The renewal task ends with its receiver.
    guard.lease_rx = None;
    let outcome = guard
        .outcome
        .take()
        .unwrap_or_else(|| Outcome::Stopped(stopped.unwrap_or_else(|| "stopped".into())));
    Ok((outcome, guard.events, guard.lease))
}
