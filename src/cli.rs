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
    /// $`XDG_CONFIG_HOME/rollwatch/config.toml`.
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
    /// `NO_COLOR` selects monochrome.
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
    /// Watch the rollouts of a config file.
    Watch(WatchArgs),
    /// Validate a config file without connecting to anything.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// One poll of every rollout, printed; exit code 0 nothing fires, 1 a warning fires,
    /// 2 a critical fires, 3 a backend could not be read.
    Status(StatusArgs),
    /// Set a rollout's percentage (guarded, audited write; for runbooks and scripts). Polls
    /// first and refuses to raise it while a hold/rollback rule fires or is unknown or a
    /// backend fails, unless --force. Exit code 0 written (re-read confirms), 4 conflict,
    /// 5 refused, failed or not applied, 6 unknown outcome.
    Set(SetArgs),
    /// Roll a rollout back to 0 % (guarded, audited write, even if the value moved; never
    /// blocked by rules). Exit codes as for `set`.
    Rollback(RollbackArgs),
    /// Steer one rollout without a terminal (a systemd unit, a CI job): the same rules, step
    /// plan and guarded writes as `watch`, armed from the start (auto-advance and
    /// auto-rollback), one JSON line per event. Takes a lease in the flag backend so only one
    /// guard steers a rollout. Exit code 0 COMPLETE (reached 100 % or --until, and baked),
    /// 10 ROLLED BACK, 11 stopped by an operator (SIGTERM/SIGHUP/SIGINT, rolled back or
    /// switched off by someone else, automation handed over), 12 gave up on lost data,
    /// 2 bad config or the rollout is guarded already.
    Guard(GuardArgs),
    /// Serve a simulated service over HTTP: Prometheus metrics at /metrics and a flag API at
    /// /api/flags/{name} whose percentage drives the simulated traffic split.
    Simulate(SimulateArgs),
    /// Play a recording made with `--record` in the dashboard: space pause, ←/→ seek 10 s,
    /// +/- speed, q quit. Nothing is polled and nothing can be written.
    Replay(ReplayArgs),
    /// Print a shell completion script (e.g. `rollwatch completions bash > /etc/bash_completion.d/rollwatch`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `rollwatch man | man -l -`; with `--out-dir`,
    /// write rollwatch.1 and one page per subcommand (rollwatch-demo.1, ...) there instead.
    Man {
        /// Write every page into this directory (e.g. /usr/local/share/man/man1).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// `--record FILE`.
#[derive(Debug, Args, Clone, Default)]
pub struct RecordArg {
    /// Record the session to FILE (JSON lines: every poll result, flag read, write result
    /// and key, with clock times) for `rollwatch replay`. Never overwrites; holds no tokens.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// `rollwatch replay`.
#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// The recording (made with `--record`).
    pub file: PathBuf,
    /// Clock seconds per real second (default: the speed it was recorded at).
    #[arg(long)]
    pub speed: Option<f64>,
}

/// Where the config comes from.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// The config file (default: ./rollwatch.toml, then $`XDG_CONFIG_HOME/rollwatch/config.toml`).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `rollwatch watch`.
#[derive(Debug, Args, Clone)]
pub struct WatchArgs {
    /// The config.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Poll interval, overriding the file (`5s`, `500ms`, `1m`).
    #[arg(long, value_name = "DURATION")]
    pub refresh: Option<String>,
    /// Recording.
    #[command(flatten)]
    pub record: RecordArg,
}

/// `rollwatch status`.
#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// The config.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `rollwatch set`.
#[derive(Debug, Args, Clone)]
pub struct SetArgs {
    /// The config.
    #[command(flatten)]
    pub config: ConfigArg,
    /// The rollout (required when the config has several).
    #[arg(long)]
    pub rollout: Option<String>,
    /// The new percentage, 0..=100.
    pub percent: u8,
    /// Expected current percentage; refused as a conflict if the flag is elsewhere.
    /// Without it, the value read just before writing is the expected one.
    #[arg(long)]
    pub expect: Option<u8>,
    /// Write even though a `hold`/`rollback` rule is FIRING or UNKNOWN or a backend is in
    /// error (steering forward is refused with exit 5 otherwise); the audit record names what
    /// was forced past. Never needed to lower the percentage.
    #[arg(long)]
    pub force: bool,
}

/// `rollwatch rollback`.
#[derive(Debug, Args, Clone)]
pub struct RollbackArgs {
    /// The config.
    #[command(flatten)]
    pub config: ConfigArg,
    /// The rollout (required when the config has several).
    #[arg(long)]
    pub rollout: Option<String>,
}

/// `rollwatch guard`.
#[derive(Debug, Args, Clone)]
pub struct GuardArgs {
    /// The config.
    #[command(flatten)]
    pub config: ConfigArg,
    /// The rollout (required when the config has several).
    #[arg(long)]
    pub rollout: Option<String>,
    /// Stop (exit 0) once this step has baked, e.g. a CI job waiting for 50 %; one of the
    /// rollout's steps. The guard never advances past it.
    #[arg(long, value_name = "PERCENT")]
    pub until: Option<u8>,
    /// Give up (exit 12) after this long without fresh flag or metrics data; nothing is
    /// advanced meanwhile.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub give_up_after: String,
    /// Append the event lines to FILE instead of writing them to stdout.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// How long the lease holds unrenewed; it is renewed every third of that.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub lease_ttl: String,
    /// The lease holder's name shown to dashboards (default guard@HOST).
    #[arg(long, value_name = "NAME")]
    pub holder: Option<String>,
    /// Poll interval, overriding the file (`5s`, `500ms`, `1m`).
    #[arg(long, value_name = "DURATION")]
    pub refresh: Option<String>,
    /// Clock seconds per real second, for demos and tests with an in-process flag only.
    #[arg(long, hide = true)]
    pub speed: Option<f64>,
}

/// `rollwatch demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Scenario of the main rollout: healthy, regression (errors climb once the new path
    /// serves ≥ 25 %), leak (new path memory grows), same (new path identical to legacy),
    /// srm (new path gets half the share the flag says).
    #[arg(long, default_value = "regression")]
    pub scenario: String,
    /// Seed of the simulator: the same seed replays the same traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulated seconds per real second (e.g. 60 compresses an hour into a minute).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Poll interval in simulated time (default: one poll per real second, i.e. `speed` s).
    #[arg(long, value_name = "DURATION")]
    pub refresh: Option<String>,
    /// Start with auto-advance armed on every rollout (`a` toggles it, `p` pauses).
    #[arg(long)]
    pub auto_advance: bool,
    /// Roll back automatically when a rule with action `rollback` fires.
    #[arg(long)]
    pub auto_rollback: bool,
    /// Show the keys as they are pressed, on the key-hint line (for recorded demos and
    /// screencasts).
    #[arg(long)]
    pub show_keys: bool,
    /// Recording.
    #[command(flatten)]
    pub record: RecordArg,
}

/// `rollwatch simulate`.
#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Address to listen on (keep it on loopback unless you mean to expose it).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// Scenario of the new path: healthy, regression, leak, same, srm.
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
    /// Serve a fleet of N flags named flag-000 … instead of one (each with its own split,
    /// scenario and service, a few regressing; from --seed), their series labelled
    /// `feature_flag_key` and `feature_flag_result_variant` (off/on); `GET /api/flags` lists
    /// them. --scenario, --percent, --flag and --rps then do not apply.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub flags: Option<u16>,
}

/// Writes the man page (roff), generated from these definitions: the top-level page with
/// every subcommand and its options.
///
/// # Errors
/// When writing fails.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let cmd = <Cli as clap::CommandFactory>::command();
    clap_mangen::Man::new(cmd).render(out)
}

/// Writes rollwatch.1 and a page per subcommand into `dir` (created if missing); returns
/// the files written, sorted.
///
/// # Errors
/// When the directory or a file cannot be written.
pub fn man_pages(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "1")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("rollwatch"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A completion script for `shell`.
#[must_use]
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "rollwatch", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
