//! Time a learner spent on a lesson in one sitting.

/// A time that cannot be one sitting's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} seconds is not a time spent on a lesson: expected 1 to 86400 (one day)")]
pub struct InvalidTimeSpent(pub u64);

/// Seconds spent on a lesson in one report: at least one, at most a day. A client reports
/// sittings (or heartbeats) as they happen, so anything longer is a broken client, not a
/// diligent learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeSpent(u64);

impl TimeSpent {
    /// The longest single report, in seconds.
    pub const MAX_SECONDS: u64 = 86_400;

    /// Checks `seconds` is a plausible sitting.
    pub fn from_seconds(seconds: u64) -> Result<Self, InvalidTimeSpent> {
        if (1..=Self::MAX_SECONDS).contains(&seconds) {
            Ok(Self(seconds))
        } else {
            Err(InvalidTimeSpent(seconds))
        }
    }

    /// The seconds.
    pub fn seconds(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_up_to_a_day_is_a_sitting() {
        assert_eq!(TimeSpent::from_seconds(1).unwrap().seconds(), 1);
        assert_eq!(TimeSpent::from_seconds(86_400).unwrap().seconds(), 86_400);
    }

    #[test]
    fn nothing_or_more_than_a_day_is_refused() {
        assert_eq!(TimeSpent::from_seconds(0), Err(InvalidTimeSpent(0)));
        assert_eq!(TimeSpent::from_seconds(86_401), Err(InvalidTimeSpent(86_401)));
    }
}
