//! Internal events: each fact worth counting is a struct whose `emit()` logs and counts it in
//! one place (Vector's instrumentation spec). Labels stay bounded: never a job name or an id.

use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every `error_type` of a sink's errors.
const SINK_ERROR_TYPES: &[&str] = &[
    "connect",
    "timeout",
    "transport",
    "http_status",
    "gateway",
    "misconfigured",
    "rejected",
    "gone",
    "auth_config",
    "write",
    "publish",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    controller: String,
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: String,
    endpoint: &'static str,
    error_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkTypeLabels {
    sink: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkErrorLabels {
    sink: String,
    error_type: &'static str,
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    polls: Counter,
    poll_errors: Family<ErrorLabels, Counter>,
    requests: Family<EndpointLabels, Counter>,
    response_bytes: Family<EndpointLabels, Counter>,
    events: Family<TypeLabels, Counter>,
    sent: Family<SinkTypeLabels, Counter>,
    retries: Family<SinkLabels, Counter>,
    sink_errors: Family<SinkErrorLabels, Counter>,
    discarded: Family<SinkLabels, Counter>,
    latency: Family<SinkLabels, Histogram>,
    outbox: Gauge,
    last_poll: Gauge,
    store_writable: Gauge,
    outbox_full: Counter,
    outbox_full_logged_ms: AtomicI64,
    kubesphere_incomplete: Counter,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Telemetry {
    /// Registers every metric.
    pub fn new() -> Telemetry {
        let mut registry = Registry::default();
        let t = Telemetry {
            polls: Counter::default(),
            poll_errors: Family::default(),
            requests: Family::default(),
            response_bytes: Family::default(),
            events: Family::default(),
            sent: Family::default(),
            retries: Family::default(),
            sink_errors: Family::default(),
            discarded: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            outbox: Gauge::default(),
            last_poll: Gauge::default(),
            store_writable: Gauge::default(),
            outbox_full: Counter::default(),
            outbox_full_logged_ms: AtomicI64::new(0),
            kubesphere_incomplete: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("jenkins_polls", "Poll ticks completed", t.polls.clone());
        registry.register(
            "jenkins_errors",
            "Failed Jenkins requests",
            t.poll_errors.clone(),
        );
        registry.register(
            "jenkins_requests",
            "Requests sent to Jenkins",
            t.requests.clone(),
        );
        registry.register(
            "jenkins_response_bytes",
            "Response bytes received from Jenkins",
            t.response_bytes.clone(),
        );
        registry.register(
            "component_emitted_events",
            "Events produced, by CloudEvent type",
            t.events.clone(),
        );
        registry.register(
            "component_sent_events",
            "Events delivered, by sink and type",
            t.sent.clone(),
        );
        registry.register(
            "sink_retries",
            "Delivery attempts retried",
            t.retries.clone(),
        );
        registry.register(
            "component_errors",
            "Delivery failures, by sink and error type",
            t.sink_errors.clone(),
        );
        registry.register(
            "component_discarded_events",
            "Events given up on (rejected, or dropped from a full outbox)",
            t.discarded.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From outbox append to acknowledgement",
            t.latency.clone(),
        );
        registry.register(
            "outbox_events",
            "Events waiting for at least one sink",
            t.outbox.clone(),
        );
        registry.register(
            "outbox_full_skipped_polls",
            "Polls skipped because the outbox was full",
            t.outbox_full.clone(),
        );
        registry.register(
            "kubesphere_incomplete_events",
            "Build starts whose KubeSphere events went out without the build's JSON or its parent's class, after every read of them failed",
            t.kubesphere_incomplete.clone(),
        );
        t.store_writable.set(1);
        registry.register(
            "state_store_writable",
            "1 while the state store (--state-dir) commits, 0 while its writes fail and polling is paused",
            t.store_writable.clone(),
        );
        registry.register(
            "last_successful_poll_timestamp_seconds",
            "When the last poll succeeded",
            t.last_poll.clone(),
        );
        Telemetry { registry, ..t }
    }

    /// Creates a controller's error series at 0 for the endpoints polled every tick, so that an
    /// alert on them reads 0, not "no data", before the first failure.
    pub fn declare_controller(&self, controller: &str) {
        for endpoint in ["queue", "computer"] {
            for error_type in crate::jenkins::Error::KINDS {
                let _ = self.poll_errors.get_or_create(&ErrorLabels {
                    controller: controller.to_string(),
                    endpoint,
                    error_type,
                });
            }
        }
    }

    /// A delivery attempt to `sink` failed with `error_type` and will be retried.
    fn count_retry(&self, sink: &str, error_type: &'static str) {
        let sink = sink.to_string();
        self.retries
            .get_or_create(&SinkLabels { sink: sink.clone() })
            .inc();
        self.sink_errors
            .get_or_create(&SinkErrorLabels { sink, error_type })
            .inc();
    }

    /// Creates a sink's retry, error and discard series at 0 (see [`Self::declare_controller`]).
    pub fn declare_sink(&self, sink: &str) {
        let labels = SinkLabels {
            sink: sink.to_string(),
        };
        let _ = self.retries.get_or_create(&labels);
        let _ = self.discarded.get_or_create(&labels);
        for error_type in SINK_ERROR_TYPES {
            let _ = self.sink_errors.get_or_create(&SinkErrorLabels {
                sink: sink.to_string(),
                error_type,
            });
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The Prometheus text format 0.0.4, for scrapers that ask for it (and `promtool check
    /// metrics`): OpenMetrics names a counter family without `_total` in `# HELP`/`# TYPE`,
    /// while the 0.0.4 format names it as its samples are named, and has no `# UNIT`/`# EOF`.
    pub fn encode_prometheus(&self) -> String {
        let openmetrics = self.encode();
        let counters: std::collections::HashSet<&str> = openmetrics
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" counter"))
            .collect();
        let mut out = String::with_capacity(openmetrics.len());
        for line in openmetrics.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
                let rest = line.strip_prefix(prefix)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .contains(name)
                    .then(|| format!("{prefix}{name}_total {tail}"))
            });
            out.push_str(renamed.as_deref().unwrap_or(line));
            out.push('\n');
        }
        out
    }
}

/// A request to Jenkins answered.
pub struct JenkinsResponse<'a> {
    /// The controller's name.
    pub controller: &'a str,
    /// `queue`, `computer`, `jobs`, `build`, `queue_item`, `job`, `config`, `wfapi`.
    pub endpoint: &'static str,
    /// Body bytes.
    pub bytes: usize,
}

impl JenkinsResponse<'_> {
    /// Counts it.
    pub fn emit(self, t: &Telemetry) {
        let l = EndpointLabels {
            controller: self.controller.to_string(),
            endpoint: self.endpoint,
        };
        t.requests.get_or_create(&l).inc();
        t.response_bytes.get_or_create(&l).inc_by(self.bytes as u64);
    }
}

/// A request to Jenkins failed.
pub struct JenkinsRequestFailed<'a> {
    /// The controller's name.
    pub controller: &'a str,
    /// Endpoint label.
    pub endpoint: &'static str,
    /// The error.
    pub error: &'a crate::jenkins::Error,
}

impl JenkinsRequestFailed<'_> {
    /// Counts it (logging is the caller's: a tick logs its failure once).
    pub fn emit(self, t: &Telemetry) {
        t.requests
            .get_or_create(&EndpointLabels {
                controller: self.controller.to_string(),
                endpoint: self.endpoint,
            })
            .inc();
        t.poll_errors
            .get_or_create(&ErrorLabels {
                controller: self.controller.to_string(),
                endpoint: self.endpoint,
                error_type: self.error.kind(),
            })
            .inc();
    }
}

/// The metrics as one controller's poller records them: Jenkins requests, bytes and errors
/// carry its name as the `controller` label.
#[derive(Debug, Clone)]
pub struct ControllerMetrics {
    /// The process's metrics.
    pub telemetry: std::sync::Arc<Telemetry>,
    /// The controller's name.
    pub controller: String,
}

impl std::ops::Deref for ControllerMetrics {
    type Target = Telemetry;

    fn deref(&self) -> &Telemetry {
        &self.telemetry
    }
}

/// A tick finished.
pub struct PollCompleted {
    /// Wall clock, ms.
    pub now: i64,
    /// Events it produced.
    pub events: usize,
}

impl PollCompleted {
    /// Counts it and records the time.
    pub fn emit(self, t: &Telemetry) {
        t.polls.inc();
        t.last_poll.set(self.now / 1000);
        if self.events > 0 {
            tracing::debug!(events = self.events, "poll completed");
        }
    }
}

/// An event produced.
pub struct EventEmitted<'a> {
    /// CloudEvent type.
    pub ty: &'a str,
}

impl EventEmitted<'_> {
    /// Counts it.
    pub fn emit(self, t: &Telemetry) {
        t.events
            .get_or_create(&TypeLabels {
                r#type: self.ty.to_string(),
            })
            .inc();
    }
}

/// A build start's KubeSphere events go out without something they carry: every read of it
/// failed, for as many ticks as the shim waits.
pub struct KubeSphereIncomplete<'a> {
    /// The controller.
    pub controller: &'a str,
    /// The build.
    pub build: &'a crate::jenkins::path::BuildRef,
    /// What could not be read.
    pub missing: &'static str,
    /// Ticks it was tried.
    pub tries: u32,
}

impl KubeSphereIncomplete<'_> {
    /// Logs and counts it.
    pub fn emit(self, t: &Telemetry) {
        tracing::warn!(controller = self.controller, build = %self.build, tries = self.tries, "run.initialize sent without {}: it could not be read; ks-devops may create the PipelineRun without its parameters, or none for a multibranch branch", self.missing);
        t.kubesphere_incomplete.inc();
    }
}

/// The outbox size changed.
pub struct OutboxDepth(pub usize);

impl OutboxDepth {
    /// Records it.
    pub fn emit(self, t: &Telemetry) {
        t.outbox.set(self.0 as i64);
    }
}

/// Whether the state store's last commit worked.
pub struct StoreWritable(pub bool);

impl StoreWritable {
    /// Records it.
    pub fn emit(self, t: &Telemetry) {
        t.store_writable.set(i64::from(self.0));
    }
}

/// Entries dropped from a full outbox.
pub struct OutboxOverflow {
    /// How many.
    pub dropped: usize,
    /// Sinks that lose them.
    pub sinks: Vec<String>,
}

impl OutboxOverflow {
    /// Logs loudly and counts per sink.
    pub fn emit(self, t: &Telemetry) {
        tracing::error!(
            dropped = self.dropped,
            "outbox full: dropped the oldest events; a sink is down or too slow (raise the capacity or fix the sink)"
        );
        for sink in self.sinks {
            t.discarded
                .get_or_create(&SinkLabels { sink })
                .inc_by(self.dropped as u64);
        }
    }
}

/// The outbox is full and the policy is to block: this tick does not poll.
pub struct OutboxFull {
    /// Events waiting.
    pub waiting: usize,
}

impl OutboxFull {
    /// Logs (at most one line per 10 s) and counts.
    pub fn emit(self, t: &Telemetry) {
        t.outbox_full.inc();
        let now = crate::clock::now_ms();
        if now - t.outbox_full_logged_ms.load(Ordering::Relaxed) >= 10_000 {
            t.outbox_full_logged_ms.store(now, Ordering::Relaxed);
            tracing::error!(
                waiting = self.waiting,
                "outbox full: polling paused until a sink catches up (nothing is lost); check the sinks, or raise --outbox-capacity"
            );
        }
    }
}

/// A sink acknowledged an event.
pub struct EventSent<'a> {
    /// Sink name.
    pub sink: &'a str,
    /// CloudEvent type.
    pub ty: &'a str,
    /// Event id.
    pub id: &'a str,
    /// Job path.
    pub job: Option<&'a str>,
    /// Seconds from append to ack.
    pub latency: f64,
}

impl EventSent<'_> {
    /// Logs and counts.
    pub fn emit(self, t: &Telemetry) {
        tracing::debug!(
            sink = self.sink,
            event_id = self.id,
            event_type = self.ty,
            job = self.job,
            "event delivered"
        );
        t.sent
            .get_or_create(&SinkTypeLabels {
                sink: self.sink.to_string(),
                r#type: self.ty.to_string(),
            })
            .inc();
        t.latency
            .get_or_create(&SinkLabels {
                sink: self.sink.to_string(),
            })
            .observe(self.latency);
    }
}

/// A delivery attempt failed and will be retried.
pub struct SinkRetry<'a> {
    /// Sink name.
    pub sink: &'a str,
    /// Event id.
    pub id: &'a str,
    /// Job path.
    pub job: Option<&'a str>,
    /// Why.
    pub reason: &'a str,
    /// Bounded error label.
    pub error_type: &'static str,
    /// Wait before the next attempt.
    pub after: std::time::Duration,
}

impl SinkRetry<'_> {
    /// Logs (warn) and counts; a retry is never a drop.
    pub fn emit(self, t: &Telemetry) {
        tracing::warn!(
            sink = self.sink,
            event_id = self.id,
            job = self.job,
            retry_in_ms = self.after.as_millis() as u64,
            "delivery failed, will retry: {}",
            self.reason
        );
        t.count_retry(self.sink, self.error_type);
    }
}

/// A sink answered that its configuration is wrong (a redirect, 401, 403, 404, 405…): the
/// event waits and is retried; logged by the dispatcher once, counted here every time.
pub struct SinkMisconfigured<'a> {
    /// Sink name.
    pub sink: &'a str,
    /// What happened and what to fix (for the debug log).
    pub reason: &'a str,
}

impl SinkMisconfigured<'_> {
    /// Counts it as a retry of error type `misconfigured`.
    pub fn emit(self, t: &Telemetry) {
        tracing::debug!(
            sink = self.sink,
            "delivery refused, retrying: {}",
            self.reason
        );
        t.count_retry(self.sink, "misconfigured");
    }
}

/// A sink refused an event for good (a 4xx other than the retried ones).
pub struct SinkRejected<'a> {
    /// Sink name.
    pub sink: &'a str,
    /// Event id.
    pub id: &'a str,
    /// Job path.
    pub job: Option<&'a str>,
    /// Why.
    pub reason: &'a str,
}

impl SinkRejected<'_> {
    /// Logs (error) and counts as discarded.
    pub fn emit(self, t: &Telemetry) {
        tracing::error!(
            sink = self.sink,
            event_id = self.id,
            job = self.job,
            "sink rejected the event, not retrying: {}",
            self.reason
        );
        t.sink_errors
            .get_or_create(&SinkErrorLabels {
                sink: self.sink.to_string(),
                error_type: "rejected",
            })
            .inc();
        t.discarded
            .get_or_create(&SinkLabels {
                sink: self.sink.to_string(),
            })
            .inc();
    }
}

/// A sink answered 410 Gone: it is disabled.
pub struct SinkDisabled<'a> {
    /// Sink name.
    pub sink: &'a str,
    /// Why.
    pub reason: &'a str,
}

impl SinkDisabled<'_> {
    /// Logs (error) and counts.
    pub fn emit(self, t: &Telemetry) {
        tracing::error!(
            sink = self.sink,
            "sink disabled, no more deliveries to it until restart: {}",
            self.reason
        );
        t.sink_errors
            .get_or_create(&SinkErrorLabels {
                sink: self.sink.to_string(),
                error_type: "gone",
            })
            .inc();
    }
}
