//! jenkins-event-shim: Jenkins' build lifecycle as CloudEvents, polled from the outside.
//!
//! The flow goes one way:
//!
//! ```text
//! Jenkins ──poll──▶ Observation ──diff──▶ Change ──encode──▶ CloudEvent ──▶ Outbox ──▶ Sink(s)
//!           jenkins/            watch/             event/                 store/      sink/
//! ```
//!
//! - [`jenkins`] speaks HTTP to Jenkins and nothing else.
//! - [`watch`] decides what changed; it is pure (no I/O, no clock) and holds the tricky cases.
//! - [`event`] turns changes into the plugin's CloudEvents; pure as well.
//! - [`store`] keeps the outbox: events wait there until every sink acknowledged them.
//! - [`sink`] delivers, one dispatcher per sink, with retries and a status classifier.
//! - [`poller`] drives the watcher: reads, follow-ups, and hands events to the outbox.
//! - [`serve`] answers `/healthz`, `/readyz` and `/metrics`.
//! - [`tls`] holds the TLS options the Jenkins client and the HTTP sinks share.
//! - [`config`] is the one description of every option (CLI flag, environment, TOML key).
//! - [`run`] wires them together under one shutdown token; [`demo`] runs it on an embedded mock.
#![warn(missing_docs)]

pub mod config;
pub mod demo;
pub mod event;
pub mod jenkins;
pub mod poller;
pub mod run;
pub mod serve;
pub mod sink;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod watch;
