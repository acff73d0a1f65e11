//! Waiting for Cloud Foundry: polling with backoff until done, failed, or a deadline.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

use super::CfError;

/// How often to poll builds, deployments, instances and jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollOptions {
    /// The first interval; it grows by half per poll up to `max`.
    pub initial: Duration,
    pub max: Duration,
    /// How long an async job (a delete) may take.
    pub job_deadline: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(3),
            job_deadline: Duration::from_secs(300),
        }
    }
}

impl PollOptions {
    /// Fast polling, for the embedded demo and tests on a simulator.
    pub fn fast() -> PollOptions {
        PollOptions {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            job_deadline: Duration::from_secs(30),
        }
    }
}

/// The interval after `interval`: half as long again, at most `max`. Pure.
pub fn next_interval(interval: Duration, max: Duration) -> Duration {
    (interval + interval / 2).min(max)
}

/// Calls `check` until it gives `Some` (done) or an error, sleeping with backoff in between;
/// fails with [`CfError::Timeout`] naming `what` once `until` has passed.
pub async fn until_done<T, F, Fut>(
    options: &PollOptions,
    what: &str,
    until: Instant,
    mut check: F,
) -> Result<T, CfError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, CfError>>,
{
    let started = Instant::now();
    let mut interval = options.initial;
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        let now = Instant::now();
        if now >= until {
            return Err(CfError::Timeout {
                what: what.to_owned(),
                after_s: (now - started).as_secs(),
            });
        }
        tokio::time::sleep(interval.min(until - now)).await;
        interval = next_interval(interval, options.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_grow_by_half_up_to_the_max() {
        let max = Duration::from_millis(1000);
        let mut interval = Duration::from_millis(100);
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(interval.as_millis());
            interval = next_interval(interval, max);
        }
        assert_eq!(seen, [100, 150, 225, 337, 506, 759, 1000, 1000]);
    }

    #[tokio::test]
    async fn a_check_that_never_finishes_times_out_naming_what() {
        let options = PollOptions {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(10),
            job_deadline: Duration::from_secs(1),
        };
        let mut calls = 0;
        let until = Instant::now() + Duration::from_millis(60);
        let result: Result<(), CfError> = until_done(&options, "staging", until, || {
            calls += 1;
            async { Ok(None) }
        })
        .await;
        let error = result.expect_err("never done");
        assert!(matches!(error, CfError::Timeout { ref what, .. } if what == "staging"));
        assert!(calls >= 3, "polled {calls} times");
    }

    #[tokio::test]
    async fn a_check_that_fails_stops_the_polling() {
        let options = PollOptions::fast();
        let mut calls = 0;
        let until = Instant::now() + Duration::from_secs(5);
        let result: Result<(), CfError> = until_done(&options, "job", until, || {
            calls += 1;
            let n = calls;
            async move {
                if n == 2 {
                    Err(CfError::Failed {
                        what: "job".into(),
                        reason: "boom".into(),
                    })
                } else {
                    Ok(None)
                }
            }
        })
        .await;
        assert!(matches!(result, Err(CfError::Failed { .. })));
        assert_eq!(calls, 2);
    }
}
