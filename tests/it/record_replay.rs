//! Record and replay: a driven session recorded message by message and replayed through the
//! same `update` ends in the same visible state and the same screens, at the end and at
//! earlier points reached by seeking back; the committed demo recording replays to a firing
//! rule and a rollback (`TestBackend` + insta snapshots, reviewed like code); the replay keys.

use std::fmt::Write as _;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use rollwatch::alerts::AlertStatus;
use rollwatch::app::driver::Driver;
use rollwatch::app::run::Setup;
use rollwatch::app::{Mode, State};
use rollwatch::audit::AuditLog;
use rollwatch::clock::{Clock, ManualClock};
use rollwatch::record::{RecordMeta, Recorder};
use rollwatch::replay::{self, Control, Player, Recording, SEEK_MS};
use rollwatch::sim::Scenario;
use rollwatch::sim::demo::{DemoOptions, build};
use rollwatch::ui::theme;

use crate::support::state::{code, key, render};

/// 2026-01-01T12:00:00Z
const T0: i64 = 1_767_268_800_000;

/// Everything the screen can show, in one comparable text (f64 via Debug: exact).
fn visible(s: &State) -> String {
    let mut out = format!(
        "now {} selected {} theme {} mode {:?}\nstatus {:?}\nlogged {}\n",
        s.now_ms, s.selected, s.theme, s.mode, s.status, s.logged
    );
    for e in &s.events {
        writeln!(out, "event {e:?}").unwrap();
    }
    for r in &s.rollouts {
        writeln!(
            out,
            "rollout {} flag {:?} at {:?} err {:?} step_since {:?} metrics_at {:?} err {:?} \
             writing {} backend_events {:?}",
            r.def.name,
            r.flag,
            r.flag_feed.at_ms,
            r.flag_feed.error,
            r.step_since_ms,
            r.metrics_feed.at_ms,
            r.metrics_feed.error,
            r.write_in_flight,
            r.backend_events
        )
        .unwrap();
        for m in &r.metrics {
            writeln!(
                out,
                "  metric {:?} at {:?} err {:?}",
                m.last, m.last_at_ms, m.error
            )
            .unwrap();
            for h in &m.history {
                writeln!(out, "    history {:?}", h.raw().collect::<Vec<_>>()).unwrap();
            }
        }
        for a in &r.alerts {
            writeln!(out, "  alert {a:?}").unwrap();
        }
    }
    out
}

/// A regression session driven like an operator would: help, theme, rollouts, a bump blocked
/// by the firing rule, a rollback confirmed, a kill switch cancelled. Returns the driver, the
/// recording's path and screens taken along the way (clock time, 120×40 screen).
async fn recorded_session(dir: &std::path::Path) -> (Driver, PathBuf, Vec<(i64, String)>) {
    let clock = ManualClock::new(T0);
    let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let (rollouts, _) = build(
        DemoOptions {
            seed: 42,
            scenario: Scenario::Regression,
        },
        &dyn_clock,
        T0,
    );
    let setup = Setup {
        rollouts,
        clock: dyn_clock,
        refresh_ms: 1000,
        tick: Duration::from_millis(250),
        read_only: false,
        notify: true,
        show_keys: false,
        themes: theme::builtin(),
        ascii: false,
        audit: AuditLog::disabled(),
        deadline: Duration::from_secs(2),
        log_file: None,
    };
    let path = dir.join("session.jsonl");
    let mut d = Driver::new(&setup);
    d.record_to(
        Recorder::create(
            &path,
            RecordMeta {
                clock_speed: 1.0,
                command: "test session".into(),
            },
        )
        .unwrap(),
    );
    let mut screens = Vec::new();
    for t in 0..=150 {
        clock.set(T0 + t * 1000);
        d.tick().await;
        match t {
            40 => drop(d.send(key('?')).await),
            41 => drop(d.send(code(KeyCode::Esc)).await),
            50 => drop(d.send(key('t')).await),
            60 => drop(d.send(code(KeyCode::Tab)).await),
            61 => drop(d.send(code(KeyCode::BackTab)).await),
            100 => {
                assert_eq!(d.state.rollouts[0].alerts[0].status, AlertStatus::Firing);
                d.send(key('+')).await;
                let status = d.state.status.clone().unwrap().1;
                assert!(status.contains("next step blocked"), "{status}");
            }
            101 => {
                d.send(key('r')).await;
                assert!(matches!(d.state.mode, Mode::Confirm(_)));
            }
            102 => drop(d.send(key('y')).await),
            110 => drop(d.send(key('k')).await),
            111 => drop(d.send(key('n')).await),
            _ => {}
        }
        if [30, 95, 101, 150].contains(&t) {
            screens.push((T0 + t * 1000, render(&d.state, 120, 40)));
        }
    }
    assert_eq!(
        d.state.rollouts[0].flag.as_ref().map(|f| f.percent),
        Some(0),
        "the rollback landed"
    );
    let path = d.take_recorder().unwrap().finish().unwrap();
    (d, path, screens)
}

#[tokio::test]
async fn a_replayed_session_ends_in_the_same_state_and_screens() {
    let dir = tempfile::tempdir().unwrap();
    let (d, path, screens) = recorded_session(dir.path()).await;
    let rec = Recording::load(&path).unwrap();
    assert!(!rec.truncated);
    assert_eq!(rec.end_ms(), T0 + 150_000);
    let mut p = Player::new(rec, Some(1.0), false);
    p.seek(i64::MAX);
    assert!(p.at_end());
    assert_eq!(visible(&p.state), visible(&d.state));
    for (w, h) in [(120, 40), (80, 24)] {
        assert_eq!(render(&p.state, w, h), render(&d.state, w, h), "{w}x{h}");
    }
    // Seeking back rebuilds from the start: the screens along the way come back exactly.
    for (t, expected) in screens.iter().rev() {
        p.seek(*t);
        assert_eq!(p.position_ms(), *t);
        assert_eq!(
            &render(&p.state, 120, 40),
            expected,
            "at +{}s",
            (t - T0) / 1000
        );
    }
}

#[tokio::test]
async fn the_recording_is_json_lines_with_a_header_and_flushed_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path, _) = recorded_session(dir.path()).await;
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["rollwatch_recording"], 2);
    assert_eq!(
        header["rollouts"][0]["def"]["name"],
        "checkout-batch-queries"
    );
    assert_eq!(
        header["rollouts"][0]["def"]["rules"][0]["name"],
        "new-error-rate"
    );
    let kinds: Vec<String> = lines
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["t"].as_i64().is_some(), "{l}");
            v["msg"]["type"].as_str().unwrap().to_owned()
        })
        .collect();
    for kind in [
        "tick",
        "flag_read",
        "metrics_polled",
        "backfilled",
        "action",
        "write_done",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} line");
    }
    // A session cut short mid-line still replays up to its last whole line.
    let cut = &text[..text.len() - 20];
    let rec = Recording::parse(cut).unwrap();
    assert!(rec.truncated);
    assert_eq!(rec.entries.len(), kinds.len() - 1);
    // A broken line in the middle is an error naming it.
    let mut broken: Vec<&str> = text.lines().collect();
    broken[3] = "{not json";
    let err = Recording::parse(&(broken.join("\n") + "\n")).unwrap_err();
    assert!(err.to_string().starts_with("line 4:"), "{err}");
}

fn committed() -> Recording {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/recordings/regression.jsonl");
    Recording::load(&path).unwrap()
}

fn replay_screen(p: &Player, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    replay::render(&mut term, p, &theme::builtin()).unwrap();
    term.backend().to_string()
}

#[test]
fn the_committed_demo_recording_replays_to_firing_and_a_rollback() {
    let rec = committed();
    assert!(rec.header.command.starts_with("demo --scenario regression"));
    let times: Vec<i64> = rec.entries.iter().map(|e| e.t).collect();
    let mut p = Player::new(rec, None, false);
    p.paused = true;
    let firing = times.iter().copied().find(|&t| {
        p.seek(t);
        p.state.rollouts[0].alerts[0].status == AlertStatus::Firing
    });
    assert!(firing.is_some(), "the rule fires in the recording");
    let s = replay_screen(&p, 120, 40);
    assert!(s.contains("PAUSED") && s.contains("✖ FIRING"), "{s}");
    insta::assert_snapshot!("replay_firing_120x40", s);

    p.seek(i64::MAX);
    let s = replay_screen(&p, 120, 40);
    assert!(s.contains(" END "), "{s}");
    assert!(s.contains("done: rollback 25% → 0%"), "{s}");
    assert_eq!(
        p.state.rollouts[0].flag.as_ref().map(|f| f.percent),
        Some(0)
    );
    insta::assert_snapshot!("replay_end_120x40", s);
}

#[test]
fn replay_keys_pause_seek_change_speed_and_refuse_writes() {
    let rec = committed();
    let (start, end) = (rec.start_ms(), rec.end_ms());
    let speed = rec.header.clock_speed;
    let mut p = Player::new(rec, None, false);
    assert!(
        (p.speed - speed).abs() < f64::EPSILON,
        "plays at the recorded speed"
    );
    assert_eq!(p.position_ms(), start);

    p.advance(Duration::from_millis(500));
    #[allow(clippy::cast_possible_truncation)]
    let played = (500.0 * speed) as i64;
    assert_eq!(p.position_ms(), start + played);

    let k = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    assert_eq!(p.on_key(&k(' ')), Control::Continue);
    assert!(
        p.paused && p.marker().ends_with(" PAUSED"),
        "{}",
        p.marker()
    );
    p.advance(Duration::from_secs(5));
    assert_eq!(p.position_ms(), start + played, "paused: time stands still");

    p.on_key(&KeyEvent::new(KeyCode::Right, KeyModifiers::NONE));
    assert_eq!(p.position_ms(), start + played + SEEK_MS);
    let forward = visible(&p.state);
    p.on_key(&k('l'));
    p.on_key(&k('h'));
    assert_eq!(p.position_ms(), start + played + SEEK_MS);
    assert_eq!(
        visible(&p.state),
        forward,
        "back and forth lands on the same state"
    );
    p.on_key(&KeyEvent::new(KeyCode::Left, KeyModifiers::NONE));
    p.on_key(&k('h'));
    assert_eq!(p.position_ms(), start, "clamped at the start");

    p.on_key(&k('+'));
    assert!((p.speed - speed * 2.0).abs() < 1e-9);
    p.on_key(&k('-'));
    p.on_key(&k('-'));
    assert!((p.speed - speed / 2.0).abs() < 1e-9);
    assert!(
        p.marker().contains(&format!("×{}", speed / 2.0)),
        "{}",
        p.marker()
    );

    let before = visible(&p.state);
    for c in ['r', 'y', 'k', '!'] {
        p.on_key(&k(c));
        assert_eq!(p.notice(), Some("replay: writes are disabled"));
        assert!(matches!(p.state.mode, Mode::Normal), "no dialog from {c}");
    }
    assert_eq!(visible(&p.state), before, "write keys change nothing");

    p.on_key(&k('G'));
    assert_eq!(p.position_ms(), end);
    assert!(p.marker().ends_with(" END"), "{}", p.marker());
    p.on_key(&k(' '));
    assert_eq!(
        p.position_ms(),
        start,
        "space at the end plays again from the start"
    );
    assert!(!p.paused);
    assert_eq!(p.on_key(&k('q')), Control::Quit);
    assert_eq!(
        p.on_key(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Control::Quit
    );
}

#[test]
fn the_replay_marker_reads_position_length_speed_and_state() {
    let rec = committed();
    let len_s = (rec.end_ms() - rec.start_ms()) / 1000;
    let mut p = Player::new(rec, Some(4.0), false);
    p.on_key(&KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE));
    let start = p.position_ms();
    p.seek(start + 83_000);
    assert_eq!(
        p.marker(),
        format!("REPLAY 1:23/{}:{:02} ×4 PAUSED", len_s / 60, len_s % 60)
    );
}

use crate::support;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");
const WAIT: Duration = Duration::from_secs(20);

#[test]
fn the_binary_streams_a_recording_and_replays_it() {
    if !support::tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("demo.jsonl");
    let cmd = format!(
        "LANG=C.UTF-8 XDG_STATE_HOME={d} {BIN} demo --speed 10 --audit-log {d}/audit.jsonl \
         --record {r}; echo EXITED:$?; sleep 600",
        d = dir.path().display(),
        r = rec.display()
    );
    let t = support::tmux::Tmux::start("record", 120, 40, &cmd);
    t.wait_for("the dashboard", WAIT, |s| {
        s.contains("checkout-batch-queries")
    });
    // Flushed as it goes: polls are in the file while the dashboard still runs.
    support::tmux::wait_file(&rec, "polls in the file", WAIT, |s| {
        s.matches("\"metrics_polled\"").count() >= 3
    });
    assert!(!t.screen().contains("EXITED:"), "still running");
    t.keys(&["q"]);
    let s = t.wait_for("the exit", WAIT, |s| s.contains("EXITED:"));
    assert!(s.contains("EXITED:0"), "{s}");
    assert!(s.contains("rollwatch: recorded"), "{s}");
    let text = std::fs::read_to_string(&rec).unwrap();
    assert!(
        text.lines().last().unwrap().contains(r#""action":"quit""#),
        "the q key is the last line"
    );

    // Never overwritten.
    let again = std::process::Command::new(BIN)
        .args(["demo", "--record"])
        .arg(&rec)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let cmd = format!(
        "LANG=C.UTF-8 {BIN} replay {} --speed 1000; echo EXITED:$?; sleep 600",
        rec.display()
    );
    let t = support::tmux::Tmux::start("replay", 120, 40, &cmd);
    let s = t.wait_for("the end of the replay", WAIT, |s| s.contains(" END "));
    assert!(s.lines().next().unwrap().contains("REPLAY"), "{s}");
    assert!(s.contains("checkout-batch-queries"), "{s}");
    t.keys(&["r"]);
    t.wait_for("writes refused", WAIT, |s| {
        s.contains("replay: writes are disabled")
    });
    t.keys(&["q"]);
    let s = t.wait_for("the exit", WAIT, |s| s.contains("EXITED:"));
    assert!(s.contains("EXITED:0"), "{s}");
    assert_eq!(t.var("alternate_on"), "0", "alternate screen left");
}

// ---------------------------------------------------------------------------------------------
// Bad recordings: refused as strictly as configs, naming the file and the line; never a panic.

const COMMITTED: &str = include_str!("../../examples/recordings/regression.jsonl");

/// The committed recording as JSON values, one per line (the header first).
fn committed_values() -> Vec<serde_json::Value> {
    COMMITTED
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn text_of(lines: &[serde_json::Value]) -> String {
    lines.iter().fold(String::new(), |mut s, v| {
        writeln!(s, "{v}").unwrap();
        s
    })
}

/// The first message line of the given type (index into the lines, header = 0).
fn first_of(lines: &[serde_json::Value], kind: &str) -> usize {
    lines
        .iter()
        .position(|v| v["msg"]["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} line in the committed recording"))
}

/// One bad recording: its text and where and what the refusal must say.
struct Bad {
    what: &'static str,
    text: String,
    line: usize,
    says: &'static str,
}

#[allow(clippy::too_many_lines)]
fn bad_recordings() -> Vec<Bad> {
    use serde_json::json;
    let base = committed_values;
    let with = |f: &dyn Fn(&mut Vec<serde_json::Value>) -> usize| {
        let mut v = base();
        let line = f(&mut v);
        (text_of(&v), line)
    };
    let mut out = Vec::new();
    let mut add = |what, (text, line): (String, usize), says| {
        out.push(Bad {
            what,
            text,
            line,
            says,
        });
    };
    add(
        "no rollouts",
        with(&|v| {
            v[0]["rollouts"] = json!([]);
            1
        }),
        "no rollouts: expected at least one",
    );
    add(
        "a rollout index out of range",
        with(&|v| {
            let i = first_of(v, "metrics_polled");
            v[i]["msg"]["rollout"] = json!(9);
            i + 1
        }),
        "rollout 9 does not exist: the header has 3 (0..=2)",
    );
    add(
        "bad JSON",
        {
            let mut lines: Vec<String> = COMMITTED.lines().map(str::to_owned).collect();
            lines[5] = "{\"t\": 1795408018464, \"msg\": ".into();
            (lines.join("\n") + "\n", 6)
        },
        "EOF while parsing",
    );
    add(
        "an unknown message kind",
        with(&|v| {
            v[3]["msg"] = json!({"type": "teleport", "rollout": 0});
            4
        }),
        "unknown variant `teleport`",
    );
    add(
        "a time going back",
        with(&|v| {
            let t = v[10]["t"].as_i64().unwrap();
            v[11]["t"] = json!(t - 1);
            12
        }),
        "a recording's clock never goes back",
    );
    add(
        "a message before the start",
        with(&|v| {
            v[1]["t"] = json!(v[0]["started_ms"].as_i64().unwrap() - 1);
            2
        }),
        "a recording's clock never goes back",
    );
    add(
        "no header",
        with(&|v| {
            v.remove(0);
            1
        }),
        "a message where the header belongs",
    );
    add(
        "the header in the wrong place",
        with(&|v| {
            let h = v.remove(0);
            v.insert(3, h);
            1
        }),
        "a message where the header belongs",
    );
    add(
        "a second header",
        with(&|v| {
            let h = v[0].clone();
            v.insert(7, h);
            8
        }),
        "a second header",
    );
    add("an empty file", (String::new(), 1), "empty recording");
    add(
        "a newer format",
        with(&|v| {
            v[0]["rollwatch_recording"] = json!(3);
            1
        }),
        "format 3 is newer",
    );
    add(
        "steps out of order",
        with(&|v| {
            v[0]["rollouts"][0]["def"]["steps"] =
                json!([{"percent": 50, "bake": null}, {"percent": 25, "bake": null}]);
            1
        }),
        "steps must be strictly ascending",
    );
    add(
        "no steps",
        with(&|v| {
            v[0]["rollouts"][0]["def"]["steps"] = json!([]);
            1
        }),
        "steps: expected at least one step",
    );
    add(
        "no metrics",
        with(&|v| {
            v[0]["rollouts"][0]["def"]["metrics"] = json!([]);
            1
        }),
        "metrics: expected at least one metric",
    );
    add(
        "a rule on a metric that does not exist",
        with(&|v| {
            v[0]["rollouts"][0]["def"]["rules"][0]["metric"] = json!("nope");
            1
        }),
        "metric `nope` is not defined in this rollout",
    );
    add(
        "a refresh of zero",
        with(&|v| {
            v[0]["refresh_ms"] = json!(0);
            1
        }),
        "refresh_ms 0: expected",
    );
    add(
        "a flag at 250 %",
        with(&|v| {
            let i = first_of(v, "flag_read");
            v[i]["msg"]["result"]["Ok"]["percent"] = json!(250);
            i + 1
        }),
        "flag percentage 250: expected a percentage 0..=100",
    );
    add(
        "fewer metric results than metrics",
        with(&|v| {
            let i = first_of(v, "metrics_polled");
            v[i]["msg"]["result"]["Ok"]["metrics"] = json!([]);
            i + 1
        }),
        "0 metric results: expected one per metric",
    );
    add(
        "a time past year 9999",
        with(&|v| {
            let n = v.len();
            v[n - 1]["t"] = json!(i64::MAX);
            n
        }),
        "expected a Unix time in ms",
    );
    add(
        "a key no recording holds",
        with(&|v| {
            let i = first_of(v, "key");
            v[i]["msg"]["code"] = json!("Hyperspace");
            i + 1
        }),
        "key `Hyperspace`: expected one character",
    );
    out
}

#[test]
fn bad_recordings_are_refused_naming_the_file_the_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    for (k, bad) in bad_recordings().into_iter().enumerate() {
        let path = dir.path().join(format!("bad-{k}.jsonl"));
        std::fs::write(&path, &bad.text).unwrap();
        let err = match Recording::load(&path) {
            Ok(_) => panic!("{}: accepted", bad.what),
            Err(e) => e.to_string(),
        };
        let at = format!("{}:{}: ", path.display(), bad.line);
        assert!(
            err.starts_with(&at) && err.contains(bad.says) && !err.contains('\n'),
            "{}: expected `{at}… {} …`, got `{err}`",
            bad.what,
            bad.says
        );
    }
}

#[test]
fn the_binary_refuses_a_recording_without_rollouts_in_one_line_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-rollouts.jsonl");
    let mut v = committed_values();
    v[0]["rollouts"] = serde_json::json!([]);
    std::fs::write(&path, text_of(&v)).unwrap();
    let out = std::process::Command::new(BIN)
        .arg("replay")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "rollwatch: {}:1: no rollouts: expected at least one in `rollouts`\n",
            path.display()
        )
    );
}

#[test]
fn a_recording_cut_inside_a_character_replays_up_to_its_last_whole_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.jsonl");
    let mut text = COMMITTED.as_bytes().to_vec();
    text.extend_from_slice(
        "{\"t\":1795408018464,\"msg\":{\"type\":\"shutdown\",\"reason\":\"→".as_bytes(),
    );
    text.pop(); // half of the arrow
    std::fs::write(&path, &text).unwrap();
    let rec = Recording::load(&path).unwrap();
    assert!(rec.truncated);
    assert_eq!(rec.entries.len(), COMMITTED.lines().count() - 1);
}

/// Plays a recording every way the replay can: to its end and back, at several sizes, with
/// every replay key, drawing as it goes.
fn play_everything(rec: Recording) {
    let (start, end) = (rec.start_ms(), rec.end_ms());
    let mut p = Player::new(rec, None, false);
    for (w, h) in [(120, 40), (80, 24), (24, 6)] {
        replay_screen(&p, w, h);
    }
    p.seek(start + (end - start) / 2);
    replay_screen(&p, 100, 30);
    p.advance(Duration::from_secs(3600));
    replay_screen(&p, 100, 30);
    for c in [' ', '+', '-', 'G', 'h', 'l', 'g', 'r', 't'] {
        p.on_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        p.advance(Duration::from_millis(250));
    }
    p.seek(end);
    replay_screen(&p, 120, 40);
}

/// JSON pointers of every value inside `v` (not `v` itself).
fn pointers(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &serde_json::Value)> = match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, c)| {
                (
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    c,
                )
            })
            .collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{at}/{i}"), c))
            .collect(),
        _ => Vec::new(),
    };
    for (p, c) in children {
        out.push(p.clone());
        pointers(c, &p, out);
    }
}

/// One change to a recording.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace the `node`-th value (modulo their number) of line `line` by `value`.
    Replace {
        line: usize,
        node: usize,
        value: serde_json::Value,
    },
    /// Replace the `node`-th number of line `line` by `value`.
    Number {
        line: usize,
        node: usize,
        value: serde_json::Value,
    },
    /// Keep only the first `keep` elements (modulo its length + 1) of the `node`-th array
    /// at most `depth` levels deep (shallow arrays are the structure: rollouts, steps).
    Shorten {
        line: usize,
        depth: usize,
        node: usize,
        keep: usize,
    },
    /// Remove a line.
    Remove(usize),
    /// Repeat a line right after itself.
    Duplicate(usize),
    /// Swap two lines.
    Swap(usize, usize),
}

fn hostile_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::json;
    prop_oneof![
        Just(json!(null)),
        Just(json!([])),
        Just(json!({})),
        Just(json!("")),
        Just(json!(true)),
        Just(json!({"Err": {"transport": "down"}})),
        hostile_number(),
        "[ -~]{0,12}".prop_map(|s| json!(s)),
    ]
}

fn hostile_number() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::json;
    prop_oneof![
        prop_oneof![
            Just(-1_i64),
            Just(0),
            Just(1),
            Just(100),
            Just(101),
            Just(255),
            Just(256),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(253_402_300_799_999),
        ]
        .prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!(u64::MAX)),
        prop_oneof![
            Just(1e308),
            Just(-1e308),
            Just(-0.0),
            Just(1e-300),
            Just(0.5)
        ]
        .prop_map(|f| json!(f)),
        any::<f64>().prop_map(|f| json!(f)),
    ]
}

fn edit() -> impl proptest::strategy::Strategy<Value = Edit> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (0usize..300, any::<usize>(), hostile_value())
            .prop_map(|(line, node, value)| Edit::Replace { line, node, value }),
        // The header is the most interesting line: edit it more often.
        4 => (any::<usize>(), hostile_value())
            .prop_map(|(node, value)| Edit::Replace { line: 0, node, value }),
        4 => (0usize..300, any::<usize>(), hostile_number())
            .prop_map(|(line, node, value)| Edit::Number { line, node, value }),
        6 => (prop_oneof![3 => Just(0usize), 1 => 0usize..300], 1usize..=2, any::<usize>(), 0usize..2)
            .prop_map(|(line, depth, node, keep)| Edit::Shorten { line, depth, node, keep }),
        1 => (0usize..300).prop_map(Edit::Remove),
        1 => (0usize..300).prop_map(Edit::Duplicate),
        1 => (0usize..300, 0usize..300).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn apply(lines: &mut Vec<serde_json::Value>, e: &Edit) {
    let n = lines.len();
    if n == 0 {
        return;
    }
    match e {
        Edit::Replace { line, node, value } => {
            let v = &mut lines[line % n];
            let mut ps = Vec::new();
            pointers(v, "", &mut ps);
            if ps.is_empty() {
                *v = value.clone();
            } else if let Some(slot) = v.pointer_mut(&ps[node % ps.len()]) {
                *slot = value.clone();
            }
        }
        Edit::Number { line, node, value } => {
            let v = &mut lines[line % n];
            let mut ps = Vec::new();
            pointers(v, "", &mut ps);
            ps.retain(|p| v.pointer(p).is_some_and(serde_json::Value::is_number));
            if let Some(slot) = ps
                .get(node % ps.len().max(1))
                .and_then(|p| v.pointer_mut(p))
            {
                *slot = value.clone();
            }
        }
        Edit::Shorten {
            line,
            depth,
            node,
            keep,
        } => {
            let v = &mut lines[line % n];
            let mut ps = vec![String::new()];
            pointers(v, "", &mut ps);
            ps.retain(|p| {
                p.matches('/').count() <= *depth
                    && v.pointer(p).is_some_and(serde_json::Value::is_array)
            });
            if let Some(serde_json::Value::Array(a)) = ps
                .get(node % ps.len().max(1))
                .and_then(|p| v.pointer_mut(p))
            {
                a.truncate(keep % (a.len() + 1));
            }
        }
        Edit::Remove(i) => drop(lines.remove(i % n)),
        Edit::Duplicate(i) => {
            let v = lines[i % n].clone();
            lines.insert(i % n, v);
        }
        Edit::Swap(a, b) => lines.swap(a % n, b % n),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    /// Whatever a recording holds, replay either plays it (every way it can be played) or
    /// refuses it with a one-line error naming a line of the file: it never panics.
    #[test]
    fn random_recordings_play_or_are_refused_never_panic(
        edits in proptest::collection::vec(edit(), 1..6),
        // Short sessions (quit at once: the header and a few ticks) are their own case.
        keep in proptest::option::weighted(0.4, 1usize..4),
        cut in proptest::option::weighted(0.2, 0usize..80_000),
    ) {
        let mut lines = committed_values();
        if let Some(k) = keep {
            lines.truncate(k);
        }
        for e in &edits {
            apply(&mut lines, e);
        }
        let mut text = text_of(&lines);
        if let Some(c) = cut {
            let mut c = c.min(text.len());
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            text.truncate(c);
        }
        match Recording::parse(&text) {
            Ok(rec) => play_everything(rec),
            Err(e) => {
                let e = e.to_string();
                let line: usize = e
                    .strip_prefix("line ")
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                proptest::prop_assert!(
                    line >= 1 && line <= text.lines().count().max(1) && !e.contains('\n'),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn the_committed_recording_plays_every_way_without_panicking() {
    // The property's baseline: the unedited recording passes the same checks.
    play_everything(committed());
}

/// The committed recording is format 1 (keys); written again as format 2 (actions) it replays
/// to the same states and screens all along, and the new file holds actions, no keys.
#[test]
fn a_format_1_recording_written_as_format_2_replays_the_same() {
    let old = committed();
    assert_eq!(old.header.rollwatch_recording, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.jsonl");
    let mut rec = Recorder::create(
        &path,
        RecordMeta {
            clock_speed: old.header.clock_speed,
            command: old.header.command.clone(),
        },
    )
    .unwrap();
    rec.begin(&old.header.initial_state(false));
    for e in &old.entries {
        rec.record(e.t, &e.msg);
    }
    rec.finish().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["rollwatch_recording"], 2);
    let types: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["msg"]["type"].to_string())
        .collect();
    assert!(!types.iter().any(|t| t == "\"key\""), "no key lines");
    // The recording's four keys: `+` (blocked), `r`, `y` and `q`.
    assert_eq!(types.iter().filter(|t| *t == "\"action\"").count(), 4);

    let new = Recording::load(&path).unwrap();
    let times: Vec<i64> = old.entries.iter().map(|e| e.t).collect();
    let (mut a, mut b) = (Player::new(old, None, false), Player::new(new, None, false));
    for t in times.iter().step_by(17).chain([times.last().unwrap()]) {
        a.seek(*t);
        b.seek(*t);
        assert_eq!(visible(&b.state), visible(&a.state), "at {t}");
        assert_eq!(
            render(&b.state, 120, 40),
            render(&a.state, 120, 40),
            "at {t}"
        );
    }
    assert!(b.at_end());
    assert_eq!(
        b.state.rollouts[0].flag.as_ref().map(|f| f.percent),
        Some(0),
        "the recorded rollback"
    );
}

/// The replay's footer and `?` show the replay's keys, never the dashboard's write keys
/// (which do nothing in a replay).
#[test]
fn replay_shows_its_own_keys_in_the_footer_and_in_help() {
    let mut p = Player::new(committed(), None, false);
    p.paused = true;
    let k = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    for (w, h) in [(120, 40), (80, 24)] {
        let s = replay_screen(&p, w, h);
        let footer = s.lines().last().unwrap();
        assert!(
            footer.contains("space pause") && footer.contains("? help"),
            "{w}x{h}: {footer}"
        );
        assert!(
            !s.contains("r rollback") && !s.contains("K kill") && !s.contains("+ next"),
            "{w}x{h}: the live keys are not offered:\n{s}"
        );
    }

    assert_eq!(p.on_key(&k('?')), Control::Continue);
    let s = replay_screen(&p, 120, 40);
    assert!(s.contains("Replay keys"), "{s}");
    for (keys, what) in replay::BINDINGS {
        assert!(s.contains(what), "help lists `{keys}`: {what}\n{s}");
    }
    assert!(
        !s.contains("roll back to 0 %") && !s.contains("kill switch"),
        "the dashboard's bindings are not listed:\n{s}"
    );
    // Esc closes the help (and does not leave the replay); `?` opens and closes it too.
    assert_eq!(
        p.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        Control::Continue
    );
    assert!(!replay_screen(&p, 120, 40).contains("Replay keys"));
    p.on_key(&k('?'));
    p.on_key(&k('?'));
    assert!(!replay_screen(&p, 120, 40).contains("Replay keys"));
}
