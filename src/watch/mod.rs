//! The heart: what changed in Jenkins, decided without I/O.
//!
//! [`diff`] takes the previous [`State`] and an [`Observation`] (what the poller read, stamped
//! with the time it read it) and returns the [`Change`]s to emit, the next state, and the
//! [`FollowUps`]: the extra reads this observation calls for (a build that left its executor, a
//! queue item that vanished, a job seen for the first time). The poller performs them and feeds
//! the results back as another observation, until there are none.
//!
//! There is no clock, no network and no randomness in here (`tests/purity.rs` holds `watch/`
//! and `event/` to that), so every tricky
//! Jenkins behaviour (builds that start and finish between two ticks, the left-item race, a
//! restart) is a plain unit test in `tests.rs`.

mod change;
mod diff;
pub mod stages;
mod state;
#[cfg(test)]
mod tests;

pub use change::{
    BuildFacts, Change, ItemKind, JobInfo, NodeSnapshot, Phase, QueueSnapshot, ScmState,
};
pub use diff::{Fetched, FollowUps, Note, Observation, Outcome, Scan, diff};
pub use state::{Awaiting, State};

/// Most build details fetched per tick; the rest wait for the next tick (oldest first per job).
pub const MAX_BUILD_FETCHES_PER_TICK: usize = 256;

/// Most unseen builds of one job recovered at once (a job whose numbers jumped, or one that was
/// renamed): older ones are skipped, like Spinnaker igor's `itemUpperThreshold`.
pub const MAX_BUILD_GAP: u64 = 100;

/// How long a vanished queue item whose left-item record is already gone (404) waits for a build
/// that names it in `queueId` before `queue.left` is emitted on its own.
pub const LEFT_ITEM_GRACE_MS: i64 = 5 * 60 * 1000;

/// Queue ids probed past the highest one known, after a probe found an item there: items that
/// came and went between two polls (a build shorter than the poll interval) are read through
/// `/queue/item/ID/` (Jenkins keeps left items 5 minutes) instead of waiting for the job scan.
pub const QUEUE_PROBE_BATCH: u64 = 4;

/// Unseen queue ids below the newest one (gaps in the queue list) remembered for probing; after
/// a burst (or downtime) only the newest are kept, and the job scan recovers the builds of the
/// rest through their `queueId`.
pub const MAX_QUEUE_GAPS: usize = 1_000;

/// Gap probes per tick, newest first; the rest wait for the next tick.
pub const MAX_GAP_PROBES_PER_TICK: usize = 32;

/// Reads of a job's `config.xml` that fail (5xx, timeouts) before `created`/`updated` go out
/// without `configFile`, one per tick.
pub const MAX_CONFIG_TRIES: u8 = 3;

/// Queue ids remembered as handled, so that a stale queue list never re-announces one.
pub const MAX_HANDLED_QUEUE_IDS: usize = 100_000;

/// Job classes that are `AbstractProject`s: the plugin emits `job.created`/`updated` only for
/// these (any other item makes its listener throw, so no event).
pub const ABSTRACT_PROJECT_CLASSES: &[&str] = &[
    "hudson.model.FreeStyleProject",
    "hudson.matrix.MatrixProject",
    "hudson.maven.MavenModuleSet",
    "com.tikal.jenkins.plugins.multijob.MultiJobProject",
];

/// Jobs that are parts of another: a matrix project's configurations (matrix-project
/// `MatrixConfiguration`, at `job/m/axis=value/`, not listed under `jobs`) and a Maven
/// project's modules. Their parent creates them (`MatrixProject.rebuildConfigurations`), never
/// through `ItemListener.onCreated`, so the plugin sends no item event for them; it reports
/// their runs (`RunListener` fires for every `Run`), and so does the shim, from the first run
/// that starts after it first sees them.
pub const CHILD_PROJECT_CLASSES: &[&str] = &[
    "hudson.matrix.MatrixConfiguration",
    "hudson.maven.MavenModule",
];
