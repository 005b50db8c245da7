//! mock-jenkins: a Jenkins stand-in for what a watcher reads.
//!
//! - [`world`]: the simulated controller (jobs, builds, queue, nodes) and how time moves it.
//! - [`render`] + [`tree`]: the JSON Jenkins would serve, honouring `tree=` and `depth=`.
//! - [`api`]: the HTTP routes (read and write), Jenkins' auth and CSRF semantics, headers,
//!   injected faults; [`xml`] writes `/api/xml`, [`config`] reads `config.xml`.
//! - [`control`]: the control API and scenario files.
//! - [`sim`]: a traffic simulator for demos and load.
//!
//! [`MockJenkins::start`] runs it in-process (for tests and the shim's demo); the
//! `mock-jenkins` binary runs it on its own. This crate never depends on the shim.
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod control;
pub mod render;
pub mod sim;
pub mod tree;
pub mod world;
pub mod xml;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use world::{Enqueue, Fault, FaultKind, Kind, Plan, Settings, World};

/// How often the world's clock moves (quiet periods end, planned builds finish).
pub const ADVANCE_EVERY: Duration = Duration::from_millis(25);

/// A running mock Jenkins.
pub struct MockJenkins {
    /// Where it listens.
    pub addr: SocketAddr,
    context: String,
    world: api::Shared,
    token: CancellationToken,
    tracker: TaskTracker,
}

impl MockJenkins {
    /// Binds `addr` (port 0 for any), serves, and moves the world's clock until stopped.
    pub async fn start(settings: Settings, addr: SocketAddr) -> std::io::Result<MockJenkins> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let context = settings.context_path.trim_end_matches('/').to_string();
        let mut world = World::new(settings);
        world.root_url = world
            .settings
            .root_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}{context}/"));
        let world: api::Shared = Arc::new(Mutex::new(world));
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let app = if context.is_empty() {
            api::router(world.clone())
        } else {
            // Jenkins with `--prefix`: everything under the context path, nothing elsewhere.
            axum::Router::new().nest(&context, api::router(world.clone()))
        };
        let stop = token.clone();
        tracker.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        let clock = world.clone();
        let stop = token.clone();
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(ADVANCE_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => clock.lock().expect("world lock").advance(world::now_ms()),
                }
            }
        });
        Ok(MockJenkins {
            context,
            addr,
            world,
            token,
            tracker,
        })
    }

    /// The root URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}{}/", self.addr, self.context)
    }

    /// The world, to script it.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("world lock")
    }

    /// A handle to the world for tasks (the simulator).
    pub fn shared(&self) -> api::Shared {
        self.world.clone()
    }

    /// The shutdown token (cancel it to stop the server and the clock).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Stops serving and waits for the tasks to end.
    pub async fn stop(self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
