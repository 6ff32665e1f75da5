//! The live loop shared by every frontend: `watch`/`demo` (the terminal, [`super::run`]) and
//! `guard` (JSON lines, [`super::headless`]). One [`Session`] owns the state and the effects;
//! every message goes through [`Session::apply`] (recorded, applied by `update`, its commands
//! started, the log file following). A [`Frontend`] only says what came from outside (keys,
//! signals) and shows the state after each batch (a frame, event lines). Same update, same
//! rules, same guarded write path, whatever shows it.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::effects::Effects;
use super::msg::{Command, Msg};
use super::state::State;
use super::update::update;
use crate::clock::Clock;
use crate::record::Recorder;

/// Appends the events logged since the last call to rollwatch's own log file (never to the
/// terminal it draws on). Best effort: a full disk must not stop the dashboard.
pub(crate) struct LogFile {
    pub(crate) path: Option<std::path::PathBuf>,
    pub(crate) written: u64,
}

impl LogFile {
    fn follow(&mut self, s: &State) {
        let new = usize::try_from(s.logged - self.written).unwrap_or(usize::MAX);
        self.written = s.logged;
        let Some(path) = &self.path else { return };
        if new == 0 {
            return;
        }
        let mut text = String::new();
        for e in s.events.iter().skip(s.events.len().saturating_sub(new)) {
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!(
                    "{} {:?} [{}] {}\n",
                    Self::time(e.at_ms),
                    e.level,
                    e.rollout,
                    e.text
                ),
            );
        }
        append(path, &text);
    }

    /// The last line: why the session ended. After an SSH drop this file is the only place
    /// left to say it.
    pub(crate) fn stopped(&self, at_ms: i64, reason: Option<&str>) {
        if let Some(path) = &self.path {
            let why = reason.unwrap_or("quit");
            append(
                path,
                &format!("{} Info [rollwatch] stopped: {why}\n", Self::time(at_ms)),
            );
        }
    }

    fn time(at_ms: i64) -> String {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms)
            .map_or_else(String::new, |d| d.to_rfc3339())
    }
}

/// Appends `text` to `path` (one `write` on a file opened for appending, so it reaches the
/// OS before the call returns), creating the folder when needed.
pub(crate) fn append(path: &std::path::Path, text: &str) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// What shows a session and what feeds it from outside.
pub(crate) trait Frontend {
    /// Shows the state after a batch of messages (a frame, event lines). Returns a message
    /// that ends the session when the output failed or the frontend is done.
    fn present(&mut self, s: &mut State) -> Option<Msg>;

    /// The next message from outside (a key, a signal), or `None` to look at the state again
    /// (a frame is due). Cancel-safe: it is one branch of a `select!`.
    fn next(&mut self, s: &State) -> impl Future<Output = Option<Msg>>;

    /// A message is about to go through `update`.
    fn before(&mut self, _m: &Msg, _s: &State) {}

    /// A message went through `update` and asked for `cmds`.
    fn after(&mut self, _cmds: &[Command], _s: &State) {}
}

/// A live session: the state, the effects and what follows every message.
pub(crate) struct Session<'r> {
    pub(crate) state: State,
    pub(crate) effects: Effects,
    pub(crate) rx: mpsc::Receiver<Msg>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rec: Option<&'r mut Recorder>,
    pub(crate) log: LogFile,
}

impl Session<'_> {
    /// Applies a batch of messages in order, then flushes the recording and the log file.
    pub(crate) fn apply(&mut self, batch: Vec<Msg>, front: &mut impl Frontend) {
        for m in batch {
            if let Some(r) = self.rec.as_deref_mut() {
                r.record(self.clock.now_ms(), &m);
            }
            front.before(&m, &self.state);
            let cmds = update(&mut self.state, m);
            front.after(&cmds, &self.state);
            for c in cmds {
                self.effects.run(c);
            }
        }
        if let Some(r) = self.rec.as_deref_mut() {
            r.flush();
        }
        self.log.follow(&self.state);
    }

    /// Runs until the state says quit: ticks every `tick` (real time), messages from the
    /// effects and the frontend, coalesced into batches. Returns the reason it stopped when
    /// not a plain quit; the log file's last line says it.
    pub(crate) async fn drive(
        &mut self,
        front: &mut impl Frontend,
        tick: Duration,
    ) -> Option<String> {
        let mut tick = tokio::time::interval(tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The first tick is immediate and `Started` is that tick.
        tick.tick().await;
        let clock = self.clock.clone();
        // Polls start, dangling intents are reconciled.
        self.apply(vec![Msg::Started(clock.now_ms())], front);
        let mut stop_reason = None;
        loop {
            if self.state.quit {
                break;
            }
            let msg = if let Some(m) = front.present(&mut self.state) {
                m
            } else {
                tokio::select! {
                    _ = tick.tick() => Msg::Tick(clock.now_ms()),
                    m = front.next(&self.state) => match m {
                        Some(m) => m,
                        None => continue,
                    },
                    Some(m) = self.rx.recv() => m,
                }
            };
            if let Msg::Shutdown(r) = &msg {
                stop_reason = Some(r.clone());
            }
            let mut batch = vec![msg];
            // Coalesce: everything already queued goes into the same batch.
            while let Ok(m) = self.rx.try_recv() {
                batch.push(m);
            }
            self.apply(batch, front);
        }
        self.log.stopped(clock.now_ms(), stop_reason.as_deref());
        stop_reason
    }
}
