//! Serde models of the JSON Jenkins serves (2.150 → current LTS).
//!
//! Every field is optional or defaulted: `tree=` drops what a bean lacks, old cores omit `_class`,
//! and plugins add shapes we have never seen. Where the watcher must tell "absent" from "null"
//! (a build's `executor`, a left item's `executable`) the field is `Option<Option<T>>`: `None` =
//! absent, `Some(None)` = null.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `Some(x)` for a present key, so that `#[serde(default)]` leaves `None` for an absent one.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `null` as the default: Jenkins writes `null` for empty lists in places.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `/queue/api/json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueList {
    /// Waiting, blocked, buildable and pending items (not sorted by id).
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<QueueItem>,
}

/// A queue item: `/queue/api/json` `items[]` or `/queue/item/ID/api/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    /// `hudson.model.Queue$WaitingItem`, `$BlockedItem`, `$BuildableItem`, `$LeftItem`.
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// Unique per controller; kept from waiting to left.
    pub id: u64,
    /// When the item entered the queue (ms).
    #[serde(default)]
    pub in_queue_since: Option<i64>,
    /// The job (or a pipeline `node{}` placeholder, which has no name or url).
    #[serde(default)]
    pub task: Option<Task>,
    /// Why it waits (localised; we ask for English).
    #[serde(default)]
    pub why: Option<String>,
    /// WaitingItem: the end of the quiet period (ms).
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// BlockedItem / BuildableItem: when the quiet period ended (ms).
    #[serde(default)]
    pub buildable_start_milliseconds: Option<i64>,
    /// Cause and parameter actions; `{}` entries for actions that export nothing.
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<Option<Action>>,
    /// LeftItem: true when the item was cancelled.
    #[serde(default)]
    pub cancelled: Option<bool>,
    /// LeftItem: the build it became; `Some(None)` while Jenkins is still creating it (a race).
    #[serde(default, deserialize_with = "present")]
    pub executable: Option<Option<Executable>>,
}

impl QueueItem {
    /// The causes of all cause actions, in order.
    pub fn causes(&self) -> impl Iterator<Item = &Cause> {
        causes(&self.actions)
    }

    /// What the item runs.
    pub fn task_kind(&self) -> TaskKind {
        self.task.as_ref().map_or(TaskKind::NodeBlock, Task::kind)
    }
}

/// What a queue item runs: Jenkins queues more than builds of jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// A build of a job.
    Job,
    /// A Pipeline `node {}` / `agent` block of a running build, waiting for an executor
    /// (workflow-durable-task-step, `ExecutorStepExecution.PlaceholderTask`). It exports
    /// `name` "part of app #12" and, as `url`, the run's relative URL. The plugin reports
    /// nothing for it: its source, `job/part of …`, is rejected by `java.net.URI`.
    NodeBlock,
    /// A task that is not a job and makes no build: a multibranch project's branch indexing or
    /// an organization folder's scan (cloudbees-folder, `ComputedFolder` is a
    /// `Queue.FlyweightTask`; its left item's executable is a `FolderComputation` without
    /// `url`). The plugin's `QueueListener` reports it like any queue item.
    Computation,
}

/// Task classes that are folders computing their children (`ComputedFolder` subclasses from
/// cloudbees-folder and branch-api), matched on the end of the class name.
const COMPUTED_FOLDER_CLASSES: &[&str] =
    &["MultiBranchProject", "OrganizationFolder", "ComputedFolder"];

impl Task {
    /// Classified by `_class`; before Jenkins 2.2 exported `_class`, a task without `url` or
    /// with a run's URL is taken for a `node {}` block.
    pub fn kind(&self) -> TaskKind {
        match self.class.as_deref() {
            Some(c) if c.ends_with("$PlaceholderTask") => TaskKind::NodeBlock,
            Some(c) if COMPUTED_FOLDER_CLASSES.iter().any(|k| c.ends_with(k)) => {
                TaskKind::Computation
            }
            Some(_) => TaskKind::Job,
            None => match self.url.as_deref() {
                Some(url) if crate::jenkins::path::build_ref(url).is_none() => TaskKind::Job,
                _ => TaskKind::NodeBlock,
            },
        }
    }
}

/// A queue item's task.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The job class (or `…$PlaceholderTask`).
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// Short name.
    #[serde(default)]
    pub name: Option<String>,
    /// Display name, when asked for.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Absolute job URL.
    #[serde(default)]
    pub url: Option<String>,
}

/// An action of a build or queue item; only the parts the events use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// The action class.
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// `CauseAction`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub causes: Vec<Cause>,
    /// `ParametersAction`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub parameters: Vec<Parameter>,
    /// git `BuildData`: the revision built.
    #[serde(default)]
    pub last_built_revision: Option<Revision>,
    /// git `BuildData`: the remote URLs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub remote_urls: Vec<String>,
}

/// A cause of a build or queue item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// `hudson.model.Cause$UserIdCause`, `…$UpstreamCause`, `…SCMTrigger$SCMTriggerCause`, …
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// "Started by user admin".
    #[serde(default)]
    pub short_description: Option<String>,
    /// UserIdCause.
    #[serde(default)]
    pub user_id: Option<String>,
    /// UserIdCause: the user's display name.
    #[serde(default)]
    pub user_name: Option<String>,
}

/// A build parameter value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Parameter {
    /// `hudson.model.StringParameterValue`, `…PasswordParameterValue`, …
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// Parameter name.
    #[serde(default)]
    pub name: Option<String>,
    /// String, boolean, number, object or absent (passwords).
    #[serde(default)]
    pub value: Option<Value>,
}

/// git `BuildData.lastBuiltRevision`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Revision {
    /// Commit SHA-1.
    #[serde(default, rename = "SHA1")]
    pub sha1: Option<String>,
    /// Branches of this revision.
    #[serde(default, rename = "branch", deserialize_with = "null_as_default")]
    pub branch: Vec<Branch>,
}

/// A git branch (`origin/main` or `refs/remotes/origin/main`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Branch {
    /// Branch name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A build (`Run`): `/job/X/N/api/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    /// `hudson.model.FreeStyleBuild`, `org.jenkinsci.plugins.workflow.job.WorkflowRun`, …
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// Build number.
    pub number: u64,
    /// Absolute URL.
    #[serde(default)]
    pub url: Option<String>,
    /// True until post-production (already false while post-production runs).
    #[serde(default)]
    pub building: bool,
    /// 2.369+: true until finalized.
    #[serde(default)]
    pub in_progress: Option<bool>,
    /// `SUCCESS`, `UNSTABLE`, `FAILURE`, `NOT_BUILT`, `ABORTED`, or null while running.
    #[serde(default)]
    pub result: Option<String>,
    /// Start (creation) time, ms.
    #[serde(default)]
    pub timestamp: i64,
    /// Duration, ms (0 while running).
    #[serde(default)]
    pub duration: i64,
    /// The queue item id it came from; -1 when unknown.
    #[serde(default = "unknown_queue_id")]
    pub queue_id: i64,
    /// "app #12".
    #[serde(default)]
    pub full_display_name: Option<String>,
    /// Absent when not asked for; null once the build left its executor.
    #[serde(default, deserialize_with = "present")]
    pub executor: Option<Option<Value>>,
    /// Causes, parameters, git data.
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<Option<Action>>,
}

fn unknown_queue_id() -> i64 {
    -1
}

impl Build {
    /// Finalized: `inProgress` false (2.369+), else not building and off its executor.
    pub fn is_finalized(&self) -> bool {
        match self.in_progress {
            Some(in_progress) => !in_progress,
            None => !self.building && !matches!(self.executor, Some(Some(_))),
        }
    }

    /// The causes of all cause actions, in order.
    pub fn causes(&self) -> impl Iterator<Item = &Cause> {
        causes(&self.actions)
    }

    /// All actions that carry something.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().flatten()
    }
}

fn causes(actions: &[Option<Action>]) -> impl Iterator<Item = &Cause> {
    actions.iter().flatten().flat_map(|a| a.causes.iter())
}

/// What an executor runs, or what a left queue item became.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Executable {
    /// Build class, or `…PlaceholderTask$PlaceholderExecutable` for a `node{}` block.
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// Build number.
    #[serde(default)]
    pub number: Option<u64>,
    /// Absolute build URL (for a placeholder: its run's URL).
    #[serde(default)]
    pub url: Option<String>,
}

/// `/computer/api/json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ComputerSet {
    /// Every node, built-in first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub computer: Vec<Computer>,
}

/// A node's computer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Computer {
    /// `hudson.model.Hudson$MasterComputer` for the built-in node.
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// `master` before 2.307, `Built-In Node` from it; the node name for agents.
    #[serde(default)]
    pub display_name: String,
    /// Channel down (or marked offline).
    #[serde(default)]
    pub offline: bool,
    /// Marked offline by a user: the channel state is then invisible.
    #[serde(default)]
    pub temporarily_offline: bool,
    /// The offline cause object.
    #[serde(default)]
    pub offline_cause: Option<Value>,
    /// The offline cause text.
    #[serde(default)]
    pub offline_cause_reason: Option<String>,
    /// Regular executors.
    #[serde(default, deserialize_with = "null_as_default")]
    pub executors: Vec<Executor>,
    /// Flyweight executors (pipeline runs).
    #[serde(default, deserialize_with = "null_as_default")]
    pub one_off_executors: Vec<Executor>,
}

impl Computer {
    /// True for the controller's own node.
    pub fn is_built_in(&self) -> bool {
        self.class.as_deref() == Some("hudson.model.Hudson$MasterComputer")
            || (self.class.is_none()
                && matches!(self.display_name.as_str(), "master" | "Built-In Node"))
    }

    /// The node name as the plugin reports it: `""` for the built-in node.
    pub fn node_name(&self) -> &str {
        if self.is_built_in() {
            ""
        } else {
            &self.display_name
        }
    }

    /// Everything its executors run.
    pub fn executables(&self) -> impl Iterator<Item = &Executable> {
        self.executors
            .iter()
            .chain(&self.one_off_executors)
            .filter_map(|e| e.current_executable.as_ref())
    }
}

/// An executor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Executor {
    /// What it runs; null when idle (or when the caller lacks Item/Read).
    #[serde(default)]
    pub current_executable: Option<Executable>,
}

/// `/api/json` with the job tree: jobs and folders, recursively.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JobTree {
    /// Top-level items.
    #[serde(default, deserialize_with = "null_as_default")]
    pub jobs: Vec<JobNode>,
}

/// An item of the job tree: a job, or a container (folder, multibranch) with `jobs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobNode {
    /// Item class.
    #[serde(rename = "_class", default)]
    pub class: Option<String>,
    /// Short name (branch names arrive encoded: `feature%2Fx`).
    #[serde(default)]
    pub name: String,
    /// Display name (`feature/x`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Absolute URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Jobs only: the next number to be assigned.
    #[serde(default)]
    pub next_build_number: Option<u64>,
    /// Jobs only: absent on containers, null on a job that never built.
    #[serde(default, deserialize_with = "present")]
    pub last_build: Option<Option<BuildStub>>,
    /// Containers only.
    #[serde(default)]
    pub jobs: Option<Vec<JobNode>>,
    /// Description (part of the change fingerprint).
    #[serde(default)]
    pub description: Option<String>,
    /// False when disabled.
    #[serde(default)]
    pub buildable: Option<bool>,
    /// Concurrent builds allowed.
    #[serde(default)]
    pub concurrent_build: Option<bool>,
}

impl JobNode {
    /// A job has builds (`lastBuild` or `nextBuildNumber`); a container has none.
    pub fn is_job(&self) -> bool {
        self.last_build.is_some() || self.next_build_number.is_some()
    }

    /// When the newest build started, if there is one.
    pub fn last_started(&self) -> Option<i64> {
        self.last_build
            .as_ref()
            .and_then(|b| b.as_ref())
            .and_then(|b| b.timestamp)
    }

    /// The highest build number that exists (or existed).
    pub fn last_number(&self) -> u64 {
        // `lastBuild` points at the newest build that exists; `nextBuildNumber` may have been
        // raised or its builds deleted, so it only says where numbering continues.
        self.last_build
            .as_ref()
            .and_then(|b| b.as_ref())
            .map_or(0, |b| b.number)
    }
}

/// `lastBuild[number,queueId]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildStub {
    /// Build number.
    pub number: u64,
    /// The queue item it came from (where queue ids stand at the starting point).
    #[serde(default)]
    pub queue_id: i64,
    /// When it started (ms): tells a job that existed before we could see it (renamed, moved,
    /// newly readable) from a new one.
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// `/whoAmI/api/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// User id (`anonymous` when unauthenticated).
    #[serde(default)]
    pub name: String,
    /// Authenticated at all.
    #[serde(default)]
    pub authenticated: bool,
    /// Anonymous.
    #[serde(default)]
    pub anonymous: bool,
    /// Granted authorities.
    #[serde(default, deserialize_with = "null_as_default")]
    pub authorities: Vec<String>,
}

/// `/job/X/N/wfapi/describe` (Pipeline: REST API plugin).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDescription {
    /// Run id.
    #[serde(default)]
    pub id: String,
    /// `SUCCESS`, `IN_PROGRESS`, `FAILED`, …
    #[serde(default)]
    pub status: String,
    /// Stages in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub stages: Vec<Stage>,
}

/// A pipeline stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Flow node id.
    #[serde(default)]
    pub id: String,
    /// Stage name.
    #[serde(default)]
    pub name: String,
    /// Stage status.
    #[serde(default)]
    pub status: String,
    /// Start, ms.
    #[serde(default)]
    pub start_time_millis: i64,
    /// Duration, ms.
    #[serde(default)]
    pub duration_millis: i64,
}

#[cfg(test)]
mod tests {
    //! Every recorded response in `tests/fixtures/jenkins/` parses, with the facts we rely on.
    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
        let path = format!(
            "{}/tests/fixtures/jenkins/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn root_with_folder_flattens_into_jobs_and_containers() {
        let root: JobTree = fixture("root-jobs-with-folder.api4jenkins.json");
        let folder = &root.jobs[0];
        assert!(!folder.is_job() && folder.jobs.as_ref().unwrap().len() == 4);
    }

    #[test]
    fn jobs_parse_with_their_last_build_and_containers_without() {
        let job: JobNode = fixture("job-workflowjob.api4jenkins.json");
        assert!(job.is_job());
        assert_eq!(job.last_number(), 52);
        let folder: JobNode = fixture("job-folder.api4jenkins.json");
        assert!(!folder.is_job());
        let mb: JobNode = fixture("job-multibranch.api4jenkins.json");
        assert_eq!(mb.jobs.unwrap()[0].name, "feature%2Fgithub-commands");
        let old: JobNode = fixture("job-freestyle-in-queue.jenkins-rest.json");
        assert_eq!((old.class.as_deref(), old.last_number()), (None, 7));
    }

    #[test]
    fn builds_tell_finalized_from_running() {
        let free: Build = fixture("build-freestyle-completed.api4jenkins.json");
        assert!(free.is_finalized() && free.queue_id == 151);
        assert_eq!(
            free.actions().filter(|a| !a.parameters.is_empty()).count(),
            1
        );
        let run: Build = fixture("build-workflowrun-completed.api4jenkins.json");
        assert_eq!(run.result.as_deref(), Some("FAILURE"));
        assert_eq!(run.causes().count(), 2);
    }

    #[test]
    fn queue_items_in_every_state_parse() {
        let list: QueueList = fixture("queue-list.api4jenkins.json");
        assert_eq!(list.items.len(), 2);
        assert_eq!(list.items[1].task_kind(), TaskKind::NodeBlock);
        assert_eq!(list.items[0].task_kind(), TaskKind::Job);
        let waiting: QueueItem = fixture("queue-item-waiting.api4jenkins.json");
        assert_eq!(waiting.timestamp, Some(1566553113796));
        let blocked: QueueItem = fixture("queue-item-blocked.api4jenkins.json");
        assert_eq!(blocked.buildable_start_milliseconds, Some(1561364277513));
        let placeholder: QueueItem = fixture("queue-item-buildable-placeholder.api4jenkins.json");
        assert_eq!(placeholder.task_kind(), TaskKind::NodeBlock);
        let started: QueueItem = fixture("queue-item-left-started.api4jenkins.json");
        assert_eq!(
            started.executable.flatten().and_then(|e| e.number),
            Some(54)
        );
        let cancelled: QueueItem = fixture("queue-item-left-cancelled.jenkins-rest.json");
        assert_eq!(cancelled.cancelled, Some(true));
        assert!(
            matches!(cancelled.executable, Some(None)),
            "null, not absent"
        );
    }

    #[test]
    fn queue_tasks_are_told_apart_by_class() {
        let block: QueueItem = fixture("queue-item-node-block.from-source.json");
        assert_eq!(block.task_kind(), TaskKind::NodeBlock);
        let left: QueueItem = fixture("queue-item-left-node-block.from-source.json");
        assert_eq!(left.task_kind(), TaskKind::NodeBlock);
        let indexing: QueueItem = fixture("queue-item-indexing-blocked.from-source.json");
        assert_eq!(indexing.task_kind(), TaskKind::Computation);
        let done: QueueItem = fixture("queue-item-left-indexing.from-source.json");
        assert_eq!(done.task_kind(), TaskKind::Computation);
        let executable = done.executable.flatten().expect("an executable");
        assert!(executable.url.is_none() && executable.number.is_none());
        let freestyle: QueueItem = fixture("queue-item-left-cancelled.jenkins-rest.json");
        assert_eq!(freestyle.task_kind(), TaskKind::Job);
        // Before 2.2 there is no `_class`: a task with a run's URL is a node block.
        let old = Task {
            url: Some("job/app/12/".into()),
            ..Task::default()
        };
        assert_eq!(old.kind(), TaskKind::NodeBlock);
    }

    #[test]
    fn matrix_runs_are_builds_of_configurations_at_their_own_paths() {
        let m: JobNode = fixture("job-matrix.from-source.json");
        assert!(
            m.is_job() && m.jobs.is_none(),
            "configurations are not jobs[]"
        );
        let b: serde_json::Value = fixture("build-matrix-runs.from-source.json");
        let run = crate::jenkins::path::build_ref(b["runs"][0]["url"].as_str().unwrap()).unwrap();
        assert_eq!((run.job.as_str(), run.number), ("job/m/label=linux/", 2));
    }

    #[test]
    fn computers_show_running_builds_on_executors_and_one_off_executors() {
        let set: ComputerSet = fixture("computer-list-depth2-running.api4jenkins.json");
        assert!(set.computer[0].is_built_in());
        let urls: Vec<_> = set
            .computer
            .iter()
            .flat_map(|c| c.executables())
            .filter_map(|e| e.url.clone())
            .collect();
        assert!(urls.len() >= 2, "{urls:?}");
        assert!(set.computer.iter().any(|c| c.offline));
    }

    #[test]
    fn wfapi_describe_lists_stages() {
        let run: RunDescription = fixture("wfapi-run-describe.jenkins-rest.json");
        assert_eq!(run.stages.len(), 3);
        assert_eq!(run.status, "PAUSED_PENDING_INPUT");
    }
}
