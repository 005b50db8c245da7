//! JSON lines appended to a file: one structured CloudEvent per line, for piping into other
//! tools (`tail -F`, log shippers).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::event::Payload;

use super::{Cause, SendError};

/// Appends events to a file.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    // A std mutex: one short write per event, never across an await.
    file: Mutex<std::fs::File>,
}

impl FileSink {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<FileSink> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(FileSink {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line; a failed write (disk full) is retried.
    pub fn send(&self, event: &Payload) -> Result<(), SendError> {
        let mut line = event.to_json();
        line.push(b'\n');
        let mut file = self.file.lock().expect("file sink lock");
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|e| SendError::Retry {
                reason: format!("writing {}: {e}", self.path.display()),
                cause: Cause::Write,
                after: None,
            })
    }
}
