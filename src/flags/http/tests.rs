//! Unit tests of the generic HTTP flag: percentages, templates, pointers, odd types, and a
//! Debug output without the token.

use super::*;
use serde_json::json;

fn cfg() -> HttpFlagConfig {
    HttpFlagConfig {
        url: "http://127.0.0.1:1/flag".into(),
        percent_pointer: "/percent".into(),
        enabled_pointer: Some("/on".into()),
        version_pointer: None,
        method: WriteMethod::Put,
        write_url: None,
        body_template: r#"{"percent": {{percent}}, "on": {{enabled}}}"#.into(),
        token_env: None,
        token_file: None,
        timeout_ms: 1000,
        insecure_skip_verify: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
        lease: None,
    }
}

#[test]
fn percentages_come_from_numbers_and_strings_within_range_only() {
    assert_eq!(percent_of(&json!(25)), Some(25));
    assert_eq!(percent_of(&json!("25")), Some(25));
    assert_eq!(percent_of(&json!(25.0)), Some(25));
    assert_eq!(percent_of(&json!(150)), None);
    assert_eq!(percent_of(&json!(-1)), None);
    assert_eq!(percent_of(&json!(2.5)), None);
    assert_eq!(percent_of(&json!(f64::MAX)), None);
    assert_eq!(percent_of(&json!(null)), None);
    assert_eq!(percent_of(&json!("lots")), None);
}

#[test]
fn a_template_that_is_not_json_is_refused_at_start() {
    let mut c = cfg();
    c.body_template = r#"{"percent": {{percent}"#.into();
    assert!(matches!(
        HttpFlag::new(c, None),
        Err(FlagError::Misconfigured(m)) if m.contains("body_template")
    ));
}

#[test]
fn a_pointer_without_slash_is_refused() {
    let mut c = cfg();
    c.percent_pointer = "percent".into();
    assert!(matches!(
        HttpFlag::new(c, None),
        Err(FlagError::Misconfigured(m)) if m.contains("percent_pointer")
    ));
}

#[test]
fn wrong_types_are_protocol_errors_not_panics() {
    let f = HttpFlag::new(cfg(), None).unwrap();
    for doc in [
        json!({"percent": "x", "on": true}),
        json!({"percent": 5, "on": "yes"}),
        json!({"on": true}),
        json!([1, 2]),
        json!(null),
    ] {
        assert!(
            matches!(f.parse(&doc, None), Err(FlagError::Protocol(_))),
            "{doc}"
        );
    }
}

#[test]
fn debug_output_hides_the_token() {
    let f = HttpFlag::new(cfg(), Some(Secret::new("s3cr3t-token"))).unwrap();
    assert!(!format!("{f:?}").contains("s3cr3t-token"));
}
