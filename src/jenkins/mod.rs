//! The only code that speaks HTTP to Jenkins.
//!
//! [`Client`] sends pre-emptive Basic auth, `Accept-Language: en` and `Accept-Encoding: gzip` on
//! every request, reads `X-Jenkins` / `X-Jenkins-Session`, and turns status codes into typed
//! [`Error`]s. [`model`] holds serde models of the JSON shapes Jenkins 2.x serves, keeping "absent"
//! and "null" apart where the watcher cares. [`path`] turns Jenkins' absolute URLs into the relative
//! paths the watcher keys on, so a proxy that rewrites the host does not confuse it. [`tree`] builds
//! the `tree=` selectors: each poll asks for exactly the fields the watcher reads, nothing more.
//!
//! This module must not decide anything about events: it fetches, the watcher decides.

mod client;
mod error;
pub mod model;
pub mod path;
pub mod tree;

pub use client::{Client, ClientConfig, Meta};
pub use error::Error;
