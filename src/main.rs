//! rollwatch's binary edge: parse arguments, install the error and panic hooks, dispatch.

use std::fmt::Display;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use color_eyre::eyre::{WrapErr, eyre};

use rollwatch::app::run::{Setup, run_recorded_on};
use rollwatch::app::term::install_hooks;
use rollwatch::audit::AuditLog;
use rollwatch::cli::{
    Cli, Commands, ConfigArg, DemoArgs, GuardArgs, RecordArg, ReplayArgs, SimulateArgs, UiOpts,
};
use rollwatch::clock::{Clock, ScaledClock, SystemClock};
use rollwatch::commands;
use rollwatch::config::{self, Config};
use rollwatch::flags::write::WriteKind;
use rollwatch::record::{RecordMeta, Recorder};
use rollwatch::replay::{Player, Recording};
use rollwatch::sim::Scenario;
use rollwatch::sim::demo::{DemoOptions, build};
use rollwatch::ui::theme;

fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Says `rollwatch: {text}` on stderr. The write may fail and is allowed to: after an SSH drop
/// stderr is a hung-up terminal, nobody is there to read it, and `eprintln!` would panic.
fn say(text: impl Display) {
    let _ = writeln!(io::stderr(), "rollwatch: {text}");
}

/// Writes a command's answer to stdout; a reader that went away (a closed pipe, a dropped SSH
/// session) is not an error of the command, whose exit code still says how it went.
fn answer(text: impl Display) {
    let _ = write!(io::stdout(), "{text}");
}

fn runtime() -> color_eyre::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("starting the async runtime")
}

fn audit(ui: &UiOpts, cfg: Option<&Config>) -> AuditLog {
    AuditLog::new(
        ui.audit_log
            .clone()
            .or_else(|| cfg.and_then(|c| c.audit_log.clone()))
            .unwrap_or_else(AuditLog::default_path),
    )
}

/// The fleets' discovery while watching: every 30 polls (a minute at a 2 s refresh).
type Discovery = Option<(rollwatch::app::discovery::Shared, i64)>;

/// The rediscovery of `cfg`'s fleets, when it has any (the written rollouts read again).
fn rediscovery(arg: &ConfigArg, cfg: &Config) -> color_eyre::Result<Discovery> {
    if cfg.fleets.is_empty() {
        return Ok(None);
    }
    let written = config::load(&config_path(arg)?)
        .map_err(|e| eyre!("{e}"))?
        .rollouts
        .into_iter()
        .map(|r| r.rollout.name)
        .collect();
    let d = rollwatch::backends::Rediscovery::new(cfg, written, Arc::new(SystemClock));
    let every = i64::try_from(cfg.refresh.as_millis()).unwrap_or(i64::MAX / 64) * 30;
    Ok(Some((Arc::new(d), every)))
}

/// Runs the dashboard; `fleet`: open on the fleet table when there are several rollouts.
fn dashboard(
    rt: tokio::runtime::Runtime,
    setup: Setup,
    record: &RecordArg,
    meta: RecordMeta,
    fleet: bool,
    discovery: Discovery,
) -> color_eyre::Result<()> {
    // Created before the terminal is taken, so a bad path is a plain error message.
    let mut rec = match &record.record {
        Some(path) => Some(Recorder::create(path, meta).map_err(|e| eyre!("--record: {e}"))?),
        None => None,
    };
    let stopped = rt.block_on(run_recorded_on(setup, rec.as_mut(), fleet, discovery))?;
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Some(reason) = stopped {
        say(format_args!("stopped: {reason}"));
    }
    if let Some(rec) = rec {
        let n = rec.lines();
        match rec.finish() {
            Ok(path) => say(format_args!("recorded {n} messages to {}", path.display())),
            Err(e) => say(format_args!("the recording stopped early: {e}")),
        }
    }
    Ok(())
}

fn replay(args: &ReplayArgs, ui: &UiOpts) -> color_eyre::Result<()> {
    if let Some(s) = args.speed
        && !(s.is_finite() && s > 0.0 && s <= 1024.0)
    {
        return Err(eyre!("--speed must be above 0 and at most 1024, got {s}"));
    }
    let rec = Recording::load(&args.file).map_err(|e| eyre!("{e}"))?;
    if rec.truncated {
        say("the last line of the recording was cut short; skipped it");
    }
    let themes = theme::load(ui.theme.as_deref(), no_color()).map_err(|e| eyre!(e))?;
    let player = Player::new(rec, args.speed, ui.ascii || !utf8_locale());
    let rt = runtime()?;
    let stopped = rt.block_on(rollwatch::replay::run(player, themes))?;
    rt.shutdown_timeout(Duration::from_millis(200));
    if let Some(reason) = stopped {
        say(format_args!("stopped: {reason}"));
    }
    Ok(())
}

fn demo(args: &DemoArgs, ui: &UiOpts) -> color_eyre::Result<()> {
    let scenario: Scenario = args.scenario.parse().map_err(|e: String| eyre!(e))?;
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= 100_000.0) {
        return Err(eyre!(
            "--speed must be a number above 0 and at most 100000, got {}",
            args.speed
        ));
    }
    let themes = theme::load(ui.theme.as_deref(), no_color()).map_err(|e| eyre!(e))?;
    let now = SystemClock.now_ms();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(now, args.speed));
    let (mut rollouts, _) = build(
        DemoOptions {
            seed: args.seed,
            scenario,
        },
        &clock,
        now,
    );
    for (r, _) in &mut rollouts {
        r.automation.auto_advance = args.auto_advance;
        r.automation.auto_rollback = args.auto_rollback;
    }
    #[allow(clippy::cast_possible_truncation)]
    let refresh_ms = match &args.refresh {
        Some(r) => {
            let d = config::duration::parse(r).map_err(|e| eyre!("--refresh: {e}"))?;
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(100)
        }
        None => (1000.0 * args.speed).round().max(1000.0) as i64,
    };
    let meta = RecordMeta {
        clock_speed: args.speed,
        command: format!("demo --scenario {} --seed {}", args.scenario, args.seed),
    };
    let setup = Setup {
        rollouts,
        clock,
        refresh_ms,
        // Tick at half the real poll interval (250 ms at most), so a fast --speed still polls
        // on time.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        tick: Duration::from_millis(((refresh_ms as f64 / args.speed / 2.0) as u64).clamp(5, 250)),
        read_only: ui.read_only,
        notify: true,
        show_keys: args.show_keys,
        themes,
        ascii: ui.ascii || !utf8_locale(),
        audit: audit(ui, None),
        deadline: Duration::from_secs(2),
        log_file: Some(rollwatch::paths::state_dir().join("rollwatch.log")),
    };
    // The demo opens on its scenario's rollout; `F` or `Esc` shows the other two.
    dashboard(runtime()?, setup, &args.record, meta, false, None)
}

fn watch_meta(path: Option<&PathBuf>) -> RecordMeta {
    RecordMeta {
        clock_speed: 1.0,
        command: path.map_or_else(
            || "watch".to_owned(),
            |p| format!("watch --config {}", p.display()),
        ),
    }
}

fn config_path(arg: &ConfigArg) -> color_eyre::Result<PathBuf> {
    arg.config.clone().or_else(config::discover).ok_or_else(|| {
        eyre!(
            "no config found (./rollwatch.toml, $XDG_CONFIG_HOME/rollwatch/config.toml).\n\
             Start the simulated rollout with `rollwatch demo`, or write a config: see \
             examples/ and `rollwatch check-config FILE`."
        )
    })
}

/// The config, its fleets discovered, and the runtime they were discovered on: the one the
/// command then runs on (connections pooled by the discovery stay usable).
fn load(arg: &ConfigArg, ui: &UiOpts) -> color_eyre::Result<(Config, tokio::runtime::Runtime)> {
    let path = config_path(arg)?;
    let mut cfg = config::load(&path).map_err(|e| eyre!("{e}"))?;
    let rt = runtime()?;
    if !cfg.fleets.is_empty() {
        rt.block_on(rollwatch::backends::discover(&mut cfg))
            .map_err(|e| eyre!(e))?;
        if cfg.rollouts.is_empty() {
            return Err(eyre!(
                "{}: no rollouts: the fleets found no flags",
                path.display()
            ));
        }
    }
    cfg.read_only |= ui.read_only;
    if ui.theme.is_some() {
        cfg.theme.clone_from(&ui.theme);
    }
    Ok((cfg, rt))
}

fn setup_from(cfg: &Config, ui: &UiOpts) -> color_eyre::Result<Setup> {
    let themes = theme::load(cfg.theme.as_deref(), no_color()).map_err(|e| eyre!(e))?;
    commands::setup(
        cfg,
        themes,
        ui.ascii || !utf8_locale(),
        audit(ui, Some(cfg)),
    )
    .map_err(|e| eyre!(e))
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn guard(g: &GuardArgs, ui: &UiOpts) -> color_eyre::Result<i32> {
    let (mut cfg, rt) = load(&g.config, ui)?;
    if let Some(r) = &g.refresh {
        cfg.refresh = config::duration::parse(r).map_err(|e| eyre!("--refresh: {e}"))?;
    }
    let duration =
        |key: &str, v: &str| config::duration::parse(v).map_err(|e| eyre!("--{key}: {e}"));
    let plan = commands::GuardPlan {
        rollout: g.rollout.clone(),
        until: g.until,
        give_up_after: duration("give-up-after", &g.give_up_after)?,
        events: g.events.clone(),
        lease_ttl: duration("lease-ttl", &g.lease_ttl)?,
        holder: g.holder.clone(),
        speed: g.speed,
    };
    let log = audit(ui, Some(&cfg));
    let code = rt
        .block_on(commands::guard(cfg, plan, log))
        .map_err(|e| eyre!(e))?;
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(i32::from(code))
}

fn simulate(args: &SimulateArgs) -> color_eyre::Result<()> {
    use rollwatch::sim::server::{SimServer, SimServerOptions};
    let scenario: Scenario = args.scenario.parse().map_err(|e: String| eyre!(e))?;
    let mut profile = rollwatch::sim::Profile::checkout();
    if let Some(rps) = args.rps {
        if !(rps.is_finite() && rps > 0.0 && rps <= 100_000.0) {
            return Err(eyre!("--rps must be above 0 and at most 100000, got {rps}"));
        }
        profile.rps = rps;
    }
    let opts = SimServerOptions {
        scenario,
        seed: args.seed,
        percent: args.percent,
        flag: args.flag.clone(),
        profile,
        warmup_s: 0,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("starting the async runtime")?;
    rt.block_on(async {
        let server = match args.flags {
            None => SimServer::bind(args.listen, opts).await,
            Some(n) => {
                let flags = rollwatch::sim::fleet::fleet(usize::from(n), args.seed);
                SimServer::bind_fleet(args.listen, flags, 0, Arc::new(SystemClock)).await
            }
        }
        .wrap_err_with(|| format!("binding {}", args.listen))?;
        let addr = server.local_addr()?;
        let flags = match args.flags {
            None => format!("flag: /api/flags/{}", args.flag),
            Some(n) => format!("{n} flags: /api/flags"),
        };
        answer(format_args!(
            "rollwatch simulate: listening on http://{addr} (metrics: /metrics, {flags})\n"
        ));
        server.serve(shutdown_signal()).await.wrap_err("serving")
    })
}

/// Expected failures (no config, a bad config, an unset token variable, a port in use) are
/// said in one plain line and exit with 2; only bugs (panics) get color-eyre's full report.
fn main() -> ExitCode {
    if let Err(e) = install_hooks() {
        say(format_args!("cannot install the error report hooks: {e}"));
    }
    match run_main() {
        Ok(code) => code,
        Err(e) => {
            say(format_args!("{e:#}"));
            ExitCode::from(2)
        }
    }
}

/// `check-config`: 0 and a summary when the file loads, 2 and the located error when not.
fn check_config(file: &std::path::Path) -> i32 {
    match config::load(file) {
        Ok(cfg) => {
            let fleets = match cfg.fleets.len() {
                0 => String::new(),
                1 => ", 1 fleet".to_owned(),
                n => format!(", {n} fleets"),
            };
            answer(format_args!(
                "{}: ok ({} rollout{}{fleets})\n",
                file.display(),
                cfg.rollouts.len(),
                if cfg.rollouts.len() == 1 { "" } else { "s" }
            ));
            0
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "{e}");
            2
        }
    }
}

fn run_main() -> color_eyre::Result<ExitCode> {
    let cli = Cli::parse();
    let ui = &cli.ui;
    let code = match &cli.command {
        Some(Commands::Demo(args)) => demo(args, ui).map(|()| 0)?,
        Some(Commands::Simulate(args)) => simulate(args).map(|()| 0)?,
        None => {
            let arg = ConfigArg { config: None };
            let (cfg, rt) = load(&arg, ui)?;
            let discovery = rediscovery(&arg, &cfg)?;
            let meta = watch_meta(None);
            dashboard(
                rt,
                setup_from(&cfg, ui)?,
                &RecordArg::default(),
                meta,
                true,
                discovery,
            )
            .map(|()| 0)?
        }
        Some(Commands::Watch(w)) => {
            let (mut cfg, rt) = load(&w.config, ui)?;
            if let Some(r) = &w.refresh {
                cfg.refresh = config::duration::parse(r).map_err(|e| eyre!("--refresh: {e}"))?;
            }
            let meta = watch_meta(w.config.config.as_ref());
            let discovery = rediscovery(&w.config, &cfg)?;
            dashboard(rt, setup_from(&cfg, ui)?, &w.record, meta, true, discovery).map(|()| 0)?
        }
        Some(Commands::Replay(args)) => replay(args, ui).map(|()| 0)?,
        Some(Commands::Guard(g)) => guard(g, ui)?,
        Some(Commands::Completions { shell }) => {
            answer(rollwatch::cli::completions(*shell));
            0
        }
        Some(Commands::Man { out_dir: None }) => {
            rollwatch::cli::man_page(&mut std::io::stdout())?;
            0
        }
        Some(Commands::Man { out_dir: Some(dir) }) => {
            let files = rollwatch::cli::man_pages(dir)
                .wrap_err_with(|| format!("writing man pages to {}", dir.display()))?;
            for f in files {
                answer(format_args!("{}\n", f.display()));
            }
            0
        }
        Some(Commands::CheckConfig { file }) => check_config(file),
        Some(Commands::Status(s)) => {
            let (cfg, rt) = load(&s.config, ui)?;
            let setup = setup_from(&cfg, ui)?;
            let st = rt.block_on(commands::poll_once(&setup));
            let out = commands::collect(&st);
            if s.json {
                answer(format_args!("{}\n", serde_json::to_string_pretty(&out)?));
            } else {
                answer(commands::table(&out));
            }
            out.exit_code
        }
        Some(Commands::Set(a)) => {
            let (cfg, rt) = load(&a.config, ui)?;
            if a.percent > 100 {
                return Err(eyre!("percent {}: expected 0..=100", a.percent));
            }
            let setup = setup_from(&cfg, ui)?;
            let (msg, code) = rt
                .block_on(commands::write(
                    &setup,
                    a.rollout.as_deref(),
                    WriteKind::SetPercent(a.percent),
                    a.expect,
                    a.force,
                ))
                .map_err(|e| eyre!(e))?;
            answer(format_args!("{msg}\n"));
            code
        }
        Some(Commands::Rollback(a)) => {
            let (cfg, rt) = load(&a.config, ui)?;
            let setup = setup_from(&cfg, ui)?;
            let (msg, code) = rt
                .block_on(commands::write(
                    &setup,
                    a.rollout.as_deref(),
                    WriteKind::Rollback(0),
                    None,
                    false,
                ))
                .map_err(|e| eyre!(e))?;
            answer(format_args!("{msg}\n"));
            code
        }
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
