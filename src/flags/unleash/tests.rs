//! Unit tests of the Unleash adapter: the flexible rollout and its details, versions, odd
//! documents, events, URLs, a Debug output without the token.

use super::*;

fn cfg() -> UnleashConfig {
    UnleashConfig {
        url: "http://127.0.0.1:4242".into(),
        project: "default".into(),
        feature: "f".into(),
        environment: "production".into(),
        strategy_id: None,
        token_env: None,
        token_file: None,
        timeout_ms: 1000,
        insecure_skip_verify: false,
        ca_file: None,
        client_cert_file: None,
        client_key_file: None,
    }
}

fn flexible(id: &str, rollout: &Value) -> Value {
    json!({"id": id, "name": "flexibleRollout",
           "parameters": {"rollout": rollout, "stickiness": "userId", "groupId": "g"},
           "constraints": [{"contextName": "region", "operator": "IN", "values": ["eu"]}]})
}

fn feature(strategies: &Value) -> Value {
    json!({"environments": [
        {"name": "development", "enabled": false, "strategies": []},
        {"name": "production", "enabled": true, "strategies": strategies}]})
}

#[test]
fn reads_the_single_flexible_rollout_and_its_details() {
    let p = parse_feature(&feature(&json!([flexible("a", &json!("25"))])), &cfg()).unwrap();
    assert_eq!(p.snapshot.percent, 25);
    assert!(p.snapshot.enabled);
    assert_eq!(p.strategy_id, "a");
    let d: std::collections::HashMap<_, _> = p.snapshot.details.iter().cloned().collect();
    assert_eq!(d["stickiness"], "userId");
    assert_eq!(d["constraints"], "region IN [eu]");
}

#[test]
fn the_version_follows_the_strategy_not_other_environments() {
    let a = parse_feature(&feature(&json!([flexible("a", &json!("25"))])), &cfg()).unwrap();
    let mut other = feature(&json!([flexible("a", &json!("25"))]));
    other["environments"][0]["enabled"] = json!(true);
    other["lastSeenAt"] = json!("2026-01-01T00:00:00Z");
    let b = parse_feature(&other, &cfg()).unwrap();
    assert_eq!(a.snapshot.version, b.snapshot.version);
    let mut s = flexible("a", &json!("25"));
    s["constraints"] = json!([]);
    let c = parse_feature(&feature(&json!([s])), &cfg()).unwrap();
    assert_ne!(a.snapshot.version, c.snapshot.version);
}

#[test]
fn zero_or_several_rollouts_are_misconfigured_and_listed() {
    let none = parse_feature(&feature(&json!([{"id": "d", "name": "default"}])), &cfg());
    assert!(matches!(&none, Err(FlagError::Misconfigured(m)) if m.contains("default id=d")));
    let two = parse_feature(
        &feature(&json!([
            flexible("a", &json!("5")),
            flexible("b", &json!("7"))
        ])),
        &cfg(),
    );
    assert!(matches!(&two, Err(FlagError::Misconfigured(m))
        if m.contains("id=a rollout=5") && m.contains("id=b rollout=7") && m.contains("strategy_id")));
    let mut c = cfg();
    c.strategy_id = Some("b".into());
    let picked = parse_feature(
        &feature(&json!([
            flexible("a", &json!("5")),
            flexible("b", &json!("7"))
        ])),
        &c,
    )
    .unwrap();
    assert_eq!(picked.snapshot.percent, 7);
}

#[test]
fn odd_rollouts_and_bodies_are_errors_not_panics() {
    for r in &[
        json!("150"),
        json!(25),
        json!("025"),
        json!(""),
        json!(null),
    ] {
        assert!(
            matches!(
                parse_feature(&feature(&json!([flexible("a", r)])), &cfg()),
                Err(FlagError::Misconfigured(_))
            ),
            "{r}"
        );
    }
    for doc in [
        json!(null),
        json!([]),
        json!({"environments": 3}),
        json!({"environments": [{"name": "production", "enabled": "yes"}]}),
    ] {
        assert!(
            matches!(parse_feature(&doc, &cfg()), Err(FlagError::Protocol(_))),
            "{doc}"
        );
    }
    assert!(matches!(
        parse_feature(&json!({"environments": []}), &cfg()),
        Err(FlagError::NotFound(m)) if m.contains("production")
    ));
}

#[test]
fn events_keep_this_environment_and_read_before_and_after() {
    let doc = json!({"total": 3, "events": [
        {"type": "feature-strategy-update", "createdBy": "alice",
         "createdAt": "2026-01-01T00:00:01Z", "environment": "production",
         "preData": {"id": "a", "parameters": {"rollout": "5"}},
         "data": {"id": "a", "parameters": {"rollout": "25"}}},
        {"type": "feature-strategy-update", "createdBy": "bob",
         "createdAt": "2026-01-01T00:00:02Z", "environment": "development",
         "data": {"id": "z", "parameters": {"rollout": "99"}}},
        {"type": "feature-created", "createdBy": 7, "createdAt": "2026-01-01T00:00:00Z"},
        {"type": "broken", "createdAt": 12}]});
    let ev = parse_events(&doc, "production", Some("a")).unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].author, "alice");
    assert_eq!((ev[0].before, ev[0].after), (Some(5), Some(25)));
    assert_eq!(ev[0].at_ms, 1_767_225_601_000);
    assert_eq!(ev[1].kind, "feature-created");
    assert!(parse_events(&json!({"total": 0}), "production", None).is_err());
}

#[test]
fn urls_encode_names_and_keep_a_path_prefix() {
    let mut c = cfg();
    c.url = "https://example.test/unleash/".into();
    c.feature = "a b/c".into();
    let f = UnleashFlag::new(c, Secret::new("*:*.t")).unwrap();
    assert_eq!(
        f.feature_url(&[]).as_str(),
        "https://example.test/unleash/api/admin/projects/default/features/a%20b%2Fc"
    );
}

#[test]
fn debug_output_hides_the_token() {
    let f = UnleashFlag::new(cfg(), Secret::new("*:*.verysecret")).unwrap();
    assert!(!format!("{f:?}").contains("verysecret"));
}
