//! The durable store under `--state-dir`: one redb file holding the watcher's cursor and the
//! outbox.
//!
//! Why redb: an embedded, pure-Rust, ACID key-value store in a single file (copy-on-write
//! B-trees, fsync on commit), so there is no C library, no server and no schema migration tool,
//! and a crash at any instant leaves the last committed transaction. SQLite would do the same
//! with a C dependency and SQL we do not need.
//!
//! One write transaction per tick: the cursor, the tick's events, and how far each sink has
//! acknowledged (deleting what every sink has). So a cursor never advances without its events,
//! and events are published to the dispatchers only after their commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::event::{Format, Outgoing, Payload};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::Entry;
use crate::watch::State;

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const CURSOR: TableDefinition<&str, &[u8]> = TableDefinition::new("cursor");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const ACKED: TableDefinition<&str, u64> = TableDefinition::new("acked");

/// Bumped when the layout changes. 2: one cursor per controller, keyed by its URL (1 had one
/// cursor under "state" and the URL in meta; read and converted on the next commit).
const FORMAT: &str = "2";
const FILE_NAME: &str = "shim.redb";
/// Format 1's single cursor key.
const LEGACY_CURSOR: &str = "state";

/// Failures of the store, each naming the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory cannot be created or the file opened (permissions, another process).
    #[error(
        "state store {path}: {reason}; check that --state-dir is writable and that no other shim uses it"
    )]
    Open {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `--state-dir` names a file.
    #[error("--state-dir {dir} is a file, not a directory: point --state-dir at a directory")]
    NotADirectory {
        /// The path given.
        dir: String,
    },
    /// Another process (another shim) has the file open.
    #[error("state store {path} is open in another process: give each shim its own --state-dir")]
    InUse {
        /// The file.
        path: String,
    },
    /// A read or a commit failed.
    #[error("state store {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file holds something this version does not understand.
    #[error(
        "state store {path} is unreadable ({reason}); move it aside to start again from \"now\""
    )]
    Corrupt {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// An outbox row. Rows written before formats existed hold a plugin CloudEvent and no format.
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    #[serde(default)]
    format: Format,
    event: Payload,
    job: Option<String>,
    #[serde(default)]
    controller: String,
}

/// What a previous run left.
#[derive(Debug, Clone)]
pub struct Saved {
    /// Each controller's cursor, by its Jenkins URL.
    pub states: BTreeMap<String, State>,
    /// Events not yet acknowledged by every sink: (seq, event, job), oldest first.
    pub events: Vec<(u64, Outgoing)>,
    /// Per sink name: the first seq it has not acknowledged.
    pub acked: BTreeMap<String, u64>,
}

/// The open file, opened again after a failed write: redb refuses every transaction after an
/// I/O error (a full disk) until its `Database` is dropped and opened anew ("Previous I/O error
/// occurred. Please close and re-open the database."). Shared with the claims, which use the
/// same file.
#[derive(Debug)]
pub(super) struct Handle {
    path: PathBuf,
    db: std::sync::Mutex<Option<std::sync::Arc<Database>>>,
}

impl Handle {
    /// The database, opened now if a failure closed it.
    pub(super) fn get(&self) -> Result<std::sync::Arc<Database>, String> {
        let mut db = self.db.lock().expect("store handle lock");
        if let Some(db) = db.as_ref() {
            return Ok(db.clone());
        }
        let opened = std::sync::Arc::new(Database::create(&self.path).map_err(|e| e.to_string())?);
        *db = Some(opened.clone());
        Ok(opened)
    }

    /// Runs one write against the database; when it fails, lets go of the database so that the
    /// next use opens it again (once every transaction of the failed one has ended).
    pub(super) fn write<R>(
        &self,
        io: impl Fn(String) -> StoreError,
        work: impl FnOnce(&Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let db = self.get().map_err(&io)?;
        let result = work(&db);
        if result.is_err() {
            drop(db);
            self.db.lock().expect("store handle lock").take();
        }
        result
    }

    /// The file, for messages.
    pub(super) fn path(&self) -> String {
        self.path.display().to_string()
    }
}

/// The state file (`--state-dir`): every controller's watcher state, the outbox with each
/// sink's cursor, and the delivery records of `run.initialize`.
pub struct Store {
    handle: std::sync::Arc<Handle>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) `dir/shim.redb` and reads what a previous run left.
    pub fn open(dir: &Path) -> Result<(Store, Option<Saved>), StoreError> {
        let path = dir.join(FILE_NAME);
        let shown = path.display().to_string();
        let open = |reason: String| StoreError::Open {
            path: shown.clone(),
            reason,
        };
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::NotADirectory {
                dir: dir.display().to_string(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| open(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
                StoreError::Corrupt {
                    path: shown.clone(),
                    reason,
                }
            }
            redb::DatabaseError::Storage(redb::StorageError::Io(e))
                if e.kind() == std::io::ErrorKind::InvalidData =>
            {
                StoreError::Corrupt {
                    path: shown.clone(),
                    reason: e.to_string(),
                }
            }
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: shown.clone(),
            },
            other => open(other.to_string()),
        })?;
        let store = Store {
            handle: std::sync::Arc::new(Handle {
                path: path.clone(),
                db: std::sync::Mutex::new(Some(std::sync::Arc::new(db))),
            }),
            path,
        };
        let saved = store.read()?;
        Ok((store, saved))
    }

    /// The delivery records of `run.initialize` (KubeSphere), kept in this file.
    pub fn claims(&self) -> super::Claims {
        super::Claims::durable(self.handle.clone())
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    fn read(&self) -> Result<Option<Saved>, StoreError> {
        let db = self.handle.get().map_err(|e| self.io(e))?;
        let txn = db.begin_read().map_err(|e| self.io(e))?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let format = meta
            .get("format")
            .map_err(|e| self.io(e))?
            .map(|v| v.value().to_string());
        if !matches!(format.as_deref(), Some("1" | FORMAT)) {
            return Err(self.corrupt(format!(
                "format {format:?}, this version reads 1 and {FORMAT}"
            )));
        }
        let cursor = txn.open_table(CURSOR).map_err(|e| self.io(e))?;
        let mut states = BTreeMap::new();
        for row in cursor.iter().map_err(|e| self.io(e))? {
            let (key, bytes) = row.map_err(|e| self.io(e))?;
            let state: State =
                serde_json::from_slice(bytes.value()).map_err(|e| self.corrupt(e))?;
            let controller = match key.value() {
                LEGACY_CURSOR => meta
                    .get("controller")
                    .map_err(|e| self.io(e))?
                    .map(|v| v.value().to_string())
                    .unwrap_or_default(),
                url => url.to_string(),
            };
            states.insert(controller, state);
        }
        let outbox = txn.open_table(OUTBOX).map_err(|e| self.io(e))?;
        let mut events = Vec::new();
        for row in outbox.iter().map_err(|e| self.io(e))? {
            let (seq, bytes) = row.map_err(|e| self.io(e))?;
            let stored: StoredEvent =
                serde_json::from_slice(bytes.value()).map_err(|e| self.corrupt(e))?;
            events.push((
                seq.value(),
                Outgoing {
                    format: stored.format,
                    payload: stored.event,
                    job: stored.job,
                    controller: stored.controller,
                },
            ));
        }
        let acked_table = txn.open_table(ACKED).map_err(|e| self.io(e))?;
        let mut acked = BTreeMap::new();
        for row in acked_table.iter().map_err(|e| self.io(e))? {
            let (sink, seq) = row.map_err(|e| self.io(e))?;
            acked.insert(sink.value().to_string(), seq.value());
        }
        Ok(Some(Saved {
            states,
            events,
            acked,
        }))
    }

    /// One transaction: a controller's cursor (by its Jenkins URL), the tick's new events,
    /// each sink's acknowledged position, and the removal of events every sink has
    /// acknowledged.
    pub fn commit(
        &self,
        controller: &str,
        state: &State,
        appended: &[Entry],
        acked: &[(String, u64)],
    ) -> Result<(), StoreError> {
        self.write(Some((controller, state)), appended, acked)
    }

    /// Only the sinks' acknowledged positions (at shutdown, after the last deliveries).
    pub fn commit_acks(&self, acked: &[(String, u64)]) -> Result<(), StoreError> {
        self.write(None, &[], acked)
    }

    fn write(
        &self,
        cursor: Option<(&str, &State)>,
        appended: &[Entry],
        acked: &[(String, u64)],
    ) -> Result<(), StoreError> {
        self.handle.write(
            |e| self.io(e),
            |db| self.write_in(db, cursor, appended, acked),
        )
    }

    fn write_in(
        &self,
        db: &Database,
        cursor: Option<(&str, &State)>,
        appended: &[Entry],
        acked: &[(String, u64)],
    ) -> Result<(), StoreError> {
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.io(e))?;
            meta.insert("format", FORMAT).map_err(|e| self.io(e))?;
            if let Some((controller, state)) = cursor {
                let state_bytes = serde_json::to_vec(state).expect("the state always serialises");
                meta.remove("controller").map_err(|e| self.io(e))?;
                let mut table = txn.open_table(CURSOR).map_err(|e| self.io(e))?;
                table.remove(LEGACY_CURSOR).map_err(|e| self.io(e))?;
                table
                    .insert(controller, state_bytes.as_slice())
                    .map_err(|e| self.io(e))?;
            }
            let mut outbox = txn.open_table(OUTBOX).map_err(|e| self.io(e))?;
            for entry in appended {
                let stored = StoredEvent {
                    format: entry.format,
                    event: (*entry.event).clone(),
                    job: entry.job.clone(),
                    controller: entry.controller.clone(),
                };
                let bytes = serde_json::to_vec(&stored).expect("events always serialise");
                outbox
                    .insert(entry.seq, bytes.as_slice())
                    .map_err(|e| self.io(e))?;
            }
            let mut acked_table = txn.open_table(ACKED).map_err(|e| self.io(e))?;
            for (sink, seq) in acked {
                acked_table
                    .insert(sink.as_str(), *seq)
                    .map_err(|e| self.io(e))?;
            }
            if let Some(low) = acked.iter().map(|(_, s)| *s).min() {
                outbox
                    .retain_in(..low, |_, _| false)
                    .map_err(|e| self.io(e))?;
            }
        }
        txn.commit().map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};
    use std::sync::Arc;

    fn entry(seq: u64) -> Entry {
        let event = EventBuilderV10::new()
            .id(seq.to_string())
            .source("job/a")
            .ty("t")
            .data("application/json", serde_json::json!({"z": 1, "a": 2}))
            .build()
            .unwrap();
        Entry {
            seq,
            format: Format::Plugin,
            event: Arc::new(Payload::Cloud(event)),
            job: Some("job/a/".into()),
            controller: "ci".into(),
            appended_at: 0,
        }
    }

    #[test]
    fn a_state_dir_that_is_a_file_or_a_corrupt_store_says_what_to_do() {
        let base = std::env::temp_dir().join(format!("shim-store-bad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let file = base.join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let e = Store::open(&file).unwrap_err().to_string();
        assert!(e.contains("is a file, not a directory"), "{e}");
        let dir = base.join("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), vec![0x42u8; 64 * 1024]).unwrap();
        let e = Store::open(&dir).unwrap_err().to_string();
        assert!(!e.contains("writable"), "not a permission problem: {e}");
        assert!(e.contains("move it aside"), "{e}");
    }

    #[test]
    fn a_tick_commits_cursor_events_and_acks_together_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("shim-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, saved) = Store::open(&dir).unwrap();
        assert!(saved.is_none(), "a new store has nothing");
        let state = State {
            baselined: true,
            queue_floor: 7,
            ..State::default()
        };
        store
            .commit(
                "http://ci/",
                &state,
                &[entry(0), entry(1), entry(2)],
                &[("a".into(), 0), ("b".into(), 0)],
            )
            .unwrap();
        store
            .commit(
                "http://ci/",
                &state,
                &[],
                &[("a".into(), 3), ("b".into(), 1)],
            )
            .unwrap();
        drop(store);
        let (_, saved) = Store::open(&dir).unwrap();
        let saved = saved.unwrap();
        assert_eq!(saved.states["http://ci/"], state);
        let seqs: Vec<u64> = saved.events.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2], "what every sink acknowledged is gone");
        assert_eq!(saved.acked["b"], 1);
        assert_eq!(
            saved.events[0].1,
            entry(1).outgoing(),
            "events round-trip, data field order included"
        );
    }

    #[test]
    fn a_format_1_store_is_read_and_converted_on_the_next_commit() {
        let dir = std::env::temp_dir().join(format!("shim-store-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state = State {
            baselined: true,
            queue_floor: 3,
            ..State::default()
        };
        {
            let db = Database::create(dir.join(FILE_NAME)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                meta.insert("format", "1").unwrap();
                meta.insert("controller", "http://ci/").unwrap();
                let mut cursor = txn.open_table(CURSOR).unwrap();
                let bytes = serde_json::to_vec(&state).unwrap();
                cursor.insert(LEGACY_CURSOR, bytes.as_slice()).unwrap();
                txn.open_table(OUTBOX).unwrap();
                txn.open_table(ACKED).unwrap();
            }
            txn.commit().unwrap();
        }
        let (store, saved) = Store::open(&dir).unwrap();
        assert_eq!(saved.unwrap().states["http://ci/"], state);
        store.commit("http://ci/", &state, &[], &[]).unwrap();
        drop(store);
        let (_, saved) = Store::open(&dir).unwrap();
        let states = saved.unwrap().states;
        assert_eq!(states.keys().collect::<Vec<_>>(), ["http://ci/"]);
    }
}
