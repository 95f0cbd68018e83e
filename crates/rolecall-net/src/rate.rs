//! Per-source request rates: a token bucket per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle (full) ones are dropped.
const PRUNE_ABOVE: usize = 65_536;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Allows each source `per_second` requests per second on average, with bursts of up to
/// `burst`. A rate of 0 allows everything.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_second == 0.0
    }

    /// Takes one request's token for `source` at `now`; false when it has none left.
    pub fn allow(&self, source: IpAddr, now: Instant) -> bool {
        if self.is_unlimited() {
            return true;
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() >= PRUNE_ABOVE {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(source).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(b.at).as_secs_f64() * self.per_second;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill_per_source() {
        let r = RateLimiter::new(10, 5);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!((0..8).filter(|_| r.allow(a, t0)).count(), 5);
        // Another source is unaffected.
        assert!(r.allow(b, t0));
        // 10/s refills one token per 100 ms.
        assert!(r.allow(a, t0 + Duration::from_millis(100)));
        assert!(!r.allow(a, t0 + Duration::from_millis(100)));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let r = RateLimiter::new(0, 0);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| r.allow(a, t0)));
    }
}
