//! Changes in KubeSphere's dialect: the envelope of jenkinsci/generic-event-plugin, which
//! ks-devops reads to turn builds started inside Jenkins into PipelineRuns. Not CloudEvents:
//! a JSON object with `type`, `source`, `url`, `id`, `time`, `dataType`, `data`, `metaData`
//! and `urlData`, sent as `application/json` with `X-Event-Type` and `Referrer` headers.
//!
//! | Jenkins (as polled) | type |
//! |---|---|
//! | a build starts | `run.initialize`, then `run.started` |
//! | it completes | `run.completed` |
//! | it is finalized (off its executor) | `run.finalized` |
//! | a job appears in the scan | `item.created` |
//! | a freestyle-type job's name, description or flags change | `item.updated` |
//! | a job is no longer listed | `item.deleted` |
//! | a build followed since its start answers 404 | `run.deleted` |
//!
//! A run's `data` is the build's own `api/json` without any `url` key; a Pipeline run becomes
//! `WorkflowRunData` with `_parentFullName`, `_projectName` and `_multiBranch`, as the plugin's
//! transformer does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jenkins::path::full_name;
use crate::watch::stages::WORKFLOW_JOB;
use crate::watch::{Change, ItemKind, Phase};

/// The class ks-devops acts on.
pub const WORKFLOW_RUN: &str = "org.jenkinsci.plugins.workflow.job.WorkflowRun";
/// What the plugin's transformer turns a WorkflowRun's `_class` into.
const WORKFLOW_RUN_DATA: &str = "io.jenkins.plugins.generic.event.data.WorkflowRunData";
/// The type ks-devops creates a PipelineRun from (a copy is sent only when ks-devops's look-up
/// would find the first one's PipelineRun: `sink::LOOKUP_WAIT`).
pub const RUN_INITIALIZE: &str = "run.initialize";

/// The wire envelope. Field order follows the plugin's documentation (json-lib's own order
/// depends on the JVM; ks-devops decodes by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// `run.started`, `item.created`, …
    #[serde(rename = "type")]
    pub ty: String,
    /// The parent's relative URL: the job for a run, the folder (or `""`) for an item.
    pub source: String,
    /// The run's relative URL; `""` for items (no web request, as from the CLI).
    pub url: String,
    /// A UUID (derived, so stable across retries and restarts).
    pub id: String,
    /// `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (the plugin's format, here in UTC).
    pub time: String,
    /// The object's Jenkins class before transformation.
    pub data_type: String,
    /// The run's or item's JSON.
    pub data: Value,
    /// Only set by `item.locationChanged`, which is not emitted.
    pub meta_data: Option<Value>,
    /// json-lib's accidental serialisation of `getUrlData()`, kept for fidelity.
    pub url_data: String,
}

/// An envelope and where it comes from (the `Referrer` header: the controller's root URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenericEvent {
    /// What is sent.
    pub envelope: Envelope,
    /// The controller's root URL.
    pub referrer: String,
}

/// One envelope before its id is derived.
pub(super) struct Draft {
    pub key: String,
    pub envelope: Envelope,
}

/// The envelopes for a change.
pub(super) fn encode(change: &Change, reads: &super::Reads<'_>) -> Vec<Draft> {
    match change {
        Change::Build {
            job,
            build,
            phase,
            timestamp,
        } => {
            let types: &[&str] = match phase {
                Phase::Started => &[RUN_INITIALIZE, "run.started"],
                Phase::Completed => &["run.completed"],
                Phase::Finalized => &["run.finalized"],
                Phase::Failed => &[],
            };
            if types.is_empty() {
                return Vec::new();
            }
            // Without the build's own JSON (unreadable this tick), what the facts give.
            let mut data = reads.run.cloned().unwrap_or_else(|| {
                serde_json::json!({
                    "_class": run_class(job.class.as_deref()), "building": build.building, "duration": build.duration,
                    "fullDisplayName": format!("{} #{}", job.display_name, build.id.number),
                    "id": build.id.number.to_string(), "number": build.id.number,
                    "queueId": build.queue_id, "result": build.result, "timestamp": build.timestamp,
                })
            });
            strip_urls(&mut data);
            let data_type = data["_class"].as_str().unwrap_or_default().to_string();
            if data_type == WORKFLOW_RUN {
                enhance(&mut data, &job.path, &job.name, reads.parent_class);
            }
            let url = build.id.path();
            types
                .iter()
                .map(|ty| {
                    let mut data = data.clone();
                    if matches!(*ty, RUN_INITIALIZE | "run.started") {
                        as_running(&mut data);
                    }
                    let at = if *ty == RUN_INITIALIZE || *ty == "run.started" {
                        build.timestamp
                    } else {
                        *timestamp
                    };
                    Draft {
                        key: format!(
                            "kubesphere|{ty}|{}|{}|{}",
                            build.id.job, build.id.number, build.timestamp
                        ),
                        envelope: Envelope {
                            ty: (*ty).to_string(),
                            source: job.path.clone(),
                            url: url.clone(),
                            id: String::new(),
                            time: time(at),
                            data_type: data_type.clone(),
                            data,
                            meta_data: None,
                            url_data: format!(", url={url}"),
                        },
                    }
                })
                .collect()
        }
        Change::Item {
            job,
            kind,
            at,
            revision,
            ..
        } => {
            let ty = match kind {
                ItemKind::Created => "item.created",
                ItemKind::Updated => "item.updated",
                ItemKind::Deleted => "item.deleted",
            };
            let class = job.class.clone().unwrap_or_default();
            // The item's own JSON when it could be read; a deleted item only as last seen.
            let mut data = reads.run.cloned().unwrap_or_else(|| {
                serde_json::json!({
                    "_class": class,
                    "displayName": job.display_name,
                    "fullDisplayName": full_name(&job.path).replace('/', " » "),
                    "fullName": full_name(&job.path),
                    "name": job.name,
                })
            });
            strip_urls(&mut data);
            vec![Draft {
                key: format!("kubesphere|{ty}|{}|{revision}|{at}", job.path),
                envelope: Envelope {
                    ty: ty.into(),
                    source: parent_path(&job.path).to_string(),
                    url: String::new(),
                    id: String::new(),
                    time: time(*at),
                    data_type: class,
                    data,
                    meta_data: None,
                    url_data: ", url=".into(),
                },
            }]
        }
        Change::BuildDeleted { job, id, at } => {
            // Nothing is left to read: the run as far as it is known.
            let data_type = run_class(job.class.as_deref());
            let mut data = serde_json::json!({
                "_class": data_type, "executor": null,
                "fullDisplayName": format!("{} #{}", job.display_name, id.number),
                "id": id.number.to_string(), "number": id.number,
            });
            if data_type == WORKFLOW_RUN {
                enhance(&mut data, &job.path, &job.name, reads.parent_class);
            }
            let url = id.path();
            vec![Draft {
                key: format!("kubesphere|run.deleted|{}|{}", id.job, id.number),
                envelope: Envelope {
                    ty: "run.deleted".into(),
                    source: job.path.clone(),
                    url_data: format!(", url={url}"),
                    url,
                    id: String::new(),
                    time: time(*at),
                    data_type: data_type.into(),
                    data,
                    meta_data: None,
                },
            }]
        }
        Change::QueueEntered(_)
        | Change::QueueLeft { .. }
        | Change::Node(_)
        | Change::Stage { .. } => Vec::new(),
    }
}

/// The class of a job's runs, for when the run itself cannot be read (`""` if unknown: then
/// ks-devops, which acts on WorkflowRuns only, ignores the event).
fn run_class(job_class: Option<&str>) -> &'static str {
    match job_class {
        Some(WORKFLOW_JOB) => WORKFLOW_RUN,
        Some("hudson.model.FreeStyleProject") => "hudson.model.FreeStyleBuild",
        _ => "",
    }
}

/// `job/ns/job/p/` → `job/ns/`; a top-level job's parent is `""`.
pub fn parent_path(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind("/job/") {
        Some(i) => &path[..i + 1],
        None => "",
    }
}

/// The plugin's `ExportedBeanProcessor` drops every `url` property, at every level.
fn strip_urls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("url");
            map.values_mut().for_each(strip_urls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_urls),
        _ => {}
    }
}

/// `EnhancedData`: the fields ks-devops derives the namespace, pipeline and branch from.
fn enhance(data: &mut Value, path: &str, name: &str, parent_class: Option<&str>) {
    let Value::Object(map) = data else { return };
    map.insert("_class".into(), WORKFLOW_RUN_DATA.into());
    map.insert(
        "_parentFullName".into(),
        full_name(parent_path(path)).into(),
    );
    map.insert("_projectName".into(), name.into());
    map.insert(
        "_multiBranch".into(),
        parent_class
            .is_some_and(|c| c.contains("MultiBranchProject"))
            .into(),
    );
}

/// A snapshot read after the run moved on still describes it as the plugin saw it at
/// `onInitialize`/`onStarted`: building, no result yet.
fn as_running(data: &mut Value) {
    let Value::Object(map) = data else { return };
    if map.get("building") == Some(&Value::Bool(false)) {
        map.insert("building".into(), true.into());
        map.insert("result".into(), Value::Null);
        map.insert("duration".into(), 0.into());
        if map.contains_key("inProgress") {
            map.insert("inProgress".into(), true.into());
        }
    }
}

/// The plugin's time format, `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, in UTC: `2022-02-06T05:48:15.307+0000`.
pub fn time(ms: i64) -> String {
    let at = super::datetime(ms);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    at.format(&format).expect("the format only has UTC fields")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_times_read_as_the_plugin_writes_them() {
        assert_eq!(parent_path("job/ns/job/p/"), "job/ns/");
        assert_eq!(parent_path("job/ns/job/p/job/main/"), "job/ns/job/p/");
        assert_eq!(parent_path("job/top/"), "");
        assert_eq!(time(1644126495307), "2022-02-06T05:48:15.307+0000");
    }

    #[test]
    fn url_keys_go_at_every_level_and_a_pipeline_run_is_enhanced() {
        let mut data = serde_json::json!({
            "_class": WORKFLOW_RUN, "url": "http://ci/job/ns/job/p/1/", "building": false,
            "result": "SUCCESS", "duration": 5,
            "actions": [{"_class": "x", "url": "y", "parameters": [{"name": "a", "value": 1}]}],
        });
        strip_urls(&mut data);
        enhance(
            &mut data,
            "job/ns/job/p/job/feature%2Fx/",
            "feature%2Fx",
            Some("org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"),
        );
        as_running(&mut data);
        assert!(data.get("url").is_none() && data["actions"][0].get("url").is_none());
        assert_eq!(data["_class"], WORKFLOW_RUN_DATA);
        assert_eq!(data["_parentFullName"], "ns/p");
        assert_eq!(data["_projectName"], "feature%2Fx");
        assert_eq!(data["_multiBranch"], true);
        assert_eq!(data["building"], true);
        assert_eq!(data["result"], Value::Null);
    }
}
