//! Delivery: one dispatcher per sink, each with its own cursor in the outbox, one retry policy,
//! and one classifier of answers.
//!
//! - [`classify`]: an HTTP status (and `Retry-After`) to a verdict; pure and table-tested.
//! - [`http`]: CloudEvents over HTTP, binary (the plugin's mode) or structured.
//! - [`nats`]: NATS JetStream (Argo Events' EventBus engine), acknowledged publishes.
//! - [`stdout`]: JSON lines, for debugging and piping.
//! - [`Dispatcher`]: reads the outbox in order, retries with jittered exponential backoff
//!   (`backon`) until the sink acknowledges, and never skips an event unless the sink refused
//!   it for good. Order per sink is the outbox order, so per-job lifecycle order holds.

pub mod classify;
pub mod file;
mod filter;
pub mod http;
pub mod nats;
pub mod stdout;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use cloudevents::Event;
use tokio_util::sync::CancellationToken;

pub use filter::Filter;

use crate::config::{Batching, Mode, SinkConfig, SinkTarget};
use crate::event::{Format, Payload};
use crate::store::{Entry, Outbox};
use crate::telemetry::{self, Telemetry};

/// Why a delivery did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Temporary: try again (after the sink's `Retry-After`, if it gave one).
    #[error("{reason}")]
    Retry {
        /// What happened.
        reason: String,
        /// Bounded label for metrics.
        error_type: &'static str,
        /// The sink's requested wait.
        after: Option<Duration>,
    },
    /// The sink is gone for good (410): stop delivering to it.
    #[error("{reason}")]
    Disable {
        /// What happened.
        reason: String,
    },
    /// The sink's configuration is wrong (a redirect, credentials, a URL that takes nothing):
    /// retried like a temporary failure, and the sink is reported not ready until it works.
    #[error("{reason}")]
    Misconfigured {
        /// What happened and what to fix.
        reason: String,
    },
    /// The sink refuses this event; retrying will not help.
    #[error("{reason}")]
    Reject {
        /// What happened.
        reason: String,
    },
}

impl SendError {
    /// Whether the receiver may have taken the event although the attempt failed: a timeout
    /// or a connection cut after the request went out, or a gateway's 502/504 (the request may
    /// have reached the server behind it). An error status from the receiver itself, a refused
    /// connection or unreadable credentials prove it did not.
    pub fn may_have_arrived(&self) -> bool {
        match self {
            SendError::Retry { error_type, .. } => {
                !matches!(*error_type, "connect" | "auth_config" | "http_status")
            }
            SendError::Disable { .. }
            | SendError::Misconfigured { .. }
            | SendError::Reject { .. } => false,
        }
    }
}

/// A destination for events.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once at start-up: boxing would buy nothing
pub enum Sink {
    /// HTTP CloudEvents receiver.
    Http(http::HttpSink),
    /// NATS JetStream.
    Nats(nats::NatsSink),
    /// Standard output.
    Stdout(stdout::StdoutSink),
    /// A file.
    File(file::FileSink),
}

/// Why a sink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The HTTP client (TLS backend).
    #[error("cannot build an HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The file cannot be opened for appending.
    #[error("cannot open the file sink {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Sink {
    /// Builds a sink from its configuration.
    pub fn new(config: &SinkConfig) -> Result<Sink, BuildError> {
        Ok(match &config.target {
            SinkTarget::Http {
                url,
                mode,
                timeout,
                auth,
                headers,
                tls,
                ..
            } => Sink::Http(
                http::HttpSink::with_tls(url.clone(), *mode, *timeout, tls)?
                    .with_auth(auth.clone(), headers.clone())
                    .for_kubesphere(config.format == Format::KubeSphere),
            ),
            SinkTarget::Nats(config) => Sink::Nats(nats::NatsSink::new(config.clone())),
            SinkTarget::Stdout => Sink::Stdout(stdout::StdoutSink),
            SinkTarget::File(path) => {
                Sink::File(
                    file::FileSink::open(path).map_err(|source| BuildError::File {
                        path: path.display().to_string(),
                        source,
                    })?,
                )
            }
        })
    }

    /// Delivers one event.
    pub async fn send(&self, payload: &Payload) -> Result<(), SendError> {
        match self {
            Sink::Http(s) => s.send(payload).await,
            Sink::Nats(s) => s.send(payload).await,
            Sink::Stdout(s) => s.send(payload),
            Sink::File(s) => s.send(payload),
        }
    }

    /// How a batch-mode sink groups events; `None` for one event per request.
    pub fn batching(config: &SinkConfig) -> Option<Batching> {
        match &config.target {
            SinkTarget::Http {
                mode: Mode::Batch,
                batching,
                ..
            } => Some(*batching),
            _ => None,
        }
    }

    /// How long one attempt may take at most (its timeout; zero for local sinks).
    pub fn attempt_timeout(&self) -> Duration {
        match self {
            Sink::Http(s) => s.timeout(),
            Sink::Nats(s) => s.timeout(),
            Sink::Stdout(_) | Sink::File(_) => Duration::ZERO,
        }
    }

    /// Checks that the sink answers, without delivering anything.
    pub async fn probe(&self) -> Result<String, String> {
        match self {
            Sink::Http(s) => s.probe().await,
            Sink::Nats(s) => s.probe().await,
            Sink::Stdout(_) => Ok("standard output".into()),
            Sink::File(s) => Ok(format!("appending to {}", s.path().display())),
        }
    }
}

/// The bounds of a sink's backoff (`retry-initial`, `retry-max` per sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

/// The one retry policy: jittered exponential backoff within the sink's bounds (250 ms to
/// 30 s by default), jitter included, forever (an event waits in the outbox until its sink
/// takes it or refuses it for good). backon's jitter adds up to the current delay again, so
/// the exponential part is capped at half the maximum.
pub fn retry_policy(backoff: Backoff) -> ExponentialBuilder {
    let half = backoff.max / 2;
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(backoff.initial.min(half))
        .with_max_delay(half)
        .without_max_times()
}

/// How long shutdown keeps delivering what is already in the outbox.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Events read from the outbox at once.
const READ_BATCH: usize = 64;

/// Feeds one sink from the outbox.
pub struct Dispatcher {
    /// Index of this sink's cursor in the outbox.
    pub index: usize,
    /// Sink name.
    pub name: String,
    /// The dialect it takes (entries in other formats are for other sinks).
    pub format: Format,
    /// The sink.
    pub sink: Sink,
    /// Batch mode: how events are grouped; `None` sends them one by one.
    pub batching: Option<Batching>,
    /// Which events this sink wants; the others are passed over (acknowledged unsent).
    pub filter: Filter,
    /// Shared outbox.
    pub outbox: Arc<Outbox>,
    /// Metrics.
    pub telemetry: Arc<Telemetry>,
    /// What readiness reports of this sink.
    pub status: Arc<SinkStatus>,
    /// Delivery records of events every copy of which the receiver acts on.
    pub claims: Arc<crate::store::Claims>,
    /// Its backoff bounds.
    pub backoff: Backoff,
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

/// How long after an attempt that may have arrived a `run.initialize` is sent again: by then
/// ks-devops's own look-up (`retryCheckPipelineRunList`: 5 tries, 1 s apart) has either created
/// the PipelineRun, which the next copy's look-up finds, or given up without one, which the next
/// copy creates. Four times that window, for a busy API server. See `docs/kubesphere.md`.
pub const LOOKUP_WAIT: Duration = Duration::from_secs(20);

/// Whether a guarded entry may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Send it.
    Go,
    /// The sink took it before: never again.
    Delivered,
    /// Not before ks-devops's look-up window has passed.
    Later,
}

/// Identical 500 answers to one `run.initialize` after which a KubeSphere sink is reported not
/// ready: ks-devops answers 500 when it cannot decode an event, and decoding is deterministic.
const REPEATED_500: u32 = 3;

impl Dispatcher {
    /// Delivers until `stop` is cancelled, then drains for at most [`DRAIN_DEADLINE`].
    pub async fn run(self, stop: CancellationToken) {
        let read = self.batching.map_or(READ_BATCH, |b| b.max_events);
        'outer: loop {
            let appended = self.outbox.appended();
            let batch = self.outbox.pending(self.index, read);
            if batch.is_empty() {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = appended => continue,
                }
            }
            if let Some(b) = self.batching {
                // A short batch waits for company, at most `max_wait` from its oldest event.
                let age = Duration::from_millis(
                    (crate::poller::now_ms() - batch[0].appended_at).max(0) as u64,
                );
                if batch.len() < b.max_events && age < b.max_wait {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = appended => continue,
                        _ = tokio::time::sleep(b.max_wait - age) => continue,
                    }
                }
                let last = batch[batch.len() - 1].seq;
                let wanted: Vec<Entry> = batch.into_iter().filter(|e| self.wanted(e)).collect();
                if !wanted.is_empty() {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        () = self.deliver(&wanted) => {}
                    }
                }
                self.outbox.ack(self.index, last);
                continue;
            }
            for entry in batch {
                if !self.wanted(&entry) {
                    self.outbox.ack(self.index, entry.seq);
                    continue;
                }
                tokio::select! {
                    _ = stop.cancelled() => break 'outer,
                    () = self.deliver(std::slice::from_ref(&entry)) => {}
                }
            }
        }
        let _ = tokio::time::timeout(DRAIN_DEADLINE, self.drain()).await;
    }

    fn wanted(&self, entry: &Entry) -> bool {
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
                let events: Vec<Event> = entries
                    .iter()
                    .filter_map(|e| match &*e.event {
                        Payload::Cloud(event) => Some(event.clone()),
                        Payload::Generic(_) => None, // refused by the configuration
                    })
                    .collect();
                http.send_batch(&events).await
            }
            _ => self.sink.send(&entries[0].event).await,
        }
    }

    /// Delivers entries (one, or a batch) with the retry policy, until acknowledged or refused.
    async fn deliver(&self, entries: &[Entry]) {
        if self.status.disabled.load(Ordering::Relaxed) {
            // A disabled sink keeps its cursor: its events stay counted as waiting.
            std::future::pending::<()>().await;
        }
        let first = &entries[0];
        let guarded = entries.len() == 1 && self.guarded(first);
        // The last 500 answer and how many times in a row it came (KubeSphere sinks).
        let repeated = std::sync::Mutex::new((String::new(), 0u32));
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
                Err(SendError::Retry {
                    reason,
                    error_type: "http_status",
                    ..
                }) if self.format == Format::KubeSphere && reason.contains("HTTP 500") => {
                    let mut repeated = repeated.lock().expect("repeats lock");
                    if repeated.0 == *reason {
                        repeated.1 += 1;
                    } else {
                        *repeated = (reason.clone(), 1);
                    }
                    (repeated.1 >= REPEATED_500).then(|| format!(
                        "{reason}, {REPEATED_500} times alike: ks-devops answers 500 when it cannot decode an event, so this one will not pass as it is; check that the sink's URL is ks-devops's webhook (v3.3 or later) and report the answer; events wait"
                    ))
                }
                _ => None,
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
            if let SendError::Retry {
                reason, error_type, ..
            } = e
            {
                telemetry::SinkRetry {
                    sink: &self.name,
                    id: first.event.id(),
                    job: first.job.as_deref(),
                    reason,
                    error_type,
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

    /// Whether every copy of this entry that reaches this sink is acted on, so that a copy may
    /// follow one that may have arrived only after the receiver's look-up: KubeSphere's
    /// `run.initialize`, from which ks-devops creates a PipelineRun.
    fn guarded(&self, entry: &Entry) -> bool {
        self.format == Format::KubeSphere
            && entry.event.ty() == crate::event::kubesphere::RUN_INITIALIZE
    }

    /// Before an attempt of a guarded entry: [`Turn::Delivered`] if this sink took it before
    /// (it is not sent again). Otherwise waits (when `wait`, else answers [`Turn::Later`])
    /// until ks-devops's look-up will find what an earlier attempt that may have arrived
    /// created, then records the attempt as if it will be ambiguous (so that a crash during it
    /// keeps the rule).
    async fn take_turn(&self, entry: &Entry, wait: bool) -> Turn {
        let id = entry.event.id();
        loop {
            let not_before = self.stored(|| self.claims.not_before(&self.name, id)).await;
            let now = crate::poller::now_ms();
            match not_before {
                Some(crate::store::claims::DELIVERED) => {
                    tracing::info!(sink = %self.name, id, job = entry.job.as_deref(), "run.initialize was delivered to this sink before: not sent again");
                    return Turn::Delivered;
                }
                Some(at) if at > now => {
                    if !wait {
                        return Turn::Later;
                    }
                    tracing::info!(sink = %self.name, id, job = entry.job.as_deref(), wait_ms = at - now, "run.initialize may have reached ks-devops: sent again once its look-up would find the PipelineRun");
                    tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
                }
                _ => break,
            }
        }
        let bound = self.sink.attempt_timeout() + LOOKUP_WAIT;
        let until = crate::poller::now_ms() + bound.as_millis() as i64;
        self.stored(|| self.claims.hold_until(&self.name, id, until))
            .await;
        Turn::Go
    }

    /// After an attempt of a guarded entry: delivered, provably not arrived (send at will), or
    /// maybe arrived (send again only after ks-devops's look-up).
    async fn record(&self, entry: &Entry, result: &Result<(), SendError>) {
        let id = entry.event.id();
        match result {
            Ok(()) => {
                self.stored(|| {
                    self.claims
                        .hold_until(&self.name, id, crate::store::claims::DELIVERED)
                })
                .await
            }
            Err(e) if e.may_have_arrived() => {
                tracing::warn!(sink = %self.name, id, job = entry.job.as_deref(), "run.initialize may have reached ks-devops ({e}): it is sent again after {}, when ks-devops's own look-up finds the PipelineRun the first copy created, so there is exactly one", humantime::format_duration(LOOKUP_WAIT));
                let until = crate::poller::now_ms() + LOOKUP_WAIT.as_millis() as i64;
                self.stored(|| self.claims.hold_until(&self.name, id, until))
                    .await
            }
            Err(_) => self.stored(|| self.claims.release(&self.name, id)).await,
        }
    }

    /// A delivery-record operation, retried until the store takes it.
    async fn stored<T>(&self, op: impl Fn() -> Result<T, crate::store::StoreError>) -> T {
        (|| async { op() })
            .retry(retry_policy(self.backoff))
            .notify(|e, _| tracing::error!(sink = %self.name, "cannot write the delivery record of a run.initialize, retrying: {e}"))
            .await
            .expect("retried without limit")
    }

    fn acked(&self, entries: &[Entry]) {
        let now = crate::poller::now_ms();
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

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn backoff_stays_within_its_documented_bounds_jitter_included() {
        let bounds = [
            Backoff::default(),
            Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(5),
            },
            Backoff {
                initial: Duration::from_secs(20),
                max: Duration::from_secs(30),
            },
        ];
        for backoff in bounds {
            let low = backoff.initial.min(backoff.max / 2);
            let mut highest = Duration::ZERO;
            for _ in 0..200 {
                for delay in retry_policy(backoff).build().take(40) {
                    assert!(
                        delay >= low && delay <= backoff.max,
                        "{delay:?} outside {low:?}..={:?}",
                        backoff.max
                    );
                    highest = highest.max(delay);
                }
            }
            assert!(
                highest > backoff.max * 3 / 4,
                "the cap is reached: {highest:?}"
            );
        }
    }
}
