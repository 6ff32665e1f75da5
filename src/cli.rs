//! Command-line definitions (clap).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Watch and steer feature-flag rollouts: legacy vs new, side by side.
#[derive(Debug, Parser)]
#[command(name = "rollwatch", version, about, long_about = None,
    after_help = "Audit log: $XDG_STATE_HOME/rollwatch/audit.jsonl (default ~/.local/state/rollwatch/audit.jsonl), \
                  change with --audit-log.\nStart with `rollwatch demo`.")]
pub struct Cli {
    /// What to do; without one, rollwatch looks for ./rollwatch.toml, then
    /// $XDG_CONFIG_HOME/rollwatch/config.toml.
    #[command(subcommand)]
    pub command: Option<Commands>,
    /// Options shared by the dashboard commands.
    #[command(flatten)]
    pub ui: UiOpts,
}

/// Options of the dashboard.
#[derive(Debug, Args, Clone, Default)]
pub struct UiOpts {
    /// Theme: default, light, high-contrast, monochrome, or a path to a theme TOML file.
    /// NO_COLOR selects monochrome.
    #[arg(long, global = true)]
    pub theme: Option<String>,
    /// ASCII glyphs only (automatic when the locale is not UTF-8).
    #[arg(long, global = true)]
    pub ascii: bool,
    /// Disable every write: keys and commands that change a flag are refused.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Append-only audit log of every write attempt (JSON lines).
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Run a simulated rollout in-process: no network, no config file.
    Demo(DemoArgs),
    /// Serve a simulated service over HTTP: Prometheus metrics at /metrics and a flag API at
    /// /api/flags/{name} whose percentage drives the simulated traffic split.
    Simulate(SimulateArgs),
}

/// `rollwatch demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Scenario of the main rollout: healthy, regression (errors climb once the new path
    /// serves ≥ 25 %), leak (new path memory grows).
    #[arg(long, default_value = "regression")]
    pub scenario: String,
    /// Seed of the simulator: the same seed replays the same traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulated seconds per real second (e.g. 60 compresses an hour into a minute).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

/// `rollwatch simulate`.
#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Address to listen on (keep it on loopback unless you mean to expose it).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// Scenario of the new path: healthy, regression, leak.
    #[arg(long, default_value = "healthy")]
    pub scenario: String,
    /// Seed of the simulator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Initial rollout percentage (0 to 100).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub percent: u8,
    /// Name of the flag served at /api/flags/{name}.
    #[arg(long, default_value = "checkout-batch-queries")]
    pub flag: String,
    /// Requests per second over both paths (default: the checkout profile's 120).
    #[arg(long)]
    pub rps: Option<f64>,
}
