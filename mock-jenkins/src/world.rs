//! The simulated controller: jobs, builds, the queue, nodes, users, and how time moves them.
//!
//! Everything Jenkins does that a watcher must cope with lives here as plain state changes:
//! quiet periods, blocked non-concurrent jobs, the 5-minute left-item cache, the window in
//! which a left item has no executable yet, post-production, pipelines on one-off executors with
//! `node{}` placeholders, deleted builds, and restarts with a new session id.

use std::collections::BTreeMap;

use serde_json::Value;

/// Jenkins keeps left queue items this long (`Queue.leftItems`, `expireAfterWrite`).
pub const LEFT_ITEM_TTL_MS: i64 = 5 * 60 * 1000;

/// Folder computations allowed at once (`ThrottleComputationQueueTaskDispatcher.LIMIT`).
pub const MAX_CONCURRENT_INDEXING: usize = 5;

/// How long a pipeline's `node{}` placeholder waits in the queue before it gets an executor.
pub const PLACEHOLDER_WAIT_MS: i64 = 400;

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A Jenkins version, compared numerically (`2.150.3` < `2.307`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub Vec<u32>);

impl Version {
    /// Parses leniently: `2.150.3`, `2.440.1-custom`.
    pub fn parse(s: &str) -> Version {
        Version(
            s.split(|c: char| !c.is_ascii_digit())
                .take_while(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect(),
        )
    }

    /// At least `other`.
    pub fn at_least(&self, other: &str) -> bool {
        *self >= Version::parse(other)
    }
}

/// What kind of item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `hudson.model.FreeStyleProject`.
    Freestyle,
    /// `org.jenkinsci.plugins.workflow.job.WorkflowJob`.
    Pipeline,
    /// `com.cloudbees.hudson.plugins.folder.Folder`.
    Folder,
    /// `org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject`.
    Multibranch,
    /// matrix-project's `hudson.matrix.MatrixProject`: its builds (`MatrixBuild`, on a
    /// one-off executor: it is a `Queue.FlyweightTask`) schedule one run per configuration.
    Matrix,
    /// `hudson.matrix.MatrixConfiguration`: one combination of a matrix project's axes, at
    /// `job/<project>/<axis>=<value>/`, not listed under `jobs`. Its runs (`MatrixRun`) are
    /// queued like any build and numbered as their parent `MatrixBuild`.
    MatrixConfiguration,
}

impl Kind {
    /// The Java class.
    pub fn class(self) -> &'static str {
        match self {
            Kind::Freestyle => "hudson.model.FreeStyleProject",
            Kind::Pipeline => "org.jenkinsci.plugins.workflow.job.WorkflowJob",
            Kind::Folder => "com.cloudbees.hudson.plugins.folder.Folder",
            Kind::Multibranch => {
                "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
            }
            Kind::Matrix => "hudson.matrix.MatrixProject",
            Kind::MatrixConfiguration => "hudson.matrix.MatrixConfiguration",
        }
    }

    /// Holds other items.
    pub fn is_container(self) -> bool {
        matches!(self, Kind::Folder | Kind::Multibranch)
    }

    /// The build class.
    pub fn build_class(self) -> &'static str {
        match self {
            Kind::Pipeline => "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            Kind::Matrix => "hudson.matrix.MatrixBuild",
            Kind::MatrixConfiguration => "hudson.matrix.MatrixRun",
            _ => "hudson.model.FreeStyleBuild",
        }
    }
}

/// How a build will end when time moves it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Plan {
    /// Build duration, ms.
    pub duration_ms: i64,
    /// `SUCCESS`, `FAILURE`, `UNSTABLE`, `ABORTED`, `NOT_BUILT`.
    pub result: String,
}

/// A job or container.
#[derive(Debug, Clone)]
pub struct Item {
    /// `folder/app`.
    pub full_name: String,
    /// `app` (a branch: `feature%2Fx`).
    pub name: String,
    /// Set display name, if any.
    pub display_name: Option<String>,
    /// Kind.
    pub kind: Kind,
    /// Description.
    pub description: String,
    /// Next build number.
    pub next_build_number: u64,
    /// Builds by number.
    pub builds: BTreeMap<u64, Build>,
    /// Quiet period, ms.
    pub quiet_period_ms: i64,
    /// Concurrent builds allowed.
    pub concurrent: bool,
    /// Disabled.
    pub disabled: bool,
    /// Raw config.xml.
    pub config_xml: String,
    /// How builds started through the REST API run (from config.xml's steps).
    pub plan: Plan,
}

impl Item {
    /// Display name, or the name (branches: decoded `%2F`).
    pub fn display(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| self.name.replace("%2F", "/"))
    }

    /// A build in progress.
    pub fn running(&self) -> impl Iterator<Item = &Build> {
        self.builds.values().filter(|b| b.phase != Phase::Done)
    }
}

/// Where a build is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Building.
    Running,
    /// Result set, still on its executor.
    PostProduction,
    /// Finalized.
    Done,
}

/// A build.
#[derive(Debug, Clone)]
pub struct Build {
    /// Number.
    pub number: u64,
    /// Queue id it came from.
    pub queue_id: u64,
    /// Start, ms.
    pub timestamp: i64,
    /// Duration, ms (0 while running).
    pub duration: i64,
    /// Result once set.
    pub result: Option<String>,
    /// Phase.
    pub phase: Phase,
    /// Cause objects.
    pub causes: Vec<Value>,
    /// Parameters.
    pub params: Vec<(String, String)>,
    /// How it ends on its own; `None` = only when told.
    pub plan: Option<Plan>,
}

/// A queue item.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    /// Id.
    pub id: u64,
    /// Job full name.
    pub job: String,
    /// Entered, ms.
    pub in_queue_since: i64,
    /// End of the quiet period, ms.
    pub due: i64,
    /// Cause objects.
    pub causes: Vec<Value>,
    /// Parameters.
    pub params: Vec<(String, String)>,
    /// Start by itself when due (with this plan); `None` = only when told.
    pub plan: Option<Plan>,
    /// What the queue item will run.
    pub task: QueueTask,
}

/// A queue item's task: Jenkins queues more than jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueTask {
    /// A build of the job `QueueEntry::job`.
    Build,
    /// A Pipeline `node {}` block of run #N of `QueueEntry::job` waiting for an executor:
    /// workflow-durable-task-step's `ExecutorStepExecution.PlaceholderTask`.
    NodeBlock(u64),
    /// Branch indexing of the multibranch project `QueueEntry::job`: cloudbees-folder's
    /// `ComputedFolder` is itself a `Queue.FlyweightTask`, and what runs is a
    /// `FolderComputation` (branch-api's `MultiBranchProject.BranchIndexing`).
    Indexing,
}

/// A left queue item.
#[derive(Debug, Clone)]
pub struct LeftItem {
    /// The item as it was.
    pub entry: QueueEntry,
    /// Cancelled (no build).
    pub cancelled: bool,
    /// The build, once it exists (None first: the left-item race).
    pub build: Option<u64>,
    /// When it left.
    pub left_at: i64,
}

/// A node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Name (`""` for the built-in node).
    pub name: String,
    /// Channel down.
    pub offline: bool,
    /// Marked offline by a user.
    pub temporarily_offline: bool,
    /// Executors.
    pub executors: usize,
    /// Why it is offline (`Computer.getOfflineCause`): `None` for an agent that never
    /// connected; a `ChannelTermination` when its channel closed; a `UserCause` when marked
    /// offline. Its timestamp is when that happened.
    pub offline_cause: Option<(OfflineCause, i64)>,
}

/// hudson.slaves.OfflineCause subclasses the mock produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineCause {
    /// `OfflineCause.ChannelTermination`: the agent's channel closed.
    ChannelTermination,
    /// `OfflineCause.UserCause` ("Mark this node temporarily offline").
    UserCause,
}

/// Configuration of a simulated controller.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `X-Jenkins`; shapes follow it.
    pub version: String,
    /// Users and their API tokens; empty = anonymous access allowed.
    pub users: Vec<(String, String)>,
    /// How long a left item has no executable yet (the race), ms.
    pub left_race_ms: i64,
    /// How long builds stay in post-production, ms.
    pub post_production_ms: i64,
    /// Keep at most this many builds per job (a build discarder); `None` keeps all.
    pub max_builds_per_job: Option<usize>,
    /// Users whose permissions are narrower than "read everything" (a matrix or folder-based
    /// authorization strategy). Users not listed read everything.
    pub access: Vec<Access>,
    /// Served under this context path (`/jenkins`, as with `--prefix` behind a reverse proxy);
    /// empty for `/`.
    pub context_path: String,
    /// The configured Jenkins URL (`JenkinsLocationConfiguration`), which Jenkins writes into
    /// every absolute `url`; `None` = where it listens. Behind a proxy it differs from the URL
    /// a client on the inside polls.
    pub root_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: "2.150.3".into(),
            users: Vec::new(),
            left_race_ms: 0,
            post_production_ms: 0,
            max_builds_per_job: None,
            context_path: String::new(),
            root_url: None,
            access: Vec::new(),
        }
    }
}

/// What one user may read.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The user.
    pub user: String,
    /// Item/Read granted on these folders (and so on everything in them); empty = everywhere.
    pub folders: Vec<String>,
    /// Item/ExtendedRead (`config.xml`).
    pub extended_read: bool,
}

impl Access {
    /// Item/Read on `full_name`: it is one of the folders or inside one.
    pub fn reads(&self, full_name: &str) -> bool {
        self.folders.is_empty()
            || self
                .folders
                .iter()
                .any(|f| full_name == f || full_name.starts_with(&format!("{f}/")))
    }
}

/// A failure to inject.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Requests whose path starts with this (e.g. `/queue/`), `""` for all.
    pub path_prefix: String,
    /// When set, only requests whose query string is exactly this (`""`: none), to tell a
    /// `tree=` read from a full one.
    pub query: Option<String>,
    /// What to do.
    pub kind: FaultKind,
    /// How many requests it hits; `None` = until cleared.
    pub remaining: Option<u32>,
}

/// Kinds of injected failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status with an HTML error page.
    Status(u16),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Wait this long before answering.
    Delay(u64),
    /// Break the connection in the middle of the response.
    Reset,
}

/// Errors of control operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorldError {
    /// No such item.
    #[error("no item named {0}")]
    NoItem(String),
    /// No such build.
    #[error("no build {0} #{1}")]
    NoBuild(String, u64),
    /// No such queue item.
    #[error("no queue item {0}")]
    NoQueueItem(u64),
    /// Item exists.
    #[error("an item named {0} exists already")]
    Exists(String),
    /// The operation does not apply to this kind.
    #[error("{0}")]
    Invalid(String),
}

/// The controller.
#[derive(Debug, Clone)]
pub struct World {
    /// Settings.
    pub settings: Settings,
    /// Parsed version.
    pub version: Version,
    /// Current `X-Jenkins-Session`.
    pub session: String,
    /// Root URL with trailing `/`.
    pub root_url: String,
    /// Items by full name.
    pub items: BTreeMap<String, Item>,
    /// Queue by id.
    pub queue: BTreeMap<u64, QueueEntry>,
    /// Left items by id.
    pub left: BTreeMap<u64, LeftItem>,
    /// Next queue id.
    pub next_queue_id: u64,
    /// Folder computations running (queue id → job, planned end in ms), on one-off executors.
    pub indexing: BTreeMap<u64, (String, i64)>,
    /// Nodes, built-in first.
    pub nodes: Vec<Node>,
    /// Injected faults.
    pub faults: Vec<Fault>,
    /// Jenkins API requests served (not `/mock/`), for measuring a client's cost.
    pub requests: u64,
    /// Response body bytes of those requests, before compression.
    pub response_bytes: u64,
    /// Builds not finalized, by (job, number): what executors show, without scanning jobs.
    pub running: std::collections::BTreeSet<(String, u64)>,
    restarts: u64,
}

/// Options of [`World::enqueue`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Enqueue {
    /// Quiet period override, ms.
    pub quiet_ms: Option<i64>,
    /// Started by this user (a UserIdCause); none = a timer cause.
    pub user: Option<String>,
    /// Parameters.
    #[serde(default)]
    pub params: Vec<(String, String)>,
    /// Start by itself when due and end like this.
    pub plan: Option<Plan>,
}

impl World {
    /// A controller with a built-in node and no jobs.
    pub fn new(settings: Settings) -> World {
        let version = Version::parse(&settings.version);
        let mut world = World {
            version,
            settings,
            session: String::new(),
            root_url: "http://localhost:8080/".into(),
            items: BTreeMap::new(),
            queue: BTreeMap::new(),
            left: BTreeMap::new(),
            next_queue_id: 1,
            indexing: BTreeMap::new(),
            nodes: vec![Node {
                name: String::new(),
                offline: false,
                temporarily_offline: false,
                executors: 2,
                offline_cause: None,
            }],
            faults: Vec::new(),
            requests: 0,
            response_bytes: 0,
            running: Default::default(),
            restarts: 0,
        };
        world.new_session();
        world
    }

    fn new_session(&mut self) {
        // Jenkins: the first 8 hex chars of a digest of version + start time.
        let seed = format!("{}{}{}", self.settings.version, now_ms(), self.restarts);
        let mut h: u32 = 0x811c_9dc5;
        for b in seed.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        self.session = format!("{h:08x}");
    }

    /// The built-in node's display name for this version.
    pub fn built_in_name(&self) -> &'static str {
        if self.version.at_least("2.307") {
            "Built-In Node"
        } else {
            "master"
        }
    }

    /// Creates an item with a default config; parents must be containers (missing ones become
    /// folders).
    pub fn create(&mut self, full_name: &str, kind: Kind) -> Result<(), WorldError> {
        self.create_from_xml(full_name, &default_config(kind, ""))
    }

    /// Creates an item from a config.xml (its root element says the kind).
    pub fn create_from_xml(&mut self, full_name: &str, xml: &str) -> Result<(), WorldError> {
        let config = crate::config::parse(xml).map_err(|e| WorldError::Invalid(e.0))?;
        if full_name.is_empty() || full_name.split('/').any(str::is_empty) {
            return Err(WorldError::Invalid(format!(
                "invalid item name {full_name:?}"
            )));
        }
        if self.items.contains_key(full_name) {
            return Err(WorldError::Exists(full_name.into()));
        }
        if let Some((parent, _)) = split_parent(full_name) {
            match self.items.get(parent) {
                Some(p) if p.kind.is_container() => {}
                Some(p) if p.kind == Kind::Matrix && config.kind == Kind::MatrixConfiguration => {}
                Some(_) => return Err(WorldError::Invalid(format!("{parent} is not a folder"))),
                None => self.create(parent, Kind::Folder)?,
            }
        }
        let name = split_parent(full_name)
            .map_or(full_name, |(_, n)| n)
            .to_string();
        self.items.insert(
            full_name.into(),
            Item {
                full_name: full_name.into(),
                name,
                display_name: config.display_name,
                kind: config.kind,
                description: config.description,
                next_build_number: 1,
                builds: BTreeMap::new(),
                quiet_period_ms: config.quiet_period_ms.unwrap_or(0),
                concurrent: config.concurrent,
                disabled: config.disabled,
                config_xml: xml.to_string(),
                plan: config.plan,
            },
        );
        Ok(())
    }

    /// Replaces a job's config.xml (POST `/job/X/config.xml`); the kind cannot change.
    pub fn reconfigure(&mut self, full_name: &str, xml: &str) -> Result<(), WorldError> {
        let config = crate::config::parse(xml).map_err(|e| WorldError::Invalid(e.0))?;
        let item = self.item_mut(full_name)?;
        if config.kind != item.kind {
            return Err(WorldError::Invalid(
                "config.xml changes the item type".into(),
            ));
        }
        item.display_name = config.display_name;
        item.description = config.description;
        item.quiet_period_ms = config.quiet_period_ms.unwrap_or(0);
        item.concurrent = config.concurrent;
        item.disabled = config.disabled;
        item.plan = config.plan;
        item.config_xml = xml.to_string();
        Ok(())
    }

    /// Deletes an item and everything under it. Its queue items are cancelled first
    /// (`AbstractProject.performDelete` → `Queue.cancel(this)`): they become cancelled left
    /// items.
    pub fn delete(&mut self, full_name: &str) -> Result<(), WorldError> {
        if !self.items.contains_key(full_name) {
            return Err(WorldError::NoItem(full_name.into()));
        }
        let prefix = format!("{full_name}/");
        let under = |job: &str| job == full_name || job.starts_with(&prefix);
        let queued: Vec<u64> = self
            .queue
            .values()
            .filter(|q| under(&q.job))
            .map(|q| q.id)
            .collect();
        for id in queued {
            self.cancel(id)?;
        }
        self.items.retain(|k, _| !under(k));
        self.running.retain(|(job, _)| !under(job));
        Ok(())
    }

    /// Disables a job: `AbstractProject.makeDisabled(true)` (and `ParameterizedJobMixIn`'s
    /// for Pipelines) cancels its queued items.
    pub fn disable(&mut self, full_name: &str) -> Result<(), WorldError> {
        self.item_mut(full_name)?.disabled = true;
        let queued: Vec<u64> = self
            .queue
            .values()
            .filter(|q| q.job == full_name && q.task == QueueTask::Build)
            .map(|q| q.id)
            .collect();
        for id in queued {
            self.cancel(id)?;
        }
        Ok(())
    }

    /// A matrix project with one axis (`MatrixProject.rebuildConfigurations`): a
    /// `MatrixConfiguration` per value, named `axis=value` (`Combination.toString`) and displayed
    /// as the value alone (`Combination.toCompactString`: the values of one axis are unique).
    pub fn create_matrix(
        &mut self,
        full_name: &str,
        axis: &str,
        values: &[&str],
    ) -> Result<(), WorldError> {
        self.create(full_name, Kind::Matrix)?;
        for value in values {
            let name = format!("{full_name}/{axis}={value}");
            self.create(&name, Kind::MatrixConfiguration)?;
            self.item_mut(&name)?.display_name = Some((*value).to_string());
        }
        Ok(())
    }

    /// Renames or moves an item with everything under it, its builds, queue items and running
    /// builds (core `AbstractItem.renameTo`, cloudbees-folder `DefaultRelocationHandler`): the
    /// same objects under a new full name. Jenkins fires only `ItemListener.onRenamed` /
    /// `onLocationChanged` for it.
    pub fn relocate(&mut self, from: &str, to: &str) -> Result<(), WorldError> {
        if self.items.contains_key(to) {
            return Err(WorldError::Invalid(format!("{to} already exists")));
        }
        if let Some((parent, _)) = split_parent(to)
            && !self
                .items
                .get(parent)
                .is_some_and(|p| p.kind.is_container())
        {
            return Err(WorldError::NoItem(parent.into()));
        }
        let prefix = format!("{from}/");
        let moved = |name: &str| -> Option<String> {
            if name == from {
                Some(to.to_string())
            } else {
                name.strip_prefix(&prefix)
                    .map(|rest| format!("{to}/{rest}"))
            }
        };
        let names: Vec<String> = self
            .items
            .keys()
            .filter(|k| moved(k).is_some())
            .cloned()
            .collect();
        if names.is_empty() {
            return Err(WorldError::NoItem(from.into()));
        }
        for old in names {
            let mut item = self.items.remove(&old).expect("listed above");
            item.full_name = moved(&old).expect("listed above");
            item.name = split_parent(&item.full_name)
                .map_or(item.full_name.as_str(), |(_, n)| n)
                .to_string();
            self.items.insert(item.full_name.clone(), item);
        }
        self.running = std::mem::take(&mut self.running)
            .into_iter()
            .map(|(job, n)| (moved(&job).unwrap_or(job), n))
            .collect();
        for q in self
            .queue
            .values_mut()
            .chain(self.left.values_mut().map(|l| &mut l.entry))
        {
            if let Some(new) = moved(&q.job) {
                q.job = new;
            }
        }
        Ok(())
    }

    /// What `user` may read, if it is restricted.
    pub fn access_of(&self, user: Option<&str>) -> Option<&Access> {
        let user = user?;
        self.settings.access.iter().find(|a| a.user == user)
    }

    /// The controller as a restricted user sees it. Jenkins filters at every getter
    /// (`Jenkins.getItems`, `Queue.getItems`, `Executor.getCurrentExecutable` hide what the user
    /// cannot read; `getItemByFullName` answers null, so the URL is a 404): a copy without those
    /// objects shows the same through every read of the API.
    pub fn visible_to(&self, access: &Access) -> World {
        let mut view = self.clone();
        view.items.retain(|name, _| access.reads(name));
        view.queue.retain(|_, q| access.reads(&q.job));
        view.left.retain(|_, l| access.reads(&l.entry.job));
        view.running.retain(|(job, _)| access.reads(job));
        view.indexing.retain(|_, (job, _)| access.reads(job));
        view
    }

    /// An item.
    pub fn item_mut(&mut self, full_name: &str) -> Result<&mut Item, WorldError> {
        self.items
            .get_mut(full_name)
            .ok_or_else(|| WorldError::NoItem(full_name.into()))
    }

    /// Schedules a build: a new queue item in its quiet period. Returns the queue id.
    pub fn enqueue(&mut self, job: &str, opts: Enqueue) -> Result<u64, WorldError> {
        let now = now_ms();
        let item = self.item_mut(job)?;
        // `ComputedFolder.scheduleBuild2` queues an indexing with no quiet period; a plain
        // folder is no `BuildableItem` at all.
        let task = match item.kind {
            Kind::Multibranch => QueueTask::Indexing,
            Kind::Folder => return Err(WorldError::Invalid(format!("{job} is not buildable"))),
            _ if item.disabled => {
                return Err(WorldError::Invalid(format!("{job} is not buildable")));
            }
            _ => QueueTask::Build,
        };
        let quiet = match task {
            QueueTask::Indexing => opts.quiet_ms.unwrap_or(0),
            _ => opts.quiet_ms.unwrap_or(item.quiet_period_ms),
        };
        let causes = vec![match &opts.user {
            Some(user) => serde_json::json!({"_class": "hudson.model.Cause$UserIdCause",
                "shortDescription": format!("Started by user {user}"), "userId": user, "userName": user}),
            None => serde_json::json!({"_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
                "shortDescription": "Started by timer"}),
        }];
        // Queue.schedule2: a task already waiting with the same parameters takes the new
        // trigger in (`CauseAction.foldIntoExisting` adds its causes; `ParametersAction`
        // only schedules anew when the parameters differ). No new item, same id.
        if let Some(existing) = self
            .queue
            .values_mut()
            .find(|q| q.job == job && q.task == task && q.params == opts.params)
        {
            existing.causes.extend(causes);
            return Ok(existing.id);
        }
        let id = self.next_queue_id;
        self.next_queue_id += 1;
        self.queue.insert(
            id,
            QueueEntry {
                id,
                job: job.into(),
                in_queue_since: now,
                due: now + quiet,
                causes,
                params: opts.params,
                plan: opts.plan,
                task,
            },
        );
        Ok(id)
    }

    /// Cancels a queue item.
    pub fn cancel(&mut self, id: u64) -> Result<(), WorldError> {
        let entry = self.queue.remove(&id).ok_or(WorldError::NoQueueItem(id))?;
        self.left.insert(
            id,
            LeftItem {
                entry,
                cancelled: true,
                build: None,
                left_at: now_ms(),
            },
        );
        Ok(())
    }

    /// Starts a queue item's build now. Returns the build number.
    pub fn start(&mut self, id: u64) -> Result<u64, WorldError> {
        let entry = self.queue.remove(&id).ok_or(WorldError::NoQueueItem(id))?;
        let now = now_ms();
        if entry.task == QueueTask::Indexing {
            // A FolderComputation runs on a one-off executor; there is no build and no number.
            let ends = now + entry.plan.as_ref().map_or(0, |p| p.duration_ms);
            self.indexing.insert(id, (entry.job.clone(), ends));
            self.left.insert(
                id,
                LeftItem {
                    entry,
                    cancelled: false,
                    build: None,
                    left_at: now,
                },
            );
            return Ok(0);
        }
        if let QueueTask::NodeBlock(number) = entry.task {
            // A node{} block got an executor: it runs on the built-in node as part of its run.
            self.left.insert(
                id,
                LeftItem {
                    entry,
                    cancelled: false,
                    build: Some(number),
                    left_at: now,
                },
            );
            return Ok(number);
        }
        let job = entry.job.clone();
        // A MatrixRun takes its parent MatrixBuild's number (`MatrixConfiguration
        // .assignBuildNumber`).
        let parent_number = split_parent(&job)
            .and_then(|(parent, _)| self.items.get(parent))
            .filter(|p| p.kind == Kind::Matrix)
            .and_then(|p| p.builds.keys().next_back().copied());
        let item = self.item_mut(&job)?;
        let number = parent_number.unwrap_or(item.next_build_number);
        item.next_build_number = number + 1;
        let kind = item.kind;
        item.builds.insert(
            number,
            Build {
                number,
                queue_id: id,
                timestamp: now,
                duration: 0,
                result: None,
                phase: Phase::Running,
                causes: entry.causes.clone(),
                params: entry.params.clone(),
                plan: entry.plan.clone(),
            },
        );
        self.running.insert((job.clone(), number));
        // The left item exists before the build is attached to it (the race window).
        let build = (self.settings.left_race_ms == 0).then_some(number);
        self.left.insert(
            id,
            LeftItem {
                entry,
                cancelled: false,
                build,
                left_at: now,
            },
        );
        if kind == Kind::Matrix {
            self.schedule_matrix_runs(&job, number)?;
        }
        if kind == Kind::Pipeline {
            // The run's node{} block asks for an executor: a placeholder queue item.
            let pid = self.next_queue_id;
            self.next_queue_id += 1;
            self.queue.insert(
                pid,
                QueueEntry {
                    id: pid,
                    job: job.clone(),
                    in_queue_since: now,
                    // Visible in the queue for a moment, like a real node{} waiting for an executor.
                    due: now + PLACEHOLDER_WAIT_MS,
                    causes: Vec::new(),
                    params: Vec::new(),
                    plan: Some(Plan {
                        duration_ms: 0,
                        result: String::new(),
                    }),
                    task: QueueTask::NodeBlock(number),
                },
            );
        }
        Ok(number)
    }

    /// A matrix project's configurations (`MatrixProject.getItems`).
    pub fn configurations<'w>(&'w self, job: &'w str) -> impl Iterator<Item = &'w Item> + 'w {
        self.items.values().filter(move |i| {
            i.kind == Kind::MatrixConfiguration
                && split_parent(&i.full_name).is_some_and(|(p, _)| p == job)
        })
    }

    /// matrix-project's `DefaultMatrixExecutionStrategyImpl`: the `MatrixBuild` schedules each
    /// configuration (`MatrixConfiguration.scheduleBuild`, quiet period 0, through the queue)
    /// with an `UpstreamCause` naming it.
    fn schedule_matrix_runs(&mut self, job: &str, number: u64) -> Result<(), WorldError> {
        let plan = self
            .items
            .get(job)
            .and_then(|i| i.builds.get(&number))
            .and_then(|b| b.plan.clone());
        let configurations: Vec<String> = self
            .configurations(job)
            .map(|i| i.full_name.clone())
            .collect();
        let upstream = serde_json::json!({"_class": "hudson.model.Cause$UpstreamCause",
            "shortDescription": format!("Started by upstream project \"{job}\" build number {number}"),
            "upstreamBuild": number, "upstreamProject": job,
            "upstreamUrl": format!("job/{}/", job.replace('/', "/job/"))});
        for cfg in configurations {
            let id = self.enqueue(
                &cfg,
                Enqueue {
                    quiet_ms: Some(0),
                    user: None,
                    params: Vec::new(),
                    plan: plan.clone(),
                },
            )?;
            if let Some(q) = self.queue.get_mut(&id) {
                q.causes = vec![upstream.clone()];
            }
        }
        Ok(())
    }

    /// The worst result of a `MatrixBuild`'s runs once all are done (`MatrixBuild` ends with
    /// them); `None` while one is queued or running.
    fn matrix_result(&self, job: &str, number: u64) -> Option<String> {
        const ORDER: [&str; 5] = ["SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED"];
        let under = |name: &str| split_parent(name).is_some_and(|(p, _)| p == job);
        if self.queue.values().any(|q| under(&q.job)) {
            return None;
        }
        let mut worst = 0;
        for item in self.configurations(job) {
            if let Some(run) = item.builds.get(&number) {
                if run.phase != Phase::Done {
                    return None;
                }
                let rank = ORDER
                    .iter()
                    .position(|r| Some(*r) == run.result.as_deref())
                    .unwrap_or(2);
                worst = worst.max(rank);
            }
        }
        Some(ORDER[worst].to_string())
    }

    /// Sets the result; a freestyle build stays on its executor (post-production) until
    /// finalized. A Pipeline has no such window: `WorkflowRun` sets its result when its
    /// execution ends and is then done (`isBuilding()` is `result == null || isInProgress()`).
    pub fn complete(&mut self, job: &str, number: u64, result: &str) -> Result<(), WorldError> {
        let pipeline = self
            .items
            .get(job)
            .is_some_and(|i| i.kind == Kind::Pipeline);
        let now = now_ms();
        let build = self.build_mut(job, number)?;
        build.result = Some(result.into());
        build.duration = (now - build.timestamp).max(1);
        build.phase = Phase::PostProduction;
        if pipeline {
            return self.finish(job, number, result);
        }
        Ok(())
    }

    /// Sets the result (if not yet) and finalizes.
    pub fn finish(&mut self, job: &str, number: u64, result: &str) -> Result<(), WorldError> {
        let build = self.build_mut(job, number)?;
        if build.result.is_none() {
            self.complete(job, number, result)?;
        }
        self.build_mut(job, number)?.phase = Phase::Done;
        self.running.remove(&(job.to_string(), number));
        self.queue
            .retain(|_, q| !(q.job == job && q.task == QueueTask::NodeBlock(number)));
        if let Some(keep) = self.settings.max_builds_per_job {
            let item = self.item_mut(job)?;
            while item.builds.len() > keep {
                match item
                    .builds
                    .iter()
                    .find(|(_, b)| b.phase == Phase::Done)
                    .map(|(n, _)| *n)
                {
                    Some(oldest) => item.builds.remove(&oldest),
                    None => break,
                };
            }
        }
        Ok(())
    }

    /// Aborts a running build (POST `/job/X/N/stop`).
    pub fn stop(&mut self, job: &str, number: u64) -> Result<(), WorldError> {
        match self.build_mut(job, number)?.phase {
            Phase::Done => Ok(()),
            _ => {
                self.build_mut(job, number)?.result = Some("ABORTED".into());
                self.finish(job, number, "ABORTED")
            }
        }
    }

    /// Deletes a build (a discarder, or a user).
    pub fn delete_build(&mut self, job: &str, number: u64) -> Result<(), WorldError> {
        self.running.remove(&(job.to_string(), number));
        self.item_mut(job)?
            .builds
            .remove(&number)
            .map(|_| ())
            .ok_or_else(|| WorldError::NoBuild(job.into(), number))
    }

    fn build_mut(&mut self, job: &str, number: u64) -> Result<&mut Build, WorldError> {
        self.item_mut(job)?
            .builds
            .get_mut(&number)
            .ok_or_else(|| WorldError::NoBuild(job.into(), number))
    }

    /// Adds an agent (or changes its state).
    pub fn set_node(&mut self, name: &str, offline: bool, temporarily_offline: bool) {
        let now = now_ms();
        // Computer.setTemporarilyOffline(true, cause) records a UserCause; a closed channel
        // (SlaveComputer.closeChannel) a ChannelTermination. An agent added and never
        // connected has no cause at all.
        let cause = |was: Option<(OfflineCause, i64)>, known: bool| {
            if temporarily_offline {
                Some((OfflineCause::UserCause, now))
            } else if offline && known {
                match was {
                    Some((OfflineCause::ChannelTermination, t)) => {
                        Some((OfflineCause::ChannelTermination, t))
                    }
                    _ => Some((OfflineCause::ChannelTermination, now)),
                }
            } else {
                None
            }
        };
        match self.nodes.iter_mut().find(|n| n.name == name) {
            Some(node) => {
                let was_online = !node.offline && !node.temporarily_offline;
                let known = was_online || node.offline_cause.is_some();
                node.offline_cause = cause(node.offline_cause, known);
                node.offline = offline;
                node.temporarily_offline = temporarily_offline;
            }
            None => self.nodes.push(Node {
                name: name.into(),
                offline,
                temporarily_offline,
                executors: 1,
                offline_cause: cause(None, false),
            }),
        }
    }

    /// Removes an agent.
    pub fn remove_node(&mut self, name: &str) {
        self.nodes.retain(|n| n.name != name || n.name.is_empty());
    }

    /// A restart: new session, left items forgotten, freestyle builds aborted (pipelines
    /// resume), the queue kept (queue.xml). A freestyle build cut off is loaded back as
    /// `ABORTED` with the duration it had on disk, 0 (`Run.onLoad` of a build that never
    /// reached `onEndBuilding`).
    pub fn restart(&mut self) {
        self.restarts += 1;
        self.new_session();
        self.left.clear();
        self.indexing.clear();
        for item in self.items.values_mut() {
            if item.kind == Kind::Pipeline {
                continue;
            }
            for build in item.builds.values_mut() {
                if build.phase != Phase::Done {
                    build.result.get_or_insert_with(|| "ABORTED".into());
                    if build.phase == Phase::Running {
                        build.duration = 0;
                    }
                    build.phase = Phase::Done;
                    self.running.remove(&(item.full_name.clone(), build.number));
                }
            }
        }
    }

    /// Moves time to `now`: due items start (unless their job is busy and not concurrent),
    /// planned builds end, left items expire.
    pub fn advance(&mut self, now: i64) {
        let race = self.settings.left_race_ms;
        for left in self.left.values_mut() {
            if !left.cancelled
                && left.build.is_none()
                && left.entry.task == QueueTask::Build
                && now - left.left_at >= race
            {
                // Attach the build created at start (its number was recorded on the build).
                left.build = self
                    .items
                    .get(&left.entry.job)
                    .and_then(|i| i.builds.values().find(|b| b.queue_id == left.entry.id))
                    .map(|b| b.number);
            }
        }
        self.left.retain(|_, l| now - l.left_at < LEFT_ITEM_TTL_MS);
        self.indexing.retain(|_, (_, ends)| *ends > now);
        let due: Vec<u64> = self
            .queue
            .values()
            .filter(|q| q.plan.is_some() && q.due <= now && !self.blocked(q))
            .map(|q| q.id)
            .collect();
        for id in due {
            // Queue.maintain asks the dispatchers again for each item: one started a moment
            // ago may block the next (same non-concurrent job, indexing capacity).
            if self.queue.get(&id).is_some_and(|q| !self.blocked(q)) {
                let _ = self.start(id);
            }
        }
        let post = self.settings.post_production_ms;
        let mut ends = Vec::new();
        for (job, number) in &self.running {
            let Some(b) = self.items.get(job).and_then(|i| i.builds.get(number)) else {
                continue;
            };
            let matrix = self.items.get(job).is_some_and(|i| i.kind == Kind::Matrix);
            match (&b.plan, b.phase) {
                (Some(_), Phase::Running) if matrix => {
                    if let Some(result) = self.matrix_result(job, b.number) {
                        ends.push((job.clone(), b.number, result, true));
                    }
                }
                (Some(plan), Phase::Running) if now >= b.timestamp + plan.duration_ms => {
                    ends.push((job.clone(), b.number, plan.result.clone(), post == 0))
                }
                (Some(plan), Phase::PostProduction)
                    if now >= b.timestamp + plan.duration_ms + post =>
                {
                    ends.push((job.clone(), b.number, plan.result.clone(), true))
                }
                _ => {}
            }
        }
        for (job, number, result, finalize) in ends {
            let _ = if finalize {
                self.finish(&job, number, &result)
            } else {
                self.complete(&job, number, &result)
            };
        }
    }

    /// Why a queue item cannot start yet, if it cannot.
    pub fn blocked_reason(&self, q: &QueueEntry) -> Option<String> {
        let item = self.items.get(&q.job)?;
        match q.task {
            QueueTask::NodeBlock(_) => return None,
            // cloudbees-folder's ThrottleComputationQueueTaskDispatcher: at most LIMIT (5)
            // computations at once, the others blocked with its message.
            QueueTask::Indexing => {
                return (self.indexing.len() >= MAX_CONCURRENT_INDEXING)
                    .then(|| "At maximum indexing capacity".to_string());
            }
            QueueTask::Build if item.concurrent => return None,
            QueueTask::Build => {}
        }
        item.running()
            .next()
            .map(|b| format!("Build #{} is already in progress (ETA:N/A)", b.number))
    }

    fn blocked(&self, q: &QueueEntry) -> bool {
        self.blocked_reason(q).is_some()
    }

    /// Takes the fault matching `path`, if any.
    pub fn take_fault(&mut self, path: &str, query: &str) -> Option<FaultKind> {
        let i = self.faults.iter().position(|f| {
            path.starts_with(&f.path_prefix)
                && f.query.as_deref().is_none_or(|q| q == query)
                && f.remaining != Some(0)
        })?;
        let fault = &mut self.faults[i];
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        let kind = fault.kind.clone();
        self.faults.retain(|f| f.remaining != Some(0));
        Some(kind)
    }
}

/// `a/b/c` → (`a/b`, `c`).
pub fn split_parent(full_name: &str) -> Option<(&str, &str)> {
    full_name.rsplit_once('/')
}

/// A config.xml for a kind.
pub fn default_config(kind: Kind, description: &str) -> String {
    let root = match kind {
        Kind::Freestyle => "project",
        Kind::Pipeline => "flow-definition",
        Kind::Folder => "com.cloudbees.hudson.plugins.folder.Folder",
        Kind::Multibranch => {
            "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
        }
        Kind::Matrix => "matrix-project",
        Kind::MatrixConfiguration => "matrix-config",
    };
    format!(
        "<?xml version='1.1' encoding='UTF-8'?>\n<{root}>\n  <description>{description}</description>\n</{root}>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_items_are_kept_five_minutes_then_forgotten() {
        let mut w = World::new(Settings::default());
        w.create("app", Kind::Freestyle).unwrap();
        let id = w.enqueue("app", Enqueue::default()).unwrap();
        w.cancel(id).unwrap();
        let left_at = w.left[&id].left_at;
        w.advance(left_at + LEFT_ITEM_TTL_MS - 1);
        assert!(w.left.contains_key(&id));
        w.advance(left_at + LEFT_ITEM_TTL_MS);
        assert!(!w.left.contains_key(&id));
    }

    #[test]
    fn the_left_item_race_attaches_the_build_only_after_the_window() {
        let mut w = World::new(Settings {
            left_race_ms: 500,
            ..Settings::default()
        });
        w.create("app", Kind::Freestyle).unwrap();
        let id = w.enqueue("app", Enqueue::default()).unwrap();
        let n = w.start(id).unwrap();
        assert_eq!(
            w.left[&id].build, None,
            "cancelled:false, executable:null at first"
        );
        let t = w.left[&id].left_at;
        w.advance(t + 500);
        assert_eq!(w.left[&id].build, Some(n));
    }

    #[test]
    fn non_concurrent_jobs_block_and_retention_discards_old_builds() {
        let mut w = World::new(Settings {
            max_builds_per_job: Some(2),
            ..Settings::default()
        });
        w.create("app", Kind::Freestyle).unwrap();
        let first = w.enqueue("app", Enqueue::default()).unwrap();
        w.start(first).unwrap();
        let second = w.enqueue("app", Enqueue::default()).unwrap();
        assert!(
            w.blocked_reason(&w.queue[&second])
                .unwrap()
                .contains("already in progress")
        );
        w.finish("app", 1, "SUCCESS").unwrap();
        for _ in 0..3 {
            let id = w.enqueue("app", Enqueue::default()).unwrap();
            let n = w.start(id).unwrap();
            w.finish("app", n, "SUCCESS").unwrap();
        }
        assert_eq!(
            w.items["app"].builds.keys().copied().collect::<Vec<_>>(),
            [3, 4]
        );
        assert!(w.running.is_empty());
    }

    #[test]
    fn a_second_trigger_folds_into_the_queued_item_unless_its_parameters_differ() {
        let mut w = World::new(Settings::default());
        w.create("app", Kind::Freestyle).unwrap();
        let quiet = |params: Vec<(String, String)>| Enqueue {
            quiet_ms: Some(60_000),
            params,
            ..Enqueue::default()
        };
        let first = w.enqueue("app", quiet(vec![])).unwrap();
        assert_eq!(w.enqueue("app", quiet(vec![])).unwrap(), first);
        assert_eq!(w.queue[&first].causes.len(), 2, "causes folded in");
        let other = w
            .enqueue("app", quiet(vec![("A".into(), "1".into())]))
            .unwrap();
        assert_ne!(other, first);
    }

    #[test]
    fn disabling_or_deleting_a_job_cancels_its_queued_items() {
        let mut w = World::new(Settings::default());
        w.create("a", Kind::Freestyle).unwrap();
        w.create("f", Kind::Folder).unwrap();
        w.create("f/b", Kind::Pipeline).unwrap();
        let slow = Enqueue {
            quiet_ms: Some(60_000),
            ..Enqueue::default()
        };
        let a = w.enqueue("a", slow.clone()).unwrap();
        let b = w.enqueue("f/b", slow).unwrap();
        w.disable("a").unwrap();
        w.delete("f").unwrap();
        assert!(w.queue.is_empty());
        assert!(w.left[&a].cancelled && w.left[&b].cancelled);
    }

    #[test]
    fn a_restart_aborts_running_freestyle_builds_with_duration_zero() {
        let mut w = World::new(Settings::default());
        w.create("app", Kind::Freestyle).unwrap();
        let id = w.enqueue("app", Enqueue::default()).unwrap();
        let n = w.start(id).unwrap();
        w.restart();
        let b = &w.items["app"].builds[&n];
        assert_eq!(
            (b.result.as_deref(), b.duration, b.phase),
            (Some("ABORTED"), 0, Phase::Done)
        );
    }

    #[test]
    fn a_pipeline_has_no_post_production_window() {
        let mut w = World::new(Settings::default());
        w.create("pipe", Kind::Pipeline).unwrap();
        let id = w.enqueue("pipe", Enqueue::default()).unwrap();
        let n = w.start(id).unwrap();
        w.complete("pipe", n, "SUCCESS").unwrap();
        assert_eq!(w.items["pipe"].builds[&n].phase, Phase::Done);
        assert!(w.running.is_empty());
    }

    #[test]
    fn offline_causes_are_null_until_connected_then_channel_termination_or_user_cause() {
        let mut w = World::new(Settings::default());
        w.set_node("fresh", true, false);
        assert_eq!(w.nodes[1].offline_cause, None, "never connected");
        w.set_node("fresh", false, false);
        w.set_node("fresh", true, false);
        let (cause, at) = w.nodes[1].offline_cause.expect("a cause");
        assert_eq!(cause, OfflineCause::ChannelTermination);
        w.set_node("fresh", true, false);
        assert_eq!(
            w.nodes[1].offline_cause.map(|c| c.1),
            Some(at),
            "the time it went down"
        );
        w.set_node("fresh", false, true);
        assert_eq!(
            w.nodes[1].offline_cause.map(|c| c.0),
            Some(OfflineCause::UserCause)
        );
    }
}
