//! A synchronous driver of the Elm loop without a terminal: every command is awaited inline
//! and its message fed back into `update` at once. Used by the headless commands (one poll,
//! then print) and by tests and benches that need a real state from real backends.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::effects::Effects;
use super::msg::{Command, Msg};
use super::run::{Setup, initial_state};
use super::state::State;
use super::update::update;
use crate::clock::Clock;
use crate::record::Recorder;

/// State plus effects, driven message by message.
pub struct Driver {
    /// The state.
    pub state: State,
    effects: Effects,
    clock: Arc<dyn Clock>,
    recorder: Option<Recorder>,
    // Keeps the channel open; results are fed back inline instead.
    _rx: mpsc::Receiver<Msg>,
}

impl Driver {
    /// A driver over a setup, at the setup clock's time.
    #[must_use]
    pub fn new(setup: &Setup) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let effects = super::run::effects(setup, tx);
        Self {
            state: initial_state(setup, setup.clock.now_ms()),
            effects,
            clock: setup.clock.clone(),
            recorder: None,
            _rx: rx,
        }
    }

    /// Records every message from now on (the header describes the current state).
    pub fn record_to(&mut self, mut rec: Recorder) {
        rec.begin(&self.state);
        self.recorder = Some(rec);
    }

    /// Stops recording and returns the recorder (to finish it).
    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    /// Applies a message and runs every command it causes, transitively, to completion.
    /// Returns the commands that were run, in order (tests assert on them).
    pub async fn send(&mut self, msg: Msg) -> Vec<Command> {
        let mut ran = Vec::new();
        let mut queue = VecDeque::from([msg]);
        while let Some(m) = queue.pop_front() {
            if let Some(r) = &mut self.recorder {
                r.record(self.clock.now_ms(), &m);
            }
            for c in update(&mut self.state, m) {
                ran.push(c.clone());
                if let Some(next) = self.effects.perform(c).await {
                    queue.push_back(next);
                }
            }
        }
        if let Some(r) = &mut self.recorder {
            r.flush();
        }
        ran
    }

    /// Runs one command through the effects without `update` and returns its message: for a
    /// caller that judges the result itself (the CLI's `set`/`rollback` take the same guarded
    /// write path as the keys).
    pub async fn perform(&self, cmd: Command) -> Option<Msg> {
        self.effects.perform(cmd).await
    }

    /// A tick at the clock's current time.
    pub async fn tick(&mut self) -> Vec<Command> {
        let now = self.clock.now_ms();
        self.send(Msg::Tick(now)).await
    }
}
