//! The JSON Jenkins would serve for each object, rendered only as far as `tree=`/`depth=` ask.
//!
//! Shapes follow `tests/fixtures/jenkins/` and the configured version: `_class` from 2.2 and
//! only where the runtime class differs from the declared one, `inProgress` on builds from
//! 2.369, the built-in node's name from 2.307.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::tree::{Malformed, Sel, apply_range};
use crate::world::{Build, Item, Kind, LeftItem, Phase, QueueEntry, QueueTask, World};

/// Characters Jenkins' `Util.rawEncode` leaves as they are in a URL path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b'@')
    .remove(b':');

type R = Result<Value, Malformed>;

/// Builds a JSON object property by property, asking the selection first.
struct Obj<'s> {
    map: Map<String, Value>,
    sel: Sel<'s>,
}

impl<'s> Obj<'s> {
    fn new(sel: Sel<'s>, class: Option<&str>, world: &World) -> Obj<'s> {
        let mut map = Map::new();
        if let Some(class) = class.filter(|_| world.version.at_least("2.2")) {
            map.insert("_class".into(), class.into());
        }
        Obj { map, sel }
    }

    /// A scalar; `stub` = part of the depth-0 view of a nested object.
    fn put(&mut self, key: &str, stub: bool, value: impl FnOnce() -> Value) -> &mut Self {
        if self.sel.wants(key, stub) {
            self.map.insert(key.into(), value());
        }
        self
    }

    /// A nested object (or null).
    fn nested(
        &mut self,
        key: &str,
        stub: bool,
        f: impl FnOnce(Sel<'s>) -> R,
    ) -> Result<&mut Self, Malformed> {
        if let Some(child) = self.sel.child(key, stub) {
            self.map.insert(key.into(), f(child)?);
        }
        Ok(self)
    }

    /// A list Jenkins exports `inline`: its elements are rendered at the parent's depth.
    fn inline_list<T>(
        &mut self,
        key: &str,
        items: impl FnOnce() -> Vec<T>,
        f: impl Fn(Sel<'s>, T) -> R,
    ) -> Result<&mut Self, Malformed> {
        if let Sel::Depth(_) = self.sel {
            let values = items()
                .into_iter()
                .map(|i| f(self.sel, i))
                .collect::<Result<Vec<_>, _>>()?;
            self.map.insert(key.into(), Value::Array(values));
            return Ok(self);
        }
        self.list(key, false, items, f)
    }

    /// A list of nested objects, with the `{M,N}` range applied.
    fn list<T>(
        &mut self,
        key: &str,
        stub: bool,
        items: impl FnOnce() -> Vec<T>,
        f: impl Fn(Sel<'s>, T) -> R,
    ) -> Result<&mut Self, Malformed> {
        if let Some(child) = self.sel.child(key, stub) {
            let items = apply_range(items(), self.sel.range(key))?;
            let values = items
                .into_iter()
                .map(|i| f(child, i))
                .collect::<Result<Vec<_>, _>>()?;
            self.map.insert(key.into(), Value::Array(values));
        }
        Ok(self)
    }

    fn done(&mut self) -> R {
        Ok(Value::Object(std::mem::take(&mut self.map)))
    }
}

/// The absolute URL of an item.
pub fn item_url(world: &World, full_name: &str) -> String {
    let mut url = world.root_url.clone();
    let mut name = String::new();
    for part in full_name.split('/') {
        // A matrix configuration hangs off its project without `job/` (`job/m/label=linux/`):
        // MatrixProject.getDynamic resolves it by name.
        let in_matrix = world
            .items
            .get(&name)
            .is_some_and(|i| i.kind == Kind::Matrix);
        if !in_matrix {
            url.push_str("job/");
        }
        url.extend(utf8_percent_encode(part, SEGMENT));
        url.push('/');
        if !name.is_empty() {
            name.push('/');
        }
        name.push_str(part);
    }
    url
}

fn color(item: &Item) -> String {
    if item.disabled {
        return "disabled".into();
    }
    let last_done = item.builds.values().rev().find(|b| b.result.is_some());
    let base = match last_done.and_then(|b| b.result.as_deref()) {
        None => "notbuilt",
        Some("SUCCESS") => "blue",
        Some("UNSTABLE") => "yellow",
        Some("FAILURE") => "red",
        Some("ABORTED") => "aborted",
        Some(_) => "grey",
    };
    if item.running().next().is_some() {
        format!("{base}_anime")
    } else {
        base.into()
    }
}

/// `/api/json` of the root.
pub fn root(world: &World, sel: Sel) -> R {
    Obj::new(sel, Some("hudson.model.Hudson"), world)
        .put("mode", false, || "NORMAL".into())
        .put("nodeDescription", false, || {
            format!(
                "the {} Jenkins node",
                if world.version.at_least("2.307") {
                    "built-in"
                } else {
                    "master"
                }
            )
            .into()
        })
        .put("nodeName", false, || "".into())
        .put("numExecutors", false, || world.nodes[0].executors.into())
        .put("description", false, || Value::Null)
        .list(
            "jobs",
            true,
            || children(world, ""),
            |s, i| item(world, i, s),
        )?
        .put("quietingDown", false, || false.into())
        .put("url", false, || world.root_url.clone().into())
        .put("useCrumbs", false, || true.into())
        .put("useSecurity", false, || true.into())
        .done()
}

/// Direct children of a container (`""` = the root), sorted by name. A range of the sorted
/// item map (`parent/` up to `parent0`, `0` being the character after `/`), so a scan of a big
/// tree costs its size times its depth, not its size squared.
pub fn children<'w>(world: &'w World, parent: &str) -> Vec<&'w Item> {
    if parent.is_empty() {
        return world
            .items
            .values()
            .filter(|i| !i.full_name.contains('/'))
            .collect();
    }
    let (from, to) = (format!("{parent}/"), format!("{parent}0"));
    world
        .items
        .range(from.clone()..to)
        .filter(|(name, _)| !name[from.len()..].contains('/'))
        .map(|(_, item)| item)
        .collect()
}

/// A job or container.
pub fn item(world: &World, item: &Item, sel: Sel) -> R {
    let url = item_url(world, &item.full_name);
    let mut o = Obj::new(sel, Some(item.kind.class()), world);
    o.put("description", false, || item.description.clone().into())
        .put("displayName", false, || item.display().into())
        .put("displayNameOrNull", false, || {
            item.display_name.clone().into()
        })
        .put("fullDisplayName", false, || {
            full_display_name(world, item).into()
        })
        .put("fullName", false, || item.full_name.clone().into())
        .put("name", true, || item.name.clone().into())
        .put("url", true, || url.clone().into());
    if item.kind.is_container() {
        o.list(
            "jobs",
            true,
            || children(world, &item.full_name),
            |s, i| self::item(world, i, s),
        )?;
        return o.done();
    }
    let builds: Vec<&Build> = item.builds.values().rev().collect();
    let last = builds.first().copied();
    let last_completed = builds.iter().copied().find(|b| b.phase == Phase::Done);
    o.put("buildable", false, || (!item.disabled).into())
        .list(
            "builds",
            false,
            || builds.iter().take(100).copied().collect(),
            |s, b| build(world, item, b, s),
        )?
        .put("color", true, || color(item).into())
        .nested("firstBuild", false, |s| {
            opt_build(world, item, item.builds.values().next(), s)
        })?
        .put("inQueue", false, || {
            world.queue.values().any(|q| q.job == item.full_name).into()
        })
        .put("keepDependencies", false, || false.into())
        .nested("lastBuild", false, |s| opt_build(world, item, last, s))?
        .nested("lastCompletedBuild", false, |s| {
            opt_build(world, item, last_completed, s)
        })?
        .put("nextBuildNumber", false, || item.next_build_number.into())
        .put("concurrentBuild", false, || item.concurrent.into());
    if item.kind == Kind::Matrix {
        // MatrixProject exports its configurations here, never under `jobs`.
        o.list(
            "activeConfigurations",
            false,
            || world.configurations(&item.full_name).collect(),
            |s, i| self::item(world, i, s),
        )?;
    }
    o.done()
}

fn full_display_name(world: &World, item: &Item) -> String {
    let mut names = Vec::new();
    let mut name = item.full_name.as_str();
    loop {
        names.push(
            world
                .items
                .get(name)
                .map_or_else(|| name.to_string(), Item::display),
        );
        match crate::world::split_parent(name) {
            Some((parent, _)) => name = parent,
            None => break,
        }
    }
    names.reverse();
    names.join(" » ")
}

fn opt_build(world: &World, item: &Item, b: Option<&Build>, sel: Sel) -> R {
    match b {
        Some(b) => build(world, item, b, sel),
        None => Ok(Value::Null),
    }
}

/// A build.
pub fn build(world: &World, item: &Item, b: &Build, sel: Sel) -> R {
    let url = format!("{}{}/", item_url(world, &item.full_name), b.number);
    let pipeline = item.kind == Kind::Pipeline;
    let mut o = Obj::new(sel, Some(item.kind.build_class()), world);
    o.list("actions", false, || build_actions(b), |s, a| action(a, s))?
        .put("building", false, || (b.phase == Phase::Running).into())
        .put("description", false, || Value::Null)
        .put("displayName", false, || format!("#{}", b.number).into())
        .put("duration", false, || b.duration.into())
        .put("estimatedDuration", false, || {
            b.plan.as_ref().map_or(-1, |p| p.duration_ms).into()
        })
        .nested("executor", false, |s| {
            if b.phase == Phase::Done {
                return Ok(Value::Null);
            }
            let class = pipeline.then_some("hudson.model.OneOffExecutor");
            Obj::new(s, class, world)
                .put("number", false, || {
                    if pipeline { (-1).into() } else { 0.into() }
                })
                .put("idle", false, || false.into())
                .done()
        })?
        .put("fullDisplayName", false, || {
            format!("{} #{}", full_display_name(world, item), b.number).into()
        })
        .put("id", false, || b.number.to_string().into())
        .put("keepLog", false, || false.into())
        .put("number", true, || b.number.into())
        .put("queueId", false, || b.queue_id.into())
        .put("result", false, || b.result.clone().into())
        .put("timestamp", false, || b.timestamp.into())
        .put("url", true, || url.clone().into());
    // workflow-job has exported WorkflowRun.isInProgress since its first release (2014);
    // core exports Run.isInProgress for other builds from 2.369.
    if pipeline || world.version.at_least("2.369") {
        o.put("inProgress", false, || (b.phase != Phase::Done).into());
    }
    if pipeline {
        let link = |n: Option<&Build>| {
            n.map_or(Value::Null, |b| json!({"number": b.number, "url": format!("{}{}/", item_url(world, &item.full_name), b.number)}))
        };
        o.put("changeSets", false, || json!([]))
            .put("previousBuild", false, || {
                link(item.builds.range(..b.number).next_back().map(|(_, b)| b))
            })
            .put("nextBuild", false, || {
                link(item.builds.range(b.number + 1..).next().map(|(_, b)| b))
            });
    } else {
        o.put("builtOn", false, || "".into()).put(
            "changeSet",
            false,
            || json!({"_class": "hudson.scm.EmptyChangeLogSet", "items": [], "kind": null}),
        );
    }
    o.put("culprits", false, || json!([]));
    if item.kind == Kind::Matrix {
        // MatrixBuild.getRuns: the run of each configuration with this number.
        let runs: Vec<Value> = world
            .configurations(&item.full_name)
            .filter(|i| i.builds.contains_key(&b.number))
            .map(|i| {
                json!({"_class": Kind::MatrixConfiguration.build_class(), "number": b.number,
                            "url": format!("{}{}/", item_url(world, &i.full_name), b.number)})
            })
            .collect();
        o.put("runs", false, || runs.into());
    }
    o.done()
}

/// Cause and parameter actions as plain JSON, then pruned like any object.
fn build_actions(b: &Build) -> Vec<Value> {
    actions(&b.causes, &b.params)
}

fn actions(causes: &[Value], params: &[(String, String)]) -> Vec<Value> {
    let mut out = Vec::new();
    if !params.is_empty() {
        let params: Vec<Value> = params
            .iter()
            .map(|(k, v)| json!({"_class": "hudson.model.StringParameterValue", "name": k, "value": v}))
            .collect();
        out.push(json!({"_class": "hudson.model.ParametersAction", "parameters": params}));
    }
    out.push(json!({"_class": "hudson.model.CauseAction", "causes": causes}));
    out.push(json!({}));
    out
}

/// Prunes a plain JSON value with a selection (for action and cause objects).
fn action(value: Value, sel: Sel) -> R {
    // Actions export their causes and parameters at every depth.
    Ok(match sel {
        Sel::Tree(_) => prune(value, sel),
        _ => value,
    })
}

fn prune(value: Value, sel: Sel) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k == "_class" {
                    out.insert(k, v);
                } else if v.is_object() || v.is_array() {
                    if let Some(child) = sel.child(&k, false) {
                        out.insert(k, prune(v, child));
                    }
                } else if sel.wants(&k, false) {
                    out.insert(k, v);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| prune(v, sel)).collect()),
        other => other,
    }
}

/// workflow-durable-task-step's `ExecutorStepExecution.PlaceholderTask`.
const PLACEHOLDER_TASK: &str =
    "org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask";

/// What a multibranch project's indexing runs: branch-api's `MultiBranchProject.BranchIndexing`,
/// a cloudbees-folder `FolderComputation`. It is an `Actionable` bean: it exports no `url` and no
/// `number`.
const BRANCH_INDEXING: &str = "jenkins.branch.MultiBranchProject$BranchIndexing";

/// The task of a queue item.
fn task(world: &World, q: &QueueEntry, sel: Sel) -> R {
    if let QueueTask::NodeBlock(number) = q.task {
        // ExecutorStepExecution.PlaceholderTask exports `name` (= its display name, "part of
        // <run full display name>") and `url`, the run's *relative* URL (`Run.getUrl()`); its
        // `getDisplayName()` is not exported.
        let Some(i) = world.items.get(&q.job) else {
            return Ok(Value::Null);
        };
        let run = format!("{} #{number}", full_display_name(world, i));
        let url = relative_url(world, &format!("{}{number}/", item_url(world, &q.job)));
        return Obj::new(sel, Some(PLACEHOLDER_TASK), world)
            .put("name", true, || format!("part of {run}").into())
            .put("url", true, || url.clone().into())
            .done();
    }
    match world.items.get(&q.job) {
        Some(i) => {
            let url = item_url(world, &i.full_name);
            Obj::new(sel, Some(i.kind.class()), world)
                .put("name", true, || i.name.clone().into())
                .put("displayName", false, || i.display().into())
                .put("url", true, || url.clone().into())
                .put("color", true, || color(i).into())
                .done()
        }
        None => Ok(Value::Null),
    }
}

/// A live or left queue item.
pub fn queue_item(world: &World, q: &QueueEntry, left: Option<&LeftItem>, sel: Sel) -> R {
    let now = crate::world::now_ms();
    let waiting = left.is_none() && q.due > now;
    let blocked = left.is_none() && !waiting && world.blocked_reason(q).is_some();
    let class = match (left, waiting, blocked) {
        (Some(_), _, _) => "hudson.model.Queue$LeftItem",
        (None, true, _) => "hudson.model.Queue$WaitingItem",
        (None, false, true) => "hudson.model.Queue$BlockedItem",
        _ => "hudson.model.Queue$BuildableItem",
    };
    let why = if left.is_some() {
        None
    } else if waiting {
        Some(format!(
            "In the quiet period. Expires in {}",
            seconds(q.due - now)
        ))
    } else {
        world
            .blocked_reason(q)
            .or(Some("Waiting for next available executor".into()))
    };
    let mut o = Obj::new(sel, Some(class), world);
    o.list(
        "actions",
        false,
        || actions(&q.causes, &q.params),
        |s, a| action(a, s),
    )?
    .put("blocked", false, || blocked.into())
    .put("buildable", false, || {
        (left.is_none() && !waiting && !blocked).into()
    })
    .put("id", false, || q.id.into())
    .put("inQueueSince", false, || q.in_queue_since.into())
    .put("params", false, || {
        q.params
            .iter()
            .map(|(k, v)| format!("\n{k}={v}"))
            .collect::<String>()
            .into()
    })
    .put("stuck", false, || false.into())
    .nested("task", false, |s| task(world, q, s))?
    .put("url", false, || format!("queue/item/{}/", q.id).into())
    .put("why", false, || why.clone().into());
    match left {
        Some(l) => {
            o.put("cancelled", false, || l.cancelled.into());
            o.nested("executable", false, |s| {
                match (l.build, world.items.get(&l.entry.job)) {
                    (Some(n), Some(i)) => match (l.entry.task, i.builds.get(&n)) {
                        (QueueTask::NodeBlock(_), Some(_)) => {
                            placeholder_executable(world, i, n, s)
                        }
                        (_, Some(b)) => build(world, i, b, s),
                        (_, None) => Ok(Value::Null),
                    },
                    (None, _) if l.entry.task == QueueTask::Indexing && !l.cancelled => {
                        Obj::new(s, Some(BRANCH_INDEXING), world).done()
                    }
                    _ => Ok(Value::Null),
                }
            })?;
        }
        None if waiting => {
            o.put("timestamp", false, || q.due.into());
        }
        None => {
            o.put("buildableStartMilliseconds", false, || q.due.into());
            if !blocked {
                o.put("pending", false, || false.into());
            }
        }
    }
    o.done()
}

fn seconds(ms: i64) -> String {
    let ms = ms.max(0);
    if ms >= 10_000 {
        format!("{} sec", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1} sec", (ms / 100) as f64 / 10.0)
    } else {
        format!("{ms} ms")
    }
}

/// `/queue/api/json`.
pub fn queue(world: &World, sel: Sel) -> R {
    Obj::new(sel, Some("hudson.model.Queue"), world)
        .put("discoverableItems", false, || json!([]))
        .inline_list(
            "items",
            || world.queue.values().collect(),
            |s, q| queue_item(world, q, None, s),
        )?
        .done()
}

/// `/computer/api/json`.
pub fn computers(world: &World, sel: Sel) -> R {
    let busy = world.running.len();
    Obj::new(sel, Some("hudson.model.ComputerSet"), world)
        .put("busyExecutors", false, || busy.into())
        .inline_list(
            "computer",
            || world.nodes.iter().collect(),
            |s, n| computer(world, n, s),
        )?
        .put("displayName", false, || "Nodes".into())
        .put("totalExecutors", false, || {
            world
                .nodes
                .iter()
                .map(|n| n.executors)
                .sum::<usize>()
                .into()
        })
        .done()
}

/// One node's computer.
pub fn computer(world: &World, node: &crate::world::Node, sel: Sel) -> R {
    let built_in = node.name.is_empty();
    let class = if built_in {
        "hudson.model.Hudson$MasterComputer"
    } else {
        "hudson.slaves.SlaveComputer"
    };
    // Freestyle builds and node{} placeholders take regular executors of the built-in node;
    // pipeline runs sit on one-off executors.
    let mut regular: Vec<Value> = Vec::new();
    let mut one_off: Vec<Value> = Vec::new();
    if built_in {
        for (job, number) in &world.running {
            let Some(item) = world.items.get(job) else {
                continue;
            };
            if item.kind == Kind::Matrix {
                // A MatrixBuild is a FlyweightTask: it waits for its runs on a one-off executor.
                one_off.push(json!({"build": [job, number]}));
            } else if item.kind == Kind::Pipeline {
                one_off.push(json!({"build": [job, number]}));
                if world
                    .left
                    .values()
                    .any(|l| l.entry.job == *job && l.entry.task == QueueTask::NodeBlock(*number))
                {
                    regular.push(json!({"placeholder": [job, number]}));
                }
            } else {
                regular.push(json!({"build": [job, number]}));
            }
        }
        // Queue.FlyweightTask: folder computations run on one-off executors.
        for (job, _) in world.indexing.values() {
            one_off.push(json!({"indexing": [job, 0]}));
        }
    }
    let executors = node.executors.max(regular.len());
    let slots: Vec<Option<Value>> = (0..executors).map(|i| regular.get(i).cloned()).collect();
    let offline = node.offline || node.temporarily_offline;
    let mut o = Obj::new(sel, Some(class), world);
    o.put("displayName", true, || {
        if built_in {
            world.built_in_name().into()
        } else {
            node.name.clone().into()
        }
    })
    .list(
        "executors",
        false,
        || {
            slots
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, slot)| (i as i64, slot))
                .collect()
        },
        |s, (i, slot)| executor(world, i, slot, false, s),
    )?
    .put("idle", false, || slots.iter().all(Option::is_none).into())
    .put("numExecutors", false, || node.executors.into())
    .put("offline", false, || offline.into())
    .nested("offlineCause", false, |s| {
        use crate::world::OfflineCause;
        // OfflineCause exports `timestamp`; a SimpleOfflineCause (UserCause) also its
        // `description`; ChannelTermination nothing more (its `cause` is not exported).
        match node.offline_cause.filter(|_| offline) {
            None => Ok(Value::Null),
            Some((OfflineCause::ChannelTermination, at)) => Obj::new(
                s,
                Some("hudson.slaves.OfflineCause$ChannelTermination"),
                world,
            )
            .put("timestamp", false, || at.into())
            .done(),
            Some((OfflineCause::UserCause, at)) => {
                Obj::new(s, Some("hudson.slaves.OfflineCause$UserCause"), world)
                    .put("description", false, || "Disconnected by admin".into())
                    .put("timestamp", false, || at.into())
                    .done()
            }
        }
    })?
    // Computer.getOfflineCauseReason: the cause's toString with "Disconnected by …" removed.
    .put("offlineCauseReason", false, || {
        use crate::world::OfflineCause;
        match node.offline_cause.filter(|_| offline) {
            Some((OfflineCause::ChannelTermination, _)) => "Connection was broken".into(),
            _ => "".into(),
        }
    })
    .list(
        "oneOffExecutors",
        false,
        || {
            one_off
                .clone()
                .into_iter()
                .map(|slot| (-1, Some(slot)))
                .collect()
        },
        |s, (i, slot)| executor(world, i, slot, true, s),
    )?
    .put("temporarilyOffline", false, || {
        node.temporarily_offline.into()
    });
    o.done()
}

fn executor(world: &World, number: i64, slot: Option<Value>, one_off: bool, sel: Sel) -> R {
    let class = one_off.then_some("hudson.model.OneOffExecutor");
    let idle = slot.is_none();
    Obj::new(sel, class, world)
        .nested("currentExecutable", false, |s| {
            let Some(slot) = &slot else {
                return Ok(Value::Null);
            };
            let (key, target) = slot
                .as_object()
                .and_then(|m| m.iter().next())
                .expect("slot is a one-key object");
            let job = target[0].as_str().unwrap_or_default();
            let number = target[1].as_u64().unwrap_or_default();
            if key == "indexing" {
                return Obj::new(s, Some(BRANCH_INDEXING), world).done();
            }
            let Some(item) = world.items.get(job) else {
                return Ok(Value::Null);
            };
            let Some(b) = item.builds.get(&number) else {
                return Ok(Value::Null);
            };
            if key == "placeholder" {
                return placeholder_executable(world, item, number, s);
            }
            build(world, item, b, s)
        })?
        .put("idle", false, || idle.into())
        .put("likelyStuck", false, || false.into())
        .put("number", false, || number.into())
        .put("progress", false, || {
            if idle { (-1).into() } else { 50.into() }
        })
        .done()
}

/// `ExecutorStepExecution.PlaceholderTask.PlaceholderExecutable`: the run's `number` and, as
/// `url`, its absolute URL (`getAbsoluteUrl`, exported under that name).
fn placeholder_executable(world: &World, item: &Item, number: u64, sel: Sel) -> R {
    let url = format!("{}{number}/", item_url(world, &item.full_name));
    Obj::new(
        sel,
        Some(&format!("{PLACEHOLDER_TASK}$PlaceholderExecutable")),
        world,
    )
    .put("displayName", false, || {
        format!("part of {} #{number}", full_display_name(world, item)).into()
    })
    .put("number", true, || number.into())
    .put("url", true, || url.clone().into())
    .done()
}

/// A URL relative to the root URL, as `Item.getUrl()` and `Run.getUrl()` give it.
fn relative_url(world: &World, absolute: &str) -> String {
    absolute
        .strip_prefix(&world.root_url)
        .unwrap_or(absolute)
        .to_string()
}

/// `/whoAmI/api/json`.
pub fn who_am_i(world: &World, user: Option<&str>, sel: Sel) -> R {
    let name = user.unwrap_or("anonymous");
    Obj::new(sel, Some("hudson.security.WhoAmI"), world)
        .put("anonymous", false, || user.is_none().into())
        .put("authenticated", false, || true.into())
        .put("authorities", false, || {
            if user.is_some() {
                json!(["authenticated"])
            } else {
                json!([])
            }
        })
        .put("details", false, || Value::Null)
        .put("name", false, || name.into())
        .put("toString", false, || format!("Principal: {name}").into())
        .done()
}

/// `/me/api/json`: the authenticated user.
pub fn user(world: &World, user: &str, sel: Sel) -> R {
    let url = format!("{}user/{user}/", world.root_url);
    Obj::new(sel, Some("hudson.model.User"), world)
        .put("absoluteUrl", false, || url.clone().into())
        .put("description", false, || Value::Null)
        .put("fullName", true, || user.into())
        .put("id", false, || user.into())
        .put("property", false, || json!([]))
        .done()
}

/// `/job/X/N/wfapi/describe` for a pipeline run.
pub fn describe(item: &Item, b: &Build) -> Value {
    let status = match (b.phase, b.result.as_deref()) {
        (Phase::Running, _) => "IN_PROGRESS",
        (_, Some("SUCCESS")) => "SUCCESS",
        (_, Some("UNSTABLE")) => "UNSTABLE",
        (_, Some("ABORTED")) => "ABORTED",
        (_, Some("NOT_BUILT")) => "NOT_EXECUTED",
        _ => "FAILED",
    };
    let end = b.timestamp + b.duration;
    json!({
        "_links": {"self": {"href": format!("/job/{}/{}/wfapi/describe", item.full_name, b.number)}},
        "id": b.number.to_string(), "name": format!("#{}", b.number), "status": status,
        "startTimeMillis": b.timestamp, "endTimeMillis": end, "durationMillis": b.duration,
        "queueDurationMillis": 0, "pauseDurationMillis": 0,
        "stages": stages(b, status)
    })
}

/// Two stages splitting the run: Build, then Test (which carries the run's status). While the
/// run is running only Build has started.
fn stages(b: &Build, status: &str) -> Value {
    if b.phase == Phase::Running {
        return json!([{"id": "6", "name": "Build", "execNode": "", "status": "IN_PROGRESS",
                       "startTimeMillis": b.timestamp, "durationMillis": 0, "pauseDurationMillis": 0}]);
    }
    json!([{"id": "6", "name": "Build", "execNode": "", "status": "SUCCESS",
            "startTimeMillis": b.timestamp, "durationMillis": b.duration / 2, "pauseDurationMillis": 0},
           {"id": "12", "name": "Test", "execNode": "", "status": status,
            "startTimeMillis": b.timestamp + b.duration / 2, "durationMillis": b.duration - b.duration / 2,
            "pauseDurationMillis": 0}])
}
