//! A fleet while watching: discovery runs again on schedule; a flag that appeared becomes a
//! rollout appended after the others (its backend working at its index), and a flag no
//! longer listed is marked gone and no longer polled, without any index shifting. The flags
//! are served by `rollwatch simulate --flags`; the list endpoint is the test's own, so it can
//! change.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State as AxState;
use rollwatch::app::discovery::DiscoveryFeed;
use rollwatch::app::effects::Effects;
use rollwatch::app::msg::{Command, Msg};
use rollwatch::app::state::{RolloutState, State};
use rollwatch::app::update;
use rollwatch::audit::AuditLog;
use rollwatch::backends::{Rediscovery, discover, wire};
use rollwatch::clock::{Clock, SystemClock};
use rollwatch::sim::fleet::fleet;
use rollwatch::sim::server::SimServer;
use serde_json::{Value, json};

type Listed = Arc<Mutex<Vec<&'static str>>>;

async fn list_server(names: Listed) -> SocketAddr {
    async fn list(AxState(n): AxState<Listed>) -> axum::Json<Value> {
        let names = n.lock().unwrap().clone();
        axum::Json(json!({"data": names.iter().map(|n| json!({"key": n})).collect::<Vec<_>>()}))
    }
    let app = axum::Router::new()
        .route("/flags", axum::routing::get(list))
        .with_state(names);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

fn config(list: SocketAddr, sim: SocketAddr) -> String {
    format!(
        r#"refresh = "2s"
[[fleet]]
steps = [5, 25, 50]
[fleet.flags]
kind = "http"
list_url = "http://{list}/flags"
items_pointer = "/data"
name_pointer = "/key"
url = "http://{sim}/api/flags/{{name}}"
percent_pointer = "/percent"
body_template = '{{"percent": {{{{percent}}}}}}'
[fleet.metrics]
kind = "prometheus"
url = "http://127.0.0.1:1"
[[fleet.metric]]
id = "errors"
kind = "ratio"
query = 'sum by ($flag_label, $variant_label)(rate(errors_total[1m]))'
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_flags_are_appended_and_archived_ones_stop_being_polled() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let flags = fleet(3, 5);
    let percent_2 = flags[2].percent;
    let server = SimServer::bind_fleet("127.0.0.1:0".parse().unwrap(), flags, 0, clock.clone())
        .await
        .unwrap();
    let sim = server.local_addr().unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    let listed: Listed = Arc::new(Mutex::new(vec!["flag-000", "flag-001"]));
    let list = list_server(listed.clone()).await;

    let mut cfg = rollwatch::config::parse(Path::new("f.toml"), &config(list, sim)).unwrap();
    discover(&mut cfg).await.unwrap();
    let wired = wire(&cfg, &clock).unwrap();
    let now = clock.now_ms();
    let rollouts = wired
        .iter()
        .map(|(r, b)| RolloutState::new(r.clone(), b.flag.describe(), b.metrics.describe(), now))
        .collect();
    let mut state = State::new(rollouts, 2_000, now);
    state.discovery = Some(DiscoveryFeed {
        every_ms: 60_000,
        next_at_ms: now + 60_000,
        in_flight: false,
    });
    let dir = tempfile::tempdir().unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let effects = Effects::new(
        wired.iter().map(|(r, _)| r.name.clone()).collect(),
        wired.into_iter().map(|(_, b)| b).collect(),
        tx,
        clock.clone(),
        AuditLog::new(dir.path().join("audit.jsonl")),
        false,
        Duration::from_secs(2),
    )
    .with_discovery(Arc::new(Rediscovery::new(&cfg, Vec::new(), clock.clone())));

    // Not due yet: no discovery.
    let cmds = update(&mut state, Msg::Tick(now + 1_000));
    assert!(!cmds.iter().any(|c| matches!(c, Command::Discover { .. })));

    *listed.lock().unwrap() = vec!["flag-000", "flag-002"];
    let cmds = update(&mut state, Msg::Tick(now + 61_000));
    let discover_cmd = cmds
        .into_iter()
        .find(|c| matches!(c, Command::Discover { .. }))
        .expect("a discovery once due");
    let msg = effects.perform(discover_cmd).await.unwrap();
    let Msg::Discovered {
        result: Ok(found), ..
    } = &msg
    else {
        panic!("{msg:?}");
    };
    assert_eq!(found.gone, ["flag-001"]);
    assert_eq!(found.added.len(), 1);
    update(&mut state, msg);

    let names: Vec<&str> = state.rollouts.iter().map(|r| r.def.name.as_str()).collect();
    assert_eq!(
        names,
        ["flag-000", "flag-001", "flag-002"],
        "appended, never shifted"
    );
    assert!(state.rollouts[1].gone && !state.rollouts[2].gone);

    // The next due polls skip the gone rollout; the new one's backend answers at its index.
    let cmds = update(&mut state, Msg::Tick(now + 200_000));
    let reads: Vec<usize> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::ReadFlag(i) => Some(*i),
            _ => None,
        })
        .collect();
    assert!(!reads.contains(&1), "{reads:?}");
    assert!(reads.contains(&2), "{reads:?}");
    let read = effects.perform(Command::ReadFlag(2)).await.unwrap();
    let Msg::FlagRead {
        rollout: 2,
        result: Ok(snap),
        ..
    } = read
    else {
        panic!("{read:?}");
    };
    assert_eq!(snap.percent, percent_2);

    // Listed again: no longer gone, and nothing added twice.
    *listed.lock().unwrap() = vec!["flag-000", "flag-001", "flag-002"];
    let known = state.rollouts.iter().map(|r| r.def.name.clone()).collect();
    let msg = effects.perform(Command::Discover { known }).await.unwrap();
    update(&mut state, msg);
    assert_eq!(state.rollouts.len(), 3);
    assert!(!state.rollouts[1].gone);
}
