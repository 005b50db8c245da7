//! A traffic simulator: jobs in folders, pipelines and multibranch branches, builds that
//! succeed, fail, get cancelled or aborted, and agents that come and go.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::Shared;
use crate::world::{Enqueue, Kind, Plan};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Jobs to create (spread over folders, pipelines and a multibranch project).
    pub jobs: usize,
    /// Builds scheduled per minute.
    pub builds_per_minute: f64,
    /// Build duration range, ms.
    pub duration_ms: (i64, i64),
    /// Quiet period range, ms.
    pub quiet_ms: (i64, i64),
    /// Share of builds that fail.
    pub failure_rate: f64,
    /// Share of queue items cancelled before they start.
    pub cancel_rate: f64,
    /// Random seed (same seed, same traffic).
    pub seed: u64,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            jobs: 8,
            builds_per_minute: 20.0,
            duration_ms: (1_000, 6_000),
            quiet_ms: (0, 2_000),
            failure_rate: 0.2,
            cancel_rate: 0.05,
            seed: 42,
        }
    }
}

/// Creates the jobs of a simulation; returns the buildable job names.
pub fn populate(world: &Shared, sim: &Simulation) -> Vec<String> {
    let mut w = world.lock().expect("world lock");
    let mut names = Vec::new();
    for i in 0..sim.jobs {
        let (name, kind) = match i % 8 {
            0 => (format!("app-{i}"), Kind::Freestyle),
            1 => (format!("team-a/service-{i}"), Kind::Pipeline),
            2 => (format!("team-a/nightly {i}"), Kind::Freestyle),
            3 => (format!("platform/infra/deploy-{i}"), Kind::Pipeline),
            4 => (
                format!("repo-{}/feature%2Fbranch-{i}", i / 8),
                Kind::Pipeline,
            ),
            5 => (format!("déploiement-{i}"), Kind::Freestyle),
            6 => (format!("team-b/lint-{i}"), Kind::Freestyle),
            _ => (format!("integration-{i}"), Kind::Pipeline),
        };
        if i % 8 == 4 {
            let parent = format!("repo-{}", i / 8);
            if !w.items.contains_key(&parent) {
                let _ = w.create(&parent, Kind::Multibranch);
            }
        }
        if w.create(&name, kind).is_ok() {
            names.push(name);
        }
    }
    w.set_node("agent-1", false, false);
    names
}

/// Runs the simulation until cancelled.
pub async fn run(world: Shared, sim: Simulation, jobs: Vec<String>, stop: CancellationToken) {
    if jobs.is_empty() || sim.builds_per_minute <= 0.0 {
        return;
    }
    let mut rng = fastrand::Rng::with_seed(sim.seed);
    let every = Duration::from_secs_f64(60.0 / sim.builds_per_minute);
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        n += 1;
        let mut w = world.lock().expect("world lock");
        let job = &jobs[rng.usize(..jobs.len())];
        let result = if rng.f64() < sim.failure_rate {
            "FAILURE"
        } else if rng.f64() < 0.05 {
            "UNSTABLE"
        } else {
            "SUCCESS"
        };
        let plan = Plan {
            duration_ms: rng.i64(sim.duration_ms.0..=sim.duration_ms.1),
            result: result.into(),
        };
        let user = (!n.is_multiple_of(3))
            .then(|| ["alice", "bob", "Jane Doe"][rng.usize(..3)].to_string());
        let id = w.enqueue(
            job,
            Enqueue {
                quiet_ms: Some(rng.i64(sim.quiet_ms.0..=sim.quiet_ms.1)),
                user,
                params: if n.is_multiple_of(4) {
                    vec![("BRANCH".into(), "main".into())]
                } else {
                    vec![]
                },
                plan: Some(plan),
            },
        );
        if let Ok(id) = id
            && rng.f64() < sim.cancel_rate
        {
            let _ = w.cancel(id);
        }
        // Now and then the agent drops and reconnects.
        if n % 50 == 25 {
            w.set_node("agent-1", true, false);
        } else if n % 50 == 30 {
            w.set_node("agent-1", false, false);
        }
    }
}
