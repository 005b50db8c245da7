//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::telemetry::Telemetry;

/// One controller's polling, as readiness sees it.
#[derive(Debug)]
pub struct ControllerHealth {
    /// Its name (shown when it is the reason for not being ready).
    pub name: String,
    /// Ready only if a poll succeeded within 3 of these.
    pub poll_interval: Duration,
    /// Last successful poll, ms (0: none yet).
    last_poll_ms: AtomicI64,
}

impl ControllerHealth {
    /// A controller not polled yet.
    pub fn new(name: &str, poll_interval: Duration) -> ControllerHealth {
        ControllerHealth {
            name: name.to_string(),
            poll_interval,
            last_poll_ms: AtomicI64::new(0),
        }
    }

    /// A poll succeeded at `now_ms`.
    pub fn polled(&self, now_ms: i64) {
        self.last_poll_ms.store(now_ms, Ordering::Relaxed);
    }

    fn ready(&self, now_ms: i64) -> Result<(), String> {
        let last = self.last_poll_ms.load(Ordering::Relaxed);
        if last == 0 {
            return Err(format!("no successful poll of Jenkins {} yet", self.name));
        }
        let limit = 3 * self.poll_interval.as_millis() as i64;
        if now_ms - last > limit {
            return Err(format!(
                "last successful poll of Jenkins {} was {} ms ago (more than 3 poll intervals)",
                self.name,
                now_ms - last
            ));
        }
        Ok(())
    }
}

/// Whether the state store can write (`--state-dir`). While it cannot, polling is paused: a
/// tick whose commit fails is undone, so nothing is published that is not on disk.
#[derive(Debug, Default)]
pub struct StoreHealth {
    failing: std::sync::Mutex<Option<String>>,
}

impl StoreHealth {
    /// A commit failed with `why`; true when that is news (not failing, or failing otherwise).
    pub fn failed(&self, why: &str) -> bool {
        let mut failing = self.failing.lock().expect("store health lock");
        let news = failing.as_deref() != Some(why);
        *failing = Some(why.to_string());
        news
    }

    /// Commits are failing.
    pub fn is_failing(&self) -> bool {
        self.failing.lock().expect("store health lock").is_some()
    }

    /// A commit succeeded; true when it had been failing.
    pub fn recovered(&self) -> bool {
        self.failing
            .lock()
            .expect("store health lock")
            .take()
            .is_some()
    }

    fn ready(&self) -> Result<(), String> {
        match self.failing.lock().expect("store health lock").as_deref() {
            Some(why) => Err(format!(
                "cannot save state, polling paused until it can (nothing is lost: Jenkins keeps what happens meanwhile): {why}"
            )),
            None => Ok(()),
        }
    }
}

/// What readiness looks at.
pub struct Health {
    /// Metrics.
    pub telemetry: Arc<Telemetry>,
    /// Every controller must have been polled recently.
    pub controllers: Vec<Arc<ControllerHealth>>,
    /// Sink names and what their dispatchers report.
    pub sinks: Vec<(String, Arc<crate::sink::SinkStatus>)>,
    /// The state store.
    pub store: Arc<StoreHealth>,
}

impl Health {
    /// `Ok` when ready, else why not.
    pub fn ready(&self, now_ms: i64) -> Result<(), String> {
        self.store.ready()?;
        for c in &self.controllers {
            c.ready(now_ms)?;
        }
        let disabled: Vec<&str> = self
            .sinks
            .iter()
            .filter(|(_, s)| s.disabled.load(Ordering::Relaxed))
            .map(|(n, _)| n.as_str())
            .collect();
        if !disabled.is_empty() {
            return Err(format!(
                "sink disabled after 410 Gone: {}",
                disabled.join(", ")
            ));
        }
        for (name, status) in &self.sinks {
            if let Some(why) = status.misconfigured() {
                return Err(format!("sink {name}: {why}"));
            }
        }
        Ok(())
    }
}

/// The router.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn readyz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    match health.ready(crate::clock::now_ms()) {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// OpenMetrics when the scraper accepts it (Prometheus asks for it first), else the Prometheus
/// text format 0.0.4.
async fn metrics(
    State(health): State<Arc<Health>>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            health.telemetry.encode(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            health.telemetry.encode_prometheus(),
        )
    }
}
