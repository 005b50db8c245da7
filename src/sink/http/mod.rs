//! CloudEvents over HTTP (binary or structured content mode).
//!
//! - `config.rs`: its content mode, batching and authentication.
//! - `sink.rs`: the client, its timeouts, no redirects, and the classifier applied; the
//!   encodings it sends are shared with NATS in [`super::encoding`].

mod config;
mod sink;

pub use config::{Auth, Batching, Mode};
pub use sink::HttpSink;
