//! An HTTP sink's own configuration: how it carries events, groups them and authenticates.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// How an HTTP sink carries an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Attributes in `ce-*` headers, data as the body (the plugin's mode).
    Binary,
    /// The whole event as `application/cloudevents+json`.
    Structured,
    /// Several events as one `application/cloudevents-batch+json` array (only when asked: the
    /// HTTP binding says batches must be solicited by the receiver).
    Batch,
}

/// How a batch sink groups events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Most events in one request.
    pub max_events: usize,
    /// Longest an event waits for others to join its batch.
    pub max_wait: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_events: 100,
            max_wait: Duration::from_secs(1),
        }
    }
}

/// How an HTTP sink authenticates.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// Nothing.
    #[default]
    None,
    /// `Authorization: Bearer` with a token from the environment.
    Bearer(Secret),
    /// `Authorization: Bearer` with a token from a file, read again when the file changes
    /// (Kubernetes updates mounted Secrets in place).
    BearerFile(PathBuf),
    /// `Authorization: Basic`.
    Basic {
        /// User.
        user: String,
        /// Password (read from a file at start).
        password: Secret,
    },
}
