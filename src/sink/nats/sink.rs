//! The JetStream publisher: connects on first use, publishes and waits for the acknowledgement.

use async_nats::jetstream::{self, context::PublishErrorKind};
use tokio::sync::OnceCell;

use super::{NatsAuth, NatsConfig};
use crate::event::Payload;
use crate::sink::encoding::{Encoded, encode_generic, encode_structured};
use crate::sink::{Cause, SendError};

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
