//! The driver of the watcher: it performs the reads, feeds them to [`watch::diff`], performs
//! the follow-ups the diff asks for, and encodes the tick's changes.
//!
//! Per tick: `/queue/api/json` and `/computer/api/json` (two requests, whatever the number of
//! jobs), the job-tree scan when due, then only the reads that something changed calls for.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::clock::now_ms;
use crate::event::{Encoder, Format, Outgoing, Reads};
use crate::jenkins::model::{ComputerSet, JobTree, QueueList, RunDescription, Stage};
use crate::jenkins::path::{BuildRef, JobPath};
use crate::jenkins::{self, Client, tree};
use crate::telemetry::{self, ControllerMetrics, Telemetry};
use crate::watch::stages::WORKFLOW_JOB;
use crate::watch::{self, Change, Fetched, ItemKind, Note, Observation, Phase, Scan, State};

/// Rounds of follow-ups within one tick (each round may uncover the next read).
pub const MAX_ROUNDS: usize = 6;

/// Ticks a build start's KubeSphere events wait for reads that fail (the build's JSON, its
/// parent's class) before they go out with the facts known, with a warning and a count.
pub const MAX_KUBESPHERE_TRIES: u32 = 10;

/// Follow-up reads in flight at once.
pub const READ_CONCURRENCY: usize = 8;

/// The poller as it was before a tick ([`Poller::checkpoint`]).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    state: State,
    last_scan: Option<i64>,
}

/// What a KubeSphere event carries beyond the change, as read this tick.
#[derive(Debug, Default)]
struct KubeSphereReads {
    /// The build's (or a new item's) own JSON.
    data: Option<serde_json::Value>,
    /// The class of the job's parent.
    parent_class: Option<String>,
    /// What a build start's `run.initialize` needs and could not be read.
    missing: Option<&'static str>,
}

/// Polls one controller.
pub struct Poller {
    client: Client,
    state: State,
    encoder: Encoder,
    folder_depth: usize,
    scan_interval: Duration,
    last_scan: Option<i64>,
    telemetry: ControllerMetrics,
    version: Option<String>,
    /// Classes of jobs' parents (folders, multibranch projects), read once each.
    parent_classes: std::collections::HashMap<JobPath, Option<String>>,
    /// A 403 on `config.xml` was logged: the missing permission is the same for every job.
    warned_config_forbidden: bool,
}

impl Poller {
    /// Reports builds that started within `window` before the starting point (`--backfill`);
    /// only when starting without saved state.
    pub fn backfill(&mut self, window: Duration) {
        if !self.state.baselined {
            self.state.backfill_since = Some(now_ms() - window.as_millis() as i64);
        }
    }

    /// A poller starting from `state` (empty = begin at "now").
    pub fn new(
        client: Client,
        state: State,
        encoder: Encoder,
        folder_depth: usize,
        scan_interval: Duration,
        telemetry: Arc<Telemetry>,
    ) -> Poller {
        let name = encoder.name.clone();
        Poller {
            client,
            state,
            encoder,
            folder_depth,
            scan_interval,
            last_scan: None,
            telemetry: ControllerMetrics {
                telemetry,
                controller: name,
            },
            version: None,
            parent_classes: Default::default(),
            warned_config_forbidden: false,
        }
    }

    /// What a tick changes in the poller, to undo the tick when its commit fails.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            state: self.state.clone(),
            last_scan: self.last_scan,
        }
    }

    /// Back to a checkpoint: the tick after it never happened.
    pub fn restore(&mut self, checkpoint: Checkpoint) {
        self.state = checkpoint.state;
        self.last_scan = checkpoint.last_scan;
    }

    /// The watcher state (to persist it).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The Jenkins version seen in `X-Jenkins`.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &mut self,
        endpoint: &'static str,
        path: &str,
        tree: Option<&str>,
    ) -> Result<(T, jenkins::Meta), jenkins::Error> {
        fetch(&self.client, &self.telemetry, endpoint, path, tree).await
    }

    /// One tick: returns the events it produced, in order, each with its job path.
    pub async fn tick(&mut self) -> Result<Vec<Outgoing>, jenkins::Error> {
        let now = now_ms();
        let scan_due = !self.state.baselined
            || self
                .last_scan
                .is_none_or(|t| now - t >= self.scan_interval.as_millis() as i64);
        let queue_tree = tree::queue();
        let (queue, computers) = tokio::join!(
            fetch::<QueueList>(
                &self.client,
                &self.telemetry,
                "queue",
                "queue/api/json",
                Some(&queue_tree)
            ),
            fetch::<ComputerSet>(
                &self.client,
                &self.telemetry,
                "computer",
                "computer/api/json",
                Some(tree::COMPUTERS)
            ),
        );
        let (queue, meta) = queue?;
        let (computers, _) = computers?;
        if self.version.is_none() {
            self.version = meta.version.clone();
        }
        let mut session = meta.session.clone();
        let scan = if scan_due {
            Some(self.scan(now).await?)
        } else {
            None
        };
        let mut obs = Observation {
            now,
            session: session.clone(),
            queue: Some(queue),
            computers: Some(computers),
            scan,
            ..Observation::default()
        };
        let mut changes = Vec::new();
        let mut read_builds: BTreeSet<BuildRef> = BTreeSet::new();
        let mut read_items: BTreeSet<u64> = BTreeSet::new();
        let mut read_jobs: BTreeSet<JobPath> = BTreeSet::new();
        let mut read_configs: BTreeSet<JobPath> = BTreeSet::new();
        let mut scanned = obs.scan.is_some();
        for _ in 0..MAX_ROUNDS {
            let out = watch::diff(std::mem::take(&mut self.state), obs);
            self.state = out.state;
            changes.extend(out.changes);
            for note in out.notes {
                if matches!(note, Note::ConfigForbidden(_)) {
                    if self.warned_config_forbidden {
                        continue;
                    }
                    self.warned_config_forbidden = true;
                }
                log_note(note, self.version.as_deref());
            }
            let f = out.follow_ups;
            let builds: Vec<BuildRef> = f
                .builds
                .into_iter()
                .filter(|b| read_builds.insert(b.clone()))
                .collect();
            let items: Vec<u64> = f
                .left_items
                .into_iter()
                .filter(|i| read_items.insert(*i))
                .collect();
            let jobs: Vec<JobPath> = f
                .jobs
                .into_iter()
                .filter(|j| read_jobs.insert(j.clone()))
                .collect();
            let configs: Vec<JobPath> = f
                .configs
                .into_iter()
                .filter(|c| read_configs.insert(c.clone()))
                .collect();
            let rescan = f.scan && !scanned;
            if builds.is_empty()
                && items.is_empty()
                && jobs.is_empty()
                && configs.is_empty()
                && !rescan
            {
                break;
            }
            obs = Observation {
                now,
                session: session.clone(),
                scan: if rescan {
                    scanned = true;
                    Some(self.scan(now).await?)
                } else {
                    None
                },
                ..Observation::default()
            };
            let (c, t) = (&self.client, &self.telemetry);
            obs.builds = read_all(c, t, builds, "build", Some(tree::BUILD), |b| {
                format!("{}api/json", b.path())
            })
            .await;
            obs.left_items = read_all(c, t, items, "queue_item", Some(tree::QUEUE_ITEM), |id| {
                format!("queue/item/{id}/api/json")
            })
            .await;
            obs.jobs = read_all(c, t, jobs, "job", Some(tree::JOB_FIELDS), |p| {
                format!("{p}api/json")
            })
            .await;
            let mut configs_read = Vec::new();
            for p in configs {
                let r = c.get_text(&format!("{p}config.xml")).await;
                match &r {
                    Ok((_, meta)) => telemetry::JenkinsResponse {
                        controller: &t.controller,
                        endpoint: "config",
                        bytes: meta.bytes,
                    }
                    .emit(t),
                    Err(error) => telemetry::JenkinsRequestFailed {
                        controller: &t.controller,
                        endpoint: "config",
                        error,
                    }
                    .emit(t),
                }
                configs_read.push((p, fetched(r)));
            }
            obs.configs = configs_read;
            if session.is_none() {
                session = meta.session.clone();
            }
        }
        if scanned && self.encoder.speaks(Format::CdEvents) {
            changes.extend(self.running_stages().await);
        }
        let mut events = Vec::with_capacity(changes.len());
        // A build's own JSON, read once per tick however many of its events there are.
        let mut runs: std::collections::HashMap<BuildRef, Fetched<serde_json::Value>> =
            Default::default();
        // Jobs whose KubeSphere events wait behind one that waits for its reads.
        let mut waiting: BTreeSet<JobPath> = BTreeSet::new();
        // First what waited (KubeSphere only: the other dialects have it), then this tick's.
        let waited = std::mem::take(&mut self.state.awaiting);
        let queue = waited
            .into_iter()
            .map(|a| (a.change, a.tries, false))
            .chain(changes.into_iter().map(|c| (c, 0, true)));
        for (change, tries, fresh) in queue {
            if fresh {
                let stages = self.stages(&change).await;
                let sent = match &change {
                    Change::Build {
                        build,
                        phase: Phase::Completed,
                        ..
                    } => watch::stages::take_reported(&mut self.state, &build.id),
                    _ => None,
                };
                let reads = Reads {
                    stages: stages.as_deref(),
                    stages_sent: sent.as_ref(),
                    ..Reads::default()
                };
                self.emit(&mut events, &change, &reads, |f| f != Format::KubeSphere);
            }
            let kubesphere_encodes = matches!(
                change,
                Change::Build { .. } | Change::Item { .. } | Change::BuildDeleted { .. }
            );
            if !self.encoder.speaks(Format::KubeSphere) || !kubesphere_encodes {
                continue;
            }
            let job = change.job().unwrap_or_default().to_string();
            if waiting.contains(&job) {
                self.state.awaiting.push(watch::Awaiting { change, tries });
                continue;
            }
            let known = self.kubesphere_reads(&change, &mut runs).await;
            if let Some(missing) = known.missing {
                if tries + 1 < MAX_KUBESPHERE_TRIES {
                    waiting.insert(job);
                    self.state.awaiting.push(watch::Awaiting {
                        change,
                        tries: tries + 1,
                    });
                    continue;
                }
                if let Change::Build { build, .. } = &change {
                    telemetry::KubeSphereIncomplete {
                        controller: &self.telemetry.controller,
                        build: &build.id,
                        missing,
                        tries: MAX_KUBESPHERE_TRIES,
                    }
                    .emit(&self.telemetry);
                }
            }
            let reads = Reads {
                run: known.data.as_ref(),
                parent_class: known.parent_class.as_deref(),
                ..Reads::default()
            };
            self.emit(&mut events, &change, &reads, |f| f == Format::KubeSphere);
        }
        // Builds that completed were taken out above; forget any other that is gone.
        watch::stages::forget_stopped(&mut self.state);
        telemetry::PollCompleted {
            now,
            events: events.len(),
        }
        .emit(&self.telemetry);
        Ok(events)
    }

    /// Stage transitions of running Pipeline builds, for CDEvents task runs while they run:
    /// one `wfapi/describe` per running Pipeline build (at most
    /// [`watch::stages::MAX_STAGE_READS`]) per job-tree scan, so that Jenkins walks a running
    /// flow graph rarely; `watch::stages` decides what is new. What is still missing when the
    /// build completes comes from the completion read.
    async fn running_stages(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        for (build, job) in watch::stages::to_read(&self.state) {
            let path = format!("{}wfapi/describe", build.path());
            let Ok((d, _)) =
                fetch::<RunDescription>(&self.client, &self.telemetry, "wfapi", &path, None).await
            else {
                continue; // no Stage View plugin, or gone: the completion read decides
            };
            changes.extend(watch::stages::observed(
                &mut self.state,
                &build,
                &job,
                &d.stages,
            ));
        }
        changes
    }

    /// The stages of a Pipeline run that just completed, for CDEvents task runs: one
    /// `wfapi/describe` per run, read once at completion (Jenkins caches it only for completed
    /// runs; while running it walks the flow graph). `None` when no sink speaks CDEvents, for
    /// other job types, without the Pipeline Stage View plugin (404), or when the read fails
    /// (logged: the run's own events are not held back for it).
    async fn stages(&self, change: &Change) -> Option<Vec<Stage>> {
        let Change::Build {
            job,
            build,
            phase: Phase::Completed,
            ..
        } = change
        else {
            return None;
        };
        if !self.encoder.speaks(Format::CdEvents) || job.class.as_deref() != Some(WORKFLOW_JOB) {
            return None;
        }
        let path = format!("{}wfapi/describe", build.id.path());
        match fetch::<RunDescription>(&self.client, &self.telemetry, "wfapi", &path, None).await {
            Ok((d, _)) => Some(d.stages),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                tracing::warn!(build = %build.id, "stages not read, the run's CDEvents go without task runs: {e}");
                None
            }
        }
    }

    /// Encodes a change in the dialects `which` selects, counting each event.
    fn emit(
        &self,
        events: &mut Vec<Outgoing>,
        change: &Change,
        reads: &Reads<'_>,
        which: impl Fn(Format) -> bool,
    ) {
        for out in self.encoder.encode_where(change, reads, which) {
            telemetry::EventEmitted {
                ty: out.payload.ty(),
            }
            .emit(&self.telemetry);
            events.push(out);
        }
    }

    /// What a KubeSphere event carries beyond the change: a build's own `api/json` (depth 0)
    /// and, for a Pipeline run, the class of its job's parent (read once per parent and
    /// remembered) to tell a multibranch branch; or a new or changed item's own `api/json`.
    /// A build start (`run.initialize`, from which ks-devops creates the PipelineRun) names
    /// what could not be read, so that it waits for the next tick instead of going out wrong;
    /// other events go with the facts already known.
    async fn kubesphere_reads(
        &mut self,
        change: &Change,
        runs: &mut std::collections::HashMap<BuildRef, Fetched<serde_json::Value>>,
    ) -> KubeSphereReads {
        let (job, build, phase) = match change {
            Change::Build {
                job, build, phase, ..
            } => (job, build, *phase),
            // A new or changed item's own JSON (a deleted one can no longer be read).
            Change::Item {
                job,
                kind: ItemKind::Created | ItemKind::Updated,
                ..
            } => {
                let path = format!("{}api/json", job.path);
                let item = fetch::<serde_json::Value>(&self.client, &self.telemetry, "job", &path, None)
                    .await
                    .map(|(v, _)| v)
                    .map_err(|e| tracing::warn!(job = %job.path, "item JSON not read, its generic event carries the known facts only: {e}"))
                    .ok();
                return KubeSphereReads {
                    data: item,
                    ..KubeSphereReads::default()
                };
            }
            Change::BuildDeleted { job, .. } => {
                return KubeSphereReads {
                    parent_class: self.parent_class(&job.path).await.ok().flatten(),
                    ..KubeSphereReads::default()
                };
            }
            _ => return KubeSphereReads::default(),
        };
        if !matches!(runs.get(&build.id), Some(Fetched::Found(_) | Fetched::Gone)) {
            let path = format!("{}api/json", build.id.path());
            let run =
                fetch::<serde_json::Value>(&self.client, &self.telemetry, "build", &path, None)
                    .await;
            if let Err(e) = &run
                && !e.is_not_found()
            {
                tracing::warn!(build = %build.id, "build JSON not read: {e}");
            }
            runs.insert(build.id.clone(), fetched(run));
        }
        let started = phase == Phase::Started;
        let (data, mut missing) = match runs.get(&build.id) {
            Some(Fetched::Found(v)) => (Some(v.clone()), None),
            // Deleted: the facts are all there will ever be.
            Some(Fetched::Gone) => (None, None),
            _ => (None, Some("the build's JSON (its actions and parameters)")),
        };
        let pipeline = job.class.as_deref() == Some(WORKFLOW_JOB)
            || data
                .as_ref()
                .is_some_and(|d| d["_class"] == crate::event::kubesphere::WORKFLOW_RUN);
        let parent_class = if pipeline {
            match self.parent_class(&job.path).await {
                Ok(class) => class,
                Err(()) => {
                    missing =
                        missing.or(Some("the class of the job's parent (multibranch or not)"));
                    None
                }
            }
        } else {
            None
        };
        KubeSphereReads {
            data,
            parent_class,
            missing: missing.filter(|_| started),
        }
    }

    /// The class of a job's parent folder (`…WorkflowMultiBranchProject` for a branch), read
    /// once per parent and remembered; `Ok(None)` at the top level or when the parent is gone,
    /// `Err` when it could not be read (unknown: never taken as "not multibranch").
    async fn parent_class(&mut self, job: &str) -> Result<Option<String>, ()> {
        let parent = crate::event::kubesphere::parent_path(job).to_string();
        if parent.is_empty() {
            return Ok(None);
        }
        if let Some(class) = self.parent_classes.get(&parent) {
            return Ok(class.clone());
        }
        let path = format!("{parent}api/json");
        let class = match fetch::<serde_json::Value>(
            &self.client,
            &self.telemetry,
            "job",
            &path,
            Some("_class"),
        )
        .await
        {
            Ok((v, _)) => v["_class"].as_str().map(str::to_owned),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                tracing::warn!(folder = %parent, "the class of a job's parent not read: {e}");
                return Err(());
            }
        };
        self.parent_classes.insert(parent, class.clone());
        Ok(class)
    }

    async fn scan(&mut self, now: i64) -> Result<Scan, jenkins::Error> {
        let tree = tree::job_tree(self.folder_depth);
        let (tree, _) = self.get::<JobTree>("jobs", "api/json", Some(&tree)).await?;
        self.last_scan = Some(now);
        Ok(Scan {
            levels: self.folder_depth,
            tree,
        })
    }
}

async fn fetch<T: serde::de::DeserializeOwned>(
    client: &Client,
    t: &ControllerMetrics,
    endpoint: &'static str,
    path: &str,
    tree: Option<&str>,
) -> Result<(T, jenkins::Meta), jenkins::Error> {
    let result = client.get_json::<T>(path, tree).await;
    match &result {
        Ok((_, meta)) => telemetry::JenkinsResponse {
            controller: &t.controller,
            endpoint,
            bytes: meta.bytes,
        }
        .emit(t),
        Err(error) => telemetry::JenkinsRequestFailed {
            controller: &t.controller,
            endpoint,
            error,
        }
        .emit(t),
    }
    result
}

/// Reads one JSON object per key, [`READ_CONCURRENCY`] at a time, results in key order.
async fn read_all<K: Clone, T: serde::de::DeserializeOwned>(
    client: &Client,
    t: &ControllerMetrics,
    keys: Vec<K>,
    endpoint: &'static str,
    tree: Option<&str>,
    path: impl Fn(&K) -> String,
) -> Vec<(K, Fetched<T>)> {
    futures::stream::iter(keys)
        .map(|key| {
            let path = path(&key);
            async move {
                let r = fetch::<T>(client, t, endpoint, &path, tree).await;
                (key, fetched(r))
            }
        })
        .buffered(READ_CONCURRENCY)
        .collect()
        .await
}

fn fetched<T>(result: Result<(T, jenkins::Meta), jenkins::Error>) -> Fetched<T> {
    match result {
        Ok((value, _)) => Fetched::Found(value),
        Err(e) if e.is_not_found() => Fetched::Gone,
        Err(jenkins::Error::Forbidden { .. }) => Fetched::Forbidden,
        Err(e) => {
            tracing::warn!("follow-up read failed, retrying next tick: {e}");
            Fetched::Failed
        }
    }
}

fn log_note(note: Note, version: Option<&str>) {
    match note {
        Note::Baselined {
            jobs,
            running,
            queued,
        } => tracing::info!(
            jenkins_version = version.unwrap_or("unknown"),
            jobs,
            running,
            queued,
            "watching from now: starting point taken, no history replayed"
        ),
        Note::Restarted { from, to } => tracing::warn!(
            from = %from,
            to = %to,
            "Jenkins restarted (new X-Jenkins-Session): resynchronising"
        ),
        Note::BuildGone(build) => {
            tracing::info!(build = %build, "build deleted before it was read (404): skipped")
        }
        Note::JobGone(job) => tracing::debug!(job = %job, "job no longer listed: forgotten"),
        Note::ConfigForbidden(job) => tracing::warn!(
            job = %job,
            "config.xml is not readable (403): job.created/job.updated are sent without configFile; grant the token's user Job/ExtendedRead to include it"
        ),
        Note::ConfigUnread(job) => tracing::warn!(
            job = %job,
            tries = watch::MAX_CONFIG_TRIES,
            "config.xml could not be read: job.created/job.updated sent without configFile"
        ),
        Note::BuildsSkipped { job, count } => tracing::warn!(
            job = %job,
            count,
            "more unseen builds than the per-job cap: the oldest are skipped"
        ),
    }
}
