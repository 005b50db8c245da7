//! The `kubesphere` format, checked against a receiver that decodes, answers and acts as
//! ks-devops's Go code does (`util/ks_devops.rs`, each rule citing its Go file): every Pipeline
//! build must end as exactly one correct PipelineRun, whatever fails on the way.

#[path = "util/ks_devops.rs"]
mod ks_devops;
mod util;

use std::time::Duration;

use ks_devops::{KsDevops, PipelineRun};
use mock_jenkins::{Enqueue, Fault, FaultKind, Kind, Settings};
use serde::Deserialize;
use util::{Receiver, Shim, jenkins, options};

/// ks-devops `pkg/event/common/types.go`: the envelope it decodes.
#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    ty: String,
    source: String,
    id: String,
    time: String,
    #[serde(rename = "dataType")]
    data_type: String,
    data: serde_json::Value,
}

const WORKFLOW_RUN: &str = "org.jenkinsci.plugins.workflow.job.WorkflowRun";

/// The generic events of one build, in order.
const RUN_LIFECYCLE: [&str; 4] = [
    "run.initialize",
    "run.started",
    "run.completed",
    "run.finalized",
];

/// ks-devops's look-up before it creates a PipelineRun: 5 tries, 1 s apart.
const LOOKUP: Duration = Duration::from_millis(5200);

fn kubesphere_options(
    mock: &mock_jenkins::MockJenkins,
    rx: &Receiver,
) -> jenkins_event_shim::config::Options {
    kubesphere_to(mock, rx.url())
}

fn kubesphere_to(
    mock: &mock_jenkins::MockJenkins,
    url: String,
) -> jenkins_event_shim::config::Options {
    let mut opts = options(mock, vec![url]);
    opts.sink_format = Some(jenkins_event_shim::event::Format::KubeSphere);
    opts
}

/// Waits until ks-devops has created `n` PipelineRuns, then one more look-up window for any
/// duplicate.
async fn pipeline_runs(ks: &KsDevops, n: usize) -> Vec<PipelineRun> {
    util::eventually(&format!("{n} PipelineRun(s)"), || {
        ks.pipeline_runs().len() >= n
    })
    .await;
    tokio::time::sleep(LOOKUP).await;
    ks.pipeline_runs()
}

fn fault(path: &str, query: Option<&str>, status: u16, remaining: Option<u32>) -> Fault {
    Fault {
        path_prefix: path.into(),
        query: query.map(str::to_owned),
        kind: FaultKind::Status(status),
        remaining,
    }
}

fn build_with_parameters(mock: &mock_jenkins::MockJenkins, job: &str) -> u64 {
    let mut w = mock.world();
    let id = w
        .enqueue(
            job,
            Enqueue {
                quiet_ms: Some(0),
                user: Some("admin".into()),
                params: vec![("BRANCH".into(), "main".into())],
                ..Default::default()
            },
        )
        .unwrap();
    let n = w.start(id).unwrap();
    w.finish(job, n, "SUCCESS").unwrap();
    n
}

/// Every value under `v`, recursively, has no `url` key.
fn has_url_key(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => m.contains_key("url") || m.values().any(has_url_key),
        serde_json::Value::Array(a) => a.iter().any(has_url_key),
        _ => false,
    }
}

#[tokio::test]
async fn ks_devops_makes_the_right_pipeline_run_of_a_pipeline_in_a_folder() {
    let mock = jenkins(Settings::default()).await;
    mock.world()
        .create("my-devops-project/example-pipeline", Kind::Pipeline)
        .unwrap();
    let rx = Receiver::start().await;
    let ks = KsDevops::start().await;
    let mut opts = kubesphere_options(&mock, &rx);
    opts.sink.push(ks.url());
    let shim = Shim::start(opts).await;
    build_with_parameters(&mock, "my-devops-project/example-pipeline");
    let got = rx
        .wait_for("the run's four generic events", |r| r.len() >= 4)
        .await;
    util::settle().await;
    shim.stop().await;

    let types: Vec<&str> = got.iter().map(|r| r.ty()).collect();
    assert_eq!(types, RUN_LIFECYCLE);
    for r in &got {
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=UTF-8")
        );
        assert_eq!(r.header("referrer"), Some(mock.url().as_str()));
        assert!(
            r.headers.iter().all(|(n, _)| !n.starts_with("ce-")),
            "not a CloudEvent"
        );
        let event: Event = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(event.ty, r.ty(), "X-Event-Type names the type");
        assert_eq!(event.source, "job/my-devops-project/job/example-pipeline/");
        assert_eq!(event.id.len(), 36, "a UUID");
        assert_eq!(event.data_type, WORKFLOW_RUN);
        // yyyy-MM-dd'T'HH:mm:ss.SSSZ, as the plugin writes it.
        let t = event.time.as_bytes();
        assert_eq!(
            (t.len(), t[10], t[19], t[23]),
            (28, b'T', b'.', b'+'),
            "{}",
            event.time
        );
        assert!(!has_url_key(&event.data), "no url keys: {}", event.data);
        let envelope = r.json();
        assert_eq!(
            envelope["url"],
            "job/my-devops-project/job/example-pipeline/1/"
        );
        assert_eq!(
            envelope["urlData"],
            ", url=job/my-devops-project/job/example-pipeline/1/"
        );
        assert_eq!(envelope["metaData"], serde_json::Value::Null);
        assert_eq!(
            envelope["data"]["_class"],
            "io.jenkins.plugins.generic.event.data.WorkflowRunData"
        );
    }
    let initialize = got[0].json();
    assert_eq!(
        initialize["data"]["building"], true,
        "as onInitialize sees it"
    );
    assert_eq!(initialize["data"]["result"], serde_json::Value::Null);
    assert_eq!(got[2].json()["data"]["result"], "SUCCESS");

    let runs = pipeline_runs(&ks, 1).await;
    assert!(
        ks.answered().iter().all(|a| a.status == 200),
        "every event decodes as ks-devops's Data: {:?}",
        ks.answered()
    );
    assert_eq!(
        runs,
        [PipelineRun {
            namespace: "my-devops-project".into(),
            pipeline: "example-pipeline".into(),
            branch: None,
            run_id: "1".into(),
            parameters: vec![("BRANCH".into(), "main".into())],
        }],
        "exactly one PipelineRun, for the right pipeline"
    );
}

#[tokio::test]
async fn ks_devops_makes_the_right_pipeline_run_of_a_multibranch_branch() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns", Kind::Folder).unwrap();
    mock.world().create("ns/pipe", Kind::Multibranch).unwrap();
    mock.world().create("ns/pipe/main", Kind::Pipeline).unwrap();
    let rx = Receiver::start().await;
    let ks = KsDevops::start().await;
    let mut opts = kubesphere_options(&mock, &rx);
    opts.sink.push(ks.url());
    let shim = Shim::start(opts).await;
    util::run_build(&mock, "ns/pipe/main", "SUCCESS");
    util::run_build(&mock, "ns/pipe/main", "FAILURE");
    let got = rx.wait_for("both runs' events", |r| r.len() >= 8).await;
    let runs = pipeline_runs(&ks, 2).await;
    shim.stop().await;
    assert_eq!(got.len(), 8);
    assert!(ks.answered().iter().all(|a| a.status == 200));
    let expected = |run: &str| PipelineRun {
        namespace: "ns".into(),
        pipeline: "pipe".into(),
        branch: Some("main".into()),
        run_id: run.into(),
        parameters: vec![],
    };
    assert_eq!(runs, [expected("1"), expected("2")]);
    let completed: Vec<_> = got
        .iter()
        .filter(|r| r.ty() == "run.completed")
        .map(|r| r.json()["data"]["result"].clone())
        .collect();
    assert_eq!(completed, ["SUCCESS", "FAILURE"]);
}

#[tokio::test]
async fn a_run_initialize_that_may_have_arrived_is_sent_again_only_after_the_lookup_so_one_pipeline_run_results_even_across_a_restart()
 {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    let ks = KsDevops::start().await;
    let state = std::env::temp_dir().join(format!("shim-ks-once-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut opts = kubesphere_to(&mock, ks.url());
    opts.state_dir = Some(state.clone());
    opts.sink_timeout = Some(std::time::Duration::from_secs(1));
    // ks-devops takes the run.initialize and acts on it, but the answer never comes: the
    // shim times out, not knowing whether it arrived.
    ks.act_then_hang(1);
    let shim = Shim::start(opts.clone()).await;
    util::run_build(&mock, "ns/p", "SUCCESS");
    util::eventually("the first attempt", || !ks.answered().is_empty()).await;
    let first = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await; // the attempt timed out
    shim.stop().await;

    // A restart from the same state: the copy waits for ks-devops's look-up window.
    let shim = Shim::start(opts).await;
    util::eventually("the copy", || {
        ks.answered()
            .iter()
            .filter(|a| a.ty == "run.initialize")
            .count()
            == 2
    })
    .await;
    let resent_after = first.elapsed();
    util::eventually("the rest of the run", || ks.taken().len() >= 4).await;
    let runs = pipeline_runs(&ks, 1).await;
    shim.stop().await;
    assert!(
        resent_after >= jenkins_event_shim::sink::LOOKUP_WAIT,
        "the copy came {resent_after:?} after the first, before ks-devops's look-up would find its PipelineRun"
    );
    let types: Vec<String> = ks.taken().iter().map(|a| a.ty.clone()).collect();
    assert_eq!(types, RUN_LIFECYCLE, "the copy, then the rest in order");
    assert_eq!(runs.len(), 1, "exactly one PipelineRun: {runs:?}");
    assert_eq!(runs[0].run_id, "1");
}

#[tokio::test]
async fn a_refused_run_initialize_is_retried_since_ks_devops_did_not_act_on_it() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    let rx = Receiver::start().await;
    rx.fail_next(2, 503, None);
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
    util::run_build(&mock, "ns/p", "SUCCESS");
    let got = rx.wait_for("the whole run", |r| r.len() >= 4).await;
    shim.stop().await;
    assert_eq!(got[0].ty(), "run.initialize");
    assert_eq!(rx.attempts(), 6, "two refusals, then four deliveries");
}

#[tokio::test]
async fn a_restart_with_lost_state_never_replays_old_builds_as_new_ones() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    for _ in 0..3 {
        util::run_build(&mock, "ns/p", "SUCCESS");
    }
    // A shim with no saved state (or a lost state directory) starts at each job's high-water
    // mark: builds 1 to 3 are history.
    let rx = Receiver::start().await;
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // past a full scan
    util::run_build(&mock, "ns/p", "SUCCESS");
    rx.wait_for("build 4", |r| r.len() >= 4).await;
    util::settle().await;
    shim.stop().await;
    let urls: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["url"].as_str().unwrap().to_string())
        .collect();
    assert!(urls.iter().all(|u| u == "job/ns/job/p/4/"), "{urls:?}");
}

#[tokio::test]
async fn items_created_and_deleted_are_reported_with_their_parent_as_source() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns", Kind::Folder).unwrap();
    let rx = Receiver::start().await;
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
    mock.world()
        .create("ns/new-pipeline", Kind::Pipeline)
        .unwrap();
    rx.wait_for("item.created", |r| {
        r.iter().any(|r| r.ty() == "item.created")
    })
    .await;
    mock.world().delete("ns/new-pipeline").unwrap();
    let got = rx
        .wait_for("item.deleted", |r| {
            r.iter().any(|r| r.ty() == "item.deleted")
        })
        .await;
    shim.stop().await;
    let types: Vec<&str> = got.iter().map(|r| r.ty()).collect();
    assert_eq!(types, ["item.created", "item.deleted"]);
    for r in &got {
        let e = r.json();
        assert_eq!(e["source"], "job/ns/");
        assert_eq!(e["url"], "");
        assert_eq!(
            e["dataType"],
            "org.jenkinsci.plugins.workflow.job.WorkflowJob"
        );
        assert_eq!(e["data"]["fullName"], "ns/new-pipeline");
        assert!(!has_url_key(&e["data"]), "{e}");
    }
    assert!(
        got[0].json()["data"].get("buildable").is_some(),
        "a new item's data is its own JSON"
    );
    assert!(
        got[1].json()["data"].get("buildable").is_none(),
        "a deleted one can only be described as last seen"
    );
}

#[tokio::test]
async fn a_running_build_deleted_gives_run_deleted() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    let rx = Receiver::start().await;
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
    let n = util::start_build(&mock, "ns/p");
    rx.wait_for("run.started", |r| r.iter().any(|r| r.ty() == "run.started"))
        .await;
    mock.world().delete_build("ns/p", n).unwrap();
    let got = rx
        .wait_for("run.deleted", |r| r.iter().any(|r| r.ty() == "run.deleted"))
        .await;
    shim.stop().await;
    let types: Vec<&str> = got.iter().map(|r| r.ty()).collect();
    assert_eq!(types, ["run.initialize", "run.started", "run.deleted"]);
    let deleted = got[2].json();
    assert_eq!(deleted["url"], "job/ns/job/p/1/");
    assert_eq!(deleted["dataType"], WORKFLOW_RUN);
    assert_eq!(deleted["data"]["id"], "1");
    assert_eq!(deleted["data"]["_parentFullName"], "ns");
    assert_eq!(deleted["data"]["executor"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_run_initialize_that_never_left_is_sent_after_a_restart() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    // ks-devops is not listening yet: every attempt is refused before anything is sent.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let state = std::env::temp_dir().join(format!("shim-ks-refused-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut opts = options(&mock, vec![format!("http://{addr}/events")]);
    opts.sink_format = Some(jenkins_event_shim::event::Format::KubeSphere);
    opts.state_dir = Some(state);
    let shim = Shim::start(opts.clone()).await;
    util::run_build(&mock, "ns/p", "SUCCESS");
    tokio::time::sleep(Duration::from_millis(1500)).await; // seen, and refused a few times
    shim.stop().await;

    let rx = Receiver::start_at(addr).await;
    let shim = Shim::start(opts).await;
    let got = rx.wait_for("the run's events", |r| r.len() >= 4).await;
    util::settle().await;
    shim.stop().await;
    let types: Vec<&str> = got.iter().map(|r| r.ty()).collect();
    assert_eq!(
        types, RUN_LIFECYCLE,
        "the claim of a run.initialize that provably never arrived was given back"
    );
}

/// Which of `run.initialize`'s reads fails three times.
#[derive(Clone, Copy)]
enum Unreadable {
    /// The class of the job's parent (`…/api/json?tree=_class`).
    ParentClass,
    /// The build's own JSON (the read without a tree, which carries the actions).
    BuildJson,
}

/// A build of `job` (a pipeline `ns1/build-app`, or the branch `ns1/mb/main`), with parameters,
/// while one of the reads its `run.initialize` needs answers 500 three times: ks-devops still
/// makes exactly the right PipelineRun, parameters included, and the order of the run's
/// events holds.
async fn right_pipeline_run_despite(multibranch: bool, unreadable: Unreadable) {
    let mock = jenkins(Settings::default()).await;
    let (job, parent, expected) = if multibranch {
        mock.world().create("ns1", Kind::Folder).unwrap();
        mock.world().create("ns1/mb", Kind::Multibranch).unwrap();
        mock.world().create("ns1/mb/main", Kind::Pipeline).unwrap();
        (
            "ns1/mb/main",
            "/job/ns1/job/mb/",
            ("mb", Some("main".to_string())),
        )
    } else {
        mock.world()
            .create("ns1/build-app", Kind::Pipeline)
            .unwrap();
        ("ns1/build-app", "/job/ns1/", ("build-app", None))
    };
    let ks = KsDevops::start().await;
    let shim = Shim::start(kubesphere_to(&mock, ks.url())).await;
    let (path, query) = match unreadable {
        Unreadable::ParentClass => (format!("{parent}api/json"), "tree=_class"),
        Unreadable::BuildJson => (format!("/job/{}/1/api/json", job.replace('/', "/job/")), ""),
    };
    mock.world()
        .faults
        .push(fault(&path, Some(query), 500, Some(3)));
    build_with_parameters(&mock, job);
    let runs = pipeline_runs(&ks, 1).await;
    shim.stop().await;
    assert!(
        mock.world().faults.is_empty(),
        "the three failures happened"
    );
    assert_eq!(
        runs,
        [PipelineRun {
            namespace: "ns1".into(),
            pipeline: expected.0.into(),
            branch: expected.1,
            run_id: "1".into(),
            parameters: vec![("BRANCH".into(), "main".into())],
        }]
    );
    let types: Vec<String> = ks.taken().iter().map(|a| a.ty.clone()).collect();
    assert_eq!(
        types, RUN_LIFECYCLE,
        "order kept while run.initialize waited"
    );
}

#[tokio::test]
async fn a_branch_is_never_sent_as_not_multibranch_while_its_parent_is_unreadable() {
    right_pipeline_run_despite(true, Unreadable::ParentClass).await;
}

#[tokio::test]
async fn a_branch_keeps_its_parameters_while_its_build_json_is_unreadable() {
    right_pipeline_run_despite(true, Unreadable::BuildJson).await;
}

#[tokio::test]
async fn a_pipeline_gets_the_right_pipeline_run_while_its_folder_class_is_unreadable() {
    right_pipeline_run_despite(false, Unreadable::ParentClass).await;
}

#[tokio::test]
async fn a_pipeline_keeps_its_parameters_while_its_build_json_is_unreadable() {
    right_pipeline_run_despite(false, Unreadable::BuildJson).await;
}

#[tokio::test]
async fn a_run_initialize_refused_401_for_a_while_arrives_once_the_configuration_works() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    let rx = Receiver::start().await;
    rx.fail_next(3, 401, None);
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
    util::run_build(&mock, "ns/p", "SUCCESS");
    let got = rx.wait_for("the whole run", |r| r.len() >= 4).await;
    util::settle().await;
    shim.stop().await;
    let types: Vec<&str> = got.iter().map(|r| r.ty()).collect();
    assert_eq!(types, RUN_LIFECYCLE, "nothing dropped, nothing twice");
    assert_eq!(rx.attempts(), 7, "three refusals, then four deliveries");
}

#[tokio::test]
async fn run_initialize_goes_out_with_what_is_known_after_a_bounded_wait_with_a_warning_and_a_count()
 {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns1", Kind::Folder).unwrap();
    mock.world().create("ns1/mb", Kind::Multibranch).unwrap();
    mock.world().create("ns1/mb/main", Kind::Pipeline).unwrap();
    let rx = Receiver::start().await;
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
    mock.world().faults.push(fault(
        "/job/ns1/job/mb/api/json",
        Some("tree=_class"),
        500,
        None,
    ));
    let started = std::time::Instant::now();
    util::run_build(&mock, "ns1/mb/main", "SUCCESS");
    let got = rx.wait_for("the run's events", |r| r.len() >= 4).await;
    let waited = started.elapsed();
    let (_, metrics) = shim.get("/metrics").await;
    shim.stop().await;
    let types: Vec<&str> = got.iter().map(|r| r.ty()).collect();
    assert_eq!(types, RUN_LIFECYCLE);
    assert_eq!(
        got[0].json()["data"]["_multiBranch"],
        false,
        "unknown, sent as is"
    );
    // 10 ticks of 150 ms.
    assert!(waited >= Duration::from_millis(1300), "waited {waited:?}");
    assert_eq!(
        util::metric_sum(&metrics, "kubesphere_incomplete_events_total"),
        1.0,
        "{metrics}"
    );
}

/// `/readyz` once it answers 503 (or its last answer after 5 s).
async fn not_ready(shim: &Shim) -> (u16, String) {
    let mut readyz = (0, String::new());
    for _ in 0..100 {
        readyz = shim.get("/readyz").await;
        if readyz.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    readyz
}

/// A config file with one kubesphere sink (`extra` appended to its table).
fn kubesphere_config(
    mock: &mock_jenkins::MockJenkins,
    url: &str,
    extra: &str,
) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "shim-ks-config-{}-{}",
        std::process::id(),
        util::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "a-kubesphere-token\n").unwrap();
    let path = dir.join("config.toml");
    let extra = extra.replace("TOKEN_FILE", &token.display().to_string());
    std::fs::write(
        &path,
        format!(
            "jenkins-url = \"{}\"\npoll-interval = \"150ms\"\nscan-interval = \"1s\"\nsink-timeout = \"2s\"\nlisten = \"127.0.0.1:0\"\nsink = [{{ url = \"{url}\", name = \"ks-devops\", format = \"kubesphere\"{extra} }}]\n",
            mock.url()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn wrong_credentials_or_path_make_the_sink_not_ready_with_the_likely_cause_while_events_wait()
{
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    let ks = KsDevops::start().await;
    let cases = [
        (
            kubesphere_config(&mock, &ks.url(), ", bearer-token-file = \"TOKEN_FILE\""),
            "Authorization header",
        ),
        (
            kubesphere_config(
                &mock,
                &format!("http://{}/v1alpha3/webhooks/jenkins", ks.addr),
                "",
            ),
            "older than v3.3",
        ),
    ];
    for (config, cause) in cases {
        let opts = jenkins_event_shim::config::Options {
            config: Some(config),
            ..Default::default()
        };
        let probes = ks.probes().len();
        let shim = Shim::start(opts).await;
        // The start-up check finds it before any build.
        let early = not_ready(&shim).await;
        assert_eq!(early.0, 503, "{cause}, at start-up: {early:?}");
        assert!(early.1.contains(cause), "{early:?}");
        assert!(
            ks.probes()[probes..].iter().all(|s| *s == 401 || *s == 404),
            "{:?}",
            ks.probes()
        );
        let before = ks.answered().len();
        util::run_build(&mock, "ns/p", "SUCCESS");
        util::eventually("the run.initialize, refused", || {
            ks.answered().len() > before
        })
        .await;
        let readyz = not_ready(&shim).await;
        shim.stop().await;
        assert_eq!(readyz.0, 503, "{cause}: {readyz:?}");
        assert!(
            readyz.1.contains("ks-devops") && readyz.1.contains(cause),
            "{readyz:?}"
        );
        let answered = &ks.answered()[before..];
        assert!(
            !answered.is_empty()
                && answered
                    .iter()
                    .all(|a| a.ty == "run.initialize" && a.status != 200),
            "only the run.initialize, refused and waiting: {answered:?}"
        );
    }
    assert!(ks.pipeline_runs().is_empty());
}

#[tokio::test]
async fn the_same_500_three_times_makes_the_sink_not_ready_and_the_event_passes_once_ks_devops_is_fixed()
 {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    let ks = KsDevops::start().await;
    let decode_error =
        "json: cannot unmarshal number into Go struct field Data.description of type string";
    ks.break_with(Some(decode_error));
    let mut opts = kubesphere_to(&mock, ks.url());
    // Short backoff, so that three attempts come quickly.
    let config = std::env::temp_dir().join(format!("shim-ks-500-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "sink = [{{ url = \"{}\", format = \"kubesphere\", retry-initial = \"50ms\", retry-max = \"200ms\" }}]\n",
            ks.url()
        ),
    )
    .unwrap();
    opts.sink = Vec::new();
    opts.sink_format = None;
    opts.config = Some(config);
    let shim = Shim::start(opts).await;
    util::run_build(&mock, "ns/p", "SUCCESS");
    util::eventually("three 500s", || ks.answered().len() >= 3).await;
    let readyz = not_ready(&shim).await;
    assert_eq!(readyz.0, 503, "{readyz:?}");
    assert!(
        readyz.1.contains(decode_error) && readyz.1.contains("times alike"),
        "{readyz:?}"
    );
    ks.break_with(None);
    util::eventually("the run's events", || ks.taken().len() >= 4).await;
    let runs = pipeline_runs(&ks, 1).await;
    assert_eq!(shim.get("/readyz").await.0, 200, "ready again");
    shim.stop().await;
    assert_eq!(runs.len(), 1);
}

#[tokio::test]
async fn check_probe_sinks_finds_an_authorization_header_and_a_wrong_path() {
    let mock = jenkins(Settings::default()).await;
    let ks = KsDevops::start().await;
    let run = |config: std::path::PathBuf| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jenkins-event-shim"))
            .args(["check", "--probe-sinks", "--config"])
            .arg(config)
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = run(kubesphere_config(&mock, &ks.url(), "")).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("took a probe envelope"), "{out}");
    let (code, out) = run(kubesphere_config(
        &mock,
        &ks.url(),
        ", bearer-token-file = \"TOKEN_FILE\"",
    ))
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("HTTP 401") && out.contains("Authorization header"),
        "{out}"
    );
    let (code, out) = run(kubesphere_config(
        &mock,
        &format!("http://{}/wrong", ks.addr),
        "",
    ))
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("HTTP 404") && out.contains("v3.3"), "{out}");
    assert!(
        !out.contains("a-kubesphere-token"),
        "the token never shows: {out}"
    );
    assert!(ks.pipeline_runs().is_empty(), "a probe creates nothing");
}
