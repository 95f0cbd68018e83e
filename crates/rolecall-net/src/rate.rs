//! Per-source request rates: a token bucket per key (an address, by default).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped.
const PRUNE_ABOVE: usize = 65_536;
/// Pruning scans every bucket: at most this often, so many busy sources cannot make every
/// request pay for a scan.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Allows each source `per_second` requests per second on average, with bursts of up to
/// `burst`. A rate of 0 allows everything. Sources are addresses unless `K` says otherwise (the
/// console's sign-in also throttles per user name).
pub struct RateLimiter<K = IpAddr> {
    per_second: f64,
    burst: f64,
    state: Mutex<State<K>>,
}

struct State<K> {
    buckets: HashMap<K, Bucket>,
    last_prune: Option<Instant>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    pub fn new(per_second: u32, burst: u32) -> RateLimiter<K> {
        RateLimiter::with_rate(f64::from(per_second), burst)
    }

    /// `per_minute` on average, for rates below one a second.
    pub fn per_minute(per_minute: u32, burst: u32) -> RateLimiter<K> {
        RateLimiter::with_rate(f64::from(per_minute) / 60.0, burst)
    }

    fn with_rate(per_second: f64, burst: u32) -> RateLimiter<K> {
        RateLimiter {
            per_second,
            burst: f64::from(burst.max(1)),
            state: Mutex::new(State {
                buckets: HashMap::new(),
                last_prune: None,
            }),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_second == 0.0
    }

    /// Takes one request's token for `source` at `now`; false when it has none left.
    pub fn allow(&self, source: K, now: Instant) -> bool {
        if self.is_unlimited() {
            return true;
        }
        let Ok(mut state) = self.state.lock() else {
            return true;
        };
        let due = state
            .last_prune
            .is_none_or(|t| now.duration_since(t) >= PRUNE_EVERY);
        if state.buckets.len() >= PRUNE_ABOVE && due && !state.buckets.contains_key(&source) {
            let (rate, burst) = (self.per_second, self.burst);
            state
                .buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            state.last_prune = Some(now);
        }
        let b = state.buckets.entry(source).or_insert(Bucket {
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
    fn idle_sources_are_forgotten_at_most_once_a_second() {
        let r = RateLimiter::new(10, 5);
        let t0 = Instant::now();
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000_u32.wrapping_add(i)));
        for i in 0..PRUNE_ABOVE as u32 {
            assert!(r.allow(ip(i), t0));
        }
        let len = || r.state.lock().map(|s| s.buckets.len()).unwrap_or(0);
        assert_eq!(len(), PRUNE_ABOVE);
        // A new source while every bucket is still refilling: nothing is idle, nothing goes.
        assert!(r.allow(ip(0x00ff_ffff), t0));
        assert_eq!(len(), PRUNE_ABOVE + 1);
        // Within the second, another newcomer does not scan again.
        assert!(r.allow(ip(0x00ff_fffe), t0 + Duration::from_millis(500)));
        assert_eq!(len(), PRUNE_ABOVE + 2);
        // Later, when all are full again, a newcomer prunes them.
        assert!(r.allow(ip(0x00ff_fffd), t0 + Duration::from_secs(2)));
        assert_eq!(len(), 1);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let r = RateLimiter::new(0, 0);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| r.allow(a, t0)));
    }
}
