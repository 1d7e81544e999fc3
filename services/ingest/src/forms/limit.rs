//! Posts per client address and form in fixed one-minute windows. An IPv6 client is
//! counted by its /64 (one subscriber's network: a host picks any address in it). The
//! table is bounded: a full table forgets its oldest window to make room, so a flood
//! of addresses never locks newcomers out, and every post costs O(1) (amortized)
//! under the lock — windows are kept in the order they started, and the ones that
//! have ended are dropped from the front as posts come.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const MAX_KEYS: usize = 100_000;

type Key = (String, IpAddr);

#[derive(Default)]
pub struct RateLimit {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// Each key's window: when it started, and the posts counted in it.
    windows: HashMap<Key, (Instant, u32)>,
    /// Window starts in the order they happened; an entry whose key has started
    /// another window since is stale and skipped.
    starts: VecDeque<(Key, Instant)>,
}

impl Table {
    /// Drops windows from the front while they have ended, or while the table is
    /// full (then the oldest live window goes: its sender starts afresh).
    fn make_room(&mut self, now: Instant) {
        while let Some((key, start)) = self.starts.front() {
            let ended = now.duration_since(*start) >= WINDOW;
            if !ended && self.windows.len() < MAX_KEYS {
                return;
            }
            if self.windows.get(key).is_some_and(|(s, _)| s == start) {
                if !ended {
                    // A sender's live window forgotten: it starts afresh (counted).
                    metrics::counter!("ringside_forms_rate_windows_evicted_total").increment(1);
                }
                self.windows.remove(key);
            }
            self.starts.pop_front();
        }
    }
}

impl RateLimit {
    /// Counts a post; `Err` with the seconds to wait when `per_minute` is used up.
    pub fn admit(&self, form: &str, ip: IpAddr, per_minute: u32, now: Instant) -> Result<(), u64> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let key = (form.to_owned(), subscriber(ip));
        let live = table
            .windows
            .get(&key)
            .copied()
            .filter(|(start, _)| now.duration_since(*start) < WINDOW);
        let (start, count) = live.unwrap_or((now, 0));
        if count >= per_minute {
            let wait = WINDOW.saturating_sub(now.duration_since(start));
            return Err(wait.as_secs().max(1));
        }
        if live.is_none() {
            // A new window: room is made for it, and its start is queued.
            table.make_room(now);
            table.starts.push_back((key.clone(), now));
        }
        table.windows.insert(key, (start, count + 1));
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap().windows.len()
    }
}

/// The address a limit counts: IPv4 as is (also when mapped into IPv6), IPv6 by /64.
fn subscriber(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_allowance_per_minute() {
        let limit = RateLimit::default();
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limit.admit("f", a, 3, t0).is_ok());
        }
        assert!(
            limit.admit("f", a, 3, t0).is_err(),
            "a fourth post in the minute"
        );
        assert!(limit.admit("f", b, 3, t0).is_ok(), "another address");
        assert!(limit.admit("g", a, 3, t0).is_ok(), "another form");
        assert!(
            limit.admit("f", a, 3, t0 + WINDOW).is_ok(),
            "the next minute"
        );
    }

    #[test]
    fn an_ipv6_network_shares_one_allowance() {
        let limit = RateLimit::default();
        let t0 = Instant::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limit.admit("f", one, 1, t0).is_ok());
        assert!(
            limit.admit("f", same_net, 1, t0).is_err(),
            "another address of the /64"
        );
        assert!(limit.admit("f", other_net, 1, t0).is_ok());
    }

    #[test]
    fn a_flood_of_networks_never_locks_a_newcomer_out() {
        let limit = RateLimit::default();
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS as u32 + 5_000) {
            let net =
                std::net::Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 1);
            assert!(
                limit.admit("f", IpAddr::V6(net), 1, t0).is_ok(),
                "network {i}"
            );
        }
        assert!(
            limit.len() <= MAX_KEYS,
            "the table stays bounded: {}",
            limit.len()
        );
        let newcomer: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(
            limit.admit("f", newcomer, 1, t0).is_ok(),
            "a newcomer is let in"
        );
        assert!(limit.admit("f", newcomer, 1, t0).is_err(), "and counted");
    }
}
