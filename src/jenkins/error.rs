//! Typed failures of a Jenkins request, each with the cause and the fix in its message.

/// Why a request to Jenkins failed. URLs in messages never carry credentials (we never put them
/// in URLs) and never the `tree=` query (noise).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // each field is named in its variant's message
pub enum Error {
    /// 401: the credentials are wrong, or none were sent where Jenkins wants some.
    #[error("Jenkins answered {url} with 401 Unauthorized: {hint}")]
    Unauthorized { url: String, hint: &'static str },
    /// 403: anonymous, or the user lacks a permission. `who` is Jenkins' `X-You-Are-Authenticated-As`.
    #[error("Jenkins refused {url} (403 Forbidden, authenticated as {who}): {hint}")]
    Forbidden {
        url: String,
        who: String,
        hint: &'static str,
    },
    /// 404: the object does not exist or is not visible to this user.
    #[error("Jenkins has no {url} (404 Not Found) or this user cannot see it")]
    NotFound { url: String },
    /// A 3xx: Jenkins answers API calls directly, so a redirect means a wrong URL or a login proxy.
    #[error(
        "Jenkins redirected {url} to {location} ({status}): check --jenkins-url (scheme, host and context path, e.g. https://ci.example/jenkins/)"
    )]
    Redirect {
        url: String,
        status: u16,
        location: String,
    },
    /// Any other non-2xx status.
    #[error("Jenkins answered {url} with HTTP {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    /// The body was not the JSON shape we expect.
    #[error(
        "Jenkins answered {url} with a body that is not the expected JSON ({source}); is --jenkins-url pointing at Jenkins itself?"
    )]
    Malformed {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    /// The body passed `--jenkins-max-response-mb`.
    #[error(
        "Jenkins answered {url} with more than {limit_mb} MiB, refused to keep memory bounded; raise --jenkins-max-response-mb if this controller really is that large (lower --folder-depth shrinks the job-tree scan)"
    )]
    TooLarge { url: String, limit_mb: usize },
    /// No answer within the request timeout.
    #[error(
        "Jenkins did not answer {url} within {timeout_ms} ms (--jenkins-timeout): raise it for a slow controller"
    )]
    Timeout { url: String, timeout_ms: u128 },
    /// Could not connect or the connection broke.
    #[error("cannot reach Jenkins at {url}: {reason}; check --jenkins-url and that Jenkins is up")]
    Connect { url: String, reason: String },
}

impl Error {
    /// A 404 is a normal outcome for follow-up reads (deleted builds, expired queue items).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Every value [`Error::kind`] can take (so that each series exists at 0 from the start).
    pub const KINDS: &'static [&'static str] = &[
        "unauthorized",
        "forbidden",
        "not_found",
        "redirect",
        "http_status",
        "malformed_body",
        "timeout",
        "too_large",
        "connect",
    ];

    /// A short, bounded label for metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unauthorized { .. } => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::Redirect { .. } => "redirect",
            Error::Status { .. } => "http_status",
            Error::Malformed { .. } => "malformed_body",
            Error::Timeout { .. } => "timeout",
            Error::TooLarge { .. } => "too_large",
            Error::Connect { .. } => "connect",
        }
    }
}
