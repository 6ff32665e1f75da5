//! 24 hours of a fleet's history through rollwatch's own `update`, fast: `cargo run --release
//! --example fleet_day [N [HOURS]]` (N rollouts, default 200; HOURS default 24) builds the rollouts of
//! `examples/fleet.toml`'s template (5 metrics), feeds a poll answer every 2 s of simulated
//! time for 24 h (43,200 polls per rollout, every rule evaluated) and prints the process's
//! peak resident memory. No network and no screen: it measures what the state holds after a
//! day, which a live run (`scripts/measure.py fleet`) cannot reach in minutes.

use std::time::Instant;

use rollwatch::app::{Msg, RolloutState, State, update};
use rollwatch::metrics::{CohortValues, Poll};

fn kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet.toml");
    let cfg = match rollwatch::config::load(std::path::Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let Some(template) = cfg.fleets.first().map(|f| f.template.clone()) else {
        eprintln!("{path}: no [[fleet]]");
        std::process::exit(2);
    };
    let hours: i64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(24);
    let refresh = 2_000_i64;
    let start = 1_767_225_600_000_i64;
    let rollouts = (0..n)
        .map(|i| {
            let mut r = template.clone();
            r.name = format!("flag-{i:03}");
            RolloutState::new(r, "http".into(), "prometheus".into(), start)
        })
        .collect();
    let mut state = State::new(rollouts, refresh, start);
    let before = kib("VmRSS:");
    let t0 = Instant::now();
    let polls = hours * 3600 * 1000 / refresh;
    for k in 0..polls {
        let now = start + k * refresh;
        let _ = update(&mut state, Msg::Tick(now));
        for i in 0..n {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
            let wobble = ((k + i as i64) % 7) as f64;
            let metrics = (0..template.metrics.len())
                .map(|m| {
                    #[allow(clippy::cast_precision_loss)]
                    let base = 1.0 + m as f64;
                    Ok(CohortValues {
                        legacy: Some(base + wobble * 0.01),
                        new: Some(base * 0.9 + wobble * 0.01),
                        ..CohortValues::default()
                    })
                })
                .collect();
            let _ = update(
                &mut state,
                Msg::MetricsPolled {
                    rollout: i,
                    at_ms: now,
                    result: Ok(Poll {
                        metrics,
                        warnings: Vec::new(),
                    }),
                },
            );
        }
    }
    println!(
        "{n} rollouts x {} metrics, {polls} polls each ({hours} h at 2 s) through update in {:.0} s: \
         VmRSS {:.1} MiB (before the day {:.1} MiB), VmHWM {:.1} MiB",
        template.metrics.len(),
        t0.elapsed().as_secs_f64(),
        kib("VmRSS:") as f64 / 1024.0,
        before as f64 / 1024.0,
        kib("VmHWM:") as f64 / 1024.0,
    );
}
