//! Where events wait until every sink has acknowledged them.
//!
//! [`Outbox`] is an append-only log with one read cursor per sink: a sink that is down keeps
//! its cursor while the others move on, and an entry is removed only when every sink has
//! passed it. The poller appends a whole tick's events at once, after the tick's diff, so that
//! they commit with the cursor in one write of the [`StateFile`] (with `--state-dir`).

mod file;
mod outbox;

pub use file::{SavedEvent, Snapshot, StateFile, StoreError};
pub use outbox::{Entry, Outbox, OverflowPolicy};
