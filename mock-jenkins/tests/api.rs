//! mock-jenkins over real sockets: shapes against the recorded fixtures, auth and CSRF, headers,
//! `tree=`, version-dependent shapes, `/api/xml`, and injected faults.

use mock_jenkins::{Enqueue, FaultKind, Kind, MockJenkins, Settings};
use serde_json::Value;

async fn mock(settings: Settings) -> MockJenkins {
    MockJenkins::start(settings, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn get(m: &MockJenkins, path: &str) -> Value {
    let r = reqwest::get(format!("{}{path}", m.url())).await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/jenkins/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of the recorded response is in the mock's, with the same JSON type (null may stand
/// for any type on either side), recursively; `ignored` names what the mock does not model.
fn assert_shape(recorded: &Value, mocked: &Value, ignored: &[&str], at: &str) {
    match (recorded, mocked) {
        (Value::Object(r), Value::Object(m)) => {
            for (k, rv) in r {
                if ignored.contains(&k.as_str()) {
                    continue;
                }
                let mv = m
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing from the mock: {mocked}"));
                assert_shape(rv, mv, ignored, &format!("{at}.{k}"));
            }
        }
        (Value::Array(r), Value::Array(m)) => {
            // Elements are compared with a mock element of the same `_class` (a job with a job,
            // a folder with a folder).
            for rv in r
                .iter()
                .filter(|v| !v.as_object().is_some_and(|o| o.is_empty()))
            {
                let class = rv.get("_class");
                if let Some(mv) = m.iter().find(|mv| mv.get("_class") == class) {
                    assert_shape(rv, mv, ignored, &format!("{at}[]"));
                }
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (r, m) => assert_eq!(kind(r), kind(m), "{at}: {r} vs {m}"),
    }
}

/// Plugins, health reports, views, labels and monitors: not modelled by the mock.
const NOT_MODELLED: &[&str] = &[
    "actions",
    "healthReport",
    "property",
    "views",
    "primaryView",
    "assignedLabels",
    "overallLoad",
    "unlabeledLoad",
    "slaveAgentPort",
    "queueItem",
    "lastFailedBuild",
    "lastStableBuild",
    "lastSuccessfulBuild",
    "lastUnstableBuild",
    "lastUnsuccessfulBuild",
    "lastUnstableBuild",
    "firstBuild",
    "keepDependencies",
    "upstreamProjects",
    "downstreamProjects",
    "scm",
    "labelExpression",
    "resumeBlocked",
    "disabled",
    "artifacts",
    "sources",
    "icon",
    "iconClassName",
    "monitorData",
    "loadStatistics",
    "launchSupported",
    "manualLaunchAllowed",
    "jnlpAgent",
    "absoluteRemotePath",
    "oneOffExecutors",
    "iconUrl",
    "healthReport",
    "_links",
    "execNode",
    "pauseDurationMillis",
    "queueDurationMillis",
    "discoverableItems",
    "parameterDefinitions",
    "offlineCause",
    "nodeName",
    "mode",
    "nodeDescription",
    "numExecutors",
    "quietingDown",
    "useCrumbs",
    "useSecurity",
    "description",
];

#[tokio::test]
async fn responses_have_the_shapes_of_the_recorded_fixtures() {
    let m = mock(Settings::default()).await;
    let (left_id, cancelled_id, waiting_id, blocked_id) = {
        let mut w = m.world();
        w.create("folder/freestylejob", Kind::Freestyle).unwrap();
        w.create("folder/pipeline", Kind::Pipeline).unwrap();
        w.create("folder/folder2", Kind::Folder).unwrap();
        let params = vec![("arg".to_string(), "value1".to_string())];
        let id = w
            .enqueue(
                "folder/freestylejob",
                Enqueue {
                    quiet_ms: Some(0),
                    user: Some("admin".into()),
                    params,
                    plan: None,
                },
            )
            .unwrap();
        let n = w.start(id).unwrap();
        w.finish("folder/freestylejob", n, "SUCCESS").unwrap();
        let left = w
            .enqueue(
                "folder/pipeline",
                Enqueue {
                    quiet_ms: Some(0),
                    user: Some("admin".into()),
                    ..Enqueue::default()
                },
            )
            .unwrap();
        let n = w.start(left).unwrap();
        w.finish("folder/pipeline", n, "FAILURE").unwrap();
        let cancelled = w
            .enqueue("folder/freestylejob", Enqueue::default())
            .unwrap();
        w.cancel(cancelled).unwrap();
        let waiting = w
            .enqueue(
                "folder/pipeline",
                Enqueue {
                    quiet_ms: Some(60_000),
                    ..Enqueue::default()
                },
            )
            .unwrap();
        // A running build blocks the next item of a non-concurrent job.
        let running = w
            .enqueue("folder/freestylejob", Enqueue::default())
            .unwrap();
        w.start(running).unwrap();
        let blocked = w
            .enqueue("folder/freestylejob", Enqueue::default())
            .unwrap();
        (left, cancelled, waiting, blocked)
    };
    let cases: Vec<(&str, String)> = vec![
        ("root-jobs-with-folder.api4jenkins.json", "api/json".into()),
        ("job-folder.api4jenkins.json", "job/folder/api/json".into()),
        (
            "job-workflowjob.api4jenkins.json",
            "job/folder/job/pipeline/api/json?tree=*,builds[*],lastBuild[*],lastCompletedBuild[*]"
                .into(),
        ),
        (
            "build-freestyle-completed.api4jenkins.json",
            "job/folder/job/freestylejob/1/api/json".into(),
        ),
        (
            "build-workflowrun-completed.api4jenkins.json",
            "job/folder/job/pipeline/1/api/json".into(),
        ),
        (
            "queue-item-left-started.api4jenkins.json",
            format!("queue/item/{left_id}/api/json"),
        ),
        (
            "queue-item-left-cancelled.jenkins-rest.json",
            format!("queue/item/{cancelled_id}/api/json"),
        ),
        (
            "queue-item-waiting.api4jenkins.json",
            format!("queue/item/{waiting_id}/api/json"),
        ),
        (
            "queue-item-blocked.api4jenkins.json",
            format!("queue/item/{blocked_id}/api/json"),
        ),
        (
            "wfapi-run-describe.jenkins-rest.json",
            "job/folder/job/pipeline/1/wfapi/describe".into(),
        ),
    ];
    for (name, path) in cases {
        let mocked = get(&m, &path).await;
        assert_shape(&fixture(name), &mocked, NOT_MODELLED, name);
        assert_eq!(
            fixture(name).get("_class").map(|_| ()),
            mocked.get("_class").map(|_| ()),
            "{name}: _class"
        );
    }
    let computers = get(&m, "computer/api/json?depth=2").await;
    let recorded = fixture("computer-list-depth2-running.api4jenkins.json");
    assert_shape(
        &recorded["computer"][0]["executors"][0],
        &computers["computer"][0]["executors"][0],
        NOT_MODELLED,
        "executor",
    );
    assert_eq!(
        computers["computer"][0]["_class"],
        "hudson.model.Hudson$MasterComputer"
    );
    assert_eq!(computers["computer"][0]["displayName"], "master");
    let queue = get(&m, "queue/api/json").await;
    assert_shape(
        &fixture("queue-list.api4jenkins.json"),
        &queue,
        NOT_MODELLED,
        "queue-list",
    );
}

#[tokio::test]
async fn anonymous_gets_403_bad_credentials_401_and_a_token_user_needs_no_crumb() {
    let m = mock(Settings {
        users: vec![("alice".into(), "t0k".into())],
        ..Settings::default()
    })
    .await;
    m.world().create("app", Kind::Freestyle).unwrap();
    let client = reqwest::Client::new();
    let anon = client
        .get(format!("{}api/json", m.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 403);
    assert_eq!(anon.headers()["x-you-are-authenticated-as"], "anonymous");
    assert_eq!(
        anon.headers()["x-jenkins"],
        "2.150.3",
        "the 403 page names the version too"
    );
    let bad = client
        .get(format!("{}api/json", m.url()))
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.headers()["www-authenticate"], "Basic realm=\"Jenkins\"");
    let build = client
        .post(format!("{}job/app/build", m.url()))
        .basic_auth("alice", Some("t0k"))
        .send()
        .await
        .unwrap();
    assert_eq!(build.status(), 201);
    assert!(
        build.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/queue/item/1/")
    );
}

#[tokio::test]
async fn anonymous_posts_need_the_crumb() {
    let m = mock(Settings::default()).await;
    let client = reqwest::Client::new();
    let xml = "<project><description>x</description></project>";
    let without = client
        .post(format!("{}createItem?name=app", m.url()))
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 403);
    let crumb: Value = client
        .get(format!("{}crumbIssuer/api/json", m.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let with = client
        .post(format!("{}createItem?name=app", m.url()))
        .header(
            crumb["crumbRequestField"].as_str().unwrap(),
            crumb["crumb"].as_str().unwrap(),
        )
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    assert_eq!(m.world().items["app"].description, "x");
}

#[tokio::test]
async fn session_header_changes_on_restart_and_shapes_follow_the_version() {
    for (version, built_in, in_progress, class) in [
        ("2.1", "master", false, false),
        ("2.150.3", "master", false, true),
        ("2.307", "Built-In Node", false, true),
        ("2.369", "Built-In Node", true, true),
    ] {
        let m = mock(Settings {
            version: version.into(),
            ..Settings::default()
        })
        .await;
        m.world().create("app", Kind::Freestyle).unwrap();
        let id = m.world().enqueue("app", Enqueue::default()).unwrap();
        m.world().start(id).unwrap();
        let r = reqwest::get(format!("{}job/app/1/api/json", m.url()))
            .await
            .unwrap();
        let session = r.headers()["x-jenkins-session"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(session.len(), 8);
        let build: Value = r.json().await.unwrap();
        assert_eq!(
            build.get("inProgress").is_some(),
            in_progress,
            "{version}: inProgress"
        );
        assert_eq!(build.get("_class").is_some(), class, "{version}: _class");
        // A WorkflowRun exports inProgress whatever the core version (workflow-job does).
        m.world().create("pipe", Kind::Pipeline).unwrap();
        let id = m.world().enqueue("pipe", Enqueue::default()).unwrap();
        m.world().start(id).unwrap();
        let run = get(&m, "job/pipe/1/api/json").await;
        assert_eq!(run["inProgress"], true, "{version}: WorkflowRun.inProgress");
        let computers = get(&m, "computer/api/json").await;
        assert_eq!(
            computers["computer"][0]["displayName"], built_in,
            "{version}"
        );
        m.world().restart();
        let r = reqwest::get(format!("{}api/json", m.url())).await.unwrap();
        assert_ne!(
            r.headers()["x-jenkins-session"].to_str().unwrap(),
            session,
            "{version}: new session"
        );
    }
}

#[tokio::test]
async fn tree_ranges_and_malformed_trees_behave_like_stapler() {
    let m = mock(Settings::default()).await;
    m.world().create("a/b/c", Kind::Freestyle).unwrap();
    let root = get(&m, "api/json?tree=jobs[name,jobs[name,jobs[name,url]]]").await;
    assert_eq!(root["jobs"][0]["jobs"][0]["jobs"][0]["name"], "c");
    assert!(root.get("mode").is_none(), "only what tree= asks");
    for _ in 0..5 {
        let id = m.world().enqueue("a/b/c", Enqueue::default()).unwrap();
        let n = m.world().start(id).unwrap();
        m.world().finish("a/b/c", n, "SUCCESS").unwrap();
    }
    let job = get(&m, "job/a/job/b/job/c/api/json?tree=builds[number]{1,3}").await;
    let numbers: Vec<u64> = job["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [4, 3]);
    let r = reqwest::get(format!("{}api/json?tree=jobs[name", m.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let r = reqwest::get(format!(
        "{}job/a/job/b/job/c/api/json?tree=builds[number]{{9,}}",
        m.url()
    ))
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        500,
        "old Stapler fails a range that starts past the end"
    );
}

#[tokio::test]
async fn api_xml_serves_the_same_objects() {
    let m = mock(Settings::default()).await;
    m.world().create("app", Kind::Freestyle).unwrap();
    let id = m
        .world()
        .enqueue(
            "app",
            Enqueue {
                user: Some("jane".into()),
                ..Enqueue::default()
            },
        )
        .unwrap();
    m.world().cancel(id).unwrap();
    let r = reqwest::get(format!("{}queue/item/{id}/api/xml", m.url()))
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = r.text().await.unwrap();
    assert!(
        xml.starts_with("<leftItem _class='hudson.model.Queue$LeftItem'>"),
        "{xml}"
    );
    assert!(
        xml.contains("<cancelled>true</cancelled>") && !xml.contains("<executable"),
        "{xml}"
    );
    assert!(
        xml.contains("<cause _class='hudson.model.Cause$UserIdCause'>"),
        "{xml}"
    );
}

#[tokio::test]
async fn injected_faults_hit_the_chosen_endpoint_the_chosen_number_of_times() {
    let m = mock(Settings::default()).await;
    m.world().faults.push(mock_jenkins::Fault {
        path_prefix: "/queue/".into(),
        query: None,
        kind: FaultKind::Status(503),
        remaining: Some(2),
    });
    m.world().faults.push(mock_jenkins::Fault {
        path_prefix: "/computer/".into(),
        query: None,
        kind: FaultKind::Reset,
        remaining: Some(1),
    });
    m.world().faults.push(mock_jenkins::Fault {
        path_prefix: "/whoAmI/".into(),
        query: None,
        kind: FaultKind::Garbage,
        remaining: Some(1),
    });
    let status = |p: &'static str| {
        let url = format!("{}{p}", m.url());
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(status("queue/api/json").await, 503);
    assert_eq!(status("api/json").await, 200, "other endpoints unaffected");
    assert_eq!(status("queue/api/json").await, 503);
    assert_eq!(status("queue/api/json").await, 200, "fault used up");
    let broken = match reqwest::get(format!("{}computer/api/json", m.url())).await {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(broken, "connection broken mid-response");
    let garbage = reqwest::get(format!("{}whoAmI/api/json", m.url()))
        .await
        .unwrap()
        .json::<Value>()
        .await;
    assert!(garbage.is_err(), "not JSON");
}

#[tokio::test]
async fn control_api_runs_actions_and_scenarios() {
    let m = mock(Settings::default()).await;
    let client = reqwest::Client::new();
    let r: Value = client
        .post(format!("{}mock/do", m.url()))
        .body(r#"{"do": "create", "name": "app", "kind": "pipeline"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["created"], "app");
    let r = client
        .post(format!("{}mock/scenario", m.url()))
        .body(r#"{"steps": [{"do": "build", "job": "app", "duration": "100ms", "result": "UNSTABLE"}, {"at": "50ms", "do": "node", "name": "agent7"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let job = get(&m, "job/app/api/json?tree=lastCompletedBuild[result]").await;
        if job["lastCompletedBuild"]["result"] == "UNSTABLE" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "scenario build never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let state = get(&m, "mock/state").await;
    assert!(
        state["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "agent7")
    );
    let bad = client
        .post(format!("{}mock/do", m.url()))
        .body(r#"{"do": "fly"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
