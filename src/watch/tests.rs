//! The diff engine on the Jenkins behaviours that lose events in naive pollers.
//!
//! Observations are built from JSON in the shapes Jenkins serves; each test steps the engine
//! the way the poller does (tick, then follow-ups fed back) and checks the changes in order.

use serde_json::{Value, json};

use super::*;
use crate::jenkins::model::{Build, ComputerSet, JobNode, JobTree, QueueItem, QueueList};
use crate::jenkins::path::BuildRef;

const ROOT: &str = "http://ci.example/";

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("test JSON matches the model")
}

fn job(name: &str, class: &str, last: Option<u64>) -> Value {
    json!({"_class": class, "name": name, "displayName": name, "url": format!("{ROOT}job/{name}/"),
           "nextBuildNumber": last.unwrap_or(0) + 1,
           "lastBuild": last.map(|n| json!({"number": n}))})
}

fn freestyle(name: &str, last: Option<u64>) -> Value {
    job(name, "hudson.model.FreeStyleProject", last)
}

fn queue_item(id: u64, job: &str, since: i64) -> Value {
    json!({"_class": "hudson.model.Queue$WaitingItem", "id": id, "inQueueSince": since,
           "timestamp": since + 5000,
           "task": {"_class": "hudson.model.FreeStyleProject", "name": job, "displayName": job,
                    "url": format!("{ROOT}job/{job}/")},
           "actions": [{"_class": "hudson.model.CauseAction",
                        "causes": [{"_class": "hudson.model.Cause$UserIdCause", "userId": "jane", "userName": "Jane Doe"}]}]})
}

fn build(job: &str, n: u64, queue_id: i64, building: bool, result: Option<&str>) -> Build {
    parse(json!({"_class": "hudson.model.FreeStyleBuild", "number": n,
                 "url": format!("{ROOT}job/{job}/{n}/"), "building": building, "result": result,
                 "timestamp": 1_000 * n as i64, "duration": if building {0} else {500},
                 "queueId": queue_id, "executor": if building { json!({}) } else { Value::Null },
                 "actions": [{"_class": "hudson.model.ParametersAction",
                              "parameters": [{"_class": "hudson.model.StringParameterValue", "name": "b", "value": "2"},
                                             {"_class": "hudson.model.PasswordParameterValue", "name": "secret"},
                                             {"_class": "hudson.model.BooleanParameterValue", "name": "A", "value": true}]}]}))
}

fn computers(running: &[&str], agents: &[(&str, bool)]) -> ComputerSet {
    let executors: Vec<Value> = running
        .iter()
        .map(|u| json!({"currentExecutable": {"_class": "hudson.model.FreeStyleBuild", "url": format!("{ROOT}{u}")}}))
        .collect();
    let mut list = vec![
        json!({"_class": "hudson.model.Hudson$MasterComputer", "displayName": "master",
                               "offline": false, "executors": executors, "oneOffExecutors": []}),
    ];
    for (name, online) in agents {
        list.push(json!({"_class": "hudson.slaves.SlaveComputer", "displayName": name,
                         "offline": !online, "temporarilyOffline": false, "executors": [], "oneOffExecutors": [],
                         "offlineCauseReason": if *online { "" } else { "connection was broken" }}));
    }
    parse(json!({ "computer": list }))
}

fn tree(jobs: Vec<Value>) -> Scan {
    Scan {
        levels: 3,
        tree: parse::<JobTree>(json!({ "jobs": jobs })),
    }
}

fn queue(items: Vec<Value>) -> QueueList {
    parse(json!({ "items": items }))
}

/// The engine plus a fake Jenkins answering follow-ups from tables.
struct Harness {
    state: State,
    builds: Vec<Build>,
    left: Vec<(u64, Fetched<QueueItem>)>,
    changes: Vec<Change>,
    notes: Vec<Note>,
    now: i64,
    /// Every follow-up read asked for: `left:ID`, `job:PATH`.
    asked: Vec<String>,
    /// What every `config.xml` read answers, if not the file.
    config_answer: Option<Fetched<String>>,
}

impl Harness {
    fn baseline(jobs: Vec<Value>, q: Vec<Value>, running: &[&str]) -> Harness {
        Self::baseline_from(State::default(), jobs, q, running)
    }

    /// The first observation, from a state set up beforehand (e.g. with a backfill window).
    fn baseline_from(state: State, jobs: Vec<Value>, q: Vec<Value>, running: &[&str]) -> Harness {
        let out = diff(
            state,
            Observation {
                now: 0,
                session: Some("s1".into()),
                queue: Some(queue(q)),
                computers: Some(computers(running, &[("agent1", true)])),
                scan: Some(tree(jobs)),
                ..Default::default()
            },
        );
        assert!(out.changes.is_empty(), "the baseline emits nothing");
        Harness {
            state: out.state,
            builds: vec![],
            left: vec![],
            changes: vec![],
            notes: vec![],
            now: 0,
            asked: vec![],
            config_answer: None,
        }
    }

    /// One tick: the polls, then follow-ups answered from the tables until none are left.
    fn tick(&mut self, mut obs: Observation) {
        self.now += 10_000;
        obs.now = self.now;
        obs.session.get_or_insert_with(|| "s1".into());
        let mut obs = Some(obs);
        for _round in 0..5 {
            let Some(o) = obs.take() else { break };
            let out = diff(std::mem::take(&mut self.state), o);
            self.state = out.state;
            self.changes.extend(out.changes);
            self.notes.extend(out.notes);
            let f = out.follow_ups;
            self.asked
                .extend(f.left_items.iter().map(|id| format!("left:{id}")));
            self.asked.extend(f.jobs.iter().map(|p| format!("job:{p}")));
            if f.builds.is_empty()
                && f.left_items.is_empty()
                && f.jobs.is_empty()
                && f.configs.is_empty()
            {
                break;
            }
            let builds = f
                .builds
                .iter()
                .map(|r| {
                    let found = self
                        .builds
                        .iter()
                        .find(|b| b.url.as_deref() == Some(&format!("{ROOT}{}", r.path())));
                    (
                        r.clone(),
                        found.map_or(Fetched::Gone, |b| Fetched::Found(b.clone())),
                    )
                })
                .collect();
            let left_items = f
                .left_items
                .iter()
                .map(|id| {
                    let found = self
                        .left
                        .iter()
                        .find(|(i, _)| i == id)
                        .map(|(_, f)| f.clone());
                    (*id, found.unwrap_or(Fetched::Gone))
                })
                .collect();
            let configs = f
                .configs
                .iter()
                .map(|p| {
                    let file = Fetched::Found(format!("<project>{p}</project>"));
                    (p.clone(), self.config_answer.clone().unwrap_or(file))
                })
                .collect();
            let jobs = f
                .jobs
                .iter()
                .map(|p| (p.clone(), Fetched::<JobNode>::Gone))
                .collect();
            obs = Some(Observation {
                now: self.now,
                session: Some("s1".into()),
                builds,
                left_items,
                configs,
                jobs,
                ..Default::default()
            });
        }
    }

    fn poll(&mut self, q: Vec<Value>, running: &[&str], scan: Option<Vec<Value>>) {
        self.tick(Observation {
            queue: Some(queue(q)),
            computers: Some(computers(running, &[("agent1", true)])),
            scan: scan.map(tree),
            ..Default::default()
        });
    }

    /// Changes as short strings: `entered:12`, `left:12`, `started:app#3`, …
    fn took(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changes)
            .into_iter()
            .map(|c| match c {
                Change::QueueEntered(i) => format!("entered:{}", i.id),
                Change::QueueLeft { item, .. } => format!("left:{}", item.id),
                Change::Build {
                    job, build, phase, ..
                } => {
                    format!(
                        "{}:{}#{}",
                        format!("{phase:?}").to_lowercase(),
                        job.name,
                        build.id.number
                    )
                }
                Change::Item { job, kind, .. } => {
                    format!("{}:{}", format!("{kind:?}").to_lowercase(), job.name)
                }
                Change::Stage { build, stage, .. } => {
                    format!("stage:{}#{}", stage.name, build.number)
                }
                Change::BuildDeleted { job, id, .. } => {
                    format!("deleted:{}#{}", job.name, id.number)
                }
                Change::Node(n) => {
                    format!("{}:{}", if n.online { "online" } else { "offline" }, n.name)
                }
            })
            .collect()
    }
}

#[test]
fn first_observation_is_the_starting_point_and_emits_nothing() {
    let mut h = Harness::baseline(
        vec![freestyle("app", Some(7))],
        vec![queue_item(3, "app", 0)],
        &[],
    );
    h.poll(
        vec![queue_item(3, "app", 0)],
        &[],
        Some(vec![freestyle("app", Some(7))]),
    );
    assert_eq!(h.took(), Vec::<String>::new());
    assert_eq!(h.state.jobs["job/app/"].high, 7);
}

#[test]
fn queue_item_then_build_give_the_full_lifecycle_in_order() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.poll(vec![queue_item(10, "app", 5)], &[], None);
    assert_eq!(h.took(), ["entered:10"]);
    h.builds.push(build("app", 2, 10, true, None));
    h.left.push((
        10,
        Fetched::Found(parse(
            json!({"_class": "hudson.model.Queue$LeftItem", "id": 10, "cancelled": false,
        "executable": {"number": 2, "url": format!("{ROOT}job/app/2/")}}),
        )),
    ));
    h.poll(vec![], &["job/app/2/"], None);
    assert_eq!(h.took(), ["left:10", "started:app#2"]);
    h.poll(vec![], &["job/app/2/"], None);
    assert_eq!(
        h.took(),
        Vec::<String>::new(),
        "a running build is not read again"
    );
    h.builds[0] = build("app", 2, 10, false, Some("FAILURE"));
    h.poll(vec![], &[], None);
    assert_eq!(
        h.took(),
        ["completed:app#2", "finalized:app#2", "failed:app#2"]
    );
}

#[test]
fn build_that_starts_and_finishes_between_ticks_is_caught_by_the_scan() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.builds.push(build("app", 2, 0, false, Some("SUCCESS")));
    h.poll(vec![], &[], Some(vec![freestyle("app", Some(2))]));
    assert_eq!(
        h.took(),
        ["started:app#2", "completed:app#2", "finalized:app#2"]
    );
}

#[test]
fn many_builds_of_one_job_between_ticks_come_out_oldest_first() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    for n in 2..=4 {
        h.builds.push(build(
            "app",
            n,
            0,
            false,
            Some(if n == 3 { "FAILURE" } else { "SUCCESS" }),
        ));
    }
    h.poll(vec![], &[], Some(vec![freestyle("app", Some(4))]));
    assert_eq!(
        h.took(),
        [
            "started:app#2",
            "completed:app#2",
            "finalized:app#2",
            "started:app#3",
            "completed:app#3",
            "finalized:app#3",
            "failed:app#3",
            "started:app#4",
            "completed:app#4",
            "finalized:app#4",
        ]
    );
}

#[test]
fn concurrent_builds_of_one_job_each_finish_on_their_own() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.builds.push(build("app", 2, 0, true, None));
    h.builds.push(build("app", 3, 0, true, None));
    h.poll(vec![], &["job/app/2/", "job/app/3/"], None);
    assert_eq!(h.took(), ["started:app#2", "started:app#3"]);
    h.builds[1] = build("app", 3, 0, false, Some("SUCCESS"));
    h.poll(vec![], &["job/app/2/"], None);
    assert_eq!(h.took(), ["completed:app#3", "finalized:app#3"]);
    h.builds[0] = build("app", 2, 0, false, Some("ABORTED"));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["completed:app#2", "finalized:app#2"]);
}

#[test]
fn cancelled_queue_item_leaves_without_a_build() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.poll(vec![queue_item(10, "app", 5)], &[], None);
    h.left.push((
        10,
        Fetched::Found(parse(
            json!({"id": 10, "cancelled": true, "executable": null}),
        )),
    ));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["entered:10", "left:10"]);
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), Vec::<String>::new());
}

#[test]
fn left_item_race_is_read_again_not_taken_for_cancelled() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.poll(vec![queue_item(10, "app", 5)], &[], None);
    h.left.push((
        10,
        Fetched::Found(parse(
            json!({"id": 10, "cancelled": false, "executable": null}),
        )),
    ));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["entered:10"]);
    h.left[0].1 = Fetched::Found(parse(json!({"id": 10, "cancelled": false,
        "executable": {"number": 2, "url": format!("{ROOT}job/app/2/")}})));
    h.builds.push(build("app", 2, 10, true, None));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["left:10", "started:app#2"]);
}

#[test]
fn queue_item_unseen_between_ticks_is_recovered_through_the_builds_queue_id() {
    let mut h = Harness::baseline(
        vec![freestyle("app", Some(1))],
        vec![queue_item(9, "app", 1)],
        &[],
    );
    h.poll(vec![queue_item(9, "app", 1)], &[], None);
    // Item 11 entered and left between ticks; its record is still there.
    let mut record = queue_item(11, "app", 7);
    record["_class"] = json!("hudson.model.Queue$LeftItem");
    h.left.push((11, Fetched::Found(parse(record))));
    h.builds.push(build("app", 2, 11, true, None));
    h.poll(vec![queue_item(9, "app", 1)], &["job/app/2/"], None);
    assert_eq!(h.took(), ["entered:11", "left:11", "started:app#2"]);
    // Item 12 too, but its record expired: synthesised from the build.
    h.builds.push(build("app", 3, 12, false, Some("SUCCESS")));
    h.poll(
        vec![queue_item(9, "app", 1)],
        &["job/app/2/"],
        Some(vec![freestyle("app", Some(3))]),
    );
    assert_eq!(
        h.took(),
        [
            "entered:12",
            "left:12",
            "started:app#3",
            "completed:app#3",
            "finalized:app#3"
        ]
    );
}

#[test]
fn vanished_item_whose_record_expired_waits_for_its_build_then_gives_up() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.poll(vec![queue_item(10, "app", 5)], &[], None);
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["entered:10"]);
    for _ in 0..(LEFT_ITEM_GRACE_MS / 10_000) {
        h.poll(vec![], &[], None);
    }
    assert_eq!(h.took(), ["left:10"]);
}

#[test]
fn pipeline_placeholder_items_are_not_reported_and_do_not_disturb() {
    // Old exports: a PlaceholderTask with nothing but its class (as in the recorded fixture).
    let placeholder = json!({"_class": "hudson.model.Queue$BuildableItem", "id": 20, "inQueueSince": 1,
        "task": {"_class": "org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask"}});
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.poll(vec![placeholder.clone()], &[], None);
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), Vec::<String>::new());
}

/// A `node {}` block of `job/<job>/<run>/` waiting for an executor, as workflow-durable-task-step's
/// `ExecutorStepExecution.PlaceholderTask` exports it: `name` and the run's *relative* URL.
fn node_block(id: u64, job: &str, run: u64) -> Value {
    json!({"_class": "hudson.model.Queue$BuildableItem", "id": id, "inQueueSince": 1,
           "why": "Waiting for next available executor",
           "task": {"_class": "org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask",
                    "name": format!("part of {job} #{run}"), "url": format!("job/{job}/{run}/")}})
}

#[test]
fn node_block_items_with_name_and_run_url_are_not_reported_read_or_remembered() {
    let pipeline = || {
        job(
            "pipe",
            "org.jenkinsci.plugins.workflow.job.WorkflowJob",
            Some(4),
        )
    };
    let mut h = Harness::baseline(vec![pipeline()], vec![node_block(30, "pipe", 4)], &[]);
    assert!(h.state.queue.is_empty(), "not in the starting point");
    h.poll(
        vec![node_block(30, "pipe", 4), node_block(31, "pipe", 4)],
        &[],
        None,
    );
    h.poll(vec![], &[], None);
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), Vec::<String>::new());
    // Only the probe of the id after the newest (32); neither item, nor a "job" at the run's URL.
    assert!(h.asked.iter().all(|a| a == "left:32"), "{:?}", h.asked);
    assert!(h.state.queue.is_empty() && !h.state.jobs.contains_key("job/pipe/4/"));
}

/// A multibranch project's branch indexing in the queue (a cloudbees-folder `ComputedFolder`).
fn indexing(id: u64, folder: &str, since: i64) -> Value {
    json!({"_class": "hudson.model.Queue$BlockedItem", "id": id, "inQueueSince": since,
           "why": "At maximum indexing capacity", "buildableStartMilliseconds": since,
           "task": {"_class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
                    "name": folder, "displayName": folder, "url": format!("{ROOT}job/{folder}/")},
           "actions": [{"_class": "hudson.model.CauseAction",
                        "causes": [{"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause"}]}]})
}

#[test]
fn folder_indexing_is_queued_and_left_on_time_without_becoming_a_job() {
    let mut h = Harness::baseline(
        vec![freestyle("app", Some(1))],
        vec![indexing(7, "mb", 0)],
        &[],
    );
    h.poll(vec![indexing(7, "mb", 0), indexing(8, "mb", 5)], &[], None);
    assert_eq!(h.took(), ["entered:8"]);
    // Both started indexing (or were cancelled): `left` at once, without reading left items.
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["left:7", "left:8"]);
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), Vec::<String>::new());
    assert!(h.asked.iter().all(|a| a == "left:9"), "{:?}", h.asked);
    assert!(h.state.queue.is_empty() && !h.state.jobs.contains_key("job/mb/"));
}

#[test]
fn queue_ids_handed_out_again_after_a_restart_are_announced() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.left.push((
        5,
        Fetched::Found(parse(json!({"_class": "hudson.model.Queue$LeftItem",
        "id": 5, "cancelled": true, "executable": null}))),
    ));
    h.poll(vec![queue_item(5, "app", 100)], &[], None);
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["entered:5", "left:5"]);
    // Jenkins crashed and reloaded a stale queue.xml, or 2.450+ reset its counter: id 5 again.
    h.tick(Observation {
        session: Some("s2".into()),
        queue: Some(queue(vec![queue_item(5, "app", 90_000)])),
        computers: Some(computers(&[], &[("agent1", true)])),
        scan: Some(tree(vec![freestyle("app", Some(1))])),
        ..Default::default()
    });
    assert!(h.took().contains(&"entered:5".to_string()));
}

#[test]
fn deleted_build_is_dropped_and_later_builds_still_come() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    // #2 deleted before we read it; #3 exists.
    h.builds.push(build("app", 3, 0, false, Some("SUCCESS")));
    h.poll(vec![], &[], Some(vec![freestyle("app", Some(3))]));
    assert_eq!(
        h.took(),
        ["started:app#3", "completed:app#3", "finalized:app#3"]
    );
    assert!(h.notes.contains(&Note::BuildGone(BuildRef {
        job: "job/app/".into(),
        number: 2
    })));
    assert!(h.state.jobs["job/app/"].to_fetch.is_empty());
}

#[test]
fn folders_and_multibranch_branches_keep_their_encoded_paths_and_display_names() {
    let branch = json!({"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "feature%2Fx",
        "displayName": "feature/x", "url": format!("{ROOT}job/mb/job/feature%252Fx/"), "lastBuild": {"number": 1}});
    let mb = json!({"_class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
        "name": "mb", "url": format!("{ROOT}job/mb/"), "jobs": [branch]});
    let mut h = Harness::baseline(vec![mb.clone()], vec![], &[]);
    let mut b: Build = build("x", 2, 0, false, Some("SUCCESS"));
    b.url = Some(format!("{ROOT}job/mb/job/feature%252Fx/2/"));
    h.builds.push(b);
    let mut mb2 = mb;
    mb2["jobs"][0]["lastBuild"] = json!({"number": 2});
    h.poll(vec![], &[], Some(vec![mb2]));
    let changes = std::mem::take(&mut h.changes);
    assert_eq!(changes.len(), 3);
    let Change::Build { job, build, .. } = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(job.path, "job/mb/job/feature%252Fx/");
    assert_eq!(job.display_name, "feature/x");
    assert_eq!(build.id.path(), "job/mb/job/feature%252Fx/2/");
}

#[test]
fn new_freestyle_job_is_created_before_its_queue_events() {
    let mut h = Harness::baseline(vec![], vec![], &[]);
    h.poll(vec![], &[], Some(vec![freestyle("new job", None)]));
    assert_eq!(h.took(), ["created:new job"]);
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    let mut updated = freestyle("app", Some(1));
    updated["description"] = json!("now with a description");
    h.poll(vec![], &[], Some(vec![updated]));
    assert_eq!(h.took(), ["updated:app"]);
    let pipeline = job(
        "pipe",
        "org.jenkinsci.plugins.workflow.job.WorkflowJob",
        None,
    );
    h.poll(vec![], &[], Some(vec![freestyle("app", Some(1)), pipeline]));
    assert_eq!(
        h.took(),
        ["created:pipe", "updated:app"],
        "every new item is reported (KubeSphere's item.created); the plugin format drops a pipeline's (event::plugin tests)"
    );
}

#[test]
fn a_job_no_longer_listed_is_reported_deleted() {
    let mut h = Harness::baseline(
        vec![freestyle("app", Some(1)), freestyle("gone", None)],
        vec![],
        &[],
    );
    h.poll(vec![], &[], Some(vec![freestyle("app", Some(1))]));
    assert_eq!(h.took(), ["deleted:gone"]);
}

#[test]
fn restart_resyncs_finishes_aborted_builds_and_reannounces_nodes() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &["job/app/1/"]);
    h.builds.push(build("app", 1, 0, false, Some("ABORTED")));
    h.tick(Observation {
        session: Some("s2".into()),
        queue: Some(queue(vec![])),
        computers: Some(computers(&[], &[("agent1", true)])),
        scan: Some(tree(vec![freestyle("app", Some(1))])),
        ..Default::default()
    });
    assert_eq!(
        h.took(),
        [
            "online:",
            "online:agent1",
            "completed:app#1",
            "finalized:app#1"
        ]
    );
    assert!(matches!(h.notes[0], Note::Restarted { .. }));
}

#[test]
fn nodes_report_channel_transitions_but_not_temporary_offline_toggles() {
    let mut h = Harness::baseline(vec![], vec![], &[]);
    h.tick(Observation {
        computers: Some(computers(&[], &[("agent1", false)])),
        ..Default::default()
    });
    h.tick(Observation {
        computers: Some(computers(&[], &[("agent1", true), ("agent2", true)])),
        ..Default::default()
    });
    let mut temp = computers(&[], &[("agent1", true), ("agent2", true)]);
    temp.computer[1].offline = true;
    temp.computer[1].temporarily_offline = true;
    h.tick(Observation {
        computers: Some(temp),
        ..Default::default()
    });
    h.tick(Observation {
        computers: Some(computers(&[], &[("agent1", true)])),
        ..Default::default()
    });
    assert_eq!(
        h.took(),
        [
            "offline:agent1",
            "online:agent1",
            "online:agent2",
            "offline:agent2"
        ]
    );
}

#[test]
fn built_in_node_is_named_empty_whatever_its_display_name() {
    let set: ComputerSet = parse(json!({"computer": [
        {"_class": "hudson.model.Hudson$MasterComputer", "displayName": "Built-In Node"},
        {"displayName": "master"}]}));
    assert_eq!(set.computer[0].node_name(), "");
    assert_eq!(
        set.computer[1].node_name(),
        "",
        "pre-2.2 cores have no _class"
    );
}

#[test]
fn parameters_skip_passwords_stringify_and_sort_case_insensitively() {
    let facts = BuildFacts::from_build(
        BuildRef {
            job: "job/app/".into(),
            number: 2,
        },
        &build("app", 2, 0, true, None),
    );
    assert_eq!(
        facts.parameters,
        Some(vec![("A".into(), "true".into()), ("b".into(), "2".into())])
    );
}

#[test]
fn running_builds_when_watching_starts_report_how_they_end_only() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(4))], vec![], &["job/app/4/"]);
    h.builds.push(build("app", 4, 0, false, Some("SUCCESS")));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["completed:app#4", "finalized:app#4"]);
}

#[test]
fn post_production_build_completes_first_and_finalizes_later() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    let mut b = build("app", 2, 0, false, Some("SUCCESS"));
    b.executor = Some(Some(json!({})));
    h.builds.push(b);
    h.poll(vec![], &[], Some(vec![freestyle("app", Some(2))]));
    assert_eq!(h.took(), ["started:app#2", "completed:app#2"]);
    h.builds[0] = build("app", 2, 0, false, Some("SUCCESS"));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["finalized:app#2"]);
}

#[test]
fn queue_for_unknown_job_learns_the_job_before_announcing() {
    let mut h = Harness::baseline(vec![], vec![], &[]);
    h.poll(vec![queue_item(10, "ghost", 5)], &[], None);
    assert_eq!(
        h.took(),
        Vec::<String>::new(),
        "job read failed (404): nothing announced"
    );
    assert!(h.state.queue.is_empty());
}

#[test]
fn backfill_reports_builds_inside_the_window_and_only_the_end_of_older_running_ones() {
    let state = State {
        backfill_since: Some(2_500),
        ..State::default()
    };
    // Builds 1 and 2 started before the window (timestamps 1000, 2000), 3 and 4 inside it; 4 runs.
    let mut h = Harness::baseline_from(
        state,
        vec![freestyle("app", Some(4))],
        vec![],
        &["job/app/2/", "job/app/4/"],
    );
    h.builds.push(build("app", 1, 0, false, Some("SUCCESS")));
    h.builds.push(build("app", 2, 0, true, None));
    h.builds.push(build("app", 3, 0, false, Some("FAILURE")));
    h.builds.push(build("app", 4, 0, true, None));
    h.poll(vec![], &["job/app/2/", "job/app/4/"], None);
    assert_eq!(
        h.took(),
        [
            "started:app#3",
            "completed:app#3",
            "finalized:app#3",
            "failed:app#3",
            "started:app#4"
        ]
    );
    h.builds[1] = build("app", 2, 0, false, Some("SUCCESS"));
    h.poll(vec![], &["job/app/4/"], None);
    assert_eq!(
        h.took(),
        ["completed:app#2", "finalized:app#2"],
        "an older running build still reports its end"
    );
}

fn left_item(id: u64, job: &str, build: Option<u64>) -> Fetched<QueueItem> {
    let mut item = queue_item(id, job, 100 * id as i64);
    item["_class"] = json!("hudson.model.Queue$LeftItem");
    item["cancelled"] = json!(build.is_none());
    item["executable"] = match build {
        Some(n) => json!({"_class": "hudson.model.FreeStyleBuild", "number": n,
                          "url": format!("{ROOT}job/{job}/{n}/")}),
        None => Value::Null,
    };
    Fetched::Found(parse(item))
}

#[test]
fn build_queued_run_and_finished_between_two_polls_is_reported_at_the_next_poll() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.left.push((1, left_item(1, "app", Some(2))));
    h.builds.push(build("app", 2, 1, false, Some("SUCCESS")));
    h.poll(vec![], &[], None); // no scan: the probe of the next queue id finds it
    assert_eq!(
        h.took(),
        [
            "entered:1",
            "left:1",
            "started:app#2",
            "completed:app#2",
            "finalized:app#2"
        ]
    );
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), Vec::<String>::new());
    assert!(h.state.queue.is_empty(), "nothing left behind");
}

#[test]
fn item_created_and_cancelled_between_two_polls_is_entered_and_left() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.left.push((1, left_item(1, "app", None)));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["entered:1", "left:1"]);
    assert_eq!(h.state.queue_high, Some(1));
}

#[test]
fn gaps_in_queue_ids_are_probed_once_each_and_bounded() {
    let mut h = Harness::baseline(
        vec![freestyle("app", Some(1))],
        vec![queue_item(3, "app", 0)],
        &[],
    );
    h.left.push((5, left_item(5, "app", None)));
    h.poll(
        vec![queue_item(3, "app", 0), queue_item(7, "app", 700)],
        &[],
        None,
    );
    assert_eq!(h.took(), ["entered:7", "entered:5", "left:5"]);
    for id in [4, 5, 6, 8] {
        assert!(
            h.asked.contains(&format!("left:{id}")),
            "{id} probed: {:?}",
            h.asked
        );
    }
    h.asked.clear();
    h.poll(
        vec![queue_item(3, "app", 0), queue_item(7, "app", 700)],
        &[],
        None,
    );
    assert_eq!(
        h.asked,
        ["left:8"],
        "gaps are probed once; then only the next id"
    );
    // A burst far past the last known id: only the newest gaps are remembered.
    h.poll(vec![queue_item(50_000, "app", 900)], &[], None);
    assert_eq!(h.state.gaps.len(), MAX_QUEUE_GAPS - MAX_GAP_PROBES_PER_TICK);
}

/// A job as the scan lists it, its last build started at `started` (ms).
fn freestyle_built(name: &str, last: u64, started: i64) -> Value {
    let mut j = freestyle(name, Some(last));
    j["lastBuild"]["timestamp"] = json!(started);
    j
}

#[test]
fn renamed_or_newly_visible_job_is_not_created_and_its_history_not_replayed() {
    let mut h = Harness::baseline(vec![freestyle_built("app", 5, 500)], vec![], &[]);
    for n in 1..=5 {
        h.builds
            .push(build("app", n, n as i64, false, Some("SUCCESS")));
        h.builds
            .push(build("renamed", n, n as i64, false, Some("SUCCESS")));
    }
    h.poll(vec![], &[], Some(vec![freestyle_built("app", 5, 500)])); // a scan at 10 s
    assert_eq!(h.took(), Vec::<String>::new());
    // `app` renamed to `renamed` before the next scan: only onRenamed fired in Jenkins.
    h.poll(vec![], &[], Some(vec![freestyle_built("renamed", 5, 500)]));
    let took = h.took();
    assert!(!took.iter().any(|c| c.starts_with("created")), "{took:?}");
    assert!(
        !took.iter().any(|c| c.contains("renamed#")),
        "no replay: {took:?}"
    );
    // Its next build is reported as usual.
    let mut b = build("renamed", 6, 0, false, Some("SUCCESS"));
    b.timestamp = 25_000;
    h.builds.push(b);
    h.poll(
        vec![],
        &[],
        Some(vec![freestyle_built("renamed", 6, 25_000)]),
    );
    assert_eq!(
        h.took(),
        [
            "started:renamed#6",
            "completed:renamed#6",
            "finalized:renamed#6"
        ]
    );
}

#[test]
fn job_created_and_built_between_two_scans_is_created_with_its_build() {
    let mut h = Harness::baseline(vec![freestyle_built("app", 1, 1)], vec![], &[]);
    // Built at 5,000 ms, after the starting scan (at 0).
    let mut b = build("new", 1, 0, false, Some("SUCCESS"));
    b.timestamp = 5_000;
    h.builds.push(b);
    h.poll(
        vec![],
        &[],
        Some(vec![
            freestyle_built("app", 1, 1),
            freestyle_built("new", 1, 5_000),
        ]),
    );
    assert_eq!(
        h.took(),
        [
            "created:new",
            "started:new#1",
            "completed:new#1",
            "finalized:new#1"
        ]
    );
}

#[test]
fn job_deleted_and_created_again_between_two_scans_reports_its_new_builds() {
    let mut h = Harness::baseline(vec![freestyle_built("app", 10, -5_000)], vec![], &[]);
    h.builds.push(build("app", 1, 0, false, Some("SUCCESS")));
    h.builds.push(build("app", 2, 0, false, Some("FAILURE")));
    h.poll(vec![], &[], Some(vec![freestyle_built("app", 2, 2_000)]));
    let took = h.took();
    assert_eq!(took[0], "created:app");
    assert!(took.contains(&"finalized:app#1".to_string()), "{took:?}");
    assert!(took.contains(&"failed:app#2".to_string()), "{took:?}");
    assert!(h.state.jobs["job/app/"].to_fetch.is_empty());
}

#[test]
fn lowered_next_build_number_reports_the_builds_that_come_after() {
    let mut h = Harness::baseline(vec![freestyle_built("app", 10, -5_000)], vec![], &[]);
    h.poll(vec![], &[], Some(vec![freestyle_built("app", 10, -5_000)]));
    // Builds 8 to 10 deleted, nextBuildNumber set back to 8.
    h.poll(vec![], &[], Some(vec![freestyle_built("app", 7, -6_000)]));
    assert_eq!(h.took(), Vec::<String>::new(), "old builds are history");
    let mut b = build("app", 8, 0, false, Some("SUCCESS"));
    b.timestamp = 25_000;
    h.builds.push(b);
    h.poll(vec![], &[], Some(vec![freestyle_built("app", 8, 25_000)]));
    assert_eq!(
        h.took(),
        ["started:app#8", "completed:app#8", "finalized:app#8"]
    );
}

#[test]
fn a_build_discarded_after_its_queue_item_named_it_still_lets_the_item_leave() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.poll(vec![queue_item(1, "app", 100)], &[], None);
    h.left.push((1, left_item(1, "app", Some(2)))); // build #2 is not in the table: deleted
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["entered:1", "left:1"]);
    assert!(h.state.queue.is_empty() && h.state.jobs["job/app/"].to_fetch.is_empty());
}

/// The config file of the first `created` change, if any.
fn created_config(changes: &[Change]) -> Option<Option<String>> {
    changes.iter().find_map(|c| match c {
        Change::Item {
            kind: ItemKind::Created,
            config,
            ..
        } => Some(config.clone()),
        _ => None,
    })
}

#[test]
fn unreadable_config_xml_sends_created_without_it_at_once_on_403() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.config_answer = Some(Fetched::Forbidden);
    h.poll(
        vec![],
        &[],
        Some(vec![freestyle("app", Some(1)), freestyle("new", None)]),
    );
    assert_eq!(created_config(&h.changes), Some(None));
    assert!(
        h.notes
            .iter()
            .any(|n| matches!(n, Note::ConfigForbidden(p) if p == "job/new/"))
    );
    assert!(h.state.pending_items.is_empty());
}

#[test]
fn failing_config_xml_reads_are_retried_a_bounded_number_of_times() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    h.config_answer = Some(Fetched::Failed);
    let tree = || Some(vec![freestyle("app", Some(1)), freestyle("new", None)]);
    h.poll(vec![], &[], tree());
    assert_eq!(created_config(&h.changes), None, "waits for a retry");
    for _ in 1..MAX_CONFIG_TRIES {
        h.poll(vec![], &[], None);
    }
    assert_eq!(
        created_config(&h.changes),
        Some(None),
        "then goes out without it"
    );
    assert!(h.notes.iter().any(|n| matches!(n, Note::ConfigUnread(_))));
    assert!(h.state.pending_items.is_empty() && h.state.config_tries.is_empty());
}

#[test]
fn probes_do_not_report_items_that_entered_the_queue_before_watching_started() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    let mut old = queue_item(1, "app", -60_000);
    old["_class"] = json!("hudson.model.Queue$LeftItem");
    old["cancelled"] = json!(true);
    h.left.push((1, Fetched::Found(parse(old))));
    h.left.push((2, left_item(2, "app", None)));
    h.poll(vec![], &[], None);
    assert_eq!(
        h.took(),
        ["entered:2", "left:2"],
        "item 1 is history, item 2 is not"
    );
}

#[test]
fn an_item_of_a_job_not_known_yet_that_leaves_before_the_next_poll_is_still_reported() {
    let mut h = Harness::baseline(vec![freestyle("app", Some(1))], vec![], &[]);
    // Item 1 of a job the shim has not learnt (its job read answers 404 in this harness, as
    // for a job still hidden): seen in the queue, then gone before the next poll.
    h.left
        .push((1, Fetched::Found(parse(queue_item(1, "later", 100)))));
    h.poll(vec![queue_item(1, "later", 100)], &[], None);
    assert!(h.state.gaps.contains(&1), "remembered for a probe");
    h.state
        .jobs
        .insert("job/later/".into(), h.state.jobs["job/app/"].clone());
    h.left.clear();
    h.left.push((1, left_item(1, "later", None)));
    h.poll(vec![], &[], None);
    assert_eq!(h.took(), ["entered:1", "left:1"]);
}
