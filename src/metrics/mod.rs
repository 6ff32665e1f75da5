//! Metrics sources: where the legacy and new values come from.
//!
//! A source is built with its rollout's metric list and answers one poll with one result per
//! metric, in the same order. A metric that failed alone does not fail the poll; a source that
//! cannot be reached at all fails the whole poll.

pub mod fleet;
pub mod json;
pub mod prometheus;
pub mod registry;
pub mod sim;
pub mod units;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use crate::model::{CohortValues, Counts, QuantileBounds};

/// What a poll needs to know about the rollout it polls for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCtx {
    /// When the current step (the flag's present percentage) began, Unix ms; `None` before the
    /// flag was read. Counts are taken since then.
    pub step_start_ms: Option<i64>,
}

/// Why a source or a metric could not be read. Messages never contain tokens.
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsError {
    /// No answer within the deadline.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// Connection refused, reset, DNS, TLS.
    #[error("transport: {0}")]
    Transport(String),
    /// An HTTP error status.
    #[error("HTTP {status}: {message}")]
    Http {
        /// Status code.
        status: u16,
        /// What the body or status said.
        message: String,
    },
    /// The query itself failed (`status:"error"` with `errorType`).
    #[error("query error ({kind}): {message}")]
    Query {
        /// Prometheus `errorType`.
        kind: String,
        /// Prometheus `error`.
        message: String,
    },
    /// The body could not be understood.
    #[error("bad answer: {0}")]
    Parse(String),
    /// The answer was understood but a cohort the config expects is not in it, for a reason
    /// that is not "no traffic" (a label value or field that is not there, a ratio whose
    /// numerator has no series): the message says what was missing, on one line.
    #[error("no data: {0}")]
    NoData(String),
}

impl From<crate::net::NetError> for MetricsError {
    fn from(e: crate::net::NetError) -> Self {
        use crate::net::NetError;
        match e {
            NetError::Timeout(ms) => MetricsError::Timeout(ms),
            NetError::Transport(m) => MetricsError::Transport(m),
            NetError::TooLarge => MetricsError::Parse(e.to_string()),
            NetError::Redirect { status, location } => MetricsError::Http {
                status,
                message: format!(
                    "redirect to {location} refused: {}",
                    crate::net::policy::REDIRECTS
                ),
            },
        }
    }
}

/// The answer to one poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    /// One result per metric, in the rollout's metric order.
    pub metrics: Vec<Result<CohortValues, MetricsError>>,
    /// Warnings the source returned (Prometheus `warnings`), shown in the event log.
    pub warnings: Vec<String>,
}

/// History for one metric: (Unix ms, values) ascending.
pub type Backfill = Vec<Vec<(i64, CohortValues)>>;

/// A metrics source.
pub trait MetricsSource: Send + Sync {
    /// Short description for the header (`prometheus http://127.0.0.1:9090`).
    fn describe(&self) -> String;

    /// One poll of every metric, at the source's current time; counts are taken since
    /// `ctx.step_start_ms`.
    fn poll(&self, ctx: PollCtx) -> BoxFuture<'_, Result<Poll, MetricsError>>;

    /// History for every metric between `start_ms` and `end_ms`, one range query per metric.
    /// Sources without history return empty series.
    fn backfill(
        &self,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<'_, Result<Backfill, MetricsError>>;
}
