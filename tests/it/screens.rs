//! Nothing important is ever cut: at 60×18, 80×24, 100×30, 120×40 and 200×60 the dashboard of
//! a firing regression shows the verdict line, the FIRING rule's own row, and both backends'
//! health in words; during an outage the words STALE/ERROR stay on screen; the help overlay
//! fits (scrolling where it must) at every size. Rendered with the real view over a state
//! driven through the real update loop, effects and simulator.

use rollwatch::alerts::AlertStatus;
use rollwatch::app::driver::Driver;
use rollwatch::sim::Scenario;

use crate::support::state::render;

/// 2026-01-01T12:00:00Z
const T0: i64 = 1_767_268_800_000;

const SIZES: [(u16, u16); 5] = [(60, 18), (80, 24), (100, 30), (120, 40), (200, 60)];

/// The alerts panel's row of rule `name` (the verdict line above may name it too).
fn rule_row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .skip(1)
        .find(|l| l.contains(&format!("{name}:")) && l.contains("rollback"))
}

#[tokio::test]
async fn the_verdict_the_firing_rule_and_backend_health_are_on_every_screen() {
    let d = Driver::demo(Scenario::Regression, T0, 90).await;
    assert_eq!(d.state.rollouts[0].alerts[0].status, AlertStatus::Firing);
    for (w, h) in SIZES {
        let screen = render(&d.state, w, h);
        let first = screen.lines().next().unwrap_or_default();
        assert!(
            first.contains("DEGRADED")
                && first.contains("new-error-rate")
                && first.contains("roll back"),
            "{w}x{h}: the verdict line is first:\n{screen}"
        );
        let row = rule_row(&screen, "new-error-rate")
            .unwrap_or_else(|| panic!("{w}x{h}: the firing rule's row is cut:\n{screen}"));
        assert!(row.contains("FIRING"), "{w}x{h}: {row}");
        let health = screen
            .lines()
            .find(|l| l.starts_with("\" flag ") && l.contains("metrics"))
            .unwrap_or_else(|| panic!("{w}x{h}: backend health is cut:\n{screen}"));
        assert!(health.contains("ago"), "{w}x{h}: {health}");
        // The key hints are the last line.
        let last = screen.lines().last().unwrap_or_default();
        assert!(last.contains("q quit"), "{w}x{h}: hints cut: {last}");
        if (w, h) == (100, 30) {
            insta::assert_snapshot!("firing_100x30", screen);
        }
        if (w, h) == (60, 18) {
            insta::assert_snapshot!("firing_60x18", screen);
        }
    }
}

#[tokio::test]
async fn an_outage_keeps_stale_and_error_in_words_at_every_size() {
    let mut d = Driver::demo(Scenario::Regression, T0, 90).await;
    for r in &mut d.state.rollouts {
        r.metrics_feed.error = Some(
            "transport: error sending request for url (http://prometheus.example.internal:9090/api/v1/query)"
                .into(),
        );
        r.flag_feed.at_ms = Some(d.state.now_ms - 47_000);
    }
    for (w, h) in SIZES {
        let screen = render(&d.state, w, h);
        let health = screen
            .lines()
            .find(|l| l.starts_with("\" flag ") && l.contains("metrics"))
            .unwrap_or_else(|| panic!("{w}x{h}: backend health is cut:\n{screen}"));
        assert!(
            health.contains("flag STALE 47s")
                && health.contains("metrics")
                && health.contains("ERROR"),
            "{w}x{h}: {health}"
        );
        let first = screen.lines().next().unwrap_or_default();
        assert!(
            first.contains("DEGRADED") || first.contains("DATA LOST"),
            "{w}x{h}: {first}"
        );
    }
}

#[tokio::test]
async fn the_help_overlay_fits_and_scrolls_at_every_size() {
    let mut d = Driver::demo(Scenario::Healthy, T0, 10).await;
    d.state.mode = rollwatch::app::Mode::Help;
    for (w, h) in SIZES {
        let screen = render(&d.state, w, h);
        assert!(screen.contains("Keys"), "{w}x{h}:\n{screen}");
        // Where it fits, every binding is on screen whole (long ones wrap, none is cut).
        let flat: String = screen
            .lines()
            .map(|l| l.trim_matches('"').replace('│', " "))
            .collect::<Vec<_>>()
            .join(" ");
        let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        if h >= 40 {
            for (_, what) in rollwatch::app::keymap::BINDINGS {
                assert!(
                    words(&flat).contains(&words(what)),
                    "{w}x{h}: `{what}` cut:\n{screen}"
                );
            }
        }
        if h < 24 {
            assert!(
                screen.contains("j/k scroll"),
                "{w}x{h}: a help that does not fit says it scrolls:\n{screen}"
            );
        }
    }
    // Scrolling shows the last binding.
    d.state.help_scroll = 100;
    let screen = render(&d.state, 60, 18);
    assert!(screen.contains("q  Ctrl-C"), "{screen}");
}
