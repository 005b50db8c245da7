//! A sink's configuration as the sinks take it: resolved and validated by `config` from flags,
//! the environment and the config file.

use std::path::PathBuf;
use std::time::Duration;

use super::http::{Auth, Batching, Mode};
use super::{Backoff, Filter};
use crate::event::Format;
use crate::secret::Secret;

/// A configured sink.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// Where it delivers.
    pub target: SinkTarget,
    /// The dialect it speaks.
    pub format: Format,
    /// Its backoff bounds.
    pub backoff: Backoff,
    /// Which events it wants.
    pub filter: Filter,
}

/// Kinds of sink.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // built once at start-up: boxing would buy nothing
pub enum SinkTarget {
    /// An HTTP CloudEvents receiver.
    Http {
        /// Endpoint.
        url: url::Url,
        /// Content mode.
        mode: Mode,
        /// Per-attempt timeout.
        timeout: Duration,
        /// Grouping in batch mode.
        batching: Batching,
        /// Authentication.
        auth: Auth,
        /// Extra headers on every request (values may be credentials: never shown).
        headers: Vec<(String, Secret)>,
        /// Extra CAs, or no verification.
        tls: crate::tls::Tls,
    },
    /// A NATS JetStream subject (structured CloudEvents, `Nats-Msg-Id` = event id).
    Nats(super::nats::NatsConfig),
    /// JSON lines on standard output.
    Stdout,
    /// JSON lines appended to a file (`file:///var/log/jenkins-events.jsonl`).
    File(PathBuf),
}
