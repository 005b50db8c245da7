//! Independent implementations check our output: the Python `cloudevents` SDK (2.x, its core
//! HTTP binding; its JSON format for the elements of a batch) parses one event of every type in
//! binary, structured and batched mode, and what it
//! parses is what the plugin contract says.
//!
//! The JavaScript SDK (`cloudevents` 10 on npm, `HTTP.toEvent`) does the same in all three modes.
//!
//! Both come from `cargo xtask test`'s set-up (the project's virtualenv, `npm ci`).

mod util;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use mock_jenkins::{Enqueue, Kind, Settings};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use util::{Shim, eventually, jenkins, options};

const ALL_TYPES: [&str; 10] = [
    "org.jenkinsci.queue.entered_waiting",
    "org.jenkinsci.queue.left",
    "org.jenkinsci.job.started",
    "org.jenkinsci.job.completed",
    "org.jenkinsci.job.finalized",
    "org.jenkinsci.job.failed",
    "org.jenkinsci.job.created",
    "org.jenkinsci.job.updated",
    "org.jenkinsci.node.online",
    "org.jenkinsci.node.offline",
];

/// The data keys, in order, that the contract gives each type.
fn expected_keys(ty: &str) -> &'static [&'static str] {
    use util::contract::*;
    match ty {
        "org.jenkinsci.queue.entered_waiting" => QUEUE_ENTERED,
        "org.jenkinsci.queue.left" => QUEUE_LEFT,
        "org.jenkinsci.job.created" => JOB_CREATED,
        "org.jenkinsci.job.updated" => JOB_UPDATED,
        t if t.starts_with("org.jenkinsci.job.") => JOB_RUN,
        _ => NODE,
    }
}

/// A receiver in another language, started as a child process: prints its port, then one JSON
/// line per parsed request.
struct ExternalReceiver {
    child: tokio::process::Child,
    port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl ExternalReceiver {
    async fn start(program: std::process::Command, script: &str) -> ExternalReceiver {
        let script = format!("{}/tests/interop/{script}", env!("CARGO_MANIFEST_DIR"));
        let name = program.get_program().to_string_lossy().into_owned();
        let mut child = tokio::process::Command::from(program)
            .arg(&script)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} is needed for the interop tests: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = stdout.next_line().await.unwrap().unwrap_or_default();
        let port: u16 = first.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the {name} receiver did not start ({first:?}): {}",
                util::test_env::SET_UP
            )
        });
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).expect("receiver prints JSON"));
            }
        });
        ExternalReceiver { child, port, lines }
    }

    fn parsed(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }
}

/// Drives Jenkins through all ten event types.
async fn every_type(mock: &mock_jenkins::MockJenkins) {
    mock.world().create("app", Kind::Freestyle).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await; // one scan: created
    mock.world().item_mut("app").unwrap().description = "now described".into();
    {
        let mut w = mock.world();
        let id = w
            .enqueue(
                "app",
                Enqueue {
                    quiet_ms: Some(0),
                    user: Some("Jane Doe".into()),
                    ..Enqueue::default()
                },
            )
            .unwrap();
        let n = w.start(id).unwrap();
        w.finish("app", n, "FAILURE").unwrap();
        w.set_node("agent1", true, false);
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    mock.world().set_node("agent1", false, false);
}

/// The Python SDK (2.x core HTTP binding).
async fn python() -> ExternalReceiver {
    ExternalReceiver::start(util::test_env::python(), "cloudevents_receiver.py").await
}

/// The JavaScript SDK (`cloudevents` 10 on npm, `HTTP.toEvent`).
async fn javascript() -> ExternalReceiver {
    let dir = util::test_env::root().join("tests/interop/js");
    let node = std::process::Command::new(util::test_env::node_for(&dir));
    ExternalReceiver::start(node, "js/receiver.mjs").await
}

async fn sdk_parses_every_type(python: ExternalReceiver, mode: &str) {
    let mock = jenkins(Settings::default()).await;
    mock.world().set_node("agent1", false, false);
    let mut opts = options(&mock, vec![format!("http://127.0.0.1:{}/", python.port)]);
    opts.sink_mode = Some(match mode {
        "binary" => jenkins_event_shim::sink::http::Mode::Binary,
        "structured" => jenkins_event_shim::sink::http::Mode::Structured,
        _ => jenkins_event_shim::sink::http::Mode::Batch,
    });
    let shim = Shim::start(opts).await;
    every_type(&mock).await;
    eventually("all ten types parsed", || {
        let seen: Vec<String> = python
            .parsed()
            .iter()
            .filter_map(|l| l["attributes"]["type"].as_str().map(str::to_owned))
            .collect();
        ALL_TYPES.iter().all(|t| seen.iter().any(|s| s == t))
    })
    .await;
    shim.stop().await;

    let parsed = python.parsed();
    let mut by_type: BTreeMap<String, Value> = BTreeMap::new();
    for line in &parsed {
        assert_eq!(line["ok"], true, "the Python SDK refused an event: {line}");
        by_type
            .entry(line["attributes"]["type"].as_str().unwrap().to_string())
            .or_insert(line.clone());
    }
    for ty in ALL_TYPES {
        let line = &by_type[ty];
        let attrs = &line["attributes"];
        assert_eq!(attrs["specversion"], "1.0", "{ty}");
        assert_eq!(attrs["datacontenttype"], "application/json", "{ty}");
        assert_eq!(attrs["id"].as_str().unwrap().len(), 36, "{ty}: a UUID");
        assert_eq!(
            line["sent_time"], false,
            "{ty}: no time attribute by default"
        );
        let expected_source = if ty.starts_with("org.jenkinsci.node.") {
            "node/agent1"
        } else {
            "job/app"
        };
        assert_eq!(attrs["source"], expected_source, "{ty}");
        let data = line["data"]
            .as_object()
            .unwrap_or_else(|| panic!("{ty}: data is a JSON object: {line}"));
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(keys, expected_keys(ty), "{ty}: field order");
    }
    assert_eq!(
        by_type["org.jenkinsci.job.failed"]["data"]["build"]["status"],
        "FAILURE"
    );
    assert_eq!(
        by_type["org.jenkinsci.queue.entered_waiting"]["data"]["startedBy"],
        "Jane Doe"
    );
    assert_eq!(
        by_type["org.jenkinsci.node.offline"]["data"]["nodeName"],
        "agent1"
    );
    let content_type = by_type["org.jenkinsci.job.started"]["content_type"]
        .as_str()
        .unwrap()
        .to_string();
    match mode {
        "binary" => assert_eq!(content_type, "application/json"),
        "batch" => assert!(
            content_type.starts_with("application/cloudevents-batch+json"),
            "{content_type}"
        ),
        _ => assert!(
            content_type.starts_with("application/cloudevents+json"),
            "{content_type}"
        ),
    }
    drop(python.child);
}

#[tokio::test]
async fn python_cloudevents_sdk_parses_every_event_type_in_binary_mode() {
    sdk_parses_every_type(python().await, "binary").await;
}

#[tokio::test]
async fn javascript_cloudevents_sdk_parses_every_event_type_in_binary_mode() {
    sdk_parses_every_type(javascript().await, "binary").await;
}

#[tokio::test]
async fn javascript_cloudevents_sdk_parses_every_event_type_in_structured_mode() {
    sdk_parses_every_type(javascript().await, "structured").await;
}

#[tokio::test]
async fn python_cloudevents_sdk_parses_every_event_type_in_structured_mode() {
    sdk_parses_every_type(python().await, "structured").await;
}

#[tokio::test]
async fn python_cloudevents_sdk_parses_every_event_type_in_batched_mode() {
    sdk_parses_every_type(python().await, "batch").await;
}

#[tokio::test]
async fn javascript_cloudevents_sdk_parses_every_event_type_in_batched_mode() {
    sdk_parses_every_type(javascript().await, "batch").await;
}

/// The CDEvents types of one Pipeline run with two stages, in order.
const CDEVENTS_RUN: [&str; 7] = [
    "dev.cdevents.pipelinerun.queued.0.3.0",
    "dev.cdevents.pipelinerun.started.0.3.0",
    "dev.cdevents.taskrun.started.0.3.0",
    "dev.cdevents.taskrun.finished.0.3.0",
    "dev.cdevents.taskrun.started.0.3.0",
    "dev.cdevents.taskrun.finished.0.3.0",
    "dev.cdevents.pipelinerun.finished.0.3.0",
];

/// `format = "cdevents"`: every event parses as a CloudEvent and, in Python, validates against
/// the CDEvents v0.5 schemas and binding; outcomes follow the documented mapping.
async fn sdk_parses_cdevents(receiver: ExternalReceiver, mode: &str, schemas: bool) {
    let mock = jenkins(Settings::default()).await;
    mock.world().create("team/app", Kind::Pipeline).unwrap();
    let mut opts = options(&mock, vec![format!("http://127.0.0.1:{}/", receiver.port)]);
    opts.sink_mode = Some(match mode {
        "binary" => jenkins_event_shim::sink::http::Mode::Binary,
        "structured" => jenkins_event_shim::sink::http::Mode::Structured,
        _ => jenkins_event_shim::sink::http::Mode::Batch,
    });
    opts.sink_format = Some(jenkins_event_shim::event::Format::CdEvents);
    let shim = Shim::start(opts).await;
    util::run_build(&mock, "team/app", "SUCCESS");
    eventually("the first run's seven CDEvents", || {
        receiver.parsed().len() >= CDEVENTS_RUN.len()
    })
    .await;
    util::run_build(&mock, "team/app", "ABORTED");
    eventually("both runs' CDEvents", || {
        receiver.parsed().len() >= 2 * CDEVENTS_RUN.len()
    })
    .await;
    util::settle().await;
    shim.stop().await;

    let parsed = receiver.parsed();
    assert_eq!(parsed.len(), 2 * CDEVENTS_RUN.len(), "{parsed:#?}");
    for line in &parsed {
        assert_eq!(line["ok"], true, "the SDK refused an event: {line}");
        if schemas {
            assert_eq!(
                line["cdevents_errors"],
                serde_json::json!([]),
                "not a valid CDEvent: {line}"
            );
        }
        assert!(line["attributes"]["time"].is_string(), "{line}");
    }
    let data = |line: &Value| -> Value {
        match &line["data"] {
            Value::String(s) => serde_json::from_str(s).unwrap(),
            v => v.clone(),
        }
    };
    for (run, lines) in parsed.chunks(CDEVENTS_RUN.len()).enumerate() {
        let types: Vec<&str> = lines
            .iter()
            .map(|l| l["attributes"]["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, CDEVENTS_RUN, "run {}", run + 1);
        let number = run + 1;
        let started = data(&lines[1]);
        assert_eq!(started["subject"]["id"], format!("team/app/{number}"));
        assert_eq!(started["subject"]["content"]["pipelineName"], "team/app");
        assert_eq!(
            started["subject"]["content"]["uri"],
            format!("{}job/team/job/app/{number}/", mock.url())
        );
        assert_eq!(started["context"]["source"], mock.url());
        assert_eq!(
            data(&lines[0])["customData"]["queueId"],
            started["customData"]["queueId"],
            "the queued event and its run share the queue id"
        );
        let tasks: Vec<Value> = lines[2..6].iter().map(data).collect();
        assert_eq!(tasks[0]["subject"]["content"]["taskName"], "Build");
        assert_eq!(tasks[3]["subject"]["content"]["taskName"], "Test");
        assert_eq!(
            tasks[3]["subject"]["content"]["pipelineRun"]["id"],
            format!("team/app/{number}")
        );
        let finished = data(&lines[6]);
        let (outcome, test_outcome) = if run == 0 {
            ("success", "success")
        } else {
            ("cancel", "cancel")
        };
        assert_eq!(finished["subject"]["content"]["outcome"], outcome);
        assert_eq!(tasks[3]["subject"]["content"]["outcome"], test_outcome);
    }
    drop(receiver.child);
}

#[tokio::test]
async fn cdevents_validate_against_the_schemas_and_parse_in_python_in_binary_mode() {
    sdk_parses_cdevents(python().await, "binary", true).await;
}

#[tokio::test]
async fn cdevents_validate_against_the_schemas_and_parse_in_python_in_structured_mode() {
    sdk_parses_cdevents(python().await, "structured", true).await;
}

#[tokio::test]
async fn cdevents_validate_against_the_schemas_and_parse_in_python_in_batched_mode() {
    sdk_parses_cdevents(python().await, "batch", true).await;
}

#[tokio::test]
async fn javascript_cloudevents_sdk_parses_cdevents_in_binary_and_structured_mode() {
    sdk_parses_cdevents(javascript().await, "binary", false).await;
    sdk_parses_cdevents(javascript().await, "structured", false).await;
}
