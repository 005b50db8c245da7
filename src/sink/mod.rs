//! Delivery, shaped like Vector's component spec: each sink owns its configuration and client,
//! and every sink is driven, instrumented and retried the same way.
//!
//! - [`Dispatcher`] (`dispatcher.rs`): reads the outbox from the sink's cursor, in order, until
//!   the sink acknowledges; `batch.rs` groups events in batch mode; `once.rs` keeps KubeSphere's
//!   `run.initialize` to exactly one PipelineRun.
//! - [`retry_policy`] (`retry.rs`): the one backoff; [`SendError`] and [`Cause`] (`error.rs`):
//!   why an attempt failed, and whether it may have arrived.
//! - [`classify`]: an HTTP status (and `Retry-After`) to a verdict; pure and table-tested.
//! - [`encoding`]: events to headers and body, shared by HTTP and NATS.
//! - The sinks: [`http`] (CloudEvents over HTTP, binary, structured or batched, and
//!   KubeSphere's envelopes), [`nats`] (JetStream, acknowledged publishes), [`stdout`] and
//!   [`file`](mod@file) (JSON lines).

mod batch;
pub mod classify;
mod config;
mod dispatcher;
pub mod encoding;
mod error;
pub mod file;
mod filter;
pub mod http;
pub mod nats;
mod once;
mod retry;
pub mod stdout;

use std::time::Duration;

pub use dispatcher::{DRAIN_DEADLINE, Dispatcher, SinkStatus};
pub use error::{Cause, SendError};
pub use filter::Filter;
pub use once::LOOKUP_WAIT;
pub use retry::{Backoff, retry_policy};

pub use config::{SinkConfig, SinkTarget};

use crate::event::{Format, Payload};
use http::{Batching, Mode};

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

    /// Checks that the sink would take events, without delivering anything.
    pub async fn probe(&self) -> Result<String, SendError> {
        match self {
            Sink::Http(s) => s.probe().await,
            Sink::Nats(s) => s.probe().await,
            Sink::Stdout(_) => Ok("standard output".into()),
            Sink::File(s) => Ok(format!("appending to {}", s.path().display())),
        }
    }
}
