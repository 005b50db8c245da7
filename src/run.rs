//! Wiring: one poller per controller, the outbox, one dispatcher per sink and the health
//! server, under one shutdown token.
//!
//! The pollers read Jenkins concurrently; each then appends its tick's events under one lock
//! (number, commit, publish), so the outbox stays in sequence order and every commit holds one
//! controller's cursor with its own events.
//!
//! Shutdown order: stop polling, let the dispatchers drain (bounded by
//! [`crate::sink::DRAIN_DEADLINE`]), then stop serving.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Controller};
use crate::jenkins;
use crate::poller::Poller;
use crate::serve::{self, ControllerHealth, Health, StoreHealth};
use crate::sink::Dispatcher;
use crate::store::{Entry, Outbox, OverflowPolicy, Store, StoreError};
use crate::telemetry::{self, Telemetry};
use crate::watch::State;

/// Why the shim could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The health/metrics address is taken or not ours.
    #[error("cannot listen on {addr} (--listen): {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built (TLS backend).
    #[error("cannot build an HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// A sink could not be set up.
    #[error(transparent)]
    Sink(#[from] crate::sink::BuildError),
    /// The state file cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The last commit at shutdown failed: what it held is not on disk.
    #[error(
        "state not saved at shutdown ({reason}): the cursor and {waiting} undelivered events since the last good save are not on disk; the next start re-derives them from Jenkins and re-sends under the same ids (free space in --state-dir first)"
    )]
    NotSaved {
        /// Why the last commit failed.
        reason: String,
        /// Events waiting in memory.
        waiting: usize,
    },
}

/// The durable store and what a commit needs.
struct Persistence {
    store: Store,
    sinks: Vec<String>,
}

impl Persistence {
    fn commit(
        &self,
        controller: &str,
        state: &State,
        appended: &[Entry],
        outbox: &Outbox,
    ) -> Result<(), StoreError> {
        self.store
            .commit(controller, state, appended, &self.acked(outbox))
    }

    /// Only how far each sink got (at shutdown, after the last deliveries).
    fn commit_acks(&self, outbox: &Outbox) -> Result<(), StoreError> {
        self.store.commit_acks(&self.acked(outbox))
    }

    fn acked(&self, outbox: &Outbox) -> Vec<(String, u64)> {
        self.sinks.iter().cloned().zip(outbox.cursors()).collect()
    }
}

/// Opens the store and restores each controller's cursor and the outbox from it.
fn restore(
    config: &Config,
    outbox: &Outbox,
) -> Result<(Option<Persistence>, Vec<State>), StoreError> {
    let fresh = || {
        config
            .controllers
            .iter()
            .map(|_| State::default())
            .collect()
    };
    let Some(dir) = &config.state_dir else {
        tracing::warn!(
            "no --state-dir: state is in memory only; events not yet delivered are lost on exit, and a restart begins again at \"now\""
        );
        return Ok((None, fresh()));
    };
    let sinks: Vec<String> = config.sinks.iter().map(|s| s.name.clone()).collect();
    let (store, saved) = Store::open(dir)?;
    let mut states: Vec<State> = fresh();
    match saved {
        None => tracing::info!(path = %store.path().display(), "no saved state: starting from now"),
        Some(mut s) => {
            for (c, state) in config.controllers.iter().zip(states.iter_mut()) {
                match s.states.remove(c.jenkins.url.as_str()) {
                    Some(saved) => *state = saved,
                    None => {
                        tracing::info!(controller = %c.name, "no saved cursor for this Jenkins URL: starting from now")
                    }
                }
            }
            for url in s.states.keys() {
                tracing::warn!(saved_for = %url, "saved state belongs to a Jenkins URL no longer configured: ignored");
            }
            let first = s.events.first().map_or(0, |(seq, _)| *seq);
            // A sink new to this store has seen none of the waiting events.
            let acked: Vec<u64> = sinks
                .iter()
                .map(|n| s.acked.get(n).copied().unwrap_or(first))
                .collect();
            let waiting = s.events.len();
            outbox.restore(s.events, &acked, crate::clock::now_ms());
            tracing::info!(path = %store.path().display(), waiting, "resuming from saved state");
        }
    }
    Ok((Some(Persistence { store, sinks }), states))
}

/// Runs until `shutdown` is cancelled. `ready` is told the bound health address.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), RunError> {
    let telemetry = Arc::new(Telemetry::new());
    for c in &config.controllers {
        telemetry.declare_controller(&c.name);
    }
    for s in &config.sinks {
        telemetry.declare_sink(&s.name);
    }
    let outbox = Arc::new(Outbox::new(
        config.sinks.len(),
        config.outbox_capacity,
        config.outbox_full,
    ));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| RunError::Listen {
        addr: config.listen,
        source,
    })?;
    let mut pollers = Vec::new();
    for c in &config.controllers {
        pollers.push(jenkins::Client::new(c.jenkins.clone())?);
    }

    // Restored before the dispatchers start, so that they find what was waiting.
    let (persistence, states) = restore(&config, &outbox)?;
    let claims = Arc::new(match &persistence {
        Some(p) => p.store.claims(),
        None => crate::store::Claims::in_memory(),
    });
    let tracker = TaskTracker::new();
    let delivery = CancellationToken::new();
    let mut sink_flags = Vec::new();
    for (index, sink_config) in config.sinks.iter().enumerate() {
        let status = Arc::new(crate::sink::SinkStatus::default());
        sink_flags.push((sink_config.name.clone(), status.clone()));
        let dispatcher = Dispatcher::new(
            index,
            sink_config,
            outbox.clone(),
            telemetry.clone(),
            status,
            claims.clone(),
        )?;
        tracker.spawn(dispatcher.run(delivery.clone()));
    }

    let controllers: Vec<Arc<ControllerHealth>> = config
        .controllers
        .iter()
        .map(|c| Arc::new(ControllerHealth::new(&c.name, c.poll_interval)))
        .collect();
    let store_health = Arc::new(StoreHealth::default());
    let health = Arc::new(Health {
        telemetry: telemetry.clone(),
        controllers: controllers.clone(),
        sinks: sink_flags,
        store: store_health.clone(),
    });
    let serving = CancellationToken::new();
    let stop_serving = serving.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, serve::router(health))
            .with_graceful_shutdown(stop_serving.cancelled_owned())
            .await;
    });
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }

    let sinks: Vec<&str> = config.sinks.iter().map(|s| s.name.as_str()).collect();
    for c in &config.controllers {
        tracing::info!(
            controller = %c.name,
            jenkins = %c.jenkins.url,
            user = c.jenkins.user.as_deref().unwrap_or("anonymous"),
            sinks = ?sinks,
            poll_interval = ?c.poll_interval,
            scan_interval = ?c.scan_interval,
            listen = %addr,
            "jenkins-event-shim starting"
        );
        if c.backfill.is_some()
            && config
                .sinks
                .iter()
                .any(|s| s.format == crate::event::Format::KubeSphere)
        {
            tracing::warn!(
                controller = %c.name,
                "--backfill with a kubesphere sink: replayed builds get run.initialize, and ks-devops creates PipelineRuns for those it never knew"
            );
        }
        if c.jenkins.tls.insecure_skip_verify {
            tracing::warn!(
                controller = %c.name,
                "jenkins-insecure-skip-verify: Jenkins' TLS certificate is NOT verified; use --jenkins-ca-file instead outside tests"
            );
        }
    }

    let shared = Arc::new(Shared {
        outbox: outbox.clone(),
        persistence,
        telemetry: telemetry.clone(),
        sinks: config.sinks.iter().map(|s| s.name.clone()).collect(),
        append: tokio::sync::Mutex::new(()),
        store_health,
        unsaved: std::sync::Mutex::new(None),
    });
    let polling = TaskTracker::new();
    for (((c, client), state), health) in config
        .controllers
        .iter()
        .zip(pollers)
        .zip(states)
        .zip(controllers)
    {
        let mut poller = Poller::new(
            client,
            state,
            c.encoder.clone(),
            c.folder_depth,
            c.scan_interval,
            telemetry.clone(),
        );
        if let Some(window) = c.backfill {
            poller.backfill(window);
        }
        polling.spawn(poll(
            c.clone(),
            poller,
            shared.clone(),
            health,
            shutdown.clone(),
        ));
    }
    polling.close();
    polling.wait().await;
    tracing::info!(
        waiting = outbox.depth(),
        "stopping: polling stopped, draining deliveries"
    );
    delivery.cancel();
    tracker.close();
    tracker.wait().await;
    if let Some(p) = &shared.persistence
        && let Err(e) = p.commit_acks(&shared.outbox)
    {
        shared.not_saved(e.to_string());
    }
    serving.cancel();
    let _ = server.await;
    tracing::info!(undelivered = outbox.depth(), "stopped");
    let unsaved = shared.unsaved.lock().expect("unsaved lock").take();
    match unsaved {
        Some(reason) => Err(RunError::NotSaved {
            reason,
            waiting: outbox.depth(),
        }),
        None => Ok(()),
    }
}

/// What the pollers share: the outbox, the store, and the lock that keeps appends in order.
struct Shared {
    outbox: Arc<Outbox>,
    persistence: Option<Persistence>,
    telemetry: Arc<Telemetry>,
    sinks: Vec<String>,
    append: tokio::sync::Mutex<()>,
    /// Whether commits work (readiness).
    store_health: Arc<StoreHealth>,
    /// Why a commit at shutdown failed, if one did (the process then exits non-zero).
    unsaved: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn not_saved(&self, reason: String) {
        self.unsaved
            .lock()
            .expect("unsaved lock")
            .get_or_insert(reason);
    }
}

/// Polls one controller until `shutdown`: each tick's events are numbered, committed with the
/// cursor, then published, under the append lock.
async fn poll(
    controller: Controller,
    mut poller: Poller,
    shared: Arc<Shared>,
    health: Arc<ControllerHealth>,
    shutdown: CancellationToken,
) {
    let name = controller.name.as_str();
    let url = controller.jenkins.url.to_string();
    let outbox = &shared.outbox;
    let telemetry = &shared.telemetry;
    let mut ticks = tokio::time::interval(controller.poll_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        if outbox.policy() == OverflowPolicy::Block && outbox.is_full() {
            // Not polling keeps the cursor where it is: what happens meanwhile is caught up
            // once a sink drains the outbox.
            telemetry::OutboxFull {
                waiting: outbox.depth(),
            }
            .emit(telemetry);
            continue;
        }
        if let Some(p) = &shared.persistence
            && shared.store_health.is_failing()
        {
            // Paused: a small write (how far the sinks got) says whether the store works
            // again before Jenkins is polled.
            let _append = shared.append.lock().await;
            if let Err(e) = p.commit_acks(outbox) {
                let why = e.to_string();
                if shared.store_health.failed(&why) {
                    tracing::error!(controller = %name, "saving state still fails, polling paused: {why}");
                }
                continue;
            }
        }
        // A tick whose commit fails must be as if it had not happened.
        let checkpoint = shared.persistence.as_ref().map(|_| poller.checkpoint());
        let result = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = poller.tick() => r,
        };
        match result {
            Ok(events) => {
                health.polled(crate::clock::now_ms());
                if last_error.take().is_some() {
                    tracing::info!(controller = %name, "polling Jenkins works again");
                }
                let _append = shared.append.lock().await;
                let entries = outbox.prepare(events, crate::clock::now_ms());
                if let Some(p) = &shared.persistence {
                    // The tick's cursor and its events in one transaction, before any sink
                    // sees them. If it fails, nothing of the tick is published and the cursor
                    // goes back: the next tick polls again from there (and the store is
                    // opened again, which a full disk that has been freed needs).
                    if let Err(e) = p.commit(&url, poller.state(), &entries, outbox) {
                        outbox.unprepare(&entries);
                        if let Some(checkpoint) = checkpoint {
                            poller.restore(checkpoint);
                        }
                        telemetry::StoreWritable(false).emit(telemetry);
                        let why = e.to_string();
                        if shared.store_health.failed(&why) {
                            tracing::error!(controller = %name, "saving state failed, polling paused until it works (nothing of this tick was sent; it is polled again): {why}; free space or fix --state-dir");
                        }
                        continue;
                    }
                    if shared.store_health.recovered() {
                        telemetry::StoreWritable(true).emit(telemetry);
                        tracing::info!(controller = %name, "saving state works again, polling resumes");
                    }
                }
                let dropped = outbox.publish(entries);
                if dropped > 0 {
                    telemetry::OutboxOverflow {
                        dropped,
                        sinks: shared.sinks.clone(),
                    }
                    .emit(telemetry);
                }
                telemetry::OutboxDepth(outbox.depth()).emit(telemetry);
            }
            Err(e) => {
                // Log a failure once, and again only when it changes (no log flood).
                let text = e.to_string();
                if last_error.as_deref() != Some(&text) {
                    tracing::error!(controller = %name, "polling Jenkins failed, retrying every poll interval: {text}");
                    last_error = Some(text);
                }
            }
        }
    }
    if let Some(p) = &shared.persistence {
        let _append = shared.append.lock().await;
        if let Err(e) = p.commit(&url, poller.state(), &[], outbox) {
            tracing::error!(controller = %name, "saving state at shutdown failed: {e}");
            shared.not_saved(e.to_string());
        }
    }
}
