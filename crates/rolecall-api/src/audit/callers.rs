//! The callers of recent requests, each kept once with its events' shared context.
//!
//! A client sends its requests with one identity, key, address and user agent: the first request
//! makes its [`Caller`] (and serializes its context); the following ones share it (a thread serving
//! one client steadily makes its own copy, so that counting references is not shared between
//! cores). A draft then holds one `Arc` instead of a dozen copied strings, which the audit writer,
//! on another thread, would have to free (a free from another thread leaves the memory cold in the
//! allocating thread's cache: it cost every later allocation of the request path).

use super::record::{Caller, RequestInfo};
use crate::principal::Principal;
use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Most callers kept: the table has this many slots, a caller in the slot its hash names, and a
/// new caller takes its slot's place (clients choose their user agents, so the number of
/// distinct callers is theirs; a fleet's instances are each a caller of its own).
const MOST: usize = 4_096;
/// Callers with a longer user agent are made for their request and not kept (the table's
/// memory stays a few MB whatever clients send).
const LONGEST_KEPT_AGENT: usize = 512;
/// Requests in a row by one caller on a thread before the thread makes its own copy of it (a
/// thread serving many clients in turn copies none).
const OWN_COPY_AFTER: u32 = 8;

pub struct Callers {
    /// In the slot a keyed hash of what tells callers apart names; a hit is confirmed field
    /// by field.
    known: Mutex<Vec<Option<Arc<Caller>>>>,
    hasher: std::hash::RandomState,
    /// Tells this table's entries in [`LAST`] from another's (tests run several servers).
    id: u64,
}

impl Default for Callers {
    fn default() -> Callers {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Callers {
            known: Mutex::new(vec![None; MOST]),
            hasher: std::hash::RandomState::default(),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

thread_local! {
    /// The last caller each thread found (and its table's id): a client's requests on a
    /// keep-alive connection mostly run on one thread, and comparing with it needs neither the
    /// hash nor the table's lock. With the number of requests in a row it served: past
    /// [`OWN_COPY_AFTER`] it is the thread's own copy, so that the drafts of its requests count
    /// their references on this thread alone, not on a count every request thread writes (that
    /// line of memory moved from core to core with each request).
    static LAST: RefCell<Option<(u64, Arc<Caller>, u32)>> = const { RefCell::new(None) };
}

impl Callers {
    /// The caller of a request by `principal` (None: authentication failed) with
    /// `access_key_id`, as kept, or made now.
    pub fn of(
        &self,
        info: &RequestInfo<'_>,
        principal: Option<&Principal>,
        access_key_id: &str,
    ) -> Arc<Caller> {
        let last = LAST.with_borrow_mut(|last| match last {
            Some((id, c, served)) if *id == self.id && c.is(info, principal, access_key_id) => {
                *served = served.saturating_add(1);
                if *served == OWN_COPY_AFTER {
                    *c = Arc::new(Caller::clone(c));
                }
                Some(c.clone())
            }
            _ => None,
        });
        if let Some(c) = last {
            return c;
        }
        let caller = self.find_or_make(info, principal, access_key_id);
        if info.user_agent.len() <= LONGEST_KEPT_AGENT {
            LAST.set(Some((self.id, caller.clone(), 0)));
        }
        caller
    }

    /// [`of`](Self::of) from the table.
    fn find_or_make(
        &self,
        info: &RequestInfo<'_>,
        principal: Option<&Principal>,
        access_key_id: &str,
    ) -> Arc<Caller> {
        let hash = self.hasher.hash_one((
            principal.map(|p| (&p.arn, &p.user_id)),
            access_key_id,
            info.source_ip,
            info.user_agent,
            info.region,
            info.account_id,
        ));
        let slot = usize::try_from(hash % MOST as u64).unwrap_or_default();
        let lock = || {
            self.known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(Some(c)) = lock().get(slot)
            && c.is(info, principal, access_key_id)
        {
            return c.clone();
        }
        // Made outside the lock (it serializes the identity).
        let caller = Arc::new(Caller::new(info, principal, access_key_id));
        if info.user_agent.len() <= LONGEST_KEPT_AGENT
            && let Some(kept) = lock().get_mut(slot)
        {
            *kept = Some(caller.clone());
        }
        caller
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn info<'a>(ip: &'a str, agent: &'a str) -> RequestInfo<'a> {
        RequestInfo {
            request_id: "r",
            time: chrono::Utc::now(),
            source_ip: ip,
            user_agent: agent,
            region: "us-east-1",
            service: "iam",
            action: Cow::Borrowed("GetRole"),
            read_only: true,
            account_id: "123456789012",
        }
    }

    #[test]
    fn one_caller_per_identity_key_address_and_agent() {
        let callers = Callers::default();
        let root = Principal::root("123456789012");
        let first = callers.of(&info("10.0.0.1", "cli"), Some(&root), "AKIA1");
        // The table's caller while few requests came in a row, then this thread's copy of it.
        let following: Vec<Arc<Caller>> = (0..OWN_COPY_AFTER + 1)
            .map(|_| callers.of(&info("10.0.0.1", "cli"), Some(&root), "AKIA1"))
            .collect();
        let n = following.len();
        assert!(following[..n - 2].iter().all(|c| Arc::ptr_eq(c, &first)));
        let (a, again) = (&following[n - 2], &following[n - 1]);
        assert!(Arc::ptr_eq(a, again) && !Arc::ptr_eq(a, &first));
        assert_eq!(first.context(), a.context());
        // Another thread finds the table's caller, not this thread's copy.
        let other_thread = std::thread::scope(|s| {
            s.spawn(|| callers.of(&info("10.0.0.1", "cli"), Some(&root), "AKIA1"))
                .join()
                .ok()
        });
        assert!(other_thread.is_some_and(|c| Arc::ptr_eq(&c, &first)));
        // Clients served in turn share the table's callers: no thread copies one.
        let sdk = callers.of(&info("10.0.0.1", "sdk"), Some(&root), "AKIA1");
        for _ in 0..2 * OWN_COPY_AFTER {
            let (c, s) = (
                callers.of(&info("10.0.0.1", "cli"), Some(&root), "AKIA1"),
                callers.of(&info("10.0.0.1", "sdk"), Some(&root), "AKIA1"),
            );
            assert!(Arc::ptr_eq(&c, &first) && Arc::ptr_eq(&s, &sdk));
        }
        for (ip, agent, key, principal) in [
            ("10.0.0.2", "cli", "AKIA1", Some(&root)),
            ("10.0.0.1", "sdk", "AKIA1", Some(&root)),
            ("10.0.0.1", "cli", "AKIA2", Some(&root)),
            ("10.0.0.1", "cli", "AKIA1", None),
        ] {
            let other = callers.of(&info(ip, agent), principal, key);
            assert!(!Arc::ptr_eq(a, &other), "{ip} {agent} {key}");
            assert!(other.context().contains(ip) && other.context().contains(agent));
        }
    }

    #[test]
    fn the_table_is_bounded_and_a_slot_holds_only_its_caller() {
        let callers = Callers::default();
        // Twice as many callers as slots, twice over: callers share slots, replace each other,
        // and each request still gets its own caller (never the slot's other one).
        let agents: Vec<String> = (0..2 * MOST).map(|i| format!("agent {i}")).collect();
        for _ in 0..2 {
            for agent in &agents {
                let c = callers.of(&info("10.0.0.1", agent), None, "");
                assert!(c.context().contains(&format!("\"{agent}\"")), "{agent}");
            }
        }
        let kept = callers
            .known
            .lock()
            .map(|k| k.iter().filter(|c| c.is_some()).count())
            .unwrap_or(usize::MAX);
        assert!(kept > 0 && kept <= MOST, "{kept}");
        // A long user agent's caller is made, not kept.
        let long = "x".repeat(LONGEST_KEPT_AGENT + 1);
        let first = callers.of(&info("10.0.0.9", &long), None, "");
        assert!(first.context().contains(&long));
        assert!(!Arc::ptr_eq(
            &first,
            &callers.of(&info("10.0.0.9", &long), None, "")
        ));
    }
}
