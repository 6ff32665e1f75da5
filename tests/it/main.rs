//! rollwatch's integration tests: one crate, so one link of the test binary instead of one per
//! file. Each file here is a module named after what it tests; the helpers they share (a
//! Prometheus and the simulator, the fault server and its configs, tmux, state fixtures, the
//! wait with a deadline) live in `support/`. Test data stays where it was: `tests/data`,
//! `tests/fixtures`, `tests/alert-parity`; insta's snapshots are in `tests/it/snapshots`,
//! proptest's saved failures in `tests/proptest-regressions/<module>.txt`.
//!
//! All modules run in one process: no test may change the process's environment or current
//! directory (give them to the child process instead).
#![allow(clippy::unwrap_used)] // test code: a panic here is a failing test

mod support;

mod alert_eval;
mod alert_parity;
mod audit_reconcile;
mod automation;
mod bake;
mod cas_property;
mod completions;
mod config_files;
mod counts;
mod e2e_automation;
mod e2e_demo;
mod e2e_fleet;
mod e2e_fleet_unleash;
mod e2e_mouse;
mod e2e_multi_flag;
mod e2e_redraw;
mod e2e_safety;
mod e2e_signals;
mod faults;
mod faults_ui;
mod fleet;
mod fleet_rediscover;
mod fleet_unleash;
mod fleet_view;
mod gbstats_reference;
mod guard;
mod hostile_config;
mod http_flag;
mod json_source;
mod layers;
mod multi_flag;
mod prometheus;
mod record_replay;
mod screens;
mod secrets;
mod snapshots;
mod theme_contrast;
mod tls;
mod unleash;
mod update;
mod verdicts_e2e;
mod walkthrough;
mod write_done;

/// With `autotests = false`, a test file Cargo.toml does not name is never compiled, and a file
/// here that `main.rs` does not declare is not either: both would be tests that silently never
/// run. Every `tests/*.rs` must move here, and every `tests/it/*.rs` be a `mod` above.
#[test]
fn every_test_file_is_a_module_of_this_crate() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let rs = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                std::path::Path::new(n)
                    .extension()
                    .is_some_and(|x| x == "rs")
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        rs(&tests),
        Vec::<String>::new(),
        "test files outside tests/it are not compiled (autotests = false): move them there"
    );
    let main = std::fs::read_to_string(tests.join("it/main.rs")).unwrap();
    for file in rs(&tests.join("it")) {
        let name = file.trim_end_matches(".rs");
        assert!(
            name == "main" || main.contains(&format!("\nmod {name};\n")),
            "tests/it/{file} is not declared in tests/it/main.rs: its tests never run"
        );
    }
}
