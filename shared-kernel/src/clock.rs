//! Time as a port, so the queue's leases and backoff can be tested by moving a clock forward
//! instead of sleeping.
//!
//! Events carry their node's time. The queue's leases and readiness on PostgreSQL, shared by
//! several nodes, follow the database's clock instead, moved forward by
//! [`Clock::database_offset`]: zero for a real clock (so a node whose clock is off neither
//! steals live leases nor runs jobs early), and what a test advanced a [`ManualClock`] by (so
//! the injectable clock still ends leases and backoffs in tests on PostgreSQL).

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// How far the queue's time on PostgreSQL runs ahead of the database's clock: zero for a
    /// real clock (the default), however far off it is; how far a [`ManualClock`] was advanced.
    fn database_offset(&self) -> Duration {
        Duration::zero()
    }
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests of leases, delays and backoff.
#[derive(Debug)]
pub struct ManualClock {
    start: DateTime<Utc>,
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(Utc::now())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How far it was advanced since it was made.
    fn database_offset(&self) -> Duration {
        self.now() - self.start
    }
}

/// The fixed-width text form timestamps are stored in (`2026-11-22T10:40:07.123456Z`): it sorts
/// lexicographically in time order on every backend.
pub fn to_db_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses the stored text form back.
pub fn from_db_text(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// Microseconds since the Unix epoch: the form the queue's scheduling columns use.
pub fn to_micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The inverse of [`to_micros`].
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_round_trips_and_sorts_in_time_order() {
        let a = Utc::now();
        let b = a + Duration::milliseconds(1);
        let (ta, tb) = (to_db_text(a), to_db_text(b));
        assert!(ta < tb);
        assert_eq!(from_db_text(&ta).unwrap().timestamp_micros(), a.timestamp_micros());
    }

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::default();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::seconds(30));
        assert_eq!(clock.now() - start, Duration::seconds(30));
    }

    #[test]
    fn the_database_offset_is_what_a_manual_clock_was_advanced_and_zero_for_the_system_clock() {
        let clock = ManualClock::new(Utc::now() + Duration::seconds(60));
        assert_eq!(clock.database_offset(), Duration::zero());
        clock.advance(Duration::seconds(31));
        assert_eq!(clock.database_offset(), Duration::seconds(31));
        assert_eq!(SystemClock.database_offset(), Duration::zero());
    }
}
