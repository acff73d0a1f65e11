//! Time as an input: the simulator reads the wall clock only in [`SystemClock`] and
//! [`OffsetClock`].
//!
//! Every state transition that depends on time (staging, deployments, token expiry, rate-limit
//! windows, jobs) is evaluated lazily from the injected [`Clock`] when state is read, so a test
//! that holds a [`ManualClock`] moves time by hand and never sleeps.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

/// A source of "now".
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Moves time forward, if this clock allows it (`POST /_sim/clock/advance`). Returns
    /// whether it did.
    fn advance_by(&self, by: Duration) -> bool {
        let _ = by;
        false
    }
}

/// The wall clock. The only place the simulator reads real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to. Clones share the same instant.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A manual clock starting at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// A manual clock at a fixed, documented instant (2026-01-01T00:00:00Z).
    pub fn fixed() -> Self {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        Self::new(start)
    }

    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }

    /// Sets the current instant.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn advance_by(&self, by: Duration) -> bool {
        self.advance(by);
        true
    }
}

/// The wall clock plus an offset that only grows: real time for a process like
/// `driftless simulate`, which end-to-end tests can still move forward over HTTP instead of
/// sleeping.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock {
    offset: Arc<Mutex<Duration>>,
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        after(Utc::now(), offset)
    }

    fn advance_by(&self, by: Duration) -> bool {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset = offset.saturating_add(by);
        true
    }
}

/// `now + d`, saturating instead of overflowing.
pub(crate) fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// CF timestamp format: RFC 3339, seconds precision, `Z`.
pub(crate) fn cf_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
