//! CloudEvents over HTTP (binary or structured content mode).
//!
//! - `encoder.rs`: an event to headers and body, pure (including the percent-encoding of
//!   `ce-*` values the HTTP binding requires and cloudevents-sdk 0.9 does not do).
//! - `sink.rs`: the client, its timeouts, no redirects, and the classifier applied.

mod encoder;
mod sink;

pub use encoder::{
    Encoded, encode_batch, encode_binary, encode_generic, encode_structured, percent_encode_header,
};
pub use sink::HttpSink;
