//! Parsers never panic: every Jenkins response model and the config loader get arbitrary bytes
//! and arbitrary JSON, and must answer with a value or an error.
//!
//! Inputs tried per run: [`CASES`] arbitrary byte strings and [`CASES`] Jenkins-like JSON
//! documents, each through every model, and 500 config files (recorded in docs/reliability.md).

use jenkins_event_shim::config::Options;
use jenkins_event_shim::jenkins::model::{
    Build, ComputerSet, JobNode, JobTree, QueueItem, QueueList, RunDescription, WhoAmI,
};
use proptest::prelude::*;

const CASES: u32 = 5_000;

fn parse_all(bytes: &[u8]) {
    let _ = serde_json::from_slice::<QueueList>(bytes);
    let _ = serde_json::from_slice::<QueueItem>(bytes);
    let _ = serde_json::from_slice::<ComputerSet>(bytes);
    let _ = serde_json::from_slice::<JobTree>(bytes);
    let _ = serde_json::from_slice::<JobNode>(bytes);
    let _ = serde_json::from_slice::<Build>(bytes);
    let _ = serde_json::from_slice::<WhoAmI>(bytes);
    let _ = serde_json::from_slice::<RunDescription>(bytes);
    // What the watcher derives from a build must not panic either.
    if let Ok(build) = serde_json::from_slice::<Build>(bytes) {
        let id = jenkins_event_shim::jenkins::path::BuildRef {
            job: "job/x/".into(),
            number: build.number,
        };
        let _ = jenkins_event_shim::watch::BuildFacts::from_build(id, &build);
        let _ = build.is_finalized();
    }
}

/// Arbitrary JSON shaped like Jenkins' (objects with its keys, nested), to get past the
/// first byte that plain random input fails on.
fn jenkins_json() -> impl Strategy<Value = serde_json::Value> {
    let keys = prop::sample::select(vec![
        "_class",
        "id",
        "number",
        "url",
        "items",
        "task",
        "actions",
        "causes",
        "parameters",
        "value",
        "name",
        "building",
        "inProgress",
        "result",
        "timestamp",
        "duration",
        "queueId",
        "executor",
        "executable",
        "cancelled",
        "computer",
        "executors",
        "oneOffExecutors",
        "currentExecutable",
        "jobs",
        "lastBuild",
        "nextBuildNumber",
        "displayName",
        "offline",
        "lastBuiltRevision",
        "branch",
        "SHA1",
        "remoteUrls",
        "stages",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn response_models_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&bytes);
    }

    #[test]
    fn response_models_never_panic_on_arbitrary_jenkins_like_json(value in jenkins_json()) {
        parse_all(value.to_string().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn the_config_loader_never_panics_and_errors_are_one_line(text in "(jenkins-url|sink|poll-interval|listen|folder-depth|\\[|\\]|=|\"|[a-z0-9:/. ]|\n){0,80}") {
            let dir = std::env::temp_dir().join(format!("shim-parsers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let options = Options { config: Some(path), ..Options::default() };
        if let Err(e) = options.resolve(true) {
            prop_assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
    }
}
