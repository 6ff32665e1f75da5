//! Budgets P6 (frame cost), alert evaluation and history costs, measured with criterion.
//! `cargo bench --bench frame` (the README's Performance section lists the figures).
#![allow(clippy::unwrap_used)] // test code: a panic here is a failing test

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use rollwatch::alerts::{Action, AlertState, Condition, Observation, Op, Rule, Severity, step};
use rollwatch::app::driver::Driver;
use rollwatch::model::{Cohort, History};
use rollwatch::sim::Scenario;
use rollwatch::ui::{self, theme};

const T0: i64 = 1_767_268_800_000;

fn driven() -> Driver {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(Driver::demo(Scenario::Regression, T0, 90))
}

/// Render + diff of a full frame whose data changed (the next second's state), as the event
/// loop does: ratatui draws into its back buffer and diffs against the previous frame.
fn frames(c: &mut Criterion) {
    let d = driven();
    let themes = theme::builtin();
    for (w, h) in [(80u16, 24u16), (120, 40), (200, 60)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut a = d.state.clone();
        let mut b = d.state.clone();
        b.now_ms += 1000; // ages and countdowns change
        a.selected = 0;
        b.selected = 0;
        let mut flip = false;
        c.bench_function(&format!("frame {w}x{h}"), |bench| {
            bench.iter(|| {
                flip = !flip;
                let s = if flip { &a } else { &b };
                term.draw(|f| ui::draw(f, black_box(s), &themes[0]))
                    .unwrap();
            });
        });
    }
}

/// The fleet table of 500 rollouts at 120×40 (issue 14: it must stay cheap at 500): the demo's
/// driven rollouts cloned under 500 names, the selection in the middle, data changing each
/// frame. Only the rows on screen are formatted; the order is computed over all 500.
fn fleet(c: &mut Criterion) {
    let d = driven();
    let themes = theme::builtin();
    let mut a = d.state.clone();
    a.rollouts = (0..500)
        .map(|i| {
            let mut r = d.state.rollouts[i % d.state.rollouts.len()].clone();
            r.def.name = format!("svc-{i:03}");
            r
        })
        .collect();
    a.selected = 250;
    rollwatch::app::fleet::open_at_start(&mut a);
    a.selected = 250;
    let mut b = a.clone();
    b.now_ms += 1000;
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut flip = false;
    c.bench_function("fleet frame 120x40, 500 rollouts", |bench| {
        bench.iter(|| {
            flip = !flip;
            let s = if flip { &a } else { &b };
            term.draw(|f| ui::draw(f, black_box(s), &themes[0]))
                .unwrap();
        });
    });
}

fn rules(n: usize) -> Vec<Rule> {
    (0..n)
        .map(|i| Rule {
            name: format!("r{i}"),
            metric: "m".into(),
            cohort: Cohort::New,
            condition: if i % 2 == 0 {
                Condition::Absolute {
                    op: Op::Gt,
                    value: 0.5,
                }
            } else {
                Condition::RatioToLegacy {
                    op: Op::Gt,
                    factor: 1.5,
                }
            },
            for_: Duration::from_secs(60),
            keep_firing_for: Duration::from_secs(30),
            severity: Severity::Critical,
            action: Action::Rollback { to: 0 },
            significant: false,
        })
        .collect()
}

fn alerts(c: &mut Criterion) {
    let rules = rules(50);
    let mut states: Vec<AlertState> = rules.iter().map(|_| AlertState::initial(0)).collect();
    let mut t = 0i64;
    c.bench_function("alert evaluation, 50 rules", |bench| {
        bench.iter(|| {
            t += 1000;
            let v = if (t / 1000) % 7 < 4 { 0.7 } else { 0.2 };
            for (r, s) in rules.iter().zip(states.iter_mut()) {
                let obs = rollwatch::alerts::observe(r, Some(0.3), Some(v));
                let obs = if (t / 1000) % 31 == 0 {
                    Observation::NoData
                } else {
                    obs
                };
                *s = step(s, r, &obs, t);
            }
            black_box(&states);
        });
    });
}

fn history(c: &mut Criterion) {
    let mut h = History::new();
    let mut t = 0i64;
    c.bench_function("history push (with 10 s and 1 min downsampling)", |bench| {
        bench.iter(|| {
            t += 1000;
            #[allow(clippy::cast_precision_loss)]
            h.push(t, Some((t % 977) as f64));
        });
    });
    c.bench_function("history series for a 100-column sparkline", |bench| {
        bench.iter(|| black_box(h.series(100)));
    });
}

criterion_group!(benches, frames, fleet, alerts, history);
criterion_main!(benches);
