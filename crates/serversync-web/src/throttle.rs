//! Sign-in throttling per (user name, client address).
//!
//! Wrong passwords from one address slow down further attempts for that user name *from that
//! address* — by a bounded delay before the password is checked, never by refusing the right
//! password for long — so that five wrong guesses from one place cannot lock the real
//! administrator out, neither from another address nor (after a short wait) from the same
//! one. Attempts are spaced: each waits for a slot at least one delay after the previous one,
//! so parallel guesses from one address queue up instead of multiplying the rate; only when
//! the queue is longer than [`ThrottleConfig::max_queue`] is an attempt refused outright.
//!
//! IPv6 clients are keyed by their /64 (one host usually owns a whole /64). Behind a reverse
//! proxy every client has the proxy's address: throttling is then per user name.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The throttle's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures in a row without any delay.
    pub free_failures: u32,
    /// The delay after `free_failures` failures; it doubles with each further failure …
    pub first_delay: Duration,
    /// … up to this bound: the longest the right password ever waits.
    pub max_delay: Duration,
    /// Attempts queued further ahead than this are refused (HTTP 429) instead of held.
    pub max_queue: Duration,
    /// Keys kept at most (the table is bounded whatever the requests say).
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_failures: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            max_queue: Duration::from_secs(30),
            max_entries: 10_000,
        }
    }
}

/// What an attempt may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Check the password now.
    Now,
    /// Wait this long, then check the password.
    After(Duration),
    /// Too many attempts are waiting: refuse; the queue frees up in this long.
    Refused(Duration),
}

struct Entry {
    failures: u32,
    /// The earliest time the next attempt may be checked.
    next_at: Instant,
    last: Instant,
}

/// Failed sign-ins per (user name, client address).
pub struct Throttle {
    config: ThrottleConfig,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(ThrottleConfig::default())
    }
}

/// The key of a user name and address: trimmed, lower-cased, bounded; IPv6 by /64.
fn key(username: &str, addr: Option<IpAddr>) -> (String, String) {
    let name: String = username.trim().to_lowercase().chars().take(128).collect();
    let addr = match addr {
        Some(IpAddr::V4(a)) => a.to_string(),
        Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".into(),
    };
    (name, addr)
}

/// The key of a user name and address as one text, as the database counts it across
/// instances (`admin|192.0.2.1`, `admin|2001:db8:1:2::/64`).
pub fn shared_key(username: &str, addr: Option<IpAddr>) -> String {
    let (name, addr) = key(username, addr);
    format!("{name}|{addr}")
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Throttle {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> ThrottleConfig {
        self.config
    }

    /// The delay after `failures` failures in a row (zero while free).
    pub fn delay(&self, failures: u32) -> Duration {
        let c = &self.config;
        if failures < c.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - c.free_failures).min(16);
        c.first_delay
            .saturating_mul(1u32 << doublings)
            .min(c.max_delay)
    }

    /// Admits one attempt for `username` from `addr` at `now`, reserving its slot.
    /// `shared` is the key's failure count on every instance (from the database,
    /// [`shared_key`]): the delay follows the larger of it and this instance's own count,
    /// so failures spread over several instances slow each of them down.
    pub fn admit(
        &self,
        username: &str,
        addr: Option<IpAddr>,
        now: Instant,
        shared: u32,
    ) -> Admission {
        let Ok(mut map) = self.entries.lock() else {
            return Admission::Now;
        };
        let k = key(username, addr);
        if !map.contains_key(&k) {
            if self.delay(shared).is_zero() || map.len() >= self.config.max_entries {
                return Admission::Now;
            }
            map.insert(
                k.clone(),
                Entry {
                    failures: shared,
                    next_at: now,
                    last: now,
                },
            );
        }
        let Some(e) = map.get_mut(&k) else {
            return Admission::Now;
        };
        e.failures = e.failures.max(shared);
        let delay = self.delay(e.failures);
        if delay.is_zero() {
            return Admission::Now;
        }
        let slot = e.next_at.max(now);
        let wait = slot - now;
        if wait > self.config.max_queue {
            return Admission::Refused(wait);
        }
        e.next_at = slot + delay;
        if wait.is_zero() {
            Admission::Now
        } else {
            Admission::After(wait)
        }
    }

    /// Records a wrong name or password for `username` from `addr` at `now`.
    pub fn failed(&self, username: &str, addr: Option<IpAddr>, now: Instant) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        let k = key(username, addr);
        if !map.contains_key(&k) && map.len() >= self.config.max_entries {
            // Forget quiet keys first, then the quietest one: the table stays bounded.
            let horizon = self.config.max_delay.saturating_mul(4) + self.config.max_queue;
            map.retain(|_, e| now.saturating_duration_since(e.last) < horizon);
            if map.len() >= self.config.max_entries {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, e)| e.last)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        let e = map.entry(k).or_insert(Entry {
            failures: 0,
            next_at: now,
            last: now,
        });
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        let delay = self.delay(e.failures);
        e.next_at = e.next_at.max(now + delay);
    }

    /// A successful sign-in clears the key.
    pub fn succeeded(&self, username: &str, addr: Option<IpAddr>) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(&key(username, addr));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// Failures counted on other instances (the database's count) slow this one down even
    /// when it saw none itself.
    #[test]
    fn the_shared_count_slows_an_instance_that_saw_no_failure() {
        let t = Throttle::default();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        // Below the free failures: no wait, nothing kept.
        assert_eq!(t.admit("admin", a, t0, 4), Admission::Now);
        assert_eq!(t.admit("admin", a, t0, 4), Admission::Now);
        // Five elsewhere: this attempt goes now and reserves the next slot a delay later.
        assert_eq!(t.admit("admin", a, t0, 5), Admission::Now);
        assert_eq!(
            t.admit("admin", a, t0, 5),
            Admission::After(Duration::from_secs(1))
        );
        assert_eq!(shared_key(" Admin", a), "admin|192.0.2.1");
    }

    #[test]
    fn five_failures_from_one_address_slow_only_that_address_and_boundedly() {
        let t = Throttle::default();
        let t0 = Instant::now();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for i in 0..5 {
            assert_eq!(t.admit("admin", a, t0, 0), Admission::Now, "attempt {i}");
            t.failed("admin", a, t0);
        }
        // Another address, and another user name from the first one: not slowed at all.
        assert_eq!(t.admit("Admin ", b, t0, 0), Admission::Now);
        assert_eq!(t.admit("other", a, t0, 0), Admission::Now);
        // The same address waits one second, then is checked (the right password works).
        assert_eq!(
            t.admit("ADMIN", a, t0, 0),
            Admission::After(Duration::from_secs(1))
        );
        t.succeeded("admin", a);
        assert_eq!(t.admit("admin", a, t0, 0), Admission::Now);
    }

    #[test]
    fn delays_double_up_to_the_bound_and_parallel_attempts_queue() {
        let t = Throttle::default();
        let t0 = Instant::now();
        let a = ip("2001:db8:1:2:aaaa::1");
        let mut now = t0;
        for _ in 0..40 {
            t.failed("admin", a, now);
            now += Duration::from_secs(60);
        }
        assert_eq!(t.delay(40), Duration::from_secs(8));
        assert_eq!(t.delay(6), Duration::from_secs(2));
        // Another host of the same /64 shares the key: it takes the free slot, so the
        // attempts below queue behind it.
        let same64 = ip("2001:db8:1:2:bbbb::9");
        assert_eq!(t.admit("admin", same64, now, 0), Admission::Now);
        // Parallel attempts each get a later slot, 8 s apart, until the queue is full.
        let waits: Vec<Admission> = (0..6).map(|_| t.admit("admin", a, now, 0)).collect();
        assert_eq!(
            waits,
            vec![
                Admission::After(Duration::from_secs(8)),
                Admission::After(Duration::from_secs(16)),
                Admission::After(Duration::from_secs(24)),
                Admission::Refused(Duration::from_secs(32)),
                Admission::Refused(Duration::from_secs(32)),
                Admission::Refused(Duration::from_secs(32)),
            ]
        );
        // Once the queue has drained, one attempt waits at most one delay.
        assert_eq!(
            t.admit("admin", a, now + Duration::from_secs(40), 0),
            Admission::Now
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::new(ThrottleConfig {
            max_entries: 100,
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        for i in 0..1_000 {
            t.failed(&format!("user{i}"), ip("192.0.2.1"), now);
        }
        assert!(t.entries.lock().unwrap().len() <= 100);
    }
}
