//! Exactly one PipelineRun per build: KubeSphere's `run.initialize`, from which ks-devops
//! creates a PipelineRun, may follow a copy that may have arrived only once ks-devops's own
//! look-up would find what that copy created. The rule, and the Go code it rests on, is in
//! `docs/kubesphere.md`; the record it keeps per sink and event is [`crate::store::Claims`].

use std::time::Duration;

use backon::Retryable;

use super::dispatcher::Dispatcher;
use super::{SendError, retry_policy};
use crate::event::Format;
use crate::store::Entry;

/// How long after an attempt that may have arrived a `run.initialize` is sent again: by then
/// ks-devops's own look-up (`retryCheckPipelineRunList`: 5 tries, 1 s apart) has either created
/// the PipelineRun, which the next copy's look-up finds, or given up without one, which the next
/// copy creates. Four times that window, for a busy API server. See `docs/kubesphere.md`.
pub const LOOKUP_WAIT: Duration = Duration::from_secs(20);

/// Whether a guarded entry may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    /// Send it.
    Go,
    /// The sink took it before: never again.
    Delivered,
    /// Not before ks-devops's look-up window has passed.
    Later,
}

/// Identical 500 answers to one `run.initialize` after which a KubeSphere sink is reported not
/// ready: ks-devops answers 500 when it cannot decode an event, and decoding is deterministic.
const REPEATED_500: u32 = 3;

/// The last 500 answer to one event and how many times in a row it came.
#[derive(Debug, Default)]
pub(super) struct Repeated500(std::sync::Mutex<(String, u32)>);

impl Repeated500 {
    /// For a KubeSphere sink: why the sink is not ready if `result` is the same 500 for the
    /// [`REPEATED_500`]th time in a row.
    pub(super) fn verdict(&self, format: Format, result: &Result<(), SendError>) -> Option<String> {
        let Err(SendError::Retry {
            reason,
            cause: super::Cause::Status(500),
            ..
        }) = result
        else {
            return None;
        };
        if format != Format::KubeSphere {
            return None;
        }
        let mut repeated = self.0.lock().expect("repeats lock");
        if repeated.0 == *reason {
            repeated.1 += 1;
        } else {
            *repeated = (reason.clone(), 1);
        }
        (repeated.1 >= REPEATED_500).then(|| format!(
            "{reason}, {REPEATED_500} times alike: ks-devops answers 500 when it cannot decode an event, so this one will not pass as it is; check that the sink's URL is ks-devops's webhook (v3.3 or later) and report the answer; events wait"
        ))
    }
}

impl Dispatcher {
    /// Whether every copy of this entry that reaches this sink is acted on, so that a copy may
    /// follow one that may have arrived only after the receiver's look-up: KubeSphere's
    /// `run.initialize`, from which ks-devops creates a PipelineRun.
    pub(super) fn guarded(&self, entry: &Entry) -> bool {
        self.format == Format::KubeSphere
            && entry.event.ty() == crate::event::kubesphere::RUN_INITIALIZE
    }

    /// Before an attempt of a guarded entry: [`Turn::Delivered`] if this sink took it before
    /// (it is not sent again). Otherwise waits (when `wait`, else answers [`Turn::Later`])
    /// until ks-devops's look-up will find what an earlier attempt that may have arrived
    /// created, then records the attempt as if it will be ambiguous (so that a crash during it
    /// keeps the rule).
    pub(super) async fn take_turn(&self, entry: &Entry, wait: bool) -> Turn {
        let id = entry.event.id();
        loop {
            let not_before = self.stored(|| self.claims.not_before(&self.name, id)).await;
            let now = crate::clock::now_ms();
            match not_before {
                Some(crate::store::claims::DELIVERED) => {
                    tracing::info!(sink = %self.name, id, job = entry.job.as_deref(), "run.initialize was delivered to this sink before: not sent again");
                    return Turn::Delivered;
                }
                Some(at) if at > now => {
                    if !wait {
                        return Turn::Later;
                    }
                    tracing::info!(sink = %self.name, id, job = entry.job.as_deref(), wait_ms = at - now, "run.initialize may have reached ks-devops: sent again once its look-up would find the PipelineRun");
                    tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
                }
                _ => break,
            }
        }
        let bound = self.sink.attempt_timeout() + LOOKUP_WAIT;
        let until = crate::clock::now_ms() + bound.as_millis() as i64;
        self.stored(|| self.claims.hold_until(&self.name, id, until))
            .await;
        Turn::Go
    }

    /// After an attempt of a guarded entry: delivered, provably not arrived (send at will), or
    /// maybe arrived (send again only after ks-devops's look-up).
    pub(super) async fn record(&self, entry: &Entry, result: &Result<(), SendError>) {
        let id = entry.event.id();
        match result {
            Ok(()) => {
                self.stored(|| {
                    self.claims
                        .hold_until(&self.name, id, crate::store::claims::DELIVERED)
                })
                .await
            }
            Err(e) if e.may_have_arrived() => {
                tracing::warn!(sink = %self.name, id, job = entry.job.as_deref(), "run.initialize may have reached ks-devops ({e}): it is sent again after {}, when ks-devops's own look-up finds the PipelineRun the first copy created, so there is exactly one", humantime::format_duration(LOOKUP_WAIT));
                let until = crate::clock::now_ms() + LOOKUP_WAIT.as_millis() as i64;
                self.stored(|| self.claims.hold_until(&self.name, id, until))
                    .await
            }
            Err(_) => self.stored(|| self.claims.release(&self.name, id)).await,
        }
    }

    /// A delivery-record operation, retried until the store takes it.
    async fn stored<T>(&self, op: impl Fn() -> Result<T, crate::store::StoreError>) -> T {
        (|| async { op() })
            .retry(retry_policy(self.backoff))
            .notify(|e, _| tracing::error!(sink = %self.name, "cannot write the delivery record of a run.initialize, retrying: {e}"))
            .await
            .expect("retried without limit")
    }
}
