//! NATS JetStream, the engine behind Argo Events' EventBus: each event is published as a
//! structured CloudEvent (the NATS protocol binding) to one subject, with the event id as the
//! JetStream message id (`Nats-Msg-Id`), so the server drops a re-sent event within the
//! stream's duplicate window. An event counts as delivered only once the stream acknowledges it.
//!
//! The connection is opened on first use, not at start-up: a NATS server that is down when the
//! shim starts is a retried delivery (the events wait in the outbox), not a failed start.
//! Once connected, async-nats reconnects by itself.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind};
use tokio::sync::OnceCell;

use super::encoding::{Encoded, encode_generic, encode_structured};
use super::{Cause, SendError};
use crate::event::Payload;
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

/// A JetStream publisher.
#[derive(Debug)]
pub struct NatsSink {
    config: NatsConfig,
    context: OnceCell<jetstream::Context>,
}

impl NatsSink {
    /// The limit of one publish.
    pub fn timeout(&self) -> std::time::Duration {
        self.config.timeout
    }

    /// A sink that connects on its first delivery.
    pub fn new(config: NatsConfig) -> NatsSink {
        NatsSink {
            config,
            context: OnceCell::new(),
        }
    }

    async fn context(&self) -> Result<&jetstream::Context, SendError> {
        self.context
            .get_or_try_init(|| async {
                let c = &self.config;
                let mut options = async_nats::ConnectOptions::new()
                    .name(concat!("jenkins-event-shim/", env!("CARGO_PKG_VERSION")))
                    .connection_timeout(c.timeout)
                    .request_timeout(Some(c.timeout));
                options = match &c.auth {
                    NatsAuth::None => options,
                    NatsAuth::Token(t) => options.token(t.expose().to_string()),
                    NatsAuth::UserPassword { user, password } => {
                        options.user_and_password(user.clone(), password.expose().to_string())
                    }
                };
                if let Some(ca) = &c.ca_file {
                    options = options.add_root_certificates(ca.clone()).require_tls(true);
                }
                let client = options.connect(c.url.as_str()).await.map_err(|e| {
                    let hint = match e.kind() {
                        async_nats::ConnectErrorKind::AuthorizationViolation => {
                            ": the credentials were refused; check the sink's token or user and password"
                        }
                        async_nats::ConnectErrorKind::Tls => {
                            ": the TLS handshake failed; set ca-file to the server's CA bundle"
                        }
                        _ => "",
                    };
                    SendError::Retry {
                        reason: format!("cannot connect to NATS at {}: {e}{hint}", c.url),
                        cause: Cause::Connect,
                        after: None,
                    }
                })?;
                Ok(jetstream::new(client))
            })
            .await
    }

    /// Publishes one event and waits for the stream's acknowledgement.
    pub async fn send(&self, payload: &Payload) -> Result<(), SendError> {
        let encoded = match payload {
            Payload::Cloud(event) => encode_structured(event),
            Payload::Generic(g) => encode_generic(g),
        };
        self.publish(payload.id(), encoded).await
    }

    /// Publishes an encoded payload (its headers become NATS headers) with `id` as the
    /// JetStream message id.
    pub async fn publish(&self, id: &str, encoded: Encoded) -> Result<(), SendError> {
        let js = self.context().await?;
        let subject = &self.config.subject;
        let mut message = jetstream::message::PublishMessage::build()
            .payload(encoded.body.into())
            .message_id(id);
        for (name, value) in encoded.headers {
            message = message.header(name.as_str(), value.as_str());
        }
        let fail = |e: jetstream::context::PublishError| {
            let reason = match e.kind() {
                PublishErrorKind::StreamNotFound => format!(
                    "no JetStream stream captures subject {subject:?}: create one (e.g. `nats stream add --subjects {subject:?}`) or fix the sink's subject"
                ),
                PublishErrorKind::TimedOut => format!(
                    "no acknowledgement from JetStream at {} within {:?}",
                    self.config.url, self.config.timeout
                ),
                _ => format!("publishing to {subject:?} failed: {e}"),
            };
            match e.kind() {
                PublishErrorKind::MaxPayloadExceeded => SendError::Reject { reason },
                _ => SendError::Retry {
                    reason,
                    cause: Cause::Publish,
                    after: None,
                },
            }
        };
        let ack = js
            .send_publish(subject.clone(), message)
            .await
            .map_err(fail)?;
        // A duplicate acknowledgement is a success: the stream already holds this event.
        ack.await.map_err(fail)?;
        Ok(())
    }

    /// Connects and checks that a stream captures the subject, without publishing.
    pub async fn probe(&self) -> Result<String, SendError> {
        let js = self.context().await?;
        let subject = &self.config.subject;
        match js.stream_by_subject(subject.clone()).await {
            Ok(stream) => Ok(format!(
                "JetStream stream {stream:?} captures subject {subject:?} at {}",
                self.config.url
            )),
            Err(e) => Err(SendError::Retry {
                reason: format!(
                    "no JetStream stream captures subject {subject:?} at {}: {e}",
                    self.config.url
                ),
                cause: Cause::Publish,
                after: None,
            }),
        }
    }
}
