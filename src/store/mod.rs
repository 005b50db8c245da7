//! Where events wait until every sink has acknowledged them.
//!
//! [`Outbox`] is an append-only log with one read cursor per sink: a sink that is down keeps
//! its cursor while the others move on, and an entry is removed only when every sink has
//! passed it. Each controller's task (`run.rs`) appends a whole tick's events at once, after the
//! poller's tick, so that they commit with the watcher's state in one transaction of the
//! [`Store`] (with `--state-dir`) before the dispatchers see them.

pub mod claims;
mod db;
mod outbox;

pub use claims::Claims;
pub use db::{Saved, Store, StoreError};
pub use outbox::{Entry, Outbox, OverflowPolicy};
