//! Posts per client address and form in fixed one-minute windows. The table is
//! bounded: when it fills, windows that have ended are dropped first.

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
        let (start, count) = windows.entry((form.to_owned(), ip)).or_insert((now, 0));
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
}
