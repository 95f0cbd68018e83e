//! Admission of connections under a total and a per-source cap.

use crate::Limits;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a listener may log that it is refusing connections.
const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Open {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Counts a listener's open connections and admits new ones within its [`Limits`].
pub struct Gate {
    name: &'static str,
    limits: Limits,
    open: Mutex<Open>,
    refused: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

/// One admitted connection; dropping it frees its place.
pub struct Admission {
    gate: Arc<Gate>,
    source: IpAddr,
}

impl Gate {
    pub fn new(name: &'static str, limits: Limits) -> Gate {
        Gate {
            name,
            limits,
            open: Mutex::new(Open::default()),
            refused: AtomicU64::new(0),
            last_log: Mutex::new(None),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Connections open now (all sources).
    pub fn open_connections(&self) -> usize {
        self.open.lock().map(|o| o.total).unwrap_or(0)
    }

    /// Connections refused so far because a cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Admits a connection from `source` unless the listener or that source is at its cap.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Option<Admission> {
        let admitted = {
            let Ok(mut open) = self.open.lock() else {
                return None;
            };
            let from_source = open.per_source.get(&source).copied().unwrap_or(0);
            if open.total >= self.limits.max_connections
                || from_source >= self.limits.max_connections_per_source
            {
                false
            } else {
                open.total += 1;
                open.per_source.insert(source, from_source + 1);
                true
            }
        };
        if admitted {
            Some(Admission {
                gate: self.clone(),
                source,
            })
        } else {
            let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            self.log_rarely(|| {
                tracing::warn!(
                    listener = self.name,
                    %source,
                    refused_total = n,
                    max_connections = self.limits.max_connections,
                    max_per_source = self.limits.max_connections_per_source,
                    "connection refused: too many open connections"
                )
            });
            None
        }
    }

    pub(crate) fn note_accept_error(&self, e: &std::io::Error) {
        self.log_rarely(|| tracing::warn!(listener = self.name, error = %e, "accept failed"));
    }

    fn log_rarely(&self, log: impl FnOnce()) {
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= LOG_EVERY) {
            *last = Some(now);
            log();
        }
    }

    fn release(&self, source: IpAddr) {
        if let Ok(mut open) = self.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(n) = open.per_source.get_mut(&source) {
                *n -= 1;
                if *n == 0 {
                    open.per_source.remove(&source);
                }
            }
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gate.release(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per_source: usize) -> Arc<Gate> {
        Arc::new(Gate::new(
            "test",
            Limits {
                max_connections: total,
                max_connections_per_source: per_source,
                header_read_timeout: Duration::from_secs(1),
            },
        ))
    }

    #[test]
    fn per_source_cap_leaves_room_for_others() {
        let g = gate(10, 3);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| g.admit(a).expect("under cap")).collect();
        assert!(g.admit(a).is_none());
        assert_eq!(g.refused(), 1);
        assert!(g.admit(b).is_some());
        drop(held);
        assert_eq!(g.open_connections(), 0);
        assert!(g.admit(a).is_some());
    }

    #[test]
    fn total_cap() {
        let g = gate(2, 2);
        let ips: Vec<IpAddr> = (1..=3)
            .map(|i| format!("10.0.0.{i}").parse().unwrap())
            .collect();
        let _x = g.admit(ips[0]).expect("1");
        let y = g.admit(ips[1]).expect("2");
        assert!(g.admit(ips[2]).is_none());
        drop(y);
        assert!(g.admit(ips[2]).is_some());
    }
}
