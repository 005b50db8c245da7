//! The `kubesphere` format, checked the way ks-devops reads it: a receiver decodes each request
//! as ks-devops's webhook handler does (the envelope's `type`, `source`, `id`, `time`,
//! `dataType`, `data`; for `run.initialize` of a WorkflowRun the typed run data) and derives the
//! namespace, pipeline, branch and run id from it, as `workflowrun_handler.go` does.

mod util;

use std::time::Duration;

use mock_jenkins::{Enqueue, Kind, Settings};
use serde::Deserialize;
use util::{Receiver, Shim, jenkins, options};

/// ks-devops `pkg/event/common/types.go`: the envelope it decodes (headers, `url`, `metaData`
/// and `urlData` are ignored).
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

/// ks-devops `pkg/event/workflowrun/types.go`: the run data, with Go's strict types (a type
/// mismatch is a 500 there, a decode error here).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // decoded for their types, as ks-devops does
struct WorkflowRunData {
    actions: Vec<Action>,
    building: bool,
    description: Option<String>,
    #[serde(rename = "displayName")]
    display_name: String,
    duration: i64,
    #[serde(rename = "estimatedDuration")]
    estimated_duration: i64,
    #[serde(rename = "fullDisplayName")]
    full_display_name: String,
    id: String,
    #[serde(rename = "keepLog")]
    keep_log: bool,
    number: i64,
    #[serde(rename = "queueId")]
    queue_id: i64,
    result: Option<String>,
    timestamp: i64,
    #[serde(rename = "_parentFullName")]
    parent_full_name: String,
    #[serde(rename = "_projectName")]
    project_name: String,
    #[serde(rename = "_multiBranch")]
    multi_branch: bool,
}

#[derive(Debug, Deserialize)]
struct Action {
    #[serde(rename = "_class", default)]
    class: Option<String>,
    #[serde(default)]
    parameters: Vec<Parameter>,
}

#[derive(Debug, Deserialize)]
struct Parameter {
    name: String,
    value: serde_json::Value,
}

/// What ks-devops makes of a `run.initialize` (`workflowrun_handler.go`): the PipelineRun's
/// namespace, pipeline, branch (multibranch only), run id and parameters.
#[derive(Debug, PartialEq)]
struct PipelineRun {
    namespace: String,
    pipeline: String,
    branch: Option<String>,
    run_id: String,
    parameters: Vec<(String, String)>,
}

const WORKFLOW_RUN: &str = "org.jenkinsci.plugins.workflow.job.WorkflowRun";

/// The generic events of one build, in order.
const RUN_LIFECYCLE: [&str; 4] = [
    "run.initialize",
    "run.started",
    "run.completed",
    "run.finalized",
];

/// The handler: only `run.initialize` of a WorkflowRun creates anything.
fn ks_devops_handle(body: &[u8]) -> Option<PipelineRun> {
    let event: Event = serde_json::from_slice(body).expect("the envelope decodes");
    if event.ty != "run.initialize" || event.data_type != WORKFLOW_RUN {
        return None;
    }
    let run: WorkflowRunData =
        serde_json::from_value(event.data).expect("the run data decodes with ks-devops's types");
    let (namespace, pipeline, branch) = if run.multi_branch {
        let (ns, pipeline) = run
            .parent_full_name
            .split_once('/')
            .filter(|(_, p)| !p.contains('/'))
            .expect("a multibranch parent is exactly ns/pipeline");
        (ns.to_string(), pipeline.to_string(), Some(run.project_name))
    } else {
        assert!(
            !run.parent_full_name.contains('/'),
            "a plain pipeline's parent is the namespace"
        );
        (run.parent_full_name, run.project_name, None)
    };
    let parameters = run
        .actions
        .iter()
        .filter(|a| a.class.as_deref() == Some("hudson.model.ParametersAction"))
        .flat_map(|a| &a.parameters)
        .map(|p| {
            let value = match &p.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (p.name.clone(), value)
        })
        .collect();
    Some(PipelineRun {
        namespace,
        pipeline,
        branch,
        run_id: run.id,
        parameters,
    })
}

fn kubesphere_options(
    mock: &mock_jenkins::MockJenkins,
    rx: &Receiver,
) -> jenkins_event_shim::config::Options {
    let mut opts = options(mock, vec![rx.url()]);
    opts.sink_format = Some("kubesphere".into());
    opts
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
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
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

    let runs: Vec<PipelineRun> = got
        .iter()
        .filter_map(|r| ks_devops_handle(&r.body))
        .collect();
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
    let shim = Shim::start(kubesphere_options(&mock, &rx)).await;
    util::run_build(&mock, "ns/pipe/main", "SUCCESS");
    util::run_build(&mock, "ns/pipe/main", "FAILURE");
    let got = rx.wait_for("both runs' events", |r| r.len() >= 8).await;
    util::settle().await;
    shim.stop().await;
    assert_eq!(got.len(), 8);
    let runs: Vec<PipelineRun> = got
        .iter()
        .filter_map(|r| ks_devops_handle(&r.body))
        .collect();
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
async fn a_run_initialize_that_may_have_arrived_is_never_sent_again_not_even_after_a_restart() {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("ns/p", Kind::Pipeline).unwrap();
    let rx = Receiver::start().await;
    let state = std::env::temp_dir().join(format!("shim-ks-once-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut opts = kubesphere_options(&mock, &rx);
    opts.state_dir = Some(state.clone());
    opts.sink_timeout = Some("1s".into());
    // The first request (the run.initialize) is never answered: it times out, and the shim
    // cannot know whether ks-devops got it.
    rx.hang_next(1);
    let shim = Shim::start(opts.clone()).await;
    util::run_build(&mock, "ns/p", "SUCCESS");
    rx.wait_for("the rest of the run", |r| r.len() >= 3).await;
    util::settle().await;
    shim.stop().await;

    // A restart from the same state, and a second build.
    let shim = Shim::start(opts).await;
    util::run_build(&mock, "ns/p", "SUCCESS");
    rx.wait_for("the second run", |r| r.len() >= 7).await;
    util::settle().await;
    shim.stop().await;

    let initializes: Vec<String> = rx
        .requests()
        .iter()
        .filter(|r| r.ty() == "run.initialize")
        .map(|r| r.json()["url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        initializes,
        ["job/ns/job/p/1/", "job/ns/job/p/2/"],
        "one run.initialize per build, the unanswered one never retried"
    );
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
    opts.sink_format = Some("kubesphere".into());
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
