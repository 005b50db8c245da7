//! Pipeline stages of running builds (CDEvents task runs): which running builds to read, and
//! which stage transitions a read shows that were not reported yet. Pure; the record of what
//! was reported is part of the saved [`State`], so that a restart reports no stage twice and
//! the completion read does not repeat what went out while the build ran.

use std::collections::BTreeSet;

use super::{Change, JobInfo, State};
use crate::jenkins::model::Stage;
use crate::jenkins::path::BuildRef;

/// The class of Pipeline jobs, whose runs have stages.
pub const WORKFLOW_JOB: &str = "org.jenkinsci.plugins.workflow.job.WorkflowJob";

/// Running Pipeline builds whose stages are read per job-tree scan.
pub const MAX_STAGE_READS: usize = 20;

/// Running Pipeline builds whose stages to read now (at most [`MAX_STAGE_READS`]), each with
/// its job.
pub fn to_read(state: &State) -> Vec<(BuildRef, JobInfo)> {
    state
        .running
        .iter()
        .filter_map(|b| {
            let job = state.jobs.get(&b.job)?;
            (job.info.class.as_deref() == Some(WORKFLOW_JOB) && job.open.contains_key(&b.number))
                .then(|| (b.clone(), job.info.clone()))
        })
        .take(MAX_STAGE_READS)
        .collect()
}

/// The stage changes a read of a running `build`'s stages shows that were not reported yet,
/// recorded as reported. Stages that never ran (`NOT_EXECUTED`, `SKIPPED`, no start time) are
/// not reported.
pub fn observed(
    state: &mut State,
    build: &BuildRef,
    job: &JobInfo,
    stages: &[Stage],
) -> Vec<Change> {
    let reported = state.stages_reported.entry(build.path()).or_default();
    let mut changes = Vec::new();
    for stage in stages {
        for done in [false, true] {
            if done && !finished(stage) {
                continue;
            }
            if stage.start_time_millis > 0
                && !matches!(stage.status.as_str(), "NOT_EXECUTED" | "SKIPPED")
                && reported.insert(key(stage, done))
            {
                changes.push(Change::Stage {
                    job: job.clone(),
                    build: build.clone(),
                    stage: stage.clone(),
                    finished: done,
                });
            }
        }
    }
    changes
}

/// What was reported of `build`'s stages while it ran, taken out when it completes (the
/// completion read reports the rest).
pub fn take_reported(state: &mut State, build: &BuildRef) -> Option<BTreeSet<String>> {
    state.stages_reported.remove(&build.path())
}

/// Forgets the records of builds no longer running.
pub fn forget_stopped(state: &mut State) {
    let running: BTreeSet<String> = state.running.iter().map(BuildRef::path).collect();
    state.stages_reported.retain(|b, _| running.contains(b));
}

/// Whether a stage has ended (a stage still running or waiting for input has not).
pub fn finished(stage: &Stage) -> bool {
    !matches!(
        stage.status.as_str(),
        "IN_PROGRESS" | "PAUSED_PENDING_INPUT" | "PAUSED" | "QUEUED"
    )
}

/// The record that a stage's start or end was reported: `<node id>|started` or `|finished`.
pub fn key(stage: &Stage, finished: bool) -> String {
    format!(
        "{}|{}",
        stage.id,
        if finished { "finished" } else { "started" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(id: &str, status: &str, start: i64) -> Stage {
        Stage {
            id: id.into(),
            name: format!("stage {id}"),
            status: status.into(),
            start_time_millis: start,
            duration_millis: 0,
        }
    }

    #[test]
    fn each_stage_transition_is_reported_once_and_survives_a_save() {
        let build = BuildRef {
            job: "job/p/".into(),
            number: 1,
        };
        let job = JobInfo {
            path: "job/p/".into(),
            name: "p".into(),
            display_name: "p".into(),
            class: Some(WORKFLOW_JOB.into()),
        };
        let mut state = State::default();
        let first = observed(
            &mut state,
            &build,
            &job,
            &[
                stage("6", "SUCCESS", 10),
                stage("12", "IN_PROGRESS", 20),
                stage("20", "NOT_EXECUTED", 0),
            ],
        );
        let kinds: Vec<(String, bool)> = first
            .iter()
            .map(|c| match c {
                Change::Stage {
                    stage, finished, ..
                } => (stage.id.clone(), *finished),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("6".into(), false),
                ("6".into(), true),
                ("12".into(), false)
            ]
        );
        // Saved and restored (the state is stored as JSON), then read again.
        let mut state: State =
            serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
        let again = observed(
            &mut state,
            &build,
            &job,
            &[stage("6", "SUCCESS", 10), stage("12", "SUCCESS", 20)],
        );
        assert_eq!(again.len(), 1, "only stage 12's end: {again:?}");
        let reported = take_reported(&mut state, &build).unwrap();
        assert_eq!(reported.len(), 4);
        assert!(state.stages_reported.is_empty());
    }
}
