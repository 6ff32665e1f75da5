//! Effects: each command runs on its own tokio task with a deadline and reports back as a
//! message on the one channel. The UI task never awaits the network.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::msg::{Command, Msg};
use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::flags::write::group::guarded_group;
use crate::flags::write::guarded_write;
use crate::flags::{FlagBackend, FlagError, FlagEvent};
use crate::metrics::{Backfill, MetricsError};
use crate::model::{FlagSnapshot, Lease};

pub use crate::backends::Backends;

/// Wraps a flag backend so every call has a total deadline (R1). A write past it becomes an
/// unknown outcome in the guarded write path, never a retry.
pub struct FlagDeadline {
    inner: Arc<dyn FlagBackend>,
    deadline: Duration,
}

impl FlagDeadline {
    /// Wraps `inner` with `deadline`.
    #[must_use]
    pub fn new(inner: Arc<dyn FlagBackend>, deadline: Duration) -> Self {
        Self { inner, deadline }
    }

    fn limit<'a, T: Send + 'a>(
        &self,
        fut: BoxFuture<'a, Result<T, FlagError>>,
    ) -> BoxFuture<'a, Result<T, FlagError>> {
        let d = self.deadline;
        Box::pin(async move {
            tokio::time::timeout(d, fut)
                .await
                .unwrap_or_else(|_| Err(FlagError::Timeout(millis(d))))
        })
    }
}

/// The backends with the flag's calls under `deadline`.
fn limited(b: Backends, deadline: Duration) -> Backends {
    Backends {
        flag: Arc::new(FlagDeadline::new(b.flag, deadline)),
        also: b
            .also
            .into_iter()
            .map(|a| crate::backends::AlsoBackend {
                name: a.name,
                flag: Arc::new(FlagDeadline::new(a.flag, deadline)),
            })
            .collect(),
        metrics: b.metrics,
        insecure_tls: b.insecure_tls,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl FlagBackend for FlagDeadline {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn read(&self) -> BoxFuture<'_, Result<FlagSnapshot, FlagError>> {
        self.limit(self.inner.read())
    }
    fn compare_and_set(
        &self,
        expected: &FlagSnapshot,
        percent: u8,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        self.limit(self.inner.compare_and_set(expected, percent))
    }
    fn set_enabled(
        &self,
        expected: &FlagSnapshot,
        enabled: bool,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        self.limit(self.inner.set_enabled(expected, enabled))
    }
    fn events(&self) -> BoxFuture<'_, Result<Vec<FlagEvent>, FlagError>> {
        self.limit(self.inner.events())
    }
    fn can_set_enabled(&self) -> bool {
        self.inner.can_set_enabled()
    }
    fn can_lease(&self) -> bool {
        self.inner.can_lease()
    }
    fn swap_lease(
        &self,
        expected: Option<&Lease>,
        new: Option<&Lease>,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        self.limit(self.inner.swap_lease(expected, new))
    }
}

/// Closes every dangling intent of `rollout` with an `unknown` outcome and the flag as read
/// now, so the log says what holds after a crash mid-write. Returns one note per intent.
pub async fn reconcile(flag: &dyn FlagBackend, audit: &AuditLog, rollout: &str) -> Vec<String> {
    reconcile_flag(flag, audit, rollout, None).await
}

/// [`reconcile`] of one flag of `rollout`: its own (`None`) or the `[[rollout.also]]` flag
/// named.
pub async fn reconcile_flag(
    flag: &dyn FlagBackend,
    audit: &AuditLog,
    rollout: &str,
    also: Option<&str>,
) -> Vec<String> {
    let dangling = audit.dangling_intents_of(rollout, also);
    if dangling.is_empty() {
        return Vec::new();
    }
    let now = flag.read().await;
    let seen = match &now {
        Ok(s) => format!("{}%{}", s.percent, if s.enabled { "" } else { " (off)" }),
        Err(e) => format!("unreadable ({e})"),
    };
    dangling
        .into_iter()
        .map(|mut rec| {
            let asked = format!(
                "{}{} {}% → {}",
                rec.flag.as_ref().map(|f| format!("{f}: ")).unwrap_or_default(),
                rec.action,
                rec.expected_percent,
                rec.new_value
            );
            rec.phase = "outcome".into();
            rec.time = audit.now_rfc3339();
            rec.outcome = Some("unknown".into());
            rec.detail = Some(format!("no outcome recorded (process ended mid-write); reconciled at start, re-read: {seen}"));
            let _ = audit.append(&rec);
            format!("an earlier write ({asked}, {}) has no recorded outcome; the flag now reads {seen}", rec.time)
        })
        .collect()
}

/// The rollouts' backends and names, in rollout order; discovery appends to them.
type Rollouts = Arc<std::sync::RwLock<(Vec<Backends>, Vec<String>)>>;

/// Runs commands.
pub struct Effects {
    rollouts: Rollouts,
    discovery: Option<super::discovery::Shared>,
    tx: mpsc::Sender<Msg>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    read_only: bool,
    deadline: Duration,
}

impl Effects {
    /// Effects over `backends` (one per rollout, in order), reporting on `tx`. `deadline` is
    /// the total deadline of every request (R1: at most min(poll interval, 5 s)).
    #[must_use]
    pub fn new(
        names: Vec<String>,
        backends: Vec<Backends>,
        tx: mpsc::Sender<Msg>,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        read_only: bool,
        deadline: Duration,
    ) -> Self {
        let backends = backends.into_iter().map(|b| limited(b, deadline)).collect();
        Self {
            rollouts: Arc::new(std::sync::RwLock::new((backends, names))),
            discovery: None,
            tx,
            audit: audit.with_clock(clock.clone()),
            clock,
            read_only,
            deadline,
        }
    }

    /// With the fleets' discovery while watching ([`Command::Discover`]).
    #[must_use]
    pub fn with_discovery(mut self, discovery: super::discovery::Shared) -> Self {
        self.discovery = Some(discovery);
        self
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Vec<Backends>, Vec<String>)> {
        self.rollouts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Discovers the fleets' flags, appends the new rollouts' backends (before the message
    /// that makes `update` append the rollouts, so every index has its backend).
    fn discover(&self, known: Vec<String>) -> BoxFuture<'static, Option<Msg>> {
        let discovery = self.discovery.clone();
        let rollouts = self.rollouts.clone();
        let (clock, d) = (self.clock.clone(), self.deadline);
        Box::pin(async move {
            let found = tokio::time::timeout(d * 2, discovery?.rediscover(known))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} ms", millis(d * 2))));
            let result = found.map(|(added, gone)| {
                let found = super::discovery::found(&added);
                let mut g = rollouts
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for (r, b) in added {
                    g.0.push(limited(b, d));
                    g.1.push(r.name);
                }
                super::discovery::Discovered { added: found, gone }
            });
            Some(Msg::Discovered {
                at_ms: clock.now_ms(),
                result,
            })
        })
    }

    /// Starts a command on its own task; the result comes back on the channel.
    /// Returns `false` for `Quit`.
    #[allow(clippy::must_use_candidate)] // callers that never send `Quit` ignore the answer
    pub fn run(&self, cmd: Command) -> bool {
        if cmd == Command::Quit {
            return false;
        }
        let fut = self.perform(cmd);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Some(m) = fut.await {
                // The loop may be gone (shutting down): nothing to report to.
                let _ = tx.send(m).await;
            }
        });
        true
    }

    /// Reads rollout `i`'s also-flags, each backend once, at the same time.
    fn read_also(&self, i: usize) -> BoxFuture<'static, Option<Msg>> {
        let b = self.read().0.get(i).cloned();
        let clock = self.clock.clone();
        Box::pin(async move {
            let b = b?;
            let reads = b.also.iter().map(|a| a.flag.read());
            let results = futures::future::join_all(reads).await;
            Some(Msg::AlsoRead {
                rollout: i,
                at_ms: clock.now_ms(),
                results,
            })
        })
    }

    /// Writes several flags of a rollout through the guarded path, one after another.
    fn write_group(
        &self,
        rollout: usize,
        writes: Vec<crate::flags::write::group::FlagWrite>,
        keep_going: bool,
    ) -> BoxFuture<'static, Option<Msg>> {
        let b = self.read().0.get(rollout).cloned();
        let clock = self.clock.clone();
        let audit = self.audit.clone();
        let ro = self.read_only;
        Box::pin(async move {
            let b = b?;
            let mut flags = vec![b.flag.clone()];
            flags.extend(b.also.iter().map(|a| a.flag.clone()));
            let result = guarded_group(&flags, &audit, writes, keep_going, ro).await;
            Some(Msg::GroupWriteDone {
                rollout,
                at_ms: clock.now_ms(),
                result: Box::new(result),
            })
        })
    }

    /// The work of a command as a future yielding its message (tests await it directly).
    #[must_use]
    pub fn perform(&self, cmd: Command) -> BoxFuture<'static, Option<Msg>> {
        let clock = self.clock.clone();
        let d = self.deadline;
        let backend = |i: usize| self.read().0.get(i).cloned();
        match cmd {
            Command::Quit => Box::pin(async { None }),
            Command::Discover { known } => self.discover(known),
            Command::ReadFlag(i) => {
                let b = backend(i);
                Box::pin(async move {
                    let result = b?.flag.read().await;
                    Some(Msg::FlagRead {
                        rollout: i,
                        at_ms: clock.now_ms(),
                        result,
                    })
                })
            }
            Command::ReadAlso(i) => self.read_also(i),
            Command::WriteGroup {
                rollout,
                writes,
                keep_going,
            } => self.write_group(rollout, writes, keep_going),
            Command::ReadFlagEvents(i) => {
                let b = backend(i);
                Box::pin(async move {
                    let result = b?.flag.events().await;
                    Some(Msg::FlagEvents {
                        rollout: i,
                        at_ms: clock.now_ms(),
                        result,
                    })
                })
            }
            Command::PollMetrics(i, ctx) => {
                let b = backend(i);
                Box::pin(async move {
                    let b = b?;
                    let result = tokio::time::timeout(d, b.metrics.poll(ctx))
                        .await
                        .unwrap_or(Err(MetricsError::Timeout(millis(d))));
                    Some(Msg::MetricsPolled {
                        rollout: i,
                        at_ms: clock.now_ms(),
                        result,
                    })
                })
            }
            Command::Backfill {
                rollout,
                start_ms,
                end_ms,
                step_ms,
            } => {
                let b = backend(rollout);
                Box::pin(async move {
                    let b = b?;
                    let result: Result<Backfill, MetricsError> =
                        tokio::time::timeout(d * 2, b.metrics.backfill(start_ms, end_ms, step_ms))
                            .await
                            .unwrap_or(Err(MetricsError::Timeout(millis(d * 2))));
                    Some(Msg::Backfilled { rollout, result })
                })
            }
            Command::Reconcile(i) => {
                let b = backend(i);
                let audit = self.audit.clone();
                let name = self.read().1.get(i).cloned().unwrap_or_default();
                Box::pin(async move {
                    let b = b?;
                    let mut notes = reconcile(b.flag.as_ref(), &audit, &name).await;
                    for a in &b.also {
                        notes.extend(
                            reconcile_flag(a.flag.as_ref(), &audit, &name, Some(&a.name)).await,
                        );
                    }
                    (!notes.is_empty()).then_some(Msg::Reconciled { rollout: i, notes })
                })
            }
            Command::Write { rollout, request } => {
                let b = backend(rollout);
                let audit = self.audit.clone();
                let ro = self.read_only;
                Box::pin(async move {
                    let result = guarded_write(b?.flag.as_ref(), &audit, request, ro).await;
                    Some(Msg::WriteDone {
                        rollout,
                        at_ms: clock.now_ms(),
                        result: Box::new(result),
                    })
                })
            }
        }
    }
}
