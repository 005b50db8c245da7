//! One dispatcher per sink: it reads the outbox from the sink's cursor, in order, and
//! delivers with the retry policy until the sink acknowledges, never skipping an event unless
//! the sink refused it for good. Order per sink is the outbox order, so per-job lifecycle
//! order holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::Retryable;
use tokio_util::sync::CancellationToken;

use super::SinkConfig;
use super::http::Batching;
use super::once::{Repeated500, Turn};
use super::{Backoff, BuildError, Filter, SendError, Sink, retry_policy};
use crate::event::Format;
use crate::store::{Claims, Entry, Outbox};
use crate::telemetry::{self, Telemetry};

/// How long shutdown keeps delivering what is already in the outbox.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Events read from the outbox at once.
const READ_BATCH: usize = 64;

/// Feeds one sink from the outbox.
pub struct Dispatcher {
    /// Index of this sink's cursor in the outbox.
    pub(super) index: usize,
    /// Sink name.
    pub(super) name: String,
    /// The dialect it takes (entries in other formats are for other sinks).
    pub(super) format: Format,
    /// The sink.
    pub(super) sink: Sink,
    /// Batch mode: how events are grouped; `None` sends them one by one.
    pub(super) batching: Option<Batching>,
    /// Which events this sink wants; the others are passed over (acknowledged unsent).
    filter: Filter,
    /// Shared outbox.
    pub(super) outbox: Arc<Outbox>,
    /// Metrics.
    pub(super) telemetry: Arc<Telemetry>,
    /// What readiness reports of this sink.
    pub(super) status: Arc<SinkStatus>,
    /// Delivery records of events every copy of which the receiver acts on.
    pub(super) claims: Arc<Claims>,
    /// Its backoff bounds.
    pub(super) backoff: Backoff,
}

impl Dispatcher {
    /// The dispatcher of the sink `config`, reading the outbox at cursor `index`; `status` is
    /// what readiness reads of it.
    pub fn new(
        index: usize,
        config: &SinkConfig,
        outbox: Arc<Outbox>,
        telemetry: Arc<Telemetry>,
        status: Arc<SinkStatus>,
        claims: Arc<Claims>,
    ) -> Result<Dispatcher, BuildError> {
        if let super::SinkTarget::Http { tls, .. } = &config.target
            && tls.insecure_skip_verify
        {
            tracing::warn!(sink = %config.name, "insecure-skip-verify: this sink's TLS certificate is NOT verified; use ca-file instead outside tests");
        }
        Ok(Dispatcher {
            index,
            name: config.name.clone(),
            format: config.format,
            sink: Sink::new(config)?,
            batching: Sink::batching(config),
            filter: config.filter.clone(),
            outbox,
            telemetry,
            status,
            claims,
            backoff: config.backoff,
        })
    }
}

/// A sink's state as readiness reports it, written by its dispatcher.
#[derive(Debug, Default)]
pub struct SinkStatus {
    /// It answered 410 Gone: no more deliveries until restart.
    pub disabled: AtomicBool,
    /// Its configuration is wrong (the last answer said so), and how: events wait.
    misconfigured: std::sync::Mutex<Option<String>>,
}

impl SinkStatus {
    /// Why the sink's configuration is wrong, if its last answer said it is.
    pub fn misconfigured(&self) -> Option<String> {
        self.misconfigured.lock().expect("sink status lock").clone()
    }

    /// Records the latest verdict on the configuration; true when that is news.
    fn set_misconfigured(&self, why: Option<&str>) -> bool {
        let mut current = self.misconfigured.lock().expect("sink status lock");
        let news = current.as_deref() != why;
        *current = why.map(str::to_owned);
        news
    }
}

impl Dispatcher {
    /// Delivers until `stop` is cancelled, then drains for at most [`DRAIN_DEADLINE`]. Starts
    /// with a health check of the sink.
    pub async fn run(self, stop: CancellationToken) {
        tokio::select! {
            _ = stop.cancelled() => {}
            () = self.health_check() => {}
        }
        let read = self.batching.map_or(READ_BATCH, |b| b.max_events);
        loop {
            let appended = self.outbox.appended();
            let entries = self.outbox.pending(self.index, read);
            if entries.is_empty() {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = appended => continue,
                }
            }
            let go_on = match self.batching {
                Some(b) => self.deliver_batch(b, entries, appended, &stop).await,
                None => self.deliver_each(entries, &stop).await,
            };
            if !go_on {
                break;
            }
        }
        let _ = tokio::time::timeout(DRAIN_DEADLINE, self.drain()).await;
    }

    /// Asks the sink whether it would take events, delivering nothing, so that a wrong URL or
    /// credentials show in the log and in `/readyz` before the first build, not at it. A sink
    /// that is not up yet is only logged: its events wait in the outbox.
    async fn health_check(&self) {
        match self.sink.probe().await {
            Ok(answer) => tracing::info!(sink = %self.name, "sink checked: {answer}"),
            Err(SendError::Misconfigured { reason }) => {
                if self.status.set_misconfigured(Some(&reason)) {
                    tracing::error!(sink = %self.name, "{reason}");
                }
            }
            Err(e) => tracing::warn!(
                sink = %self.name,
                "sink check failed: {e}; events wait in the outbox and are retried"
            ),
        }
    }

    /// One event per request, in order; `false` once `stop` is cancelled.
    async fn deliver_each(&self, entries: Vec<Entry>, stop: &CancellationToken) -> bool {
        for entry in entries {
            if !self.wanted(&entry) {
                self.outbox.ack(self.index, entry.seq);
                continue;
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                () = self.deliver(std::slice::from_ref(&entry)) => {}
            }
        }
        true
    }

    pub(super) fn wanted(&self, entry: &Entry) -> bool {
        entry.format == self.format
            && self
                .filter
                .wants(entry.event.ty(), entry.job.as_deref(), &entry.controller)
    }

    /// One attempt per waiting event (or batch), until none is left or one fails.
    async fn drain(&self) {
        let read = self.batching.map_or(1, |b| b.max_events);
        loop {
            let batch = self.outbox.pending(self.index, read);
            if batch.is_empty() || self.status.disabled.load(Ordering::Relaxed) {
                return;
            }
            let last = batch[batch.len() - 1].seq;
            let wanted: Vec<Entry> = batch.into_iter().filter(|e| self.wanted(e)).collect();
            if !wanted.is_empty() {
                let guarded = wanted.len() == 1 && self.guarded(&wanted[0]);
                let turn = if guarded {
                    self.take_turn(&wanted[0], false).await
                } else {
                    Turn::Go
                };
                match turn {
                    Turn::Go => {}
                    Turn::Delivered => {
                        self.outbox.ack(self.index, last);
                        continue;
                    }
                    // Waiting for ks-devops's look-up: sent after the restart.
                    Turn::Later => return,
                }
                let result = self.send(&wanted).await;
                if guarded {
                    self.record(&wanted[0], &result).await;
                }
                match result {
                    Ok(()) => self.acked(&wanted),
                    Err(_) => return,
                }
            }
            self.outbox.ack(self.index, last);
        }
    }

    /// One attempt: a batch in batch mode, else the one event.
    async fn send(&self, entries: &[Entry]) -> Result<(), SendError> {
        match (&self.sink, self.batching) {
            (Sink::Http(http), Some(_)) => {
                http.send_batch(&super::batch::cloud_events(entries)).await
            }
            _ => self.sink.send(&entries[0].event).await,
        }
    }

    /// Delivers entries (one, or a batch) with the retry policy, until acknowledged or refused.
    pub(super) async fn deliver(&self, entries: &[Entry]) {
        if self.status.disabled.load(Ordering::Relaxed) {
            // A disabled sink keeps its cursor: its events stay counted as waiting.
            std::future::pending::<()>().await;
        }
        let first = &entries[0];
        let guarded = entries.len() == 1 && self.guarded(first);
        let repeated = Repeated500::default();
        let result = (|| async {
            if guarded && self.take_turn(first, true).await == Turn::Delivered {
                return Ok(false);
            }
            let result = self.send(entries).await;
            if guarded {
                self.record(first, &result).await;
            }
            let misconfigured = match &result {
                Err(SendError::Misconfigured { reason }) => Some(reason.clone()),
                _ => repeated.verdict(self.format, &result),
            };
            match misconfigured {
                Some(reason) => {
                    if self.status.set_misconfigured(Some(&reason)) {
                        tracing::error!(sink = %self.name, "{reason}");
                    }
                }
                None => {
                    if self.status.set_misconfigured(None) {
                        tracing::info!(sink = %self.name, "the sink takes events again");
                    }
                }
            }
            result.map(|()| true)
        })
        .retry(retry_policy(self.backoff))
        // A guarded event is retried whatever the failure: `take_turn` makes a copy that may
        // follow one that arrived wait for ks-devops's look-up.
        .when(|e| matches!(e, SendError::Retry { .. } | SendError::Misconfigured { .. }))
        .adjust(|e, backoff| match e {
            SendError::Retry {
                after: Some(after), ..
            } => Some(*after),
            _ => backoff,
        })
        .notify(|e, after| {
            if let SendError::Misconfigured { reason } = e {
                // Logged once when it starts (above); counted every time.
                telemetry::SinkMisconfigured {
                    sink: &self.name,
                    reason,
                }
                .emit(&self.telemetry);
            }
            if let SendError::Retry { reason, cause, .. } = e {
                telemetry::SinkRetry {
                    sink: &self.name,
                    id: first.event.id(),
                    job: first.job.as_deref(),
                    reason,
                    error_type: cause.label(),
                    after,
                }
                .emit(&self.telemetry);
            }
        })
        .await;
        match result {
            Ok(true) => self.acked(entries),
            Ok(false) => self.outbox.ack(self.index, first.seq),
            Err(SendError::Reject { reason }) => {
                for entry in entries {
                    telemetry::SinkRejected {
                        sink: &self.name,
                        id: entry.event.id(),
                        job: entry.job.as_deref(),
                        reason: &reason,
                    }
                    .emit(&self.telemetry);
                }
                self.outbox.ack(self.index, entries[entries.len() - 1].seq);
            }
            Err(SendError::Disable { reason }) => {
                telemetry::SinkDisabled {
                    sink: &self.name,
                    reason: &reason,
                }
                .emit(&self.telemetry);
                self.status.disabled.store(true, Ordering::Relaxed);
                std::future::pending::<()>().await;
            }
            Err(SendError::Retry { .. } | SendError::Misconfigured { .. }) => {
                unreachable!("retried without limit")
            }
        }
    }

    fn acked(&self, entries: &[Entry]) {
        let now = crate::clock::now_ms();
        for entry in entries {
            telemetry::EventSent {
                sink: &self.name,
                ty: entry.event.ty(),
                id: entry.event.id(),
                job: entry.job.as_deref(),
                latency: (now - entry.appended_at).max(0) as f64 / 1000.0,
            }
            .emit(&self.telemetry);
        }
        self.outbox.ack(self.index, entries[entries.len() - 1].seq);
        telemetry::OutboxDepth(self.outbox.depth()).emit(&self.telemetry);
    }
}
