//! Full-screen snapshots of the real dashboard (`TestBackend` + insta) at 120×40 and 80×24, in a
//! healthy and a firing state, from a fixed clock and seed, driven through the real update
//! loop, effects and simulator. Review a changed snapshot like code.

use std::sync::Arc;

use rollwatch::alerts::AlertStatus;
use rollwatch::app::driver::Driver;
use rollwatch::clock::{Clock, ManualClock};
use rollwatch::sim::Scenario;
use rollwatch::ui::{self};

use crate::support::state::{press, render};

/// 2026-01-01T12:00:00Z
const T0: i64 = 1_767_268_800_000;

async fn driven(scenario: Scenario, seconds: i64) -> Driver {
    Driver::demo(scenario, T0, seconds).await
}

#[tokio::test]
async fn healthy_120x40() {
    let d = driven(Scenario::Healthy, 30).await;
    assert!(
        d.state.rollouts[0]
            .alerts
            .iter()
            .all(|a| a.status == AlertStatus::Inactive)
    );
    insta::assert_snapshot!(render(&d.state, 120, 40));
}

#[tokio::test]
async fn healthy_80x24() {
    let d = driven(Scenario::Healthy, 30).await;
    insta::assert_snapshot!(render(&d.state, 80, 24));
}

#[tokio::test]
async fn firing_120x40() {
    let d = driven(Scenario::Regression, 90).await;
    assert_eq!(d.state.rollouts[0].alerts[0].status, AlertStatus::Firing);
    let screen = render(&d.state, 120, 40);
    assert!(
        screen.contains("✖ FIRING"),
        "breach marked with a symbol and a word"
    );
    insta::assert_snapshot!(screen);
}

#[tokio::test]
async fn firing_80x24() {
    let d = driven(Scenario::Regression, 90).await;
    insta::assert_snapshot!(render(&d.state, 80, 24));
}

#[tokio::test]
async fn any_size_renders_without_panicking() {
    let d = driven(Scenario::Regression, 5).await;
    for (w, h) in [
        (1, 1),
        (20, 5),
        (59, 15),
        (60, 16),
        (61, 17),
        (500, 10),
        (1000, 300),
    ] {
        let s = render(&d.state, w, h);
        if w < ui::MIN_W || h < ui::MIN_H {
            assert!(s.contains("too small") || w < 30, "{w}x{h}");
        }
    }
}

#[tokio::test]
async fn firing_200x60_shows_intervals() {
    let d = driven(Scenario::Regression, 90).await;
    let screen = render(&d.state, 200, 60);
    assert!(screen.contains("new-legacy (always valid)"));
    insta::assert_snapshot!(screen);
}

#[tokio::test]
async fn header_marks_read_only_and_insecure_tls() {
    let mut d = driven(Scenario::Healthy, 3).await;
    let plain = render(&d.state, 120, 40);
    assert!(!plain.contains("INSECURE TLS") && !plain.contains("READ-ONLY"));
    d.state.rollouts[0].insecure_tls = true;
    d.state.read_only = true;
    let marked = render(&d.state, 120, 40);
    let header = marked.lines().nth(1).unwrap();
    assert!(
        header.contains("INSECURE TLS") && header.contains("READ-ONLY"),
        "{header}"
    );
}

#[test]
fn insecure_skip_verify_in_config_reaches_the_header_state() {
    let text = r#"
[[rollout]]
name = "r"
steps = [5, 50]
[rollout.flag]
kind = "memory"
[rollout.metrics]
kind = "prometheus"
url = "https://prometheus.example.internal"
legacy = ["v1"]
new = ["v2"]
insecure_skip_verify = true
[[rollout.metric]]
id = "e"
kind = "ratio"
query = "x"
"#;
    let cfg = rollwatch::config::parse(std::path::Path::new("t.toml"), text).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let wired = rollwatch::backends::wire(&cfg, &clock).unwrap();
    assert!(wired[0].1.insecure_tls);
}

#[tokio::test]
async fn ascii_mode_draws_only_ascii() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut d = driven(Scenario::Regression, 90).await;
    d.state.ascii = true;
    for size in [(120, 40), (80, 24), (200, 60)] {
        let screen = render(&d.state, size.0, size.1);
        let bad: String = screen.chars().filter(|c| !c.is_ascii()).collect();
        assert!(bad.is_empty(), "{size:?}: non-ASCII {bad:?}\n{screen}");
    }
    // Dialogs and help too.
    let _ = d
        .send(press(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE)))
        .await;
    let screen = render(&d.state, 120, 40);
    assert!(
        screen.contains("ROLL BACK") && screen.is_ascii(),
        "{screen}"
    );
    d.state.mode = rollwatch::app::Mode::Help;
    let screen = render(&d.state, 120, 40);
    assert!(screen.contains("Keys") && screen.is_ascii(), "{screen}");
}

/// The detail view of the error rate during the regression: the chart (legacy, new, the
/// rule's threshold line, the time axis), the values, the interval and the rule's state.
#[tokio::test]
async fn detail_error_rate_firing_120x40() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut d = driven(Scenario::Regression, 90).await;
    let key = |c| press(KeyEvent::new(c, KeyModifiers::NONE));
    let _ = d.send(key(KeyCode::Enter)).await;
    assert_eq!(d.state.mode, rollwatch::app::Mode::Detail(0));
    let screen = render(&d.state, 120, 40);
    assert!(
        screen.contains("Error rate over the last 5m00s"),
        "{screen}"
    );
    assert!(
        screen.contains("new-error-rate 0.50%"),
        "threshold in the legend:\n{screen}"
    );
    assert!(screen.contains("FIRING"), "the rule's state:\n{screen}");
    assert!(
        screen.contains("now") && screen.contains("-5m00s"),
        "time axis:\n{screen}"
    );
    assert!(screen.contains("0.00%"), "a zero-based y axis:\n{screen}");
    let timeline = screen
        .lines()
        .find(|l| l.contains("timeline"))
        .unwrap_or_else(|| panic!("the rule's timeline:\n{screen}"));
    assert!(
        timeline.contains("◔◔")
            && timeline.contains("✖✖")
            && timeline.find('◔') < timeline.find('✖'),
        "pending, then firing: {timeline}"
    );
    insta::assert_snapshot!(screen);
    // `2` switches to the hour, `Esc` returns to the dashboard with the row still selected.
    let _ = d.send(key(KeyCode::Char('2'))).await;
    assert!(render(&d.state, 120, 40).contains("over the last 1h"));
    let _ = d.send(key(KeyCode::Esc)).await;
    assert_eq!(d.state.mode, rollwatch::app::Mode::Normal);
}
