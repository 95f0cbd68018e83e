//! Password sign-in attempts, throttled per source address and per user name before the
//! password's hash (argon2, slow on purpose) is computed: guessing costs the guesser time, not
//! the server's CPU. A refused attempt is answered like AWS's console: try again later.

use rolecall_net::RateLimiter;
use std::net::IpAddr;
use std::time::Instant;

/// Password attempts allowed per minute (and at once); 0 allows any number.
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    pub per_source_per_minute: u32,
    pub per_user_per_minute: u32,
}

impl SignInLimits {
    pub const DEFAULT_PER_SOURCE: u32 = 20;
    pub const DEFAULT_PER_USER: u32 = 5;
}

/// IAM user names are at most 64 characters; a longer one still gets a bucket of its own, but
/// no more of it is kept (the key's memory does not grow with the request).
const USER_KEY_CHARS: usize = 64;

pub(crate) struct SignInThrottle {
    by_source: RateLimiter<IpAddr>,
    by_user: RateLimiter<String>,
}

impl SignInThrottle {
    pub fn new(limits: SignInLimits) -> SignInThrottle {
        let (source, user) = (limits.per_source_per_minute, limits.per_user_per_minute);
        SignInThrottle {
            by_source: RateLimiter::per_minute(source, source),
            by_user: RateLimiter::per_minute(user, user),
        }
    }

    /// Takes one attempt from `source` at `user_name`; false when either has none left. A
    /// source over its limit takes nothing from the user's (it cannot lock the user out).
    pub fn allow(&self, source: Option<IpAddr>, user_name: &str, now: Instant) -> bool {
        let from_source = source.is_none_or(|ip| self.by_source.allow(ip, now));
        // IAM user names are unique ignoring case: one bucket for all spellings.
        let user: String = user_name
            .chars()
            .take(USER_KEY_CHARS)
            .flat_map(char::to_lowercase)
            .collect();
        from_source && self.by_user.allow(user, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn per_user_across_sources_and_per_source_across_users() {
        let t = SignInThrottle::new(SignInLimits {
            per_source_per_minute: 4,
            per_user_per_minute: 2,
        });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = Instant::now();
        assert!(t.allow(Some(a), "Alice", now));
        assert!(t.allow(Some(b), "alice", now));
        // Alice's attempts are spent, from any source and in any case.
        assert!(!t.allow(Some(b), "ALICE", now));
        // a has spent 1 of 4; three more users, then a is spent whatever the user.
        for user in ["bob", "carol", "erin"] {
            assert!(t.allow(Some(a), user, now));
        }
        assert!(!t.allow(Some(a), "dave", now));
        // A source over its limit took nothing from dave's.
        assert!(t.allow(Some(b), "dave", now));
        // 2 a minute: one attempt back for alice after 30 s.
        assert!(t.allow(Some(b), "alice", now + Duration::from_secs(30)));
    }

    #[test]
    fn zero_is_unlimited() {
        let t = SignInThrottle::new(SignInLimits {
            per_source_per_minute: 0,
            per_user_per_minute: 0,
        });
        let now = Instant::now();
        assert!((0..1000).all(|_| t.allow(None, "alice", now)));
    }
}
