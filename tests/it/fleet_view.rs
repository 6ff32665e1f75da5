//! The fleet view: a table of every rollout, FIRING first, then UNKNOWN, then the rest by
//! name; `/` filters (typed keys never act), `Enter` opens a rollout's dashboard and `Esc`
//! returns, the selection scrolls through 500 rollouts, a click selects a row, and the write
//! keys act on the highlighted row's rollout through the same dialogs. States are built from a
//! parsed config and driven through the real `update` with the keys mapped as the edge maps
//! them; screens are the real view on a `TestBackend`.

use std::fmt::Write as _;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use rollwatch::alerts::AlertStatus;
use rollwatch::app::keymap::{Action, action, filter_action};
use rollwatch::app::{Command, Mode, Msg, RolloutState, State, View, update};
use rollwatch::model::{Counts, FlagSnapshot};
use rollwatch::ui::{self, Target, theme};

/// 2026-01-01T12:00:00Z
const T0: i64 = 1_767_268_800_000;

/// A config of `names` (environment from the name: `stg-` ones are staging), each with a step
/// plan with bakes, one ratio metric and one rule.
fn config(names: &[String]) -> String {
    let mut text = String::new();
    for n in names {
        let env = if n.starts_with("stg-") {
            "staging"
        } else {
            "production"
        };
        let _ = write!(
            text,
            r#"
[[rollout]]
name = "{n}"
environment = "{env}"
steps = [5, 25, 50, 100]
bake = ["10m", "30m", "1h"]
[rollout.flag]
kind = "memory"
[rollout.metrics]
kind = "prometheus"
url = "http://127.0.0.1:1"
legacy = ["v1"]
new = ["v2"]
[[rollout.metric]]
id = "err"
label = "Error rate"
kind = "ratio"
query = "x"
scale = 100
[[rollout.rule]]
name = "error-rate"
metric = "err"
when = "new > 0.5%"
severity = "critical"
action = "rollback"
"#
        ); // a String never fails
    }
    text
}

/// A state of `names`, each read at 25 % and healthy, at `T0`.
fn state_of(names: &[String]) -> State {
    let cfg = rollwatch::config::parse(std::path::Path::new("fleet.toml"), &config(names)).unwrap();
    let rollouts = cfg
        .rollouts
        .into_iter()
        .map(|rc| {
            let mut r = RolloutState::new(rc.rollout, "memory".into(), "prometheus".into(), T0);
            r.see_flag(&FlagSnapshot::new(25, true), T0 - 4 * 60_000);
            r.bake = evidence(4 * 60_000);
            // Both backends answered just now.
            r.flag_feed.at_ms = Some(T0);
            r.metrics_feed.at_ms = Some(T0);
            for a in &mut r.alerts {
                a.status = AlertStatus::Inactive;
                a.value = Some(0.2);
                a.reason = None;
            }
            r
        })
        .collect();
    let mut s = State::new(rollouts, 1000, T0);
    // As a live session with several rollouts opens.
    if s.rollouts.len() > 1 {
        rollwatch::app::fleet::open_at_start(&mut s);
    }
    s
}

fn index(s: &State, name: &str) -> usize {
    s.rollouts.iter().position(|r| r.def.name == name).unwrap()
}

/// Twelve rollouts in various states, one FIRING and one UNKNOWN, listed out of order.
fn twelve() -> State {
    let names: Vec<String> = [
        "search-ranking",
        "checkout-batch-queries",
        "stg-llm-patch-mode",
        "chat-transport",
        "payments-retry",
        "image-resize",
        "feed-cache",
        "stg-notifications",
        "auth-tokens",
        "billing-export",
        "geo-routing",
        "zz-legacy-cleanup",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut s = state_of(&names);
    let i = index(&s, "payments-retry");
    s.rollouts[i].alerts[0].status = AlertStatus::Firing;
    s.rollouts[i].alerts[0].value = Some(1.52);
    let i = index(&s, "geo-routing");
    s.rollouts[i].alerts[0].status = AlertStatus::Unknown;
    s.rollouts[i].alerts[0].value = None;
    s.rollouts[i].alerts[0].reason = Some("no data".into());
    // New-path requests at this step.
    let i = index(&s, "checkout-batch-queries");
    s.rollouts[i].metrics[0].last.counts = Some(Counts {
        legacy: (30, 36_000),
        new: (12, 12_345),
    });
    // Baked: 100 % and complete; 50 % with an hour at the step; rolled back; switched off.
    let i = index(&s, "feed-cache");
    s.rollouts[i].see_flag(&FlagSnapshot::new(100, true), T0 - 2 * 3_600_000);
    let i = index(&s, "image-resize");
    s.rollouts[i].see_flag(&FlagSnapshot::new(50, true), T0 - 50 * 60_000);
    let i = index(&s, "billing-export");
    s.rollouts[i].see_flag(&FlagSnapshot::new(0, true), T0 - 60_000);
    let i = index(&s, "auth-tokens");
    s.rollouts[i].flag = None; // off since the first read: OFF, not rolled back
    s.rollouts[i].see_flag(&FlagSnapshot::new(25, false), T0 - 60_000);
    for r in &mut s.rollouts {
        r.flag_feed.at_ms = Some(T0);
        // Polled every second since its step began: the whole time is fresh evidence.
        let at_step = T0 - r.step_since_ms.unwrap();
        r.bake = evidence(at_step);
    }
    s
}

/// Evidence of `ms` covered by fresh polls up to `T0`.
fn evidence(ms: i64) -> rollwatch::app::bake::Evidence {
    rollwatch::app::bake::Evidence {
        covered_ms: ms,
        covered_until_ms: Some(T0),
        observations: u32::try_from(ms / 1000).unwrap(),
        rejected: None,
    }
}

fn render(s: &State, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui::draw(f, s, &theme::builtin()[0])).unwrap();
    term.backend()
        .to_string()
        .lines()
        .map(|l| l.trim_matches('"').trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table line without its selection mark (the first three columns).
fn cells(line: &str) -> String {
    line.chars().skip(3).collect()
}

/// The table row of rollout `name`.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .skip(2)
        .find(|l| cells(l).starts_with(&format!("{name} ")))
}

/// The names in the table, top to bottom.
fn listed(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip(2)
        .filter_map(|l| cells(l).split_whitespace().next().map(str::to_owned))
        .filter(|n| n.contains('-'))
        .collect()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// A key as the event loop delivers it: through the filter prompt's map while it is open.
fn press(s: &mut State, code: KeyCode) -> Vec<Command> {
    let k = key(code);
    let a = if s.fleet.typing {
        filter_action(&k)
    } else {
        action(&k)
    };
    a.map_or_else(Vec::new, |a| update(s, Msg::Action(a)))
}

fn type_text(s: &mut State, text: &str) -> Vec<Command> {
    text.chars()
        .flat_map(|c| press(s, KeyCode::Char(c)))
        .collect()
}

#[test]
fn the_fleet_table_counts_firing_and_unknown_rollouts() {
    let screen = render(&twelve(), 120, 40);
    assert!(
        screen.starts_with(" Fleet  12 rollouts  1 FIRING  1 UNKNOWN"),
        "{screen}"
    );
}

#[test]
fn fleet_12_120x40() {
    let s = twelve();
    let screen = render(&s, 120, 40);
    let names = listed(&screen);
    assert_eq!(names.len(), 12, "{screen}");
    assert_eq!(names[0], "payments-retry", "FIRING first:\n{screen}");
    assert_eq!(names[1], "geo-routing", "then UNKNOWN:\n{screen}");
    let mut rest = names[2..].to_vec();
    rest.sort();
    assert_eq!(names[2..], rest, "then by name");
    let firing = row(&screen, "payments-retry").unwrap();
    assert!(
        firing.contains("FIRING error-rate 1.52%") && firing.contains("25%"),
        "{firing}"
    );
    assert!(
        row(&screen, "geo-routing")
            .unwrap()
            .contains("UNKNOWN error-rate")
    );
    let checkout = row(&screen, "checkout-batch-queries").unwrap();
    assert!(
        checkout.contains("production")
            && checkout.contains("2/4 26m")
            && checkout.contains("12.3k"),
        "env, step with bake left, new-path requests: {checkout}"
    );
    assert!(
        row(&screen, "billing-export")
            .unwrap()
            .contains("ROLLED BACK")
    );
    let off = row(&screen, "auth-tokens").unwrap();
    assert!(off.contains(" off ") && off.contains(" OFF "), "{off}");
    assert!(row(&screen, "feed-cache").unwrap().contains("COMPLETE"));
    insta::assert_snapshot!(screen);
}

#[test]
fn fleet_12_80x24() {
    let s = twelve();
    let screen = render(&s, 80, 24);
    for l in screen.lines() {
        assert!(l.chars().count() <= 80);
    }
    // Narrow: the environment and the requests go; name, flag, state and worst rule stay.
    let firing = row(&screen, "payments-retry").unwrap();
    assert!(
        firing.contains("25%") && firing.contains("BAKING") && firing.contains("FIRING error-rate"),
        "{firing}"
    );
    assert!(
        !screen.contains("production") && !screen.contains("NEW REQS"),
        "{screen}"
    );
    assert_eq!(listed(&screen).len(), 12, "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_selection_moves_in_table_order_and_enter_opens_esc_returns() {
    let mut s = twelve();
    // The first row (the FIRING one) is where j starts from once something is selected.
    s.selected = index(&s, "payments-retry");
    press(&mut s, KeyCode::Char('j'));
    assert_eq!(s.rollouts[s.selected].def.name, "geo-routing");
    press(&mut s, KeyCode::Char('j'));
    assert_eq!(s.rollouts[s.selected].def.name, "auth-tokens");
    let screen = render(&s, 120, 40);
    assert!(
        row(&screen, "auth-tokens").is_some() && screen.contains(" ▶ auth-tokens"),
        "marked:\n{screen}"
    );
    press(&mut s, KeyCode::Char('G'));
    assert_eq!(s.rollouts[s.selected].def.name, "zz-legacy-cleanup");
    press(&mut s, KeyCode::Char('g'));
    assert_eq!(s.rollouts[s.selected].def.name, "payments-retry");

    press(&mut s, KeyCode::Enter);
    assert_eq!(s.view, View::Rollout);
    let screen = render(&s, 120, 40);
    let header = screen.lines().nth(1).unwrap();
    assert!(header.contains("payments-retry"), "its dashboard: {header}");
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.view, View::Fleet);
    assert_eq!(s.rollouts[s.selected].def.name, "payments-retry");
    // F toggles too.
    press(&mut s, KeyCode::Char('F'));
    assert_eq!(s.view, View::Rollout);
    press(&mut s, KeyCode::Char('F'));
    assert_eq!(s.view, View::Fleet);
}

#[test]
fn typing_a_filter_never_acts_and_esc_clears_it() {
    let mut s = twelve();
    press(&mut s, KeyCode::Char('/'));
    assert!(s.fleet.typing);
    // Every write key, typed: only text.
    let cmds = type_text(&mut s, "+-r!Ka");
    assert!(cmds.is_empty());
    assert_eq!(s.mode, Mode::Normal, "no dialog opened");
    assert_eq!(s.fleet.filter, "+-r!Ka");
    for _ in 0..6 {
        press(&mut s, KeyCode::Backspace);
    }
    type_text(&mut s, "STG");
    let screen = render(&s, 120, 40);
    assert_eq!(
        listed(&screen),
        ["stg-llm-patch-mode", "stg-notifications"],
        "{screen}"
    );
    assert!(
        screen.lines().next().unwrap().contains("filter: /STG_"),
        "{screen}"
    );
    // The selection moved onto a row the table shows.
    assert_eq!(s.rollouts[s.selected].def.name, "stg-llm-patch-mode");
    // Enter keeps the filter and closes the prompt; keys act again, on the filtered rows.
    press(&mut s, KeyCode::Enter);
    assert!(!s.fleet.typing && s.fleet.filter == "STG");
    press(&mut s, KeyCode::Char('j'));
    assert_eq!(s.rollouts[s.selected].def.name, "stg-notifications");
    // Filtering by state.
    press(&mut s, KeyCode::Esc);
    assert!(s.fleet.filter.is_empty());
    assert_eq!(listed(&render(&s, 120, 40)).len(), 12);
    press(&mut s, KeyCode::Char('/'));
    type_text(&mut s, "rolled");
    assert_eq!(listed(&render(&s, 120, 40)), ["billing-export"]);
    // Esc in the prompt clears and closes.
    press(&mut s, KeyCode::Esc);
    assert!(!s.fleet.typing && s.fleet.filter.is_empty());
}

#[test]
fn a_write_key_acts_on_the_selected_row_and_the_dialog_names_it() {
    let mut s = twelve();
    s.selected = index(&s, "checkout-batch-queries");
    press(&mut s, KeyCode::Char('+'));
    let Mode::Confirm(p) = &s.mode else {
        panic!("no dialog: {:?}", s.status)
    };
    assert_eq!(p.rollout, s.selected);
    assert_eq!(p.request.rollout, "checkout-batch-queries");
    let screen = render(&s, 120, 40);
    assert!(
        screen.contains("Rollout:     checkout-batch-queries") && screen.contains("25% → 50%"),
        "{screen}"
    );
    // The table stays under the dialog; y writes that rollout only.
    let cmds = press(&mut s, KeyCode::Char('y'));
    let writes: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Write { rollout, request } => Some((*rollout, request.rollout.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        writes,
        [(
            index(&s, "checkout-batch-queries"),
            "checkout-batch-queries".to_owned()
        )]
    );
    assert_eq!(s.view, View::Fleet);

    // The same guards: `+` on the FIRING row is blocked, as on its dashboard.
    s.selected = index(&s, "payments-retry");
    press(&mut s, KeyCode::Char('+'));
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.status.as_ref().unwrap().1.contains("next step blocked"));

    // A filter that hides the selection: nothing is proposed.
    press(&mut s, KeyCode::Char('/'));
    type_text(&mut s, "no-such-rollout");
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Char('r'));
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.status.as_ref().unwrap().1.contains("no rollout selected"));
}

#[test]
fn a_click_selects_a_row_and_a_second_click_opens_it() {
    let mut s = twelve();
    let area = Rect::new(0, 0, 120, 40);
    let screen = render(&s, 120, 40);
    let y = screen
        .lines()
        .position(|l| cells(l).starts_with("image-resize "))
        .unwrap();
    let y = u16::try_from(y).unwrap();
    let target = ui::hit(&s, area, 10, y);
    assert_eq!(target, Some(Target::Rollout(index(&s, "image-resize"))));
    assert_eq!(ui::hit(&s, area, 10, 0), None, "the title is not a row");
    let Some(Target::Rollout(i)) = target else {
        unreachable!()
    };
    update(&mut s, Msg::Action(Action::SelectRollout(i)));
    assert_eq!(s.selected, i);
    assert_eq!(s.view, View::Fleet);
    update(&mut s, Msg::Action(Action::SelectRollout(i)));
    assert_eq!(s.view, View::Rollout);
    // A row index a recording could hold but the table does not: nothing happens.
    press(&mut s, KeyCode::Esc);
    update(&mut s, Msg::Action(Action::SelectRollout(10_000)));
    assert_eq!(s.selected, i);
}

#[test]
fn five_hundred_rollouts_scroll_smoothly_keeping_the_selection_visible() {
    let names: Vec<String> = (0..500).map(|i| format!("svc-{i:03}")).collect();
    let mut s = state_of(&names);
    s.fleet.page = ui::fleet::page(Rect::new(0, 0, 120, 40));
    let visible = |s: &State| {
        let screen = render(s, 120, 40);
        let name = &s.rollouts[s.selected].def.name;
        assert!(
            screen.contains(&format!(" ▶ {name} ")),
            "{name} not on screen:\n{screen}"
        );
        screen
    };
    let screen = visible(&s);
    assert!(
        screen.lines().next().unwrap().contains("rows 1-36 of 500"),
        "{screen}"
    );
    // Down to the bottom of the page and one more: the table moves by one row.
    for _ in 0..36 {
        press(&mut s, KeyCode::Down);
    }
    let screen = visible(&s);
    assert_eq!(listed(&screen)[0], "svc-001", "{screen}");
    // Up inside the page: the table stays.
    press(&mut s, KeyCode::Up);
    assert_eq!(listed(&visible(&s))[0], "svc-001");
    // A page down moves the selection by the page.
    press(&mut s, KeyCode::PageDown);
    assert_eq!(s.rollouts[s.selected].def.name, "svc-071");
    visible(&s);
    press(&mut s, KeyCode::End);
    let screen = visible(&s);
    assert_eq!(listed(&screen).last().unwrap(), "svc-499");
    assert!(
        screen
            .lines()
            .next()
            .unwrap()
            .contains("rows 465-500 of 500")
    );
    press(&mut s, KeyCode::PageUp);
    assert_eq!(s.rollouts[s.selected].def.name, "svc-463");
    visible(&s);
}

#[test]
fn a_recording_says_the_session_opened_on_the_table_and_its_replay_does_too() {
    use rollwatch::record::Header;
    let s = twelve();
    let h = Header::from_state(&s, 1.0, "watch");
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["fleet"], true);
    let back: Header = serde_json::from_value(json.clone()).unwrap();
    let replayed = back.initial_state(false);
    assert_eq!(replayed.view, View::Fleet);
    assert_eq!(
        replayed.rollouts[replayed.selected].def.name, "auth-tokens",
        "the same first row as the live session"
    );
    // Recordings made before the fleet view opened on the first rollout's dashboard.
    let mut old = json;
    old.as_object_mut().unwrap().remove("fleet");
    let old: Header = serde_json::from_value(old).unwrap();
    let replayed = old.initial_state(false);
    assert_eq!((replayed.view, replayed.selected), (View::Rollout, 0));
}

#[test]
fn a_failing_backend_is_said_in_the_row_and_sorts_with_the_unknown() {
    let mut s = twelve();
    let i = index(&s, "search-ranking");
    s.rollouts[i].metrics_feed.error = Some("HTTP 503".into());
    let j = index(&s, "zz-legacy-cleanup");
    s.rollouts[j].flag_feed.at_ms = Some(T0 - 60_000);
    let screen = render(&s, 120, 40);
    let failing = row(&screen, "search-ranking").unwrap();
    assert!(failing.contains("metrics ERROR: HTTP 503"), "{failing}");
    let stale = row(&screen, "zz-legacy-cleanup").unwrap();
    assert!(stale.contains("flag STALE 1m00s"), "{stale}");
    assert_eq!(
        listed(&screen)[..3],
        ["payments-retry", "geo-routing", "search-ranking"],
        "{screen}"
    );
    // A FIRING rule stays in the row when its data is lost.
    let k = index(&s, "payments-retry");
    s.rollouts[k].metrics_feed.error = Some("HTTP 503".into());
    let screen = render(&s, 120, 40);
    assert!(
        row(&screen, "payments-retry")
            .unwrap()
            .contains("FIRING error-rate")
    );
}
