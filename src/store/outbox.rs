//! The in-memory side of the outbox: what the dispatchers read.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::event::{Format, Outgoing, Payload};

/// An event waiting for delivery.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Position in the log (never reused, kept across restarts).
    pub seq: u64,
    /// Its dialect: only sinks speaking it take it.
    pub format: Format,
    /// The event.
    pub event: Arc<Payload>,
    /// Its job path, for per-job ordering and logs.
    pub job: Option<String>,
    /// The name of the controller it comes from.
    pub controller: String,
    /// When it was appended (ms), for delivery latency.
    pub appended_at: i64,
}

impl Entry {
    fn new(seq: u64, o: Outgoing, now: i64) -> Entry {
        Entry {
            seq,
            format: o.format,
            event: Arc::new(o.payload),
            job: o.job,
            controller: o.controller,
            appended_at: now,
        }
    }

    /// The entry as it is stored.
    pub fn outgoing(&self) -> Outgoing {
        Outgoing {
            format: self.format,
            payload: (*self.event).clone(),
            job: self.job.clone(),
            controller: self.controller.clone(),
        }
    }
}

/// What to do when the outbox holds `capacity` events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Stop polling until a sink catches up: nothing is lost (the cursor does not advance, so
    /// what happens meanwhile is caught up afterwards), Jenkins is read less.
    #[default]
    Block,
    /// Keep polling and drop the oldest events (logged and counted).
    DropOldest,
}

#[derive(Debug)]
struct Inner {
    entries: VecDeque<Entry>,
    next_seq: u64,
    /// Per sink: the first seq it has not acknowledged.
    cursors: Vec<u64>,
}

/// The outbox shared by the poller (appends) and the dispatchers (read, acknowledge).
#[derive(Debug)]
pub struct Outbox {
    // A std mutex: no critical section awaits.
    inner: Mutex<Inner>,
    appended: Notify,
    capacity: usize,
    policy: OverflowPolicy,
}

impl Outbox {
    /// An outbox for `sinks` sinks holding `capacity` events.
    pub fn new(sinks: usize, capacity: usize, policy: OverflowPolicy) -> Outbox {
        Outbox {
            inner: Mutex::new(Inner {
                entries: VecDeque::new(),
                next_seq: 0,
                cursors: vec![0; sinks],
            }),
            appended: Notify::new(),
            capacity: capacity.max(1),
            policy,
        }
    }

    /// The policy when full.
    pub fn policy(&self) -> OverflowPolicy {
        self.policy
    }

    /// At capacity.
    pub fn is_full(&self) -> bool {
        self.depth() >= self.capacity
    }

    /// Numbers a tick's events without making them visible (they are committed first).
    pub fn prepare(&self, events: Vec<Outgoing>, now: i64) -> Vec<Entry> {
        let mut inner = self.inner.lock().expect("outbox lock");
        events
            .into_iter()
            .map(|o| {
                let seq = inner.next_seq;
                inner.next_seq += 1;
                Entry::new(seq, o, now)
            })
            .collect()
    }

    /// Takes back prepared entries that were never published (their commit failed), so that
    /// the numbers are handed out again. Call under the same append lock as `prepare`.
    pub fn unprepare(&self, entries: &[Entry]) {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return;
        };
        let mut inner = self.inner.lock().expect("outbox lock");
        if inner.next_seq == last.seq + 1 {
            inner.next_seq = first.seq;
        }
    }

    /// Makes prepared entries visible to the dispatchers. With [`OverflowPolicy::DropOldest`],
    /// returns how many old entries were dropped to stay within capacity.
    pub fn publish(&self, entries: Vec<Entry>) -> usize {
        if entries.is_empty() {
            return 0;
        }
        let mut inner = self.inner.lock().expect("outbox lock");
        inner.entries.extend(entries);
        let mut dropped = 0;
        if self.policy == OverflowPolicy::DropOldest {
            while inner.entries.len() > self.capacity {
                let gone = inner.entries.pop_front().expect("len > capacity > 0");
                for cursor in inner.cursors.iter_mut() {
                    *cursor = (*cursor).max(gone.seq + 1);
                }
                dropped += 1;
            }
        }
        drop(inner);
        self.appended.notify_waiters();
        dropped
    }

    /// Up to `max` entries sink `sink` has not acknowledged, oldest first.
    pub fn pending(&self, sink: usize, max: usize) -> Vec<Entry> {
        let inner = self.inner.lock().expect("outbox lock");
        let cursor = inner.cursors[sink];
        let first = inner.entries.front().map_or(cursor, |e| e.seq);
        let skip = cursor.saturating_sub(first) as usize;
        inner.entries.iter().skip(skip).take(max).cloned().collect()
    }

    /// Sink `sink` is done with everything up to and including `seq`.
    pub fn ack(&self, sink: usize, seq: u64) {
        let mut inner = self.inner.lock().expect("outbox lock");
        inner.cursors[sink] = inner.cursors[sink].max(seq + 1);
        let low = inner.cursors.iter().copied().min().unwrap_or(u64::MAX);
        while inner.entries.front().is_some_and(|e| e.seq < low) {
            inner.entries.pop_front();
        }
    }

    /// Per sink, the first seq it has not acknowledged.
    pub fn cursors(&self) -> Vec<u64> {
        self.inner.lock().expect("outbox lock").cursors.clone()
    }

    /// Events waiting for at least one sink.
    pub fn depth(&self) -> usize {
        self.inner.lock().expect("outbox lock").entries.len()
    }

    /// Refills a fresh outbox from the store: entries keep their seqs; `acked[i]` is sink i's
    /// first unacknowledged seq.
    pub fn restore(&self, events: Vec<(u64, Outgoing)>, acked: &[u64], now: i64) {
        let mut inner = self.inner.lock().expect("outbox lock");
        assert!(inner.entries.is_empty(), "restore into a fresh outbox only");
        let next = events.last().map_or(0, |(seq, _)| seq + 1);
        let first = events.first().map_or(next, |(seq, _)| *seq);
        for (seq, o) in events {
            inner.entries.push_back(Entry::new(seq, o, now));
        }
        inner.next_seq = next.max(acked.iter().copied().max().unwrap_or(0));
        for (cursor, done) in inner.cursors.iter_mut().zip(acked) {
            *cursor = (*done).max(first);
        }
    }

    /// Waits until something is appended (register before checking `pending` to not miss one).
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(id: &str) -> Outgoing {
        let e = EventBuilderV10::new()
            .id(id)
            .source("job/x")
            .ty("t")
            .build()
            .unwrap();
        Outgoing {
            format: Format::Plugin,
            payload: Payload::Cloud(e),
            job: Some("job/x/".into()),
            controller: "ci".into(),
        }
    }

    fn append(outbox: &Outbox, events: Vec<Outgoing>) -> usize {
        let entries = outbox.prepare(events, 0);
        outbox.publish(entries)
    }

    #[test]
    fn each_sink_reads_at_its_own_pace_and_entries_go_when_all_acked() {
        let outbox = Outbox::new(2, 100, OverflowPolicy::Block);
        append(&outbox, vec![event("a"), event("b"), event("c")]);
        let first = outbox.pending(0, 10);
        assert_eq!(first.len(), 3);
        outbox.ack(0, first[2].seq);
        assert_eq!(outbox.pending(0, 10).len(), 0);
        assert_eq!(
            outbox.pending(1, 2).len(),
            2,
            "the slow sink still has them"
        );
        assert_eq!(outbox.depth(), 3);
        outbox.ack(1, 1);
        assert_eq!(outbox.depth(), 1);
        assert_eq!(outbox.pending(1, 10)[0].event.id(), "c");
    }

    #[test]
    fn prepared_events_are_invisible_until_published() {
        let outbox = Outbox::new(1, 100, OverflowPolicy::Block);
        let entries = outbox.prepare(vec![event("a")], 0);
        assert!(outbox.pending(0, 10).is_empty());
        outbox.publish(entries);
        assert_eq!(outbox.pending(0, 10).len(), 1);
    }

    #[test]
    fn a_full_outbox_blocks_or_drops_the_oldest_as_configured() {
        let blocking = Outbox::new(1, 2, OverflowPolicy::Block);
        assert_eq!(
            append(&blocking, vec![event("a"), event("b"), event("c")]),
            0
        );
        assert!(blocking.is_full(), "the poller sees it full and waits");
        let dropping = Outbox::new(1, 2, OverflowPolicy::DropOldest);
        assert_eq!(
            append(&dropping, vec![event("a"), event("b"), event("c")]),
            1
        );
        let left: Vec<_> = dropping
            .pending(0, 10)
            .iter()
            .map(|e| e.event.id().to_string())
            .collect();
        assert_eq!(left, ["b", "c"]);
    }

    #[test]
    fn restore_keeps_seqs_and_each_sinks_position() {
        let outbox = Outbox::new(2, 100, OverflowPolicy::Block);
        outbox.restore(vec![(7, event("a")), (8, event("b"))], &[9, 8], 0);
        assert!(outbox.pending(0, 10).is_empty());
        assert_eq!(outbox.pending(1, 10)[0].seq, 8);
        let next = outbox.prepare(vec![event("c")], 0);
        assert_eq!(next[0].seq, 9, "numbering continues");
    }
}
