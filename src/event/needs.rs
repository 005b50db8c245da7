//! What the dialects need from Jenkins beyond a change. The encoders ask ([`Encoder::needs`]);
//! the poller performs the reads, as it does the diff's follow-ups, and hands the answers back
//! in [`super::Reads`]. Pure: adding a dialect that needs more from Jenkins adds a [`Need`]
//! here and its read in the poller, nothing else.

use super::{Encoder, Format};
use crate::jenkins::path::{BuildRef, JobPath};
use crate::watch::stages::WORKFLOW_JOB;
use crate::watch::{Change, ItemKind, Phase};

/// One read a dialect asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Need {
    /// A completed Pipeline run's stages, `wfapi/describe` (CDEvents task runs).
    Stages(BuildRef),
    /// A build's own `api/json` (KubeSphere run data).
    BuildJson(BuildRef),
    /// An item's own `api/json` (KubeSphere item data).
    ItemJson(JobPath),
    /// The class of a folder, the parent of a job (KubeSphere `_multiBranch`).
    ParentClass(JobPath),
}

impl Need {
    /// What the read gives, for a warning when a dialect's events go out without it.
    pub fn what(&self) -> &'static str {
        match self {
            Need::Stages(_) => "the run's stages",
            Need::BuildJson(_) => "the build's JSON (its actions and parameters)",
            Need::ItemJson(_) => "the item's JSON",
            Need::ParentClass(_) => "the class of the job's parent (multibranch or not)",
        }
    }
}

/// A need of one dialect for one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The dialect.
    pub format: Format,
    /// The read.
    pub need: Need,
    /// The dialect's events for the change wait while the answer is unknown (a failed read);
    /// otherwise they go out with the facts the change carries.
    pub required: bool,
}

impl Encoder {
    /// The reads the dialects some sink speaks need to encode `change`.
    pub fn needs(&self, change: &Change) -> Vec<Ask> {
        let mut asks = Vec::new();
        for format in &self.formats {
            let mut ask = |need: Need, required: bool| {
                asks.push(Ask {
                    format: *format,
                    need,
                    required,
                })
            };
            match (format, change) {
                (
                    Format::CdEvents,
                    Change::Build {
                        job,
                        build,
                        phase: Phase::Completed,
                        ..
                    },
                ) if job.class.as_deref() == Some(WORKFLOW_JOB) => {
                    ask(Need::Stages(build.id.clone()), false)
                }
                (
                    Format::KubeSphere,
                    Change::Build {
                        job, build, phase, ..
                    },
                ) => {
                    // ks-devops creates the PipelineRun from run.initialize: never from a
                    // guess. A job of unknown class may be a Pipeline.
                    let started = *phase == Phase::Started;
                    ask(Need::BuildJson(build.id.clone()), started);
                    let parent = super::kubesphere::parent_path(&job.path);
                    if !parent.is_empty() && job.class.as_deref().is_none_or(|c| c == WORKFLOW_JOB)
                    {
                        ask(Need::ParentClass(parent.to_string()), started);
                    }
                }
                (
                    Format::KubeSphere,
                    Change::Item {
                        job,
                        kind: ItemKind::Created | ItemKind::Updated,
                        ..
                    },
                ) => ask(Need::ItemJson(job.path.clone()), false),
                (Format::KubeSphere, Change::BuildDeleted { job, .. }) => {
                    let parent = super::kubesphere::parent_path(&job.path);
                    if !parent.is_empty() {
                        ask(Need::ParentClass(parent.to_string()), false);
                    }
                }
                _ => {}
            }
        }
        asks
    }

    /// Whether running Pipeline builds' stages are read at each job-tree scan (CDEvents task
    /// runs while a build runs).
    pub fn needs_running_stages(&self) -> bool {
        self.speaks(Format::CdEvents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{BuildFacts, JobInfo};

    fn started(job: &str, class: Option<&str>) -> Change {
        Change::Build {
            job: JobInfo {
                path: job.into(),
                name: "p".into(),
                display_name: "p".into(),
                class: class.map(str::to_owned),
            },
            build: BuildFacts::from_build(
                BuildRef {
                    job: job.into(),
                    number: 1,
                },
                &serde_json::from_value(serde_json::json!({
                    "number": 1, "building": true, "timestamp": 0, "duration": 0, "queueId": 3
                }))
                .unwrap(),
            ),
            phase: Phase::Started,
            timestamp: 0,
        }
    }

    #[test]
    fn a_kubesphere_build_start_requires_its_json_and_its_parent_class() {
        let encoder = Encoder {
            formats: vec![Format::Plugin, Format::KubeSphere],
            ..Encoder::default()
        };
        let asks = encoder.needs(&started("job/ns/job/p/", Some(WORKFLOW_JOB)));
        let needs: Vec<(&Need, bool)> = asks.iter().map(|a| (&a.need, a.required)).collect();
        assert_eq!(
            needs,
            [
                (
                    &Need::BuildJson(BuildRef {
                        job: "job/ns/job/p/".into(),
                        number: 1
                    }),
                    true
                ),
                (&Need::ParentClass("job/ns/".into()), true),
            ]
        );
        let freestyle = encoder.needs(&started(
            "job/ns/job/f/",
            Some("hudson.model.FreeStyleProject"),
        ));
        assert_eq!(freestyle.len(), 1, "no parent class for a freestyle run");
        let plugin_only = Encoder {
            formats: vec![Format::Plugin],
            ..Encoder::default()
        };
        assert!(plugin_only.needs(&started("job/p/", None)).is_empty());
    }
}
