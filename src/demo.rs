//! The demo as a driven state: the simulator's rollouts ([`crate::sim::demo`]) run through the
//! app's [`Driver`] on a manual clock. It composes the two layers (the app never imports the
//! simulator), like `main` does for the interactive demo.

use std::sync::Arc;

use crate::app::driver::Driver;
use crate::clock::Clock;
use crate::sim::Scenario;
use crate::sim::demo::{DemoOptions, build};

impl Driver {
    /// The demo (seed 42) on a manual clock starting at `t0_ms`, driven one tick per simulated
    /// second for `seconds`: the deterministic state behind snapshots, screenshots and benches.
    pub async fn demo(scenario: Scenario, t0_ms: i64, seconds: i64) -> Self {
        use crate::clock::ManualClock;
        let clock = ManualClock::new(t0_ms);
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let (rollouts, _) = build(DemoOptions { seed: 42, scenario }, &dyn_clock, t0_ms);
        let setup = crate::app::run::Setup {
            rollouts,
            clock: dyn_clock,
            refresh_ms: 1000,
            tick: std::time::Duration::from_millis(250),
            read_only: false,
            notify: true,
            show_keys: false,
            themes: crate::ui::theme::builtin(),
            ascii: false,
            audit: crate::audit::AuditLog::disabled(),
            deadline: std::time::Duration::from_secs(2),
            log_file: None,
        };
        let mut d = Self::new(&setup);
        for t in 0..=seconds {
            clock.set(t0_ms + t * 1000);
            d.tick().await;
        }
        d
    }
}
