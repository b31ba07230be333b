//! Exponential backoff with full jitter, bounded by attempts and a deadline.
//!
//! Shared by every retry loop of ours (Kinesis partial failures, DynamoDB
//! unprocessed items), so they all back off the same way and none can
//! outlive the invocation.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct Backoff {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The pause before attempt `attempt` (1 = the first retry): uniformly
    /// random up to `base * 2^(attempt-1)`, capped, so retries from many
    /// writers spread out instead of arriving together.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        ceiling.mul_f64(fastrand::f64())
    }

    /// Sleeps before retry `attempt`, or says no when attempts are used up
    /// or the pause would run past `deadline`.
    pub async fn pause(&self, attempt: u32, deadline: Instant) -> bool {
        if attempt >= self.max_attempts {
            return false;
        }
        let delay = self.delay(attempt);
        if Instant::now() + delay >= deadline {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let backoff = Backoff {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(400),
        };
        for _ in 0..100 {
            assert!(backoff.delay(1) <= Duration::from_millis(100));
            assert!(backoff.delay(2) <= Duration::from_millis(200));
            assert!(backoff.delay(9) <= Duration::from_millis(400));
        }
    }

    #[tokio::test]
    async fn no_pause_past_the_last_attempt_or_the_deadline() {
        let backoff = Backoff::default();
        let far = Instant::now() + Duration::from_secs(60);
        assert!(!backoff.pause(backoff.max_attempts, far).await);
        assert!(!backoff.pause(1, Instant::now()).await);
        assert!(backoff.pause(1, far).await);
    }
}
