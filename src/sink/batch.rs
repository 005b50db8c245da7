//! Batch mode (`mode = "batch"`): events grouped into one `application/cloudevents-batch+json`
//! request of at most `max-events`, a short batch waiting at most `max-wait` (from its oldest
//! event) for company.

use std::time::Duration;

use cloudevents::Event;
use tokio::sync::futures::Notified;
use tokio_util::sync::CancellationToken;

use super::Dispatcher;
use super::http::Batching;
use crate::event::Payload;
use crate::store::Entry;

impl Dispatcher {
    /// One batch from `entries` (the next waiting ones); `false` once `stop` is cancelled.
    pub(super) async fn deliver_batch(
        &self,
        batching: Batching,
        entries: Vec<Entry>,
        appended: Notified<'_>,
        stop: &CancellationToken,
    ) -> bool {
        let age =
            Duration::from_millis((crate::clock::now_ms() - entries[0].appended_at).max(0) as u64);
        if entries.len() < batching.max_events && age < batching.max_wait {
            return tokio::select! {
                _ = stop.cancelled() => false,
                _ = appended => true,
                _ = tokio::time::sleep(batching.max_wait - age) => true,
            };
        }
        let last = entries[entries.len() - 1].seq;
        let wanted: Vec<Entry> = entries.into_iter().filter(|e| self.wanted(e)).collect();
        if !wanted.is_empty() {
            tokio::select! {
                _ = stop.cancelled() => return false,
                () = self.deliver(&wanted) => {}
            }
        }
        self.outbox.ack(self.index, last);
        true
    }
}

/// The CloudEvents of a batch (generic envelopes never reach batch mode: the configuration
/// refuses a kubesphere sink in batch mode).
pub(super) fn cloud_events(entries: &[Entry]) -> Vec<Event> {
    entries
        .iter()
        .filter_map(|e| match &*e.event {
            Payload::Cloud(event) => Some(event.clone()),
            Payload::Generic(_) => None,
        })
        .collect()
}
