//! The application core, in The Elm Architecture: one [`State`], messages ([`Msg`]) that
//! describe what happened, a pure [`update`] that changes the state and returns
//! [`Command`]s, and effects that run those commands on tokio tasks and report back as
//! messages on one bounded channel. The event loop in [`run`] maps keys and clicks to
//! actions; [`term`] owns the terminal.

pub mod also;
mod automation;
pub mod bake;
pub mod discovery;
pub mod driver;
pub mod effects;
pub mod fleet;
pub mod guard;
pub mod headless;
pub mod keymap;
pub mod lifecycle;
pub mod msg;
pub mod notify;
pub mod propose;
pub mod run;
mod session;
pub mod state;
pub mod term;
pub mod timeline;
pub mod update;
pub mod verdicts;

pub use msg::{Command, Msg};
pub use state::{LogLevel, Mode, PendingWrite, RolloutState, State, View};
pub use update::update;
