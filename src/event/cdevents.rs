//! Changes to CDEvents v0.5 (`cdevents-sdk`, whose types are generated from the CDEvents JSON
//! schemas), carried as CloudEvents by the CDEvents binding: CE `id`/`source`/`type`/`time`
//! from the CDEvent's, CE `subject` = the subject id, `data` = the whole CDEvent.
//!
//! | Jenkins | CDEvent |
//! |---|---|
//! | a queue item for a job appears | `pipelinerun.queued.0.3.0`, subject `<fullName>/queue/<queueId>` |
//! | a build starts | `pipelinerun.started.0.3.0`, subject `<fullName>/<number>` |
//! | a Pipeline stage starts or ends (read per job-tree scan while the build runs) | `taskrun.started.0.3.0` / `taskrun.finished.0.3.0` |
//! | a build completes | the stage events not sent yet (from `wfapi/describe`, read once more at completion), then `pipelinerun.finished.0.3.0` |
//!
//! Every event's `customData` holds `{"queueId": …}` (and `"number"` once there is a build), the
//! key that ties the queued event to its run. Queue departures, finalization, items and nodes
//! have no CDEvent and give none.

use crate::jenkins::model::Stage;
use crate::jenkins::path::{BuildRef, full_name};
use crate::watch::stages;
use crate::watch::{Change, Phase};
use cdevents_sdk::latest::{
    pipelinerun_finished, pipelinerun_queued, pipelinerun_started, taskrun_finished,
    taskrun_started,
};
use cdevents_sdk::{CDEvent, Subject};
use cloudevents::Event;

/// What an UNSTABLE build (or stage) counts as; CDEvents has no such outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unstable {
    /// Tests failed but the build went through: `success` (the CDEvents plugin's choice too).
    #[default]
    Success,
    /// `failure`.
    Failure,
}

/// A Jenkins result (or stage status) as a CDEvents outcome. Documented in
/// `docs/compatibility.md`.
pub fn outcome(result: Option<&str>, unstable: Unstable) -> &'static str {
    match result {
        Some("SUCCESS") => "success",
        Some("UNSTABLE") if unstable == Unstable::Success => "success",
        Some("UNSTABLE" | "FAILURE" | "FAILED") => "failure",
        Some("ABORTED" | "NOT_BUILT") => "cancel",
        _ => "error",
    }
}

/// One CDEvent before its id is derived: the natural key names it.
pub(super) struct Draft {
    pub key: String,
    pub event: CDEvent,
}

/// The CDEvents for a change; `stages` are the completed run's stages, when read.
pub(super) fn encode(
    controller: &str,
    change: &Change,
    stages: Option<&[Stage]>,
    sent: Option<&std::collections::BTreeSet<String>>,
    unstable: Unstable,
) -> Vec<Draft> {
    let absolute = |path: &str| format!("{controller}{path}");
    match change {
        Change::QueueEntered(item) => {
            let name = full_name(&item.job);
            let content = pipelinerun_queued::Content {
                pipeline_name: Some(name.clone()),
                uri: uri(&absolute(&item.job)),
            };
            vec![Draft {
                key: format!("cdevents|queued|{}|{}", item.id, item.in_queue_since),
                event: cdevent(
                    controller,
                    Subject::from(content),
                    format!("{name}/queue/{}", item.id),
                    item.in_queue_since,
                    serde_json::json!({ "queueId": item.id }),
                ),
            }]
        }
        Change::Build {
            job,
            build,
            phase,
            timestamp,
        } => {
            let name = full_name(&job.path);
            let run_id = format!("{name}/{}", build.id.number);
            let run_url = build
                .full_url
                .clone()
                .unwrap_or_else(|| absolute(&build.id.path()));
            let custom =
                serde_json::json!({ "queueId": build.queue_id, "number": build.id.number });
            let key = |what: &str| {
                format!(
                    "cdevents|{what}|{}|{}|{}",
                    job.path, build.id.number, build.timestamp
                )
            };
            match phase {
                Phase::Started => {
                    let content = pipelinerun_started::Content {
                        pipeline_name: name.clone(),
                        uri: uri(&run_url)
                            .or_else(|| uri(controller))
                            .expect("a root URL"),
                    };
                    vec![Draft {
                        key: key("started"),
                        event: cdevent(
                            controller,
                            Subject::from(content),
                            run_id,
                            build.timestamp,
                            custom,
                        ),
                    }]
                }
                Phase::Completed => {
                    let mut out = Vec::new();
                    for stage in stages.unwrap_or_default() {
                        for finished in [false, true] {
                            let seen =
                                sent.is_some_and(|s| s.contains(&stages::key(stage, finished)));
                            if !seen {
                                out.extend(task_run(
                                    controller, &build.id, stage, finished, unstable,
                                ));
                            }
                        }
                    }
                    let result = outcome(build.result.as_deref(), unstable);
                    let content = pipelinerun_finished::Content {
                        pipeline_name: Some(name),
                        uri: uri(&run_url),
                        outcome: Some(match result {
                            "success" => pipelinerun_finished::ContentOutcome::Success,
                            "failure" => pipelinerun_finished::ContentOutcome::Failure,
                            "cancel" => pipelinerun_finished::ContentOutcome::Cancel,
                            _ => pipelinerun_finished::ContentOutcome::Error,
                        }),
                        errors: (result != "success").then(|| {
                            format!(
                                "Jenkins result: {}",
                                build.result.as_deref().unwrap_or("none")
                            )
                        }),
                    };
                    out.push(Draft {
                        key: key("finished"),
                        event: cdevent(
                            controller,
                            Subject::from(content),
                            run_id,
                            *timestamp,
                            custom,
                        ),
                    });
                    out
                }
                Phase::Finalized | Phase::Failed => Vec::new(),
            }
        }
        Change::Stage {
            build,
            stage,
            finished,
            ..
        } => task_run(controller, build, stage, *finished, unstable)
            .into_iter()
            .collect(),
        Change::QueueLeft { .. }
        | Change::Item { .. }
        | Change::Node(_)
        | Change::BuildDeleted { .. } => Vec::new(),
    }
}

/// A stage's `taskrun.started` or `taskrun.finished`; `None` for a stage that never ran
/// (`NOT_EXECUTED`, `SKIPPED`) or, for `finished`, one still running. The id depends only on
/// the build and the stage, so the running read and the completion read give the same one.
fn task_run(
    controller: &str,
    build: &BuildRef,
    stage: &Stage,
    finished: bool,
    unstable: Unstable,
) -> Option<Draft> {
    if matches!(stage.status.as_str(), "NOT_EXECUTED" | "SKIPPED")
        || stage.start_time_millis <= 0
        || (finished && !stages::finished(stage))
    {
        return None;
    }
    let run_id = format!("{}/{}", full_name(&build.job), build.number);
    let stage_url = uri(&format!(
        "{controller}{}execution/node/{}/",
        build.path(),
        stage.id
    ));
    let key = format!(
        "cdevents|{}|{}|{}|{}|{}",
        stages::key(stage, finished),
        build.job,
        build.number,
        stage.id,
        stage.start_time_millis
    );
    let custom = serde_json::json!({ "number": build.number });
    let subject_id = format!("{run_id}/stage/{}", stage.id);
    let event = if finished {
        let result = outcome(Some(&stage.status), unstable);
        let content = taskrun_finished::Content {
            task_name: Some(stage.name.clone()),
            uri: stage_url,
            pipeline_run: Some(taskrun_finished::ContentPipelineRun {
                id: run_id.try_into().expect("non-empty"),
                source: controller.try_into().ok(),
            }),
            outcome: Some(result.into()),
            errors: (result != "success").then(|| format!("stage status: {}", stage.status)),
        };
        cdevent(
            controller,
            Subject::from(content),
            subject_id,
            stage.start_time_millis + stage.duration_millis.max(0),
            custom,
        )
    } else {
        let content = taskrun_started::Content {
            task_name: Some(stage.name.clone()),
            uri: stage_url,
            pipeline_run: Some(taskrun_started::ContentPipelineRun {
                id: run_id.try_into().expect("non-empty"),
                source: controller.try_into().ok(),
            }),
        };
        cdevent(
            controller,
            Subject::from(content),
            subject_id,
            stage.start_time_millis,
            custom,
        )
    };
    Some(Draft { key, event })
}

fn uri(text: &str) -> Option<cdevents_sdk::Uri> {
    text.try_into().ok()
}

fn cdevent(
    controller: &str,
    subject: Subject,
    subject_id: String,
    at_ms: i64,
    custom: serde_json::Value,
) -> CDEvent {
    let subject = subject.with_id(subject_id.try_into().expect("non-empty"));
    let subject = match controller.try_into() {
        Ok(source) => subject.with_source(source),
        Err(_) => subject,
    };
    let at = super::datetime(at_ms);
    let event = CDEvent::from(subject)
        .with_timestamp(at)
        .with_custom_data(custom);
    match controller.try_into() {
        Ok(source) => event.with_source(source),
        Err(_) => event,
    }
}

/// The CloudEvent carrying a CDEvent, with the shim's stable id.
pub(super) fn to_cloudevent(draft: Draft, id: String) -> Option<Event> {
    let event = draft.event.with_id(id.try_into().ok()?);
    Event::try_from(event).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_map_to_outcomes_as_documented() {
        let u = Unstable::Success;
        assert_eq!(outcome(Some("SUCCESS"), u), "success");
        assert_eq!(outcome(Some("UNSTABLE"), u), "success");
        assert_eq!(outcome(Some("UNSTABLE"), Unstable::Failure), "failure");
        assert_eq!(outcome(Some("FAILURE"), u), "failure");
        assert_eq!(outcome(Some("FAILED"), u), "failure");
        assert_eq!(outcome(Some("ABORTED"), u), "cancel");
        assert_eq!(outcome(Some("NOT_BUILT"), u), "cancel");
        assert_eq!(outcome(None, u), "error");
        assert_eq!(outcome(Some("IN_PROGRESS"), u), "error");
    }
}
