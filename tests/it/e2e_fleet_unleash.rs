//! End to end against a real Unleash, in tmux: twelve features with a gradual rollout in the
//! non-default `production` environment are discovered by a `[[fleet]]` and listed in the fleet
//! table; one is picked with the `/` filter and stepped (`+` is blocked without metrics, `!` forces
//! it through the confirm dialog, `y`), and Unleash then holds
//! the new percentage for it, its constraints intact, and the old one for the other eleven.

use std::time::Duration;

use reqwest::Method;
use rollwatch::clock::{Clock, SystemClock};
use serde_json::Value;

use crate::fleet_unleash::{Admin, ENV, config, engine, gradual};
use crate::support::tmux::{Tmux, available};
use crate::support::wait::eventually;

const WAIT: Duration = Duration::from_secs(30);

/// The table rows naming one of our features.
fn ours<'a>(screen: &'a str, tag: &str) -> Vec<&'a str> {
    screen.lines().skip(2).filter(|l| l.contains(tag)).collect()
}

/// The production strategy of `name`: its rollout percentage and its constraints.
async fn strategy(admin: &Admin, name: &str) -> (String, Value) {
    let f = admin
        .ok(
            Method::GET,
            &format!("/api/admin/projects/default/features/{name}"),
            None,
        )
        .await;
    let env = f["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == ENV)
        .unwrap()
        .clone();
    let s = env["strategies"][0].clone();
    (
        s["parameters"]["rollout"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        s["constraints"].clone(),
    )
}

/// Twelve features `{tag}-00` … `{tag}-11` with a gradual rollout of 0, 5, … 55 % (with a
/// constraint) in production, switched on there.
async fn twelve(admin: &Admin, tag: &str) -> Vec<String> {
    let names: Vec<String> = (0..12).map(|i| format!("{tag}-{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        admin
            .feature(name, ENV, gradual(u8::try_from(i * 5).unwrap()))
            .await;
        // Switched on in production, as a live rollout is.
        admin
            .ok(
                Method::POST,
                &format!("/api/admin/projects/default/features/{name}/environments/{ENV}/on"),
                None,
            )
            .await;
    }
    names
}

#[allow(clippy::too_many_lines)] // one session, step by step
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_unleash_fleet_is_listed_and_one_rollout_is_steered() {
    let Some((url, token)) = engine() else {
        return;
    };
    if !available() {
        return;
    }
    let admin = Admin {
        url: url.clone(),
        token: token.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    };
    let tag = format!(
        "rw-uf-{}-{}",
        std::process::id(),
        SystemClock.now_ms() % 1_000_000
    );
    let names = twelve(&admin, &tag).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let t = Tmux::watch_audited(
        "ufleet",
        120,
        40,
        dir.path(),
        &config(&url),
        &[("ROLLWATCH_UNLEASH_TOKEN", token.as_str())],
        &audit,
    );
    tokio::task::block_in_place(|| {
        // The table at start; the filter narrows it to this test's twelve features.
        t.wait_for("the fleet table", WAIT, |s| s.starts_with(" Fleet "));
        t.keys(&["/"]);
        t.wait_for("the filter prompt", WAIT, |s| s.contains("filter: /_"));
        t.keys(&["-l", &tag]);
        t.keys(&["Enter"]);
        let s = t.wait_for("twelve discovered rollouts, each read", WAIT, |s| {
            let rows = ours(s, &tag);
            rows.len() == 12 && rows.iter().all(|r| !r.contains("UNREAD"))
        });
        for (i, name) in names.iter().enumerate() {
            let row = ours(&s, name)[0];
            assert!(row.contains(&format!(" {}% ", i * 5)), "{row}");
        }
        // Narrow to the one at 25 % and step it.
        let pick = &names[5];
        t.keys(&["Escape"]);
        t.wait_for("the filter cleared", WAIT, |s| !s.contains("filter: /"));
        t.keys(&["/"]);
        t.wait_for("the filter prompt", WAIT, |s| s.contains("filter: /_"));
        t.keys(&["-l", pick]);
        t.keys(&["Enter"]);
        let s = t.wait_for("only the picked rollout", WAIT, |s| {
            ours(s, &tag).len() == 1 && s.contains(pick.as_str())
        });
        assert!(ours(&s, &tag)[0].contains('▶'), "selected:\n{s}");
        // No metrics source answers here: the plain step is blocked, with the reason, and
        // `!` forces it through the same dialog, which names what it forces past.
        t.keys(&["+"]);
        t.wait_for("+ blocked by the missing metrics", WAIT, |s| {
            s.contains("next step blocked: metrics data ERROR")
        });
        assert!(!t.screen().contains("Confirm flag change"));
        t.keys(&["!"]);
        let s = t.wait_for("the confirm dialog", WAIT, |s| {
            s.contains("Confirm flag change")
        });
        assert!(s.contains(pick.as_str()) && s.contains("25% → 50%"), "{s}");
        assert!(s.contains("metrics data ERROR"), "the dialog warns:\n{s}");
        t.keys(&["y"]);
        let s = t.wait_for("the write's outcome", WAIT, |s| {
            !s.contains("Confirm flag change") && s.contains("25% → 50%")
        });
        assert!(s.contains("done: set 25% → 50% (re-read: 50%)"), "{s}");
    });
    let pick = names[5].clone();
    let landed = eventually("the step read back from Unleash", WAIT, || async {
        match strategy(&admin, &pick).await {
            (p, c) if p == "50" => Ok(c),
            (p, _) => Err(format!("rollout {p}")),
        }
    })
    .await;
    let others: Vec<String> = {
        let mut v = Vec::new();
        for n in names.iter().filter(|n| **n != pick) {
            v.push(strategy(&admin, n).await.0);
        }
        v
    };
    t.keys(&["q"]);
    for n in &names {
        admin.remove(n).await;
    }
    assert!(
        landed.to_string().contains("checkout"),
        "constraints kept: {landed}"
    );
    let expected: Vec<String> = (0..12)
        .filter(|i| *i != 5)
        .map(|i| (i * 5).to_string())
        .collect();
    assert_eq!(others, expected, "the other eleven unchanged");
}
