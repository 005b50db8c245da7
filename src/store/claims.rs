//! The delivery record of events whose every copy the receiver acts on: KubeSphere's
//! `run.initialize`, from which ks-devops creates a PipelineRun. Per sink and event it keeps one
//! number, the earliest time (ms) the event may be sent again:
//!
//! - no record: never tried, or every attempt provably did not arrive: send now;
//! - a time: an attempt may have arrived; a copy sent after that time finds, in ks-devops's own
//!   look-up, the PipelineRun the first one created (see `docs/kubesphere.md`);
//! - [`DELIVERED`]: the receiver took it: never again.
//!
//! The record is written before each attempt (as if it will be ambiguous, bounded by the
//! attempt's timeout), so a crash at any point keeps the rule after the restart. With
//! `--state-dir` it lives in the store's file (one small commit per write); without it, in
//! memory (which covers retries within the process, and nothing is replayed after a restart
//! without state).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use redb::{ReadableDatabase, TableDefinition};

use super::StoreError;
use super::db::Handle;

const CLAIMS: TableDefinition<&str, i64> = TableDefinition::new("claims");

/// The record of an event the receiver took: it is never sent again.
pub const DELIVERED: i64 = i64::MAX;

/// Delivery records of events the receiver must act on once, per sink.
#[derive(Debug)]
pub struct Claims {
    db: Option<Arc<Handle>>,
    memory: Mutex<HashMap<String, Option<i64>>>,
}

impl Claims {
    /// Records kept in memory only.
    pub fn in_memory() -> Claims {
        Claims {
            db: None,
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn durable(handle: Arc<Handle>) -> Claims {
        Claims {
            db: Some(handle),
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The earliest time `sink` may be sent event `id` again: `None` for now, [`DELIVERED`]
    /// for never.
    pub fn not_before(&self, sink: &str, id: &str) -> Result<Option<i64>, StoreError> {
        let key = key(sink, id);
        let mut memory = self.memory.lock().expect("claims lock");
        if let Some(known) = memory.get(&key) {
            return Ok(*known);
        }
        let stored = match &self.db {
            None => None,
            Some(handle) => {
                let io = |e: &dyn std::fmt::Display| StoreError::Io {
                    path: handle.path(),
                    reason: e.to_string(),
                };
                let db = handle.get().map_err(|e| io(&e))?;
                let txn = db.begin_read().map_err(|e| io(&e))?;
                match txn.open_table(CLAIMS) {
                    Ok(table) => table
                        .get(key.as_str())
                        .map_err(|e| io(&e))?
                        .map(|v| v.value()),
                    Err(redb::TableError::TableDoesNotExist(_)) => None,
                    Err(e) => return Err(io(&e)),
                }
            }
        };
        memory.insert(key, stored);
        Ok(stored)
    }

    /// Records that `sink` may be sent event `id` again only from `at` (ms; [`DELIVERED`]:
    /// never). Committed before it returns.
    pub fn hold_until(&self, sink: &str, id: &str, at: i64) -> Result<(), StoreError> {
        let key = key(sink, id);
        self.write(|table| table.insert(key.as_str(), at).map(drop))?;
        self.memory
            .lock()
            .expect("claims lock")
            .insert(key, Some(at));
        Ok(())
    }

    /// Forgets the record: no attempt can have arrived, so the event may be sent at once, after
    /// a restart too.
    pub fn release(&self, sink: &str, id: &str) -> Result<(), StoreError> {
        let key = key(sink, id);
        self.write(|table| table.remove(key.as_str()).map(drop))?;
        self.memory.lock().expect("claims lock").insert(key, None);
        Ok(())
    }

    /// One committed change to the table; nothing without a store.
    fn write(
        &self,
        change: impl FnOnce(&mut redb::Table<&str, i64>) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        let Some(handle) = &self.db else {
            return Ok(());
        };
        let io = |e: &dyn std::fmt::Display| StoreError::Io {
            path: handle.path(),
            reason: e.to_string(),
        };
        handle.write(
            |e| io(&e),
            |db| {
                let txn = db.begin_write().map_err(|e| io(&e))?;
                {
                    let mut table = txn.open_table(CLAIMS).map_err(|e| io(&e))?;
                    change(&mut table).map_err(|e| io(&e))?;
                }
                txn.commit().map_err(|e| io(&e))
            },
        )
    }
}

fn key(sink: &str, id: &str) -> String {
    format!("{sink}|{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_across_a_reopen_of_the_store_and_per_sink() {
        let dir = std::env::temp_dir().join(format!("shim-claims-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, _) = super::super::Store::open(&dir).unwrap();
        let claims = store.claims();
        assert_eq!(
            claims.not_before("ks", "id-1").unwrap(),
            None,
            "never tried"
        );
        claims.hold_until("ks", "id-1", 5_000).unwrap();
        claims.hold_until("ks", "id-2", DELIVERED).unwrap();
        assert_eq!(claims.not_before("ks", "id-1").unwrap(), Some(5_000));
        assert_eq!(claims.not_before("other-sink", "id-1").unwrap(), None);
        drop(claims);
        drop(store);
        let (store, _) = super::super::Store::open(&dir).unwrap();
        let claims = store.claims();
        assert_eq!(claims.not_before("ks", "id-1").unwrap(), Some(5_000));
        assert_eq!(claims.not_before("ks", "id-2").unwrap(), Some(DELIVERED));
        claims.release("ks", "id-1").unwrap();
        drop(claims);
        drop(store);
        let (store, _) = super::super::Store::open(&dir).unwrap();
        assert_eq!(store.claims().not_before("ks", "id-1").unwrap(), None);
        let memory = Claims::in_memory();
        memory.hold_until("ks", "id-1", DELIVERED).unwrap();
        assert_eq!(memory.not_before("ks", "id-1").unwrap(), Some(DELIVERED));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
