//! Messages into `update` and commands out of it.

use crossterm::event::KeyEvent;

use crate::flags::FlagError;
use crate::flags::FlagEvent;
use crate::flags::write::{WriteRequest, WriteResult};
use crate::metrics::{Backfill, MetricsError, Poll, PollCtx};
use crate::model::FlagSnapshot;

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// Time passed; carries the clock's now (Unix ms).
    Tick(i64),
    /// The terminal was resized.
    Resize,
    /// A flag read finished.
    FlagRead {
        /// Rollout index.
        rollout: usize,
        /// When the answer arrived (clock ms).
        at_ms: i64,
        /// What it said.
        result: Result<FlagSnapshot, FlagError>,
    },
    /// The backend's history of flag changes.
    FlagEvents {
        /// Rollout index.
        rollout: usize,
        /// When the answer arrived.
        at_ms: i64,
        /// The events, newest last.
        result: Result<Vec<FlagEvent>, FlagError>,
    },
    /// A metrics poll finished.
    MetricsPolled {
        /// Rollout index.
        rollout: usize,
        /// When the answer arrived (clock ms).
        at_ms: i64,
        /// What it said.
        result: Result<Poll, MetricsError>,
    },
    /// The start-up history backfill finished.
    Backfilled {
        /// Rollout index.
        rollout: usize,
        /// The history or why there is none.
        result: Result<Backfill, MetricsError>,
    },
    /// A guarded write finished (ok, conflict, refused, error, unknown).
    WriteDone {
        /// Rollout index.
        rollout: usize,
        /// When it finished.
        at_ms: i64,
        /// Outcome and the flag re-read afterwards.
        result: Box<WriteResult>,
    },
    /// Dangling write intents from an earlier run were reconciled against a fresh read.
    Reconciled {
        /// Rollout index.
        rollout: usize,
        /// One line per reconciled intent.
        notes: Vec<String>,
    },
    /// Stop now (signal, terminal gone).
    Shutdown(String),
}

/// Something `update` asks the effects to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Read the rollout's flag.
    ReadFlag(usize),
    /// Read the flag's change history from the backend.
    ReadFlagEvents(usize),
    /// Poll the rollout's metrics (rollout index; the step start for counts).
    PollMetrics(usize, PollCtx),
    /// Backfill history between two times with a step, all in ms.
    Backfill {
        /// Rollout index.
        rollout: usize,
        /// From.
        start_ms: i64,
        /// To.
        end_ms: i64,
        /// Step.
        step_ms: i64,
    },
    /// Perform a confirmed write through the guarded path.
    Write {
        /// Rollout index.
        rollout: usize,
        /// The confirmed request.
        request: WriteRequest,
    },
    /// Close dangling intents in the audit log (a crash mid-write) with an `unknown`
    /// outcome and the flag as re-read now.
    Reconcile(usize),
    /// Leave the event loop.
    Quit,
}
