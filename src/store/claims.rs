//! Events a sink must receive at most once, ever: KubeSphere's `run.initialize`, from which
//! ks-devops creates a PipelineRun (a second one within its look-up window creates a
//! duplicate). A dispatcher claims such an event, durably, before its first attempt; a claimed
//! event is never sent again, across retries and restarts.
//!
//! With `--state-dir` the claims live in the store's file (one small commit per claim);
//! without it, in memory (which still covers retries within the process).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use redb::{ReadableTable, TableDefinition};

use super::StoreError;
use super::db::Handle;

const CLAIMS: TableDefinition<&str, i64> = TableDefinition::new("claims");

/// Claims of at-most-once events, per sink.
#[derive(Debug)]
pub struct Claims {
    db: Option<Arc<Handle>>,
    memory: Mutex<HashSet<String>>,
}

impl Claims {
    /// Claims kept in memory only.
    pub fn in_memory() -> Claims {
        Claims {
            db: None,
            memory: Mutex::new(HashSet::new()),
        }
    }

    pub(super) fn durable(handle: Arc<Handle>) -> Claims {
        Claims {
            db: Some(handle),
            memory: Mutex::new(HashSet::new()),
        }
    }

    /// Records that `sink` is about to receive event `id`; `false` if it was claimed before
    /// (then it must not be sent). Committed before it returns.
    pub fn claim(&self, sink: &str, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let key = format!("{sink}|{id}");
        let mut memory = self.memory.lock().expect("claims lock");
        if memory.contains(&key) {
            return Ok(false);
        }
        let fresh = self.write(|table| {
            let seen = table.get(key.as_str())?.is_some();
            if !seen {
                table.insert(key.as_str(), now_ms)?;
            }
            Ok(!seen)
        })?;
        memory.insert(key);
        Ok(fresh.unwrap_or(true))
    }

    /// Gives a claim back: the event provably never reached the sink (no connection was made,
    /// or the sink answered with an error), so it may be sent again, after a restart too.
    pub fn release(&self, sink: &str, id: &str) -> Result<(), StoreError> {
        let key = format!("{sink}|{id}");
        self.memory.lock().expect("claims lock").remove(&key);
        self.write(|table| table.remove(key.as_str()).map(drop))?;
        Ok(())
    }

    /// One committed change to the claims table; `None` without a store.
    fn write<R>(
        &self,
        change: impl FnOnce(&mut redb::Table<&str, i64>) -> Result<R, redb::StorageError>,
    ) -> Result<Option<R>, StoreError> {
        let Some(handle) = &self.db else {
            return Ok(None);
        };
        let io = |e: &dyn std::fmt::Display| StoreError::Io {
            path: handle.path(),
            reason: e.to_string(),
        };
        handle
            .write(
                |e| io(&e),
                |db| {
                    let txn = db.begin_write().map_err(|e| io(&e))?;
                    let result = {
                        let mut table = txn.open_table(CLAIMS).map_err(|e| io(&e))?;
                        change(&mut table).map_err(|e| io(&e))?
                    };
                    txn.commit().map_err(|e| io(&e))?;
                    Ok(result)
                },
            )
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_holds_across_a_reopen_of_the_store() {
        let dir = std::env::temp_dir().join(format!("shim-claims-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, _) = super::super::Store::open(&dir).unwrap();
        let claims = store.claims();
        assert!(claims.claim("ks", "id-1", 0).unwrap());
        assert!(!claims.claim("ks", "id-1", 0).unwrap(), "the same process");
        assert!(claims.claim("other-sink", "id-1", 0).unwrap(), "per sink");
        drop(claims);
        drop(store);
        let (store, _) = super::super::Store::open(&dir).unwrap();
        let claims = store.claims();
        assert!(!claims.claim("ks", "id-1", 0).unwrap(), "after a restart");
        claims.release("ks", "id-1").unwrap();
        assert!(
            claims.claim("ks", "id-1", 0).unwrap(),
            "released: may be sent again"
        );
        let memory = Claims::in_memory();
        assert!(memory.claim("ks", "id-1", 0).unwrap());
        assert!(!memory.claim("ks", "id-1", 0).unwrap());
    }
}
