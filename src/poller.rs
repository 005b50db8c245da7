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
use std::collections::HashMap;

use crate::event::{Ask, Encoder, Format, Need, Outgoing, Reads};
use crate::jenkins::model::{ComputerSet, JobTree, QueueList, RunDescription, Stage};
use crate::jenkins::path::{BuildRef, JobPath};
use crate::jenkins::{self, Client, tree};
use crate::telemetry::{self, ControllerMetrics, Telemetry};
use crate::watch::{self, Change, Fetched, Note, Observation, Phase, Scan, State};

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

/// The follow-up reads asked for this tick, so that each is made once.
#[derive(Debug, Default)]
struct Asked {
    builds: BTreeSet<BuildRef>,
    left_items: BTreeSet<u64>,
    jobs: BTreeSet<JobPath>,
    configs: BTreeSet<JobPath>,
}

impl Asked {
    /// The follow-ups not asked for before this tick (and records them).
    fn only_new(&mut self, f: watch::FollowUps) -> watch::FollowUps {
        watch::FollowUps {
            scan: f.scan,
            builds: f
                .builds
                .into_iter()
                .filter(|b| self.builds.insert(b.clone()))
                .collect(),
            left_items: f
                .left_items
                .into_iter()
                .filter(|i| self.left_items.insert(*i))
                .collect(),
            jobs: f
                .jobs
                .into_iter()
                .filter(|j| self.jobs.insert(j.clone()))
                .collect(),
            configs: f
                .configs
                .into_iter()
                .filter(|c| self.configs.insert(c.clone()))
                .collect(),
        }
    }
}

/// The answer to one [`Need`].
#[derive(Debug)]
enum Answer {
    /// A JSON document (a build's or an item's).
    Json(serde_json::Value),
    /// A folder's class (`None`: none, or no folder).
    Class(Option<String>),
    /// A run's stages.
    Stages(Vec<Stage>),
    /// Nothing to read (404): the facts the change carries are all there will be.
    Gone,
    /// The read failed: unknown this tick.
    Unknown,
}

impl Answer {
    fn is_known(&self) -> bool {
        !matches!(self, Answer::Unknown)
    }
}

/// What the encoders asked for a change, from the answers.
fn reads<'a>(
    asks: &[Ask],
    answers: &'a HashMap<Need, Answer>,
    stages_sent: Option<&'a BTreeSet<String>>,
) -> Reads<'a> {
    let mut reads = Reads {
        stages_sent,
        ..Reads::default()
    };
    for ask in asks {
        match (&ask.need, &answers[&ask.need]) {
            (Need::Stages(_), Answer::Stages(stages)) => reads.stages = Some(stages),
            (Need::BuildJson(_) | Need::ItemJson(_), Answer::Json(json)) => reads.run = Some(json),
            (Need::ParentClass(_), Answer::Class(class)) => reads.parent_class = class.as_deref(),
            _ => {}
        }
    }
    reads
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

    /// One tick: returns the events it produced, in order, each with its job path. The reads
    /// every tick makes, then the diff and the follow-ups it asks for until none is left, then
    /// the encoding in every dialect some sink speaks.
    pub async fn tick(&mut self) -> Result<Vec<Outgoing>, jenkins::Error> {
        let now = now_ms();
        let (obs, session) = self.observe(now).await?;
        let (changes, scanned) = self.settle(obs, session, now).await?;
        let events = self.encode(changes, scanned).await;
        telemetry::PollCompleted {
            now,
            events: events.len(),
        }
        .emit(&self.telemetry);
        Ok(events)
    }

    /// The reads of every tick: the queue and the executors (two requests, whatever the number
    /// of jobs), and the job-tree scan when it is due.
    async fn observe(&mut self, now: i64) -> Result<(Observation, Option<String>), jenkins::Error> {
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
        let scan = if scan_due {
            Some(self.scan(now).await?)
        } else {
            None
        };
        let obs = Observation {
            now,
            session: meta.session.clone(),
            queue: Some(queue),
            computers: Some(computers),
            scan,
            ..Observation::default()
        };
        Ok((obs, meta.session))
    }

    /// Feeds `obs` to the diff, then performs the follow-ups it asks for and feeds their
    /// results back, for at most [`MAX_ROUNDS`] rounds, each read at most once per tick.
    /// Returns the tick's changes and whether the job tree was scanned.
    async fn settle(
        &mut self,
        mut obs: Observation,
        session: Option<String>,
        now: i64,
    ) -> Result<(Vec<Change>, bool), jenkins::Error> {
        let mut changes = Vec::new();
        let mut asked = Asked::default();
        let mut scanned = obs.scan.is_some();
        for _ in 0..MAX_ROUNDS {
            let out = watch::diff(std::mem::take(&mut self.state), obs);
            self.state = out.state;
            changes.extend(out.changes);
            for note in out.notes {
                self.log_note(note);
            }
            let f = asked.only_new(out.follow_ups);
            let rescan = f.scan && !scanned;
            if f.builds.is_empty()
                && f.left_items.is_empty()
                && f.jobs.is_empty()
                && f.configs.is_empty()
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
            self.perform(f, &mut obs).await;
        }
        Ok((changes, scanned))
    }

    /// The follow-up reads, into the next observation.
    async fn perform(&self, f: watch::FollowUps, obs: &mut Observation) {
        let (c, t) = (&self.client, &self.telemetry);
        obs.builds = read_all(c, t, f.builds, "build", Some(tree::BUILD), |b| {
            format!("{}api/json", b.path())
        })
        .await;
        obs.left_items = read_all(
            c,
            t,
            f.left_items,
            "queue_item",
            Some(tree::QUEUE_ITEM),
            |id| format!("queue/item/{id}/api/json"),
        )
        .await;
        obs.jobs = read_all(c, t, f.jobs, "job", Some(tree::JOB_FIELDS), |p| {
            format!("{p}api/json")
        })
        .await;
        for p in f.configs {
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
            obs.configs.push((p, fetched(r)));
        }
    }

    /// The tick's changes (after what waited from earlier ticks) in every dialect some sink
    /// speaks. The encoders say what they need beyond a change ([`Encoder::needs`]); this
    /// performs those reads, once per tick each, and hands the answers back. A dialect whose
    /// required read failed waits with the change (and the later changes of its job) for the
    /// next tick, at most [`MAX_KUBESPHERE_TRIES`] ticks.
    async fn encode(&mut self, mut changes: Vec<Change>, scanned: bool) -> Vec<Outgoing> {
        if scanned && self.encoder.needs_running_stages() {
            changes.extend(self.running_stages().await);
        }
        let mut events = Vec::with_capacity(changes.len());
        let mut answers: HashMap<Need, Answer> = HashMap::new();
        // Dialects and jobs whose events wait behind one that waits for its reads.
        let mut waiting: BTreeSet<(Format, String)> = BTreeSet::new();
        // First what waited (in the dialect that waits), then this tick's (in every dialect).
        let waited = std::mem::take(&mut self.state.awaiting);
        let queue = waited
            .into_iter()
            .filter_map(|a| match Format::parse(&a.format) {
                Some(format) => Some((a.change, a.tries, Some(format))),
                None => {
                    tracing::warn!(
                        format = a.format,
                        "a waiting change of an unknown dialect is dropped"
                    );
                    None
                }
            })
            .chain(changes.into_iter().map(|c| (c, 0, None)));
        for (change, tries, only) in queue {
            let job = change.job().unwrap_or_default().to_string();
            let formats: Vec<Format> = match only {
                Some(format) => vec![format],
                None => self.encoder.formats.clone(),
            };
            // A dialect already waiting on this job keeps the job's order: this change waits
            // too, with nothing read for it.
            let (held, formats): (Vec<Format>, Vec<Format>) = formats
                .into_iter()
                .partition(|format| waiting.contains(&(*format, job.clone())));
            for format in held {
                if self.encoder.reports(format, &change) {
                    self.wait(change.clone(), tries, format);
                }
            }
            let asks: Vec<Ask> = self
                .encoder
                .needs(&change)
                .into_iter()
                .filter(|a| formats.contains(&a.format))
                .collect();
            for ask in &asks {
                if !answers.contains_key(&ask.need) {
                    let answer = self.answer(&ask.need).await;
                    answers.insert(ask.need.clone(), answer);
                }
            }
            let mut ready = Vec::new();
            for format in formats {
                let missing = asks
                    .iter()
                    .find(|a| a.format == format && a.required && !answers[&a.need].is_known());
                if let Some(ask) = missing {
                    if tries + 1 < MAX_KUBESPHERE_TRIES {
                        waiting.insert((format, job.clone()));
                        self.wait(change.clone(), tries + 1, format);
                        continue;
                    }
                    if let Change::Build { build, .. } = &change {
                        telemetry::KubeSphereIncomplete {
                            controller: &self.telemetry.controller,
                            build: &build.id,
                            missing: ask.need.what(),
                            tries: MAX_KUBESPHERE_TRIES,
                        }
                        .emit(&self.telemetry);
                    }
                }
                ready.push(format);
            }
            // What the run's stage events already said while it ran (CDEvents).
            let sent = match &change {
                Change::Build {
                    build,
                    phase: Phase::Completed,
                    ..
                } if only.is_none() => watch::stages::take_reported(&mut self.state, &build.id),
                _ => None,
            };
            let reads = reads(&asks, &answers, sent.as_ref());
            self.emit(&mut events, &change, &reads, |f| ready.contains(&f));
        }
        // Builds that completed were taken out above; forget any other that is gone.
        watch::stages::forget_stopped(&mut self.state);
        events
    }

    /// Keeps `change`'s events in `format` for the next tick.
    fn wait(&mut self, change: Change, tries: u32, format: Format) {
        self.state.awaiting.push(watch::Awaiting {
            change,
            tries,
            format: format.name().to_string(),
        });
    }

    /// Performs one read a dialect needs. A failure is logged and answers
    /// [`Answer::Unknown`]; a 404 answers [`Answer::Gone`] (the stages of a controller without
    /// the Pipeline Stage View plugin, a build deleted before it was read).
    async fn answer(&mut self, need: &Need) -> Answer {
        let (c, t) = (&self.client, &self.telemetry);
        match need {
            Need::Stages(build) => {
                let path = format!("{}wfapi/describe", build.path());
                match fetch::<RunDescription>(c, t, "wfapi", &path, None).await {
                    Ok((d, _)) => Answer::Stages(d.stages),
                    Err(e) if e.is_not_found() => Answer::Gone,
                    Err(e) => {
                        tracing::warn!(build = %build, "stages not read, the run's CDEvents go without task runs: {e}");
                        Answer::Unknown
                    }
                }
            }
            Need::BuildJson(build) => {
                let path = format!("{}api/json", build.path());
                match fetch::<serde_json::Value>(c, t, "build", &path, None).await {
                    Ok((v, _)) => Answer::Json(v),
                    Err(e) if e.is_not_found() => Answer::Gone,
                    Err(e) => {
                        tracing::warn!(build = %build, "build JSON not read: {e}");
                        Answer::Unknown
                    }
                }
            }
            Need::ItemJson(job) => {
                let path = format!("{job}api/json");
                match fetch::<serde_json::Value>(c, t, "job", &path, None).await {
                    Ok((v, _)) => Answer::Json(v),
                    Err(e) => {
                        tracing::warn!(job = %job, "item JSON not read, its generic event carries the known facts only: {e}");
                        Answer::Unknown
                    }
                }
            }
            Need::ParentClass(folder) => match self.parent_class(folder).await {
                Ok(class) => Answer::Class(class),
                Err(()) => Answer::Unknown,
            },
        }
    }

    /// Logs what the diff noted; the missing permission of a 403 on `config.xml` is the same
    /// for every job, so it is logged once.
    fn log_note(&mut self, note: Note) {
        if matches!(note, Note::ConfigForbidden(_)) {
            if self.warned_config_forbidden {
                return;
            }
            self.warned_config_forbidden = true;
        }
        log_note(note, self.version.as_deref());
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

    /// The class of a folder (`…WorkflowMultiBranchProject` for a branch's parent), read once
    /// per folder and remembered; `Ok(None)` when the folder is gone, `Err` when it could not
    /// be read (unknown: never taken as "not multibranch").
    async fn parent_class(&mut self, folder: &str) -> Result<Option<String>, ()> {
        if let Some(class) = self.parent_classes.get(folder) {
            return Ok(class.clone());
        }
        let path = format!("{folder}api/json");
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
                tracing::warn!(folder, "the class of a job's parent not read: {e}");
                return Err(());
            }
        };
        self.parent_classes
            .insert(folder.to_string(), class.clone());
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
