//! The state file under `--state-dir`: the watcher's cursor and the outbox, written together.
//!
//! One JSON document replaced atomically (write a temporary file, fsync, rename, fsync the
//! directory), so a crash leaves either the previous tick or this one, never half of each: the
//! cursor advance and the outbox append of a tick commit together.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use cloudevents::Event;
use serde::{Deserialize, Serialize};

use crate::watch::State;

/// Bumped when the layout changes incompatibly.
const FORMAT: u32 = 1;
const FILE_NAME: &str = "state.json";

/// Failures of the state file, each naming the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory or file cannot be read or written.
    #[error("state file {path}: {source}; check that --state-dir exists and is writable")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a state file this version understands.
    #[error(
        "state file {path} is unreadable ({reason}); move it aside to start again from \"now\""
    )]
    Corrupt {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// An event waiting in the saved outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedEvent {
    /// The event.
    pub event: Event,
    /// Its job path.
    pub job: Option<String>,
}

/// Everything saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Layout version.
    pub format: u32,
    /// The Jenkins URL this state belongs to.
    pub controller: String,
    /// The watcher's cursor.
    pub state: State,
    /// Events not yet acknowledged by every sink, oldest first.
    pub outbox: Vec<SavedEvent>,
    /// Per sink name: how many of `outbox` it has acknowledged.
    pub acked: BTreeMap<String, usize>,
}

/// The state file of one controller.
#[derive(Debug)]
pub struct StateFile {
    dir: PathBuf,
    path: PathBuf,
}

impl StateFile {
    /// Opens `dir` (created if missing) and reads the previous snapshot, if any.
    pub fn open(dir: &Path) -> Result<(StateFile, Option<Snapshot>), StoreError> {
        let path = dir.join(FILE_NAME);
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = StateFile {
            dir: dir.to_path_buf(),
            path: path.clone(),
        };
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((file, None)),
            Err(e) => return Err(io(e)),
        };
        let snapshot: Snapshot =
            serde_json::from_slice(&text).map_err(|e| StoreError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        if snapshot.format != FORMAT {
            return Err(StoreError::Corrupt {
                path: path.display().to_string(),
                reason: format!("format {} (this version reads {FORMAT})", snapshot.format),
            });
        }
        Ok((file, Some(snapshot)))
    }

    /// Replaces the file with `snapshot`, atomically and durably.
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let bytes = serde_json::to_vec(snapshot).expect("snapshots always serialise");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        // The rename itself must survive a power cut.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Snapshot {
    /// A snapshot in the current layout.
    pub fn new(
        controller: String,
        state: State,
        outbox: Vec<SavedEvent>,
        acked: BTreeMap<String, usize>,
    ) -> Snapshot {
        Snapshot {
            format: FORMAT,
            controller,
            state,
            outbox,
            acked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    #[test]
    fn a_saved_snapshot_reads_back_whole_and_a_corrupt_one_names_the_fix() {
        let dir = std::env::temp_dir().join(format!("shim-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (file, previous) = StateFile::open(&dir).unwrap();
        assert!(previous.is_none());
        let event = EventBuilderV10::new()
            .id("1")
            .source("job/a")
            .ty("t")
            .data("application/json", serde_json::json!({"z": 1, "a": 2}))
            .build()
            .unwrap();
        let state = State {
            baselined: true,
            queue_floor: 7,
            ..State::default()
        };
        let acked = BTreeMap::from([("http-0".to_string(), 0)]);
        file.save(&Snapshot::new(
            "http://ci/".into(),
            state.clone(),
            vec![SavedEvent {
                event: event.clone(),
                job: None,
            }],
            acked,
        ))
        .unwrap();
        let (_, back) = StateFile::open(&dir).unwrap();
        let back = back.unwrap();
        assert_eq!(back.state, state);
        assert_eq!(back.outbox[0].event, event);
        std::fs::write(file.path(), b"{not json").unwrap();
        let err = StateFile::open(&dir).unwrap_err().to_string();
        assert!(err.contains("move it aside"), "{err}");
    }
}
