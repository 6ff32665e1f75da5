//! Every invalid config in `tests/fixtures/config-invalid/` is refused by `check-config` with a
//! non-zero exit and a message naming the file, line and column and what was expected;
//! adding a file adds a case. The valid fixture and every example config pass.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rollwatch");

/// (fixture, line, a fragment the message must contain)
const EXPECTED: &[(&str, usize, &str)] = &[
    (
        "unknown-key",
        10,
        "unknown field `colour`, expected `percent`",
    ),
    ("step-out-of-range", 5, "0..=100"),
    ("steps-not-ascending", 5, "ascending"),
    ("bad-refresh", 1, "expected e.g. 30s"),
    ("refresh-too-fast", 1, "between 250ms and 1h"),
    (
        "unknown-metric-in-rule",
        21,
        "not defined in this rollout (defined: error_rate)",
    ),
    ("bad-when", 22, "expected `new > 0.5`"),
    ("bad-unit", 22, "percent"),
    ("bad-for", 23, "not a duration"),
    ("bad-severity", 24, "expected warning or critical"),
    ("bad-action", 24, "rollback:PERCENT"),
    ("bad-flag-kind", 8, "expected one of unleash, http, memory"),
    ("flag-percent-out-of-range", 9, "0..=100"),
    ("bad-metric-kind", 16, "expected ratio, latency"),
    ("bad-quantile", 17, "0 < q < 1"),
    ("bad-savings-target", 17, "savings_target"),
    ("duplicate-metric", 20, "duplicate metric id"),
    ("no-rollouts", 1, "add at least one [[rollout]]"),
    ("syntax-error", 7, "expected `,`"),
    ("wrong-type", 5, "sequence"),
    ("bake-too-long", 6, "more bake times than steps"),
    ("sim-field-missing", 15, "needs `sim`"),
    (
        "bad-scenario",
        13,
        "expected healthy, regression, leak, same or srm",
    ),
    // What `watch` refused only when building the backends, now refused by `check-config`.
    (
        "http-pointer-without-slash",
        10,
        "`percent_pointer` = \"percent\" is not a JSON pointer",
    ),
    (
        "enabled-pointer-template-without-enabled",
        12,
        "`body_template` has no {{enabled}} but `enabled_pointer` is set",
    ),
    (
        "http-template-without-percent",
        11,
        "`body_template` has no {{percent}}",
    ),
    (
        "simulator-with-http-flag",
        15,
        "needs `flag.kind = \"memory\"`",
    ),
    (
        "unleash-without-token",
        7,
        "set `token_env` or `token_file`",
    ),
    (
        "prometheus-label-in-both-cohorts",
        11,
        "`v1` is in both legacy and new",
    ),
    ("prometheus-bad-url", 13, "the scheme must be http or https"),
    (
        "json-per-pointer-without-slash",
        16,
        "legacy_per = `legacy/calls` is not a JSON pointer",
    ),
    ("http-token-env-and-file", 12, "not both"),
    (
        "prometheus-user-without-password",
        17,
        "no `password_env` or `password_file`",
    ),
    // TLS files are read when the config is checked: missing, unreadable, not PEM, half a pair.
    (
        "tls-ca-file-missing",
        16,
        "`ca_file` = \"/nonexistent/rollwatch-test-ca.pem\": cannot read",
    ),
    (
        "tls-ca-file-unreadable",
        12,
        "flag (http): `ca_file` = \"/\": cannot read",
    ),
    (
        "tls-ca-file-not-pem",
        14,
        "`ca_file` = \"/dev/null\": no PEM certificate in it",
    ),
    (
        "tls-client-cert-without-key",
        13,
        "`client_cert_file` needs `client_key_file`",
    ),
];

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn every_invalid_config_names_file_line_column_and_expectation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config-invalid");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (ok, msg) = check(&path);
        assert!(!ok, "{name} was accepted");
        assert!(!msg.contains("panicked"), "{name} panicked: {msg}");
        let prefix = format!("{}:", path.display());
        assert!(msg.starts_with(&prefix), "{name}: no file name: {msg}");
        let rest = &msg[prefix.len()..];
        let mut parts = rest.splitn(3, ':');
        let line: usize = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no line: {msg}"));
        let _col: usize = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no column: {msg}"));
        if let Some((_, want_line, fragment)) = EXPECTED.iter().find(|(n, _, _)| *n == name) {
            assert_eq!(line, *want_line, "{name}: {msg}");
            assert!(
                msg.contains(fragment),
                "{name}: expected `{fragment}` in: {msg}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, EXPECTED.len(), "every fixture has an expectation");
}

#[test]
fn the_valid_fixture_and_every_example_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, msg) = check(&root.join("tests/fixtures/config-valid.toml"));
    assert!(ok, "{msg}");
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (ok, msg) = check(&path);
            assert!(ok, "{}: {msg}", path.display());
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let (ok, msg) = check(Path::new("/nonexistent/rollwatch.toml"));
    assert!(!ok);
    assert!(
        msg.contains("/nonexistent/rollwatch.toml") && msg.contains("cannot read"),
        "{msg}"
    );
}

#[test]
fn without_a_config_rollwatch_says_how_to_start_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("rollwatch: no config found"), "{err}");
    assert!(err.contains("rollwatch demo"), "{err}");
    assert!(
        !err.contains("Location") && !err.contains("BACKTRACE"),
        "no bug report for a user error: {err}"
    );
}
