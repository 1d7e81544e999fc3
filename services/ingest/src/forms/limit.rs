//! Posts per client address and form in fixed one-minute windows. An IPv6 client is
//! counted by its /64 (one subscriber's network: a host picks any address in it). The
//! table is bounded: when it fills, windows that have ended are dropped first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct RateLimit {
    windows: Mutex<HashMap<(String, IpAddr), (Instant, u32)>>,
}

impl RateLimit {
    /// Counts a post; `Err` with the seconds to wait when `per_minute` is used up.
    pub fn admit(&self, form: &str, ip: IpAddr, per_minute: u32, now: Instant) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_KEYS {
                return Err(WINDOW.as_secs()); // under a flood, newcomers wait too
            }
        }
        let key = (form.to_owned(), subscriber(ip));
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= per_minute {
            let wait = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(wait.as_secs().max(1));
        }
        *count += 1;
        Ok(())
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
}
