//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::telemetry::Telemetry;

/// What readiness looks at.
pub struct Health {
    /// Metrics and the last poll time.
    pub telemetry: Arc<Telemetry>,
    /// Ready only if a poll succeeded within 3 of these.
    pub poll_interval: Duration,
    /// Sink names and their disabled flags.
    pub sinks: Vec<(String, Arc<AtomicBool>)>,
}

impl Health {
    /// `Ok` when ready, else why not.
    pub fn ready(&self, now_ms: i64) -> Result<(), String> {
        let last = self.telemetry.last_poll_ms();
        if last == 0 {
            return Err("no successful poll of Jenkins yet".into());
        }
        let limit = 3 * self.poll_interval.as_millis() as i64;
        if now_ms - last > limit {
            return Err(format!(
                "last successful poll of Jenkins was {} ms ago (more than 3 poll intervals)",
                now_ms - last
            ));
        }
        let disabled: Vec<&str> = self
            .sinks
            .iter()
            .filter(|(_, d)| d.load(Ordering::Relaxed))
            .map(|(n, _)| n.as_str())
            .collect();
        if !disabled.is_empty() {
            return Err(format!(
                "sink disabled after 410 Gone: {}",
                disabled.join(", ")
            ));
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
    match health.ready(crate::poller::now_ms()) {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.telemetry.encode(),
    )
}
