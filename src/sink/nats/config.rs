//! A NATS sink's own configuration: the server, the subject, credentials and TLS.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// How a NATS sink authenticates (the server's `authorization` block).
#[derive(Debug, Clone, Default)]
pub enum NatsAuth {
    /// Nothing.
    #[default]
    None,
    /// A token (`authorization { token: … }`).
    Token(Secret),
    /// User and password (what Argo Events' JetStream EventBus generates).
    UserPassword {
        /// User.
        user: String,
        /// Password.
        password: Secret,
    },
}

/// Settings of a NATS JetStream sink.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// Server URL(s), e.g. `nats://eventbus-default-js-svc:4222`; `tls://` requires TLS.
    pub url: String,
    /// Subject every event is published to (a stream must capture it).
    pub subject: String,
    /// How long to wait for the connection and for each acknowledgement.
    pub timeout: Duration,
    /// Credentials.
    pub auth: NatsAuth,
    /// Extra CA bundle (PEM) for a TLS server.
    pub ca_file: Option<PathBuf>,
}
