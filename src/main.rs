//! rollwatch's binary edge: parse arguments, install the error and panic hooks, dispatch.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use color_eyre::eyre::{WrapErr, eyre};

use rollwatch::app::run::{Setup, install_panic_hook, run};
use rollwatch::audit::AuditLog;
use rollwatch::cli::{Cli, Commands, DemoArgs, SimulateArgs, UiOpts};
use rollwatch::clock::{Clock, ScaledClock, SystemClock};
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
    let (rollouts, _) = build(
        DemoOptions {
            seed: args.seed,
            scenario,
        },
        &clock,
        now,
    );
    #[allow(clippy::cast_possible_truncation)]
    let refresh_ms = (1000.0 * args.speed).round().max(1000.0) as i64;
    let setup = Setup {
        rollouts,
        clock,
        refresh_ms,
        tick: Duration::from_millis(250),
        read_only: ui.read_only,
        themes,
        ascii: ui.ascii || !utf8_locale(),
        audit: AuditLog::new(ui.audit_log.clone().unwrap_or_else(AuditLog::default_path)),
        deadline: Duration::from_secs(2),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("starting the async runtime")?;
    if let Some(reason) = rt.block_on(run(setup))? {
        eprintln!("rollwatch: stopped: {reason}");
    }
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(())
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
        let server = SimServer::bind(args.listen, opts)
            .await
            .wrap_err_with(|| format!("binding {}", args.listen))?;
        let addr = server.local_addr()?;
        println!(
            "rollwatch simulate: listening on http://{addr} (metrics: /metrics, flag: /api/flags/{})",
            args.flag
        );
        server
            .serve(shutdown_signal())
            .await
            .wrap_err("serving")
    })
}

fn main() -> color_eyre::Result<()> {
    color_eyre::install()?;
    install_panic_hook();
    let cli = Cli::parse();
    match &cli.command {
        Some(Commands::Demo(args)) => demo(args, &cli.ui),
        Some(Commands::Simulate(args)) => simulate(args),
        None => {
            eprintln!(
                "rollwatch: no config found (./rollwatch.toml, $XDG_CONFIG_HOME/rollwatch/config.toml).\n\
                 Try the simulated rollout:   rollwatch demo\n\
                 See `rollwatch --help` for every command."
            );
            std::process::exit(2);
        }
    }
}
