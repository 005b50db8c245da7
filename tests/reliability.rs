//! Never lose an event: the shim process is SIGKILLed at random instants, again and again,
//! while builds run and the sink flaps; then the receiver's events are counted against what
//! the mock Jenkins did. 0 lost, 0 duplicates with differing ids, per-job order kept.
//!
//! The figures are printed (`cargo test --test reliability -- --nocapture`) and recorded in
//! docs/reliability.md.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mock_jenkins::{Enqueue, Kind, Plan, Settings};
use util::{Receiver, jenkins};

const SHIM: &str = env!("CARGO_BIN_EXE_jenkins-event-shim");
const KILLS: usize = 20;

fn spawn_shim(url: &str, sink: &str, state: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(SHIM)
        .args([
            "run",
            "--jenkins-url",
            url,
            "--sink",
            sink,
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--poll-interval",
            "100ms",
            "--scan-interval",
            "500ms",
            "--sink-timeout",
            "1s",
        ])
        .arg("--state-dir")
        .arg(state)
        .env("LOG_LEVEL", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the shim binary runs")
}

/// What one event is about: (job source, phase, build number or queue id).
fn key(r: &util::Received) -> (String, String, u64) {
    let data = r.json();
    let ty = r.ty().trim_start_matches("org.jenkinsci.").to_string();
    let n = if ty.starts_with("queue.") {
        data["jenkinsQueueId"].as_u64()
    } else {
        data["build"]["number"].as_u64()
    };
    (
        r.header("ce-source").unwrap_or("").to_string(),
        ty,
        n.unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_instants_while_builds_run_and_the_sink_flaps_loses_nothing() {
    let state = std::env::temp_dir().join(format!("shim-reliability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mock = jenkins(Settings::default()).await;
    let jobs = [
        ("app", Kind::Freestyle, "job/app"),
        ("pipe", Kind::Pipeline, "job/pipe"),
        ("team/svc", Kind::Freestyle, "job/svc"),
    ];
    for (name, kind, _) in jobs {
        mock.world().create(name, kind).unwrap();
    }
    let rx = Receiver::start().await;

    // The first run takes the starting point before any build exists.
    let mut shim = spawn_shim(&mock.url(), &rx.url(), &state);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let traffic = tokio::spawn({
        let world = mock.shared();
        async move {
            let mut rng = fastrand::Rng::with_seed(7);
            loop {
                {
                    let mut w = world.lock().unwrap();
                    let (job, _, _) = jobs[rng.usize(..jobs.len())];
                    let plan = Plan {
                        duration_ms: rng.i64(100..600),
                        result: if rng.bool() { "SUCCESS" } else { "FAILURE" }.into(),
                    };
                    w.enqueue(
                        job,
                        Enqueue {
                            quiet_ms: Some(rng.i64(0..200)),
                            user: Some("ci".into()),
                            params: vec![],
                            plan: Some(plan),
                        },
                    )
                    .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
    });
    let flapping = tokio::spawn({
        let rx = rx.clone();
        async move {
            let mut rng = fastrand::Rng::with_seed(11);
            loop {
                rx.set_down(rng.bool());
                tokio::time::sleep(Duration::from_millis(rng.u64(100..700))).await;
            }
        }
    });

    let mut rng = fastrand::Rng::with_seed(3);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.u64(150..1200))).await;
        shim.start_kill().unwrap(); // SIGKILL: no shutdown code runs
        shim.wait().await.unwrap();
        shim = spawn_shim(&mock.url(), &rx.url(), &state);
    }
    traffic.abort();
    flapping.abort();
    rx.set_down(false);

    // Let Jenkins finish what is queued and running, then count.
    let deadline = Instant::now() + Duration::from_secs(60);
    while {
        let w = mock.world();
        !w.queue.is_empty() || !w.running.is_empty()
    } {
        assert!(Instant::now() < deadline, "mock builds never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut expected: BTreeSet<(String, String, u64)> = BTreeSet::new();
    let mut builds = 0;
    {
        let w = mock.world();
        for (name, _, source) in jobs {
            for b in w.items[name].builds.values() {
                builds += 1;
                let mut phases = vec!["job.started", "job.completed", "job.finalized"];
                if b.result.as_deref() == Some("FAILURE") {
                    phases.push("job.failed");
                }
                for phase in phases {
                    expected.insert((source.to_string(), phase.to_string(), b.number));
                }
                expected.insert((
                    source.to_string(),
                    "queue.entered_waiting".into(),
                    b.queue_id,
                ));
                expected.insert((source.to_string(), "queue.left".into(), b.queue_id));
            }
        }
    }
    let settled = Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<_> = rx.received().iter().map(key).collect();
        if expected.is_subset(&got) {
            break;
        }
        if Instant::now() > settled {
            let missing: Vec<_> = expected.difference(&got).take(20).collect();
            panic!(
                "lost events after {KILLS} kills: {} missing, e.g. {missing:#?}",
                expected.difference(&got).count()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    shim.start_kill().unwrap();

    let received = rx.received();
    let mut ids_per_key: BTreeMap<(String, String, u64), BTreeSet<String>> = BTreeMap::new();
    let mut first_seen: Vec<(String, String, u64)> = Vec::new();
    let mut seen_ids = BTreeSet::new();
    for r in &received {
        let id = r.header("ce-id").unwrap().to_string();
        ids_per_key.entry(key(r)).or_default().insert(id.clone());
        if seen_ids.insert(id) {
            first_seen.push(key(r));
        }
    }
    let redelivered = received.len() - seen_ids.len();
    let differing: Vec<_> = ids_per_key
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .collect();
    let unexpected: Vec<_> = ids_per_key
        .keys()
        .filter(|k| !expected.contains(*k))
        .collect();
    println!(
        "reliability: {KILLS} SIGKILLs, {builds} builds, {} events expected, {} delivered ({} distinct ids, {redelivered} re-deliveries of the same id), 0 lost, {} duplicates with differing ids, {} unexpected",
        expected.len(),
        received.len(),
        seen_ids.len(),
        differing.len(),
        unexpected.len()
    );
    assert!(
        differing.is_empty(),
        "the same change under two ids: {differing:#?}"
    );
    assert!(
        unexpected.is_empty(),
        "events for nothing that happened: {unexpected:#?}"
    );
    // Per job, lifecycle order in order of first delivery.
    let w = mock.world();
    for (name, _, source) in jobs {
        for b in w.items[name].builds.values() {
            let position = |phase: &str, n: u64| {
                first_seen
                    .iter()
                    .position(|k| k.0 == source && k.1 == phase && k.2 == n)
                    .unwrap()
            };
            let order: Vec<usize> = ["queue.entered_waiting", "queue.left"]
                .iter()
                .map(|p| position(p, b.queue_id))
                .chain(
                    ["job.started", "job.completed", "job.finalized"]
                        .iter()
                        .map(|p| position(p, b.number)),
                )
                .collect();
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "{source} #{}: out of order {order:?}",
                b.number
            );
            if b.result.as_deref() == Some("FAILURE") {
                assert!(position("job.failed", b.number) > position("job.finalized", b.number));
            }
        }
    }
}
