//! Password sign-in attempts, throttled before the password's hash (argon2, slow on purpose) is
//! computed: guessing costs the guesser time, not the server's CPU. A refused attempt is answered
//! like AWS's console: try again later.
//!
//! Three buckets, so that no single address can lock a user out: per source (IPv6 by /64, since
//! one host holds a whole /64), per user name from one source (the strict guessing limit), and per
//! user name across all sources at ten times that (bounds distributed guessing; one source alone
//! cannot reach it, being held to its own limit first).

use rolecall_net::RateLimiter;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

/// Password attempts allowed per minute (and at once); 0 allows any number.
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    pub per_source_per_minute: u32,
    /// Per user name from one source; all sources together get [`ALL_SOURCES_FACTOR`] times it.
    pub per_user_per_minute: u32,
}

impl SignInLimits {
    pub const DEFAULT_PER_SOURCE: u32 = 20;
    pub const DEFAULT_PER_USER: u32 = 5;
}

/// A user name's allowance across all sources, as a multiple of its per-source one.
pub const ALL_SOURCES_FACTOR: u32 = 10;

/// IAM user names are at most 64 characters; a longer one still gets a bucket of its own, but
/// no more of it is kept (the key's memory does not grow with the request).
const USER_KEY_CHARS: usize = 64;

pub(crate) struct SignInThrottle {
    by_source: RateLimiter<IpAddr>,
    by_user_from_source: RateLimiter<(String, IpAddr)>,
    by_user: RateLimiter<String>,
}

/// The address a limit applies to: IPv6 addresses by their /64 (one host's usual allocation).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX)))
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl SignInThrottle {
    pub fn new(limits: SignInLimits) -> SignInThrottle {
        let (source, user) = (limits.per_source_per_minute, limits.per_user_per_minute);
        let all = user.saturating_mul(ALL_SOURCES_FACTOR);
        SignInThrottle {
            by_source: RateLimiter::per_minute(source, source),
            by_user_from_source: RateLimiter::per_minute(user, user),
            by_user: RateLimiter::per_minute(all, all),
        }
    }

    /// Takes one attempt from `source` at `user_name`; false when any bucket has none left. A
    /// bucket that refuses takes nothing from the ones after it (source, then user from that
    /// source, then user from anywhere).
    pub fn allow(&self, source: Option<IpAddr>, user_name: &str, now: Instant) -> bool {
        let source = source.map(source_key);
        if !source.is_none_or(|ip| self.by_source.allow(ip, now)) {
            return false;
        }
        // IAM user names are unique ignoring case: one bucket for all spellings.
        let user: String = user_name
            .chars()
            .take(USER_KEY_CHARS)
            .flat_map(char::to_lowercase)
            .collect();
        let from_source =
            source.is_none_or(|ip| self.by_user_from_source.allow((user.clone(), ip), now));
        from_source && self.by_user.allow(user, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("an address"))
    }

    fn throttle(per_source_per_minute: u32, per_user_per_minute: u32) -> SignInThrottle {
        SignInThrottle::new(SignInLimits {
            per_source_per_minute,
            per_user_per_minute,
        })
    }

    /// Runs `attempts` (source, user name, whether it is allowed) in order at `now`.
    fn expect(t: &SignInThrottle, now: Instant, attempts: &[(&str, &str, bool)]) {
        for (n, (source, user, allowed)) in attempts.iter().enumerate() {
            assert_eq!(t.allow(ip(source), user, now), *allowed, "attempt {n}");
        }
    }

    #[test]
    fn one_source_cannot_lock_a_user_out() {
        let t = throttle(4, 2);
        let now = Instant::now();
        expect(
            &t,
            now,
            &[
                ("10.0.0.1", "Alice", true),
                ("10.0.0.1", "alice", true),
                // Alice's attempts from 10.0.0.1 are spent, in any case...
                ("10.0.0.1", "ALICE", false),
                // ... but not from elsewhere.
                ("10.0.0.2", "alice", true),
                // 10.0.0.1 has spent 3 of 4; one more user, then it is spent whatever the user.
                ("10.0.0.1", "bob", true),
                ("10.0.0.1", "dave", false),
                // A source over its limit took nothing from dave's.
                ("10.0.0.2", "dave", true),
                ("10.0.0.2", "dave", true),
            ],
        );
        // 2 a minute: one attempt back for alice from 10.0.0.1 after 30 s.
        expect(
            &t,
            now + Duration::from_secs(30),
            &[("10.0.0.1", "alice", true)],
        );
    }

    #[test]
    fn all_sources_together_are_capped_per_user() {
        let t = throttle(100, 1);
        let now = Instant::now();
        let all = ALL_SOURCES_FACTOR as usize;
        let sources: Vec<String> = (0..=all).map(|i| format!("10.1.0.{i}")).collect();
        assert!(sources[..all].iter().all(|s| t.allow(ip(s), "carol", now)));
        assert!(!t.allow(ip(&sources[all]), "carol", now));
        assert!(t.allow(ip(&sources[all]), "erin", now));
    }

    #[test]
    fn ipv6_sources_are_limited_by_their_64() {
        // No per-user limit: only the sources' buckets count, whoever the user.
        let t = throttle(2, 0);
        let sources = [
            ("2001:db8:0:1::1", true),
            ("2001:db8:0:1::2", true),
            ("2001:db8:0:1:ffff::3", false),
            ("2001:db8:0:2::1", true),
            // IPv4-mapped addresses are their IPv4 address.
            ("::ffff:10.0.0.9", true),
            ("10.0.0.9", true),
            ("::ffff:10.0.0.9", false),
        ];
        let attempts = sources.map(|(source, allowed)| (source, "alice", allowed));
        expect(&t, Instant::now(), &attempts);
    }

    #[test]
    fn zero_is_unlimited() {
        let t = throttle(0, 0);
        let now = Instant::now();
        assert!((0..1000).all(|_| t.allow(None, "alice", now)));
        assert!((0..1000).all(|_| t.allow(ip("10.0.0.1"), "alice", now)));
    }
}
