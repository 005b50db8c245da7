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
//! - [`poller`] drives: the reads of every tick, the diff and its follow-ups, the reads the
//!   encoders ask for, then the encoding.
//! - [`serve`] answers `/healthz`, `/readyz` and `/metrics`.
//! - [`tls`] holds the TLS options the Jenkins client and the HTTP sinks share.
//! - [`config`] is the one description of every option (CLI flag, environment, TOML key).
//! - [`run`] wires them together under one shutdown token; `demo` (the default `demo` feature)
//!   runs it on an embedded mock.
//!
//! Shared below the flow: [`clock`] (the one wall-clock read), [`secret`] (values no log can
//! show), [`tls`], [`telemetry`].
//!
//! # Extending
//!
//! - **A new sink**: a folder under `sink/` with its `config.rs` and its client (`send`,
//!   `probe`, its timeout), every failure a `SendError` whose [`sink::Cause`] says whether the
//!   attempt may have arrived; a variant of [`sink::Sink`] and of [`sink::SinkTarget`], and in
//!   `config/sinks.rs` the URL scheme that selects it. The dispatcher, retry policy, start-up
//!   check, filters, readiness and metrics come for free.
//! - **A new output format**: a module under `event/` turning a [`watch::Change`] into drafts,
//!   a variant of [`event::Format`], and in `event/needs.rs` what it needs from Jenkins beyond
//!   the change (a [`event::Need`], required or not); a need of a new kind also gets its read in
//!   the poller's `answer`. The answers arrive in [`event::Reads`].
//! - **A new Jenkins field**: the field in `jenkins::model` and in the `tree=` selector of
//!   `jenkins::tree` (the tests check every selector against recorded fixtures), then the fact
//!   in the `watch::Change` that carries it; the mock Jenkins exports it as the Jenkins class
//!   that produces it does.
#![warn(missing_docs)]

pub mod clock;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod event;
pub mod jenkins;
pub mod poller;
pub mod run;
pub mod secret;
pub mod serve;
pub mod sink;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod watch;
