//! What an HTTP answer means for delivery: the CloudEvents webhook spec merged with Knative's
//! data-plane table. Pure, so every row is a test.

use std::time::{Duration, SystemTime};

/// The verdict on one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the sink has it.
    Delivered,
    /// Temporary: try again, after the sink's `Retry-After` if it gave one.
    Retry {
        /// Requested wait.
        after: Option<Duration>,
    },
    /// 410 Gone: stop sending to this sink.
    Disable,
    /// The sink's configuration is wrong (a redirect, credentials, a URL that takes nothing):
    /// no event is at fault, so every event waits, retried, until the configuration is fixed.
    Misconfigured {
        /// What to fix.
        fix: &'static str,
    },
    /// 400, 413, 422: this one event is refused; retrying it will not help.
    Reject,
}

/// Classifies a status; `retry_after` is the header's value, `now` reads HTTP dates.
pub fn classify(status: u16, retry_after: Option<&str>, now: SystemTime) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 409 | 425 | 429 | 500..=599 => Verdict::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        410 => Verdict::Disable,
        400 | 413 | 422 => Verdict::Reject,
        300..=399 => Verdict::Misconfigured {
            fix: "redirects are not followed (a POST would lose its body): set the sink's URL to where it redirects, e.g. https:// instead of http://",
        },
        401 => Verdict::Misconfigured {
            fix: "the receiver refuses the credentials: check this sink's bearer-token/bearer-token-file or basic-user/basic-password",
        },
        403 => Verdict::Misconfigured {
            fix: "the receiver forbids these credentials: check this sink's credentials and what the receiver grants them",
        },
        404 => Verdict::Misconfigured {
            fix: "nothing takes events at this URL: check the sink's URL (its path, the broker or event source name)",
        },
        405 => Verdict::Misconfigured {
            fix: "this URL does not take POST: check the sink's URL",
        },
        415 => Verdict::Misconfigured {
            fix: "the receiver does not take this content type: check the sink's mode (binary, structured, batch) and format",
        },
        400..=499 => Verdict::Misconfigured {
            fix: "check the sink's URL and credentials",
        },
        // 1xx never reaches us; anything unexpected is treated as temporary, as Knative says.
        _ => Verdict::Retry { after: None },
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`, capped at 10 minutes.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(Duration::from_secs(600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_class_gets_the_documented_verdict() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let table: &[(u16, Verdict)] = &[
            (200, Verdict::Delivered),
            (202, Verdict::Delivered),
            (204, Verdict::Delivered),
            (400, Verdict::Reject),
            (408, Verdict::Retry { after: None }),
            (409, Verdict::Retry { after: None }),
            (410, Verdict::Disable),
            (413, Verdict::Reject),
            (422, Verdict::Reject),
            (425, Verdict::Retry { after: None }),
            (429, Verdict::Retry { after: None }),
            (500, Verdict::Retry { after: None }),
            (503, Verdict::Retry { after: None }),
        ];
        for (status, verdict) in table {
            assert_eq!(classify(*status, None, now), *verdict, "status {status}");
        }
        // The configuration is wrong, not the event: every event waits.
        for status in [301, 302, 307, 308, 401, 403, 404, 405, 406, 415] {
            assert!(
                matches!(classify(status, None, now), Verdict::Misconfigured { .. }),
                "status {status}"
            );
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_is_honoured_and_capped() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            classify(429, Some("3"), now),
            Verdict::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            classify(503, Some("Wed, 21 Oct 2015 07:28:10 GMT"), now),
            Verdict::Retry {
                after: Some(Duration::from_secs(10))
            }
        );
        assert_eq!(
            classify(429, Some("86400"), now),
            Verdict::Retry {
                after: Some(Duration::from_secs(600))
            }
        );
        assert_eq!(
            classify(429, Some("soon"), now),
            Verdict::Retry { after: None }
        );
    }
}
