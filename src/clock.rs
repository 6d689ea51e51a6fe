//! The one place that reads the wall clock. Everything that decides by time
//! (exemptions, account expiry, step-up) takes `now` as a parameter, so that
//! tests can move time instead of sleeping; clippy.toml forbids
//! `SystemTime::now` elsewhere.

use std::time::SystemTime;

#[allow(clippy::disallowed_methods)] // the single sanctioned reading of the clock
pub fn now() -> SystemTime {
    SystemTime::now()
}
