//! The one retry policy of every sink: jittered exponential backoff within the sink's bounds,
//! without limit (an event waits in the outbox until its sink takes it or refuses it for good).

use std::time::Duration;

use backon::ExponentialBuilder;

/// The bounds of a sink's backoff (`retry-initial`, `retry-max` per sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

/// The one retry policy: jittered exponential backoff within the sink's bounds (250 ms to
/// 30 s by default), jitter included, forever (an event waits in the outbox until its sink
/// takes it or refuses it for good). backon's jitter adds up to the current delay again, so
/// the exponential part is capped at half the maximum.
pub fn retry_policy(backoff: Backoff) -> ExponentialBuilder {
    let half = backoff.max / 2;
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(backoff.initial.min(half))
        .with_max_delay(half)
        .without_max_times()
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn backoff_stays_within_its_documented_bounds_jitter_included() {
        let bounds = [
            Backoff::default(),
            Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(5),
            },
            Backoff {
                initial: Duration::from_secs(20),
                max: Duration::from_secs(30),
            },
        ];
        for backoff in bounds {
            let low = backoff.initial.min(backoff.max / 2);
            let mut highest = Duration::ZERO;
            for _ in 0..200 {
                for delay in retry_policy(backoff).build().take(40) {
                    assert!(
                        delay >= low && delay <= backoff.max,
                        "{delay:?} outside {low:?}..={:?}",
                        backoff.max
                    );
                    highest = highest.max(delay);
                }
            }
            assert!(
                highest > backoff.max * 3 / 4,
                "the cap is reached: {highest:?}"
            );
        }
    }
}
