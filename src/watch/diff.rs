//! `diff(state, observation) -> outcome`: the pure state machine.

use std::collections::BTreeSet;

use super::change::{BuildFacts, Change, ItemKind, JobInfo, NodeSnapshot, Phase, QueueSnapshot};
use super::state::{JobState, Lookup, NodeState, Progress, QueueEntry, State};
use super::{
    ABSTRACT_PROJECT_CLASSES, CHILD_PROJECT_CLASSES, LEFT_ITEM_GRACE_MS,
    MAX_BUILD_FETCHES_PER_TICK, MAX_BUILD_GAP, MAX_CONFIG_TRIES, MAX_GAP_PROBES_PER_TICK,
    MAX_HANDLED_QUEUE_IDS, MAX_QUEUE_GAPS, QUEUE_PROBE_BATCH,
};
use crate::jenkins::model::{Build, ComputerSet, JobNode, JobTree, QueueItem, QueueList, TaskKind};
use crate::jenkins::path::{self, BuildRef, JobPath};

/// The result of a follow-up read.
#[derive(Debug, Clone)]
pub enum Fetched<T> {
    /// 2xx with a body.
    Found(T),
    /// 404: deleted, expired, or invisible.
    Gone,
    /// 403: visible, but this user lacks the permission to read it (`config.xml` needs
    /// Job/ExtendedRead). Retrying does not help.
    Forbidden,
    /// Any other failure: try again next tick.
    Failed,
}

/// A job-tree scan and how many folder levels it covered.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Folder levels requested.
    pub levels: usize,
    /// The tree.
    pub tree: JobTree,
}

/// What the poller read, stamped with when it read it.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Wall-clock time of the read, ms since the epoch.
    pub now: i64,
    /// `X-Jenkins-Session` of the responses.
    pub session: Option<String>,
    /// `/queue/api/json`.
    pub queue: Option<QueueList>,
    /// `/computer/api/json`.
    pub computers: Option<ComputerSet>,
    /// The job-tree scan.
    pub scan: Option<Scan>,
    /// Build details asked for.
    pub builds: Vec<(BuildRef, Fetched<Build>)>,
    /// `/queue/item/ID/` records asked for.
    pub left_items: Vec<(u64, Fetched<QueueItem>)>,
    /// Single jobs asked for.
    pub jobs: Vec<(JobPath, Fetched<JobNode>)>,
    /// `config.xml` asked for.
    pub configs: Vec<(JobPath, Fetched<String>)>,
}

/// Reads the poller should perform and feed back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUps {
    /// Run the job-tree scan now (first tick, or after a restart).
    pub scan: bool,
    /// `/job/X/N/api/json`.
    pub builds: Vec<BuildRef>,
    /// `/queue/item/ID/api/json`.
    pub left_items: Vec<u64>,
    /// `/job/X/api/json` for jobs first seen outside a scan.
    pub jobs: Vec<JobPath>,
    /// `/job/X/config.xml`.
    pub configs: Vec<JobPath>,
}

impl FollowUps {
    /// Nothing to read.
    pub fn is_empty(&self) -> bool {
        !self.scan
            && self.builds.is_empty()
            && self.left_items.is_empty()
            && self.jobs.is_empty()
            && self.configs.is_empty()
    }
}

/// Things worth a log line that are not events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The first full observation set the starting point.
    Baselined {
        /// Jobs known.
        jobs: usize,
        /// Builds running.
        running: usize,
        /// Queue items waiting.
        queued: usize,
    },
    /// `X-Jenkins-Session` changed.
    Restarted {
        /// The old session.
        from: String,
        /// The new session.
        to: String,
    },
    /// A build we meant to read is gone (404): deleted.
    BuildGone(BuildRef),
    /// A job vanished from the scan.
    JobGone(JobPath),
    /// `config.xml` answered 403: `created`/`updated` go out without `configFile`.
    ConfigForbidden(JobPath),
    /// `config.xml` could not be read [`MAX_CONFIG_TRIES`] times: sent without it.
    ConfigUnread(JobPath),
    /// Unseen builds beyond [`MAX_BUILD_GAP`] were skipped.
    BuildsSkipped {
        /// The job.
        job: JobPath,
        /// How many.
        count: u64,
    },
}

/// What one observation produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The next state.
    pub state: State,
    /// Changes to emit, per job in lifecycle order.
    pub changes: Vec<Change>,
    /// Reads to perform next.
    pub follow_ups: FollowUps,
    /// Log-worthy facts.
    pub notes: Vec<Note>,
}

/// Applies an observation. The state moves in and out (no clone of a 10,000-job state per tick).
pub fn diff(state: State, obs: Observation) -> Outcome {
    let mut d = Differ {
        now: obs.now,
        out: Outcome {
            state,
            ..Outcome::default()
        },
        restarted: false,
    };
    d.session(obs.session);
    if !d.out.state.baselined {
        match (obs.queue, obs.computers, obs.scan) {
            (Some(q), Some(c), Some(s)) => {
                d.baseline(q, c, s);
                d.plan_build_reads();
            }
            _ => d.out.follow_ups.scan = true,
        }
        return d.out;
    }
    if let Some(scan) = obs.scan {
        d.scan(scan);
    }
    for (path, job) in obs.jobs {
        d.job_detail(path, job);
    }
    for (path, config) in obs.configs {
        d.config(path, config);
    }
    let polled_queue = obs.queue.is_some();
    if let Some(queue) = obs.queue {
        d.queue(queue);
    }
    for (id, item) in obs.left_items {
        d.left_item(id, item);
    }
    if let Some(computers) = obs.computers {
        d.computers(computers);
    }
    let mut builds = obs.builds;
    builds.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, build) in builds {
        d.build(id, build);
    }
    d.expire_left_items();
    if polled_queue {
        d.plan_probes();
        // Items still waiting for their config.xml (a read failed): once per tick.
        let pending = d.out.state.pending_items.keys().cloned();
        d.out.follow_ups.configs.extend(pending);
    }
    d.plan_build_reads();
    let f = &mut d.out.follow_ups;
    for list in [&mut f.jobs, &mut f.configs] {
        list.sort();
        list.dedup();
    }
    f.left_items.sort();
    f.left_items.dedup();
    d.out
}

struct Differ {
    now: i64,
    out: Outcome,
    restarted: bool,
}

impl Differ {
    fn state(&mut self) -> &mut State {
        &mut self.out.state
    }

    fn emit(&mut self, change: Change) {
        self.out.changes.push(change);
    }

    fn session(&mut self, session: Option<String>) {
        let Some(new) = session else { return };
        let state = &mut self.out.state;
        match state.session.replace(new.clone()) {
            Some(old) if old != new => {
                self.restarted = state.baselined;
                // A restarted Jenkins may hand out queue ids again: after a crash it reloads a
                // stale queue.xml (`Queue.load`), and 2.450+ starts a new counter on its first
                // start after the upgrade (`QueueIdStrategy`). Ids seen before say nothing now.
                state.handled.clear();
                state.queue_floor = 0;
                state.queue_high = None;
                state.gaps.clear();
                self.out.follow_ups.scan = true;
                self.out.notes.push(Note::Restarted { from: old, to: new });
            }
            _ => {}
        }
    }

    fn learn_root(&mut self, url: Option<&str>) {
        if let Some(root) = url.and_then(path::root_of)
            && self.out.state.root_url.as_deref() != Some(root)
        {
            self.out.state.root_url = Some(root.to_string());
        }
    }

    // ---- the starting point -------------------------------------------------------------

    fn baseline(&mut self, queue: QueueList, computers: ComputerSet, scan: Scan) {
        self.state().scan_levels = scan.levels;
        self.state().scanned_at = Some(self.now);
        self.state().watching_since = Some(self.now);
        let backfill = self.out.state.backfill_since.is_some();
        let mut newest_build_queue_id = 0;
        for node in flatten(scan.tree.jobs) {
            self.learn_root(node.url.as_deref());
            if let Some(Some(last)) = &node.last_build {
                newest_build_queue_id = newest_build_queue_id.max(last.queue_id.max(0) as u64);
            }
            // With a backfill, the recent builds are read (their start times decide).
            let high = if backfill { 0 } else { node.last_number() };
            let (path, mut job) = job_state(&node, high);
            job.scanned = true;
            self.state().jobs.insert(path.clone(), job);
            if backfill {
                let gap = self.add_builds(&path, node.last_number());
                self.note_gap(&path, gap);
            }
        }
        let mut max_id = 0;
        for item in queue.items {
            max_id = max_id.max(item.id);
            if let Some(snapshot) = self.queue_snapshot(&item) {
                let entry = QueueEntry::new(snapshot, item.task_kind());
                self.state().queue.insert(item.id, entry);
            }
        }
        self.state().queue_floor = max_id;
        // Where ids stand: the queue, or the newest build of any job named its item.
        self.state().queue_high = Some(max_id.max(newest_build_queue_id));
        let running = running_builds(&computers);
        for build in &running {
            if let Some(job) = self.out.state.jobs.get_mut(&build.job) {
                if backfill {
                    // Read like the others: its start time says whether `started` is reported.
                    job.to_fetch.insert(build.number);
                } else {
                    // Running when we started: report how it ends, not a late `started`.
                    job.open.insert(build.number, Progress::Started);
                }
                job.high = job.high.max(build.number);
            }
        }
        for c in &computers.computer {
            let online = !c.offline;
            let connect_time = if c.is_built_in() || !online {
                0
            } else {
                self.now
            };
            self.state().nodes.insert(
                c.node_name().to_string(),
                NodeState {
                    online,
                    connect_time,
                    seq: 0,
                },
            );
        }
        let state = self.state();
        state.running = running;
        state.baselined = true;
        let note = Note::Baselined {
            jobs: state.jobs.len(),
            running: state.running.len(),
            queued: state.queue.len(),
        };
        self.out.notes.push(note);
    }

    // ---- jobs ---------------------------------------------------------------------------

    fn scan(&mut self, scan: Scan) {
        self.state().scan_levels = scan.levels;
        let mut seen = BTreeSet::new();
        for node in flatten(scan.tree.jobs) {
            self.learn_root(node.url.as_deref());
            if let Some(path) = node.url.as_deref().and_then(path::job_path) {
                seen.insert(path);
            }
            self.learn_job(&node, true);
        }
        let gone: Vec<JobPath> = self
            .out
            .state
            .jobs
            .iter()
            .filter(|(path, job)| job.scanned && !seen.contains(*path) && job.open.is_empty())
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            if let Some(job) = self.state().jobs.remove(&path) {
                let change = Change::Item {
                    job: job.info,
                    kind: ItemKind::Deleted,
                    config: None,
                    at: self.now,
                    revision: job.fingerprint,
                };
                self.emit(change);
            }
            self.out.notes.push(Note::JobGone(path));
        }
        self.state().scanned_at = Some(self.now);
    }

    fn job_detail(&mut self, path: JobPath, job: Fetched<JobNode>) {
        if let Fetched::Found(node) = job {
            if node.url.is_some() {
                self.learn_job(&node, false);
            } else {
                let mut node = node;
                node.url = Some(path);
                self.learn_job(&node, false);
            }
        }
    }

    /// Records a job from a scan or a single read; reports it created if it is new.
    fn learn_job(&mut self, node: &JobNode, by_scan: bool) {
        let Some(path) = node.url.as_deref().and_then(path::job_path) else {
            return;
        };
        let last = node.last_number();
        let since = self.out.state.scanned_at;
        let mut recreated = false;
        if let Some(job) = self.out.state.jobs.get_mut(&path) {
            let (_, fresh) = job_state(node, 0);
            job.scanned |= by_scan;
            if last < job.high && job.open.is_empty() {
                // Numbers went down: the job was deleted and created again under its name
                // between two scans, or builds were deleted and `nextBuildNumber` lowered.
                // Builds from before the last scan are history; newer ones are read.
                job.to_fetch.retain(|n| *n <= last);
                let fresh_builds =
                    matches!((since, node.last_started()), (Some(s), Some(t)) if t >= s);
                job.high = if fresh_builds {
                    last.saturating_sub(MAX_BUILD_GAP)
                } else {
                    last
                };
                job.since = since;
                // No build left, or only new ones: a new job under the old name, which the
                // plugin reports created (`ItemListener.onCreated`).
                recreated = last == 0 || fresh_builds;
            }
            let changed = job.fingerprint != fresh.fingerprint;
            job.info = fresh.info;
            job.fingerprint = fresh.fingerprint.clone();
            let gap = self.add_builds(&path, last);
            self.note_gap(&path, gap);
            if recreated && !is_child_project(node) {
                self.report_created(node, path, fresh.fingerprint);
            } else if changed && is_abstract_project(node) {
                self.pend_item(path, ItemKind::Updated, fresh.fingerprint);
            }
            return;
        }
        // A job we never saw is new if the last scan would have listed it, unless it already
        // has a build from before that scan: then it existed and was renamed or moved
        // (`ItemListener.onRenamed`/`onLocationChanged`, for which the plugin sends nothing)
        // or became readable to us. Its history is not replayed either way.
        let depth = path.matches("job/").count();
        let listable = by_scan || depth <= self.out.state.scan_levels;
        let since = self.out.state.scanned_at;
        let existed = matches!((since, node.last_started()), (Some(s), Some(t)) if t < s);
        let is_new = listable && !existed && !is_child_project(node);
        let high = if is_new { 0 } else { last };
        let (_, mut job) = job_state(node, high);
        job.scanned = by_scan;
        // A matrix configuration is learnt when one of its runs shows up, which may be after
        // a scan that came after the run started: every run since watching began is new.
        job.since = if is_child_project(node) {
            self.out.state.watching_since
        } else {
            since
        };
        let fingerprint = job.fingerprint.clone();
        self.state().jobs.insert(path.clone(), job);
        if is_new {
            let gap = self.add_builds(&path, last);
            self.note_gap(&path, gap);
            self.report_created(node, path.clone(), fingerprint);
        }
        // Builds already seen running on executors before we knew the job.
        let running: Vec<u64> = self
            .out
            .state
            .running
            .iter()
            .filter(|b| b.job == path)
            .map(|b| b.number)
            .collect();
        if let Some(job) = self.out.state.jobs.get_mut(&path) {
            for n in running {
                if !job.open.contains_key(&n) {
                    job.to_fetch.insert(n);
                    job.high = job.high.max(n);
                }
            }
        }
    }

    /// `job.created`: for an `AbstractProject` once its config.xml is read (the plugin's
    /// event carries it), for any other job at once.
    fn report_created(&mut self, node: &JobNode, path: JobPath, fingerprint: String) {
        if is_abstract_project(node) {
            self.pend_item(path, ItemKind::Created, fingerprint);
        } else if let Some(job) = self.out.state.jobs.get(&path) {
            let change = Change::Item {
                job: job.info.clone(),
                kind: ItemKind::Created,
                config: None,
                at: self.now,
                revision: fingerprint,
            };
            self.emit(change);
        }
    }

    fn pend_item(&mut self, path: JobPath, kind: ItemKind, fingerprint: String) {
        let state = self.state();
        // A created not yet reported stays a created.
        let kind = match state.pending_items.get(&path) {
            Some((ItemKind::Created, _)) => ItemKind::Created,
            _ => kind,
        };
        state
            .pending_items
            .insert(path.clone(), (kind, fingerprint));
        self.out.follow_ups.configs.push(path);
    }

    fn config(&mut self, path: JobPath, config: Fetched<String>) {
        let config = match config {
            Fetched::Found(text) => Some(text),
            // Deleted since: the change is reported without it.
            Fetched::Gone => None,
            // Without Job/ExtendedRead the file is unreadable: without it, and said once.
            Fetched::Forbidden => {
                self.out.notes.push(Note::ConfigForbidden(path.clone()));
                None
            }
            Fetched::Failed => {
                let state = self.state();
                let tries = state.config_tries.entry(path.clone()).or_default();
                *tries += 1;
                if *tries < MAX_CONFIG_TRIES {
                    return; // read again next tick (still pending)
                }
                self.out.notes.push(Note::ConfigUnread(path.clone()));
                None
            }
        };
        self.state().config_tries.remove(&path);
        let Some((kind, revision)) = self.state().pending_items.remove(&path) else {
            return;
        };
        let Some(job) = self.out.state.jobs.get(&path) else {
            return;
        };
        let change = Change::Item {
            job: job.info.clone(),
            kind,
            config,
            at: self.now,
            revision,
        };
        self.emit(change);
    }

    /// Marks builds `(high, last]` for reading; returns how many were skipped past the gap cap.
    fn add_builds(&mut self, path: &str, last: u64) -> u64 {
        let Some(job) = self.out.state.jobs.get_mut(path) else {
            return 0;
        };
        if last <= job.high {
            return 0;
        }
        let from = job.high.max(last.saturating_sub(MAX_BUILD_GAP)) + 1;
        let skipped = from - job.high - 1;
        job.to_fetch.extend(from..=last);
        job.high = last;
        skipped
    }

    fn note_gap(&mut self, path: &str, skipped: u64) {
        if skipped > 0 {
            self.out.notes.push(Note::BuildsSkipped {
                job: path.to_string(),
                count: skipped,
            });
        }
    }

    // ---- the queue ----------------------------------------------------------------------

    /// What events say of a queue item; `None` for what the plugin never reports.
    fn queue_snapshot(&mut self, item: &QueueItem) -> Option<QueueSnapshot> {
        if item.task_kind() == TaskKind::NodeBlock {
            return None;
        }
        let task = item.task.as_ref()?;
        let url = task.url.as_deref()?;
        self.learn_root(Some(url));
        let job = path::job_path(url)?;
        let in_queue_since = item.in_queue_since.unwrap_or(self.now);
        let quiet_end = item.timestamp.or(item.buildable_start_milliseconds);
        Some(QueueSnapshot {
            id: item.id,
            in_queue_since,
            quiet_ms: quiet_end.map_or(0, |end| end - in_queue_since),
            display_name: task
                .display_name
                .clone()
                .or_else(|| task.name.clone())
                .unwrap_or_default(),
            ci_url: self.out.state.root_url.clone(),
            causes: item.causes().cloned().collect(),
            job,
        })
    }

    fn queue(&mut self, queue: QueueList) {
        let mut present = BTreeSet::new();
        let mut items = queue.items;
        items.sort_by_key(|i| i.id);
        for item in items {
            present.insert(item.id);
            let kind = item.task_kind();
            if kind == TaskKind::NodeBlock {
                continue; // never reported, never remembered
            }
            self.state().gaps.remove(&item.id);
            if self.out.state.queue.contains_key(&item.id)
                || self.out.state.handled.contains(&item.id)
                || item.id <= self.out.state.queue_floor
            {
                if let Some(entry) = self.state().queue.get_mut(&item.id) {
                    entry.vanished_at = None;
                    entry.lookup = Lookup::Pending;
                }
                continue;
            }
            let Some(snapshot) = self.queue_snapshot(&item) else {
                continue;
            };
            // A job we do not know yet: learn it first so that `created` precedes its queue
            // events. A folder computation is no job: nothing to learn.
            // Announced once the job is known (and its `created` sent); until then the id is a
            // gap, so that its left item is read if it goes before the next poll (a matrix
            // run's item lives for a moment).
            if kind == TaskKind::Job && !self.out.state.jobs.contains_key(&snapshot.job) {
                self.out.follow_ups.jobs.push(snapshot.job);
                self.state().gaps.insert(item.id);
                continue;
            }
            if self.out.state.pending_items.contains_key(&snapshot.job) {
                self.state().gaps.insert(item.id);
                continue;
            }
            self.emit(Change::QueueEntered(snapshot.clone()));
            self.state()
                .queue
                .insert(item.id, QueueEntry::new(snapshot, kind));
        }
        self.note_gaps(&present);
        let now = self.now;
        // A computation that left the queue started (or was cancelled) now: no build follows.
        let done: Vec<u64> = self
            .out
            .state
            .queue
            .iter()
            .filter(|(id, e)| e.no_build && !present.contains(id))
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let entry = self.state().queue.remove(&id).expect("listed above");
            self.left(entry.item, now);
        }
        let mut lookups = Vec::new();
        for (id, entry) in self.state().queue.iter_mut() {
            if present.contains(id) {
                continue;
            }
            if entry.vanished_at.is_none() {
                entry.vanished_at = Some(now);
            }
            if matches!(entry.lookup, Lookup::Pending | Lookup::Race) {
                lookups.push(*id);
            }
        }
        self.out.follow_ups.left_items.extend(lookups);
    }

    /// Ids in the queue list above the highest known: those in between that the list does not
    /// show came and went since the last poll (or are hidden from us). Remembered for probing.
    fn note_gaps(&mut self, present: &BTreeSet<u64>) {
        let Some(&newest) = present.last() else {
            return;
        };
        let state = self.state();
        match state.queue_high {
            Some(high) if newest > high => {
                let unseen = (high + 1..newest).rev().filter(|id| !present.contains(id));
                state.gaps.extend(unseen.take(MAX_QUEUE_GAPS));
                while state.gaps.len() > MAX_QUEUE_GAPS {
                    state.gaps.pop_first();
                }
                state.queue_high = Some(newest);
            }
            Some(_) => {}
            None => state.queue_high = Some(newest),
        }
    }

    /// Each queue poll: the id after the highest known (a build queued, run and finished since
    /// the last poll is there), and the newest gaps.
    fn plan_probes(&mut self) {
        let state = &self.out.state;
        let next = state.queue_high.map(|h| h + 1);
        let gaps = state
            .gaps
            .iter()
            .rev()
            .take(MAX_GAP_PROBES_PER_TICK)
            .copied();
        let probes: Vec<u64> = next.into_iter().chain(gaps).collect();
        self.out.follow_ups.left_items.extend(probes);
    }

    fn left_item(&mut self, id: u64, fetched: Fetched<QueueItem>) {
        if let Some(held) = self.out.state.held.remove(&id) {
            self.state().gaps.remove(&id);
            self.unseen_item_left(id, fetched, held);
            return;
        }
        let Some(entry) = self.out.state.queue.get_mut(&id) else {
            self.probed(id, fetched);
            return;
        };
        match fetched {
            Fetched::Found(item) => self.settle(id, item),
            Fetched::Gone | Fetched::Forbidden => entry.lookup = Lookup::Gone,
            Fetched::Failed => {}
        }
    }

    /// What a left-item record says of an item in the queue state: cancelled, or a task that
    /// makes no build, has left now; one that became a build is linked to it (its `left` goes
    /// out with the build's first event, which is read now); one whose build Jenkins is still
    /// creating (the left-item race: `cancelled:false, executable:null`) is read again.
    fn settle(&mut self, id: u64, item: QueueItem) {
        let now = self.now;
        let Some(entry) = self.state().queue.get_mut(&id) else {
            return;
        };
        if item.cancelled == Some(true) || entry.no_build {
            let entry = self.state().queue.remove(&id).expect("entry checked above");
            self.left(entry.item, entry.vanished_at.unwrap_or(now));
            return;
        }
        let build = item
            .executable
            .flatten()
            .and_then(|e| e.url)
            .and_then(|url| path::build_ref(&url));
        match build {
            Some(build) => {
                entry.lookup = Lookup::Linked;
                entry.linked = Some(build.clone());
                self.expect_build(build);
            }
            None => entry.lookup = Lookup::Race,
        }
    }

    /// The answer to a probe of an id never seen in the queue list.
    fn probed(&mut self, id: u64, fetched: Fetched<QueueItem>) {
        let was_gap = self.state().gaps.remove(&id);
        let item = match fetched {
            Fetched::Found(item) => item,
            // Never used yet, expired, or hidden from us (404 without Item/Discover).
            Fetched::Gone | Fetched::Forbidden => return,
            Fetched::Failed => {
                if was_gap {
                    self.state().gaps.insert(id);
                }
                return;
            }
        };
        let state = self.state();
        if state.queue_high.is_some_and(|h| id > h) {
            // Found past the end: more may follow.
            state.queue_high = Some(id);
            self.out
                .follow_ups
                .left_items
                .extend(id + 1..=id + QUEUE_PROBE_BATCH);
        }
        let state = &self.out.state;
        let history =
            matches!((state.watching_since, item.in_queue_since), (Some(w), Some(t)) if t < w);
        if history
            || state.handled.contains(&id)
            || state.queue.contains_key(&id)
            || id <= state.queue_floor
        {
            return;
        }
        let kind = item.task_kind();
        let Some(snapshot) = self.queue_snapshot(&item) else {
            return; // a node {} block
        };
        if kind == TaskKind::Job && !self.out.state.jobs.contains_key(&snapshot.job) {
            // Learn the job first (its `created` comes before the queue events); probe again.
            self.out.follow_ups.jobs.push(snapshot.job);
            self.state().gaps.insert(id);
            return;
        }
        if self.out.state.pending_items.contains_key(&snapshot.job) {
            self.state().gaps.insert(id); // after the job's `created`
            return;
        }
        self.emit(Change::QueueEntered(snapshot.clone()));
        let mut entry = QueueEntry::new(snapshot, kind);
        let left = item.cancelled.is_some();
        if !left {
            // Still queued: followed like any item from the next queue poll on.
            self.state().queue.insert(id, entry);
            return;
        }
        entry.vanished_at = Some(self.now);
        self.state().queue.insert(id, entry);
        self.settle(id, item);
    }

    /// A build named a queue item we never saw (it came and went between two ticks): report
    /// it entered and left, from its left-item record if Jenkins still had it, else from the
    /// build; then the held builds.
    fn unseen_item_left(&mut self, id: u64, fetched: Fetched<QueueItem>, held: Vec<BuildFacts>) {
        let first = held.first().expect("held lists are never empty").clone();
        let job = self
            .out
            .state
            .jobs
            .get(&first.id.job)
            .map(|j| j.info.clone());
        // After a restart the id may name another item now: only a record of this job counts.
        let from_record = match &fetched {
            Fetched::Found(item) => self.queue_snapshot(item).filter(|s| s.job == first.id.job),
            _ => None,
        };
        let snapshot = from_record.unwrap_or_else(|| QueueSnapshot {
            id,
            in_queue_since: first.timestamp,
            quiet_ms: 0,
            job: first.id.job.clone(),
            display_name: job.map(|j| j.display_name).unwrap_or_default(),
            ci_url: self.out.state.root_url.clone(),
            causes: first.causes.clone(),
        });
        self.emit(Change::QueueEntered(snapshot.clone()));
        self.left(snapshot, first.timestamp);
        for build in held {
            self.build_facts(build);
        }
    }

    fn left(&mut self, item: QueueSnapshot, exit_time: i64) {
        let id = item.id;
        self.emit(Change::QueueLeft { item, exit_time });
        let state = self.state();
        state.handled.insert(id);
        while state.handled.len() > MAX_HANDLED_QUEUE_IDS {
            let oldest = state.handled.pop_first().expect("len checked");
            state.queue_floor = state.queue_floor.max(oldest);
        }
    }

    fn expire_left_items(&mut self) {
        let now = self.now;
        let expired: Vec<u64> = self
            .out
            .state
            .queue
            .iter()
            .filter(|(_, e)| {
                e.lookup == Lookup::Gone
                    && e.vanished_at.is_some_and(|t| now - t >= LEFT_ITEM_GRACE_MS)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let entry = self.state().queue.remove(&id).expect("listed above");
            let exit_time = entry.vanished_at.unwrap_or(now);
            self.left(entry.item, exit_time);
        }
    }

    // ---- nodes and running builds -------------------------------------------------------

    fn computers(&mut self, computers: ComputerSet) {
        let now = self.now;
        let restarted = self.restarted;
        let mut seen = BTreeSet::new();
        let mut changes = Vec::new();
        for c in &computers.computer {
            let name = c.node_name().to_string();
            seen.insert(name.clone());
            let built_in = c.is_built_in();
            let online = !c.offline;
            let state = &mut self.out.state;
            let node = state
                .nodes
                .entry(name.clone())
                .or_insert_with(|| NodeState {
                    online: false,
                    connect_time: 0,
                    seq: 0,
                });
            // Marked offline by a user: the channel state is invisible, and the plugin does
            // not report such toggles.
            if c.temporarily_offline && !restarted {
                continue;
            }
            let transition = node.online != online || (restarted && online);
            if !transition {
                continue;
            }
            node.online = online;
            node.seq += 1;
            if online {
                node.connect_time = if built_in { 0 } else { now };
            }
            changes.push(NodeSnapshot {
                name,
                online,
                offline_cause: if online {
                    None
                } else {
                    c.offline_cause.clone()
                },
                offline_reason: if online {
                    None
                } else {
                    c.offline_cause_reason.clone()
                },
                connect_time: node.connect_time,
                at: now,
                seq: node.seq,
            });
        }
        let removed: Vec<String> = self
            .out
            .state
            .nodes
            .keys()
            .filter(|n| !seen.contains(*n))
            .cloned()
            .collect();
        for name in removed {
            let node = self.state().nodes.remove(&name).expect("listed above");
            if node.online {
                changes.push(NodeSnapshot {
                    name,
                    online: false,
                    offline_cause: None,
                    offline_reason: None,
                    connect_time: node.connect_time,
                    at: now,
                    seq: node.seq + 1,
                });
            }
        }
        for node in changes {
            self.emit(Change::Node(node));
        }

        let running = running_builds(&computers);
        for build in &running {
            if !self.out.state.jobs.contains_key(&build.job) {
                self.out.follow_ups.jobs.push(build.job.clone());
                continue;
            }
            let gap = self.add_builds(&build.job, build.number);
            self.note_gap(&build.job, gap);
        }
        // Open builds no longer on an executor may have finished: read them.
        let state = self.state();
        for (path, job) in state.jobs.iter_mut() {
            for n in job.open.keys() {
                let id = BuildRef {
                    job: path.clone(),
                    number: *n,
                };
                if !running.contains(&id) {
                    job.to_fetch.insert(*n);
                }
            }
        }
        state.running = running;
    }

    // ---- builds -------------------------------------------------------------------------

    /// Makes sure a build we learnt of (from a left item) gets read.
    fn expect_build(&mut self, build: BuildRef) {
        if !self.out.state.jobs.contains_key(&build.job) {
            self.out.follow_ups.jobs.push(build.job.clone());
            return;
        }
        let gap = self.add_builds(&build.job, build.number);
        self.note_gap(&build.job, gap);
        let job = self
            .state()
            .jobs
            .get_mut(&build.job)
            .expect("checked above");
        if !job.open.contains_key(&build.number) {
            job.to_fetch.insert(build.number);
        }
    }

    fn build(&mut self, id: BuildRef, fetched: Fetched<Build>) {
        match fetched {
            Fetched::Found(build) => self.build_facts(BuildFacts::from_build(id, &build)),
            Fetched::Gone | Fetched::Forbidden => {
                let now = self.now;
                let mut deleted = None;
                if let Some(job) = self.state().jobs.get_mut(&id.job) {
                    job.to_fetch.remove(&id.number);
                    // One we reported started is gone for good: it was deleted.
                    if job.open.remove(&id.number).is_some() {
                        deleted = Some(Change::BuildDeleted {
                            job: job.info.clone(),
                            id: id.clone(),
                            at: now,
                        });
                    }
                }
                if let Some(change) = deleted {
                    self.emit(change);
                }
                // Its queue item named it, then a build discarder (or a user) deleted it
                // before we read it: the item still left.
                let orphan = self
                    .out
                    .state
                    .queue
                    .iter()
                    .find(|(_, e)| e.linked.as_ref() == Some(&id))
                    .map(|(q, _)| *q);
                if let Some(q) = orphan {
                    let entry = self.state().queue.remove(&q).expect("found above");
                    let exit_time = entry.vanished_at.unwrap_or(now);
                    self.left(entry.item, exit_time);
                }
                self.out.notes.push(Note::BuildGone(id));
            }
            Fetched::Failed => {}
        }
    }

    fn build_facts(&mut self, build: BuildFacts) {
        let now = self.now;
        let Some(job) = self.out.state.jobs.get(&build.id.job) else {
            self.out.follow_ups.jobs.push(build.id.job.clone());
            return;
        };
        let n = build.id.number;
        let progress = job.open.get(&n).copied();
        let wanted = job.to_fetch.contains(&n);
        let info = job.info.clone();
        if progress.is_none() && !wanted {
            return; // already reported in full
        }
        // Before the `--backfill` window: not reported; if still running, its end will be.
        let since = job.since.or(self.out.state.backfill_since);
        let before_window = progress.is_none() && since.is_some_and(|s| build.timestamp < s);
        if progress.is_none() && !before_window && !self.queue_item_left(&build) {
            return; // held until the unseen queue item is read
        }
        let job = self
            .state()
            .jobs
            .get_mut(&build.id.job)
            .expect("checked above");
        job.to_fetch.remove(&n);
        if before_window {
            if !build.finalized {
                job.open.insert(n, Progress::Started);
            }
            return;
        }
        let target = if build.building {
            Phase::Started
        } else if build.finalized {
            Phase::Finalized
        } else {
            Phase::Completed
        };
        let mut phases = Vec::new();
        if progress.is_none() {
            phases.push((Phase::Started, build.timestamp));
        }
        if target >= Phase::Completed && progress < Some(Progress::Completed) {
            phases.push((Phase::Completed, build.timestamp + build.duration));
        }
        if target == Phase::Finalized {
            phases.push((Phase::Finalized, now));
            if build.result.as_deref() == Some("FAILURE") {
                phases.push((Phase::Failed, now));
            }
            job.open.remove(&n);
        } else {
            let reached = if target == Phase::Started {
                Progress::Started
            } else {
                Progress::Completed
            };
            job.open.insert(n, reached);
        }
        for (phase, timestamp) in phases {
            self.emit(Change::Build {
                job: info.clone(),
                build: build.clone(),
                phase,
                timestamp,
            });
        }
    }

    /// Reports the build's queue item as left (before the build's first event). Returns false
    /// when the item was never seen and its record must be read first (the build is held).
    fn queue_item_left(&mut self, build: &BuildFacts) -> bool {
        let Ok(id) = u64::try_from(build.queue_id) else {
            return true;
        };
        if id == 0 {
            return true;
        }
        if let Some(entry) = self.state().queue.remove(&id) {
            self.left(entry.item, build.timestamp);
            return true;
        }
        let state = &self.out.state;
        if state.handled.contains(&id) || id <= state.queue_floor {
            return true;
        }
        let held = self.state().held.entry(id).or_default();
        if !held.iter().any(|b| b.id == build.id) {
            held.push(build.clone());
        }
        self.out.follow_ups.left_items.push(id);
        false
    }

    fn plan_build_reads(&mut self) {
        let mut budget = MAX_BUILD_FETCHES_PER_TICK;
        let mut reads = Vec::new();
        for (path, job) in &self.out.state.jobs {
            for n in &job.to_fetch {
                if budget == 0 {
                    break;
                }
                reads.push(BuildRef {
                    job: path.clone(),
                    number: *n,
                });
                budget -= 1;
            }
        }
        self.out.follow_ups.builds = reads;
    }
}

impl QueueEntry {
    fn new(item: QueueSnapshot, kind: TaskKind) -> Self {
        QueueEntry {
            item,
            vanished_at: None,
            lookup: Lookup::Pending,
            no_build: kind == TaskKind::Computation,
            linked: None,
        }
    }
}

/// Jobs of a tree, containers recursed, in tree order.
fn flatten(nodes: Vec<JobNode>) -> Vec<JobNode> {
    let mut out = Vec::new();
    let mut stack: Vec<JobNode> = nodes.into_iter().rev().collect();
    while let Some(mut node) = stack.pop() {
        if let Some(children) = node.jobs.take() {
            stack.extend(children.into_iter().rev());
        }
        if node.is_job() {
            out.push(node);
        }
    }
    out
}

fn job_state(node: &JobNode, high: u64) -> (JobPath, JobState) {
    let path = node
        .url
        .as_deref()
        .and_then(path::job_path)
        .unwrap_or_default();
    let fingerprint = serde_json::json!([
        node.display_name,
        node.description,
        node.buildable,
        node.concurrent_build
    ])
    .to_string();
    let job = JobState {
        info: JobInfo {
            path: path.clone(),
            name: node.name.clone(),
            display_name: node
                .display_name
                .clone()
                .unwrap_or_else(|| node.name.clone()),
            class: node.class.clone(),
        },
        fingerprint,
        high,
        open: Default::default(),
        to_fetch: Default::default(),
        scanned: false,
        since: None,
    };
    (path, job)
}

fn is_child_project(node: &JobNode) -> bool {
    node.class
        .as_deref()
        .is_some_and(|c| CHILD_PROJECT_CLASSES.contains(&c))
}

fn is_abstract_project(node: &JobNode) -> bool {
    node.class
        .as_deref()
        .is_some_and(|c| ABSTRACT_PROJECT_CLASSES.contains(&c))
}

/// Builds on executors, placeholders folded into their run (same URL).
fn running_builds(computers: &ComputerSet) -> BTreeSet<BuildRef> {
    computers
        .computer
        .iter()
        .flat_map(|c| c.executables())
        .filter_map(|e| e.url.as_deref().and_then(path::build_ref))
        .collect()
}
