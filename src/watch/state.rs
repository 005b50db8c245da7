//! What the watcher remembers between ticks: the cursor of one controller.
//!
//! Serialisable, because it is committed together with the events it produced.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::change::{BuildFacts, ItemKind, JobInfo, QueueSnapshot};
use crate::jenkins::path::{BuildRef, JobPath};

/// The watcher's memory of one controller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// False until the first full observation set the starting point ("now").
    pub baselined: bool,
    /// When the starting point was taken (ms): a queue item found by a probe that entered the
    /// queue before it is history.
    #[serde(default)]
    pub watching_since: Option<i64>,
    /// `X-Jenkins-Session` last seen; a new one means Jenkins restarted.
    pub session: Option<String>,
    /// Jenkins' own root URL, learnt from the URLs it writes.
    pub root_url: Option<String>,
    /// Folder levels the job scan covers (jobs deeper are learnt on demand).
    pub scan_levels: usize,
    /// When the last job-tree scan ran (ms): a job it did not list did not exist, or was not
    /// visible, then.
    #[serde(default)]
    pub scanned_at: Option<i64>,
    /// Queue items seen and not yet reported as left.
    pub queue: BTreeMap<u64, QueueEntry>,
    /// Queue ids at or below this were settled before we looked (or forgotten as handled).
    pub queue_floor: u64,
    /// Queue ids above the floor whose `left` is already emitted.
    pub handled: BTreeSet<u64>,
    /// The highest queue id known in this Jenkins session: the next one is probed each tick.
    /// `None` until the queue or a build names one (and again after a restart, when ids may
    /// start over).
    #[serde(default)]
    pub queue_high: Option<u64>,
    /// Queue ids below `queue_high` never seen in the queue list: probed, newest first.
    #[serde(default)]
    pub gaps: BTreeSet<u64>,
    /// Jobs by relative path.
    pub jobs: BTreeMap<JobPath, JobState>,
    /// Nodes by name (`""` = built-in).
    pub nodes: BTreeMap<String, NodeState>,
    /// Builds on executors at the last computer poll.
    pub running: BTreeSet<BuildRef>,
    /// Builds waiting for the left-item record of a queue item we never saw.
    pub held: BTreeMap<u64, Vec<BuildFacts>>,
    /// created/updated waiting for the job's `config.xml`.
    pub pending_items: BTreeMap<JobPath, (ItemKind, String)>,
    /// Failed reads of a pending item's `config.xml` so far.
    #[serde(default)]
    pub config_tries: BTreeMap<JobPath, u8>,
    /// `--backfill`: builds started at or after this time (ms) that existed at the starting
    /// point are reported too; older ones are not.
    pub backfill_since: Option<i64>,
    /// Stage transitions reported while Pipeline builds ran, by build path
    /// (`stages::key`).
    #[serde(default)]
    pub stages_reported: BTreeMap<String, BTreeSet<String>>,
    /// Changes whose events in some dialect wait for reads that failed (saved, so that a
    /// restart keeps them), oldest first.
    #[serde(default)]
    pub awaiting: Vec<Awaiting>,
}

/// A change whose events in one dialect wait: a read that dialect requires failed (KubeSphere's
/// `run.initialize` must not go out while the build's JSON or its parent's class is unknown),
/// or an earlier change of its job waits (per-job order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Awaiting {
    /// The change.
    pub change: super::Change,
    /// Its own reads that failed so far.
    pub tries: u32,
    /// The dialect whose events wait, by its configuration name.
    #[serde(default = "kubesphere")]
    pub format: String,
}

/// Records saved before dialects other than KubeSphere could wait.
fn kubesphere() -> String {
    "kubesphere".into()
}

/// A queue item we saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// What events say about it.
    pub item: QueueSnapshot,
    /// When it disappeared from the queue list.
    pub vanished_at: Option<i64>,
    /// What its left-item record said.
    pub lookup: Lookup,
    /// Its task makes no build (a folder computation): `left` is reported when it vanishes,
    /// without reading its left-item record.
    #[serde(default)]
    pub no_build: bool,
    /// The build its left item named (with `Lookup::Linked`), so that a build deleted before
    /// we read it still lets the item leave.
    #[serde(default)]
    pub linked: Option<BuildRef>,
}

/// The state of a vanished item's `/queue/item/ID/` lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lookup {
    /// Still in the queue, or not read yet.
    Pending,
    /// `cancelled:false, executable:null`: Jenkins is creating the build; read again.
    Race,
    /// It became this build; `left` is emitted with that build's first event.
    Linked,
    /// 404: wait for a build naming it, then give up after the grace period.
    Gone,
}

/// A job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    /// Name, display name, class.
    pub info: JobInfo,
    /// What a configuration change would alter in the scan fields.
    pub fingerprint: String,
    /// Highest build number known (reported, queued for a read, or there at the start).
    pub high: u64,
    /// Builds started and not yet finalized, and what was reported of them.
    pub open: BTreeMap<u64, Progress>,
    /// Builds to read.
    pub to_fetch: BTreeSet<u64>,
    /// Seen by a scan (so a scan that misses it means it was deleted).
    pub scanned: bool,
    /// Builds started before this (ms) are history: not reported, only the end of one still
    /// running. Set for a job first seen after the starting point.
    #[serde(default)]
    pub since: Option<i64>,
}

/// What was reported of an open build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Progress {
    /// `started` emitted (or the build was running when we started watching).
    Started,
    /// `completed` emitted, waiting for finalization.
    Completed,
}

/// A node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// Channel up.
    pub online: bool,
    /// Observed connect time.
    pub connect_time: i64,
    /// Transitions reported so far.
    pub seq: u64,
}
