//! Guessing is useless: failed sign-in steps count per user name and per
//! address in the store (so every gateway sharing it counts together), and
//! past a limit the account or the address is locked for a while that
//! doubles with each further failure, up to a day.

use std::net::IpAddr;
use std::time::Duration;

use crate::store::{Store, StoreError};

/// Failures counted within this long of the first.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_USER_FAILURES: u64 = 5;
pub const MAX_ADDRESS_FAILURES: u64 = 20;
const FIRST_LOCK: Duration = Duration::from_secs(5 * 60);
const LONGEST_LOCK: Duration = Duration::from_secs(24 * 3600);

/// How long to lock after `failures` failures against a `limit`: nothing
/// below it, five minutes at it, doubling with each one past it, a day at most.
pub fn lock_period(failures: u64, limit: u64) -> Option<Duration> {
    let past = failures.checked_sub(limit)?;
    let doublings = past.min(16) as u32;
    Some((FIRST_LOCK * 2u32.pow(doublings)).min(LONGEST_LOCK))
}

/// A lock put in place by [`count_failure`], for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// `user:NAME` or `ip:ADDRESS`.
    pub who: String,
    pub failures: u64,
    pub period: Duration,
}

pub async fn is_locked(store: &Store, user: &str, ip: IpAddr) -> Result<bool, StoreError> {
    let user_lock = store.get(&format!("locked:user:{user}")).await?;
    let ip_lock = store.get(&format!("locked:ip:{ip}")).await?;
    Ok(user_lock.is_some() || ip_lock.is_some())
}

/// Count a failure of `user` from `ip`; the locks it put in place, if any.
pub async fn count_failure(store: &Store, user: &str, ip: IpAddr) -> Result<Vec<Locked>, StoreError> {
    let mut locks = Vec::new();
    for (who, limit) in [
        (format!("user:{user}"), MAX_USER_FAILURES),
        (format!("ip:{ip}"), MAX_ADDRESS_FAILURES),
    ] {
        let failures = store.count(&format!("failures:{who}"), WINDOW).await?;
        if let Some(period) = lock_period(failures, limit) {
            store.set(&format!("locked:{who}"), b"1", Some(period)).await?;
            locks.push(Locked { who, failures, period });
        }
    }
    Ok(locks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_starts_at_the_limit_and_doubles_to_a_day() {
        assert_eq!(lock_period(4, 5), None);
        assert_eq!(lock_period(5, 5), Some(Duration::from_secs(300)));
        assert_eq!(lock_period(6, 5), Some(Duration::from_secs(600)));
        assert_eq!(lock_period(9, 5), Some(Duration::from_secs(4800)));
        assert_eq!(lock_period(50, 5), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(lock_period(u64::MAX, 5), Some(Duration::from_secs(24 * 3600)));
    }
}
