//! JSON lines on standard output: one structured CloudEvent per line.

use std::io::Write;

use crate::event::Payload;

use super::SendError;

/// Writes events to standard output.
#[derive(Debug)]
pub struct StdoutSink;

impl StdoutSink {
    /// Writes one line; a closed pipe is permanent.
    pub fn send(&self, event: &Payload) -> Result<(), SendError> {
        let mut line = event.to_json();
        line.push(b'\n');
        let mut out = std::io::stdout().lock();
        out.write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|e| SendError::Disable {
                reason: format!("standard output is closed: {e}"),
            })
    }
}
