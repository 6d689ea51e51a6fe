//! The one place that reads the wall clock. Everything that decides by time
//! (exemptions, account expiry, step-up, session idle time, sent codes, the
//! embedded store's expiry) takes `now` from a [`Clock`] handed to it, so
//! that tests move time instead of sleeping; clippy.toml forbids
//! `SystemTime::now` elsewhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The time, as the gateway sees it: the system clock, or (in tests) the
/// system clock plus an offset the test moves forward.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock; `None` for the system clock.
    ahead_ms: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock a test can move forward; it starts at the system time.
    pub fn adjustable() -> Clock {
        Clock {
            ahead_ms: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    pub fn now(&self) -> SystemTime {
        let ahead = self.ahead_ms.as_ref().map_or(0, |a| a.load(Ordering::Relaxed));
        now() + Duration::from_millis(ahead)
    }

    /// Move an adjustable clock forward (every copy of it moves). A system
    /// clock cannot be moved: this does nothing to it.
    pub fn advance(&self, by: Duration) {
        if let Some(ahead) = &self.ahead_ms {
            ahead.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
        }
    }
}

/// The system clock, for the command line (`check`, `explain`), which
/// answers about the present.
#[allow(clippy::disallowed_methods)] // the single sanctioned reading of the clock
pub fn now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_for_every_copy_and_the_system_clock_does_not() {
        let clock = Clock::adjustable();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(Duration::from_secs(3600));
        assert!(copy.now().duration_since(before).unwrap() >= Duration::from_secs(3600));
        let system = Clock::system();
        system.advance(Duration::from_secs(3600));
        assert!(system.now() < before + Duration::from_secs(60));
    }
}
