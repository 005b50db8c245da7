//! JSON lines on standard output: one structured CloudEvent per line.

use std::io::Write;

use cloudevents::Event;

use super::SendError;

/// Writes events to standard output.
#[derive(Debug)]
pub struct StdoutSink;

impl StdoutSink {
    /// Writes one line; a closed pipe is permanent.
    pub fn send(&self, event: &Event) -> Result<(), SendError> {
        let line = serde_json::to_string(event).map_err(|e| SendError::Reject {
            reason: format!("cannot serialise the event: {e}"),
        })?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| SendError::Disable {
                reason: format!("standard output is closed: {e}"),
            })
    }
}
