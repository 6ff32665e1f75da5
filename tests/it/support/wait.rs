//! Waiting for a condition with a deadline: the one way the tests wait (never a sleep that
//! hopes). The check answers `Ok` with what was waited for, or `Err` with what it saw last,
//! which the failure message shows.

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `check` every `every` until it answers `Ok`; panics with `what` and the last
/// observation once `deadline` has passed.
pub fn until<T>(
    what: &str,
    deadline: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        let last = match check() {
            Ok(v) => return v,
            Err(last) => last,
        };
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}; last:\n{last}"
        );
        std::thread::sleep(every);
    }
}

/// [`until`] for a check that awaits, sleeping on the runtime between tries.
pub async fn until_async<T, F, Fut>(
    what: &str,
    deadline: Duration,
    every: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(last) => last,
        };
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}; last:\n{last}"
        );
        tokio::time::sleep(every).await;
    }
}

/// [`until_async`] trying every 200 ms: the pace for a Prometheus that scrapes every second.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    until_async(what, deadline, Duration::from_millis(200), check).await
}
