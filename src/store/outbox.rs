//! The in-memory outbox.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cloudevents::Event;
use tokio::sync::Notify;

/// An event waiting for delivery.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Position in the log (never reused).
    pub seq: u64,
    /// The event.
    pub event: Arc<Event>,
    /// Its job path, for per-job ordering and logs.
    pub job: Option<String>,
    /// When it was appended (ms), for delivery latency.
    pub appended_at: i64,
}

/// What to do when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Drop the oldest entries (logged and counted): polling never stops.
    DropOldest,
}

#[derive(Debug)]
struct Inner {
    entries: VecDeque<Entry>,
    next_seq: u64,
    /// Per sink: the next seq it has not acknowledged.
    cursors: Vec<u64>,
    capacity: usize,
}

impl Inner {
    fn push(&mut self, events: Vec<(Event, Option<String>)>, now: i64) {
        for (event, job) in events {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.entries.push_back(Entry {
                seq,
                event: Arc::new(event),
                job,
                appended_at: now,
            });
        }
    }
}

/// The outbox shared by the poller (appends) and the dispatchers (read, acknowledge).
#[derive(Debug)]
pub struct Outbox {
    // A std mutex: no critical section awaits.
    inner: Mutex<Inner>,
    appended: Notify,
}

impl Outbox {
    /// An outbox for `sinks` sinks holding at most `capacity` events.
    pub fn new(sinks: usize, capacity: usize) -> Outbox {
        Outbox {
            inner: Mutex::new(Inner {
                entries: VecDeque::new(),
                next_seq: 0,
                cursors: vec![0; sinks],
                capacity: capacity.max(1),
            }),
            appended: Notify::new(),
        }
    }

    /// Appends a tick's events in order. Returns how many old entries were dropped to make room.
    pub fn append(&self, events: Vec<(Event, Option<String>)>, now: i64) -> usize {
        if events.is_empty() {
            return 0;
        }
        let mut inner = self.inner.lock().expect("outbox lock");
        inner.push(events, now);
        let mut dropped = 0;
        while inner.entries.len() > inner.capacity {
            let gone = inner.entries.pop_front().expect("len > capacity > 0");
            for cursor in inner.cursors.iter_mut() {
                *cursor = (*cursor).max(gone.seq + 1);
            }
            dropped += 1;
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

    /// Events waiting for at least one sink.
    pub fn depth(&self) -> usize {
        self.inner.lock().expect("outbox lock").entries.len()
    }

    /// Events waiting for sink `sink`.
    pub fn depth_for(&self, sink: usize) -> usize {
        let inner = self.inner.lock().expect("outbox lock");
        let cursor = inner.cursors[sink];
        inner.entries.iter().filter(|e| e.seq >= cursor).count()
    }

    /// Everything waiting, oldest first, and per sink how many of those it has acknowledged.
    pub fn snapshot(&self) -> (Vec<Entry>, Vec<usize>) {
        let inner = self.inner.lock().expect("outbox lock");
        let first = inner.entries.front().map_or(inner.next_seq, |e| e.seq);
        let acked = inner
            .cursors
            .iter()
            .map(|c| c.saturating_sub(first) as usize)
            .collect();
        (inner.entries.iter().cloned().collect(), acked)
    }

    /// Refills an empty outbox from a saved one; `acked[i]` leading entries are done for sink i.
    pub fn restore(&self, events: Vec<(Event, Option<String>)>, acked: &[usize], now: i64) {
        let mut inner = self.inner.lock().expect("outbox lock");
        assert!(inner.entries.is_empty(), "restore into a fresh outbox only");
        inner.push(events, now);
        for (cursor, done) in inner.cursors.iter_mut().zip(acked) {
            *cursor = *done as u64;
        }
        let low = inner.cursors.iter().copied().min().unwrap_or(0);
        while inner.entries.front().is_some_and(|e| e.seq < low) {
            inner.entries.pop_front();
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
    use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};

    fn event(id: &str) -> (Event, Option<String>) {
        let e = EventBuilderV10::new()
            .id(id)
            .source("job/x")
            .ty("t")
            .build()
            .unwrap();
        (e, Some("job/x/".into()))
    }

    #[test]
    fn each_sink_reads_at_its_own_pace_and_entries_go_when_all_acked() {
        let outbox = Outbox::new(2, 100);
        outbox.append(vec![event("a"), event("b"), event("c")], 0);
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
    fn a_full_outbox_drops_the_oldest_and_says_how_many() {
        let outbox = Outbox::new(1, 2);
        assert_eq!(
            outbox.append(vec![event("a"), event("b"), event("c")], 0),
            1
        );
        let left: Vec<_> = outbox
            .pending(0, 10)
            .iter()
            .map(|e| e.event.id().to_string())
            .collect();
        assert_eq!(left, ["b", "c"]);
    }
}
