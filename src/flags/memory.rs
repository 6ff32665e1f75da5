//! An in-memory flag store: the demo's backend, and a version-checked store for tests.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use serde::Deserialize;

use super::registry::{self, BuiltFlag, FlagSpec, Kind};
use super::{FlagBackend, FlagError, FlagEvent};
use crate::config::locate::{ConfigError, Table};
use crate::model::{FlagSnapshot, Lease};

/// The registry line of `kind = "memory"`.
pub const KIND: Kind = Kind {
    name: "memory",
    parse,
    discover: None,
};

/// The `[rollout.flag]` table of `kind = "memory"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// The initial percentage (default 0).
    #[serde(default)]
    pub percent: u8,
}

fn parse(t: &Table<'_>, kind: &str) -> Result<Arc<dyn FlagSpec>, ConfigError> {
    let m: MemoryConfig = registry::table(t, kind)?;
    if m.percent > 100 {
        return Err(t.error("`percent` of the flag: expected 0..=100".into()));
    }
    Ok(Arc::new(m))
}

impl FlagSpec for MemoryConfig {
    fn in_process(&self) -> bool {
        true
    }

    fn build(&self, rollout: &str) -> Result<BuiltFlag, String> {
        let f = MemoryFlag::new(rollout, self.percent);
        Ok(BuiltFlag {
            backend: Arc::new(f.clone()),
            in_process: Some(f),
        })
    }
}

#[derive(Debug)]
struct Inner {
    flag: FlagSnapshot,
    revision: u64,
    events: Vec<FlagEvent>,
}

/// A flag held in memory with a revision counter used as its version. Clones share the flag,
/// so a simulator can read the percentage the dashboard writes.
#[derive(Debug, Clone)]
pub struct MemoryFlag {
    name: String,
    inner: Arc<Mutex<Inner>>,
}

impl MemoryFlag {
    /// A flag at `percent`, enabled.
    #[must_use]
    pub fn new(name: &str, percent: u8) -> Self {
        let mut flag = FlagSnapshot::new(percent.min(100), true);
        flag.version = Some("1".into());
        Self {
            name: name.into(),
            inner: Arc::new(Mutex::new(Inner {
                flag,
                revision: 1,
                events: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of plain data.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The flag's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current snapshot, synchronously (for the simulator).
    #[must_use]
    pub fn snapshot(&self) -> FlagSnapshot {
        self.lock().flag.clone()
    }

    /// Changes the flag as another operator would, bypassing compare-and-set (tests, demos).
    pub fn set_behind_the_back(&self, percent: u8, at_ms: i64, author: &str) {
        let mut g = self.lock();
        let before = g.flag.percent;
        Self::apply(&mut g, |f| f.percent = percent.min(100));
        g.events.push(FlagEvent {
            at_ms,
            author: author.into(),
            kind: "set".into(),
            before: Some(before),
            after: Some(percent.min(100)),
        });
    }

    fn apply(g: &mut Inner, f: impl FnOnce(&mut FlagSnapshot)) {
        f(&mut g.flag);
        g.revision += 1;
        g.flag.version = Some(g.revision.to_string());
    }

    fn cas(
        &self,
        expected: &FlagSnapshot,
        f: impl FnOnce(&mut FlagSnapshot),
    ) -> Result<(), FlagError> {
        let mut g = self.lock();
        let same = g.flag.percent == expected.percent
            && g.flag.enabled == expected.enabled
            && (expected.version.is_none() || g.flag.version == expected.version);
        if !same {
            return Err(FlagError::Conflict {
                current: Some(g.flag.clone()),
            });
        }
        Self::apply(&mut g, f);
        Ok(())
    }
}

impl FlagBackend for MemoryFlag {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn read(&self) -> BoxFuture<'_, Result<FlagSnapshot, FlagError>> {
        let s = self.snapshot();
        Box::pin(async move { Ok(s) })
    }

    fn compare_and_set(
        &self,
        expected: &FlagSnapshot,
        percent: u8,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let r = self.cas(expected, |f| f.percent = percent.min(100));
        Box::pin(async move { r })
    }

    fn set_enabled(
        &self,
        expected: &FlagSnapshot,
        enabled: bool,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let r = self.cas(expected, |f| f.enabled = enabled);
        Box::pin(async move { r })
    }

    fn events(&self) -> BoxFuture<'_, Result<Vec<FlagEvent>, FlagError>> {
        let e = self.lock().events.clone();
        Box::pin(async move { Ok(e) })
    }

    fn can_lease(&self) -> bool {
        true
    }

    fn swap_lease(
        &self,
        expected: Option<&Lease>,
        new: Option<&Lease>,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let mut g = self.lock();
        let r = if g.flag.lease.as_deref() == expected {
            g.flag.lease = new.cloned().map(Box::new);
            Ok(())
        } else {
            Err(FlagError::Conflict {
                current: Some(g.flag.clone()),
            })
        };
        drop(g);
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn compare_and_set_refuses_a_moved_value() {
        let f = MemoryFlag::new("x", 5);
        let seen = f.read().await.unwrap();
        f.set_behind_the_back(30, 0, "alice");
        let err = f.compare_and_set(&seen, 25).await.unwrap_err();
        assert_eq!(
            err,
            FlagError::Conflict {
                current: Some(f.snapshot())
            }
        );
        assert_eq!(
            f.snapshot().percent,
            30,
            "the other operator's value survives"
        );
    }

    #[tokio::test]
    async fn version_catches_an_a_b_a_change() {
        let f = MemoryFlag::new("x", 5);
        let seen = f.read().await.unwrap();
        f.set_behind_the_back(30, 0, "alice");
        f.set_behind_the_back(5, 0, "alice");
        assert!(matches!(
            f.compare_and_set(&seen, 25).await,
            Err(FlagError::Conflict { .. })
        ));
    }

    #[tokio::test]
    async fn a_lease_is_taken_once_and_leaves_the_version_alone() {
        let f = MemoryFlag::new("x", 5);
        let seen = f.read().await.unwrap();
        let a = Lease::new("guard@a", "1", 0, 60_000);
        let b = Lease::new("guard@b", "2", 0, 60_000);
        f.swap_lease(None, Some(&a)).await.unwrap();
        let err = f.swap_lease(None, Some(&b)).await.unwrap_err();
        assert!(
            matches!(&err, FlagError::Conflict { current: Some(c) } if c.lease.as_deref() == Some(&a)),
            "{err:?}"
        );
        assert_eq!(f.snapshot().lease.as_deref(), Some(&a));
        // The operator's snapshot from before the lease still writes.
        f.compare_and_set(&seen, 25).await.unwrap();
        f.swap_lease(Some(&a), None).await.unwrap();
        assert_eq!(f.snapshot().lease, None);
    }

    #[tokio::test]
    async fn compare_and_set_writes_when_unchanged() {
        let f = MemoryFlag::new("x", 5);
        let seen = f.read().await.unwrap();
        f.compare_and_set(&seen, 25).await.unwrap();
        assert_eq!(f.snapshot().percent, 25);
        assert_ne!(f.snapshot().version, seen.version);
    }
}
