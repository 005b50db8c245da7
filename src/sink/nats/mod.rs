//! NATS JetStream, the engine behind Argo Events' EventBus: each event is published as a
//! structured CloudEvent (the NATS protocol binding) to one subject, with the event id as the
//! JetStream message id (`Nats-Msg-Id`), so the server drops a re-sent event within the
//! stream's duplicate window. An event counts as delivered only once the stream acknowledges it.
//!
//! The connection is opened on first use, not at start-up: a NATS server that is down when the
//! shim starts is a retried delivery (the events wait in the outbox), not a failed start.
//! Once connected, async-nats reconnects by itself.

//! - `config.rs`: the server, subject, credentials and TLS; `sink.rs`: the publisher.

mod config;
mod sink;

pub use config::{NatsAuth, NatsConfig};
pub use sink::NatsSink;
