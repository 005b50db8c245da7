//! Why a delivery failed, typed: the dispatcher decides retries, readiness and whether an
//! attempt may have reached the receiver from these, never from strings.

use std::time::Duration;

/// What failed in an attempt worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No connection was made (refused, DNS, TLS handshake): nothing was sent.
    Connect,
    /// No answer within the sink's timeout; the request may have arrived.
    Timeout,
    /// The connection broke after it was made; the request may have arrived.
    Transport,
    /// The receiver answered with this temporary status (408, 409, 425, 429, 5xx).
    Status(u16),
    /// The sink's credentials could not be read (its token file): nothing was sent.
    AuthConfig,
    /// A file sink's write failed (part of the line may be written).
    Write,
    /// A NATS publish went unacknowledged (the stream may hold it; its `Nats-Msg-Id`
    /// deduplicates a re-send).
    Publish,
}

impl Cause {
    /// The `error_type` label of `component_errors_total`.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Connect => "connect",
            Cause::Timeout => "timeout",
            Cause::Transport => "transport",
            Cause::Status(502 | 504) => "gateway",
            Cause::Status(_) => "http_status",
            Cause::AuthConfig => "auth_config",
            Cause::Write => "write",
            Cause::Publish => "publish",
        }
    }

    /// Whether the receiver may have taken the event: a timeout or a connection cut after the
    /// request went out, or a gateway's 502/504 (the request may have reached the server
    /// behind it). An error status from the receiver itself, a refused connection or
    /// unreadable credentials prove it did not.
    pub fn may_have_arrived(self) -> bool {
        match self {
            Cause::Connect | Cause::AuthConfig => false,
            Cause::Status(status) => matches!(status, 502 | 504),
            Cause::Timeout | Cause::Transport | Cause::Write | Cause::Publish => true,
        }
    }
}

/// Why a delivery did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Temporary: try again (after the sink's `Retry-After`, if it gave one).
    #[error("{reason}")]
    Retry {
        /// What happened.
        reason: String,
        /// What failed.
        cause: Cause,
        /// The sink's requested wait.
        after: Option<Duration>,
    },
    /// The sink is gone for good (410): stop delivering to it.
    #[error("{reason}")]
    Disable {
        /// What happened.
        reason: String,
    },
    /// The sink's configuration is wrong (a redirect, credentials, a URL that takes nothing):
    /// retried like a temporary failure, and the sink is reported not ready until it works.
    #[error("{reason}")]
    Misconfigured {
        /// What happened and what to fix.
        reason: String,
    },
    /// The sink refuses this event; retrying will not help.
    #[error("{reason}")]
    Reject {
        /// What happened.
        reason: String,
    },
}

impl SendError {
    /// Whether the receiver may have taken the event although the attempt failed
    /// ([`Cause::may_have_arrived`]; an answered error status proves it did not).
    pub fn may_have_arrived(&self) -> bool {
        match self {
            SendError::Retry { cause, .. } => cause.may_have_arrived(),
            SendError::Disable { .. }
            | SendError::Misconfigured { .. }
            | SendError::Reject { .. } => false,
        }
    }
}
