//! What happened in Jenkins, in domain terms, carrying everything an encoder needs.

use serde::{Deserialize, Serialize};

use crate::jenkins::model::{self, Cause};
use crate::jenkins::path::{BuildRef, JobPath};

/// One lifecycle change. Per job, the watcher emits them in lifecycle order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// A queue item appeared (`org.jenkinsci.queue.entered_waiting`).
    QueueEntered(QueueSnapshot),
    /// A queue item started a build or was cancelled (`org.jenkinsci.queue.left`).
    QueueLeft {
        /// The item.
        item: QueueSnapshot,
        /// When it left (the build's start, or when we noticed).
        exit_time: i64,
    },
    /// A build reached a phase (`org.jenkinsci.job.started|completed|finalized|failed`).
    Build {
        /// Its job.
        job: JobInfo,
        /// The build as last read.
        build: BuildFacts,
        /// The phase reached.
        phase: Phase,
        /// The phase's timestamp as the plugin computes it.
        timestamp: i64,
    },
    /// A job appeared, changed or went away (`org.jenkinsci.job.created|updated` for
    /// freestyle-type jobs; every job class for dialects that report items).
    Item {
        /// The job.
        job: JobInfo,
        /// Created or updated.
        kind: ItemKind,
        /// Raw `config.xml`, when readable.
        config: Option<String>,
        /// When we noticed.
        at: i64,
        /// A fingerprint of what changed, to tell updates apart in the event id.
        revision: String,
    },
    /// A node's channel went up or down (`org.jenkinsci.node.online|offline`).
    Node(NodeSnapshot),
    /// A stage of a running Pipeline build started or finished, as its `wfapi/describe` showed
    /// it (read by the poller, at most once per scan interval and build: CDEvents task runs).
    Stage {
        /// Its job.
        job: JobInfo,
        /// The build.
        build: BuildRef,
        /// The stage as read.
        stage: model::Stage,
        /// Finished (else started).
        finished: bool,
    },
    /// A build the watcher was following (started, not yet finalized) is gone: deleted
    /// (KubeSphere's `run.deleted`; the plugin has no such event). Deletions of builds already
    /// finalized are not seen: that would take a read per build.
    BuildDeleted {
        /// Its job.
        job: JobInfo,
        /// The build.
        id: BuildRef,
        /// When we noticed.
        at: i64,
    },
}

impl Change {
    /// The job path this change belongs to (for per-job ordering), if any.
    pub fn job(&self) -> Option<&str> {
        match self {
            Change::QueueEntered(item) | Change::QueueLeft { item, .. } => Some(&item.job),
            Change::Build { job, .. }
            | Change::Item { job, .. }
            | Change::BuildDeleted { job, .. }
            | Change::Stage { job, .. } => Some(&job.path),
            Change::Node(_) => None,
        }
    }
}

/// Build phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    /// `onStarted`.
    Started,
    /// `onCompleted`.
    Completed,
    /// `onFinalized`.
    Finalized,
    /// `onFinalized` with result FAILURE (sent after `Finalized`).
    Failed,
}

/// Created or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemKind {
    /// `ItemListener.onCreated`.
    Created,
    /// `ItemListener.onUpdated`.
    Updated,
    /// `ItemListener.onDeleted`: a job the scan no longer lists (a rename or move looks the
    /// same: deleted here, created there).
    Deleted,
}

/// A job's identity as events show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Relative path, `job/folder/job/app/`.
    pub path: JobPath,
    /// Short name (`feature%2Fx` for a branch).
    pub name: String,
    /// Display name (`feature/x`); the event `source` is `job/<display name>`.
    pub display_name: String,
    /// Item class.
    pub class: Option<String>,
}

/// A queue item as the events need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    /// Queue id.
    pub id: u64,
    /// Entered the queue (ms).
    pub in_queue_since: i64,
    /// Time left in the quiet period when the item entered (ms), for `reasonForWaiting`:
    /// the end of the quiet period minus the entry time, negative when it ended before the
    /// item entered (Jenkins computes the due time just before it stamps the entry time).
    pub quiet_ms: i64,
    /// The job's relative path.
    pub job: JobPath,
    /// The task's display name.
    pub display_name: String,
    /// Jenkins' root URL (`ciUrl`).
    pub ci_url: Option<String>,
    /// Causes, for `startedBy`.
    pub causes: Vec<Cause>,
}

/// What the events carry of a build, read from `/job/X/N/api/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildFacts {
    /// Job path and number.
    pub id: BuildRef,
    /// Absolute URL as Jenkins wrote it (`fullUrl`).
    pub full_url: Option<String>,
    /// Queue id (-1 unknown).
    pub queue_id: i64,
    /// Start, ms.
    pub timestamp: i64,
    /// Duration, ms.
    pub duration: i64,
    /// Still building.
    pub building: bool,
    /// Finalized (off its executor / `inProgress` false).
    pub finalized: bool,
    /// Result name.
    pub result: Option<String>,
    /// Non-secret parameters as strings, sorted case-insensitively; None without ParametersAction.
    pub parameters: Option<Vec<(String, String)>>,
    /// git data.
    pub scm: ScmState,
    /// Causes (to synthesise a queue item that came and went unseen).
    pub causes: Vec<Cause>,
}

/// `scmState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScmState {
    /// First remote URL.
    pub url: Option<String>,
    /// Branch without `refs/remotes/`.
    pub branch: Option<String>,
    /// Commit SHA-1.
    pub commit: Option<String>,
}

/// A node transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    /// Node name, `""` for the built-in node.
    pub name: String,
    /// Up or down.
    pub online: bool,
    /// The REST offline cause (when offline).
    pub offline_cause: Option<serde_json::Value>,
    /// The offline reason text.
    pub offline_reason: Option<String>,
    /// Observed connect time (ms); 0 for the built-in node.
    pub connect_time: i64,
    /// When we observed the transition.
    pub at: i64,
    /// Transition counter of this node (keeps event ids distinct and stable).
    pub seq: u64,
}

const PASSWORD_PARAMETER: &str = "hudson.model.PasswordParameterValue";
const WORKFLOW_RUN: &str = "org.jenkinsci.plugins.workflow.job.WorkflowRun";

impl BuildFacts {
    /// Reads what events need from a build; `id` is where we fetched it.
    pub fn from_build(id: BuildRef, build: &model::Build) -> BuildFacts {
        BuildFacts {
            id,
            full_url: build.url.clone(),
            queue_id: build.queue_id,
            timestamp: build.timestamp,
            duration: build.duration,
            building: build.building,
            finalized: build.is_finalized(),
            result: build.result.clone(),
            parameters: parameters(build),
            scm: scm_state(build),
            causes: build.causes().cloned().collect(),
        }
    }
}

/// Parameters as `EnvVars` would hold them: strings, passwords skipped, keys sorted
/// case-insensitively, a later duplicate (ignoring case) replacing the value.
fn parameters(build: &model::Build) -> Option<Vec<(String, String)>> {
    let action = build
        .actions()
        .find(|a| a.class.as_deref() == Some("hudson.model.ParametersAction"))
        .or_else(|| build.actions().find(|a| !a.parameters.is_empty()))?;
    let mut out: Vec<(String, String)> = Vec::new();
    for p in &action.parameters {
        if p.class.as_deref() == Some(PASSWORD_PARAMETER) {
            continue;
        }
        let (Some(name), Some(value)) = (&p.name, &p.value) else {
            continue;
        };
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        match out.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => out.push((name.clone(), value)),
        }
    }
    out.sort_by_key(|(k, _)| k.to_lowercase());
    Some(out)
}

/// git `BuildData` of this build; pipelines report nulls, as the plugin does.
fn scm_state(build: &model::Build) -> ScmState {
    if build.class.as_deref() == Some(WORKFLOW_RUN) {
        return ScmState::default();
    }
    let Some(data) = build.actions().find(|a| a.last_built_revision.is_some()) else {
        return ScmState::default();
    };
    let revision = data.last_built_revision.as_ref();
    ScmState {
        url: data.remote_urls.first().cloned(),
        branch: revision
            .and_then(|r| r.branch.first())
            .and_then(|b| b.name.as_deref())
            .map(|b| b.strip_prefix("refs/remotes/").unwrap_or(b).to_string()),
        commit: revision.and_then(|r| r.sha1.clone()),
    }
}
