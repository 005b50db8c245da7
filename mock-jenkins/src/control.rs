//! The control API and scenario files: script a timeline of jobs, builds, results, agents,
//! restarts and faults.
//!
//! An [`Action`] is one change (`{"do": "build", "job": "app", "result": "FAILURE"}`); a
//! [`Scenario`] is a list of steps, each an action at an offset (`"at": "2s"`). Over HTTP:
//! `POST /mock/do` with an action, `POST /mock/scenario` with a scenario, `GET /mock/state`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::api::Shared;
use crate::world::{Enqueue, Fault, FaultKind, Kind, Plan, World, WorldError};

/// One change to the simulated controller.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Create an item (parents become folders).
    Create {
        /// Full name, `folder/app`.
        name: String,
        /// freestyle, pipeline, folder, multibranch.
        kind: Kind,
        /// Description.
        #[serde(default)]
        description: Option<String>,
    },
    /// Schedule a build. It runs by itself (for `duration` then ends with `result`, defaults
    /// from the job's config.xml) unless `manual`.
    Build {
        /// Job full name.
        job: String,
        /// Started by this user (else a timer cause).
        #[serde(default)]
        user: Option<String>,
        /// Parameters.
        #[serde(default)]
        params: Vec<(String, String)>,
        /// Quiet period, e.g. `5s`.
        #[serde(default)]
        quiet: Option<String>,
        /// Build duration, e.g. `3s`.
        #[serde(default)]
        duration: Option<String>,
        /// Result.
        #[serde(default)]
        result: Option<String>,
        /// Wait for `start` / `finish` actions instead of running by itself.
        #[serde(default)]
        manual: bool,
    },
    /// Start a queue item now.
    Start {
        /// Queue id.
        queue_id: u64,
    },
    /// Set a build's result (post-production).
    Complete {
        /// Job.
        job: String,
        /// Build number.
        number: u64,
        /// Result.
        result: String,
    },
    /// Finalize a build with a result.
    Finish {
        /// Job.
        job: String,
        /// Build number.
        number: u64,
        /// Result.
        result: String,
    },
    /// Abort a running build.
    Stop {
        /// Job.
        job: String,
        /// Build number.
        number: u64,
    },
    /// Cancel a queue item.
    Cancel {
        /// Queue id.
        queue_id: u64,
    },
    /// Delete a build.
    DeleteBuild {
        /// Job.
        job: String,
        /// Build number.
        number: u64,
    },
    /// Delete an item.
    Delete {
        /// Full name.
        name: String,
    },
    /// Add an agent or change its state.
    Node {
        /// Agent name.
        name: String,
        /// Channel down.
        #[serde(default)]
        offline: bool,
        /// Marked offline by a user.
        #[serde(default)]
        temporarily_offline: bool,
    },
    /// Remove an agent.
    RemoveNode {
        /// Agent name.
        name: String,
    },
    /// Restart the controller (new session id, left items forgotten, freestyle builds aborted).
    Restart,
    /// Inject a fault on requests whose path starts with `path`.
    Fault {
        /// Path prefix, e.g. `/queue/` (`""` for all).
        #[serde(default)]
        path: String,
        /// Only requests with exactly this query string (`""`: none); any when absent.
        #[serde(default)]
        query: Option<String>,
        /// `{"status": 503}`, `"garbage"`, `{"delay": "2s"}` or `"reset"`.
        fault: FaultSpec,
        /// How many requests it hits (default: until cleared).
        #[serde(default)]
        count: Option<u32>,
    },
    /// Remove every fault.
    ClearFaults,
}

/// A fault in a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultSpec {
    /// Answer this status.
    Status(u16),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Wait before answering.
    Delay(String),
    /// Break the connection mid-response.
    Reset,
}

/// A timeline of actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// An action at an offset from the scenario's start.
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    /// Offset, e.g. `1.5s` (default: right after the previous step).
    #[serde(default)]
    pub at: Option<String>,
    /// The action.
    #[serde(flatten)]
    pub action: Action,
}

fn duration_ms(text: &Option<String>) -> Result<Option<i64>, WorldError> {
    text.as_deref()
        .map(|t| {
            humantime::parse_duration(t)
                .map(|d| d.as_millis() as i64)
                .map_err(|e| WorldError::Invalid(format!("{t:?} is not a duration: {e}")))
        })
        .transpose()
}

/// Applies one action; returns what it created (`{"queue_id": 3}`, …).
pub fn apply(world: &mut World, action: Action) -> Result<Value, WorldError> {
    Ok(match action {
        Action::Create {
            name,
            kind,
            description,
        } => {
            world.create(&name, kind)?;
            if let Some(d) = description {
                world.item_mut(&name)?.description = d;
            }
            json!({"created": name})
        }
        Action::Build {
            job,
            user,
            params,
            quiet,
            duration,
            result,
            manual,
        } => {
            let default_plan = world.item_mut(&job)?.plan.clone();
            let plan = (!manual).then(|| Plan {
                duration_ms: duration_ms(&duration)
                    .ok()
                    .flatten()
                    .unwrap_or(default_plan.duration_ms),
                result: result.unwrap_or(default_plan.result),
            });
            let id = world.enqueue(
                &job,
                Enqueue {
                    quiet_ms: duration_ms(&quiet)?,
                    user,
                    params,
                    plan,
                },
            )?;
            json!({"queue_id": id})
        }
        Action::Start { queue_id } => json!({"number": world.start(queue_id)?}),
        Action::Complete {
            job,
            number,
            result,
        } => {
            world.complete(&job, number, &result)?;
            json!({})
        }
        Action::Finish {
            job,
            number,
            result,
        } => {
            world.finish(&job, number, &result)?;
            json!({})
        }
        Action::Stop { job, number } => {
            world.stop(&job, number)?;
            json!({})
        }
        Action::Cancel { queue_id } => {
            world.cancel(queue_id)?;
            json!({})
        }
        Action::DeleteBuild { job, number } => {
            world.delete_build(&job, number)?;
            json!({})
        }
        Action::Delete { name } => {
            world.delete(&name)?;
            json!({})
        }
        Action::Node {
            name,
            offline,
            temporarily_offline,
        } => {
            world.set_node(&name, offline, temporarily_offline);
            json!({})
        }
        Action::RemoveNode { name } => {
            world.remove_node(&name);
            json!({})
        }
        Action::Restart => {
            world.restart();
            json!({"session": world.session})
        }
        Action::Fault {
            path,
            query,
            fault,
            count,
        } => {
            let kind = match fault {
                FaultSpec::Status(code) => FaultKind::Status(code),
                FaultSpec::Garbage => FaultKind::Garbage,
                FaultSpec::Delay(d) => FaultKind::Delay(duration_ms(&Some(d))?.unwrap_or(0) as u64),
                FaultSpec::Reset => FaultKind::Reset,
            };
            world.faults.push(Fault {
                path_prefix: path,
                query,
                kind,
                remaining: count,
            });
            json!({})
        }
        Action::ClearFaults => {
            world.faults.clear();
            json!({})
        }
    })
}

/// A summary of the world, for `GET /mock/state`.
pub fn state(world: &World) -> Value {
    json!({
        "version": world.settings.version,
        "session": world.session,
        "items": world.items.len(),
        "queue": world.queue.keys().collect::<Vec<_>>(),
        "running": world.running.iter().map(|(j, n)| format!("{j}#{n}")).collect::<Vec<_>>(),
        "nodes": world.nodes.iter().map(|n| json!({"name": n.name, "offline": n.offline})).collect::<Vec<_>>(),
        "faults": world.faults.len(),
        "requests": world.requests,
        "response_bytes": world.response_bytes,
    })
}

impl Scenario {
    /// Checks every offset before anything runs.
    pub fn validate(&self) -> Result<(), WorldError> {
        for step in &self.steps {
            duration_ms(&step.at)?;
        }
        Ok(())
    }

    /// Plays the steps at their offsets; a failing step is logged and the rest go on.
    pub async fn play(self, world: Shared, stop: CancellationToken) {
        let start = tokio::time::Instant::now();
        for step in self.steps {
            if let Ok(Some(at)) = duration_ms(&step.at) {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(start + Duration::from_millis(at as u64)) => {}
                }
            }
            let result = apply(&mut world.lock().expect("world lock"), step.action.clone());
            if let Err(e) = result {
                tracing::warn!("scenario step {:?} failed: {e}", step.action);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Settings;

    #[test]
    fn scenario_json_parses_and_actions_change_the_world() {
        let scenario: Scenario = serde_json::from_str(
            r#"{"steps": [
                {"do": "create", "name": "team/app", "kind": "freestyle"},
                {"at": "1s", "do": "build", "job": "team/app", "user": "jane", "duration": "2s", "result": "FAILURE"},
                {"at": "2s", "do": "node", "name": "agent1", "offline": true},
                {"do": "fault", "path": "/queue/", "fault": {"status": 503}, "count": 2},
                {"do": "restart"}
            ]}"#,
        )
        .unwrap();
        scenario.validate().unwrap();
        let mut world = World::new(Settings::default());
        let mut out = Vec::new();
        for step in scenario.steps {
            out.push(apply(&mut world, step.action).unwrap());
        }
        assert_eq!(out[1]["queue_id"], 1);
        let queued = &world.queue[&1];
        assert_eq!(
            queued.plan,
            Some(Plan {
                duration_ms: 2000,
                result: "FAILURE".into()
            })
        );
        assert!(world.nodes.iter().any(|n| n.name == "agent1" && n.offline));
        assert_eq!(world.faults.len(), 1);
        assert!(serde_json::from_str::<Scenario>(r#"{"steps": [{"do": "explode"}]}"#).is_err());
    }
}
